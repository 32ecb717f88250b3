#include "service.h"

#include <cxxabi.h>
#include <execinfo.h>

#include <charconv>
#include <chrono>
#include <cstdlib>
#include <functional>
#include <thread>

namespace demo {
namespace {

// The native stack of the caller's caller, one demangled frame a line (needs the
// binary linked with -rdynamic for function names).
std::string CaptureStack() {
  void* frames[32];
  int n = backtrace(frames, 32);
  char** symbols = backtrace_symbols(frames, n);
  std::string out;
  for (int i = 2; symbols != nullptr && i < n; ++i) {  // skip CaptureStack and its caller
    std::string_view s = symbols[i];
    // "binary(mangled+0x1f) [0x...]" -> demangle the part between '(' and '+'.
    size_t open = s.find('(');
    size_t plus = s.find('+', open);
    std::string frame(s);
    if (open != std::string_view::npos && plus != std::string_view::npos && plus > open + 1) {
      std::string mangled(s.substr(open + 1, plus - open - 1));
      int status = 0;
      char* name = abi::__cxa_demangle(mangled.c_str(), nullptr, nullptr, &status);
      if (status == 0 && name != nullptr) frame = name;
      std::free(name);
    }
    out += "  at ";
    out += frame;
    out += '\n';
  }
  std::free(symbols);
  return out;
}

bool ValidIp(std::string_view s) {
  if (s.empty() || s.size() > 45) return false;
  for (char c : s) {
    bool ok = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') ||
              c == '.' || c == ':';
    if (!ok) return false;
  }
  return true;
}

// The client address: the first X-Forwarded-For entry when it looks like an
// IP (the demo trusts its traffic generator), else the peer.
std::string ClientIp(const HttpRequest& req) {
  std::string_view xff = req.Header("x-forwarded-for");
  std::string_view first = xff.substr(0, xff.find(','));
  while (!first.empty() && first.front() == ' ') first.remove_prefix(1);
  while (!first.empty() && first.back() == ' ') first.remove_suffix(1);
  return ValidIp(first) ? std::string(first) : req.peer_ip;
}

// The user: X-User-Id header or the `uid` cookie, when it is a demo user id.
std::string UserOf(const HttpRequest& req) {
  std::string_view u = req.Header("x-user-id");
  if (u.empty()) {
    std::string_view cookie = req.Header("cookie");
    size_t p = cookie.find("uid=");
    if (p != std::string_view::npos) {
      u = cookie.substr(p + 4);
      u = u.substr(0, u.find(';'));
    }
  }
  return CustomerOf(u) > 0 ? std::string(u) : std::string();
}

// Known methods are kept; anything else folds into one endpoint.
std::string_view MethodName(std::string_view m) {
  for (std::string_view known : {"GET", "POST", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS"}) {
    if (m == known) return known;
  }
  return "OTHER";
}

// Requests routed to a handler by any service of the process (admin endpoints
// excluded): bench/demo_overhead.sh divides CPU time by it.
std::atomic<uint64_t> g_requests{0};

}  // namespace

DemoError::DemoError(std::string type, const std::string& message)
    : std::runtime_error(message), type_(std::move(type)), stack_(CaptureStack()) {}

bool IsId(std::string_view s) {
  if (s.empty() || s.size() > 18) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

int64_t CustomerOf(std::string_view user) {
  if (user.size() < 3 || user.substr(0, 2) != "u-" || !IsId(user.substr(2))) return 0;
  int64_t v = 0;
  std::from_chars(user.data() + 2, user.data() + user.size(), v);
  return v >= 1 && v <= kCustomers ? v : 0;
}

Service::Service(const char* name, loupe::Agent* agent, Faults* faults, ServiceOptions options)
    : name_(name), agent_(*agent), faults_(*faults), options_(std::move(options)) {}

Service::~Service() { Stop(); }

std::unique_ptr<Service> Service::Start(Kind kind, loupe::Agent* agent, Faults* faults,
                                        ServiceOptions options, std::string* error) {
  std::unique_ptr<Service> s;
  switch (kind) {
    case Kind::kShop:
      s = NewShop(agent, faults, std::move(options));
      break;
    case Kind::kOrders:
      s = NewOrders(agent, faults, std::move(options));
      break;
    case Kind::kPayment:
      s = NewPayment(agent, faults, std::move(options));
      break;
  }
  std::string path = s->options_.data_dir + "/" + s->name_ + ".db";
  s->db_ = Database::Open(path, error);
  if (!s->db_) return nullptr;
  if (!s->Seed(error)) {
    *error = std::string(s->name_) + ": seeding " + path + ": " + *error;
    return nullptr;
  }
  if (!s->options_.downstream_url.empty()) {
    std::string host;
    int port = 0;
    if (!ParseHttpUrl(s->options_.downstream_url, &host, &port)) {
      *error = "bad downstream URL " + s->options_.downstream_url;
      return nullptr;
    }
    s->downstream_ = std::make_unique<HttpClient>(host, port, 256);
  }
  HttpServer::Options so;
  so.bind = s->options_.bind;
  so.port = s->options_.port;
  so.workers = s->options_.workers;
  Service* raw = s.get();
  s->server_ = std::make_unique<HttpServer>(
      so, [raw](const HttpRequest& req, HttpResponse* resp) { raw->HandleHttp(req, resp); });
  if (!s->server_->Start(error)) {
    *error = std::string(s->name_) + ": " + *error;
    return nullptr;
  }
  return s;
}

void Service::Stop() {
  if (stopping_.exchange(true)) return;
  { std::lock_guard<std::mutex> lock(pause_mu_); }
  pause_cv_.notify_all();
  if (server_) server_->Stop();
}

bool Service::Pause(int64_t ms) {
  std::unique_lock<std::mutex> lock(pause_mu_);
  return !pause_cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stopping(); });
}

std::mt19937_64& Service::Rng() {
  thread_local std::mt19937_64 rng;
  thread_local const Service* owner = nullptr;
  if (owner != this) {
    owner = this;
    rng.seed(options_.seed * 1000003 + thread_seq_.fetch_add(1) +
             std::hash<std::string_view>()(name_));
  }
  return rng;
}

int64_t Service::Uniform(int64_t lo, int64_t hi) {
  return std::uniform_int_distribution<int64_t>(lo, hi)(Rng());
}

bool Service::Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(Rng()) < p; }

HttpClient::Result Service::CallDownstream(Call& call, std::string_view method,
                                           std::string_view target, std::string_view body,
                                           int timeout_ms) {
  std::string url = downstream_->base_url();
  url += target;
  loupe::Step step = loupe::Step::External(method, url);
  Headers h;
  h.emplace_back("traceparent", step.Traceparent());
  if (!call.user.empty()) h.emplace_back("X-User-Id", call.user);
  h.emplace_back("X-Forwarded-For", call.client_ip);
  if (!body.empty()) h.emplace_back("Content-Type", "application/x-www-form-urlencoded");
  HttpClient::Result r = downstream_->Do(method, target, h, body, timeout_ms);
  if (r.status == 0) {
    step.Error(r.timed_out ? "timed out after " + std::to_string(timeout_ms) + " ms" : r.error);
  } else {
    step.HttpStatus(r.status);
  }
  return r;
}

void Service::HandleHttp(const HttpRequest& req, HttpResponse* resp) {
  if (req.path == "/healthz") {
    resp->body = "{\"status\":\"ok\",\"service\":\"" + std::string(name_) + "\"}";
    return;
  }
  if (req.path == "/admin/faults") {
    Admin(req, resp);
    return;
  }
  if (req.path == "/admin/agent") {
    loupe::AgentStats st = agent_.stats();
    resp->body =
        "{\"service\":\"" + std::string(name_) +
        "\",\"transactions\":" + std::to_string(st.transactions) +
        ",\"exported\":" + std::to_string(st.exported) +
        ",\"dropped_queue_full\":" + std::to_string(st.dropped_queue_full) +
        ",\"dropped_export\":" + std::to_string(st.dropped_export) +
        ",\"export_retries\":" + std::to_string(st.export_retries) +
        ",\"throttled\":" + std::to_string(st.throttled) +
        ",\"snapshots_sent\":" + std::to_string(st.snapshots_sent) +
        ",\"stack_samples\":" + std::to_string(st.stack_samples) +
        ",\"config_version\":" + std::to_string(st.config_version) +
        ",\"process_requests\":" + std::to_string(g_requests.load(std::memory_order_relaxed)) + "}";
    return;
  }
  if (Static(req, resp)) return;

  Route route;
  std::string id;
  std::string unmatched;
  if (!Match(req, &route, &id)) {
    unmatched = std::string(MethodName(req.method)) + " /{unmatched}";
    route.endpoint = unmatched.c_str();
    route.handler = [](Call&, HttpResponse* r) {
      r->status = 404;
      r->body = "{\"error\":\"not found\"}";
    };
  }
  g_requests.fetch_add(1, std::memory_order_relaxed);
  std::string ip = ClientIp(req);
  loupe::Admission admission = agent_.Admit(route.endpoint, ip);
  if (admission.kind == loupe::Admission::kReject) {
    resp->status = 503;
    resp->headers.emplace_back("Retry-After", "1");
    resp->body = "{\"error\":\"busy, try again\"}";
    return;
  }
  if (admission.kind == loupe::Admission::kRedirect) {
    resp->status = 302;
    resp->headers.emplace_back("Location", admission.redirect_url.empty()
                                               ? std::string("/busy.html")
                                               : admission.redirect_url);
    resp->body = "{}";
    return;
  }

  loupe::TraceContext parent;
  std::string_view tp = req.Header("traceparent");
  bool has_parent = !tp.empty() && loupe::ParseTraceparent(tp, &parent);
  loupe::Transaction tx(agent_, route.endpoint, has_parent ? &parent : nullptr);
  tx.SetHttp(req.method, req.target.size() > 512 ? req.target.substr(0, 512) : req.target);
  Call call{req, tx, UserOf(req), 0, ip, id};
  call.customer = CustomerOf(call.user);
  tx.SetClientIp(ip);
  if (!call.user.empty()) tx.SetUser(call.user);
  try {
    route.handler(call, resp);
  } catch (const DemoError& e) {
    resp->status = 500;
    resp->body = "{\"error\":\"" + JsonEscape(e.what()) + "\"}";
    tx.SetError(e.type(), e.what(), e.stack());
  } catch (const std::exception& e) {
    resp->status = 500;
    resp->body = "{\"error\":\"internal error\"}";
    tx.SetError("std::exception", e.what());
  }
  tx.SetStatus(resp->status);
}

void Service::Admin(const HttpRequest& req, HttpResponse* resp) {
  if (req.method == "GET") {
    resp->body = faults_.Json();
    return;
  }
  if (req.method != "POST") {
    resp->status = 405;
    resp->body = "{\"error\":\"GET or POST\"}";
    return;
  }
  // Parameters in the query or a form body.
  std::string name = req.Param("name");
  std::string on = req.Param("on");
  if (name.empty()) name = FormValue(req.body, "name");
  if (on.empty()) on = FormValue(req.body, "on");
  Faults::Mode mode;
  if (on == "1" || on == "on" || on == "true") {
    mode = Faults::Mode::kOn;
  } else if (on == "0" || on == "off" || on == "false") {
    mode = Faults::Mode::kOff;
  } else if (on == "auto") {
    mode = Faults::Mode::kAuto;
  } else {
    resp->status = 400;
    resp->body = "{\"error\":\"on must be 1, 0 or auto\"}";
    return;
  }
  if (name == "all") {
    for (int i = 0; i < kFaultCount; ++i) faults_.Set(static_cast<Fault>(i), mode);
  } else {
    Fault f;
    if (name.size() > 64 || !ParseFault(name, &f)) {
      resp->status = 400;
      resp->body =
          "{\"error\":\"unknown fault; one of slow_sql, lock, external_timeout, "
          "n_plus_one, error_burst, surge, hot_logging, all\"}";
      return;
    }
    faults_.Set(f, mode);
  }
  resp->body = faults_.Json();
}

bool SeedProducts(Database* db, uint64_t seed, std::string* error) {
  std::vector<SqlRow> rows;
  if (!db->Script("CREATE TABLE IF NOT EXISTS products (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                  " category TEXT NOT NULL, price REAL NOT NULL, popularity INTEGER NOT NULL,"
                  " description TEXT NOT NULL);",
                  error)) {
    return false;
  }
  if (!db->Query("SELECT COUNT(*) FROM products", {}, &rows, error)) return false;
  if (!rows.empty() && rows[0][0] != "0") return true;
  static const char* const kAdjectives[] = {"Classic", "Compact", "Deluxe", "Eco",    "Ergonomic",
                                            "Festive", "Heavy",   "Light",  "Mini",   "Pro",
                                            "Rustic",  "Smart",   "Solar",  "Travel", "Vintage"};
  static const char* const kNouns[] = {"Backpack",   "Blender",  "Camera", "Chair",    "Desk Lamp",
                                       "Headphones", "Jacket",   "Kettle", "Keyboard", "Mug",
                                       "Notebook",   "Sneakers", "Tent",   "Umbrella", "Watch"};
  static const char* const kCategories[] = {"home", "outdoor", "electronics", "fashion", "office"};
  std::mt19937_64 rng(seed);
  if (!db->Script("BEGIN", error)) return false;
  for (int i = 1; i <= kProducts; ++i) {
    std::string name = std::string(kAdjectives[rng() % 15]) + " " + kNouns[rng() % 15] + " " +
                       std::to_string(100 + i);
    double price = static_cast<double>(rng() % 20000 + 199) / 100.0;
    if (!db->Exec("INSERT INTO products (id, name, category, price, popularity, description)"
                  " VALUES (?, ?, ?, ?, ?, ?)",
                  {int64_t{i}, name, std::string(kCategories[rng() % 5]), price,
                   static_cast<int64_t>(rng() % 1000), "A fine " + name + " for every day."},
                  nullptr, error)) {
      return false;
    }
  }
  return db->Script("COMMIT", error);
}

}  // namespace demo
