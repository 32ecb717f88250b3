// Pending spans over time: orphan promotion, late_window expiry, eviction to
// max_pending_spans, Tick, Flush, and the checkpoint export of pending spans.

#include <map>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ingest/assembler.h"
#include "ingest/assembler_internal.h"
#include "wire/otlp_proto_encode.h"

namespace loupe::ingest {

void Assembler::Impl::PromoteAll(Shard& sh, const TraceKey& key, TraceState& ts, int64_t now,
                                 std::vector<Plan>* plans) {
  // Tops: pending spans whose parent is missing. Then whatever remains (only
  // parent cycles, from broken senders) one at a time.
  std::vector<SpanId> tops;
  for (const auto& [id, n] : ts.pending) {
    if (!n.rec) continue;
    auto p = ts.pending.find(n.parent);
    if (p == ts.pending.end() || !p->second.rec) tops.push_back(id);
  }
  for (SpanId id : tops) Emit(sh, key, ts, id, Mode::kOrphan, 0, now, plans);
  while (ts.pending_count > 0) {
    SpanId any = 0;
    for (const auto& [id, n] : ts.pending) {
      if (n.rec) {
        any = id;
        break;
      }
    }
    if (any == 0) break;
    Emit(sh, key, ts, any, Mode::kOrphan, 0, now, plans);
  }
  decltype(ts.pending)().swap(ts.pending);
}

bool Assembler::Impl::Expire(Shard& sh, const TraceKey& key, TraceState& ts, int64_t cutoff) {
  size_t live = 0;
  int64_t next = 0;
  for (const TxRecord& t : ts.txs) {
    if (t.emit_us > cutoff) {
      next = live == 0 ? t.emit_us : std::min(next, t.emit_us);
      ++live;
    }
  }
  expired_txs_->Inc(ts.txs.size() - live);
  if (live == 0) {
    ts.txs.clear();
    ts.txs.shrink_to_fit();
    decltype(ts.emitted)().swap(ts.emitted);
  } else if (live < ts.txs.size()) {
    constexpr uint32_t kGone = UINT32_MAX;
    std::vector<uint32_t> remap(ts.txs.size(), kGone);
    std::vector<TxRecord> kept;
    kept.reserve(live);
    for (size_t i = 0; i < ts.txs.size(); ++i) {
      if (ts.txs[i].emit_us > cutoff) {
        remap[i] = static_cast<uint32_t>(kept.size());
        kept.push_back(ts.txs[i]);
      }
    }
    ts.txs.swap(kept);
    boost::unordered::erase_if(ts.emitted, [&](auto& e) { return remap[e.second] == kGone; });
    for (auto& e : ts.emitted) e.second = remap[e.second];
  }
  if (live > 0) {
    sh.expiry_q.push({next, key});
    ts.expiry_queued = true;
    return false;
  }
  return ts.pending_count == 0;
}

void Assembler::Impl::EvictIfNeeded() {
  if (pending_spans() <= opt_.max_pending_spans) return;
  std::unique_lock el(evict_mu_, std::try_to_lock);
  if (!el.owns_lock()) return;  // another thread is evicting
  // Evict down to 15/16 of the cap so the next batches do not evict again.
  const size_t target = opt_.max_pending_spans - opt_.max_pending_spans / 16;
  const int64_t now = clock_->NowMicros();
  std::vector<Plan> plans;
  size_t idle = 0;  // consecutive shards with nothing to evict
  while (pending_spans() > target && idle <= shard_mask_) {
    Shard& sh = shards_[evict_cursor_];
    evict_cursor_ = (evict_cursor_ + 1) & shard_mask_;
    std::lock_guard l(sh.mu);
    bool evicted = false;
    while (!sh.orphan_q.empty() && !evicted) {
      TimedKey e = sh.orphan_q.top();
      sh.orphan_q.pop();
      auto it = sh.traces.find(e.key);
      if (it == sh.traces.end()) continue;
      TraceState& ts = *it->second;
      if (ts.pending_count == 0 || ts.pending_episode != e.episode) continue;  // stale entry
      const size_t first = plans.size();
      PromoteAll(sh, e.key, ts, now, &plans);
      for (size_t i = first; i < plans.size(); ++i) plans[i].forced = plans[i].orphan;
      evicted = true;
    }
    idle = evicted ? 0 : idle + 1;
  }
  el.unlock();
  if (plans.empty()) return;
  std::map<model::ProjectId, store::WriteBatch> out;
  MapPlansByProject(&plans, &out);
  std::lock_guard l(outbox_mu_);
  for (auto& [project, wb] : out) {
    store::WriteBatch& dst = outbox_[project];
    for (auto& t : wb.transactions) dst.transactions.push_back(std::move(t));
    for (auto& t : wb.late_steps) dst.late_steps.push_back(std::move(t));
  }
}

ProjectBatches Assembler::Impl::Tick() {
  const int64_t now = clock_->NowMicros();
  std::map<model::ProjectId, store::WriteBatch> out;
  {
    std::lock_guard l(outbox_mu_);
    out.swap(outbox_);
  }
  const int64_t orphan_cutoff = now - opt_.orphan_timeout_us;
  const int64_t expiry_cutoff = now - opt_.late_window_us;
  std::vector<Plan> plans;
  for (size_t s = 0; s <= shard_mask_; ++s) {
    Shard& sh = shards_[s];
    std::lock_guard l(sh.mu);
    while (!sh.orphan_q.empty() && sh.orphan_q.top().t <= orphan_cutoff) {
      TimedKey e = sh.orphan_q.top();
      sh.orphan_q.pop();
      auto it = sh.traces.find(e.key);
      if (it == sh.traces.end()) continue;
      TraceState& ts = *it->second;
      if (ts.pending_count == 0 || ts.pending_episode != e.episode) continue;  // stale entry
      // A trace still receiving spans is probably a long request whose root
      // ends last: wait for it, up to orphan_max_wait.
      if (ts.last_arrival_us > orphan_cutoff &&
          now - ts.pending_since_us < opt_.orphan_max_wait_us) {
        sh.orphan_q.push({ts.last_arrival_us, e.key, e.episode});
        continue;
      }
      PromoteAll(sh, e.key, ts, now, &plans);
    }
    while (!sh.expiry_q.empty() && sh.expiry_q.top().t <= expiry_cutoff) {
      TimedKey e = sh.expiry_q.top();
      sh.expiry_q.pop();
      auto it = sh.traces.find(e.key);
      if (it == sh.traces.end()) continue;
      it->second->expiry_queued = false;
      if (Expire(sh, e.key, *it->second, expiry_cutoff)) sh.traces.erase(it);
    }
  }
  MapPlansByProject(&plans, &out);
  AgeInstances(now);
  ProjectBatches result;
  for (auto& [project, wb] : out) {
    if (!wb.empty()) result.emplace_back(project, std::move(wb));
  }
  return result;
}

ProjectBatches Assembler::Impl::Flush() {
  const int64_t now = clock_->NowMicros();
  std::map<model::ProjectId, store::WriteBatch> out;
  {
    std::lock_guard l(outbox_mu_);
    out.swap(outbox_);
  }
  std::vector<Plan> plans;
  for (size_t s = 0; s <= shard_mask_; ++s) {
    Shard& sh = shards_[s];
    std::lock_guard l(sh.mu);
    for (auto& [key, ts] : sh.traces) {
      if (ts->pending_count > 0) PromoteAll(sh, key, *ts, now, &plans);
    }
  }
  MapPlansByProject(&plans, &out);
  ProjectBatches result;
  for (auto& [project, wb] : out) {
    if (!wb.empty()) result.emplace_back(project, std::move(wb));
  }
  return result;
}

std::vector<std::pair<model::ProjectId, std::string>> Assembler::Impl::ExportPending() const {
  // One request per project per shard, built while the shard is locked (the
  // views point into the records it owns).
  struct Builder {
    model::SpanBatch batch;
    boost::unordered_flat_map<const InstanceEntry*, uint32_t> resources;
  };
  auto kv = [](std::string_view key, std::string_view value) {
    model::KeyValue out;
    out.key = key;
    out.value.type = model::AttrValue::Type::kString;
    out.value.s = value;
    return out;
  };
  std::vector<std::pair<model::ProjectId, std::string>> out;
  for (size_t s = 0; s <= shard_mask_; ++s) {
    Shard& sh = shards_[s];
    std::lock_guard l(sh.mu);
    std::map<model::ProjectId, Builder> builders;
    for (const auto& [key, ts] : sh.traces) {
      if (ts->pending_count == 0) continue;
      Builder& b = builders[key.project];
      for (const auto& [id, node] : ts->pending) {
        if (!node.rec) continue;
        const SpanRecord& r = *node.rec;
        auto [it, added] =
            b.resources.emplace(r.inst, static_cast<uint32_t>(b.batch.resources.size()));
        if (added) {
          model::Resource& res = b.batch.resources.emplace_back();
          res.attrs.begin = static_cast<uint32_t>(b.batch.attrs.size());
          if (r.inst != nullptr) {
            b.batch.attrs.push_back(kv("service.name", r.inst->service->name));
            b.batch.attrs.push_back(kv("service.instance.id", r.inst->instance));
            if (!r.inst->host.empty()) b.batch.attrs.push_back(kv("host.name", r.inst->host));
            if (!r.inst->kind.empty()) {
              b.batch.attrs.push_back(kv("telemetry.sdk.language", r.inst->kind));
            }
            if (!r.inst->sdk.empty())
              b.batch.attrs.push_back(kv("telemetry.sdk.name", r.inst->sdk));
          }
          res.attrs.count = static_cast<uint32_t>(b.batch.attrs.size()) - res.attrs.begin;
        }
        model::Span span = r.span();
        span.resource = it->second;
        span.scope_name = {};
        span.attrs.begin = static_cast<uint32_t>(b.batch.attrs.size());
        for (const model::KeyValue& a : r.ref.span_attrs()) b.batch.attrs.push_back(a);
        span.events_begin = static_cast<uint32_t>(b.batch.events.size());
        for (const model::SpanEvent& e : r.ref.span_events()) {
          model::SpanEvent copy = e;
          copy.attrs.begin = static_cast<uint32_t>(b.batch.attrs.size());
          for (const model::KeyValue& a : r.ref.event_attrs(e)) b.batch.attrs.push_back(a);
          b.batch.events.push_back(copy);
        }
        b.batch.spans.push_back(span);
      }
    }
    for (auto& [project, b] : builders) {
      if (b.batch.spans.empty()) continue;
      std::string body;
      wire::EncodeTracesProto(b.batch, &body);
      out.emplace_back(project, std::move(body));
    }
  }
  return out;
}

ProjectBatches Assembler::Impl::TakePromoted() {
  std::map<model::ProjectId, store::WriteBatch> out;
  {
    std::lock_guard l(outbox_mu_);
    out.swap(outbox_);
  }
  ProjectBatches result;
  for (auto& [project, wb] : out) {
    if (!wb.empty()) result.emplace_back(project, std::move(wb));
  }
  return result;
}

}  // namespace loupe::ingest
