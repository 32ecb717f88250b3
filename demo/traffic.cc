#include "traffic.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace demo {
namespace {

// Share of the daily peak per hour (0 h .. 23 h), interpolated in between: a
// quiet night, a morning ramp, the lunch peak, an afternoon plateau, an
// evening dip and a small after-dinner bump.
constexpr double kShape[24] = {0.12, 0.08, 0.06, 0.05, 0.06, 0.10, 0.25, 0.45,
                               0.65, 0.75, 0.80, 0.88, 1.00, 0.95, 0.80, 0.75,
                               0.72, 0.60, 0.45, 0.50, 0.62, 0.58, 0.40, 0.22};

constexpr const char* kWords[] = {"lamp", "chair", "eco",  "pro",    "mug",      "tent",
                                  "mini", "smart", "desk", "travel", "sneakers", "watch"};

}  // namespace

double Traffic::DailyShape(double hour) {
  hour = std::fmod(hour, 24.0);
  if (hour < 0) hour += 24.0;
  int h = static_cast<int>(hour);
  double frac = hour - h;
  return kShape[h] * (1 - frac) + kShape[(h + 1) % 24] * frac;
}

Traffic::Traffic(TrafficOptions options, const Faults* faults)
    : options_(std::move(options)), faults_(faults) {}

Traffic::~Traffic() { Stop(); }

bool Traffic::Start(std::string* error) {
  std::string host;
  int port = 0;
  if (!ParseHttpUrl(options_.shop_url, &host, &port)) {
    *error = "bad shop URL " + options_.shop_url;
    return false;
  }
  client_ = std::make_unique<HttpClient>(host, port, static_cast<size_t>(options_.senders));
  orders_.assign(256, 0);
  start_ = std::chrono::steady_clock::now();
  dispatcher_ = std::thread([this] { Dispatch(); });
  for (int i = 0; i < options_.senders; ++i) senders_.emplace_back([this] { Send(); });
  return true;
}

void Traffic::Stop() {
  if (stop_.exchange(true)) return;
  cv_.notify_all();
  if (dispatcher_.joinable()) dispatcher_.join();
  for (auto& s : senders_) s.join();
  senders_.clear();
}

TrafficStats Traffic::stats() const {
  TrafficStats s;
  s.sent = sent_.load();
  s.ok = ok_.load();
  s.client_errors = client_errors_.load();
  s.server_errors = server_errors_.load();
  s.throttled = throttled_.load();
  s.failed = failed_.load();
  s.dropped = dropped_.load();
  return s;
}

double Traffic::Hour() const {
  double minutes =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count() / 60.0;
  return std::fmod(options_.start_hour + minutes / options_.day_minutes * 24.0, 24.0);
}

std::string Traffic::clock() const {
  double h = options_.daily_rhythm ? Hour() : 0;
  char buf[8];
  snprintf(buf, sizeof buf, "%02d:%02d", static_cast<int>(h), static_cast<int>(h * 60) % 60);
  return buf;
}

void Traffic::Dispatch() {
  std::mt19937_64 rng(options_.seed);
  std::uniform_real_distribution<double> uni(0, 1);
  double noise = 1.0;
  auto next = std::chrono::steady_clock::now();
  auto noise_at = next;
  while (!stop_.load()) {
    auto now = std::chrono::steady_clock::now();
    if (now >= noise_at) {  // a slow random walk around the shape: ±15 %
      noise = std::clamp(noise + (uni(rng) - 0.5) * 0.08, 0.85, 1.15);
      noise_at = now + std::chrono::seconds(1);
    }
    double rate = options_.tps * (options_.daily_rhythm ? DailyShape(Hour()) * noise : 1.0);
    bool surge = faults_ != nullptr && faults_->on(Fault::kSurge);
    if (surge) rate *= 5;
    rate_.store(rate, std::memory_order_relaxed);
    if (rate <= 0) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      next = std::chrono::steady_clock::now();
      continue;
    }
    if (now < next) {  // re-read the rate at least 5 times a second
      std::this_thread::sleep_until(std::min(next, now + std::chrono::milliseconds(200)));
      continue;
    }
    // Poisson arrivals; after a stall (a suspended laptop), do not catch up in a burst.
    if (now - next > std::chrono::seconds(1)) next = now;
    next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(-std::log(1 - uni(rng)) / rate));
    Job job = NextJob(rng);
    if (surge && uni(rng) < 0.3 && !job.user.empty()) {
      // The surge is a flash sale: many more people check out.
      job.method = "POST";
      job.target = "/checkout";
      job.body = "items=" + std::to_string(1 + rng() % 20) + ":1";
    }
    std::unique_lock<std::mutex> lock(mu_);
    if (backlog_.size() >= options_.max_backlog) {
      dropped_++;
      continue;
    }
    backlog_.push_back(std::move(job));
    lock.unlock();
    cv_.notify_one();
  }
}

Traffic::Job Traffic::NextJob(std::mt19937_64& rng) {
  std::uniform_real_distribution<double> uni(0, 1);
  Job j;
  // 70 % signed-in customers, skewed so some come back often; the others anonymous.
  bool signed_in = uni(rng) < 0.7;
  int64_t customer = 1 + static_cast<int64_t>(500 * std::pow(uni(rng), 2.0));
  if (customer > 500) customer = 500;
  uint64_t who = signed_in ? static_cast<uint64_t>(customer) * 2654435761u : rng() % 3000 + 7;
  char ip[32];
  snprintf(ip, sizeof ip, "%s.%u.%u.%u", signed_in ? "10" : "172",
           static_cast<unsigned>(who >> 16 & 31), static_cast<unsigned>(who >> 8 & 255),
           static_cast<unsigned>(who & 255) | 1u);
  j.ip = ip;
  if (signed_in) j.user = "u-" + std::to_string(customer);
  auto product = [&] { return 1 + static_cast<int64_t>(500 * std::pow(uni(rng), 1.6)) % 500; };

  double r = uni(rng);
  if (r < 0.18) {
    j.method = "GET";
    j.target = "/";
  } else if (r < 0.50 || (!signed_in && r >= 0.60 && r < 0.90)) {
    j.method = "GET";
    j.target = "/products/" + std::to_string(product());
  } else if (r < 0.60) {
    j.method = "GET";
    j.target = std::string("/search?q=") + kWords[rng() % 12];
  } else if (!signed_in) {
    j.method = "GET";
    j.target = "/";
  } else if (r < 0.72) {
    j.method = "POST";
    j.target = "/cart";
    j.body = "product=" + std::to_string(product()) + "&qty=" + std::to_string(1 + rng() % 3);
  } else if (r < 0.82) {
    j.method = "POST";
    j.target = "/checkout";
    int n = 1 + static_cast<int>(rng() % 3);
    j.body = "items=";
    for (int i = 0; i < n; ++i) {
      j.body += (i ? "," : "") + std::to_string(product()) + ":" + std::to_string(1 + rng() % 2);
    }
  } else if (r < 0.92) {
    int64_t id;
    {
      std::lock_guard<std::mutex> lock(mu_);
      id = orders_[rng() % orders_.size()];
    }
    if (id == 0) id = 1 + static_cast<int64_t>(rng() % 3000);  // from the seeded history
    j.method = "GET";
    j.target = "/orders/" + std::to_string(id);
  } else {
    j.method = "GET";
    j.target = "/account";
  }
  return j;
}

void Traffic::Send() {
  for (;;) {
    Job job;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return stop_.load() || !backlog_.empty(); });
      if (stop_.load()) return;
      job = std::move(backlog_.front());
      backlog_.pop_front();
    }
    Headers h;
    h.emplace_back("User-Agent", "loupe-demo-traffic/1");
    h.emplace_back("X-Forwarded-For", job.ip);
    if (!job.user.empty()) {
      h.emplace_back("X-User-Id", job.user);
      h.emplace_back("Cookie", "uid=" + job.user);
    }
    if (!job.body.empty()) h.emplace_back("Content-Type", "application/x-www-form-urlencoded");
    HttpClient::Result r = client_->Do(job.method, job.target, h, job.body, options_.timeout_ms);
    sent_++;
    if (r.status == 0) {
      failed_++;
    } else if (r.status == 503) {
      throttled_++;
    } else if (r.status >= 500) {
      server_errors_++;
    } else if (r.status >= 400) {
      client_errors_++;
    } else {
      ok_++;
    }
    if (r.status == 201 && job.target == "/checkout") {
      constexpr std::string_view kKey = "\"order_id\":";
      size_t p = r.body.find(kKey);
      if (p != std::string::npos) {
        int64_t id = std::atoll(r.body.c_str() + p + kKey.size());
        std::lock_guard<std::mutex> lock(mu_);
        orders_[orders_next_++ % orders_.size()] = id;
      }
    }
  }
}

}  // namespace demo
