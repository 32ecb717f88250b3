// A generator of realistic transactions for tests and benchmarks of the
// embedded engine: Poisson arrivals at a given TPS, a few services and
// instances, Zipf-distributed endpoints and users, log-normal response
// times, ~1 % errors, and profiles of SQL (from statement templates with
// bind values), external calls and method steps. Deterministic for a seed.
// Thread-safety: not thread-safe; one generator per thread.
#ifndef LOUPE_STORE_EMBEDDED_SYNTHETIC_WORKLOAD_H_
#define LOUPE_STORE_EMBEDDED_SYNTHETIC_WORKLOAD_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "common/hash.h"
#include "model/transaction.h"

namespace loupe::store {

class SyntheticWorkload {
 public:
  struct Options {
    double tps = 1000;
    int services = 3;
    int instances_per_service = 4;
    int endpoints = 60;
    int users = 5000;
    double median_elapsed_ms = 40;
    double elapsed_sigma = 1.0;  // of the log-normal
    double error_rate = 0.01;
    int mean_steps = 6;
    uint64_t seed = 1;
  };

  SyntheticWorkload(const Options& o, int64_t start_us) : o_(o), now_us_(start_us), rng_(o.seed) {}

  // The next transaction to end (end times ascend).
  model::Transaction Next() {
    std::exponential_distribution<double> gap(o_.tps / 1e6);
    now_us_ += static_cast<int64_t>(gap(rng_)) + 1;
    model::Transaction tx;
    for (auto& b : tx.trace_id) b = static_cast<uint8_t>(rng_());
    tx.span_id = rng_() | 1;
    tx.id = model::MakeTxId(tx.trace_id, tx.span_id);
    const int svc = static_cast<int>(rng_() % o_.services);
    tx.service = "svc-" + std::string(1, static_cast<char>('a' + svc));
    tx.instance = tx.service + "-" + std::to_string(rng_() % o_.instances_per_service);
    tx.host = "host-" + tx.instance;
    const int ep = Zipf(o_.endpoints);
    static const char* const kMethods[] = {"GET", "GET", "GET", "POST", "PUT", "DELETE"};
    tx.http_method = kMethods[ep % 6];
    tx.endpoint = std::string(tx.http_method) + " /api/v1/resource" + std::to_string(ep) + "/{id}";
    tx.url = "/api/v1/resource" + std::to_string(ep) + "/" + std::to_string(rng_() % 100000);
    std::lognormal_distribution<double> elapsed(std::log(o_.median_elapsed_ms * 1000),
                                                o_.elapsed_sigma);
    const int64_t el = std::max<int64_t>(50, static_cast<int64_t>(elapsed(rng_)));
    tx.end_us = now_us_;
    tx.start_us = now_us_ - el;
    std::uniform_real_distribution<double> u(0, 1);
    const double r = u(rng_);
    if (r < o_.error_rate) {
      tx.status = 500;
      tx.error = true;
      tx.error_type = (ep % 2) ? "java.sql.SQLTimeoutException" : "HTTP 500";
    } else if (r < o_.error_rate * 3) {
      tx.status = 404;
    } else {
      tx.status = 200;
    }
    const int user = Zipf(o_.users);
    tx.user = "user" + std::to_string(user);
    tx.client_ip = "10.1." + std::to_string(user % 250) + "." + std::to_string(user / 250 % 250);
    tx.summary.cpu_us = el / 3;

    std::poisson_distribution<int> nsteps(o_.mean_steps);
    const int n = nsteps(rng_);
    int64_t t = tx.start_us + 50;
    for (int i = 0; i < n; ++i) {
      model::Step& s = tx.steps.emplace_back();
      s.span_id = rng_() | 1;
      s.parent_span_id = (i > 0 && u(rng_) < 0.3) ? tx.steps[rng_() % i].span_id : tx.span_id;
      s.start_us = t;
      s.elapsed_us = std::max<int64_t>(1, el / (n + 1) - static_cast<int64_t>(rng_() % 100));
      t += s.elapsed_us + 10;
      const int kind = static_cast<int>(rng_() % 10);
      if (kind < 6) {
        s.kind = model::StepKind::kSql;
        const int q = Zipf(40);
        s.db_system = "postgresql";
        s.name = "SELECT resource" + std::to_string(q);
        s.sql = "SELECT id, name, owner_id, created_at, updated_at FROM resource" +
                std::to_string(q) + " WHERE id = $1 AND tenant_id = $2 ORDER BY created_at DESC";
        s.binds = {std::to_string(rng_() % 100000), std::to_string(rng_() % 50)};
        s.rows = static_cast<int64_t>(rng_() % 20);
      } else if (kind < 8) {
        s.kind = model::StepKind::kExternal;
        s.name = "GET";
        s.host = "payments.internal:8080";
        s.url = "http://payments.internal:8080/v2/charge/" + std::to_string(rng_() % 100000);
        s.http_status = 200;
      } else {
        s.kind = model::StepKind::kMethod;
        s.name = "com.example.Service.handle" + std::to_string(Zipf(20));
      }
    }
    tx.summary.Add(tx.steps);
    return tx;
  }

  int64_t now_us() const { return now_us_; }

 private:
  // Zipf(s = 1) over [0, n) by inverse transform on precomputed weights.
  int Zipf(int n) {
    std::vector<double>& cdf = cdfs_[n];
    if (cdf.empty()) {
      double sum = 0;
      for (int i = 1; i <= n; ++i) cdf.push_back(sum += 1.0 / i);
      for (double& c : cdf) c /= sum;
    }
    std::uniform_real_distribution<double> u(0, 1);
    return static_cast<int>(std::lower_bound(cdf.begin(), cdf.end(), u(rng_)) - cdf.begin());
  }

  Options o_;
  int64_t now_us_;
  std::mt19937_64 rng_;
  std::map<int, std::vector<double>> cdfs_;
};

}  // namespace loupe::store

#endif  // LOUPE_STORE_EMBEDDED_SYNTHETIC_WORKLOAD_H_
