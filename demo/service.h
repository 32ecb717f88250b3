// The demo's instrumented HTTP services: shop -> orders -> payment.
//
// Each service owns an HTTP server, a SQLite file and talks to the next one
// over real HTTP on loopback. Each request is a Loupe transaction (continuing
// the caller's trace from its `traceparent`), its statements SQL steps and its
// calls external steps. Throttling is asked of the agent before a request
// starts. Admin endpoints (not recorded): GET /healthz, GET /admin/faults,
// POST /admin/faults?name=<fault>&on=1|0|auto, GET /admin/agent (the
// service's agent counters, and process_requests: the requests every service
// of the process has routed to a handler, for bench/demo_overhead.sh).
#ifndef LOUPE_DEMO_SERVICE_H_
#define LOUPE_DEMO_SERVICE_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "database.h"
#include "faults.h"
#include "http.h"
#include "loupe/agent.h"

namespace demo {

struct ServiceOptions {
  std::string bind = "127.0.0.1";
  int port = 0;                      // 0: any free port
  int workers = 48;                  // request threads
  std::string data_dir;              // where the service's SQLite file lives (required)
  std::string downstream_url;        // shop: orders; orders: payment ("http://host:port")
  int downstream_timeout_ms = 3000;  // orders -> payment gives up after this (external_timeout)
  int bank_latency_min_ms = 20;      // payment: simulated card acquirer latency
  int bank_latency_max_ms = 150;
  uint64_t seed = 1;  // seeding data and randomness
};

// An error with the stack where it was raised, for the transaction's error step.
class DemoError : public std::runtime_error {
 public:
  DemoError(std::string type, const std::string& message);
  const std::string& type() const { return type_; }
  const std::string& stack() const { return stack_; }

 private:
  std::string type_;
  std::string stack_;
};

// Base of the three services: HTTP plumbing, the transaction around each
// request, admission (throttling), downstream calls, admin endpoints.
// Thread-safe.
class Service {
 public:
  enum class Kind { kShop, kOrders, kPayment };
  // Creates, seeds (when the file is new) and starts a service. `agent` and
  // `faults` must outlive it. nullptr with *error on failure.
  static std::unique_ptr<Service> Start(Kind kind, loupe::Agent* agent, Faults* faults,
                                        ServiceOptions options, std::string* error);
  virtual ~Service();

  // Stops accepting requests, wakes deliberate waits (hangs, held locks) and
  // waits for in-progress requests. Idempotent.
  virtual void Stop();
  int port() const { return server_ ? server_->port() : 0; }
  const char* name() const { return name_; }

 protected:
  // What a handler sees of its request.
  struct Call {
    const HttpRequest& req;
    loupe::Transaction& tx;
    std::string user;      // "u-17" or ""
    int64_t customer = 0;  // 17 for "u-17", 0 when anonymous
    std::string client_ip;
    std::string id;  // the {id} of the route, validated digits
  };
  using Handler = std::function<void(Call&, HttpResponse*)>;
  struct Route {
    const char* endpoint = nullptr;  // normalized, e.g. "GET /products/{id}"
    Handler handler;
  };

  Service(const char* name, loupe::Agent* agent, Faults* faults, ServiceOptions options);

  // Maps a request to its route; false when none matches (404). *id gets the
  // path parameter (digits only, bounded) when the route has one.
  virtual bool Match(const HttpRequest& req, Route* route, std::string* id) = 0;
  // Creates tables and seeds them when empty.
  virtual bool Seed(std::string* error) = 0;
  // Extra endpoints outside transactions (static pages); false when not one.
  virtual bool Static(const HttpRequest& req, HttpResponse* resp) { return false; }

  // Calls the downstream service inside an external step, propagating the
  // trace context, user and client IP.
  HttpClient::Result CallDownstream(Call& call, std::string_view method, std::string_view target,
                                    std::string_view body, int timeout_ms);
  // Sleeps up to `ms`, returning early (false) when the service stops.
  bool Pause(int64_t ms);
  bool stopping() const { return stopping_.load(std::memory_order_relaxed); }
  // Per-thread random numbers, seeded from options.seed.
  std::mt19937_64& Rng();
  int64_t Uniform(int64_t lo, int64_t hi);  // inclusive
  bool Chance(double p);

  const char* name_;
  loupe::Agent& agent_;
  Faults& faults_;
  ServiceOptions options_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<HttpClient> downstream_;

 private:
  void HandleHttp(const HttpRequest& req, HttpResponse* resp);
  void Admin(const HttpRequest& req, HttpResponse* resp);

  std::unique_ptr<HttpServer> server_;
  std::atomic<bool> stopping_{false};
  std::mutex pause_mu_;
  std::condition_variable pause_cv_;
  std::atomic<uint64_t> thread_seq_{0};
};

std::unique_ptr<Service> NewShop(loupe::Agent* agent, Faults* faults, ServiceOptions options);
std::unique_ptr<Service> NewOrders(loupe::Agent* agent, Faults* faults, ServiceOptions options);
std::unique_ptr<Service> NewPayment(loupe::Agent* agent, Faults* faults, ServiceOptions options);

// Seeds the product catalog (shared by shop and orders) into `db`.
bool SeedProducts(Database* db, uint64_t seed, std::string* error);
constexpr int kProducts = 500;
constexpr int kCustomers = 500;

// Digits-only, 1..18 characters.
bool IsId(std::string_view s);
// "u-17" -> 17; 0 when not a demo user id.
int64_t CustomerOf(std::string_view user);

}  // namespace demo

#endif  // LOUPE_DEMO_SERVICE_H_
