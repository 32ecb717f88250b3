// The pipeline with the durable ingest log over the embedded store, on a
// fault-injecting file layer: what Submit acknowledged survives a crash
// (unsynced data dropped), exactly once; pending spans survive checkpoints;
// a full disk fails ingest with ResourceExhausted and recovers.
#include "ingest/pipeline.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "auth/registry.h"
#include "common/env.h"
#include "common/logging.h"
#include "ingest/ingest_log.h"
#include "ingest/otlp_front_door.h"
#include "ingest/trace_receiver.h"
#include "store/embedded/embedded_store.h"
#include "store/tsdb/time_series_store.h"
#include "testing/otlp_builder.h"
#include "wire/otlp_metrics_json.h"
#include "wire/otlp_metrics_proto.h"
#include "wire/otlp_proto.h"

namespace loupe::ingest {
namespace {

namespace fs = std::filesystem;
using auth::InitialCredentials;
using testing::EncodeTraceRequest;
using testing::MakeResource;
using testing::MakeScope;
using testing::SpanIdBytes;
using testing::SpanSpec;
using testing::TraceIdBytes;

constexpr int64_t kNowUs = 1'763'700'000'000'000;
constexpr model::ProjectId kProject = 1;

// One trace: a SERVER root (span id 1) and `children` CLIENT steps; the root
// is left out when !with_root (its steps then stay pending).
std::string TraceRequest(uint64_t trace, int children, bool with_root = true,
                         bool only_root = false) {
  std::vector<SpanSpec> spans;
  const uint64_t start = static_cast<uint64_t>(kNowUs - 2'000'000) * 1000;
  if (with_root) {
    SpanSpec root;
    root.trace_id = TraceIdBytes(trace, 7);
    root.span_id = SpanIdBytes(1);
    root.name = "GET /t/{id}";
    root.kind = 2;
    root.start_time_unix_nano = start;
    root.end_time_unix_nano = start + 50'000'000;
    root.attributes = {{"http.request.method", "GET"}, {"http.route", "/t/{id}"}};
    spans.push_back(root);
  }
  if (!only_root) {
    for (int c = 0; c < children; ++c) {
      SpanSpec s;
      s.trace_id = TraceIdBytes(trace, 7);
      s.span_id = SpanIdBytes(100 + c);
      s.parent_span_id = SpanIdBytes(1);
      s.name = "SELECT";
      s.kind = 3;
      s.start_time_unix_nano = start + 1'000'000 * (c + 1);
      s.end_time_unix_nano = s.start_time_unix_nano + 500'000;
      s.attributes = {{"db.system", "sqlite"}, {"db.statement", "SELECT * FROM t WHERE id = ?"}};
      spans.push_back(s);
    }
  }
  return EncodeTraceRequest({MakeResource(
      {{"service.name", "shop"}, {"service.instance.id", "shop-1"}}, {MakeScope("test", spans)})});
}

model::TxId RootId(uint64_t trace) {
  model::TraceId t{};
  std::string b = TraceIdBytes(trace, 7);
  std::copy(b.begin(), b.end(), t.begin());
  return model::MakeTxId(t, 1);
}

// An OTLP/JSON metrics request: gauge `temp` of service shop at `time_ms`.
std::string GaugeJson(int64_t time_ms, double value) {
  return R"({"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":)"
         R"({"stringValue":"shop"}}]},"scopeMetrics":[{"metrics":[{"name":"temp","gauge":)"
         R"({"dataPoints":[{"timeUnixNano":")" +
         std::to_string(time_ms * 1'000'000) + R"(","asDouble":)" + std::to_string(value) +
         "}]}}]}]}]}";
}

class DurablePipelineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/loupe_pipeline_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
  }
  void TearDown() override {
    Close();
    fs::remove_all(root_);
  }

  // Opens store, pipeline and log, replaying what the log holds.
  void Open(IngestReplayStats* stats = nullptr) {
    store::EmbeddedOptions eo;
    eo.dir = root_ + "/store";
    eo.env = &env_;
    eo.background_flush = false;
    auto st = store::NewEmbeddedStore(eo);
    ASSERT_TRUE(st.ok()) << st.status().ToString();
    store_ = std::move(*st);
    metrics_ = std::make_unique<MetricsRegistry>();
    live_ = std::make_unique<live::LiveState>(&clock_);
    PipelineOptions po;
    po.checkpoint_interval_us = int64_t{3600} * 1'000'000;
    pipeline_ = std::make_unique<Pipeline>(store_.get(), live_.get(), &clock_, metrics_.get(), po);
    tsdb::TsdbOptions to;
    to.dir = root_ + "/tsdb";
    to.env = &env_;
    auto ts = tsdb::TimeSeriesStore::Open(to);
    ASSERT_TRUE(ts.ok()) << ts.status().ToString();
    tsdb_ = std::move(*ts);
    pipeline_->AttachMetricsStore(tsdb_.get());
    IngestLogOptions lo;
    lo.env = &env_;
    lo.dir = root_ + "/wal";
    auto log = IngestLog::Open(
        lo, [this](const LoggedRequest& r) { return pipeline_->Replay(r); }, stats);
    ASSERT_TRUE(log.ok()) << log.status().ToString();
    ASSERT_TRUE(pipeline_->FinishReplay().ok());
    log_ = std::move(*log);
    pipeline_->AttachLog(log_.get());
  }

  // A crash: unsynced data is dropped and nothing the objects do while being
  // destroyed reaches the disk.
  void Crash() {
    ASSERT_TRUE(env_.DropUnsyncedData().ok());
    env_.SetWriteBudget(0);
    Close();
    ASSERT_TRUE(env_.DropUnsyncedData().ok());
    env_.SetWriteBudget(-1);
  }

  void Close() {
    pipeline_.reset();
    log_.reset();
    if (store_) store_->Close();
    store_.reset();
    tsdb_.reset();
    live_.reset();
  }

  // Submits a gauge sample, as protobuf or (json) as OTLP/JSON.
  Status SubmitGauge(int64_t time_ms, double value, bool json) {
    std::string text = GaugeJson(time_ms, value);
    const std::string original = text;
    model::MetricBatch batch;
    Status s = wire::DecodeMetricsJson(&text, {}, &batch);
    if (!s.ok()) return s;
    std::string proto;
    wire::EncodeMetricsProto(batch, &proto);
    LoggedRequest req{kProject, RequestFormat::kOtlpMetricsJson, original};
    if (!json) {
      batch = model::MetricBatch{};
      s = wire::DecodeMetricsProto(proto, {}, &batch);
      if (!s.ok()) return s;
      req = LoggedRequest{kProject, RequestFormat::kOtlpMetricsProto, proto};
    }
    auto r = pipeline_->SubmitMetrics(req, batch);
    return r.ok() ? Status::OK() : r.status();
  }

  // The raw samples of gauge `temp` in [from_ms, to_ms), one per ms step.
  std::vector<double> Gauge(int64_t from_ms, int64_t to_ms) {
    tsdb::MetricQuery q;
    q.metric = "temp";
    q.from_ms = from_ms;
    q.to_ms = to_ms;
    q.step_ms = 1000;
    q.agg = tsdb::TimeAgg::kCount;
    auto r = tsdb_->Query(kProject, q);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    if (!r.ok() || r->series.size() != 1) return {};
    EXPECT_EQ(r->series[0].labels, (tsdb::Labels{{"service.name", "shop"}}));
    return r->series[0].values;
  }

  Status Submit(const std::string& body) {
    model::SpanBatch batch;
    Status s = wire::DecodeTracesProto(body, {}, &batch);
    if (!s.ok()) return s;
    auto r = pipeline_->Submit(LoggedRequest{kProject, RequestFormat::kOtlpProto, body}, batch);
    return r.ok() ? Status::OK() : r.status();
  }

  // Transaction id → number of rows with it.
  std::map<model::TxId, int> Rows() {
    std::map<model::TxId, int> out;
    Status s = store_->Scan(kProject, store::TxFilter{}, store::ScanOrder::kAny,
                            [&](std::span<const store::TxRow> rows) {
                              for (const auto& r : rows) ++out[r.id];
                              return true;
                            });
    EXPECT_TRUE(s.ok()) << s.ToString();
    return out;
  }

  size_t Steps(model::TxId id) {
    auto tx = store_->Get(kProject, id);
    return tx.ok() ? tx->steps.size() : 0;
  }

  std::string root_;
  FaultInjectionEnv env_{Env::Default()};
  ManualClock clock_{kNowUs};
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<tsdb::TimeSeriesStore> tsdb_;
  std::unique_ptr<MetricsRegistry> metrics_;
  std::unique_ptr<live::LiveState> live_;
  std::unique_ptr<Pipeline> pipeline_;
  std::unique_ptr<IngestLog> log_;
};

TEST_F(DurablePipelineTest, AcknowledgedTransactionsSurviveACrashExactlyOnce) {
  Open();
  for (uint64_t t = 1; t <= 50; ++t) ASSERT_TRUE(Submit(TraceRequest(t, 3)).ok());
  // Half of it reached a segment before the crash, half only the log.
  ASSERT_TRUE(store_->Flush().ok());
  for (uint64_t t = 51; t <= 100; ++t) ASSERT_TRUE(Submit(TraceRequest(t, 3)).ok());
  Crash();

  IngestReplayStats stats;
  Open(&stats);
  EXPECT_EQ(stats.records, 100u);
  auto rows = Rows();
  EXPECT_EQ(rows.size(), 100u);
  for (uint64_t t = 1; t <= 100; ++t) {
    ASSERT_EQ(rows[RootId(t)], 1) << "trace " << t;
    EXPECT_EQ(Steps(RootId(t)), 3u) << "trace " << t;
  }
}

TEST_F(DurablePipelineTest, AcknowledgedMetricsSurviveACrashExactlyOnce) {
  constexpr int64_t kT0 = kNowUs / 1000;
  Open();
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(SubmitGauge(kT0 + i * 1000, i, i % 2 == 0).ok());
  // Half of it reached a block before the crash (replay skips it), half only the log.
  ASSERT_TRUE(tsdb_->Flush().ok());
  for (int i = 10; i < 20; ++i) ASSERT_TRUE(SubmitGauge(kT0 + i * 1000, i, i % 2 == 0).ok());
  Crash();

  IngestReplayStats stats;
  Open(&stats);
  EXPECT_EQ(stats.records, 20u);
  EXPECT_EQ(Gauge(kT0, kT0 + 20'000), std::vector<double>(20, 1.0));
  const tsdb::TsdbStats ts = tsdb_->Stats();
  EXPECT_EQ(ts.samples_appended, 10u);
  EXPECT_EQ(ts.duplicates_skipped, 10u);
}

TEST_F(DurablePipelineTest, CheckpointFlushesTheTimeSeriesStoreBeforeCuttingTheLog) {
  constexpr int64_t kT0 = kNowUs / 1000;
  Open();
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(SubmitGauge(kT0 + i * 1000, i, false).ok());
  ASSERT_TRUE(pipeline_->Checkpoint().ok());
  Crash();

  IngestReplayStats stats;
  Open(&stats);
  EXPECT_EQ(stats.records, 0u);
  EXPECT_EQ(Gauge(kT0, kT0 + 5000), std::vector<double>(5, 1.0));
}

TEST_F(DurablePipelineTest, MetricsCountersReachTheRegistry) {
  constexpr int64_t kT0 = kNowUs / 1000;
  Open();
  ASSERT_TRUE(SubmitGauge(kT0, 1, false).ok());
  ASSERT_TRUE(SubmitGauge(kT0, 1, true).ok());  // a resend: a duplicate sample
  const std::string text = metrics_->Render();
  EXPECT_NE(text.find("loupe_ingest_metric_points_total{result=\"accepted\"} 2"), std::string::npos)
      << text;
  EXPECT_NE(text.find("loupe_tsdb_samples_total{result=\"stored\"} 1"), std::string::npos);
  EXPECT_NE(text.find("loupe_tsdb_samples_total{result=\"duplicate\"} 1"), std::string::npos);
  EXPECT_NE(text.find("loupe_tsdb_series 1"), std::string::npos);
}

TEST_F(DurablePipelineTest, PendingSpansSurviveACheckpointAndACrash) {
  Open();
  // Steps whose root has not arrived yet are pending in the assembler.
  for (uint64_t t = 1; t <= 20; ++t) ASSERT_TRUE(Submit(TraceRequest(t, 4, false)).ok());
  ASSERT_TRUE(Submit(TraceRequest(99, 2)).ok());
  ASSERT_TRUE(pipeline_->Checkpoint().ok());
  EXPECT_EQ(log_->bytes_since_checkpoint(), 0u);
  // After the checkpoint: more requests in the new log segment.
  ASSERT_TRUE(Submit(TraceRequest(100, 2)).ok());
  Crash();

  IngestReplayStats stats;
  Open(&stats);
  EXPECT_GT(stats.checkpoint_segment, 0u);
  EXPECT_GE(stats.checkpoint_requests, 1u);  // the pending steps
  EXPECT_EQ(stats.records, 1u);              // only what came after the checkpoint
  auto rows = Rows();
  EXPECT_EQ(rows[RootId(99)], 1);
  EXPECT_EQ(rows[RootId(100)], 1);
  EXPECT_EQ(rows.count(RootId(1)), 0u);  // still waiting for its root
  // The roots arrive after the restart and join the steps sent before it.
  for (uint64_t t = 1; t <= 20; ++t) {
    ASSERT_TRUE(Submit(TraceRequest(t, 4, true, /*only_root=*/true)).ok());
  }
  for (uint64_t t = 1; t <= 20; ++t) EXPECT_EQ(Steps(RootId(t)), 4u) << "trace " << t;
}

TEST_F(DurablePipelineTest, CleanStopKeepsPendingSpansForTheNextStart) {
  Open();
  ASSERT_TRUE(Submit(TraceRequest(5, 3, false)).ok());
  pipeline_->Stop();  // last checkpoint
  Close();
  IngestReplayStats stats;
  Open(&stats);
  EXPECT_EQ(stats.records, 0u);
  EXPECT_GE(stats.checkpoint_requests, 1u);
  ASSERT_TRUE(Submit(TraceRequest(5, 3, true, true)).ok());
  EXPECT_EQ(Steps(RootId(5)), 3u);
}

TEST_F(DurablePipelineTest, ReplayingTwiceStoresEverythingOnce) {
  Open();
  for (uint64_t t = 1; t <= 30; ++t) ASSERT_TRUE(Submit(TraceRequest(t, 2)).ok());
  Crash();
  Open();  // replays and stores; the log is still there (no checkpoint yet)
  ASSERT_TRUE(store_->Flush().ok());
  Crash();
  IngestReplayStats stats;
  Open(&stats);  // replays again over segments that hold it all
  EXPECT_EQ(stats.records, 30u);
  auto rows = Rows();
  EXPECT_EQ(rows.size(), 30u);
  for (const auto& [id, n] : rows) EXPECT_EQ(n, 1);
}

TEST_F(DurablePipelineTest, DiskFullFailsIngestWithResourceExhaustedAndRecovers) {
  Open();
  ASSERT_TRUE(Submit(TraceRequest(1, 2)).ok());
  env_.SetWriteBudget(10);
  Status s = Submit(TraceRequest(2, 2));
  EXPECT_EQ(s.code(), Status::Code::kResourceExhausted) << s.ToString();
  // Nothing of the refused request was stored.
  EXPECT_EQ(Rows().count(RootId(2)), 0u);
  env_.SetWriteBudget(-1);
  ASSERT_TRUE(Submit(TraceRequest(3, 2)).ok());
  Crash();
  Open();
  auto rows = Rows();
  EXPECT_EQ(rows[RootId(1)], 1);
  EXPECT_EQ(rows.count(RootId(2)), 0u);
  EXPECT_EQ(rows[RootId(3)], 1);
}

TEST_F(DurablePipelineTest, DiskFullIsLoggedAtWarnOnceNotPerRequest) {
  Open();
  std::vector<std::string> lines;
  ResetLogRateLimitsForTesting();
  SetLogSinkForTesting([&](std::string_view line) { lines.emplace_back(line); });
  env_.SetWriteBudget(10);
  for (uint64_t t = 10; t < 15; ++t) {
    EXPECT_EQ(Submit(TraceRequest(t, 1)).code(), Status::Code::kResourceExhausted);
  }
  SetLogSinkForTesting(nullptr);
  env_.SetWriteBudget(-1);
  int warnings = 0;
  for (const auto& l : lines) {
    if (l.find(" WARN ") != std::string::npos && l.find("disk full") != std::string::npos) {
      ++warnings;
    }
  }
  EXPECT_EQ(warnings, 1) << ::testing::PrintToString(lines);
}

// The value of a counter in the pipeline's registry.
uint64_t CounterValue(MetricsRegistry* m, const char* name, const Labels& labels) {
  return m->GetCounter(name, "", labels)->value();
}

TEST_F(DurablePipelineTest, SpansWithInvalidIdsDroppedByTheDecoderAreCountedAndReported) {
  Open();
  // Span 1 has a 2-byte trace id: the decoder skips it (batch.invalid_spans).
  SpanSpec bad;
  bad.trace_id = "ab";
  bad.span_id = SpanIdBytes(5);
  bad.name = "GET /bad";
  bad.kind = 2;
  bad.start_time_unix_nano = static_cast<uint64_t>(kNowUs - 1'000'000) * 1000;
  bad.end_time_unix_nano = bad.start_time_unix_nano + 1'000'000;
  std::string body =
      EncodeTraceRequest({MakeResource({{"service.name", "shop"}}, {MakeScope("test", {bad})})});
  model::SpanBatch batch;
  ASSERT_TRUE(wire::DecodeTracesProto(body, {}, &batch).ok());
  ASSERT_EQ(batch.invalid_spans, 1u);
  auto r = pipeline_->Submit(LoggedRequest{kProject, RequestFormat::kOtlpProto, body}, batch);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->rejected_spans, 1u);
  EXPECT_EQ(r->accepted_spans, 0u);
  EXPECT_NE(r->message.find("1 invalid trace or span id"), std::string::npos) << r->message;
  EXPECT_EQ(CounterValue(metrics_.get(), "loupe_assembler_spans_total",
                         {{"result", "rejected_invalid_id"}}),
            1u);
}

TEST_F(DurablePipelineTest, WhatTheDecoderCutIsCountedByKind) {
  Open();
  SpanSpec s;
  s.trace_id = TraceIdBytes(40, 7);
  s.span_id = SpanIdBytes(1);
  s.name = "GET /cut";
  s.kind = 2;
  s.start_time_unix_nano = static_cast<uint64_t>(kNowUs - 1'000'000) * 1000;
  s.end_time_unix_nano = s.start_time_unix_nano + 1'000'000;
  for (int i = 0; i < 130; ++i) {
    s.attributes.push_back({"k" + std::to_string(i), std::string("v")});
  }
  s.attributes[0].value = std::string(20'000, 'x');
  std::string body =
      EncodeTraceRequest({MakeResource({{"service.name", "shop"}}, {MakeScope("test", {s})})});
  wire::DecodeLimits limits;
  limits.max_attributes_per_span = 128;
  limits.max_value_bytes = 8 << 10;
  model::SpanBatch batch;
  ASSERT_TRUE(wire::DecodeTracesProto(body, limits, &batch).ok());
  ASSERT_EQ(batch.dropped_attributes, 2u);
  ASSERT_EQ(batch.truncated_values, 1u);
  auto r = pipeline_->Submit(LoggedRequest{kProject, RequestFormat::kOtlpProto, body}, batch);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  const char* kCut = "loupe_ingest_decoder_cut_total";
  EXPECT_EQ(CounterValue(metrics_.get(), kCut, {{"what", "dropped_attribute"}}), 2u);
  EXPECT_EQ(CounterValue(metrics_.get(), kCut, {{"what", "truncated_value"}}), 1u);
  EXPECT_EQ(CounterValue(metrics_.get(), kCut, {{"what", "dropped_event"}}), 0u);
}

TEST_F(DurablePipelineTest, FailedFsyncFailsTheRequestAndLosesNothingAcknowledged) {
  Open();
  ASSERT_TRUE(Submit(TraceRequest(1, 2)).ok());
  env_.SetSyncError(true);
  EXPECT_FALSE(Submit(TraceRequest(2, 2)).ok());
  env_.SetSyncError(false);
  ASSERT_TRUE(Submit(TraceRequest(3, 2)).ok());
  Crash();
  Open();
  auto rows = Rows();
  EXPECT_EQ(rows[RootId(1)], 1);
  EXPECT_EQ(rows[RootId(3)], 1);
}

TEST_F(DurablePipelineTest, ShortWritesFailTheRequestAndLoseNothingAcknowledged) {
  Open();
  ASSERT_TRUE(Submit(TraceRequest(1, 2)).ok());
  env_.SetShortWrites(true);
  EXPECT_FALSE(Submit(TraceRequest(2, 2)).ok());
  env_.SetShortWrites(false);
  ASSERT_TRUE(Submit(TraceRequest(3, 2)).ok());
  Crash();
  IngestReplayStats stats;
  Open(&stats);
  auto rows = Rows();
  EXPECT_EQ(rows[RootId(1)], 1);
  EXPECT_EQ(rows.count(RootId(2)), 0u);  // never acknowledged, and cut from the log
  EXPECT_EQ(rows[RootId(3)], 1);
}

TEST_F(DurablePipelineTest, CheckpointThatCannotFlushKeepsTheLog) {
  Open();
  for (uint64_t t = 1; t <= 10; ++t) ASSERT_TRUE(Submit(TraceRequest(t, 2)).ok());
  env_.SetWriteBudget(100);  // the store flush fails
  EXPECT_FALSE(pipeline_->Checkpoint().ok());
  Crash();
  IngestReplayStats stats;
  Open(&stats);
  EXPECT_EQ(stats.records, 10u);
  EXPECT_EQ(Rows().size(), 10u);
}

TEST_F(DurablePipelineTest, HttpReceiverAnswersDiskFullWith503RetryAfterAndRecovers) {
  Open();
  InitialCredentials creds;
  auto registry = auth::Registry::Open("", &creds);
  ASSERT_TRUE(registry.ok());
  OtlpFrontDoor door(registry->get(), pipeline_.get(), metrics_.get());
  TraceReceiver traces(pipeline_.get(), metrics_.get());
  traces.AddRoutes(&door);
  auto post = [&](uint64_t trace) {
    net::HttpRequest req;
    req.method = "POST";
    req.path = "/v1/traces";
    req.headers = {{"content-type", "application/x-protobuf"},
                   {"authorization", "Bearer " + creds.ingest_key}};
    req.body = TraceRequest(trace, 2);
    net::HttpResponse resp;
    door.Handle(req, &resp);
    return resp;
  };
  auto project = (*registry)->AuthenticateIngestKey(creds.ingest_key);
  ASSERT_TRUE(project.ok());
  env_.SetWriteBudget(0);
  net::HttpResponse full = post(1);
  EXPECT_EQ(full.status, 503);
  bool retry_after_5 = false;
  for (const auto& [k, v] : full.headers) retry_after_5 |= (k == "Retry-After" && v == "5");
  EXPECT_TRUE(retry_after_5);
  env_.SetWriteBudget(-1);
  EXPECT_EQ(post(2).status, 200);
  // Only the acknowledged request is there (the receiver's project is the registry's).
  std::set<model::TxId> ids;
  ASSERT_TRUE(store_
                  ->Scan(*project, store::TxFilter{}, store::ScanOrder::kAny,
                         [&](std::span<const store::TxRow> rows) {
                           for (const auto& r : rows) ids.insert(r.id);
                           return true;
                         })
                  .ok());
  EXPECT_EQ(ids, (std::set<model::TxId>{RootId(2)}));
}

TEST(IngestLogFormat, CheckpointRoundTripsAndDetectsDamage) {
  std::vector<LoggedRequest> pending = {{3, RequestFormat::kOtlpProto, "abc"},
                                        {4, RequestFormat::kOtlpJson, "{}"}};
  std::string data = EncodeCheckpoint(17, pending);
  uint64_t seg = 0;
  std::vector<LoggedRequest> back;
  ASSERT_TRUE(DecodeCheckpoint(data, &seg, &back).ok());
  EXPECT_EQ(seg, 17u);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].project, 3u);
  EXPECT_EQ(back[0].body, "abc");
  EXPECT_EQ(back[1].format, RequestFormat::kOtlpJson);
  for (size_t i = 0; i < data.size(); ++i) {
    std::string bad = data;
    bad[i] ^= 0x40;
    EXPECT_EQ(DecodeCheckpoint(bad, &seg, &back).code(), Status::Code::kCorruption) << i;
  }
  EXPECT_EQ(DecodeCheckpoint(data.substr(0, data.size() - 1), &seg, &back).code(),
            Status::Code::kCorruption);
}

TEST(IngestLogFormat, RecordRoundTrips) {
  LoggedRequest r{70000, RequestFormat::kOtlpJson, "{\"resourceSpans\":[]}"};
  LoggedRequest back;
  const std::string encoded = EncodeLogRecord(r);
  ASSERT_TRUE(DecodeLogRecord(encoded, &back).ok());
  EXPECT_EQ(back.project, 70000u);
  EXPECT_EQ(back.format, RequestFormat::kOtlpJson);
  EXPECT_EQ(back.body, r.body);
  EXPECT_FALSE(DecodeLogRecord(std::string("\x09\x01", 2), &back).ok());
  EXPECT_FALSE(DecodeLogRecord(std::string("\x05\x01", 2), &back).ok());
  for (RequestFormat f : {RequestFormat::kOtlpMetricsProto, RequestFormat::kOtlpMetricsJson}) {
    ASSERT_TRUE(DecodeLogRecord(EncodeLogRecord(LoggedRequest{9, f, "m"}), &back).ok());
    EXPECT_EQ(back.format, f);
    EXPECT_TRUE(IsMetricsFormat(back.format));
    EXPECT_EQ(back.body, "m");
  }
  EXPECT_FALSE(DecodeLogRecord("", &back).ok());
}

}  // namespace
}  // namespace loupe::ingest
