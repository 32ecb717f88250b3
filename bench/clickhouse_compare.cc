// clickhouse_compare: the embedded engine side by side with ClickHouse on the
// same data (issue 3). Run through bench/clickhouse_side_by_side.sh, which
// starts a private clickhouse-server on loopback and passes its HTTP port.
//
// Two data sets of SyntheticWorkload transactions with their profiles:
//  - hour: one hour at 1,000 TPS (3.6 M transactions, ~6 steps each): ingest,
//    bytes on disk, the binned X-View, per-endpoint statistics and a
//    transaction with its profile by id;
//  - day: 24 hours at 41.67 TPS (the same 3.6 M transactions spread over 24
//    one-hour partitions): ingest, bytes, and the 24-hour TPS series at 60 s
//    and 300 s steps.
//
// Each data set is generated twice from the same seed, in chunks: once into
// the embedded engine (Append in batches of 500, as the pipeline does, then
// Flush; compaction of the closed partitions timed apart), once into
// ClickHouse (one RowBinary INSERT per chunk and table over HTTP, then
// OPTIMIZE ... FINAL timed apart). Generating (and serializing for
// ClickHouse) is not timed on either side; background work (memtable
// flushes, part merges) goes on meanwhile on both sides alike.
//
// Queries: Loupe through query::ComputeXView / ComputeEndpoints /
// ComputeSeries and Store::Get in this process (no HTTP, no JSON: what the
// API handlers call); ClickHouse through equivalent SQL over its HTTP
// interface, timed as the client sees it (request, execution, transfer and
// parsing of the TSV answer). Results of both sides are compared (counts,
// errors, cells, buckets, steps) and every difference is printed.
//
// Talks to 127.0.0.1 only. Exit status 1 if a check failed.
#include <algorithm>
#include <cctype>
#include <thread>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "query/query.h"
#include "store/embedded/embedded_store.h"
#include "store/embedded/segment.h"
#include "store/embedded/synthetic_workload.h"

namespace loupe {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

[[noreturn]] void Die(const std::string& what, const Status& s) {
  std::fprintf(stderr, "clickhouse_compare: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(2);
}

// ---- a minimal ClickHouse HTTP client (one keep-alive connection) ----

std::string UrlEncode(std::string_view s) {
  static const char* const kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

class ChClient {
 public:
  ChClient(int port, std::string settings) : port_(port), settings_(std::move(settings)) {}

  // Runs a statement sent as the request body; returns the answer's body.
  Result<std::string> Query(std::string_view sql, std::string_view extra_settings = "") {
    return Post(Target("", extra_settings), std::string(sql));
  }

  // INSERT with the statement in the URL and the rows as the body.
  Result<std::string> Insert(std::string_view insert_sql, std::string rows) {
    return Post(Target(insert_sql, ""), std::move(rows));
  }

 private:
  std::string Target(std::string_view query, std::string_view extra) const {
    std::string t = "/?" + settings_;
    if (!extra.empty()) t += "&" + std::string(extra);
    if (!query.empty()) t += "&query=" + UrlEncode(query);
    return t;
  }

  Result<std::string> Post(const std::string& target, std::string body) {
    // A connection the server closed (keep-alive timeout) fails the first
    // try; the second uses a fresh one.
    for (int attempt = 0;; ++attempt) {
      beast::error_code ec;
      if (!stream_) {
        stream_.emplace(ioc_);
        asio::ip::tcp::endpoint ep(asio::ip::make_address("127.0.0.1"),
                                   static_cast<uint16_t>(port_));
        stream_->connect(ep, ec);
        if (ec) {
          stream_.reset();
          return Status::Unavailable("connecting to ClickHouse: " + ec.message());
        }
        stream_->socket().set_option(asio::ip::tcp::no_delay(true));
      }
      http::request<http::string_body> req{http::verb::post, target, 11};
      req.set(http::field::host, "127.0.0.1");
      req.keep_alive(true);
      req.body() = std::move(body);
      req.prepare_payload();
      http::write(*stream_, req, ec);
      http::response_parser<http::string_body> parser;
      parser.body_limit(boost::none);
      beast::flat_buffer buf;
      if (!ec) http::read(*stream_, buf, parser, ec);
      if (ec) {
        stream_.reset();
        if (attempt == 0) {
          body = std::move(req.body());  // write() leaves the body in place
          continue;
        }
        return Status::Unavailable("ClickHouse request: " + ec.message());
      }
      auto res = parser.release();
      if (!res.keep_alive()) stream_.reset();
      if (res.result() != http::status::ok) {
        return Status::Internal("ClickHouse answered " + std::to_string(res.result_int()) +
                                ": " + res.body().substr(0, 2000));
      }
      return std::move(res.body());
    }
  }

  int port_;
  std::string settings_;
  asio::io_context ioc_;
  std::optional<beast::tcp_stream> stream_;
};

// ---- RowBinary ----

class RowBinary {
 public:
  template <typename T>
  void Fixed(T v) {
    char b[sizeof(T)];
    std::memcpy(b, &v, sizeof(T));  // little-endian host
    out_.append(b, sizeof(T));
  }
  void Varint(uint64_t n) {
    while (n >= 0x80) {
      out_ += static_cast<char>((n & 0x7f) | 0x80);
      n >>= 7;
    }
    out_ += static_cast<char>(n);
  }
  void Str(std::string_view s) {
    Varint(s.size());
    out_.append(s);
  }
  void Bytes(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  void Strings(const std::vector<std::string>& v) {
    Varint(v.size());
    for (const std::string& s : v) Str(s);
  }
  std::string Take() { return std::move(out_); }
  size_t size() const { return out_.size(); }

 private:
  std::string out_;
};

uint32_t ClampU32(int64_t v, uint64_t* clamped) {
  if (v < 0 || v > 0xffffffffLL) {
    ++*clamped;
    return v < 0 ? 0 : 0xffffffffu;
  }
  return static_cast<uint32_t>(v);
}

// The schema: what a ClickHouse user would pick for this data on 18.16 —
// MergeTree partitioned by day and ordered by (project, end time) for range
// scans; the profile in a steps table ordered by (project, transaction id,
// start) so a profile is a primary-key range; LowCardinality for the
// dictionary-like strings (18.16: experimental, behind a setting); no column
// codecs (they came in 19.x), the server-wide zstd compression instead.
constexpr const char* kTxColumns =
    "project, end_us, elapsed_us, id, trace_id, span_id, parent_span_id, service, instance, "
    "host, endpoint, http_method, url, status, error, error_type, client_ip, user, sql_count, "
    "sql_us, fetch_count, fetch_us, external_count, external_us, cpu_us, dropped_steps";
constexpr const char* kTxSchema =
    "(project UInt32, end_us Int64, elapsed_us UInt32, id UInt64, trace_id FixedString(16), "
    "span_id UInt64, parent_span_id UInt64, service LowCardinality(String), "
    "instance LowCardinality(String), host LowCardinality(String), "
    "endpoint LowCardinality(String), http_method LowCardinality(String), url String, "
    "status UInt16, error UInt8, error_type LowCardinality(String), "
    "client_ip LowCardinality(String), user LowCardinality(String), sql_count UInt32, "
    "sql_us Int64, fetch_count UInt32, fetch_us Int64, external_count UInt32, "
    "external_us Int64, cpu_us Int64, dropped_steps UInt32) "
    "ENGINE = MergeTree PARTITION BY toDate(toDateTime(intDiv(end_us, 1000000))) "
    "ORDER BY (project, end_us)";
constexpr const char* kStepColumns =
    "project, tx_end_us, tx_id, start_us, span_id, parent_span_id, kind, error, elapsed_us, "
    "name, sql, db_system, binds, rows, url, host, http_status, message, stack, attr_keys, "
    "attr_values";
constexpr const char* kStepSchema =
    "(project UInt32, tx_end_us Int64, tx_id UInt64, start_us Int64, span_id UInt64, "
    "parent_span_id UInt64, kind UInt8, error UInt8, elapsed_us UInt32, "
    "name LowCardinality(String), sql LowCardinality(String), "
    "db_system LowCardinality(String), binds Array(String), rows Int64, url String, "
    "host LowCardinality(String), http_status UInt16, message String, stack String, "
    "attr_keys Array(String), attr_values Array(String)) "
    "ENGINE = MergeTree PARTITION BY toDate(toDateTime(intDiv(tx_end_us, 1000000))) "
    "ORDER BY (project, tx_id, start_us)";

struct ChBodies {
  std::string tx, steps;
  uint64_t clamped = 0;
};

ChBodies SerializeForClickHouse(uint32_t project, const std::vector<model::Transaction>& txs) {
  RowBinary t, s;
  ChBodies out;
  for (const model::Transaction& tx : txs) {
    t.Fixed<uint32_t>(project);
    t.Fixed<int64_t>(tx.end_us);
    t.Fixed<uint32_t>(ClampU32(tx.elapsed_us(), &out.clamped));
    t.Fixed<uint64_t>(tx.id);
    t.Bytes(tx.trace_id.data(), tx.trace_id.size());
    t.Fixed<uint64_t>(tx.span_id);
    t.Fixed<uint64_t>(tx.parent_span_id);
    t.Str(tx.service);
    t.Str(tx.instance);
    t.Str(tx.host);
    t.Str(tx.endpoint);
    t.Str(tx.http_method);
    t.Str(tx.url);
    t.Fixed<uint16_t>(static_cast<uint16_t>(tx.status));
    t.Fixed<uint8_t>(tx.error ? 1 : 0);
    t.Str(tx.error_type);
    t.Str(tx.client_ip);
    t.Str(tx.user);
    t.Fixed<uint32_t>(tx.summary.sql_count);
    t.Fixed<int64_t>(tx.summary.sql_us);
    t.Fixed<uint32_t>(tx.summary.fetch_count);
    t.Fixed<int64_t>(tx.summary.fetch_us);
    t.Fixed<uint32_t>(tx.summary.external_count);
    t.Fixed<int64_t>(tx.summary.external_us);
    t.Fixed<int64_t>(tx.summary.cpu_us);
    t.Fixed<uint32_t>(tx.dropped_steps);
    for (const model::Step& st : tx.steps) {
      s.Fixed<uint32_t>(project);
      s.Fixed<int64_t>(tx.end_us);
      s.Fixed<uint64_t>(tx.id);
      s.Fixed<int64_t>(st.start_us);
      s.Fixed<uint64_t>(st.span_id);
      s.Fixed<uint64_t>(st.parent_span_id);
      s.Fixed<uint8_t>(static_cast<uint8_t>(st.kind));
      s.Fixed<uint8_t>(st.error ? 1 : 0);
      s.Fixed<uint32_t>(ClampU32(st.elapsed_us, &out.clamped));
      s.Str(st.name);
      s.Str(st.sql);
      s.Str(st.db_system);
      s.Strings(st.binds);
      s.Fixed<int64_t>(st.rows);
      s.Str(st.url);
      s.Str(st.host);
      s.Fixed<uint16_t>(static_cast<uint16_t>(st.http_status));
      s.Str(st.message);
      s.Str(st.stack);
      std::vector<std::string> keys, values;
      for (const auto& [k, v] : st.attributes) {
        keys.push_back(k);
        values.push_back(v);
      }
      s.Strings(keys);
      s.Strings(values);
    }
  }
  out.tx = t.Take();
  out.steps = s.Take();
  return out;
}

// ---- TSV answers ----

// The rows and fields of a TabSeparated answer, as views into `body`: keep
// body alive (and unmoved) while they are used.
std::vector<std::vector<std::string_view>> ParseTsv(std::string_view body) {
  std::vector<std::vector<std::string_view>> rows;
  size_t pos = 0;
  while (pos < body.size()) {
    size_t eol = body.find('\n', pos);
    if (eol == std::string_view::npos) eol = body.size();
    std::string_view line = body.substr(pos, eol - pos);
    pos = eol + 1;
    auto& row = rows.emplace_back();
    size_t f = 0;
    while (true) {
      size_t tab = line.find('\t', f);
      row.push_back(line.substr(f, tab == std::string_view::npos ? std::string_view::npos
                                                                   : tab - f));
      if (tab == std::string_view::npos) break;
      f = tab + 1;
    }
  }
  return rows;
}

double Num(std::string_view s) { return std::strtod(std::string(s).c_str(), nullptr); }
int64_t Int(std::string_view s) { return std::strtoll(std::string(s).c_str(), nullptr, 10); }

// "[1.5,2,3]" → {1.5, 2, 3}
std::vector<double> NumArray(std::string_view s) {
  std::vector<double> out;
  if (s.size() < 2) return out;
  s = s.substr(1, s.size() - 2);
  size_t f = 0;
  while (f < s.size()) {
    size_t c = s.find(',', f);
    if (c == std::string_view::npos) c = s.size();
    out.push_back(Num(s.substr(f, c - f)));
    f = c + 1;
  }
  return out;
}

// ---- data sets ----

struct DataSet {
  std::string name;
  double tps;
  int64_t from_us, to_us;
  uint64_t seed;
  uint32_t project;
  std::string ch_db;
  std::string loupe_dir;
};

struct LoadResult {
  uint64_t transactions = 0, spans = 0;
  double load_s = 0;      // timed ingest (Loupe: Append + Flush; ClickHouse: INSERTs)
  double generate_s = 0;  // untimed: generation (+ serialization for ClickHouse)
  double steady_s = 0;    // compaction / OPTIMIZE FINAL
  uint64_t bytes = 0;     // on disk in the steady state
  uint64_t bytes_before_steady = 0;
  std::string detail;
};

// Generates the data set in chunks and hands each to `sink` (timed).
void ForEachChunk(const DataSet& ds, size_t chunk,
                  const std::function<void(std::vector<model::Transaction>&)>& sink,
                  LoadResult* r) {
  store::SyntheticWorkload::Options o;
  o.tps = ds.tps;
  o.seed = ds.seed;
  store::SyntheticWorkload w(o, ds.from_us);
  bool done = false;
  while (!done) {
    const auto g0 = Clock::now();
    std::vector<model::Transaction> txs;
    txs.reserve(chunk);
    while (txs.size() < chunk) {
      model::Transaction tx = w.Next();
      if (tx.end_us >= ds.to_us) {
        done = true;
        break;
      }
      r->spans += 1 + tx.steps.size();
      txs.push_back(std::move(tx));
    }
    r->transactions += txs.size();
    const auto g1 = Clock::now();
    r->generate_s += Seconds(g0, g1);
    if (!txs.empty()) sink(txs);
  }
}

// ---- latency statistics ----

struct Latency {
  std::vector<double> ms;
  double Median() const { return Rank(0.5); }
  double P99() const { return Rank(0.99); }
  double Rank(double p) const {
    if (ms.empty()) return 0;
    std::vector<double> v = ms;
    std::sort(v.begin(), v.end());
    size_t r = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size()) - 1e-9));
    return v[std::clamp<size_t>(r, 1, v.size()) - 1];
  }
};

template <typename F>
Latency Time(int warmup, int reps, F&& f) {
  for (int i = 0; i < warmup; ++i) f(i);
  Latency l;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = Clock::now();
    f(i);
    l.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  return l;
}

int g_failed_checks = 0;

void Check(bool ok, const std::string& what) {
  std::printf("  check %-4s %s\n", ok ? "ok" : "FAIL", what.c_str());
  if (!ok) ++g_failed_checks;
}

struct Flags {
  int ch_port = 18123;
  std::string dir = "/tmp/loupe_ch_compare";
  size_t chunk = 100'000;
  int reps = 20;
  int get_reps = 200;
  bool keep = false;
  std::string only;  // "hour" or "day": one data set only
  double scale = 1;  // multiplies both data sets' TPS (quick trial runs)
};

// ---- the comparison ----

class Compare {
 public:
  explicit Compare(const Flags& f)
      : f_(f), ch_(f.ch_port, "allow_experimental_low_cardinality_type=1") {}

  LoadResult LoadLoupe(const DataSet& ds, std::vector<model::TxId>* sample_ids) {
    std::filesystem::remove_all(ds.loupe_dir);
    std::filesystem::create_directories(ds.loupe_dir);
    store::EmbeddedOptions o;
    o.dir = ds.loupe_dir;
    // Server defaults (64 MiB memtables, zstd columns, background flush), but
    // compaction only when called below, so it is timed apart.
    o.background_maintenance = false;
    // Every X-View decodes its row groups: the decoded-column cache (on in
    // the server) would answer the repeated queries from memory, which
    // ClickHouse's defaults do not do either (uncompressed_cache off).
    o.scatter_cache_bytes = 0;
    auto st = store::EmbeddedStore::Open(o);
    if (!st.ok()) Die("opening the embedded store", st.status());
    std::unique_ptr<store::EmbeddedStore>& s = stores_[ds.name];
    s = std::move(*st);
    LoadResult r;
    uint64_t n = 0;
    ForEachChunk(
        ds, f_.chunk,
        [&](std::vector<model::Transaction>& txs) {
          for (const model::Transaction& tx : txs) {
            if (n++ % 1009 == 0) sample_ids->push_back(tx.id);
          }
          const auto t0 = Clock::now();
          for (size_t i = 0; i < txs.size(); i += 500) {
            store::WriteBatch b;
            const size_t end = std::min(txs.size(), i + 500);
            b.transactions.assign(std::make_move_iterator(txs.begin() + i),
                                  std::make_move_iterator(txs.begin() + end));
            Status a = s->Append(ds.project, std::move(b));
            if (!a.ok()) Die("appending", a);
          }
          r.load_s += Seconds(t0, Clock::now());
        },
        &r);
    const auto f0 = Clock::now();
    if (Status fl = s->Flush(); !fl.ok()) Die("flushing", fl);
    r.load_s += Seconds(f0, Clock::now());
    r.bytes_before_steady = Usage(*s, ds.project).disk_bytes();
    const auto c0 = Clock::now();
    // The data's hours are long closed by the real clock.
    if (Status c = s->CompactClosedPartitions(); !c.ok()) Die("compacting", c);
    r.steady_s = Seconds(c0, Clock::now());
    const store::ProjectUsage u = Usage(*s, ds.project);
    r.bytes = u.disk_bytes();
    char d[256];
    std::snprintf(d, sizeof d, "%llu segments in %llu partitions (segments %llu B, rollups %llu B)",
                  static_cast<unsigned long long>(u.segments),
                  static_cast<unsigned long long>(u.partitions),
                  static_cast<unsigned long long>(u.segment_bytes),
                  static_cast<unsigned long long>(u.rollup_bytes));
    r.detail = std::string(d) + SegmentBreakdown(ds.loupe_dir, r.transactions);
    const store::StoreStats ss = s->Stats();
    Check(ss.transactions == r.transactions,
          "Loupe stored " + std::to_string(ss.transactions) + " of " +
              std::to_string(r.transactions) + " transactions");
    return r;
  }

  LoadResult LoadClickHouse(const DataSet& ds) {
    Must(ch_.Query("DROP DATABASE IF EXISTS " + ds.ch_db), "dropping database");
    Must(ch_.Query("CREATE DATABASE " + ds.ch_db), "creating database");
    Must(ch_.Query("CREATE TABLE " + ds.ch_db + ".tx " + kTxSchema), "creating tx");
    Must(ch_.Query("CREATE TABLE " + ds.ch_db + ".steps " + kStepSchema), "creating steps");
    LoadResult r;
    uint64_t clamped = 0;
    const std::string ins_tx =
        "INSERT INTO " + ds.ch_db + ".tx (" + kTxColumns + ") FORMAT RowBinary";
    const std::string ins_steps =
        "INSERT INTO " + ds.ch_db + ".steps (" + kStepColumns + ") FORMAT RowBinary";
    ForEachChunk(
        ds, f_.chunk,
        [&](std::vector<model::Transaction>& txs) {
          const auto s0 = Clock::now();
          ChBodies b = SerializeForClickHouse(ds.project, txs);
          clamped += b.clamped;
          const auto t0 = Clock::now();
          r.generate_s += Seconds(s0, t0);
          Must(ch_.Insert(ins_tx, std::move(b.tx)), "inserting transactions");
          Must(ch_.Insert(ins_steps, std::move(b.steps)), "inserting steps");
          r.load_s += Seconds(t0, Clock::now());
        },
        &r);
    Check(clamped == 0, "no elapsed value outside UInt32 (" + std::to_string(clamped) + ")");
    r.bytes_before_steady = PartBytes(ds.ch_db, "");
    // OPTIMIZE FINAL merges each partition into one part; it does nothing
    // while a background merge holds some of the parts, so repeat until one
    // active part per partition is left.
    const auto o0 = Clock::now();
    for (const char* table : {"tx", "steps"}) {
      for (int i = 0; i < 600; ++i) {
        Must(ch_.Query("OPTIMIZE TABLE " + ds.ch_db + "." + table + " FINAL"), "optimizing");
        const std::string body = Must(
            ch_.Query("SELECT count(), uniqExact(partition) FROM system.parts WHERE active AND "
                      "database = '" + ds.ch_db + "' AND table = '" + table + "'"),
            "reading parts");
        auto parts = ParseTsv(body);
        if (!parts.empty() && parts[0].size() == 2 && parts[0][0] == parts[0][1]) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(500));
      }
    }
    r.steady_s = Seconds(o0, Clock::now());
    r.bytes = PartBytes(ds.ch_db, "");
    const uint64_t tx_bytes = PartBytes(ds.ch_db, "tx");
    r.detail = "tx table " + std::to_string(tx_bytes) + " B, steps table " +
               std::to_string(r.bytes - tx_bytes) + " B; largest columns, B/tx:";
    const std::string cols = Must(
        ch_.Query("SELECT table, name, data_compressed_bytes FROM system.columns WHERE database "
                  "= '" + ds.ch_db + "' ORDER BY data_compressed_bytes DESC LIMIT 10"),
        "reading system.columns");
    char b[128];
    for (const auto& c : ParseTsv(cols)) {
      std::snprintf(b, sizeof b, " %s.%s %.1f", std::string(c[0]).c_str(),
                    std::string(c[1]).c_str(), static_cast<double>(Int(c[2])) / r.transactions);
      r.detail += b;
    }
    const std::string counted =
        Must(ch_.Query("SELECT (SELECT count() FROM " + ds.ch_db + ".tx), (SELECT count() FROM " +
                       ds.ch_db + ".steps)"),
             "counting");
    auto cnt = ParseTsv(counted);
    Check(!cnt.empty() && static_cast<uint64_t>(Int(cnt[0][0])) == r.transactions &&
              static_cast<uint64_t>(Int(cnt[0][0]) + Int(cnt[0][1])) == r.spans,
          "ClickHouse holds " + std::string(cnt.empty() ? "?" : cnt[0][0]) + " transactions, " +
              std::string(cnt.empty() ? "?" : cnt[0][1]) + " steps");
    return r;
  }

  store::EmbeddedStore& loupe(const std::string& name) { return *stores_.at(name); }
  ChClient& ch() { return ch_; }

  std::string Must(Result<std::string> r, const std::string& what) {
    if (!r.ok()) Die(what, r.status());
    return std::move(*r);
  }

  void CloseAll() {
    for (auto& [name, s] : stores_) s->Close();
    stores_.clear();
  }

 private:
  // Where a Loupe data set's bytes go: row-group columns (scatter, dictionary
  // ids, summary), the id sections (ids, trace ids, their two orders: 32 B a
  // row, plus the Bloom filter), and the rest (profiles, dictionaries, meta).
  static std::string SegmentBreakdown(const std::string& dir, uint64_t txs) {
    uint64_t scatter = 0, dict = 0, summary = 0, rows = 0, file = 0;
    for (const auto& e : std::filesystem::directory_iterator(dir)) {
      if (e.path().extension() != ".seg") continue;
      auto seg = store::Segment::Open(Env::Default(), e.path().string());
      if (!seg.ok()) Die("opening a segment", seg.status());
      rows += (*seg)->rows();
      file += (*seg)->file_size();
      for (const store::Segment::Group& g : (*seg)->groups()) {
        for (int c = 0; c < store::kNumColumns; ++c) {
          const uint64_t n = g.columns[c].length;
          if (c < store::kColDictFirst) {
            scatter += n;
          } else if (c < store::kColSqlCount) {
            dict += n;
          } else {
            summary += n;
          }
        }
      }
    }
    const double t = static_cast<double>(std::max<uint64_t>(1, txs));
    const uint64_t ids = rows * 32;
    char b[256];
    std::snprintf(b, sizeof b,
                  "; B/tx: columns %.1f (end/elapsed/status/error %.1f, dictionary ids %.1f, "
                  "summary %.1f), id sections %.1f + Bloom, profiles and the rest %.1f",
                  (scatter + dict + summary) / t, scatter / t, dict / t, summary / t, ids / t,
                  (file - scatter - dict - summary - ids) / t);
    return b;
  }

  static store::ProjectUsage Usage(const store::Store& s, uint32_t project) {
    for (const store::ProjectUsage& u : s.Usage().projects) {
      if (u.project == project) return u;
    }
    return {};
  }

  uint64_t PartBytes(const std::string& db, const std::string& table) {
    std::string sql = "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = '" +
                      db + "'";
    if (!table.empty()) sql += " AND table = '" + table + "'";
    const std::string body = Must(ch_.Query(sql), "reading system.parts");
    auto rows = ParseTsv(body);
    return rows.empty() ? 0 : static_cast<uint64_t>(Int(rows[0][0]));
  }

  Flags f_;
  ChClient ch_;
  std::map<std::string, std::unique_ptr<store::EmbeddedStore>> stores_;
};

// One line of the final table.
struct Row {
  std::string what;
  double loupe, ch;
  std::string unit;
  bool higher_is_better;
};

std::vector<Row> g_rows;

void AddRow(std::string what, double loupe, double ch, std::string unit, bool higher_better) {
  g_rows.push_back({std::move(what), loupe, ch, std::move(unit), higher_better});
}

void PrintLoad(const char* side, const LoadResult& r) {
  std::printf(
      "  %-10s %llu tx, %llu spans: load %.2f s = %.0f tx/s, %.0f spans/s (generation %.1f s, "
      "untimed); to steady state %.2f s; %llu B on disk (%.1f B/tx, %.1f B/span; %llu B "
      "before); %s\n",
      side, static_cast<unsigned long long>(r.transactions),
      static_cast<unsigned long long>(r.spans), r.load_s, r.transactions / r.load_s,
      r.spans / r.load_s, r.generate_s, r.steady_s, static_cast<unsigned long long>(r.bytes),
      static_cast<double>(r.bytes) / r.transactions, static_cast<double>(r.bytes) / r.spans,
      static_cast<unsigned long long>(r.bytes_before_steady), r.detail.c_str());
}

void PrintLatency(const char* side, const std::string& what, const Latency& l) {
  std::printf("  %-10s %-34s median %9.3f ms  p99 %9.3f ms  min %9.3f ms  (%zu runs)\n", side,
              what.c_str(), l.Median(), l.P99(), l.Rank(0.0), l.ms.size());
}

void CompareLoad(const std::string& name, const LoadResult& l, const LoadResult& c) {
  PrintLoad("Loupe", l);
  PrintLoad("ClickHouse", c);
  AddRow(name + ": ingest, spans/s", l.spans / l.load_s, c.spans / c.load_s, "spans/s", true);
  AddRow(name + ": ingest to steady state, spans/s", l.spans / (l.load_s + l.steady_s),
         c.spans / (c.load_s + c.steady_s), "spans/s", true);
  AddRow(name + ": bytes on disk", static_cast<double>(l.bytes), static_cast<double>(c.bytes),
         "B", false);
}

// ---- queries ----

void QueryHour(Compare& cmp, const DataSet& ds, const std::vector<model::TxId>& ids,
               const Flags& fl) {
  store::Store& s = cmp.loupe(ds.name);
  store::TxFilter f;
  f.from_us = ds.from_us;
  f.to_us = ds.to_us;
  const std::string where = " WHERE project = " + std::to_string(ds.project) +
                            " AND end_us >= " + std::to_string(ds.from_us) +
                            " AND end_us < " + std::to_string(ds.to_us);
  const std::string F = std::to_string(ds.from_us), W = std::to_string(ds.to_us - ds.from_us);

  // X-View binned: 600 × 100 cells, log-scaled elapsed between the data's
  // min (at least 0.1 ms) and max, as query::ComputeXView.
  {
    query::XViewOptions xo;
    query::XView lx;
    Latency ll = Time(2, fl.reps, [&](int) {
      auto r = query::ComputeXView(s, ds.project, f, xo);
      if (!r.ok()) Die("xview", r.status());
      lx = std::move(*r);
    });
    const std::string sql =
        "WITH (SELECT (greatest(100, min(elapsed_us)), max(elapsed_us)) FROM " + ds.ch_db + ".tx" +
        where +
        ") AS mm, mm.1 AS lo, if(mm.2 <= lo, lo * 10, mm.2) AS hi "
        "SELECT intDiv((end_us - " + F + ") * " + std::to_string(xo.x_bins) + ", " + W +
        ") AS x, least(" + std::to_string(xo.y_bins - 1) +
        ", greatest(0, toInt32(floor(log(greatest(elapsed_us, 1) / lo) / log(hi / lo) * " +
        std::to_string(xo.y_bins) + ")))) AS y, count(), sum(error) FROM " + ds.ch_db + ".tx" +
        where + " GROUP BY x, y FORMAT TabSeparated";
    std::vector<std::vector<std::string_view>> rows;
    std::string body;
    auto run = [&](const char* settings) {
      return Time(2, fl.reps, [&](int) {
        body = cmp.Must(cmp.ch().Query(sql, settings), "xview");
        rows = ParseTsv(body);
      });
    };
    Latency cl = run("");
    Latency cl1 = run("max_threads=1");
    PrintLatency("Loupe", "xview hour (600x100 bins)", ll);
    PrintLatency("ClickHouse", "xview hour (600x100 bins)", cl);
    PrintLatency("ClickHouse", "xview hour, max_threads=1", cl1);
    uint64_t total = 0, errors = 0, lerrors = 0, diff_cells = 0, diff_rows = 0;
    std::vector<uint32_t> cc(lx.bins.count.size()), ce(lx.bins.count.size());
    for (const auto& r : rows) {
      const int64_t x = Int(r[0]), y = Int(r[1]);
      const size_t cell = static_cast<size_t>(x) * xo.y_bins + static_cast<size_t>(y);
      if (cell < cc.size()) {
        cc[cell] += static_cast<uint32_t>(Int(r[2]));
        ce[cell] += static_cast<uint32_t>(Int(r[3]));
      }
      total += Int(r[2]);
      errors += Int(r[3]);
    }
    for (uint8_t e : lx.points.error) lerrors += e;  // exact points (small --scale)
    for (size_t i = 0; i < cc.size(); ++i) {
      lerrors += lx.bins.errors[i];
      if (cc[i] != lx.bins.count[i] || ce[i] != lx.bins.errors[i]) {
        ++diff_cells;
        diff_rows += static_cast<uint64_t>(std::abs(static_cast<int64_t>(cc[i]) -
                                                    static_cast<int64_t>(lx.bins.count[i])));
      }
    }
    Check(lx.total == total && lerrors == errors,
          "xview: " + std::to_string(lx.total) + " vs " + std::to_string(total) +
              " transactions, " + std::to_string(lerrors) + " vs " + std::to_string(errors) +
              " errors");
    std::printf("  note       xview cells differing: %llu of %zu (|count diff| sum %llu: rows on a "
                "log-bin edge, rounded differently)\n",
                static_cast<unsigned long long>(diff_cells), cc.size(),
                static_cast<unsigned long long>(diff_rows));
    AddRow("xview 1 h, median", ll.Median(), cl.Median(), "ms", false);
    AddRow("xview 1 h, p99", ll.P99(), cl.P99(), "ms", false);
  }

  // Endpoints: per (service, endpoint) count, errors, avg/max, exact
  // p50/p95/p99, avg SQL count/ms, avg external ms.
  {
    std::vector<query::EndpointStats> le;
    std::string source;
    Latency ll = Time(2, fl.reps, [&](int) {
      auto r = query::ComputeEndpoints(s, ds.project, f, &source);
      if (!r.ok()) Die("endpoints", r.status());
      le = std::move(*r);
    });
    const std::string sql =
        "SELECT service, endpoint, count() AS n, sum(error), avg(elapsed_us) / 1000, "
        "max(elapsed_us) / 1000, quantilesExact(0.5, 0.95, 0.99)(elapsed_us), avg(sql_count), "
        "avg(sql_us) / 1000, avg(external_us) / 1000 FROM " + ds.ch_db + ".tx" + where +
        " GROUP BY service, endpoint ORDER BY n DESC, service, endpoint FORMAT TabSeparated";
    std::vector<std::vector<std::string_view>> rows;
    std::string body;
    auto run = [&](const char* settings) {
      return Time(2, fl.reps, [&](int) {
        body = cmp.Must(cmp.ch().Query(sql, settings), "endpoints");
        rows = ParseTsv(body);
      });
    };
    Latency cl = run("");
    Latency cl1 = run("max_threads=1");
    PrintLatency("Loupe", "endpoints hour", ll);
    PrintLatency("ClickHouse", "endpoints hour", cl);
    PrintLatency("ClickHouse", "endpoints hour, max_threads=1", cl1);
    std::map<std::pair<std::string, std::string>, const std::vector<std::string_view>*> by;
    for (const auto& r : rows) by[{std::string(r[0]), std::string(r[1])}] = &r;
    size_t same_counts = 0, same_pct = 0, same_avg = 0, unexplained_pct = 0;
    for (const query::EndpointStats& e : le) {
      auto it = by.find({e.service, e.endpoint});
      if (it == by.end()) continue;
      const auto& r = *it->second;
      if (static_cast<uint64_t>(Int(r[2])) == e.count &&
          static_cast<uint64_t>(Int(r[3])) == e.errors && std::abs(Num(r[5]) - e.max_ms) < 1e-6) {
        ++same_counts;
      }
      std::vector<double> q = NumArray(r[6]);
      if (q.size() == 3 && std::abs(q[0] / 1000 - e.p50_ms) < 1e-6 &&
          std::abs(q[1] / 1000 - e.p95_ms) < 1e-6 && std::abs(q[2] / 1000 - e.p99_ms) < 1e-6) {
        ++same_pct;
      } else if (q.size() == 3 && source != "raw") {
        // From rollups: within half a histogram bin (±6.1 %, store/rollup.h)
        // of the exact value (either side's rank convention).
        const double lp[3] = {e.p50_ms, e.p95_ms, e.p99_ms};
        for (int k = 0; k < 3; ++k) {
          if (std::abs(q[k] / 1000 - lp[k]) > 0.0607 * (q[k] / 1000) + 1e-6) ++unexplained_pct;
        }
      } else if (q.size() == 3) {
        // Differences are expected only for a percentile whose p*n is whole.
        const double n = static_cast<double>(e.count);
        const double lp[3] = {e.p50_ms, e.p95_ms, e.p99_ms};
        const double ps[3] = {0.5, 0.95, 0.99};
        for (int k = 0; k < 3; ++k) {
          const double pn = ps[k] * n;
          if (std::abs(q[k] / 1000 - lp[k]) >= 1e-6 && std::abs(pn - std::round(pn)) > 1e-6) {
            ++unexplained_pct;
          }
        }
      }
      if (std::abs(Num(r[4]) - e.avg_ms) < 1e-6 * std::max(1.0, e.avg_ms) &&
          std::abs(Num(r[7]) - e.avg_sql_count) < 1e-6 &&
          std::abs(Num(r[8]) - e.avg_sql_ms) < 1e-6 * std::max(1.0, e.avg_sql_ms) &&
          std::abs(Num(r[9]) - e.avg_external_ms) < 1e-6 * std::max(1.0, e.avg_external_ms)) {
        ++same_avg;
      }
    }
    Check(le.size() == rows.size() && same_counts == le.size() && same_avg == le.size(),
          "endpoints: " + std::to_string(le.size()) + " vs " + std::to_string(rows.size()) +
              " groups; count, errors, max equal in " + std::to_string(same_counts) +
              ", averages in " + std::to_string(same_avg));
    std::printf("  note       endpoints from %s; p50/p95/p99 equal in %zu of %zu groups (Loupe: "
                "nearest rank ceil(p*n), or a histogram bin's middle from rollups; "
                "quantilesExact: index floor(p*n))\n",
                source.c_str(), same_pct, le.size());
    Check(unexplained_pct == 0,
          source == "raw"
              ? "endpoints: percentiles differ only where p*n is whole (" +
                    std::to_string(unexplained_pct) + " other differences)"
              : "endpoints: percentiles within ±6.1 % of the exact ones (" +
                    std::to_string(unexplained_pct) + " outside)");
    AddRow("endpoints 1 h, median", ll.Median(), cl.Median(), "ms", false);
    AddRow("endpoints 1 h, p99", ll.P99(), cl.P99(), "ms", false);
  }

  // A transaction with its profile by id. ClickHouse: the row by id (the
  // table is ordered by time, so PREWHERE reads the id column whole) and the
  // steps by primary key; two requests, as a store would send them.
  {
    std::mt19937_64 rng(7);
    std::vector<model::TxId> pick(static_cast<size_t>(fl.get_reps) + 2);
    for (auto& id : pick) id = ids[rng() % ids.size()];
    std::vector<size_t> lsteps(pick.size()), csteps(pick.size());
    std::vector<std::string> lend(pick.size()), cend(pick.size());
    Latency ll = Time(2, fl.get_reps, [&](int i) {
      auto r = s.Get(ds.project, pick[i + 2]);
      if (!r.ok()) Die("get", r.status());
      lsteps[i + 2] = r->steps.size();
      lend[i + 2] = r->endpoint;
    });
    // Warm-up runs use indexes 0 and 1, timed ones 2.. (i + 2).
    auto ch_get = [&](int i) {
      const std::string id = std::to_string(pick[i]);
      std::string tx = cmp.Must(
          cmp.ch().Query("SELECT " + std::string(kTxColumns) + " FROM " + ds.ch_db +
                         ".tx PREWHERE id = " + id + " WHERE project = " +
                         std::to_string(ds.project) + " FORMAT TabSeparated"),
          "get tx");
      std::string st = cmp.Must(
          cmp.ch().Query("SELECT " + std::string(kStepColumns) + " FROM " + ds.ch_db +
                         ".steps WHERE project = " + std::to_string(ds.project) +
                         " AND tx_id = " + id + " ORDER BY start_us FORMAT TabSeparated"),
          "get steps");
      auto txr = ParseTsv(tx);
      auto str = ParseTsv(st);
      csteps[i] = str.size();
      cend[i] = txr.size() == 1 && txr[0].size() > 10 ? std::string(txr[0][10]) : "?";
    };
    Latency cl = Time(0, fl.get_reps + 2, [&](int i) { ch_get(i); });
    cl.ms.erase(cl.ms.begin(), cl.ms.begin() + 2);  // the two warm-up runs
    PrintLatency("Loupe", "transaction + profile by id", ll);
    PrintLatency("ClickHouse", "transaction + profile by id", cl);
    size_t same = 0;
    for (size_t i = 2; i < pick.size(); ++i) {
      same += lsteps[i] == csteps[i] && lend[i] == cend[i];
    }
    Check(same == pick.size() - 2, "get: endpoint and step count equal for " +
                                       std::to_string(same) + " of " +
                                       std::to_string(pick.size() - 2) + " ids");
    AddRow("tx + profile by id, median", ll.Median(), cl.Median(), "ms", false);
    AddRow("tx + profile by id, p99", ll.P99(), cl.P99(), "ms", false);
  }
}

void QueryDay(Compare& cmp, const DataSet& ds, const Flags& fl) {
  store::Store& s = cmp.loupe(ds.name);
  store::TxFilter f;
  f.from_us = ds.from_us;
  f.to_us = ds.to_us;
  const std::string where = " WHERE project = " + std::to_string(ds.project) +
                            " AND end_us >= " + std::to_string(ds.from_us) +
                            " AND end_us < " + std::to_string(ds.to_us);
  for (int64_t step_s : {60, 300}) {
    const int64_t step_us = step_s * 1'000'000;
    query::Series ls;
    Latency ll = Time(2, fl.reps, [&](int) {
      auto r = query::ComputeSeries(s, ds.project, f, query::Metric::kTps, step_us,
                                    query::GroupBy::kNone);
      if (!r.ok()) Die("series", r.status());
      ls = std::move(*r);
    });
    const int64_t from = ds.from_us / step_us * step_us;  // from_us > 0
    const std::string sql = "SELECT intDiv(end_us - " + std::to_string(from) + ", " +
                            std::to_string(step_us) + ") AS b, count() / " +
                            std::to_string(step_s) + " FROM " + ds.ch_db + ".tx" + where +
                            " GROUP BY b ORDER BY b FORMAT TabSeparated";
    std::vector<std::vector<std::string_view>> rows;
    std::string body;
    auto run = [&](const char* settings) {
      return Time(2, fl.reps, [&](int) {
        body = cmp.Must(cmp.ch().Query(sql, settings), "series");
        rows = ParseTsv(body);
      });
    };
    Latency cl = run("");
    Latency cl1 = run("max_threads=1");
    const std::string what = "series tps 24 h, step " + std::to_string(step_s) + " s";
    PrintLatency("Loupe", what, ll);
    PrintLatency("ClickHouse", what, cl);
    PrintLatency("ClickHouse", what + ", max_threads=1", cl1);
    size_t same = 0;
    std::vector<double> cv(ls.buckets, 0);
    for (const auto& r : rows) {
      int64_t b = Int(r[0]);
      if (b >= 0 && static_cast<size_t>(b) < cv.size()) cv[b] = Num(r[1]);
    }
    const std::vector<double>& lv = ls.lines.empty() ? cv : ls.lines[0].values;
    for (size_t b = 0; b < ls.buckets && b < lv.size(); ++b) {
      same += std::abs(lv[b] - cv[b]) * static_cast<double>(step_s) < 0.5;
    }
    Check(ls.buckets > 0 && same == ls.buckets,
          what + ": " + std::to_string(same) + " of " + std::to_string(ls.buckets) +
              " buckets equal");
    AddRow(what + ", median", ll.Median(), cl.Median(), "ms", false);
    AddRow(what + ", p99", ll.P99(), cl.P99(), "ms", false);
  }
}

double LoadAverage() {
  double l[3] = {0, 0, 0};
  if (getloadavg(l, 3) < 1) return -1;
  return l[0];
}

int Main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // progress through a pipe or file
  Flags fl;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--ch-port") {
      fl.ch_port = std::stoi(next());
    } else if (a == "--dir") {
      fl.dir = next();
    } else if (a == "--chunk") {
      fl.chunk = std::stoul(next());
    } else if (a == "--reps") {
      fl.reps = std::stoi(next());
    } else if (a == "--get-reps") {
      fl.get_reps = std::stoi(next());
    } else if (a == "--only") {
      fl.only = next();
    } else if (a == "--scale") {
      fl.scale = std::stod(next());
    } else if (a == "--keep") {
      fl.keep = true;
    } else {
      std::fprintf(stderr,
                   "usage: clickhouse_compare [--ch-port 18123] [--dir DIR] [--chunk 100000] "
                   "[--reps 20] [--get-reps 200] [--only hour|day] [--scale 1] [--keep]\n");
      return 2;
    }
  }
  constexpr int64_t kHourUs = 3'600'000'000;
  constexpr int64_t kDay0 = 1'699'920'000'000'000;   // 2023-11-14 00:00 UTC
  constexpr int64_t kHour0 = kDay0 + 10 * kHourUs;  // 10:00 that day
  const DataSet hour{"hour", 1000 * fl.scale, kHour0, kHour0 + kHourUs, 1, 1, "loupe_hour",
                     fl.dir + "/hour"};
  const DataSet day{"day",      3'600'000.0 / 86'400 * fl.scale, kDay0, kDay0 + 24 * kHourUs, 2, 1,
                    "loupe_day", fl.dir + "/day"};

  Compare cmp(fl);
  std::string version = cmp.Must(cmp.ch().Query("SELECT version()"), "version");
  while (!version.empty() && version.back() == '\n') version.pop_back();
  std::printf("clickhouse_compare: ClickHouse %s on 127.0.0.1:%d, load average %.2f\n",
              version.c_str(), fl.ch_port, LoadAverage());
  for (const DataSet* ds : {&hour, &day}) {
    if (!fl.only.empty() && fl.only != ds->name) continue;
    std::printf("\n== data set %s: %.2f TPS over %.0f h ==\n", ds->name.c_str(), ds->tps,
                static_cast<double>(ds->to_us - ds->from_us) / kHourUs);
    std::vector<model::TxId> ids;
    LoadResult l = cmp.LoadLoupe(*ds, &ids);
    std::printf("  (load average %.2f)\n", LoadAverage());
    LoadResult c = cmp.LoadClickHouse(*ds);
    CompareLoad(ds->name, l, c);
    std::printf("  (load average %.2f)\n", LoadAverage());
    if (ds == &hour) {
      QueryHour(cmp, *ds, ids, fl);
    } else {
      QueryDay(cmp, *ds, fl);
    }
    std::printf("  (load average %.2f)\n", LoadAverage());
  }

  std::printf("\n== Loupe vs ClickHouse (advantage > 1: Loupe better; < 1: Loupe loses) ==\n");
  std::printf("| %-44s | %14s | %14s | %9s |\n", "measure", "Loupe", "ClickHouse", "advantage");
  std::printf("|%s|%s|%s|%s|\n", std::string(46, '-').c_str(), std::string(16, '-').c_str(),
              std::string(16, '-').c_str(), std::string(11, '-').c_str());
  for (const Row& r : g_rows) {
    const double adv = r.higher_is_better ? r.loupe / r.ch : r.ch / r.loupe;
    const char* fmt = r.unit == "ms" ? "| %-44s | %11.3f %-2s | %11.3f %-2s | %8.2fx |\n"
                                     : "| %-44s | %11.4g %-2s | %11.4g %-2s | %8.2fx |\n";
    std::string u = r.unit == "spans/s" ? "/s" : r.unit;
    std::printf(fmt, r.what.c_str(), r.loupe, u.c_str(), r.ch, u.c_str(), adv);
  }
  std::printf("\nchecks failed: %d\n", g_failed_checks);

  cmp.CloseAll();
  if (!fl.keep) std::filesystem::remove_all(fl.dir);
  return g_failed_checks == 0 ? 0 : 1;
}

}  // namespace
}  // namespace loupe

int main(int argc, char** argv) { return loupe::Main(argc, argv); }
