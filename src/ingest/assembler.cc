#include "ingest/assembler.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <new>
#include <type_traits>

#include "ingest/assembler_internal.h"
#include "store/late_merge.h"

namespace loupe::ingest {
namespace {

constexpr std::string_view kExceptionEvent = "exception";
constexpr std::string_view kExceptionPrefix = "exception.";

size_t PayloadSize(const model::AttrValue& v) {
  return v.type == model::AttrValue::Type::kString || v.type == model::AttrValue::Type::kBytes ||
                 v.type == model::AttrValue::Type::kArray ||
                 v.type == model::AttrValue::Type::kKvList
             ? v.s.size()
             : 0;
}

// Ranges come from our own decoder; clamp them anyway rather than read past the end.
std::pair<uint32_t, uint32_t> ClampRange(uint32_t begin, uint32_t count, size_t size) {
  const size_t b = std::min<size_t>(begin, size);
  return {static_cast<uint32_t>(b), static_cast<uint32_t>(std::min<size_t>(count, size - b))};
}

// A record borrowing span `s` of batch `b`.
RecordPtr Borrow(const model::SpanBatch& b, const model::Span& s, const InstanceEntry* inst,
                 uint64_t instance_key) {
  RecordPtr rec(new (::operator new(sizeof(SpanRecord))) SpanRecord());
  rec->ref = SpanRef::In(b, s);
  rec->inst = inst;
  rec->instance_key = instance_key;
  int64_t end_us;
  SpanTimesUs(s, &rec->start_us, &end_us);
  auto [ebegin, ecount] = ClampRange(s.events_begin, s.events_count, b.events.size());
  for (uint32_t i = ebegin; i < ebegin + ecount; ++i) {
    rec->exception_events += IsExceptionEvent(b.events[i]);
  }
  return rec;
}

// An owned copy of borrowed record `r` of batch `b`.
RecordPtr OwnedCopy(const model::SpanBatch& b, const SpanRecord& r) {
  const model::Span& s = r.span();
  auto [abegin, acount] = ClampRange(s.attrs.begin, s.attrs.count, b.attrs.size());
  auto [ebegin, ecount] = ClampRange(s.events_begin, s.events_count, b.events.size());

  size_t chars = s.name.size() + s.status_message.size();
  for (uint32_t i = abegin; i < abegin + acount; ++i) {
    chars += b.attrs[i].key.size() + PayloadSize(b.attrs[i].value);
  }
  uint32_t nevents = 0, nevent_attrs = 0;
  for (uint32_t i = ebegin; i < ebegin + ecount; ++i) {
    const model::SpanEvent& e = b.events[i];
    if (!IsExceptionEvent(e)) continue;
    ++nevents;
    auto [begin, count] = ClampRange(e.attrs.begin, e.attrs.count, b.attrs.size());
    for (uint32_t j = begin; j < begin + count; ++j) {
      const model::KeyValue& kv = b.attrs[j];
      if (!kv.key.starts_with(kExceptionPrefix)) continue;
      ++nevent_attrs;
      chars += kv.key.size() + PayloadSize(kv.value);
    }
  }

  static_assert(sizeof(SpanRecord) % alignof(model::KeyValue) == 0);
  static_assert(sizeof(model::KeyValue) % alignof(model::SpanEvent) == 0);
  static_assert(std::is_trivially_destructible_v<model::KeyValue>);
  static_assert(std::is_trivially_destructible_v<model::SpanEvent>);
  const size_t nattrs = acount + nevent_attrs;
  const size_t total = sizeof(SpanRecord) + nattrs * sizeof(model::KeyValue) +
                       nevents * sizeof(model::SpanEvent) + chars;
  char* mem = static_cast<char*>(::operator new(total));
  RecordPtr rec(new (mem) SpanRecord());
  auto* attrs = reinterpret_cast<model::KeyValue*>(mem + sizeof(SpanRecord));
  auto* events = reinterpret_cast<model::SpanEvent*>(mem + sizeof(SpanRecord) +
                                                     nattrs * sizeof(model::KeyValue));
  char* text = mem + sizeof(SpanRecord) + nattrs * sizeof(model::KeyValue) +
               nevents * sizeof(model::SpanEvent);
  auto put = [&text](std::string_view v) {
    if (v.empty()) return std::string_view();
    std::memcpy(text, v.data(), v.size());
    std::string_view out(text, v.size());
    text += v.size();
    return out;
  };
  auto put_kv = [&](model::KeyValue* dst, const model::KeyValue& src) {
    new (dst) model::KeyValue(src);
    dst->key = put(src.key);
    if (PayloadSize(src.value) > 0) dst->value.s = put(src.value.s);
  };

  rec->inst = r.inst;
  rec->instance_key = r.instance_key;
  rec->start_us = r.start_us;
  rec->exception_events = nevents;
  rec->owned = true;
  model::Span& span = rec->copy;
  span = s;
  span.name = put(s.name);
  span.status_message = put(s.status_message);
  span.scope_name = {};
  span.attrs = {0, acount};
  span.events_begin = 0;
  span.events_count = nevents;
  for (uint32_t i = 0; i < acount; ++i) put_kv(&attrs[i], b.attrs[abegin + i]);
  uint32_t next_attr = acount, next_event = 0;
  for (uint32_t i = ebegin; i < ebegin + ecount; ++i) {
    const model::SpanEvent& e = b.events[i];
    if (!IsExceptionEvent(e)) continue;
    model::SpanEvent* out = new (&events[next_event++]) model::SpanEvent();
    out->time_unix_nano = e.time_unix_nano;
    out->name = kExceptionEvent;  // static storage
    out->attrs.begin = next_attr;
    auto [begin, count] = ClampRange(e.attrs.begin, e.attrs.count, b.attrs.size());
    for (uint32_t j = begin; j < begin + count; ++j) {
      if (!b.attrs[j].key.starts_with(kExceptionPrefix)) continue;
      put_kv(&attrs[next_attr++], b.attrs[j]);
    }
    out->attrs.count = next_attr - out->attrs.begin;
  }
  rec->ref = SpanRef{&rec->copy, attrs, events};
  return rec;
}

}  // namespace

Assembler::Impl::Impl(Clock* clock, AssemblerOptions options, MetricsRegistry* metrics)
    : clock_(clock), opt_(options), pending_(std::make_shared<std::atomic<int64_t>>(0)) {
  if (metrics == nullptr) {
    own_metrics_ = std::make_unique<MetricsRegistry>();
    metrics = own_metrics_.get();
  }
  size_t n = 1;
  while (n < std::max<size_t>(opt_.shards, 1)) n <<= 1;
  shards_ = std::make_unique<Shard[]>(n);
  shard_mask_ = n - 1;

  constexpr std::string_view kSpans = "loupe_assembler_spans_total";
  constexpr std::string_view kSpansHelp = "Spans received by the transaction assembler, by result.";
  accepted_ = metrics->GetCounter(kSpans, kSpansHelp, {{"result", "accepted"}});
  duplicate_ = metrics->GetCounter(kSpans, kSpansHelp, {{"result", "duplicate"}});
  rejected_[kFuture] = metrics->GetCounter(kSpans, kSpansHelp, {{"result", "rejected_future"}});
  rejected_[kPast] = metrics->GetCounter(kSpans, kSpansHelp, {{"result", "rejected_past"}});
  rejected_[kInvalidId] =
      metrics->GetCounter(kSpans, kSpansHelp, {{"result", "rejected_invalid_id"}});
  rejected_[kStartPast] =
      metrics->GetCounter(kSpans, kSpansHelp, {{"result", "rejected_start_past"}});
  rejected_[kEndBeforeStart] =
      metrics->GetCounter(kSpans, kSpansHelp, {{"result", "rejected_end_before_start"}});
  constexpr std::string_view kTx = "loupe_assembler_transactions_total";
  constexpr std::string_view kTxHelp =
      "Transactions emitted: root = its local root arrived; orphan = promoted after "
      "orphan_timeout; orphan_forced = promoted early to stay under max_pending_spans.";
  tx_root_ = metrics->GetCounter(kTx, kTxHelp, {{"kind", "root"}});
  tx_orphan_ = metrics->GetCounter(kTx, kTxHelp, {{"kind", "orphan"}});
  tx_forced_ = metrics->GetCounter(kTx, kTxHelp, {{"kind", "orphan_forced"}});
  late_steps_ = metrics->GetCounter("loupe_assembler_late_steps_total",
                                    "Steps emitted after their transaction (LateSteps).");
  constexpr std::string_view kOv = "loupe_assembler_overflow_total";
  constexpr std::string_view kOvHelp =
      "Values folded into \"(overflow)\" because a cardinality cap was reached.";
  overflow_endpoint_ = metrics->GetCounter(kOv, kOvHelp, {{"what", "endpoint"}});
  overflow_service_ = metrics->GetCounter(kOv, kOvHelp, {{"what", "service"}});
  overflow_instance_ = metrics->GetCounter(kOv, kOvHelp, {{"what", "instance"}});
  truncated_ = metrics->GetCounter("loupe_assembler_truncated_total",
                                   "Strings cut to a size limit while mapping spans.");
  clamped_ = metrics->GetCounter("loupe_assembler_clamped_total",
                                 "Spans with a missing start (elapsed set to 0).");
  dropped_steps_ =
      metrics->GetCounter("loupe_assembler_dropped_steps_total", "Steps cut by max_steps_per_tx.");
  expired_txs_ = metrics->GetCounter("loupe_assembler_expired_transactions_total",
                                     "Transactions forgotten after late_window.");
  metrics->AddCallback(
      "loupe_assembler_pending_spans",
      "Spans held by the assembler waiting for their transaction root.", [p = pending_] {
        return std::vector<std::pair<Labels, double>>{{Labels{}, static_cast<double>(p->load())}};
      });
}

// ---------------------------------------------------------------------------
// Joining (under shard locks)

bool Assembler::Impl::Insert(Shard& sh, const TraceKey& key, RecordPtr rec, int64_t now,
                             TraceState** ts_out) {
  auto& slot = sh.traces[key];
  if (!slot) slot = std::make_unique<TraceState>();
  TraceState& ts = *slot;
  *ts_out = &ts;
  const SpanId id = rec->span().span_id;
  if (ts.emitted.contains(id)) return false;
  auto [it, inserted] = ts.pending.try_emplace(id);
  if (!inserted && it->second.rec) return false;
  PendingNode& n = it->second;
  const model::Span& s = rec->span();
  const bool remote_parent =
      (s.flags & model::kSpanFlagsHasIsRemote) && (s.flags & model::kSpanFlagsIsRemote);
  n.parent = s.parent_span_id == id ? 0 : s.parent_span_id;  // a self-parent is no parent
  n.root = s.kind == model::SpanKind::kServer || s.kind == model::SpanKind::kConsumer ||
           n.parent == 0 || remote_parent;
  n.instance_key = rec->instance_key;
  n.rec = std::move(rec);
  ts.last_arrival_us = now;
  if (ts.pending_count++ == 0) {
    ts.pending_since_us = now;
    sh.orphan_q.push({now, key, ++ts.pending_episode});
  }
  pending_->fetch_add(1, std::memory_order_relaxed);

  // Hang it under its parent (creating a placeholder for a parent not seen),
  // unless it is a root or its parent is emitted: Resolve handles those.
  const SpanId parent = n.parent;
  if (!n.root && !ts.emitted.contains(parent)) {
    PendingNode& p = ts.pending[parent];  // may rehash: `n` is invalid from here
    PendingNode& c = ts.pending.find(id)->second;
    c.next_sibling = p.first_child;
    c.prev_sibling = 0;
    if (p.first_child != 0) ts.pending.find(p.first_child)->second.prev_sibling = id;
    p.first_child = id;
  }
  return true;
}

void Assembler::Impl::Unlink(TraceState& ts, SpanId id) {
  auto it = ts.pending.find(id);
  if (it == ts.pending.end()) return;
  PendingNode& n = it->second;
  const SpanId parent = n.parent, prev = n.prev_sibling, next = n.next_sibling;
  n.prev_sibling = n.next_sibling = 0;
  // Roots are never linked, and the parent of a node whose parent was emitted
  // is gone: then there is no list to fix.
  auto pit = ts.pending.find(parent);
  if (pit == ts.pending.end()) return;
  PendingNode& p = pit->second;
  if (p.first_child == id) {
    p.first_child = next;
  } else if (prev != 0) {
    auto pv = ts.pending.find(prev);
    if (pv != ts.pending.end()) pv->second.next_sibling = next;
  }
  if (next != 0) {
    auto nx = ts.pending.find(next);
    if (nx != ts.pending.end()) nx->second.prev_sibling = prev;
  }
  if (!p.rec && p.first_child == 0) ts.pending.erase(pit);  // placeholder no one waits on
}

void Assembler::Impl::Resolve(Shard& sh, const TraceKey& key, TraceState& ts, SpanId id,
                              int64_t now, std::vector<Plan>* plans) {
  auto it = ts.pending.find(id);
  if (it == ts.pending.end() || !it->second.rec) return;  // emitted meanwhile
  PendingNode& n = it->second;
  if (n.root) {
    Emit(sh, key, ts, id, Mode::kRoot, 0, now, plans);
    return;
  }
  if (auto e = ts.emitted.find(n.parent); e != ts.emitted.end()) {
    const uint32_t tx = e->second;
    if (ts.txs[tx].instance_key != n.instance_key) {
      Emit(sh, key, ts, id, Mode::kRoot, 0, now, plans);  // called from another instance
    } else {
      Emit(sh, key, ts, id, Mode::kLate, tx, now, plans);
    }
    return;
  }
  auto p = ts.pending.find(n.parent);
  if (p != ts.pending.end() && p->second.rec && p->second.instance_key != n.instance_key) {
    Emit(sh, key, ts, id, Mode::kRoot, 0, now, plans);
    return;
  }
  // Still waiting. Its pending children from other instances have a known
  // parent now, so they are local roots.
  std::vector<SpanId>& roots = sh.roots;
  roots.clear();
  for (SpanId c = n.first_child; c != 0;) {
    auto cit = ts.pending.find(c);
    if (cit == ts.pending.end()) break;
    if (cit->second.instance_key != n.instance_key) roots.push_back(c);
    c = cit->second.next_sibling;
  }
  for (size_t i = 0; i < roots.size(); ++i) {
    Emit(sh, key, ts, roots[i], Mode::kRoot, 0, now, plans);
  }
}

void Assembler::Impl::Emit(Shard& sh, const TraceKey& key, TraceState& ts, SpanId top, Mode mode,
                           uint32_t late_tx, int64_t now, std::vector<Plan>* plans) {
  // Roots found on the way (SERVER/CONSUMER children, children in another
  // instance) are emitted after this subtree, from this work list.
  std::vector<std::pair<SpanId, Mode>> work{{top, mode}};
  std::vector<SpanId>& stack = sh.stack;
  while (!work.empty()) {
    auto [start, m] = work.back();
    work.pop_back();
    auto sit = ts.pending.find(start);
    if (sit == ts.pending.end() || !sit->second.rec) continue;
    const uint64_t instance_key = sit->second.instance_key;
    Unlink(ts, start);  // may erase a placeholder: `sit` is not used after this

    Plan& plan = plans->emplace_back();
    plan.project = key.project;
    plan.late = m == Mode::kLate;
    plan.orphan = m == Mode::kOrphan;
    uint32_t tx_index;
    if (plan.late) {
      tx_index = late_tx;
      plan.tx = ts.txs[tx_index].id;
      plan.budget = opt_.max_steps_per_tx - std::min(opt_.max_steps_per_tx, ts.txs[tx_index].steps);
    } else {
      tx_index = static_cast<uint32_t>(ts.txs.size());
      plan.tx = model::MakeTxId(key.id, start);
      plan.budget = opt_.max_steps_per_tx;
      ts.txs.push_back({plan.tx, instance_key, now, 0});
    }
    uint32_t steps = 0;
    stack.clear();
    stack.push_back(start);
    while (!stack.empty()) {
      const SpanId x = stack.back();
      stack.pop_back();
      auto xit = ts.pending.find(x);
      if (xit == ts.pending.end() || !xit->second.rec) continue;
      PendingNode& n = xit->second;
      for (SpanId c = n.first_child; c != 0;) {
        auto cit = ts.pending.find(c);
        if (cit == ts.pending.end()) break;
        PendingNode& cn = cit->second;
        if (cn.rec) {
          if (cn.root || cn.instance_key != n.instance_key) {
            work.emplace_back(c, Mode::kRoot);
          } else {
            stack.push_back(c);
          }
        }
        c = cn.next_sibling;
      }
      steps += n.rec->exception_events;
      if (x == start && !plan.late) {
        plan.root = std::move(n.rec);
      } else {
        ++steps;
        plan.spans.push_back(std::move(n.rec));
      }
      // Children emitted as roots keep stale sibling links to x; Unlink
      // ignores them once x is gone.
      ts.pending.erase(xit);
      ts.emitted[x] = tx_index;
      --ts.pending_count;
      pending_->fetch_sub(1, std::memory_order_relaxed);
    }
    ts.txs[tx_index].steps += steps;
    if (plan.late && ts.txs[tx_index].steps > opt_.max_steps_per_tx) {
      plan.dropped_total = ts.txs[tx_index].steps - opt_.max_steps_per_tx;
    }
    if (!ts.expiry_queued) {
      sh.expiry_q.push({now, key});
      ts.expiry_queued = true;
    }
  }
  if (ts.pending.empty() && ts.pending.bucket_count() > 0) {
    decltype(ts.pending)().swap(ts.pending);  // release memory of finished traces
  }
}

// ---------------------------------------------------------------------------
// Mapping (outside locks)

void Assembler::Impl::AppendSteps(Plan& plan, std::vector<model::Step>* steps, uint32_t* dropped,
                                  MappingStats* stats) {
  size_t want = plan.spans.size();
  for (const RecordPtr& r : plan.spans) want += r->exception_events;
  if (plan.root) want += plan.root->exception_events;
  if (want > plan.budget) {
    // Keep the earliest spans; the final cut below also trims error steps.
    std::stable_sort(
        plan.spans.begin(), plan.spans.end(),
        [](const RecordPtr& a, const RecordPtr& b) { return a->start_us < b->start_us; });
    if (plan.spans.size() > plan.budget) plan.spans.resize(plan.budget);
  }
  steps->reserve(std::min<size_t>(want, plan.budget));
  if (plan.root) AppendErrorSteps(plan.root->ref, opt_.mapping, steps, stats);
  for (const RecordPtr& r : plan.spans) {
    MapStep(r->ref, opt_.mapping, &steps->emplace_back(), stats);
    if (r->exception_events > 0) AppendErrorSteps(r->ref, opt_.mapping, steps, stats);
  }
  std::stable_sort(steps->begin(), steps->end(), [](const model::Step& a, const model::Step& b) {
    return a.start_us < b.start_us;
  });
  if (steps->size() > plan.budget) steps->resize(plan.budget);
  *dropped = static_cast<uint32_t>(want - steps->size());
  if (*dropped > 0) dropped_steps_->Inc(*dropped);
}

void Assembler::Impl::MapPlan(Plan& plan, store::WriteBatch* out, MappingStats* stats) {
  if (plan.late) {
    store::LateSteps ls;
    ls.tx = plan.tx;
    uint32_t dropped;
    AppendSteps(plan, &ls.steps, &dropped, stats);
    // Steps cut by the cap still reach the store, as the total it keeps.
    ls.dropped_steps = plan.dropped_total;
    if (ls.steps.empty() && ls.dropped_steps == 0) return;
    late_steps_->Inc(ls.steps.size());
    out->late_steps.push_back(std::move(ls));
    return;
  }
  model::Transaction& tx = out->transactions.emplace_back();
  tx.id = plan.tx;
  const SpanRecord& root = *plan.root;
  MapTransaction(root.ref, opt_.mapping, &tx, stats);
  tx.service = root.inst->service->name;
  tx.instance = root.inst->instance;
  tx.host = root.inst->host;
  InternEndpoint(root.inst->service, &tx.endpoint);
  AppendSteps(plan, &tx.steps, &tx.dropped_steps, stats);
  tx.summary.Add(tx.steps);
  (plan.forced ? tx_forced_ : plan.orphan ? tx_orphan_ : tx_root_)->Inc();
}

void Assembler::Impl::MapPlans(std::vector<Plan>* plans, store::WriteBatch* out) {
  MappingStats stats;
  for (Plan& p : *plans) MapPlan(p, out, &stats);
  // One LateSteps per transaction: the store merges each entry once.
  store::GroupLateSteps(&out->late_steps);
  if (stats.truncated > 0) truncated_->Inc(stats.truncated);
}

void Assembler::Impl::MapPlansByProject(std::vector<Plan>* plans,
                                        std::map<model::ProjectId, store::WriteBatch>* out) {
  MappingStats stats;
  for (Plan& p : *plans) MapPlan(p, &(*out)[p.project], &stats);
  for (auto& [project, batch] : *out) store::GroupLateSteps(&batch.late_steps);
  if (stats.truncated > 0) truncated_->Inc(stats.truncated);
}

// ---------------------------------------------------------------------------
// Entry points

AddResult Assembler::Impl::Add(model::ProjectId project, const model::SpanBatch& batch) {
  AddResult result;
  const int64_t now = clock_->NowMicros();
  const size_t n = batch.spans.size();
  ProjectState* ps = GetProject(project);

  // Resources are resolved when a valid span refers to them; the extra slot
  // stands for a span whose resource index is out of range.
  struct Res {
    bool resolved = false;
    const InstanceEntry* entry = nullptr;
    uint64_t identity = 0;
  };
  std::vector<Res> res(batch.resources.size() + 1);
  std::vector<const InstanceEntry*> reported;
  MappingStats stats;
  auto resolve = [&](uint32_t index) -> Res& {
    Res& r = res[std::min<size_t>(index, batch.resources.size())];
    if (r.resolved) return r;
    std::span<const model::KeyValue> attrs;
    if (index < batch.resources.size()) {
      const model::AttrRange range = batch.resources[index].attrs;
      const size_t begin = std::min<size_t>(range.begin, batch.attrs.size());
      attrs = {batch.attrs.data() + begin,
               std::min<size_t>(range.count, batch.attrs.size() - begin)};
    }
    ResourceInfo info = MapResource(attrs, opt_.mapping, &stats);
    r.identity = Hash64(info.instance, Hash64(info.service));
    r.entry = ResolveResource(ps, info, now);
    r.resolved = true;
    for (const InstanceEntry* seen : reported) {
      if (seen == r.entry) return r;
    }
    reported.push_back(r.entry);
    result.instances.push_back(store::InstanceInfo{r.entry->service->name, r.entry->instance,
                                                   r.entry->host, r.entry->kind, r.entry->sdk, now,
                                                   now});
    return r;
  };

  // Validate, wrap (no copy yet) and bucket by shard, all outside the locks.
  uint64_t rejected[kNumReasons] = {};
  // Spans the decoder already dropped for their ids count here too (one
  // counter and one partial-success message for every invalid id).
  rejected[kInvalidId] = batch.invalid_spans;
  uint64_t clamped = 0;
  static constexpr model::TraceId kZeroTrace{};
  std::vector<RecordPtr> records;
  std::vector<uint32_t> shard_of;
  records.reserve(n);
  shard_of.reserve(n);
  std::vector<uint32_t> per_shard(shard_mask_ + 2, 0);
  for (const model::Span& s : batch.spans) {
    if (s.trace_id == kZeroTrace || s.span_id == 0) {
      ++rejected[kInvalidId];
      continue;
    }
    const int64_t end_us = static_cast<int64_t>(s.end_unix_nano / 1000);
    if (end_us > now + opt_.max_future_us) {
      ++rejected[kFuture];
      continue;
    }
    if (end_us <= 0 || end_us < now - opt_.max_age_us) {
      ++rejected[kPast];
      continue;
    }
    // A start is checked as the end is: one span claiming to have run for
    // decades would otherwise set its endpoint's mean and maximum elapsed.
    // A missing start (0) is not an error: the span gets elapsed 0.
    if (s.start_unix_nano == 0) {
      ++clamped;
    } else if (s.start_unix_nano > s.end_unix_nano) {
      ++rejected[kEndBeforeStart];
      continue;
    } else if (static_cast<int64_t>(s.start_unix_nano / 1000) < now - opt_.max_age_us) {
      ++rejected[kStartPast];
      continue;
    }
    Res& r = resolve(s.resource);
    RecordPtr rec = Borrow(batch, s, r.entry, r.identity);
    const uint32_t shard =
        static_cast<uint32_t>(TraceKeyHash()(TraceKey{s.trace_id, project}) & shard_mask_);
    ++per_shard[shard + 1];
    records.push_back(std::move(rec));
    shard_of.push_back(shard);
  }
  // Counting sort of record indices by shard.
  for (size_t i = 1; i < per_shard.size(); ++i) per_shard[i] += per_shard[i - 1];
  std::vector<uint32_t> order(records.size());
  {
    std::vector<uint32_t> fill(per_shard.begin(), per_shard.end() - 1);
    for (uint32_t i = 0; i < records.size(); ++i) order[fill[shard_of[i]]++] = i;
  }

  std::vector<Plan> plans;
  uint64_t accepted = 0, duplicates = 0;
  struct Arrival {
    TraceState* ts;
    TraceKey key;
    SpanId id;
  };
  std::vector<Arrival> arrivals;
  for (size_t s = 0; s + 1 < per_shard.size(); ++s) {
    const uint32_t begin = per_shard[s], end = per_shard[s + 1];
    if (begin == end) continue;
    Shard& sh = shards_[s];
    arrivals.clear();
    std::lock_guard l(sh.mu);
    // Insert all first, then resolve: a root and its children in one batch
    // must make one transaction, whatever their order in the batch.
    for (uint32_t k = begin; k < end; ++k) {
      RecordPtr& rec = records[order[k]];
      const TraceKey key{rec->span().trace_id, project};
      const SpanId id = rec->span().span_id;
      TraceState* ts;
      if (Insert(sh, key, std::move(rec), now, &ts)) {
        ++accepted;
        arrivals.push_back({ts, key, id});
      } else {
        ++duplicates;
      }
    }
    for (const Arrival& a : arrivals) Resolve(sh, a.key, *a.ts, a.id, now, &plans);
    // What still waits must outlive the caller's batch.
    for (const Arrival& a : arrivals) {
      auto it = a.ts->pending.find(a.id);
      if (it == a.ts->pending.end() || !it->second.rec || it->second.rec->owned) continue;
      it->second.rec = OwnedCopy(batch, *it->second.rec);
    }
  }
  records.clear();  // duplicates' records

  MapPlans(&plans, &result.batch);
  if (stats.truncated > 0) truncated_->Inc(stats.truncated);
  accepted_->Inc(accepted);
  duplicate_->Inc(duplicates);
  if (clamped > 0) clamped_->Inc(clamped);

  static constexpr const char* kReasonText[kNumReasons] = {
      "end time too far in the future", "end time too old", "invalid trace or span id",
      "start time too old", "end time before start time"};
  for (int i = 0; i < kNumReasons; ++i) {
    if (rejected[i] == 0) continue;
    rejected_[i]->Inc(rejected[i]);
    result.rejected_spans += rejected[i];
  }
  if (result.rejected_spans > 0) {
    result.rejection_message = std::to_string(result.rejected_spans) + " spans rejected:";
    const char* sep = " ";
    for (int i = 0; i < kNumReasons; ++i) {
      if (rejected[i] == 0) continue;
      result.rejection_message += sep + std::to_string(rejected[i]) + " " + kReasonText[i];
      sep = ", ";
    }
  }
  EvictIfNeeded();
  return result;
}

// ---------------------------------------------------------------------------

Assembler::Assembler(Clock* clock, AssemblerOptions options, MetricsRegistry* metrics)
    : impl_(std::make_unique<Impl>(clock, std::move(options), metrics)) {}
Assembler::~Assembler() = default;
AddResult Assembler::Add(model::ProjectId project, const model::SpanBatch& batch) {
  return impl_->Add(project, batch);
}
ProjectBatches Assembler::Tick() { return impl_->Tick(); }
ProjectBatches Assembler::Flush() { return impl_->Flush(); }
size_t Assembler::pending_spans() const { return impl_->pending_spans(); }
std::vector<std::pair<model::ProjectId, std::string>> Assembler::ExportPending() const {
  return impl_->ExportPending();
}
ProjectBatches Assembler::TakePromoted() { return impl_->TakePromoted(); }
std::vector<InstanceCapStats> Assembler::InstanceStats() const { return impl_->InstanceStats(); }

}  // namespace loupe::ingest
