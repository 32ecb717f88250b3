// Agent: the loop of `loupe agent`. Every interval it collects a snapshot
// (Collector), turns it into OTLP metrics (BuildMetrics), encodes them and
// sends the request through its Transport.
//
// When the server cannot take a request (no connection, timeout, 5xx, 429)
// the request waits in a bounded in-memory buffer and is retried, oldest
// first, after a backoff that doubles from one interval up to
// max_backoff_seconds; collections go on meanwhile. When the buffer is full
// the oldest request is dropped. A request the server refuses as such (400,
// 401, 403, 413, 415) is dropped at once: sending it again would fail again.
// Drops are counted (stats()) and logged at most once a minute.
//
// Thread-safety: Run() on one thread; Stop() from any thread or a signal
// handler (it only sets an atomic flag); Run() returns within 100 ms, or
// after the request in flight (bounded by the transport's timeout).
#ifndef LOUPE_HOSTAGENT_AGENT_H_
#define LOUPE_HOSTAGENT_AGENT_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>

#include "common/status.h"
#include "hostagent/collector.h"
#include "hostagent/metrics_builder.h"
#include "hostagent/transport.h"

namespace loupe::hostagent {

struct AgentOptions {
  Collector::Options collector;
  int interval_seconds = 5;
  // Requests kept while the server is unreachable, in encoded bytes: about
  // 15 minutes of a host with a few containers at the 5 s default.
  size_t max_buffer_bytes = 8 << 20;
  int max_backoff_seconds = 60;
  // host.name; empty: ROOT/proc/sys/kernel/hostname, else gethostname().
  std::string host_name;
};

struct AgentStats {
  uint64_t collections = 0;
  uint64_t sent = 0;             // requests the server accepted
  uint64_t send_failures = 0;    // attempts that will be retried
  uint64_t dropped_full = 0;     // requests dropped because the buffer was full
  uint64_t dropped_refused = 0;  // requests the server refused as such
  size_t buffered = 0;           // requests waiting now
  size_t buffered_bytes = 0;
};

class Agent {
 public:
  Agent(AgentOptions options, std::unique_ptr<Transport> transport);

  // Collects and sends until Stop(). Returns the first collection error (a
  // wrong root) or OK after Stop().
  Status Run();
  void Stop() { stop_.store(true); }

  // One interval's work at `now_unix_nano`: collect, encode, buffer, and
  // send what the backoff allows. Exposed for tests.
  Status Tick(uint64_t now_unix_nano);

  const AgentStats& stats() const { return stats_; }
  const HostIdentity& host() const { return host_; }

 private:
  void Enqueue(std::string request);
  void Flush(uint64_t now_unix_nano);
  void LogDrops(uint64_t now_unix_nano);

  AgentOptions options_;
  std::unique_ptr<Transport> transport_;
  Collector collector_;
  HostIdentity host_;
  std::atomic<bool> stop_{false};
  uint64_t start_unix_nano_ = 0;
  std::optional<HostSnapshot> prev_;
  std::deque<std::string> buffer_;
  AgentStats stats_;
  int failures_in_a_row_ = 0;
  uint64_t next_attempt_unix_nano_ = 0;
  uint64_t drops_logged_ = 0;
  uint64_t drops_logged_at_ = 0;
};

// Reads host.name and host.id below `root` (proc/sys/kernel/hostname,
// etc/machine-id); a missing file leaves the field empty.
HostIdentity ReadHostIdentity(const std::string& root);

}  // namespace loupe::hostagent

#endif  // LOUPE_HOSTAGENT_AGENT_H_
