#include "hostagent/agent.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <utility>

#include "common/logging.h"
#include "wire/otlp_metrics_proto.h"

namespace loupe::hostagent {
namespace {

constexpr uint64_t kNanosPerSecond = 1'000'000'000;
constexpr uint64_t kDropLogInterval = 60 * kNanosPerSecond;
// Requests sent per tick when the server is back: catching up on a full
// buffer takes a few intervals rather than one burst.
constexpr int kMaxSendsPerTick = 16;

uint64_t NowUnixNano() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

std::string FirstLine(ProcFs* fs, std::string_view path) {
  std::string_view text;
  if (!fs->Read(path, &text, 4096)) return "";
  text = text.substr(0, text.find('\n'));
  while (!text.empty() && (text.back() == ' ' || text.back() == '\r')) text.remove_suffix(1);
  return std::string(text);
}

bool Retryable(const Status& s) {
  return s.code() == Status::Code::kUnavailable || s.code() == Status::Code::kResourceExhausted ||
         s.code() == Status::Code::kIoError;
}

}  // namespace

HostIdentity ReadHostIdentity(const std::string& root) {
  ProcFs fs(root);
  HostIdentity id;
  id.name = FirstLine(&fs, "/proc/sys/kernel/hostname");
  if (id.name.empty()) {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) == 0) id.name = buf;
  }
  id.id = FirstLine(&fs, "/etc/machine-id");
  return id;
}

Agent::Agent(AgentOptions options, std::unique_ptr<Transport> transport)
    : options_(std::move(options)),
      transport_(std::move(transport)),
      collector_(options_.collector),
      host_(ReadHostIdentity(options_.collector.root)) {
  if (!options_.host_name.empty()) host_.name = options_.host_name;
  if (options_.interval_seconds < 1) options_.interval_seconds = 1;
}

Status Agent::Run() {
  const auto interval = std::chrono::seconds(options_.interval_seconds);
  auto next = std::chrono::steady_clock::now();
  while (!stop_.load()) {
    Status s = Tick(NowUnixNano());
    if (!s.ok() && stats_.collections == 0) return s;
    if (!s.ok()) LogWarningRateLimited("agent_collect", "agent: " + s.ToString());
    next += interval;
    // Sleep in short steps so that Stop() takes effect within 100 ms.
    while (!stop_.load() && std::chrono::steady_clock::now() < next) {
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          std::chrono::milliseconds(100), next - std::chrono::steady_clock::now()));
    }
  }
  return Status::OK();
}

Status Agent::Tick(uint64_t now_unix_nano) {
  if (start_unix_nano_ == 0) start_unix_nano_ = now_unix_nano;
  HostSnapshot snap;
  Status s = collector_.Collect(now_unix_nano, &snap);
  if (!s.ok()) return s;
  ++stats_.collections;
  model::MetricBatch batch;
  BuildMetrics(host_, start_unix_nano_, prev_ ? &*prev_ : nullptr, snap, &batch);
  prev_ = std::move(snap);
  std::string request;
  wire::EncodeMetricsProto(batch, &request);
  Enqueue(std::move(request));
  Flush(now_unix_nano);
  LogDrops(now_unix_nano);
  return Status::OK();
}

void Agent::Enqueue(std::string request) {
  stats_.buffered_bytes += request.size();
  buffer_.push_back(std::move(request));
  while (stats_.buffered_bytes > options_.max_buffer_bytes && buffer_.size() > 1) {
    stats_.buffered_bytes -= buffer_.front().size();
    buffer_.pop_front();
    ++stats_.dropped_full;
  }
  stats_.buffered = buffer_.size();
}

void Agent::Flush(uint64_t now_unix_nano) {
  if (now_unix_nano < next_attempt_unix_nano_) return;
  for (int i = 0; i < kMaxSendsPerTick && !buffer_.empty(); ++i) {
    Status s = transport_->SendMetrics(buffer_.front());
    if (!s.ok() && Retryable(s)) {
      ++stats_.send_failures;
      ++failures_in_a_row_;
      const uint64_t backoff =
          std::min<uint64_t>(uint64_t{static_cast<uint64_t>(options_.interval_seconds)}
                                 << std::min(failures_in_a_row_ - 1, 16),
                             static_cast<uint64_t>(options_.max_backoff_seconds));
      // Due a little before the tick it aims at, so that tick's timing jitter
      // does not push the retry one more interval back.
      next_attempt_unix_nano_ = now_unix_nano + backoff * kNanosPerSecond - kNanosPerSecond / 2;
      if (failures_in_a_row_ == 1) LogWarning("agent: " + s.ToString() + "; buffering");
      break;
    }
    if (s.ok()) {
      ++stats_.sent;
      if (failures_in_a_row_ > 0) LogInfo("agent: server reachable again");
      failures_in_a_row_ = 0;
    } else {
      ++stats_.dropped_refused;
      LogWarningRateLimited("agent_refused", "agent: request dropped: " + s.ToString());
    }
    stats_.buffered_bytes -= buffer_.front().size();
    buffer_.pop_front();
  }
  stats_.buffered = buffer_.size();
}

void Agent::LogDrops(uint64_t now_unix_nano) {
  const uint64_t drops = stats_.dropped_full + stats_.dropped_refused;
  if (drops == drops_logged_ || now_unix_nano - drops_logged_at_ < kDropLogInterval) return;
  LogWarning("agent: " + std::to_string(drops - drops_logged_) +
             " requests dropped in the last minute (" + std::to_string(stats_.dropped_full) +
             " for a full buffer, " + std::to_string(stats_.dropped_refused) +
             " refused by the server, in total); " + std::to_string(stats_.buffered) + " waiting");
  drops_logged_ = drops;
  drops_logged_at_ = now_unix_nano;
}

}  // namespace loupe::hostagent
