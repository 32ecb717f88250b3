// Columnar profile blocks (profile_block.h); format in docs/format/segment.md.
#include "store/embedded/profile_block.h"

#include "common/hash.h"

namespace loupe::store {

using namespace profile_block;  // NOLINT(build/namespaces): this file's own names

namespace {

// profile_codec.cc's parent references.
constexpr uint64_t kParentRaw = 0;
constexpr uint64_t kParentFirstStep = 2;

constexpr uint64_t kMaxRawBytes = uint64_t{1} << 30;  // kind << 1 | error must stay one byte

int RefStream(int field) { return kFirstString + 2 * field; }
int LiteralStream(int field) { return kFirstString + 2 * field + 1; }

// The start a step is expected to have, from the steps before it: its
// parent's start when the parent is the previous step (a nested call),
// else the previous step's end (a sequential one).
int64_t PredictedStart(uint64_t parent_ref, size_t i, const std::vector<int64_t>& start,
                       const std::vector<int64_t>& elapsed) {
  if (i == 0) return 0;
  if (parent_ref == kParentFirstStep + i - 1) return start[i - 1];
  return start[i - 1] + elapsed[i - 1];
}

}  // namespace

// ---- ProfileBlockWriter ----

ProfileBlockWriter::ProfileBlockWriter() = default;

size_t ProfileBlockWriter::raw_bytes() const {
  size_t n = 0;
  for (const std::string& s : streams_) n += s.size();
  return n;
}

void ProfileBlockWriter::PutStringField(int field, std::string_view s) {
  Interner& in = interners_[field];
  std::string& lit = streams_[LiteralStream(field)];
  if (in.slots.size() < 2 * (in.count + 1)) {
    std::vector<Interner::Slot> old;
    old.swap(in.slots);
    in.slots.resize(std::max<size_t>(64, old.size() * 2));
    const size_t mask = in.slots.size() - 1;
    for (const Interner::Slot& o : old) {
      if (o.id == 0) continue;
      size_t k = o.hash & mask;
      while (in.slots[k].id != 0) k = (k + 1) & mask;
      in.slots[k] = o;
    }
  }
  const uint64_t h = Hash64(s);
  const size_t mask = in.slots.size() - 1;
  size_t k = h & mask;
  for (;; k = (k + 1) & mask) {
    const Interner::Slot& slot = in.slots[k];
    if (slot.id == 0) break;
    if (slot.hash == h && slot.length == s.size() &&
        std::string_view(lit.data() + slot.offset, slot.length) == s) {
      PutVarint(&streams_[RefStream(field)], slot.id);
      return;
    }
  }
  PutVarint(&streams_[RefStream(field)], 0);
  PutVarint(&lit, s.size());
  in.slots[k] = {h, static_cast<uint32_t>(lit.size()), static_cast<uint32_t>(s.size()), ++in.count};
  lit.append(s);
}

Status ProfileBlockWriter::Add(std::string_view blob) {
  // Parse the whole blob first, so a malformed one adds nothing.
  Decoder d(blob);
  const uint64_t root = d.Fixed64();
  const uint64_t remote_parent = d.Fixed64();
  const std::string_view host = d.String();
  const std::string_view url = d.String();
  const uint64_t dropped = d.Varint();
  const uint64_t n = d.Varint();
  if (!d.ok() || n > d.remaining()) return Status::Corruption("malformed profile blob");
  const Decoder steps_at = d;
  start_.clear();
  elapsed_.clear();
  for (uint64_t i = 0; i < n; ++i) {
    d.Fixed64();
    const uint64_t ref = d.Varint();
    if (ref == kParentRaw) d.Fixed64();
    d.Byte();  // kind
    const uint8_t error = d.Byte();
    if (error > 1 || (ref >= kParentFirstStep && ref - kParentFirstStep >= i)) {
      return Status::Corruption("malformed profile blob");
    }
    d.ZigZag();
    d.ZigZag();
    for (int f = 0; f < 3; ++f) d.String();  // name, sql, db_system
    for (uint64_t b = d.Varint(); b > 0 && d.ok(); --b) d.String();
    d.ZigZag();
    d.String();
    d.String();
    d.ZigZag();
    d.String();
    d.String();
    for (uint64_t a = d.Varint(); a > 0 && d.ok(); --a) {
      d.String();
      d.String();
    }
    if (!d.ok()) return Status::Corruption("malformed profile blob");
  }
  if (!d.done()) return Status::Corruption("malformed profile blob: trailing bytes");

  // Second pass: the same fields into their streams.
  PutFixed64(&streams_[kIds], root);
  PutVarint(&streams_[kTx], remote_parent != 0 ? 1 : 0);
  if (remote_parent != 0) PutFixed64(&streams_[kIds], remote_parent);
  PutVarint(&streams_[kTx], dropped);
  PutVarint(&streams_[kTx], n);
  PutStringField(kTxHost, host);
  PutStringField(kTxUrl, url);
  d = steps_at;
  for (uint64_t i = 0; i < n; ++i) {
    PutFixed64(&streams_[kIds], d.Fixed64());
    const uint64_t ref = d.Varint();
    PutVarint(&streams_[kParentRef], ref);
    if (ref == kParentRaw) PutFixed64(&streams_[kIds], d.Fixed64());
    shape_.clear();
    shape_.push_back(static_cast<char>(d.Byte()));  // kind
    PutVarint(&streams_[kError], d.Byte());
    const int64_t start = d.ZigZag();
    const int64_t elapsed = d.ZigZag();
    PutZigZag(&streams_[kStartGap], start - PredictedStart(ref, i, start_, elapsed_));
    PutZigZag(&streams_[kElapsed], elapsed);
    start_.push_back(start);
    elapsed_.push_back(elapsed);
    for (int f = 0; f < 3; ++f) PutString(&shape_, d.String());  // name, sql, db_system
    const uint64_t binds = d.Varint();
    PutVarint(&streams_[kBindCount], binds);
    for (uint64_t b = 0; b < binds; ++b) PutStringField(kBind, d.String());
    PutZigZag(&streams_[kRows], d.ZigZag());
    PutStringField(kStepUrl, d.String());
    PutString(&shape_, d.String());  // host
    PutZigZag(&shape_, d.ZigZag());  // http_status
    PutStringField(kShape, shape_);
    PutStringField(kMessage, d.String());
    PutStringField(kStack, d.String());
    const uint64_t attrs = d.Varint();
    PutVarint(&streams_[kAttrCount], attrs);
    for (uint64_t a = 0; a < attrs; ++a) {
      PutStringField(kAttrKey, d.String());
      PutStringField(kAttrValue, d.String());
    }
  }
  ++rows_;
  return Status::OK();
}

void ProfileBlockWriter::Finish(Compression codec, int level, std::string* out) {
  out->push_back(static_cast<char>(kLayout));
  PutVarint(out, rows_);
  PutVarint(out, kNumStreams);
  std::string stored[kNumStreams];
  Compression used[kNumStreams];
  for (int s = 0; s < kNumStreams; ++s) {
    // Span ids are random: compressing them only costs time.
    used[s] = Compress(s == kIds ? Compression::kNone : codec, level, streams_[s], &stored[s]);
    PutVarint(out, streams_[s].size());
    PutVarint(out, stored[s].size());
    stored_bytes_[s] += stored[s].size();
    out->push_back(static_cast<char>(used[s]));
  }
  for (const std::string& s : stored) out->append(s);
  Clear();
}

void ProfileBlockWriter::Clear() {
  for (std::string& s : streams_) s.clear();
  for (Interner& in : interners_) {
    in.slots.clear();
    in.count = 0;
  }
  rows_ = 0;
}

// ---- ProfileBlockReader ----

Status ProfileBlockReader::Open(std::string_view block) {
  auto bad = [](std::string_view why) {
    return Status::Corruption("profile block: " + std::string(why));
  };
  Decoder d(block);
  if (d.Byte() != kLayout) return bad("unknown layout");
  rows_ = d.Varint32();
  if (d.Varint() != kNumStreams || !d.ok()) return bad("unexpected stream count");
  uint64_t raw_len[kNumStreams], stored_len[kNumStreams];
  uint8_t codec[kNumStreams];
  uint64_t stored_total = 0, raw_total = 0;
  for (int s = 0; s < kNumStreams; ++s) {
    raw_len[s] = d.Varint();
    stored_len[s] = d.Varint();
    codec[s] = d.Byte();
    stored_total += stored_len[s];
    raw_total += raw_len[s];
    // The bound keeps a damaged header from asking for absurd allocations.
    if (!d.ok() || raw_total > kMaxRawBytes) return bad("malformed header");
  }
  if (stored_total != d.remaining()) return bad("stream lengths do not match the block");
  for (int s = 0; s < kNumStreams; ++s) {
    Status st = Uncompress(static_cast<Compression>(codec[s]), d.Bytes(stored_len[s]), raw_len[s],
                           &data_[s]);
    if (!st.ok()) return st.Annotate("profile block stream " + std::to_string(s));
    in_[s] = Decoder(data_[s]);
  }
  for (auto& dict : dict_) dict.clear();
  next_ = 0;
  return Status::OK();
}

bool ProfileBlockReader::GetStringField(int field, std::string_view* s) {
  const uint64_t ref = in_[RefStream(field)].Varint();
  std::vector<std::string_view>& dict = dict_[field];
  if (ref == 0) {
    *s = in_[LiteralStream(field)].String();
    if (!in_[LiteralStream(field)].ok()) return false;
    dict.push_back(*s);
    return true;
  }
  if (ref > dict.size()) return false;
  *s = dict[ref - 1];
  return in_[RefStream(field)].ok();
}

Status ProfileBlockReader::Next(std::string* blob) {
  if (next_ >= rows_) return Status::Corruption("profile block: read past the last row");
  const bool ok = blob != nullptr ? Row<true>(blob) : Row<false>(nullptr);
  for (const Decoder& in : in_) {
    if (!ok || !in.ok()) return Status::Corruption("profile block: streams do not hold the row");
  }
  ++next_;
  return Status::OK();
}

// kOut false skips the row: it only moves the streams and dictionaries on
// (about twice as fast; ReadProfile skips up to a block's rows).
template <bool kOut>
bool ProfileBlockReader::Row(std::string* out) {
  if constexpr (kOut) out->clear();
  auto put_fixed64 = [out](uint64_t v) {
    if constexpr (kOut) PutFixed64(out, v);
  };
  auto put_varint = [out](uint64_t v) {
    if constexpr (kOut) PutVarint(out, v);
  };
  auto put_zigzag = [out](int64_t v) {
    if constexpr (kOut) PutZigZag(out, v);
  };
  auto put_string = [out](std::string_view v) {
    if constexpr (kOut) PutString(out, v);
  };
  auto string_field = [&](int field) {
    std::string_view s;
    if (!GetStringField(field, &s)) return false;
    put_string(s);
    return true;
  };
  Decoder& ids = in_[kIds];
  Decoder& tx = in_[kTx];
  put_fixed64(ids.Fixed64());
  const uint64_t has_parent = tx.Varint();
  put_fixed64(has_parent ? ids.Fixed64() : 0);
  if (!string_field(kTxHost) || !string_field(kTxUrl)) return false;
  put_varint(tx.Varint());
  const uint64_t n = tx.Varint();
  if (!tx.ok() || n > ids.remaining() / 8) return false;  // a step has 8 bytes of span id
  put_varint(n);
  start_.clear();
  elapsed_.clear();
  for (uint64_t i = 0; i < n; ++i) {
    put_fixed64(ids.Fixed64());
    const uint64_t ref = in_[kParentRef].Varint();
    if (ref >= kParentFirstStep && ref - kParentFirstStep >= i) return false;
    put_varint(ref);
    if (ref == kParentRaw) put_fixed64(ids.Fixed64());
    std::string_view shape_bytes;
    if (!GetStringField(kShape, &shape_bytes)) return false;
    const uint64_t error = in_[kError].Varint();
    const int64_t gap = in_[kStartGap].ZigZag();
    const int64_t elapsed = in_[kElapsed].ZigZag();
    std::string_view host;
    int64_t http_status = 0;
    if constexpr (kOut) {
      Decoder shape(shape_bytes);
      const uint8_t kind = shape.Byte();
      const std::string_view name = shape.String(), sql = shape.String(), db = shape.String();
      host = shape.String();
      http_status = shape.ZigZag();
      if (!shape.done() || error > 1) return false;
      out->push_back(static_cast<char>(kind));
      out->push_back(static_cast<char>(error));
      const int64_t start = PredictedStart(ref, i, start_, elapsed_) + gap;
      PutZigZag(out, start);
      PutZigZag(out, elapsed);
      start_.push_back(start);
      elapsed_.push_back(elapsed);
      PutString(out, name);
      PutString(out, sql);
      PutString(out, db);
    }
    const uint64_t binds = in_[kBindCount].Varint();
    if (binds > in_[RefStream(kBind)].remaining()) return false;  // one ref byte at least each
    put_varint(binds);
    for (uint64_t b = 0; b < binds; ++b) {
      if (!string_field(kBind)) return false;
    }
    put_zigzag(in_[kRows].ZigZag());
    if (!string_field(kStepUrl)) return false;
    put_string(host);
    put_zigzag(http_status);
    if (!string_field(kMessage) || !string_field(kStack)) return false;
    const uint64_t attrs = in_[kAttrCount].Varint();
    if (attrs > in_[RefStream(kAttrKey)].remaining()) return false;
    put_varint(attrs);
    for (uint64_t a = 0; a < attrs; ++a) {
      if (!string_field(kAttrKey) || !string_field(kAttrValue)) return false;
    }
  }
  return true;
}

Status ProfileBlockReader::CheckDone() const {
  if (next_ != rows_) return Status::Corruption("profile block: rows left unread");
  for (const Decoder& in : in_) {
    if (!in.done()) return Status::Corruption("profile block: streams longer than their rows");
  }
  return Status::OK();
}

}  // namespace loupe::store
