// Bounded multi-producer single-consumer queue of variable-size byte records
// in one ring of bytes that is mapped and faulted in once, when it is made.
// The export queue holds finished transactions in it (see tx_record.h):
// memory, not just a count, bounds what waits for export, and an application
// thread that outruns the exporter writes into memory that is already
// resident instead of allocating (and faulting in) a transaction's state.
//
// Producers (any thread) Reserve room, write the record and Commit it;
// Reserve never blocks and never allocates: when the ring lacks the bytes or
// already holds max_records records it returns nullptr and the caller drops.
// Reservation is a compare-and-swap on the tail; a record becomes visible to
// the consumer when its 8-byte header is stored, so the consumer reads
// records in reservation order and stops at the first one not yet committed
// (a producer preempted between Reserve and Commit delays the records behind
// it, never loses them). The consumer (one thread at a time) Reads records
// and Releases them when done with their bytes; Release zeroes the bytes,
// which is what lets a header word of zero mean "not committed yet" wherever
// the next records start.
//
// Memory: `capacity` bytes (rounded up to a multiple of 8), resident from
// construction to destruction. Each record takes 8 bytes of header plus its
// size rounded up to 8; one that would cross the end of the ring starts at
// its beginning and the bytes skipped count as used until released.
//
// Thread-safe as described: Reserve/Commit from any thread, Read/Release
// from one consumer at a time.
#ifndef LOUPE_AGENT_RECORD_RING_H_
#define LOUPE_AGENT_RECORD_RING_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string_view>

namespace loupe::internal {

class RecordRing {
 public:
  // A reservation, handed back to Commit.
  struct Ticket {
    uint64_t* header = nullptr;
    uint64_t word = 0;
  };

  // When the memory cannot be mapped the ring has capacity 0 and every
  // Reserve fails (the caller drops and counts).
  RecordRing(size_t capacity, size_t max_records);
  ~RecordRing();
  RecordRing(const RecordRing&) = delete;
  RecordRing& operator=(const RecordRing&) = delete;

  // Room for `n` bytes (8-aligned), or nullptr when the ring lacks it or
  // holds max_records records. REQUIRES: the caller Commits a successful
  // reservation, promptly and without fail.
  char* Reserve(size_t n, Ticket* ticket) {
    const uint64_t need = kHeader + RoundUp(n);
    if (need > capacity_ || n > kMaxRecord) return nullptr;
    if (count_.fetch_add(1, std::memory_order_relaxed) >= max_records_) {
      count_.fetch_sub(1, std::memory_order_relaxed);
      return nullptr;
    }
    uint64_t pos = tail_.load(std::memory_order_relaxed);
    uint64_t skip;
    for (;;) {
      const uint64_t off = pos % capacity_;
      skip = off + need > capacity_ ? capacity_ - off : 0;
      const uint64_t end = pos + skip + need;
      if (end - head_.load(std::memory_order_acquire) > capacity_) {
        count_.fetch_sub(1, std::memory_order_relaxed);
        return nullptr;
      }
      if (tail_.compare_exchange_weak(pos, end, std::memory_order_relaxed)) break;
    }
    if (skip != 0) {
      // The rest of the ring up to its end: a filler the consumer steps over.
      Publish(HeaderAt(pos), kCommitted | kFiller | (skip - kHeader));
      pos += skip;
    }
    ticket->header = HeaderAt(pos);
    ticket->word = kCommitted | n;
    return reinterpret_cast<char*>(ticket->header + 1);
  }

  void Commit(const Ticket& ticket) { Publish(ticket.header, ticket.word); }

  // Consumer: the next committed record after those already read (its
  // bytes stay valid until Release), or false when there is none yet.
  bool Read(std::string_view* record) {
    if (capacity_ == 0) return false;
    for (;;) {
      if (read_ - head_.load(std::memory_order_relaxed) >= capacity_) {
        return false;  // the whole ring is read and not yet released
      }
      uint64_t* h = HeaderAt(read_);
      const uint64_t word = __atomic_load_n(h, __ATOMIC_ACQUIRE);
      if (word == 0) return false;  // empty, or not committed yet
      const uint64_t len = word & kLengthMask;
      read_ += kHeader + RoundUp(len);
      if ((word & kFiller) != 0) continue;
      ++read_records_;
      *record = std::string_view(reinterpret_cast<const char*>(h + 1), len);
      return true;
    }
  }

  // Consumer: frees the bytes of every record read so far.
  void Release();

  // Records / bytes held; approximate under concurrent use, exact when
  // quiescent.
  size_t SizeApprox() const { return count_.load(std::memory_order_relaxed); }
  size_t BytesApprox() const {
    return static_cast<size_t>(tail_.load(std::memory_order_relaxed) -
                               head_.load(std::memory_order_relaxed));
  }
  size_t capacity() const { return capacity_; }
  size_t max_records() const { return max_records_; }

  // Bytes a record of `n` bytes takes in the ring, at least.
  static constexpr size_t Footprint(size_t n) { return kHeader + RoundUp(n); }

 private:
  static constexpr uint64_t kHeader = 8;
  static constexpr uint64_t kCommitted = uint64_t{1} << 32;
  static constexpr uint64_t kFiller = uint64_t{1} << 33;
  static constexpr uint64_t kLengthMask = 0xffffffffu;
  static constexpr uint64_t kMaxRecord = kLengthMask;

  static constexpr uint64_t RoundUp(uint64_t n) { return (n + 7) & ~uint64_t{7}; }
  uint64_t* HeaderAt(uint64_t pos) const {
    return reinterpret_cast<uint64_t*>(base_ + pos % capacity_);
  }
  static void Publish(uint64_t* header, uint64_t word) {
    __atomic_store_n(header, word, __ATOMIC_RELEASE);
  }

  char* base_ = nullptr;
  size_t capacity_ = 0;
  size_t max_records_ = 0;
  alignas(64) std::atomic<uint64_t> tail_{0};  // end of the last reservation
  alignas(64) std::atomic<uint64_t> head_{0};  // start of the oldest unreleased byte
  alignas(64) std::atomic<size_t> count_{0};   // records reserved and not released
  alignas(64) uint64_t read_ = 0;              // consumer: next header to read
  size_t read_records_ = 0;                    // consumer: read since the last Release
};

}  // namespace loupe::internal

#endif  // LOUPE_AGENT_RECORD_RING_H_
