#include "store/profile_codec.h"

#include <unordered_map>

#include "common/coding.h"

namespace loupe::store {
namespace {

// Parent references: most parents are the transaction's root span or an
// earlier step, so they are written as a small index instead of 8 random
// bytes (saves ~7 bytes per step).
constexpr uint64_t kParentRaw = 0;   // fixed64 follows
constexpr uint64_t kParentRoot = 1;  // the root span id
// kParentRoot + 1 + k: the span id of step k of this list

void EncodeStepList(const std::vector<model::Step>& steps, int64_t base_us, model::SpanId root_span,
                    std::string* out) {
  PutVarint(out, steps.size());
  std::unordered_map<model::SpanId, uint64_t> index;
  if (steps.size() > 16) index.reserve(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) {
    const model::Step& s = steps[i];
    PutFixed64(out, s.span_id);
    uint64_t ref = kParentRaw;
    if (s.parent_span_id == root_span && root_span != 0) {
      ref = kParentRoot;
    } else if (s.parent_span_id != 0) {
      if (steps.size() > 16) {
        auto it = index.find(s.parent_span_id);
        if (it != index.end()) ref = kParentRoot + 1 + it->second;
      } else {
        for (size_t k = 0; k < i; ++k) {
          if (steps[k].span_id == s.parent_span_id) {
            ref = kParentRoot + 1 + k;
            break;
          }
        }
      }
    }
    PutVarint(out, ref);
    if (ref == kParentRaw) PutFixed64(out, s.parent_span_id);
    if (steps.size() > 16 && s.span_id != 0) index.emplace(s.span_id, i);
    out->push_back(static_cast<char>(s.kind));
    out->push_back(static_cast<char>(s.error ? 1 : 0));
    PutZigZag(out, s.start_us - base_us);
    PutZigZag(out, s.elapsed_us);
    PutString(out, s.name);
    PutString(out, s.sql);
    PutString(out, s.db_system);
    PutVarint(out, s.binds.size());
    for (const std::string& b : s.binds) PutString(out, b);
    PutZigZag(out, s.rows);
    PutString(out, s.url);
    PutString(out, s.host);
    PutZigZag(out, s.http_status);
    PutString(out, s.message);
    PutString(out, s.stack);
    PutVarint(out, s.attributes.size());
    for (const auto& [k, v] : s.attributes) {
      PutString(out, k);
      PutString(out, v);
    }
  }
}

bool DecodeStepList(Decoder* d, int64_t base_us, model::SpanId root_span,
                    std::vector<model::Step>* steps) {
  uint64_t n = d->Varint();
  if (!d->ok() || n > d->remaining()) return false;  // every step takes > 1 byte
  const size_t first = steps->size();
  steps->reserve(first + n);
  for (uint64_t i = 0; i < n; ++i) {
    model::Step& s = steps->emplace_back();
    s.span_id = d->Fixed64();
    uint64_t ref = d->Varint();
    if (ref == kParentRaw) {
      s.parent_span_id = d->Fixed64();
    } else if (ref == kParentRoot) {
      s.parent_span_id = root_span;
    } else {
      uint64_t k = ref - kParentRoot - 1;
      if (k >= i) return false;
      s.parent_span_id = (*steps)[first + k].span_id;
    }
    uint8_t kind = d->Byte();
    if (kind > static_cast<uint8_t>(model::StepKind::kError)) return false;
    s.kind = static_cast<model::StepKind>(kind);
    s.error = d->Byte() != 0;
    s.start_us = base_us + d->ZigZag();
    s.elapsed_us = d->ZigZag();
    s.name = d->String();
    s.sql = d->String();
    s.db_system = d->String();
    uint64_t binds = d->Varint();
    if (binds > d->remaining()) return false;
    for (uint64_t b = 0; b < binds; ++b) s.binds.emplace_back(d->String());
    s.rows = d->ZigZag();
    s.url = d->String();
    s.host = d->String();
    s.http_status = static_cast<int32_t>(d->ZigZag());
    s.message = d->String();
    s.stack = d->String();
    uint64_t attrs = d->Varint();
    if (attrs > d->remaining()) return false;
    for (uint64_t a = 0; a < attrs; ++a) {
      std::string k(d->String());
      s.attributes.emplace_back(std::move(k), std::string(d->String()));
    }
    if (!d->ok()) return false;
  }
  return d->ok();
}

}  // namespace

void EncodeProfile(const model::Transaction& tx, std::string* out) {
  PutFixed64(out, tx.span_id);
  PutFixed64(out, tx.parent_span_id);
  PutString(out, tx.host);
  PutString(out, tx.url);
  PutVarint(out, tx.dropped_steps);
  EncodeStepList(tx.steps, tx.start_us, tx.span_id, out);
}

bool DecodeProfile(std::string_view blob, model::Transaction* tx) {
  Decoder d(blob);
  tx->span_id = d.Fixed64();
  tx->parent_span_id = d.Fixed64();
  tx->host = d.String();
  tx->url = d.String();
  tx->dropped_steps = d.Varint32();
  tx->steps.clear();
  return d.ok() && DecodeStepList(&d, tx->start_us, tx->span_id, &tx->steps) && d.done();
}

void EncodeSteps(const std::vector<model::Step>& steps, int64_t base_us, std::string* out) {
  EncodeStepList(steps, base_us, 0, out);
}

bool DecodeSteps(std::string_view blob, int64_t base_us, std::vector<model::Step>* steps) {
  Decoder d(blob);
  return DecodeStepList(&d, base_us, 0, steps) && d.done();
}

bool ProfileSpanIds(std::string_view blob, std::vector<model::SpanId>* ids) {
  model::Transaction tx;
  if (!DecodeProfile(blob, &tx)) return false;
  for (const model::Step& s : tx.steps) {
    if (s.span_id != 0) ids->push_back(s.span_id);
  }
  return true;
}

}  // namespace loupe::store
