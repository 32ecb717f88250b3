// A finished transaction as it waits for export: one self-contained record
// in the export queue (RecordRing), written by the application thread when
// the transaction ends, read by the exporter thread to encode OTLP. Writing
// it lets the transaction's State (about 2.9 KB with its inline step records
// and text arena) go straight back to the pool: a queued transaction holds
// only the bytes it uses, and a burst that outruns the exporter reuses one
// State per thread instead of taking a fresh one per transaction.
//
// Layout (all in host byte order, 8-aligned; never leaves the process):
//
//   TxRecord                         fixed fields
//   StepRec[nsteps]                  steps in start order
//   TextRef[2 * nattributes]         custom attributes: key, value, key, ...
//   TextRef[nbinds]                  SQL bind values of all steps, step by step
//   char[text_bytes]                 every text, TextRef offsets relative to here
//
// Thread-compatible: a record is written by one thread before it is
// committed and read by one thread after.
#ifndef LOUPE_AGENT_TX_RECORD_H_
#define LOUPE_AGENT_TX_RECORD_H_

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "agent_internal.h"

namespace loupe::internal {

struct TextRef {
  uint32_t off = 0;
  uint32_t len = 0;
};

struct TxRecord {
  uint8_t trace_id[16];
  uint8_t span_id[8];
  uint8_t parent_span_id[8];
  uint64_t start_ns;
  uint64_t end_ns;
  TextRef endpoint, http_method, http_path, error_type, error_message, error_stack, client_ip, user;
  int32_t status;
  uint32_t thread_id;
  uint32_t steps_dropped;
  uint32_t nsteps;
  uint32_t nattributes;
  uint32_t nbinds;
  uint32_t messages;  // message steps (the encoder skips looking for them when 0)
  uint8_t has_parent, sampled, throttled, throttle_action, error;
};

struct StepRec {
  uint8_t span_id[8];
  uint64_t start_ns;
  uint64_t end_ns;
  TextRef text, system, error_message;
  int64_t rows;
  double fetch_ms;
  int32_t parent;       // index of the enclosing step; -1: the transaction span
  uint32_t first_bind;  // index into the record's binds
  uint32_t nbinds;
  int32_t http_status;
  uint8_t kind;  // Step::Kind
  uint8_t error;
};

// The size of the record of the finished transaction `s`.
struct RecordShape {
  size_t bytes = 0;  // of the whole record
  size_t text = 0;   // of its texts
  size_t binds = 0;  // bind values of all steps
};
RecordShape Measure(const Transaction::State& s);
// Writes the record of `s` into `out` (shape.bytes bytes, 8-aligned).
// REQUIRES: `shape` is Measure(s), and `s` has not changed since.
void WriteRecord(const Transaction::State& s, const RecordShape& shape, char* out);

// Read access to a record (its bytes must outlive the view).
class TxView {
 public:
  explicit TxView(const char* record)
      : tx_(reinterpret_cast<const TxRecord*>(record)),
        steps_(reinterpret_cast<const StepRec*>(tx_ + 1)),
        attrs_(reinterpret_cast<const TextRef*>(steps_ + tx_->nsteps)),
        binds_(attrs_ + 2 * size_t{tx_->nattributes}),
        text_(reinterpret_cast<const char*>(binds_ + tx_->nbinds)) {}

  const TxRecord& tx() const { return *tx_; }
  const TxRecord* operator->() const { return tx_; }
  size_t nsteps() const { return tx_->nsteps; }
  const StepRec& step(size_t i) const { return steps_[i]; }
  std::string_view text(TextRef r) const { return std::string_view(text_ + r.off, r.len); }
  std::string_view attribute_key(size_t i) const { return text(attrs_[2 * i]); }
  std::string_view attribute_value(size_t i) const { return text(attrs_[2 * i + 1]); }
  std::string_view bind(size_t i) const { return text(binds_[i]); }

 private:
  const TxRecord* tx_;
  const StepRec* steps_;
  const TextRef* attrs_;
  const TextRef* binds_;
  const char* text_;
};

}  // namespace loupe::internal

#endif  // LOUPE_AGENT_TX_RECORD_H_
