#include "tx_record.h"

#include <cstring>
#include <new>

namespace loupe::internal {

static_assert(sizeof(TxRecord) % 8 == 0 && sizeof(StepRec) % 8 == 0 && sizeof(TextRef) == 8);

RecordShape Measure(const Transaction::State& s) {
  RecordShape c;
  c.text = s.endpoint.size() + s.http_method.size() + s.http_path.size() + s.error_type.size() +
           s.error_message.size() + s.error_stack.size() + s.client_ip.size() + s.user.size();
  for (const auto& [k, v] : s.attributes) c.text += k.size() + v.size();
  for (size_t i = 0; i < s.steps.size(); ++i) {
    const StepRecord& r = s.steps[i];
    c.text += r.text.size() + r.system.size() + r.error_message.size();
    for (const BindRecord* b = r.first_bind; b != nullptr; b = b->next) {
      c.text += b->value.size();
      ++c.binds;
    }
  }
  c.bytes = sizeof(TxRecord) + s.steps.size() * sizeof(StepRec) +
            (2 * s.attributes.size() + c.binds) * sizeof(TextRef) + c.text;
  return c;
}

namespace {

// Appends texts to the record's text area.
class TextOut {
 public:
  explicit TextOut(char* p) : base_(p) {}
  TextRef Put(std::string_view s) {
    TextRef r{static_cast<uint32_t>(used_), static_cast<uint32_t>(s.size())};
    if (!s.empty()) std::memcpy(base_ + used_, s.data(), s.size());
    used_ += s.size();
    return r;
  }

 private:
  char* base_;
  size_t used_ = 0;
};

}  // namespace

void WriteRecord(const Transaction::State& s, const RecordShape& c, char* out) {
  const size_t nsteps = s.steps.size();
  const size_t nattrs = s.attributes.size();
  auto* tx = new (out) TxRecord;
  auto* steps = reinterpret_cast<StepRec*>(tx + 1);
  auto* attrs = reinterpret_cast<TextRef*>(steps + nsteps);
  auto* binds = attrs + 2 * nattrs;
  TextOut text(reinterpret_cast<char*>(binds + c.binds));

  std::memcpy(tx->trace_id, s.trace_id, 16);
  std::memcpy(tx->span_id, s.span_id, 8);
  std::memcpy(tx->parent_span_id, s.parent_span_id, 8);
  tx->start_ns = s.start_ns;
  tx->end_ns = s.end_ns;
  tx->endpoint = text.Put(s.endpoint);
  tx->http_method = text.Put(s.http_method);
  tx->http_path = text.Put(s.http_path);
  tx->error_type = text.Put(s.error_type);
  tx->error_message = text.Put(s.error_message);
  tx->error_stack = text.Put(s.error_stack);
  tx->client_ip = text.Put(s.client_ip);
  tx->user = text.Put(s.user);
  tx->status = s.status;
  tx->thread_id = s.thread_id;
  tx->steps_dropped = s.steps_dropped;
  tx->nsteps = static_cast<uint32_t>(nsteps);
  tx->nattributes = static_cast<uint32_t>(nattrs);
  tx->nbinds = static_cast<uint32_t>(c.binds);
  tx->messages = s.messages;
  tx->has_parent = s.has_parent;
  tx->sampled = s.sampled;
  tx->throttled = s.throttled;
  tx->throttle_action = static_cast<uint8_t>(s.throttle_action);
  tx->error = s.error;

  for (size_t i = 0; i < nattrs; ++i) {
    new (&attrs[2 * i]) TextRef(text.Put(s.attributes[i].first));
    new (&attrs[2 * i + 1]) TextRef(text.Put(s.attributes[i].second));
  }
  uint32_t nbinds = 0;
  for (size_t i = 0; i < nsteps; ++i) {
    const StepRecord& r = s.steps[i];
    StepRec* o = new (&steps[i]) StepRec;
    std::memcpy(o->span_id, r.span_id, 8);
    o->start_ns = r.start_ns;
    o->end_ns = r.end_ns;
    o->text = text.Put(r.text);
    o->system = text.Put(r.system);
    o->error_message = text.Put(r.error_message);
    o->rows = r.rows;
    o->fetch_ms = r.fetch_ms;
    o->parent = r.parent;
    o->first_bind = nbinds;
    for (const BindRecord* b = r.first_bind; b != nullptr; b = b->next) {
      new (&binds[nbinds++]) TextRef(text.Put(b->value));
    }
    o->nbinds = nbinds - o->first_bind;
    o->http_status = r.http_status;
    o->kind = static_cast<uint8_t>(r.kind);
    o->error = r.error;
  }
}

}  // namespace loupe::internal
