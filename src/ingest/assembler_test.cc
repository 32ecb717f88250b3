#include "ingest/assembler.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace loupe::ingest {
namespace {

using model::AttrValue;
using model::SpanId;
using model::SpanKind;
using model::SpanStatus;
using model::StepKind;
using ::testing::ElementsAre;
using ::testing::HasSubstr;

// --- Building SpanBatch values by hand (no dependency on wire/) ---------------

struct TA {
  std::string key;
  AttrValue::Type type = AttrValue::Type::kString;
  std::string s;
  int64_t i = 0;
};
TA S(std::string k, std::string v) {
  return {std::move(k), AttrValue::Type::kString, std::move(v)};
}
TA I(std::string k, int64_t v) { return {std::move(k), AttrValue::Type::kInt, "", v}; }

struct TE {
  std::string name;
  int64_t time_ms = 0;
  std::vector<TA> attrs{};
};

constexpr int64_t kT0us = 1'700'000'000'000'000;  // Nov 2023
constexpr int64_t kSec = 1'000'000;

model::TraceId Trace(uint64_t n) {
  model::TraceId t{};
  for (int i = 0; i < 8; ++i) t[i] = static_cast<uint8_t>(n >> (56 - 8 * i));
  t[15] = 0x5a;
  return t;
}

struct SpanSpec {
  uint64_t trace = 1;
  SpanId id = 0;
  SpanId parent = 0;
  SpanKind kind = SpanKind::kInternal;
  std::string name = "op";
  int64_t start_ms = 0;  // relative to kT0us
  int64_t end_ms = 1;
  uint32_t resource = 0;
  std::vector<TA> attrs{};
  std::vector<TE> events{};
  SpanStatus status = SpanStatus::kUnset;
  uint32_t flags = 0;
};

class TestBatch {
 public:
  model::SpanBatch b;

  TestBatch() = default;
  // Not copyable: the batch holds views into its own arena.
  TestBatch(const TestBatch&) = delete;
  TestBatch(TestBatch&&) = default;
  // Starts with one resource (index 0) for (service, instance).
  TestBatch(const std::string& service, const std::string& instance) {
    Resource(service, instance);
  }

  uint32_t Resource(const std::string& service, const std::string& instance,
                    const std::string& host = "host-1") {
    model::Resource r;
    r.attrs = Attrs({S("service.name", service), S("service.instance.id", instance),
                     S("host.name", host), S("telemetry.sdk.language", "cpp"),
                     S("telemetry.sdk.name", "opentelemetry"), S("telemetry.sdk.version", "1.0")});
    b.resources.push_back(r);
    return static_cast<uint32_t>(b.resources.size() - 1);
  }

  TestBatch& Add(const SpanSpec& spec) {
    model::Span s;
    s.trace_id = Trace(spec.trace);
    s.span_id = spec.id;
    s.parent_span_id = spec.parent;
    s.kind = spec.kind;
    s.status = spec.status;
    s.flags = spec.flags;
    s.name = b.Own(spec.name);
    s.start_unix_nano = static_cast<uint64_t>(kT0us + spec.start_ms * 1000) * 1000;
    s.end_unix_nano = static_cast<uint64_t>(kT0us + spec.end_ms * 1000) * 1000;
    s.resource = spec.resource;
    s.attrs = Attrs(spec.attrs);
    s.events_begin = static_cast<uint32_t>(b.events.size());
    for (const TE& e : spec.events) {
      model::SpanEvent ev;
      ev.name = b.Own(e.name);
      ev.time_unix_nano = static_cast<uint64_t>(kT0us + e.time_ms * 1000) * 1000;
      ev.attrs = Attrs(e.attrs);
      b.events.push_back(ev);
    }
    s.events_count = static_cast<uint32_t>(spec.events.size());
    b.spans.push_back(s);
    return *this;
  }

 private:
  model::AttrRange Attrs(const std::vector<TA>& attrs) {
    model::AttrRange r{static_cast<uint32_t>(b.attrs.size()), static_cast<uint32_t>(attrs.size())};
    for (const TA& a : attrs) {
      model::KeyValue kv;
      kv.key = b.Own(a.key);
      kv.value.type = a.type;
      kv.value.i = a.i;
      if (!a.s.empty()) kv.value.s = b.Own(a.s);
      b.attrs.push_back(kv);
    }
    return r;
  }
};

// Everything the assembler emitted, by transaction.
struct Sink {
  std::vector<model::Transaction> txs;
  std::vector<store::LateSteps> late;

  void Take(store::WriteBatch&& wb) {
    for (auto& t : wb.transactions) txs.push_back(std::move(t));
    for (auto& l : wb.late_steps) late.push_back(std::move(l));
  }
  void Take(AddResult&& r) { Take(std::move(r.batch)); }
  void Take(ProjectBatches&& pbs) {
    for (auto& [p, wb] : pbs) Take(std::move(wb));
  }
  const model::Transaction* Find(SpanId root) const {
    for (const auto& t : txs) {
      if (t.span_id == root) return &t;
    }
    return nullptr;
  }
};

std::vector<SpanId> StepIds(const std::vector<model::Step>& steps) {
  std::vector<SpanId> ids;
  for (const auto& s : steps) ids.push_back(s.span_id);
  return ids;
}

class AssemblerTest : public ::testing::Test {
 protected:
  AssemblerTest() : clock_(kT0us + 2 * kSec) {}

  Assembler& Make(AssemblerOptions opt = {}) {
    asm_ = std::make_unique<Assembler>(&clock_, opt, &metrics_);
    return *asm_;
  }
  uint64_t CounterValue(const std::string& name, const std::string& label,
                        const std::string& value) {
    return metrics_.GetCounter(name, "", {{label, value}})->value();
  }
  uint64_t Plain(const std::string& name) { return metrics_.GetCounter(name, "")->value(); }
  uint64_t Spans(const std::string& result) {
    return CounterValue("loupe_assembler_spans_total", "result", result);
  }
  uint64_t Txs(const std::string& kind) {
    return CounterValue("loupe_assembler_transactions_total", "kind", kind);
  }

  ManualClock clock_;
  MetricsRegistry metrics_;
  std::unique_ptr<Assembler> asm_;
};

// A realistic request: GET /api/posts/{id} → render() → SELECT, plus an HTTP call.
TestBatch PostRequest(uint64_t trace = 1) {
  TestBatch tb("shop", "shop-1");
  tb.Add({.trace = trace,
          .id = 1,
          .kind = SpanKind::kServer,
          .name = "GET /api/posts/:id",
          .start_ms = 0,
          .end_ms = 100,
          .attrs = {S("http.request.method", "GET"), S("http.route", "/api/posts/:id"),
                    S("url.path", "/api/posts/42"), I("http.response.status_code", 200),
                    S("client.address", "203.0.113.7"), S("enduser.id", "alice")}});
  tb.Add({.trace = trace,
          .id = 2,
          .parent = 1,
          .name = "render",
          .start_ms = 10,
          .end_ms = 60,
          .attrs = {S("code.function", "render")}});
  tb.Add(
      {.trace = trace,
       .id = 3,
       .parent = 2,
       .kind = SpanKind::kClient,
       .name = "SELECT posts",
       .start_ms = 20,
       .end_ms = 50,
       .attrs = {S("db.system", "postgresql"), S("db.statement", "SELECT * FROM posts WHERE id=$1"),
                 S("db.query.parameter.0", "42")}});
  tb.Add({.trace = trace,
          .id = 4,
          .parent = 1,
          .kind = SpanKind::kClient,
          .name = "GET",
          .start_ms = 70,
          .end_ms = 90,
          .attrs = {S("http.request.method", "GET"), S("url.full", "http://users/api/u/1"),
                    S("server.address", "users"), I("http.response.status_code", 200)}});
  return tb;
}

TEST_F(AssemblerTest, SingleBatchMakesOneTransactionWithNestedStepsAndSummary) {
  Assembler& a = Make();
  AddResult r = a.Add(7, PostRequest().b);
  EXPECT_EQ(r.rejected_spans, 0u);
  ASSERT_EQ(r.batch.transactions.size(), 1u);
  EXPECT_TRUE(r.batch.late_steps.empty());
  const model::Transaction& tx = r.batch.transactions[0];
  EXPECT_EQ(tx.id, model::MakeTxId(Trace(1), 1));
  EXPECT_EQ(tx.trace_id, Trace(1));
  EXPECT_EQ(tx.span_id, 1u);
  EXPECT_EQ(tx.parent_span_id, 0u);
  EXPECT_EQ(tx.service, "shop");
  EXPECT_EQ(tx.instance, "shop-1");
  EXPECT_EQ(tx.host, "host-1");
  EXPECT_EQ(tx.endpoint, "GET /api/posts/:id");
  EXPECT_EQ(tx.http_method, "GET");
  EXPECT_EQ(tx.url, "/api/posts/42");
  EXPECT_EQ(tx.status, 200);
  EXPECT_FALSE(tx.error);
  EXPECT_EQ(tx.client_ip, "203.0.113.7");
  EXPECT_EQ(tx.user, "alice");
  EXPECT_EQ(tx.start_us, kT0us);
  EXPECT_EQ(tx.elapsed_us(), 100'000);

  // In start order, nested through parent_span_id.
  ASSERT_THAT(StepIds(tx.steps), ElementsAre(2, 3, 4));
  EXPECT_EQ(tx.steps[0].kind, StepKind::kMethod);
  EXPECT_EQ(tx.steps[0].parent_span_id, 1u);
  EXPECT_EQ(tx.steps[1].kind, StepKind::kSql);
  EXPECT_EQ(tx.steps[1].parent_span_id, 2u);
  EXPECT_EQ(tx.steps[1].sql, "SELECT * FROM posts WHERE id=$1");
  EXPECT_THAT(tx.steps[1].binds, ElementsAre("42"));
  EXPECT_EQ(tx.steps[2].kind, StepKind::kExternal);
  EXPECT_EQ(tx.steps[2].url, "http://users/api/u/1");
  EXPECT_EQ(tx.summary.sql_count, 1u);
  EXPECT_EQ(tx.summary.sql_us, 30'000);
  EXPECT_EQ(tx.summary.external_count, 1u);
  EXPECT_EQ(tx.summary.external_us, 20'000);
  EXPECT_EQ(tx.dropped_steps, 0u);

  ASSERT_EQ(r.instances.size(), 1u);
  EXPECT_EQ(r.instances[0].service, "shop");
  EXPECT_EQ(r.instances[0].instance, "shop-1");
  EXPECT_EQ(r.instances[0].kind, "cpp");
  EXPECT_EQ(r.instances[0].sdk, "opentelemetry 1.0");
  EXPECT_EQ(r.instances[0].last_seen_us, clock_.NowMicros());
  EXPECT_EQ(a.pending_spans(), 0u);
  EXPECT_EQ(Spans("accepted"), 4u);
  EXPECT_EQ(Txs("root"), 1u);
}

TEST_F(AssemblerTest, RootFirstInBatchStillCollectsChildrenOfTheSameBatch) {
  Assembler& a = Make();
  TestBatch tb("shop", "shop-1");
  // Root first, then grandchild before child: order in a batch does not matter.
  tb.Add({.id = 1, .kind = SpanKind::kServer, .end_ms = 10});
  tb.Add({.id = 3, .parent = 2, .start_ms = 2, .end_ms = 3});
  tb.Add({.id = 2, .parent = 1, .start_ms = 1, .end_ms = 5});
  AddResult r = a.Add(1, tb.b);
  ASSERT_EQ(r.batch.transactions.size(), 1u);
  EXPECT_THAT(StepIds(r.batch.transactions[0].steps), ElementsAre(2, 3));
  EXPECT_TRUE(r.batch.late_steps.empty());
}

TEST_F(AssemblerTest, ChildrenBeforeRootInSeparateBatchesJoinTheRoot) {
  Assembler& a = Make();
  TestBatch full = PostRequest();
  TestBatch children("shop", "shop-1"), root("shop", "shop-1");
  children.Add({.id = 3,
                .parent = 2,
                .kind = SpanKind::kClient,
                .start_ms = 20,
                .end_ms = 50,
                .attrs = {S("db.system", "mysql"), S("db.statement", "SELECT 1")}});
  children.Add({.id = 4, .parent = 1, .kind = SpanKind::kClient, .start_ms = 70, .end_ms = 90});
  TestBatch middle("shop", "shop-1");
  middle.Add({.id = 2, .parent = 1, .start_ms = 10, .end_ms = 60});
  root.Add({.id = 1, .kind = SpanKind::kServer, .start_ms = 0, .end_ms = 100});

  AddResult r1 = a.Add(1, children.b);
  EXPECT_TRUE(r1.batch.empty());
  AddResult r2 = a.Add(1, middle.b);
  EXPECT_TRUE(r2.batch.empty());
  EXPECT_EQ(a.pending_spans(), 3u);
  AddResult r3 = a.Add(1, root.b);
  ASSERT_EQ(r3.batch.transactions.size(), 1u);
  EXPECT_THAT(StepIds(r3.batch.transactions[0].steps), ElementsAre(2, 3, 4));
  EXPECT_EQ(r3.batch.transactions[0].summary.sql_count, 1u);
  EXPECT_EQ(a.pending_spans(), 0u);
}

TEST_F(AssemblerTest, ChildrenAfterRootAreEmittedAsLateSteps) {
  Assembler& a = Make();
  TestBatch root("shop", "shop-1"), late("shop", "shop-1");
  root.Add({.id = 1, .kind = SpanKind::kServer, .end_ms = 100});
  // A child and its own child arrive later (e.g. an async task ending after the response).
  late.Add({.id = 5, .parent = 1, .start_ms = 50, .end_ms = 150});
  late.Add({.id = 6,
            .parent = 5,
            .start_ms = 60,
            .end_ms = 70,
            .attrs = {S("db.system", "redis"), S("db.operation", "GET")}});
  AddResult r1 = a.Add(1, root.b);
  ASSERT_EQ(r1.batch.transactions.size(), 1u);
  EXPECT_TRUE(r1.batch.transactions[0].steps.empty());

  clock_.Advance(10 * kSec);
  AddResult r2 = a.Add(1, late.b);
  EXPECT_TRUE(r2.batch.transactions.empty());
  ASSERT_EQ(r2.batch.late_steps.size(), 1u);
  EXPECT_EQ(r2.batch.late_steps[0].tx, model::MakeTxId(Trace(1), 1));
  EXPECT_THAT(StepIds(r2.batch.late_steps[0].steps), ElementsAre(5, 6));
  EXPECT_EQ(r2.batch.late_steps[0].steps[1].kind, StepKind::kSql);
  EXPECT_EQ(Plain("loupe_assembler_late_steps_total"), 2u);
}

TEST_F(AssemblerTest, MissingIntermediateSpanArrivingLastJoinsAsLateSteps) {
  Assembler& a = Make();
  TestBatch first("shop", "shop-1"), last("shop", "shop-1");
  first.Add({.id = 1, .kind = SpanKind::kServer, .end_ms = 100});
  first.Add({.id = 3, .parent = 2, .start_ms = 20, .end_ms = 30});  // parent 2 not sent yet
  AddResult r1 = a.Add(1, first.b);
  ASSERT_EQ(r1.batch.transactions.size(), 1u);
  EXPECT_TRUE(r1.batch.transactions[0].steps.empty());
  EXPECT_EQ(a.pending_spans(), 1u);

  last.Add({.id = 2, .parent = 1, .start_ms = 10, .end_ms = 40});
  AddResult r2 = a.Add(1, last.b);
  ASSERT_EQ(r2.batch.late_steps.size(), 1u);
  EXPECT_THAT(StepIds(r2.batch.late_steps[0].steps), ElementsAre(2, 3));
  EXPECT_EQ(a.pending_spans(), 0u);
}

TEST_F(AssemblerTest, MissingIntermediateSpanBeforeRootMakesOneTransaction) {
  Assembler& a = Make();
  TestBatch b1("shop", "shop-1"), b2("shop", "shop-1"), b3("shop", "shop-1");
  b1.Add({.id = 4, .parent = 3, .start_ms = 4, .end_ms = 5});
  b1.Add({.id = 3, .parent = 2, .start_ms = 3, .end_ms = 6});
  b2.Add({.id = 1, .kind = SpanKind::kServer, .end_ms = 10});
  b3.Add({.id = 2, .parent = 1, .start_ms = 2, .end_ms = 7});
  EXPECT_TRUE(a.Add(1, b1.b).batch.empty());
  AddResult r2 = a.Add(1, b2.b);
  ASSERT_EQ(r2.batch.transactions.size(), 1u);
  AddResult r3 = a.Add(1, b3.b);
  ASSERT_EQ(r3.batch.late_steps.size(), 1u);
  EXPECT_THAT(StepIds(r3.batch.late_steps[0].steps), ElementsAre(2, 3, 4));
}

TEST_F(AssemblerTest, DuplicateSpansAreUsedOnce) {
  Assembler& a = Make();
  TestBatch b1("shop", "shop-1");
  b1.Add({.id = 2, .parent = 1, .start_ms = 1, .end_ms = 2});
  b1.Add({.id = 2, .parent = 1, .start_ms = 1, .end_ms = 2});  // twice in one batch
  Sink sink;
  sink.Take(a.Add(1, b1.b));
  sink.Take(a.Add(1, b1.b));  // again while pending
  EXPECT_EQ(a.pending_spans(), 1u);

  TestBatch b2("shop", "shop-1");
  b2.Add({.id = 1, .kind = SpanKind::kServer, .end_ms = 10});
  sink.Take(a.Add(1, b2.b));
  sink.Take(a.Add(1, b2.b));  // root again, after emission
  sink.Take(a.Add(1, b1.b));  // child again, after emission
  ASSERT_EQ(sink.txs.size(), 1u);
  EXPECT_THAT(StepIds(sink.txs[0].steps), ElementsAre(2));
  EXPECT_TRUE(sink.late.empty());
  EXPECT_EQ(Spans("accepted"), 2u);
  EXPECT_EQ(Spans("duplicate"), 6u);
}

TEST_F(AssemblerTest, TwoServicesInOneTraceMakeTwoLinkedTransactions) {
  // A (frontend) calls B (backend) over HTTP; B's spans arrive first.
  for (bool remote_flag : {true, false}) {
    SCOPED_TRACE(remote_flag ? "server span with remote parent" : "internal span, other instance");
    Assembler& a = Make();
    TestBatch b("backend", "backend-1");
    b.Add({.id = 20,
           .parent = 11,
           .kind = remote_flag ? SpanKind::kServer : SpanKind::kInternal,
           .start_ms = 12,
           .end_ms = 40,
           .flags = remote_flag ? model::kSpanFlagsHasIsRemote | model::kSpanFlagsIsRemote : 0u});
    b.Add({.id = 21,
           .parent = 20,
           .start_ms = 15,
           .end_ms = 30,
           .attrs = {S("db.system", "mysql"), S("db.statement", "SELECT 1")}});
    TestBatch f("frontend", "frontend-1");
    f.Add({.id = 10, .kind = SpanKind::kServer, .end_ms = 50});
    f.Add({.id = 11,
           .parent = 10,
           .kind = SpanKind::kClient,
           .start_ms = 10,
           .end_ms = 45,
           .attrs = {S("url.full", "http://backend/x")}});
    Sink sink;
    sink.Take(a.Add(1, b.b));
    sink.Take(a.Add(1, f.b));
    ASSERT_EQ(sink.txs.size(), 2u);
    const model::Transaction* front = sink.Find(10);
    const model::Transaction* back = sink.Find(20);
    ASSERT_NE(front, nullptr);
    ASSERT_NE(back, nullptr);
    EXPECT_EQ(front->service, "frontend");
    EXPECT_THAT(StepIds(front->steps), ElementsAre(11));
    EXPECT_EQ(back->service, "backend");
    EXPECT_EQ(back->parent_span_id, 11u);  // links to the caller's client span
    EXPECT_THAT(StepIds(back->steps), ElementsAre(21));
    EXPECT_EQ(a.pending_spans(), 0u);
  }
}

TEST_F(AssemblerTest, SpanFromAnotherInstanceUnderPendingParentBecomesRoot) {
  Assembler& a = Make();
  // The callee's internal span arrives first, then the caller's client span
  // (still waiting for its own root): the callee's span is a root at once.
  TestBatch b("backend", "backend-1");
  b.Add({.id = 20, .parent = 11, .start_ms = 12, .end_ms = 40});
  TestBatch f("frontend", "frontend-1");
  f.Add({.id = 11, .parent = 10, .kind = SpanKind::kClient, .start_ms = 10, .end_ms = 45});
  EXPECT_TRUE(a.Add(1, b.b).batch.empty());
  AddResult r = a.Add(1, f.b);
  ASSERT_EQ(r.batch.transactions.size(), 1u);
  EXPECT_EQ(r.batch.transactions[0].span_id, 20u);
  EXPECT_EQ(r.batch.transactions[0].service, "backend");
  EXPECT_EQ(a.pending_spans(), 1u);  // 11 still waits for 10
}

TEST_F(AssemblerTest, ServerSpanInsideSameInstanceIsItsOwnTransaction) {
  Assembler& a = Make();
  TestBatch tb("shop", "shop-1");
  tb.Add({.id = 1, .kind = SpanKind::kServer, .end_ms = 100});
  tb.Add({.id = 2, .parent = 1, .kind = SpanKind::kClient, .start_ms = 10, .end_ms = 90});
  tb.Add({.id = 3, .parent = 2, .kind = SpanKind::kServer, .start_ms = 20, .end_ms = 80});
  tb.Add({.id = 4, .parent = 3, .start_ms = 30, .end_ms = 40});
  AddResult r = a.Add(1, tb.b);
  ASSERT_EQ(r.batch.transactions.size(), 2u);
  Sink sink;
  sink.Take(std::move(r));
  EXPECT_THAT(StepIds(sink.Find(1)->steps), ElementsAre(2));
  EXPECT_THAT(StepIds(sink.Find(3)->steps), ElementsAre(4));
  EXPECT_EQ(sink.Find(3)->parent_span_id, 2u);
}

TEST_F(AssemblerTest, OrphansArePromotedAfterTimeout) {
  Assembler& a = Make();
  TestBatch tb("shop", "shop-1");
  tb.Add({.id = 5, .parent = 99, .name = "job", .start_ms = 0, .end_ms = 50});
  tb.Add({.id = 6, .parent = 5, .start_ms = 10, .end_ms = 20});
  tb.Add({.id = 8, .parent = 7, .name = "other group", .start_ms = 30, .end_ms = 40});
  EXPECT_TRUE(a.Add(1, tb.b).batch.empty());
  EXPECT_EQ(a.pending_spans(), 3u);

  clock_.Advance(29 * kSec);
  EXPECT_TRUE(a.Tick().empty());
  clock_.Advance(1 * kSec);
  Sink sink;
  ProjectBatches out = a.Tick();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].first, 1u);
  sink.Take(std::move(out));
  ASSERT_EQ(sink.txs.size(), 2u);
  const model::Transaction* job = sink.Find(5);
  ASSERT_NE(job, nullptr);
  EXPECT_EQ(job->endpoint, "job");
  EXPECT_EQ(job->parent_span_id, 99u);
  EXPECT_EQ(job->id, model::MakeTxId(Trace(1), 5));
  EXPECT_THAT(StepIds(job->steps), ElementsAre(6));
  ASSERT_NE(sink.Find(8), nullptr);
  EXPECT_EQ(a.pending_spans(), 0u);
  EXPECT_EQ(Txs("orphan"), 2u);

  // A late child of a promoted orphan joins it.
  TestBatch late("shop", "shop-1");
  late.Add({.id = 9, .parent = 6, .start_ms = 12, .end_ms = 13});
  AddResult r = a.Add(1, late.b);
  ASSERT_EQ(r.batch.late_steps.size(), 1u);
  EXPECT_EQ(r.batch.late_steps[0].tx, job->id);
}

TEST_F(AssemblerTest, OrphanTimerRestartsWhileTheTraceIsStillReceivingSpans) {
  AssemblerOptions opt;
  opt.orphan_timeout_us = 30 * kSec;
  opt.orphan_max_wait_us = 120 * kSec;
  Assembler& a = Make(opt);
  // A long request: its children end (and are exported) every 20 s, its root last.
  for (SpanId id = 2; id <= 5; ++id) {
    TestBatch tb("shop", "shop-1");
    tb.Add({.id = id, .parent = 1, .end_ms = 1});
    EXPECT_TRUE(a.Add(1, tb.b).batch.empty());
    clock_.Advance(20 * kSec);
    EXPECT_TRUE(a.Tick().empty()) << id;
  }
  TestBatch root("shop", "shop-1");
  root.Add({.id = 1, .kind = SpanKind::kServer, .end_ms = 80'000});
  AddResult r = a.Add(1, root.b);
  ASSERT_EQ(r.batch.transactions.size(), 1u);
  EXPECT_THAT(StepIds(r.batch.transactions[0].steps), ElementsAre(2, 3, 4, 5));

  // But not forever: orphan_max_wait bounds the wait.
  for (SpanId id = 12; id <= 20; ++id) {
    TestBatch tb("shop", "shop-1");
    tb.Add({.trace = 2, .id = id, .parent = 11, .end_ms = 1});
    a.Add(1, tb.b);
    clock_.Advance(20 * kSec);
    Sink sink;
    sink.Take(a.Tick());
    if (id < 17) {
      EXPECT_TRUE(sink.txs.empty()) << id;
    } else if (id == 17) {
      EXPECT_EQ(sink.txs.size(), 6u);  // 120 s after the first
    }
  }
}

TEST_F(AssemblerTest, LateWindowExpiryForgetsTransactions) {
  AssemblerOptions opt;
  opt.late_window_us = 60 * kSec;
  Assembler& a = Make(opt);
  TestBatch root("shop", "shop-1");
  root.Add({.id = 1, .kind = SpanKind::kServer, .end_ms = 10});
  ASSERT_EQ(a.Add(1, root.b).batch.transactions.size(), 1u);
  clock_.Advance(59 * kSec);
  a.Tick();
  EXPECT_EQ(a.Add(1, root.b).batch.transactions.size(), 0u);  // still remembered: duplicate
  clock_.Advance(1 * kSec);
  a.Tick();
  EXPECT_EQ(Plain("loupe_assembler_expired_transactions_total"), 1u);
  // Forgotten: a late child now waits like any span with an unknown parent.
  TestBatch child("shop", "shop-1");
  child.Add({.id = 2, .parent = 1, .start_ms = 1, .end_ms = 2});
  EXPECT_TRUE(a.Add(1, child.b).batch.empty());
  EXPECT_EQ(a.pending_spans(), 1u);
}

TEST_F(AssemblerTest, ExceptionEventsBecomeErrorStepsAndMarkTheTransaction) {
  Assembler& a = Make();
  TestBatch tb("shop", "shop-1");
  tb.Add({.id = 1,
          .kind = SpanKind::kServer,
          .end_ms = 100,
          .events = {{"exception",
                      90,
                      {S("exception.type", "RuntimeError"), S("exception.message", "boom"),
                       S("exception.stacktrace", "at main()")}}}});
  tb.Add({.id = 2,
          .parent = 1,
          .start_ms = 10,
          .end_ms = 20,
          .events = {{"exception", 15, {S("exception.type", "KeyError")}},
                     {"log", 16, {S("message", "not an error")}}}});
  AddResult r = a.Add(1, tb.b);
  ASSERT_EQ(r.batch.transactions.size(), 1u);
  const model::Transaction& tx = r.batch.transactions[0];
  EXPECT_TRUE(tx.error);
  EXPECT_EQ(tx.error_type, "RuntimeError");
  ASSERT_EQ(tx.steps.size(), 3u);
  EXPECT_EQ(tx.steps[0].span_id, 2u);
  EXPECT_EQ(tx.steps[1].kind, StepKind::kError);
  EXPECT_EQ(tx.steps[1].name, "KeyError");
  EXPECT_EQ(tx.steps[1].parent_span_id, 2u);
  EXPECT_EQ(tx.steps[1].start_us, kT0us + 15'000);
  EXPECT_EQ(tx.steps[2].kind, StepKind::kError);
  EXPECT_EQ(tx.steps[2].name, "RuntimeError");
  EXPECT_EQ(tx.steps[2].message, "boom");
  EXPECT_EQ(tx.steps[2].stack, "at main()");
  EXPECT_EQ(tx.steps[2].parent_span_id, 1u);  // on the root itself
  EXPECT_EQ(tx.steps[2].elapsed_us, 0);
}

TEST_F(AssemblerTest, Http5xxMarksTheTransactionAsError) {
  Assembler& a = Make();
  TestBatch tb("shop", "shop-1");
  tb.Add(
      {.id = 1,
       .kind = SpanKind::kServer,
       .end_ms = 10,
       .attrs = {S("http.method", "POST"), S("http.target", "/pay"), I("http.status_code", 503)}});
  AddResult r = a.Add(1, tb.b);
  ASSERT_EQ(r.batch.transactions.size(), 1u);
  EXPECT_TRUE(r.batch.transactions[0].error);
  EXPECT_EQ(r.batch.transactions[0].error_type, "HTTP 503");
  EXPECT_EQ(r.batch.transactions[0].endpoint, "POST /pay");
}

TEST_F(AssemblerTest, OldAndNewSemanticConventionsGiveIdenticalTransactions) {
  Assembler& a = Make();
  TestBatch old_names("shop", "shop-1"), new_names("shop", "shop-1");
  old_names.Add(
      {.trace = 1,
       .id = 1,
       .kind = SpanKind::kServer,
       .end_ms = 10,
       .attrs = {S("http.method", "GET"), S("http.target", "/u/12?x=1"), I("http.status_code", 200),
                 S("net.peer.ip", "10.0.0.1"), S("enduser.id", "u")}});
  old_names.Add({.trace = 1,
                 .id = 2,
                 .parent = 1,
                 .kind = SpanKind::kClient,
                 .start_ms = 1,
                 .end_ms = 5,
                 .attrs = {S("db.system", "mysql"), S("db.statement", "SELECT 1"),
                           I("db.rows_affected", 1), S("net.peer.name", "db")}});
  new_names.Add({.trace = 2,
                 .id = 1,
                 .kind = SpanKind::kServer,
                 .end_ms = 10,
                 .attrs = {S("http.request.method", "GET"), S("url.path", "/u/12"),
                           S("url.query", "x=1"), I("http.response.status_code", 200),
                           S("client.address", "10.0.0.1"), S("user.id", "u")}});
  new_names.Add({.trace = 2,
                 .id = 2,
                 .parent = 1,
                 .kind = SpanKind::kClient,
                 .start_ms = 1,
                 .end_ms = 5,
                 .attrs = {S("db.system.name", "mysql"), S("db.query.text", "SELECT 1"),
                           I("db.response.returned_rows", 1), S("server.address", "db")}});
  model::Transaction x = a.Add(1, old_names.b).batch.transactions.at(0);
  model::Transaction y = a.Add(1, new_names.b).batch.transactions.at(0);
  EXPECT_EQ(x.endpoint, "GET /u/{id}");
  for (auto* t : {&x, &y}) t->id = 0, t->trace_id = {};
  EXPECT_EQ(x.endpoint, y.endpoint);
  EXPECT_EQ(x.url, y.url);
  EXPECT_EQ(x.status, y.status);
  EXPECT_EQ(x.client_ip, y.client_ip);
  EXPECT_EQ(x.user, y.user);
  ASSERT_EQ(x.steps.size(), 1u);
  ASSERT_EQ(y.steps.size(), 1u);
  EXPECT_EQ(x.steps[0].sql, y.steps[0].sql);
  EXPECT_EQ(x.steps[0].db_system, y.steps[0].db_system);
  EXPECT_EQ(x.steps[0].rows, y.steps[0].rows);
  EXPECT_EQ(x.steps[0].host, y.steps[0].host);
  EXPECT_EQ(x.summary.sql_count, y.summary.sql_count);
}

std::string Letters(int n) {  // distinct, digit-free path segments
  std::string s;
  do {
    s.push_back(static_cast<char>('a' + n % 26));
    n /= 26;
  } while (n > 0);
  return "w" + s;
}

TEST_F(AssemblerTest, EndpointsPastTheCapFoldIntoOverflow) {
  AssemblerOptions opt;
  opt.max_endpoints_per_service = 2000;
  Assembler& a = Make(opt);
  std::set<std::string> endpoints;
  for (int i = 0; i < 3000; i += 100) {
    TestBatch tb("shop", "shop-1");
    for (int j = i; j < i + 100; ++j) {
      tb.Add({.trace = static_cast<uint64_t>(j + 1),
              .id = 1,
              .kind = SpanKind::kServer,
              .end_ms = 1,
              .attrs = {S("http.method", "GET"), S("url.path", "/p/" + Letters(j))}});
    }
    for (const auto& tx : a.Add(1, tb.b).batch.transactions) endpoints.insert(tx.endpoint);
  }
  EXPECT_EQ(endpoints.size(), 2000u);
  EXPECT_TRUE(endpoints.contains("(overflow)"));
  EXPECT_EQ(CounterValue("loupe_assembler_overflow_total", "what", "endpoint"), 1001u);
  // Known endpoints keep working after the cap.
  TestBatch again("shop", "shop-1");
  again.Add({.trace = 5000,
             .id = 1,
             .kind = SpanKind::kServer,
             .end_ms = 1,
             .attrs = {S("http.method", "GET"), S("url.path", "/p/" + Letters(0))}});
  EXPECT_EQ(a.Add(1, again.b).batch.transactions.at(0).endpoint, "GET /p/" + Letters(0));
}

TEST_F(AssemblerTest, ServicesAndInstancesPastTheCapFoldIntoOverflow) {
  AssemblerOptions opt;
  opt.max_services_per_project = 3;
  opt.max_instances_per_project = 4;
  Assembler& a = Make(opt);
  std::set<std::string> services, instances;
  for (int i = 0; i < 6; ++i) {
    TestBatch tb("svc" + std::to_string(i % 5), "inst" + std::to_string(i));
    tb.Add(
        {.trace = static_cast<uint64_t>(i + 1), .id = 1, .kind = SpanKind::kServer, .end_ms = 1});
    AddResult r = a.Add(1, tb.b);
    ASSERT_EQ(r.instances.size(), 1u);
    services.insert(r.batch.transactions.at(0).service);
    instances.insert(r.instances[0].service + "/" + r.instances[0].instance);
  }
  EXPECT_EQ(services, (std::set<std::string>{"svc0", "svc1", "(overflow)"}));
  // The instance cap counts real instances only: four keep their names.
  EXPECT_EQ(instances, (std::set<std::string>{"svc0/inst0", "svc1/inst1", "(overflow)/inst2",
                                              "(overflow)/inst3", "(overflow)/(overflow)",
                                              "svc0/(overflow)"}));
  EXPECT_EQ(CounterValue("loupe_assembler_overflow_total", "what", "service"), 3u);
  EXPECT_EQ(CounterValue("loupe_assembler_overflow_total", "what", "instance"), 2u);
}

// One transaction of (service, instance) through `a`; returns the instance
// it was filed under.
std::string InstanceOf(Assembler& a, uint64_t trace, const std::string& service,
                       const std::string& instance) {
  TestBatch tb(service, instance);
  tb.Add({.trace = trace, .id = 1, .kind = SpanKind::kServer, .end_ms = 1});
  AddResult r = a.Add(1, tb.b);
  return r.batch.transactions.at(0).instance;
}

// The seed customer: 10,000 servers over 50 services in one project.
TEST_F(AssemblerTest, ExactlyCapInstancesAllKeepTheirNamesAndOneMoreOverflows) {
  AssemblerOptions opt;
  opt.max_instances_per_project = 10'000;
  Assembler& a = Make(opt);
  size_t named = 0;
  for (int i = 0; i < 10'000; ++i) {
    const std::string inst = "host-" + std::to_string(i);
    named += InstanceOf(a, i + 1, "svc" + std::to_string(i % 50), inst) == inst;
  }
  EXPECT_EQ(named, 10'000u);
  EXPECT_EQ(CounterValue("loupe_assembler_overflow_total", "what", "instance"), 0u);
  EXPECT_EQ(InstanceOf(a, 20'001, "svc7", "host-10000"), "(overflow)");
  EXPECT_EQ(InstanceOf(a, 20'002, "svc7", "host-7"), "host-7");  // known ones keep working
  ASSERT_EQ(a.InstanceStats().size(), 1u);
  const InstanceCapStats st = a.InstanceStats()[0];
  EXPECT_EQ(st.project, 1u);
  EXPECT_EQ(st.instances, 10'000u);
  EXPECT_EQ(st.cap, 10'000u);
  EXPECT_EQ(st.overflowed_instances, 1u);
  EXPECT_EQ(CounterValue("loupe_assembler_overflow_total", "what", "instance"), 1u);
}

TEST_F(AssemblerTest, TheDefaultInstanceCapLeavesRoomForTwentyThousand) {
  EXPECT_GE(AssemblerOptions{}.max_instances_per_project, 20'000u);
}

// A fleet that redeploys under new instance ids: the old ids stop counting
// once unseen for instance_idle, so the new ones keep their names.
TEST_F(AssemblerTest, InstancesUnseenForInstanceIdleStopCountingAgainstTheCap) {
  AssemblerOptions opt;
  opt.max_instances_per_project = 3;
  opt.instance_idle_us = 3600 * kSec;
  Assembler& a = Make(opt);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(InstanceOf(a, i + 1, "shop", "old-" + std::to_string(i)), "old-" + std::to_string(i));
  }
  EXPECT_EQ(InstanceOf(a, 10, "shop", "new-0"), "(overflow)");
  clock_.Advance(1800 * kSec);
  EXPECT_EQ(InstanceOf(a, 11, "shop", "old-2"), "old-2");  // still sending: kept
  a.Tick();
  EXPECT_EQ(InstanceOf(a, 12, "shop", "new-1"), "(overflow)");  // not idle long enough yet
  clock_.Advance(1801 * kSec);
  a.Tick();  // old-0 and old-1 idle for over an hour: they leave
  EXPECT_EQ(a.InstanceStats().at(0).instances, 1u);
  EXPECT_EQ(a.InstanceStats().at(0).overflowed_instances, 1u);  // new-1 (new-0 is idle too)
  EXPECT_EQ(InstanceOf(a, 13, "shop", "new-1"), "new-1");       // folded before, named now
  EXPECT_EQ(InstanceOf(a, 14, "shop", "new-0"), "new-0");
  EXPECT_EQ(InstanceOf(a, 15, "shop", "new-2"), "(overflow)");
  const InstanceCapStats st = a.InstanceStats().at(0);
  EXPECT_EQ(st.instances, 3u);             // old-2, new-1, new-0
  EXPECT_EQ(st.overflowed_instances, 1u);  // new-2
  // An aged-out instance that comes back is a new instance, if there is room.
  EXPECT_EQ(InstanceOf(a, 16, "shop", "old-0"), "(overflow)");
}

TEST_F(AssemblerTest, SpansOutsideTheTimeWindowOrWithInvalidIdsAreRejectedAndReported) {
  Assembler& a = Make();
  const int64_t now_ms = (clock_.NowMicros() - kT0us) / 1000;
  TestBatch tb("shop", "shop-1");
  tb.Add({.id = 1,
          .kind = SpanKind::kServer,
          .start_ms = now_ms + 11 * 60'000,
          .end_ms = now_ms + 11 * 60'000});  // future
  tb.Add({.id = 2,
          .kind = SpanKind::kServer,
          .start_ms = now_ms - 8LL * 86'400'000,
          .end_ms = now_ms - 8LL * 86'400'000});                          // too old
  tb.Add({.trace = 0, .id = 3, .kind = SpanKind::kServer, .end_ms = 1});  // zero trace id
  tb.Add({.id = 0, .kind = SpanKind::kServer, .end_ms = 1});              // zero span id
  tb.Add({.id = 5,
          .kind = SpanKind::kServer,
          .start_ms = now_ms + 9 * 60'000,
          .end_ms = now_ms + 9 * 60'000});  // within 10 min
  tb.b.spans[2].trace_id = {};
  AddResult r = a.Add(1, tb.b);
  EXPECT_EQ(r.rejected_spans, 4u);
  EXPECT_THAT(r.rejection_message, HasSubstr("4 spans rejected"));
  EXPECT_THAT(r.rejection_message, HasSubstr("1 end time too far in the future"));
  EXPECT_THAT(r.rejection_message, HasSubstr("1 end time too old"));
  EXPECT_THAT(r.rejection_message, HasSubstr("2 invalid trace or span id"));
  ASSERT_EQ(r.batch.transactions.size(), 1u);
  EXPECT_EQ(r.batch.transactions[0].span_id, 5u);
  EXPECT_EQ(Spans("rejected_future"), 1u);
  EXPECT_EQ(Spans("rejected_past"), 1u);
  EXPECT_EQ(Spans("rejected_invalid_id"), 2u);
  EXPECT_EQ(Spans("accepted"), 1u);
}

TEST_F(AssemblerTest, EndBeforeStartIsRejectedAndReported) {
  Assembler& a = Make();
  TestBatch tb("shop", "shop-1");
  tb.Add({.id = 1, .kind = SpanKind::kServer, .start_ms = 50, .end_ms = 10});
  tb.Add({.id = 2, .kind = SpanKind::kServer, .start_ms = 10, .end_ms = 10});  // elapsed 0: fine
  AddResult r = a.Add(1, tb.b);
  ASSERT_EQ(r.batch.transactions.size(), 1u);
  EXPECT_EQ(r.batch.transactions[0].span_id, 2u);
  EXPECT_EQ(r.rejected_spans, 1u);
  EXPECT_THAT(r.rejection_message, HasSubstr("1 end time before start time"));
  EXPECT_EQ(Spans("rejected_end_before_start"), 1u);
  EXPECT_EQ(Spans("accepted"), 1u);
}

TEST_F(AssemblerTest, MissingStartIsClampedToZeroElapsedAndCounted) {
  Assembler& a = Make();
  TestBatch tb("shop", "shop-1");
  tb.Add({.id = 1, .kind = SpanKind::kServer, .start_ms = 0, .end_ms = 10});
  tb.b.spans[0].start_unix_nano = 0;
  AddResult r = a.Add(1, tb.b);
  ASSERT_EQ(r.batch.transactions.size(), 1u);
  EXPECT_EQ(r.batch.transactions[0].elapsed_us(), 0);
  EXPECT_EQ(r.batch.transactions[0].end_us, kT0us + 10'000);
  EXPECT_EQ(r.rejected_spans, 0u);
  EXPECT_EQ(Plain("loupe_assembler_clamped_total"), 1u);
}

// A span with startTimeUnixNano = 1 and a current end once became a 56-year
// transaction and pushed its endpoint's mean elapsed to 1.8e12 ms.
TEST_F(AssemblerTest, StartOlderThanMaxAgeIsRejectedAndReported) {
  Assembler& a = Make();
  const int64_t now_ms = (clock_.NowMicros() - kT0us) / 1000;
  TestBatch tb("shop", "shop-1");
  tb.Add({.id = 1, .kind = SpanKind::kServer, .start_ms = now_ms - 1, .end_ms = now_ms});
  tb.b.spans[0].start_unix_nano = 1;
  tb.Add({.id = 2,
          .kind = SpanKind::kServer,
          .start_ms = now_ms - 8LL * 86'400'000,
          .end_ms = now_ms});  // 8 days long
  tb.Add({.id = 3,
          .kind = SpanKind::kServer,
          .start_ms = now_ms - 6LL * 86'400'000,
          .end_ms = now_ms});  // 6 days long: within max_age
  AddResult r = a.Add(1, tb.b);
  ASSERT_EQ(r.batch.transactions.size(), 1u);
  EXPECT_EQ(r.batch.transactions[0].span_id, 3u);
  EXPECT_EQ(r.rejected_spans, 2u);
  EXPECT_THAT(r.rejection_message, HasSubstr("2 start time too old"));
  EXPECT_EQ(Spans("rejected_start_past"), 2u);
  EXPECT_EQ(Spans("accepted"), 1u);
}

TEST_F(AssemblerTest, StepsPastMaxStepsAreCutAndCounted) {
  AssemblerOptions opt;
  opt.max_steps_per_tx = 5;
  Assembler& a = Make(opt);
  TestBatch tb("shop", "shop-1");
  tb.Add({.id = 1, .kind = SpanKind::kServer, .end_ms = 100});
  for (int i = 10; i >= 1; --i) {
    tb.Add({.id = static_cast<SpanId>(100 + i), .parent = 1, .start_ms = i, .end_ms = i + 1});
  }
  AddResult r = a.Add(1, tb.b);
  ASSERT_EQ(r.batch.transactions.size(), 1u);
  const model::Transaction& tx = r.batch.transactions[0];
  EXPECT_THAT(StepIds(tx.steps), ElementsAre(101, 102, 103, 104, 105));  // the earliest
  EXPECT_EQ(tx.dropped_steps, 5u);
  // No room left for late steps either: the store still learns the new total.
  TestBatch late("shop", "shop-1");
  late.Add({.id = 200, .parent = 1, .start_ms = 1, .end_ms = 2});
  AddResult r2 = a.Add(1, late.b);
  ASSERT_EQ(r2.batch.late_steps.size(), 1u);
  EXPECT_TRUE(r2.batch.late_steps[0].steps.empty());
  EXPECT_EQ(r2.batch.late_steps[0].dropped_steps, 6u);
  EXPECT_EQ(Plain("loupe_assembler_dropped_steps_total"), 6u);
}

TEST_F(AssemblerTest, LateStepsPastMaxStepsCountInTheTransactionsDroppedSteps) {
  AssemblerOptions opt;
  opt.max_steps_per_tx = 5;
  Assembler& a = Make(opt);
  TestBatch root("shop", "shop-1");
  root.Add({.id = 1, .kind = SpanKind::kServer, .end_ms = 100});
  for (int i = 1; i <= 3; ++i) {
    root.Add({.id = static_cast<SpanId>(100 + i), .parent = 1, .start_ms = i, .end_ms = i + 1});
  }
  AddResult r1 = a.Add(1, root.b);
  ASSERT_EQ(r1.batch.transactions.size(), 1u);
  EXPECT_EQ(r1.batch.transactions[0].dropped_steps, 0u);

  // Six late children, each its own subtree: room for two, four cut. They
  // come as one LateSteps entry carrying the transaction's new total.
  TestBatch late("shop", "shop-1");
  for (int i = 6; i >= 1; --i) {
    late.Add(
        {.id = static_cast<SpanId>(200 + i), .parent = 1, .start_ms = 10 + i, .end_ms = 11 + i});
  }
  AddResult r2 = a.Add(1, late.b);
  ASSERT_EQ(r2.batch.late_steps.size(), 1u);
  EXPECT_EQ(r2.batch.late_steps[0].tx, model::MakeTxId(Trace(1), 1));
  EXPECT_EQ(r2.batch.late_steps[0].steps.size(), 2u);
  EXPECT_EQ(r2.batch.late_steps[0].dropped_steps, 4u);

  // Later children are all cut; the total grows.
  TestBatch later("shop", "shop-1");
  later.Add({.id = 300, .parent = 1, .start_ms = 50, .end_ms = 51});
  later.Add({.id = 301, .parent = 1, .start_ms = 52, .end_ms = 53});
  AddResult r3 = a.Add(1, later.b);
  ASSERT_EQ(r3.batch.late_steps.size(), 1u);
  EXPECT_TRUE(r3.batch.late_steps[0].steps.empty());
  EXPECT_EQ(r3.batch.late_steps[0].dropped_steps, 6u);
  EXPECT_EQ(Plain("loupe_assembler_dropped_steps_total"), 6u);
}

TEST_F(AssemblerTest, ManyLateChildrenOfOneRootComeAsOneLateStepsEntry) {
  Assembler& a = Make();
  TestBatch root("shop", "shop-1");
  root.Add({.id = 1, .kind = SpanKind::kServer, .end_ms = 100});
  a.Add(1, root.b);
  TestBatch late("shop", "shop-1");
  for (int i = 0; i < 1000; ++i) {
    late.Add(
        {.id = static_cast<SpanId>(10 + i), .parent = 1, .start_ms = 1000 - i, .end_ms = 1001 - i});
  }
  AddResult r = a.Add(1, late.b);
  ASSERT_EQ(r.batch.late_steps.size(), 1u);
  const std::vector<model::Step>& steps = r.batch.late_steps[0].steps;
  ASSERT_EQ(steps.size(), 1000u);
  EXPECT_EQ(r.batch.late_steps[0].dropped_steps, 0u);
}

TEST_F(AssemblerTest, PendingCapPromotesOldestTracesEarly) {
  AssemblerOptions opt;
  opt.max_pending_spans = 100;
  Assembler& a = Make(opt);
  for (uint64_t t = 1; t <= 30; ++t) {
    TestBatch tb("shop", "shop-1");  // a chain 2 → 3 → ... → 11 under a missing root 1
    for (SpanId s = 2; s <= 11; ++s) tb.Add({.trace = t, .id = s, .parent = s - 1, .end_ms = 1});
    EXPECT_TRUE(a.Add(1, tb.b).batch.empty());
    clock_.Advance(1000);
    EXPECT_LE(a.pending_spans(), 100u);
  }
  Sink sink;
  sink.Take(a.Tick());  // forced orphans come out of the next Tick
  EXPECT_GT(sink.txs.size(), 0u);
  EXPECT_EQ(Txs("orphan_forced"), sink.txs.size());
  EXPECT_EQ(sink.txs.size() * 10 + a.pending_spans(), 300u);
  for (const auto& tx : sink.txs) {
    EXPECT_EQ(tx.span_id, 2u);
    EXPECT_EQ(tx.steps.size(), 9u);
  }
  // The oldest went first.
  std::set<model::TraceId> traces;
  for (const auto& tx : sink.txs) traces.insert(tx.trace_id);
  EXPECT_TRUE(traces.contains(Trace(1)));
  EXPECT_FALSE(traces.contains(Trace(30)));
}

TEST_F(AssemblerTest, FlushEmitsEverythingPendingAsOrphans) {
  Assembler& a = Make();
  TestBatch tb("shop", "shop-1");
  tb.Add({.trace = 1, .id = 2, .parent = 1, .end_ms = 1});
  tb.Add({.trace = 2, .id = 3, .parent = 1, .end_ms = 1});
  // A parent cycle from a broken sender must not leak either.
  tb.Add({.trace = 3, .id = 4, .parent = 5, .end_ms = 1});
  tb.Add({.trace = 3, .id = 5, .parent = 4, .end_ms = 1});
  EXPECT_TRUE(a.Add(9, tb.b).batch.empty());
  EXPECT_EQ(a.pending_spans(), 4u);
  Sink sink;
  ProjectBatches out = a.Flush();
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].first, 9u);
  sink.Take(std::move(out));
  EXPECT_EQ(sink.txs.size(), 3u);
  EXPECT_EQ(a.pending_spans(), 0u);
}

TEST_F(AssemblerTest, ProjectsDoNotShareTraces) {
  Assembler& a = Make();
  TestBatch child("shop", "shop-1"), root("shop", "shop-1");
  child.Add({.id = 2, .parent = 1, .end_ms = 1});
  root.Add({.id = 1, .kind = SpanKind::kServer, .end_ms = 2});
  EXPECT_TRUE(a.Add(1, child.b).batch.empty());
  AddResult r = a.Add(2, root.b);  // same trace id, other project
  ASSERT_EQ(r.batch.transactions.size(), 1u);
  EXPECT_TRUE(r.batch.transactions[0].steps.empty());
  EXPECT_EQ(a.pending_spans(), 1u);
}

TEST_F(AssemblerTest, PendingGaugeIsExported) {
  Make();
  TestBatch tb("shop", "shop-1");
  tb.Add({.id = 2, .parent = 1, .end_ms = 1});
  asm_->Add(1, tb.b);
  EXPECT_THAT(metrics_.Render(), HasSubstr("loupe_assembler_pending_spans 1"));
}

// Four threads add interleaved, shuffled, partly duplicated batches of many
// traces. Every transaction must come out exactly once with all its steps
// (in the transaction or in late steps), and nothing may stay pending.
TEST_F(AssemblerTest, ConcurrentAddsEmitEveryTransactionOnceWithAllSteps) {
  Assembler& a = Make();
  constexpr int kTraces = 2000, kChildren = 9, kThreads = 4, kBatch = 64;
  struct Item {
    uint64_t trace;
    SpanId id, parent;
  };
  std::vector<Item> items;
  for (uint64_t t = 1; t <= kTraces; ++t) {
    items.push_back({t, 1, 0});
    for (SpanId c = 2; c <= kChildren + 1; ++c) {
      items.push_back({t, c, c == 2 ? 1 : (c % 2 == 0 ? 1 : c - 1)});
    }
  }
  std::mt19937 rng(42);
  std::shuffle(items.begin(), items.end(), rng);
  for (int i = 0; i < kTraces; ++i) items.push_back(items[rng() % (kTraces * 10)]);  // duplicates
  std::deque<TestBatch> batches;  // stable addresses: batches hold views into themselves
  for (size_t i = 0; i < items.size(); i += kBatch) {
    TestBatch& tb = batches.emplace_back("shop", "shop-1");
    for (size_t j = i; j < std::min(items.size(), i + kBatch); ++j) {
      const Item& it = items[j];
      tb.Add({.trace = it.trace,
              .id = it.id,
              .parent = it.parent,
              .kind = it.parent == 0 ? SpanKind::kServer : SpanKind::kInternal,
              .start_ms = static_cast<int64_t>(it.id),
              .end_ms = 100});
    }
  }
  std::vector<Sink> sinks(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (size_t i = t; i < batches.size(); i += kThreads) sinks[t].Take(a.Add(1, batches[i].b));
    });
  }
  std::atomic<bool> done{false};
  std::thread ticker([&] {  // Tick runs concurrently (no time passes, so it emits nothing)
    while (!done.load()) {
      EXPECT_TRUE(a.Tick().empty());
      std::this_thread::yield();
    }
  });
  for (auto& th : threads) th.join();
  done = true;
  ticker.join();
  EXPECT_EQ(a.pending_spans(), 0u);

  std::map<model::TxId, std::multiset<SpanId>> steps;
  std::map<model::TxId, int> emitted;
  for (Sink& s : sinks) {
    for (const auto& tx : s.txs) {
      ++emitted[tx.id];
      for (const auto& st : tx.steps) steps[tx.id].insert(st.span_id);
    }
    for (const auto& l : s.late) {
      for (const auto& st : l.steps) steps[l.tx].insert(st.span_id);
    }
  }
  ASSERT_EQ(emitted.size(), static_cast<size_t>(kTraces));
  std::multiset<SpanId> want;
  for (SpanId c = 2; c <= kChildren + 1; ++c) want.insert(c);
  for (uint64_t t = 1; t <= kTraces; ++t) {
    model::TxId id = model::MakeTxId(Trace(t), 1);
    EXPECT_EQ(emitted[id], 1) << t;
    EXPECT_EQ(steps[id], want) << t;
  }
  EXPECT_EQ(Spans("accepted"), static_cast<uint64_t>(kTraces * (kChildren + 1)));
  EXPECT_EQ(Spans("duplicate"), static_cast<uint64_t>(kTraces));
  EXPECT_TRUE(a.Flush().empty());
}

// Random traces (random trees, kinds and instances), sent in random order
// and batches with duplicates: every span must land exactly once, in the
// transaction of its nearest local-root ancestor (or be one).
TEST_F(AssemblerTest, RandomTreesInRandomOrderLandInTheRightTransaction) {
  std::mt19937 rng(7);
  for (int round = 0; round < 300; ++round) {
    SCOPED_TRACE(round);
    Assembler& a = Make();
    const int n = 1 + static_cast<int>(rng() % 40);
    const int instances = 1 + static_cast<int>(rng() % 3);
    const bool drop_some = round % 3 == 0;  // leave holes: orphans at Flush
    struct Node {
      SpanId id, parent;
      SpanKind kind;
      int inst;
      bool sent;
    };
    std::vector<Node> nodes;
    for (int i = 0; i < n; ++i) {
      Node nd;
      nd.id = 100 + i;
      nd.parent = i == 0 ? 0 : nodes[rng() % i].id;
      const int k = static_cast<int>(rng() % 10);
      nd.kind = i == 0   ? SpanKind::kServer
                : k == 0 ? SpanKind::kServer
                : k < 4  ? SpanKind::kClient
                         : SpanKind::kInternal;
      nd.inst = i == 0 || rng() % 4 != 0 ? (i == 0 ? 0 : -1) : static_cast<int>(rng() % instances);
      nd.sent = !drop_some || rng() % 5 != 0;
      nodes.push_back(nd);
    }
    auto by_id = [&](SpanId id) -> Node& { return nodes[id - 100]; };
    for (Node& nd : nodes) {
      if (nd.inst < 0) nd.inst = by_id(nd.parent).inst;  // mostly the parent's instance
    }
    std::vector<int> order(n);
    for (int i = 0; i < n; ++i) order[i] = i;
    std::shuffle(order.begin(), order.end(), rng);
    for (int d = 0; d < n / 4; ++d) order.push_back(order[rng() % n]);  // duplicates
    Sink sink;
    size_t i = 0;
    while (i < order.size()) {
      TestBatch tb;
      for (int r = 0; r < instances; ++r) tb.Resource("svc", "i" + std::to_string(r));
      const size_t len = 1 + rng() % 6;
      for (; i < order.size() && len > 0 && tb.b.spans.size() < len; ++i) {
        const Node& nd = nodes[order[i]];
        if (!nd.sent) continue;
        tb.Add({.trace = 1,
                .id = nd.id,
                .parent = nd.parent,
                .kind = nd.kind,
                .start_ms = static_cast<int64_t>(nd.id),
                .end_ms = 1000,
                .resource = static_cast<uint32_t>(nd.inst)});
      }
      sink.Take(a.Add(1, tb.b));
    }
    sink.Take(a.Flush());
    EXPECT_EQ(a.pending_spans(), 0u);

    std::map<SpanId, int> seen;
    std::map<SpanId, SpanId> tx_root_of;  // span → root span of the transaction it is in
    std::map<model::TxId, SpanId> root_of_tx;
    for (const auto& tx : sink.txs) {
      ++seen[tx.span_id];
      tx_root_of[tx.span_id] = tx.span_id;
      root_of_tx[tx.id] = tx.span_id;
      for (const auto& st : tx.steps) {
        ++seen[st.span_id];
        tx_root_of[st.span_id] = tx.span_id;
      }
    }
    for (const auto& l : sink.late) {
      ASSERT_TRUE(root_of_tx.contains(l.tx));
      for (const auto& st : l.steps) {
        ++seen[st.span_id];
        tx_root_of[st.span_id] = root_of_tx[l.tx];
      }
    }
    for (const Node& nd : nodes) {
      if (!nd.sent) {
        EXPECT_EQ(seen[nd.id], 0);
        continue;
      }
      EXPECT_EQ(seen[nd.id], 1) << nd.id;
      if (drop_some) continue;
      // The oracle: the nearest ancestor-or-self that is a local root.
      SpanId r = nd.id;
      while (true) {
        const Node& x = by_id(r);
        if (x.parent == 0 || x.kind == SpanKind::kServer || by_id(x.parent).inst != x.inst) break;
        r = x.parent;
      }
      EXPECT_EQ(tx_root_of[nd.id], r) << nd.id;
    }
  }
}

}  // namespace
}  // namespace loupe::ingest
