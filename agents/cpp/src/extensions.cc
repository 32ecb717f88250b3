// The Loupe extension thread (docs/format/agent-protocol.md): active
// snapshots every snapshot_interval_ms, active-stack samples of transactions
// past the configured threshold, and the configuration (at start, every
// config_poll_interval_ms, and at once when a snapshot answer names another
// version).

#include <algorithm>
#include <cstdio>
#include <chrono>
#include <cstring>

#include "agent_internal.h"
#include "crash_handler.h"
#include "json.h"
#include "native_stack.h"

namespace loupe {
namespace {

std::string UrlEncode(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

const char* KindName(Step::Kind k) {
  switch (k) {
    case Step::kSql:
      return "sql";
    case Step::kExternal:
      return "external";
    case Step::kMessage:
      return "message";
    default:
      return "method";
  }
}

std::string StepText(const internal::StepRecord& r) {
  std::string s;
  if (r.kind == Step::kExternal && !r.system.empty()) s.append(r.system).append(" ");
  s.append(r.text);
  return s;
}

}  // namespace

void Agent::Impl::SendCrashReports(internal::HttpClient* client) {
  if (crash_dir.empty()) return;
  internal::RemoveStaleCrashTemps(crash_dir, options.service);
  for (const std::string& path : internal::FindCrashReports(crash_dir, options.service)) {
    std::string text;
    if (FILE* f = std::fopen(path.c_str(), "rb")) {
      char buf[4096];
      size_t n;
      while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0 && text.size() < (1u << 20)) {
        text.append(buf, n);
      }
      std::fclose(f);
    }
    std::string body;
    if (!internal::CrashReportJson(text, &body)) {
      std::remove(path.c_str());  // cut short before its signal: nothing to tell
      continue;
    }
    internal::HttpResponse resp;
    std::string error;
    if (client->Request("POST", "/v1/loupe/crash", AuthHeaders("application/json"), body, &resp,
                        &error) &&
        resp.status == 200) {
      std::remove(path.c_str());
      crash_reports_sent.fetch_add(1, std::memory_order_relaxed);
    } else if (resp.status == 400) {
      std::remove(path.c_str());  // the server will never take it
    }  // else kept for the next start
  }
}

void Agent::Impl::ExtensionLoop() {
  internal::NameThisThread("loupe-active");
  internal::HttpClient client(options.endpoint, options.request_timeout_ms, &cancel_extensions);
  uint64_t now = internal::NowSteadyMs();
  uint64_t next_config = now;
  uint64_t next_snapshot = now + std::max(10, options.snapshot_interval_ms);
  uint64_t next_sample = now + config()->stack_interval_ms;
  SendCrashReports(&client);
  for (;;) {
    now = internal::NowSteadyMs();
    if (config_refetch.exchange(false) || now >= next_config) {
      if (FetchConfig(&client)) {
        next_sample = std::min(next_sample, internal::NowSteadyMs() + config()->stack_interval_ms);
      }
      next_config = internal::NowSteadyMs() + std::max(100, options.config_poll_interval_ms);
    }
    const auto cfg = config();
    now = internal::NowSteadyMs();
    if (now >= next_sample) {
      SampleStacks(internal::NowUnixNanos());
      next_sample = now + cfg->stack_interval_ms;
    }
    if (now >= next_snapshot) {
      uint64_t server_version = 0;
      if (SendSnapshot(&client, &server_version) && server_version != 0 &&
          server_version != config_version.load(std::memory_order_relaxed)) {
        config_refetch.store(true);
      }
      next_snapshot = internal::NowSteadyMs() + std::max(10, options.snapshot_interval_ms);
    }
    const uint64_t wake = std::min({next_config, next_sample, next_snapshot});
    std::unique_lock<std::mutex> l(mu);
    if (stopping) break;
    if (config_refetch.load()) continue;
    const uint64_t t = internal::NowSteadyMs();
    if (wake > t) {
      cv.wait_for(l, std::chrono::milliseconds(wake - t), [&] { return stopping; });
    }
    if (stopping) break;
  }
}

bool Agent::Impl::FetchConfig(internal::HttpClient* client) {
  internal::HttpResponse resp;
  std::string error;
  const std::string path =
      "/v1/loupe/config?service=" + UrlEncode(options.service) + "&instance=" + UrlEncode(instance);
  auto headers = AuthHeaders("application/json");
  headers.erase(headers.begin());  // no body, no Content-Type
  if (!client->Request("GET", path, headers, {}, &resp, &error) || resp.status != 200) {
    return false;
  }
  internal::AgentConfig c;
  if (!internal::ParseAgentConfig(resp.body, &c, &error)) return false;
  ApplyConfig(std::move(c));
  return true;
}

void Agent::Impl::SampleStacks(uint64_t now_ns) {
  const auto cfg = config();
  const size_t first_new = samples.size();
  const uint64_t threshold_ns = static_cast<uint64_t>(cfg->stack_threshold_ms) * 1000000u;
  for (Shard& sh : shards) {
    std::lock_guard<std::mutex> l(sh.mu);
    for (Transaction::State* s = sh.head; s != nullptr; s = s->reg_next) {
      if (now_ns < s->start_ns || now_ns - s->start_ns < threshold_ns) continue;
      stack_samples.fetch_add(1, std::memory_order_relaxed);
      if (samples.size() >= internal::kMaxSnapshotStacks) {
        stack_samples_dropped.fetch_add(1, std::memory_order_relaxed);
        continue;
      }
      StackSample sample;
      sample.time_ms = now_ns / 1000000;
      sample.tx_id = internal::Hex(s->span_id, 8);
      sample.endpoint = std::string(s->endpoint.substr(0, internal::kMaxSnapshotString));
      sample.elapsed_ms = static_cast<double>(now_ns - s->start_ns) / 1e6;
      sample.frames.push_back(sample.endpoint);
      {
        std::lock_guard<internal::SpinLock> sl(s->lock);
        std::vector<int32_t> open;
        for (int32_t i = s->open_top; i >= 0; i = s->steps[i].parent) {
          if (s->steps[i].open) open.push_back(i);
        }
        for (auto it = open.rbegin(); it != open.rend(); ++it) {
          if (sample.frames.size() >= internal::kMaxFrames) break;
          const internal::StepRecord& r = s->steps[*it];
          std::string f = std::string(KindName(r.kind)) + " " + StepText(r);
          if (f.size() > internal::kMaxSnapshotString) f.resize(internal::kMaxSnapshotString);
          sample.frames.push_back(std::move(f));
        }
      }
      if (native_stacks) {
        sample.thread_id = s->thread_id;
        sample.state = s;
        sample.shard = s->shard;
      }
      samples.push_back(std::move(sample));
    }
  }
  if (native_stacks) AddNativeFrames(first_new);
}

// Outside the registry lock: a sample interrupts the transaction's thread and
// waits for it (microseconds; at most 20 ms when the thread has the signal
// blocked), which must not hold up transactions starting or ending.
void Agent::Impl::AddNativeFrames(size_t first) {
  constexpr size_t kMaxNativePerRound = 100;
  size_t done = 0;
  for (size_t i = first; i < samples.size() && done < kMaxNativePerRound; ++i) {
    StackSample& sample = samples[i];
    if (sample.thread_id == 0 || sample.frames.size() >= internal::kMaxFrames) continue;
    ++done;
    std::vector<std::string> native = internal::NativeStackSampler::Sample(
        sample.thread_id, internal::kMaxFrames - sample.frames.size());
    if (native.empty()) continue;
    // Keep the frames only if the same transaction is still running: then
    // the thread was inside it when it took the signal.
    bool same = false;
    {
      std::lock_guard<std::mutex> l(shards[sample.shard].mu);
      for (Transaction::State* s = shards[sample.shard].head; s != nullptr; s = s->reg_next) {
        if (s == sample.state) {
          same = internal::Hex(s->span_id, 8) == sample.tx_id;
          break;
        }
      }
    }
    if (!same) continue;
    for (std::string& f : native) {
      if (f.size() > internal::kMaxSnapshotString) f.resize(internal::kMaxSnapshotString);
      sample.frames.push_back(std::move(f));
    }
  }
}

std::string Agent::Impl::BuildSnapshotJson(uint64_t now_ns) {
  using internal::AppendJsonNumber;
  using internal::AppendJsonString;
  constexpr size_t kStr = internal::kMaxSnapshotString;
  // Budget: the active list may use most of the body, then stacks, then
  // throttling entries; each stops (and the rest waits or is dropped) at its cap.
  constexpr size_t kActiveBudget = 600 * 1024;
  constexpr size_t kStacksBudget = 850 * 1024;
  std::string out;
  out.reserve(4096);
  out.append("{\"service\":");
  AppendJsonString(&out, options.service, kStr);
  out.append(",\"instance\":");
  AppendJsonString(&out, instance, kStr);
  out.append(",\"host\":");
  AppendJsonString(&out, host, kStr);
  out.append(",\"pid\":").append(std::to_string(pid));
  out.append(",\"agent\":\"loupe-cpp/0.1\",\"started_ms\":").append(std::to_string(started_ms));
  out.append(",\"time_ms\":").append(std::to_string(now_ns / 1000000));

  // Copied under each shard's lock into rows reused from snapshot to
  // snapshot (their strings keep their capacity), formatted after it is
  // released: a transaction starting or ending on that shard waits for a
  // few copies per active transaction, not for their JSON (hex, escaping,
  // number formatting), which perf of bench/agent_benchmark.cc had shown as
  // the rare sleeps of the application thread on the shard mutex.
  size_t rows = 0;
  size_t bytes = out.size();
  bool full = false;
  for (Shard& sh : shards) {
    if (full) break;
    std::lock_guard<std::mutex> l(sh.mu);
    for (Transaction::State* s = sh.head; s != nullptr; s = s->reg_next) {
      if (rows >= internal::kMaxSnapshotActive || bytes > kActiveBudget) {
        full = true;
        break;
      }
      if (rows == active_rows.size()) active_rows.emplace_back();
      ActiveRow& row = active_rows[rows++];
      std::memcpy(row.span_id, s->span_id, 8);
      std::memcpy(row.trace_id, s->trace_id, 16);
      row.start_ns = s->start_ns;
      row.thread_id = s->thread_id;
      // Cut a little past kStr: AppendJsonString cuts at kStr without
      // splitting a UTF-8 sequence, which it can only do with the bytes after.
      row.endpoint.assign(s->endpoint.substr(0, kStr + 8));
      row.step_kind = nullptr;
      {
        std::lock_guard<internal::SpinLock> sl(s->lock);
        row.user.assign(s->user);
        row.client_ip.assign(s->client_ip);
        row.step.clear();
        for (int32_t i = s->open_top; i >= 0; i = s->steps[i].parent) {
          const internal::StepRecord& r = s->steps[i];
          if (r.open) {
            if (r.kind == Step::kExternal && !r.system.empty()) row.step.append(r.system).append(" ");
            row.step.append(r.text.substr(0, kStr + 8));
            row.step_kind = KindName(r.kind);
            break;
          }
        }
      }
      // The formatted row's size: its texts (escaping may add to them) plus
      // ~190 bytes of names, ids and numbers.
      bytes += 190 + row.endpoint.size() + row.step.size() + row.user.size() + row.client_ip.size();
    }
  }
  out.append(",\"active\":[");
  for (size_t n = 0; n < rows; ++n) {
    const ActiveRow& r = active_rows[n];
    if (n > 0) out.push_back(',');
    out.append("{\"id\":\"").append(internal::Hex(r.span_id, 8));
    out.append("\",\"trace_id\":\"").append(internal::Hex(r.trace_id, 16));
    out.append("\",\"endpoint\":");
    AppendJsonString(&out, r.endpoint, kStr);
    out.append(",\"start_ms\":").append(std::to_string(r.start_ns / 1000000));
    out.append(",\"elapsed_ms\":");
    AppendJsonNumber(&out,
                     now_ns > r.start_ns ? static_cast<double>(now_ns - r.start_ns) / 1e6 : 0);
    out.append(",\"thread\":\"").append(std::to_string(r.thread_id)).append("\"");
    if (r.step_kind != nullptr) {
      out.append(",\"step\":");
      AppendJsonString(&out, r.step, kStr);
      out.append(",\"step_kind\":\"").append(r.step_kind).append("\"");
    }
    if (!r.user.empty()) {
      out.append(",\"user\":");
      AppendJsonString(&out, r.user, kStr);
    }
    if (!r.client_ip.empty()) {
      out.append(",\"client_ip\":");
      AppendJsonString(&out, r.client_ip, kStr);
    }
    out.push_back('}');
  }
  out.append("],\"stacks\":[");
  size_t sent = 0;
  for (const StackSample& s : samples) {
    if (out.size() > kStacksBudget) {
      stack_samples_dropped.fetch_add(samples.size() - sent, std::memory_order_relaxed);
      break;
    }
    if (sent++ > 0) out.push_back(',');
    out.append("{\"time_ms\":").append(std::to_string(s.time_ms));
    out.append(",\"tx_id\":\"").append(s.tx_id).append("\",\"endpoint\":");
    AppendJsonString(&out, s.endpoint, kStr);
    out.append(",\"elapsed_ms\":");
    AppendJsonNumber(&out, s.elapsed_ms);
    out.append(",\"frames\":[");
    for (size_t i = 0; i < s.frames.size(); ++i) {
      if (i > 0) out.push_back(',');
      AppendJsonString(&out, s.frames[i], kStr);
    }
    out.append("]}");
  }
  samples.clear();
  out.append("],\"throttled\":[");
  std::map<std::pair<std::string, int>, ThrottleEntry> log;
  {
    std::lock_guard<std::mutex> l(throttle_mu);
    log.swap(throttle_log);
  }
  size_t t = 0;
  for (const auto& [key, e] : log) {
    if (t++ > 0) out.push_back(',');
    out.append("{\"time_ms\":").append(std::to_string(e.time_ms)).append(",\"endpoint\":");
    AppendJsonString(&out, key.first, kStr);
    out.append(",\"action\":\"")
        .append(key.second == Admission::kRedirect ? "redirect" : "reject")
        .append("\",\"active\":")
        .append(std::to_string(e.active))
        .append(",\"limit\":")
        .append(std::to_string(e.limit))
        .append(",\"count\":")
        .append(std::to_string(e.count))
        .append("}");
  }
  out.append("],\"counters\":{\"transactions\":")
      .append(std::to_string(transactions.load(std::memory_order_relaxed)))
      .append(",\"exported\":")
      .append(std::to_string(exported.load(std::memory_order_relaxed)))
      .append(",\"dropped\":")
      .append(std::to_string(dropped_queue_full.load(std::memory_order_relaxed) +
                             dropped_export.load(std::memory_order_relaxed)))
      .append(",\"throttled\":")
      .append(std::to_string(throttled.load(std::memory_order_relaxed)))
      .append("}}");
  return out;
}

bool Agent::Impl::SendSnapshot(internal::HttpClient* client, uint64_t* server_version) {
  *server_version = 0;
  const std::string body = BuildSnapshotJson(internal::NowUnixNanos());
  internal::HttpResponse resp;
  std::string error;
  if (!client->Request("POST", "/v1/loupe/active", AuthHeaders("application/json"), body, &resp,
                       &error) ||
      resp.status != 200) {
    return false;
  }
  snapshots_sent.fetch_add(1, std::memory_order_relaxed);
  internal::JsonValue doc;
  if (internal::ParseJson(resp.body, &doc, &error)) {
    if (const internal::JsonValue* v = doc.Find("config_version");
        v != nullptr && v->type == internal::JsonValue::kNumber && v->num > 0) {
      *server_version = static_cast<uint64_t>(v->num);
    }
  }
  return true;
}

}  // namespace loupe
