// Traffic generator: visitors browsing and buying at the shop, at a rate
// that follows a compressed day (night lull, morning ramp, lunch peak,
// evening dip) with some noise. Open loop: requests are sent on schedule by a
// pool of senders whatever the latency, up to a bounded backlog (beyond it
// the generator drops and counts, like real users giving up).
#ifndef LOUPE_DEMO_TRAFFIC_H_
#define LOUPE_DEMO_TRAFFIC_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "faults.h"
#include "http.h"

namespace demo {

struct TrafficOptions {
  std::string shop_url = "http://127.0.0.1:8080";
  double tps = 40;            // requests per second at the daily peak (flat: always)
  bool daily_rhythm = true;   // false: a flat rate (benchmarks, tests)
  double day_minutes = 20;    // one simulated day lasts this long
  double start_hour = 9;      // simulated time of day at start
  int senders = 64;           // concurrent requests at most
  size_t max_backlog = 2000;  // requests waiting for a sender; dropped beyond
  int timeout_ms = 15000;
  uint64_t seed = 1;
};

struct TrafficStats {
  uint64_t sent = 0;
  uint64_t ok = 0;             // 2xx/3xx
  uint64_t client_errors = 0;  // 4xx
  uint64_t server_errors = 0;  // 5xx other than 503
  uint64_t throttled = 0;      // 503
  uint64_t failed = 0;         // no answer
  uint64_t dropped = 0;        // backlog full
};

// Thread-safe. `faults` (may be null) supplies the surge switch.
class Traffic {
 public:
  Traffic(TrafficOptions options, const Faults* faults);
  ~Traffic();  // Stop()
  Traffic(const Traffic&) = delete;
  Traffic& operator=(const Traffic&) = delete;

  // False with *error when shop_url is malformed.
  bool Start(std::string* error);
  void Stop();

  TrafficStats stats() const;
  // The target rate now (requests per second) and the simulated time of day.
  double rate() const { return rate_.load(std::memory_order_relaxed); }
  std::string clock() const;

  // The rate multiplier (0..1] of the daily shape at `hour` (0..24).
  static double DailyShape(double hour);

 private:
  struct Job {
    std::string method;
    std::string target;
    std::string body;
    std::string user;
    std::string ip;
  };
  void Dispatch();
  void Send();
  Job NextJob(std::mt19937_64& rng);
  double Hour() const;

  TrafficOptions options_;
  const Faults* faults_;
  std::unique_ptr<HttpClient> client_;
  std::chrono::steady_clock::time_point start_;
  std::atomic<bool> stop_{false};
  std::atomic<double> rate_{0};
  std::thread dispatcher_;
  std::vector<std::thread> senders_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> backlog_;      // guarded by mu_
  std::vector<int64_t> orders_;  // recently created order ids (ring); guarded by mu_
  size_t orders_next_ = 0;       // guarded by mu_
  std::atomic<uint64_t> sent_{0}, ok_{0}, client_errors_{0}, server_errors_{0}, throttled_{0},
      failed_{0}, dropped_{0};
};

}  // namespace demo

#endif  // LOUPE_DEMO_TRAFFIC_H_
