// clickhouse_compare: the embedded engine side by side with ClickHouse on the
// same data (issues 3 and 10). Run through bench/clickhouse_side_by_side.sh,
// which starts a private clickhouse-server on loopback and passes its HTTP
// port and pid.
//
// Two data sets of SyntheticWorkload transactions with their profiles:
//  - hour: one hour at 1,000 TPS (3.6 M transactions, ~6 steps each): ingest,
//    bytes on disk, the binned X-View, per-endpoint statistics and a
//    transaction with its profile by id;
//  - day: 24 hours at 41.67 TPS (the same 3.6 M transactions spread over 24
//    one-hour partitions): ingest, bytes, and the 24-hour TPS series at 60 s
//    and 300 s steps.
//
// ClickHouse gets what Loupe has (issue 10): besides the transaction table
// (ordered by time) and the steps table (ordered by transaction id, so a
// profile is a primary-key range), materialized views fill
//  - rollup_1m: an AggregatingMergeTree per (project, minute, service,
//    instance), as Loupe's minute cells, which answer the series;
//  - rollup_5m: the same per (project, 5 minutes, service, instance,
//    endpoint), as Loupe's 5-minute cells, which answer the endpoints;
//    both hold count, errors, elapsed sum and max, SQL count and time,
//    external count and time, and a t-digest quantile state;
//  - tx_by_id: (project, id, end time) ordered by id, so a lookup by id finds
//    the row's end time by primary key and then the row by primary key (as
//    Jaeger's ClickHouse schema keeps spans by trace id).
// Bytes on disk count every table of both sides (Loupe: segments and rollup
// files).
//
// Ingest, the same stage on both sides: each store's write API from a batch
// in the client's memory to compressed files on disk, synchronously. Loupe:
// Append in batches of 500 (as the pipeline does), then Flush, which writes
// and fsyncs the chunk's segment and rollup files; ClickHouse: one RowBinary
// INSERT per chunk and table over loopback HTTP (its write API: transfer,
// decode, sort, compress and write a part, and the materialized views' parts;
// 18.16 does not fsync them). Neither side runs an ingest log or OTLP decode
// here (bench/ingest_durability.sh measures those end to end). Generation and
// RowBinary serialization are untimed. The chunks alternate between the sides
// (Loupe first in even chunks, ClickHouse first in odd ones), so both load in
// the same minutes. Reported both as wall time and as CPU time of the store:
// Loupe = this process's CPU while its part runs (Append, Flush and the flush
// threads); ClickHouse = the server process's CPU over the whole load (its
// background merges included), from /proc/PID/stat (--ch-pid).
//
// Queries: Loupe through query::ComputeXView / ComputeEndpoints /
// ComputeSeries and Store::Get in this process (no HTTP, no JSON: what the
// API handlers call); ClickHouse through equivalent SQL over its HTTP
// interface, timed as the client sees it (request, execution, transfer and
// parsing of the TSV answer). The repetitions alternate between the sides.
// Results of both sides are compared (counts, errors, cells, buckets, sums,
// steps) and every difference is printed.
//
// Talks to 127.0.0.1 only. Exit status 1 if a check failed.
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
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
        return Status::Internal("ClickHouse answered " + std::to_string(res.result_int()) + ": " +
                                res.body().substr(0, 2000));
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

// Rollups and the lookup order (issue 10), each a materialized view filled at
// INSERT into its own table (TO ...), so the tables are named, optimized and
// counted like the others. Buckets are µs like end_us; both rollups keep the
// fields of Loupe's cells (docs/format/rollup.md) with a t-digest in place of
// Loupe's log-bin histogram.
constexpr const char* kRollupStates =
    "n AggregateFunction(count), errors AggregateFunction(sum, UInt8), "
    "elapsed_sum AggregateFunction(sum, UInt32), elapsed_max AggregateFunction(max, UInt32), "
    "sql_count AggregateFunction(sum, UInt32), sql_us AggregateFunction(sum, Int64), "
    "external_count AggregateFunction(sum, UInt32), external_us AggregateFunction(sum, Int64), "
    "elapsed_q AggregateFunction(quantilesTDigest(0.5, 0.95, 0.99), UInt32)";
constexpr const char* kRollupSelect =
    "countState() AS n, sumState(error) AS errors, sumState(elapsed_us) AS elapsed_sum, "
    "maxState(elapsed_us) AS elapsed_max, sumState(sql_count) AS sql_count, "
    "sumState(sql_us) AS sql_us, sumState(external_count) AS external_count, "
    "sumState(external_us) AS external_us, "
    "quantilesTDigestState(0.5, 0.95, 0.99)(elapsed_us) AS elapsed_q";
constexpr const char* kDayPartition = "toDate(toDateTime(intDiv(bucket_us, 1000000)))";

// The statements that create the database's tables and views, in order.
std::vector<std::string> ChSchema(const std::string& db) {
  const std::string rollup_1m =
      "(project UInt32, bucket_us Int64, service LowCardinality(String), "
      "instance LowCardinality(String), " +
      std::string(kRollupStates) + ") ENGINE = AggregatingMergeTree PARTITION BY " + kDayPartition +
      " ORDER BY (project, bucket_us, service, instance)";
  const std::string rollup_5m =
      "(project UInt32, bucket_us Int64, service LowCardinality(String), "
      "instance LowCardinality(String), endpoint LowCardinality(String), " +
      std::string(kRollupStates) + ") ENGINE = AggregatingMergeTree PARTITION BY " + kDayPartition +
      " ORDER BY (project, bucket_us, service, instance, endpoint)";
  return {
      "CREATE TABLE " + db + ".tx " + kTxSchema,
      "CREATE TABLE " + db + ".steps " + kStepSchema,
      "CREATE TABLE " + db +
          ".tx_by_id (project UInt32, id UInt64, end_us Int64) "
          "ENGINE = MergeTree PARTITION BY toDate(toDateTime(intDiv(end_us, 1000000))) "
          "ORDER BY (project, id)",
      "CREATE MATERIALIZED VIEW " + db + ".tx_by_id_mv TO " + db +
          ".tx_by_id AS SELECT project, id, end_us FROM " + db + ".tx",
      "CREATE TABLE " + db + ".rollup_1m " + rollup_1m,
      "CREATE MATERIALIZED VIEW " + db + ".rollup_1m_mv TO " + db +
          ".rollup_1m AS SELECT project, intDiv(end_us, 60000000) * 60000000 AS bucket_us, "
          "service, instance, " +
          kRollupSelect + " FROM " + db + ".tx GROUP BY project, bucket_us, service, instance",
      "CREATE TABLE " + db + ".rollup_5m " + rollup_5m,
      "CREATE MATERIALIZED VIEW " + db + ".rollup_5m_mv TO " + db +
          ".rollup_5m AS SELECT project, intDiv(end_us, 300000000) * 300000000 AS bucket_us, "
          "service, instance, endpoint, " +
          kRollupSelect + " FROM " + db +
          ".tx GROUP BY project, bucket_us, service, instance, endpoint",
  };
}
constexpr const char* kChTables[] = {"tx", "steps", "tx_by_id", "rollup_1m", "rollup_5m"};

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
      row.push_back(
          line.substr(f, tab == std::string_view::npos ? std::string_view::npos : tab - f));
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
  double load_s = 0;      // timed ingest, wall (Loupe: Append + Flush; ClickHouse: INSERTs)
  double load_cpu_s = 0;  // CPU of the store during the load (-1: unknown)
  double steady_s = 0;    // compaction / OPTIMIZE FINAL, wall
  double steady_cpu_s = 0;
  uint64_t bytes = 0;  // on disk in the steady state
  uint64_t bytes_before_steady = 0;
  std::string detail;
};

// CPU seconds (user + system) of this process, all threads.
double SelfCpuSeconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
}

// CPU seconds (user + system) of another process, from /proc/PID/stat; -1
// when unknown.
double ProcessCpuSeconds(long pid) {
  if (pid <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string st((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const size_t close = st.rfind(')');
  if (close == std::string::npos) return -1;
  // Fields after the command: state is field 3; utime 14, stime 15.
  size_t pos = close + 2;
  unsigned long long utime = 0, stime = 0;
  for (int field = 3; field <= 15 && pos < st.size(); ++field) {
    const size_t sp = st.find(' ', pos);
    const std::string v = st.substr(pos, sp == std::string::npos ? std::string::npos : sp - pos);
    if (field == 14) utime = std::strtoull(v.c_str(), nullptr, 10);
    if (field == 15) stime = std::strtoull(v.c_str(), nullptr, 10);
    if (sp == std::string::npos) break;
    pos = sp + 1;
  }
  return static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
}

// Generates the data set in chunks and hands each, with its index, to
// `sink`; the generation is untimed.
void ForEachChunk(const DataSet& ds, size_t chunk,
                  const std::function<void(size_t, std::vector<model::Transaction>&)>& sink,
                  uint64_t* transactions, uint64_t* spans) {
  store::SyntheticWorkload::Options o;
  o.tps = ds.tps;
  o.seed = ds.seed;
  store::SyntheticWorkload w(o, ds.from_us);
  bool done = false;
  for (size_t index = 0; !done; ++index) {
    std::vector<model::Transaction> txs;
    txs.reserve(chunk);
    while (txs.size() < chunk) {
      model::Transaction tx = w.Next();
      if (tx.end_us >= ds.to_us) {
        done = true;
        break;
      }
      *spans += 1 + tx.steps.size();
      txs.push_back(std::move(tx));
    }
    *transactions += txs.size();
    if (!txs.empty()) sink(index, txs);
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

// Times `a` and `b` alternately (a first in even repetitions, b first in odd
// ones), so both sides meet the same load on a shared machine. Both get
// `warmup` untimed calls first; f(i) gets the repetition index (warm-ups
// -warmup..-1).
template <typename A, typename B>
std::pair<Latency, Latency> TimeBoth(int warmup, int reps, A&& a, B&& b) {
  for (int i = -warmup; i < 0; ++i) {
    a(i);
    b(i);
  }
  Latency la, lb;
  auto one = [](auto& f, int i, Latency& l) {
    const auto t0 = Clock::now();
    f(i);
    l.ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  };
  for (int i = 0; i < reps; ++i) {
    if (i % 2 == 0) {
      one(a, i, la);
      one(b, i, lb);
    } else {
      one(b, i, lb);
      one(a, i, la);
    }
  }
  return {std::move(la), std::move(lb)};
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
  long ch_pid = 0;   // clickhouse-server's pid, for its CPU time (0: not reported)
  double scale = 1;  // multiplies both data sets' TPS (quick trial runs)
};

// ---- the comparison ----

class Compare {
 public:
  explicit Compare(const Flags& f)
      : f_(f), ch_(f.ch_port, "allow_experimental_low_cardinality_type=1") {}

  // Loads the data set into both sides, chunk by chunk, alternating which
  // side goes first; then brings both to their steady state (Loupe: closed
  // partitions compacted; ClickHouse: one part per partition) and counts the
  // bytes. Every 1009th id goes to *sample_ids.
  void LoadBoth(const DataSet& ds, std::vector<model::TxId>* sample_ids, LoadResult* lr,
                LoadResult* cr) {
    // Loupe.
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
    // ClickHouse.
    Must(ch_.Query("DROP DATABASE IF EXISTS " + ds.ch_db), "dropping database");
    Must(ch_.Query("CREATE DATABASE " + ds.ch_db), "creating database");
    for (const std::string& sql : ChSchema(ds.ch_db)) Must(ch_.Query(sql), "creating the schema");
    const std::string ins_tx =
        "INSERT INTO " + ds.ch_db + ".tx (" + kTxColumns + ") FORMAT RowBinary";
    const std::string ins_steps =
        "INSERT INTO " + ds.ch_db + ".steps (" + kStepColumns + ") FORMAT RowBinary";

    LoadResult& l = *lr;
    LoadResult& c = *cr;
    uint64_t clamped = 0, n = 0;
    const double ch_cpu0 = ProcessCpuSeconds(f_.ch_pid);
    auto load_loupe = [&](std::vector<model::Transaction>& txs) {
      const double cpu0 = SelfCpuSeconds();
      const auto t0 = Clock::now();
      for (size_t i = 0; i < txs.size(); i += 500) {
        store::WriteBatch b;
        const size_t end = std::min(txs.size(), i + 500);
        b.transactions.assign(std::make_move_iterator(txs.begin() + i),
                              std::make_move_iterator(txs.begin() + end));
        Status a = s->Append(ds.project, std::move(b));
        if (!a.ok()) Die("appending", a);
      }
      // Synchronous like an INSERT: the chunk's segment and rollup files are
      // written (and fsync'd) before the clock stops, so no flush work of
      // this chunk overlaps the other side's turn or the generation.
      if (Status fl = s->Flush(); !fl.ok()) Die("flushing", fl);
      l.load_s += Seconds(t0, Clock::now());
      l.load_cpu_s += SelfCpuSeconds() - cpu0;
    };
    auto load_ch = [&](ChBodies& b) {
      const auto t0 = Clock::now();
      Must(ch_.Insert(ins_tx, std::move(b.tx)), "inserting transactions");
      Must(ch_.Insert(ins_steps, std::move(b.steps)), "inserting steps");
      c.load_s += Seconds(t0, Clock::now());
    };
    ForEachChunk(
        ds, f_.chunk,
        [&](size_t index, std::vector<model::Transaction>& txs) {
          for (const model::Transaction& tx : txs) {
            if (n++ % 1009 == 0) sample_ids->push_back(tx.id);
          }
          ChBodies b = SerializeForClickHouse(ds.project, txs);  // untimed
          clamped += b.clamped;
          if (index % 2 == 0) {
            load_loupe(txs);
            load_ch(b);
          } else {
            load_ch(b);
            load_loupe(txs);
          }
        },
        &l.transactions, &l.spans);
    c.transactions = l.transactions;
    c.spans = l.spans;
    const double ch_cpu1 = ProcessCpuSeconds(f_.ch_pid);
    c.load_cpu_s = ch_cpu0 < 0 || ch_cpu1 < 0 ? -1 : ch_cpu1 - ch_cpu0;
    Check(clamped == 0, "no elapsed value outside UInt32 (" + std::to_string(clamped) + ")");

    // Steady state, Loupe: the data's hours are long closed by the real clock.
    l.bytes_before_steady = Usage(*s, ds.project).disk_bytes();
    {
      const double cpu0 = SelfCpuSeconds();
      const auto c0 = Clock::now();
      if (Status cs = s->CompactClosedPartitions(); !cs.ok()) Die("compacting", cs);
      l.steady_s = Seconds(c0, Clock::now());
      l.steady_cpu_s = SelfCpuSeconds() - cpu0;
    }
    const store::ProjectUsage u = Usage(*s, ds.project);
    l.bytes = u.disk_bytes();
    char d[256];
    std::snprintf(d, sizeof d, "%llu segments in %llu partitions (segments %llu B, rollups %llu B)",
                  static_cast<unsigned long long>(u.segments),
                  static_cast<unsigned long long>(u.partitions),
                  static_cast<unsigned long long>(u.segment_bytes),
                  static_cast<unsigned long long>(u.rollup_bytes));
    l.detail = std::string(d) + SegmentBreakdown(ds.loupe_dir, l.transactions);
    const store::StoreStats ss = s->Stats();
    Check(ss.transactions == l.transactions, "Loupe stored " + std::to_string(ss.transactions) +
                                                 " of " + std::to_string(l.transactions) +
                                                 " transactions");

    // Steady state, ClickHouse. OPTIMIZE FINAL merges each partition into one
    // part; it does nothing while a background merge holds some of the parts,
    // so repeat until one active part per partition is left.
    c.bytes_before_steady = PartBytes(ds.ch_db, "");
    {
      const double cpu0 = ProcessCpuSeconds(f_.ch_pid);
      const auto o0 = Clock::now();
      for (const char* table : kChTables) {
        for (int i = 0; i < 600; ++i) {
          Must(ch_.Query("OPTIMIZE TABLE " + ds.ch_db + "." + table + " FINAL"), "optimizing");
          const std::string body = Must(
              ch_.Query("SELECT count(), uniqExact(partition) FROM system.parts WHERE active AND "
                        "database = '" +
                        ds.ch_db + "' AND table = '" + table + "'"),
              "reading parts");
          auto parts = ParseTsv(body);
          if (!parts.empty() && parts[0].size() == 2 && parts[0][0] == parts[0][1]) break;
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
      }
      c.steady_s = Seconds(o0, Clock::now());
      const double cpu1 = ProcessCpuSeconds(f_.ch_pid);
      c.steady_cpu_s = cpu0 < 0 || cpu1 < 0 ? -1 : cpu1 - cpu0;
    }
    c.bytes = PartBytes(ds.ch_db, "");
    c.detail = "tables, B/tx:";
    char b[128];
    for (const char* table : kChTables) {
      std::snprintf(b, sizeof b, " %s %.1f", table,
                    static_cast<double>(PartBytes(ds.ch_db, table)) / c.transactions);
      c.detail += b;
    }
    c.detail += "; largest columns, B/tx:";
    const std::string cols = Must(
        ch_.Query("SELECT table, name, data_compressed_bytes FROM system.columns WHERE database "
                  "= '" +
                  ds.ch_db + "' ORDER BY data_compressed_bytes DESC LIMIT 10"),
        "reading system.columns");
    for (const auto& col : ParseTsv(cols)) {
      std::snprintf(b, sizeof b, " %s.%s %.1f", std::string(col[0]).c_str(),
                    std::string(col[1]).c_str(), static_cast<double>(Int(col[2])) / c.transactions);
      c.detail += b;
    }
    const std::string counted =
        Must(ch_.Query("SELECT (SELECT count() FROM " + ds.ch_db + ".tx), (SELECT count() FROM " +
                       ds.ch_db + ".steps), (SELECT count() FROM " + ds.ch_db +
                       ".tx_by_id), (SELECT countMerge(n) FROM " + ds.ch_db +
                       ".rollup_1m), (SELECT countMerge(n) FROM " + ds.ch_db + ".rollup_5m)"),
             "counting");
    auto cnt = ParseTsv(counted);
    const bool five = !cnt.empty() && cnt[0].size() == 5;
    Check(five && static_cast<uint64_t>(Int(cnt[0][0])) == c.transactions &&
              static_cast<uint64_t>(Int(cnt[0][0]) + Int(cnt[0][1])) == c.spans &&
              static_cast<uint64_t>(Int(cnt[0][2])) == c.transactions &&
              static_cast<uint64_t>(Int(cnt[0][3])) == c.transactions &&
              static_cast<uint64_t>(Int(cnt[0][4])) == c.transactions,
          "ClickHouse holds " + std::string(five ? cnt[0][0] : "?") + " transactions, " +
              std::string(five ? cnt[0][1] : "?") + " steps; by id " +
              std::string(five ? cnt[0][2] : "?") + ", in the minute and 5-minute rollups " +
              std::string(five ? cnt[0][3] : "?") + " and " + std::string(five ? cnt[0][4] : "?"));
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
    std::string sql =
        "SELECT sum(bytes_on_disk) FROM system.parts WHERE active AND database = '" + db + "'";
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
      "  %-10s %llu tx, %llu spans: load %.2f s wall = %.0f tx/s, %.0f spans/s; store CPU %.2f s "
      "= %.0f spans per CPU s; to steady state + %.2f s wall, %.2f s CPU; %llu B on disk (%.1f "
      "B/tx, %.1f B/span; %llu B before); %s\n",
      side, static_cast<unsigned long long>(r.transactions),
      static_cast<unsigned long long>(r.spans), r.load_s, r.transactions / r.load_s,
      r.spans / r.load_s, r.load_cpu_s, r.load_cpu_s > 0 ? r.spans / r.load_cpu_s : 0, r.steady_s,
      r.steady_cpu_s, static_cast<unsigned long long>(r.bytes),
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
  AddRow(name + ": ingest, spans/s (wall)", l.spans / l.load_s, c.spans / c.load_s, "spans/s",
         true);
  if (l.load_cpu_s > 0 && c.load_cpu_s > 0) {
    AddRow(name + ": ingest, spans per store CPU s", l.spans / l.load_cpu_s, c.spans / c.load_cpu_s,
           "spans/s", true);
  }
  AddRow(name + ": ingest to steady state, spans/s (wall)", l.spans / (l.load_s + l.steady_s),
         c.spans / (c.load_s + c.steady_s), "spans/s", true);
  if (l.load_cpu_s > 0 && c.load_cpu_s > 0 && c.steady_cpu_s >= 0) {
    AddRow(name + ": to steady state, spans per store CPU s",
           l.spans / (l.load_cpu_s + l.steady_cpu_s), c.spans / (c.load_cpu_s + c.steady_cpu_s),
           "spans/s", true);
  }
  AddRow(name + ": bytes on disk (all tables / files)", static_cast<double>(l.bytes),
         static_cast<double>(c.bytes), "B", false);
}

// ---- queries ----

void QueryHour(Compare& cmp, const DataSet& ds, const std::vector<model::TxId>& ids,
               const Flags& fl) {
  store::Store& s = cmp.loupe(ds.name);
  store::TxFilter f;
  f.from_us = ds.from_us;
  f.to_us = ds.to_us;
  const std::string where = " WHERE project = " + std::to_string(ds.project) +
                            " AND end_us >= " + std::to_string(ds.from_us) + " AND end_us < " +
                            std::to_string(ds.to_us);
  const std::string F = std::to_string(ds.from_us), W = std::to_string(ds.to_us - ds.from_us);

  // X-View binned: 600 × 100 cells, log-scaled elapsed between the data's
  // min (at least 0.1 ms) and max, as query::ComputeXView.
  {
    query::XViewOptions xo;
    query::XView lx;
    auto loupe_xview = [&](int) {
      auto r = query::ComputeXView(s, ds.project, f, xo);
      if (!r.ok()) Die("xview", r.status());
      lx = std::move(*r);
    };
    const std::string sql =
        "WITH (SELECT (greatest(100, min(elapsed_us)), max(elapsed_us)) FROM " + ds.ch_db + ".tx" +
        where +
        ") AS mm, mm.1 AS lo, if(mm.2 <= lo, lo * 10, mm.2) AS hi "
        "SELECT intDiv((end_us - " +
        F + ") * " + std::to_string(xo.x_bins) + ", " + W + ") AS x, least(" +
        std::to_string(xo.y_bins - 1) +
        ", greatest(0, toInt32(floor(log(greatest(elapsed_us, 1) / lo) / log(hi / lo) * " +
        std::to_string(xo.y_bins) + ")))) AS y, count(), sum(error) FROM " + ds.ch_db + ".tx" +
        where + " GROUP BY x, y FORMAT TabSeparated";
    std::vector<std::vector<std::string_view>> rows;
    std::string body;
    auto [ll, cl] = TimeBoth(2, fl.reps, loupe_xview, [&](int) {
      body = cmp.Must(cmp.ch().Query(sql), "xview");
      rows = ParseTsv(body);
    });
    PrintLatency("Loupe", "xview hour (600x100 bins)", ll);
    PrintLatency("ClickHouse", "xview hour (600x100 bins)", cl);
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
        diff_rows += static_cast<uint64_t>(
            std::abs(static_cast<int64_t>(cc[i]) - static_cast<int64_t>(lx.bins.count[i])));
      }
    }
    Check(lx.total == total && lerrors == errors, "xview: " + std::to_string(lx.total) + " vs " +
                                                      std::to_string(total) + " transactions, " +
                                                      std::to_string(lerrors) + " vs " +
                                                      std::to_string(errors) + " errors");
    std::printf(
        "  note       xview cells differing: %llu of %zu (|count diff| sum %llu: rows on a "
        "log-bin edge, rounded differently)\n",
        static_cast<unsigned long long>(diff_cells), cc.size(),
        static_cast<unsigned long long>(diff_rows));
    AddRow("xview 1 h, median", ll.Median(), cl.Median(), "ms", false);
    AddRow("xview 1 h, p99", ll.P99(), cl.P99(), "ms", false);
  }

  // Endpoints: per (service, endpoint) count, errors, avg/max, p50/p95/p99,
  // avg SQL count/ms, avg external ms. Loupe from its 5-minute cells,
  // ClickHouse from rollup_5m (the range is on 5-minute boundaries, so the
  // cells cover it exactly). Percentiles are approximate on both sides
  // (Loupe: a log bin's middle, ±6.1 %; ClickHouse: a t-digest): each is
  // compared with the exact ones from raw rows (untimed).
  {
    constexpr int64_t k5Min = 300'000'000;
    Check(ds.from_us % k5Min == 0 && ds.to_us % k5Min == 0,
          "endpoints: the range is on 5-minute boundaries (rollup_5m answers it exactly)");
    std::vector<query::EndpointStats> le;
    std::string source;
    auto loupe_endpoints = [&](int) {
      auto r = query::ComputeEndpoints(s, ds.project, f, &source);
      if (!r.ok()) Die("endpoints", r.status());
      le = std::move(*r);
    };
    const std::string sql =
        "SELECT service, endpoint, countMerge(n) AS c, sumMerge(errors), "
        "sumMerge(elapsed_sum) / c / 1000, maxMerge(elapsed_max) / 1000, "
        "quantilesTDigestMerge(0.5, 0.95, 0.99)(elapsed_q), sumMerge(sql_count) / c, "
        "sumMerge(sql_us) / c / 1000, sumMerge(external_us) / c / 1000 FROM " +
        ds.ch_db + ".rollup_5m WHERE project = " + std::to_string(ds.project) +
        " AND bucket_us >= " + F + " AND bucket_us < " + std::to_string(ds.to_us) +
        " GROUP BY service, endpoint ORDER BY c DESC, service, endpoint FORMAT TabSeparated";
    std::vector<std::vector<std::string_view>> rows;
    std::string body;
    auto [ll, cl] = TimeBoth(2, fl.reps, loupe_endpoints, [&](int) {
      body = cmp.Must(cmp.ch().Query(sql), "endpoints");
      rows = ParseTsv(body);
    });
    PrintLatency("Loupe", "endpoints hour", ll);
    PrintLatency("ClickHouse", "endpoints hour (rollup_5m)", cl);
    const std::string exact_body = cmp.Must(
        // quantilesExact takes the value at 0-based index floor(p*n); at p
        // just below, the one before it when p*n is whole: together, both
        // rank conventions (Loupe's nearest rank is ceil(p*n), 1-based).
        cmp.ch().Query("SELECT service, endpoint, count(), quantilesExact(0.5, 0.95, 0.99, "
                       "0.4999999999, 0.9499999999, 0.9899999999)(elapsed_us) FROM " +
                       ds.ch_db + ".tx" + where +
                       " GROUP BY service, endpoint FORMAT TabSeparated"),
        "exact percentiles");
    std::map<std::pair<std::string, std::string>, std::vector<double>> exact;
    for (const auto& r : ParseTsv(exact_body)) {
      exact[{std::string(r[0]), std::string(r[1])}] = NumArray(r[3]);
    }
    std::map<std::pair<std::string, std::string>, const std::vector<std::string_view>*> by;
    for (const auto& r : rows) by[{std::string(r[0]), std::string(r[1])}] = &r;
    size_t same_counts = 0, same_avg = 0, loupe_outside = 0;
    double loupe_dev = 0, ch_dev = 0;  // largest |approx − exact| / exact
    for (const query::EndpointStats& e : le) {
      auto it = by.find({e.service, e.endpoint});
      if (it == by.end()) continue;
      const auto& r = *it->second;
      if (static_cast<uint64_t>(Int(r[2])) == e.count &&
          static_cast<uint64_t>(Int(r[3])) == e.errors && std::abs(Num(r[5]) - e.max_ms) < 1e-6) {
        ++same_counts;
      }
      if (std::abs(Num(r[4]) - e.avg_ms) < 1e-6 * std::max(1.0, e.avg_ms) &&
          std::abs(Num(r[7]) - e.avg_sql_count) < 1e-6 &&
          std::abs(Num(r[8]) - e.avg_sql_ms) < 1e-6 * std::max(1.0, e.avg_sql_ms) &&
          std::abs(Num(r[9]) - e.avg_external_ms) < 1e-6 * std::max(1.0, e.avg_external_ms)) {
        ++same_avg;
      }
      auto ex = exact.find({e.service, e.endpoint});
      const std::vector<double> q = NumArray(r[6]);
      if (ex == exact.end() || ex->second.size() != 6 || q.size() != 3) {
        ++loupe_outside;
        continue;
      }
      const double lp[3] = {e.p50_ms, e.p95_ms, e.p99_ms};
      for (int k = 0; k < 3; ++k) {
        const double x = ex->second[k] / 1000;       // exact at floor(p*n), ms
        const double x1 = ex->second[k + 3] / 1000;  // exact at ceil(p*n) - 1
        if (x <= 0 || x1 <= 0) continue;
        const double ld = std::min(std::abs(lp[k] - x) / x, std::abs(lp[k] - x1) / x1);
        ch_dev = std::max(ch_dev,
                          std::min(std::abs(q[k] / 1000 - x) / x, std::abs(q[k] / 1000 - x1) / x1));
        loupe_dev = std::max(loupe_dev, ld);
        // Raw rows: exact under one of the conventions; rollups: within half
        // a histogram bin (store/rollup.h).
        if (ld > (source == "raw" ? 1e-9 : 0.0607 + 1e-9)) ++loupe_outside;
      }
    }
    Check(le.size() == rows.size() && same_counts == le.size() && same_avg == le.size(),
          "endpoints: " + std::to_string(le.size()) + " vs " + std::to_string(rows.size()) +
              " groups; count, errors, max equal in " + std::to_string(same_counts) +
              ", averages (elapsed, SQL count and time, external time) in " +
              std::to_string(same_avg));
    Check(loupe_outside == 0, "endpoints: Loupe's percentiles (from " + source +
                                  ") within their bound of the exact ones (" +
                                  std::to_string(loupe_outside) + " outside)");
    std::printf(
        "  note       endpoints: largest percentile deviation from the exact value: "
        "Loupe %.2f %%, ClickHouse t-digest %.2f %%\n",
        100 * loupe_dev, 100 * ch_dev);
    AddRow("endpoints 1 h, median", ll.Median(), cl.Median(), "ms", false);
    AddRow("endpoints 1 h, p99", ll.P99(), cl.P99(), "ms", false);
  }

  // A transaction with its profile by id. ClickHouse: the row through
  // tx_by_id (its end time by primary key, then the row by the tx table's
  // primary key, in one statement) and the steps by primary key; two
  // requests, as a store would send them.
  {
    std::mt19937_64 rng(7);
    std::vector<model::TxId> pick(static_cast<size_t>(fl.get_reps) + 2);
    for (auto& id : pick) id = ids[rng() % ids.size()];
    std::vector<size_t> lsteps(pick.size()), csteps(pick.size());
    std::vector<std::string> lend(pick.size()), cend(pick.size());
    std::vector<int64_t> lel(pick.size()), cel(pick.size());
    const std::string P = std::to_string(ds.project);
    // Warm-up runs use indexes 0 and 1, timed ones 2.. (i + 2).
    auto loupe_get = [&](int i) {
      const size_t k = static_cast<size_t>(i + 2);
      auto r = s.Get(ds.project, pick[k]);
      if (!r.ok()) Die("get", r.status());
      lsteps[k] = r->steps.size();
      lend[k] = r->endpoint;
      lel[k] = r->elapsed_us();
    };
    auto ch_get = [&](int i) {
      const size_t k = static_cast<size_t>(i + 2);
      const std::string id = std::to_string(pick[k]);
      std::string tx = cmp.Must(
          cmp.ch().Query("SELECT " + std::string(kTxColumns) + " FROM " + ds.ch_db +
                         ".tx WHERE project = " + P + " AND end_us IN (SELECT end_us FROM " +
                         ds.ch_db + ".tx_by_id WHERE project = " + P + " AND id = " + id +
                         ") AND id = " + id + " FORMAT TabSeparated"),
          "get tx");
      std::string st =
          cmp.Must(cmp.ch().Query("SELECT " + std::string(kStepColumns) + " FROM " + ds.ch_db +
                                  ".steps WHERE project = " + P + " AND tx_id = " + id +
                                  " ORDER BY start_us FORMAT TabSeparated"),
                   "get steps");
      auto txr = ParseTsv(tx);
      auto str = ParseTsv(st);
      csteps[k] = str.size();
      const bool one = txr.size() == 1 && txr[0].size() > 10;
      cend[k] = one ? std::string(txr[0][10]) : "?";
      cel[k] = one ? Int(txr[0][2]) : -1;
    };
    auto [ll, cl] = TimeBoth(2, fl.get_reps, loupe_get, ch_get);
    PrintLatency("Loupe", "transaction + profile by id", ll);
    PrintLatency("ClickHouse", "transaction + profile by id", cl);
    size_t same = 0;
    for (size_t i = 0; i < pick.size(); ++i) {
      same += lsteps[i] == csteps[i] && lend[i] == cend[i] && lel[i] == cel[i];
    }
    Check(same == pick.size(), "get: endpoint, elapsed and step count equal for " +
                                   std::to_string(same) + " of " + std::to_string(pick.size()) +
                                   " ids");
    AddRow("tx + profile by id, median", ll.Median(), cl.Median(), "ms", false);
    AddRow("tx + profile by id, p99", ll.P99(), cl.P99(), "ms", false);
  }
}

void QueryDay(Compare& cmp, const DataSet& ds, const Flags& fl) {
  store::Store& s = cmp.loupe(ds.name);
  store::TxFilter f;
  f.from_us = ds.from_us;
  f.to_us = ds.to_us;
  constexpr int64_t kMinute = 60'000'000;
  Check(ds.from_us % kMinute == 0 && ds.to_us % kMinute == 0,
        "series: the range is on minute boundaries (rollup_1m answers it exactly)");
  // Both sides from their minute cells per service and instance (Loupe:
  // .r1m files; ClickHouse: rollup_1m).
  for (int64_t step_s : {60, 300}) {
    const int64_t step_us = step_s * 1'000'000;
    query::Series ls;
    auto loupe_series = [&](int) {
      auto r = query::ComputeSeries(s, ds.project, f, query::Metric::kTps, step_us,
                                    query::GroupBy::kNone);
      if (!r.ok()) Die("series", r.status());
      ls = std::move(*r);
    };
    const int64_t from = ds.from_us / step_us * step_us;  // from_us > 0
    const std::string sql =
        "SELECT intDiv(bucket_us - " + std::to_string(from) + ", " + std::to_string(step_us) +
        ") AS b, countMerge(n) / " + std::to_string(step_s) + " FROM " + ds.ch_db +
        ".rollup_1m WHERE project = " + std::to_string(ds.project) +
        " AND bucket_us >= " + std::to_string(ds.from_us) + " AND bucket_us < " +
        std::to_string(ds.to_us) + " GROUP BY b ORDER BY b FORMAT TabSeparated";
    std::vector<std::vector<std::string_view>> rows;
    std::string body;
    auto [ll, cl] = TimeBoth(2, fl.reps, loupe_series, [&](int) {
      body = cmp.Must(cmp.ch().Query(sql), "series");
      rows = ParseTsv(body);
    });
    const std::string what = "series tps 24 h, step " + std::to_string(step_s) + " s";
    PrintLatency("Loupe", what, ll);
    PrintLatency("ClickHouse", what + " (rollup_1m)", cl);
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
    Check(ls.buckets > 0 && same == ls.buckets && !ls.lines.empty(),
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
    } else if (a == "--ch-pid") {
      fl.ch_pid = std::stol(next());
    } else if (a == "--keep") {
      fl.keep = true;
    } else {
      std::fprintf(stderr,
                   "usage: clickhouse_compare [--ch-port 18123] [--dir DIR] [--chunk 100000] "
                   "[--reps 20] [--get-reps 200] [--only hour|day] [--scale 1] [--ch-pid PID] "
                   "[--keep]\n");
      return 2;
    }
  }
  constexpr int64_t kHourUs = 3'600'000'000;
  constexpr int64_t kDay0 = 1'699'920'000'000'000;  // 2023-11-14 00:00 UTC
  constexpr int64_t kHour0 = kDay0 + 10 * kHourUs;  // 10:00 that day
  const DataSet hour{"hour", 1000 * fl.scale, kHour0,          kHour0 + kHourUs, 1,
                     1,      "loupe_hour",    fl.dir + "/hour"};
  const DataSet day{"day",       3'600'000.0 / 86'400 * fl.scale,
                    kDay0,       kDay0 + 24 * kHourUs,
                    2,           1,
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
    LoadResult l, c;
    cmp.LoadBoth(*ds, &ids, &l, &c);
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
