// shop: the storefront the traffic generator browses. Calls orders for
// checkouts, order pages and account history.
//
// Faults acted on here: slow_sql (GET /search), lock (an inventory job holds
// the stock lock for seconds), error_burst (template errors), hot_logging
// (a slow debug-logging loop in every request).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <iomanip>
#include <sstream>
#include <thread>

#include "service.h"

namespace demo {
namespace {

constexpr int kOrdersTimeoutMs = 10000;
constexpr size_t kMaxItems = 10;

std::string ProductJson(const SqlRow& r) {
  return "{\"id\":" + r[0] + ",\"name\":\"" + JsonEscape(r[1]) + "\",\"price\":" + r[2] + "}";
}

}  // namespace

// Not in the anonymous namespace: -rdynamic exports its member functions, so
// error stacks name them.
class Shop : public Service {
 public:
  Shop(loupe::Agent* agent, Faults* faults, ServiceOptions options)
      : Service("shop", agent, faults, std::move(options)) {}

  ~Shop() override { Stop(); }

  void Stop() override {
    Service::Stop();
    if (inventory_job_.joinable()) inventory_job_.join();
    if (log_fd_ >= 0) close(log_fd_);
    log_fd_ = -1;
  }

 protected:
  bool Seed(std::string* error) override {
    if (!SeedProducts(db_.get(), options_.seed, error)) return false;
    if (!db_->Script(
            "CREATE TABLE IF NOT EXISTS customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL,"
            " email TEXT NOT NULL, tier TEXT NOT NULL);"
            "CREATE TABLE IF NOT EXISTS inventory (product_id INTEGER PRIMARY KEY,"
            " stock INTEGER NOT NULL);"
            "CREATE TABLE IF NOT EXISTS reviews (id INTEGER PRIMARY KEY, product_id INTEGER NOT "
            "NULL,"
            " customer_id INTEGER NOT NULL, rating INTEGER NOT NULL, body TEXT NOT NULL);"
            "CREATE INDEX IF NOT EXISTS reviews_product ON reviews (product_id);"
            "CREATE TABLE IF NOT EXISTS cart_items (id INTEGER PRIMARY KEY,"
            " customer_id INTEGER NOT NULL, product_id INTEGER NOT NULL, qty INTEGER NOT NULL,"
            " added_ms INTEGER NOT NULL);"
            "CREATE INDEX IF NOT EXISTS cart_customer ON cart_items (customer_id);",
            error)) {
      return false;
    }
    std::vector<SqlRow> rows;
    if (!db_->Query("SELECT COUNT(*) FROM customers", {}, &rows, error)) return false;
    if (rows[0][0] == "0") {
      static const char* const kFirst[] = {"Ada",   "Ben",  "Chloe", "Dmitri", "Emma",  "Farid",
                                           "Grace", "Hiro", "Ines",  "Jonas",  "Kemal", "Lea"};
      static const char* const kTiers[] = {"basic", "basic", "basic", "silver", "gold"};
      std::mt19937_64 rng(options_.seed + 1);
      if (!db_->Script("BEGIN", error)) return false;
      for (int i = 1; i <= kCustomers; ++i) {
        std::string name = std::string(kFirst[rng() % 12]) + " " + std::to_string(i);
        if (!db_->Exec("INSERT INTO customers (id, name, email, tier) VALUES (?, ?, ?, ?)",
                       {int64_t{i}, name, "u" + std::to_string(i) + "@example.com",
                        std::string(kTiers[rng() % 5])},
                       nullptr, error)) {
          return false;
        }
      }
      for (int p = 1; p <= kProducts; ++p) {
        if (!db_->Exec("INSERT INTO inventory (product_id, stock) VALUES (?, ?)",
                       {int64_t{p}, static_cast<int64_t>(rng() % 500 + 50)}, nullptr, error)) {
          return false;
        }
      }
      for (int r = 0; r < kProducts * 6; ++r) {
        if (!db_->Exec("INSERT INTO reviews (product_id, customer_id, rating, body)"
                       " VALUES (?, ?, ?, ?)",
                       {static_cast<int64_t>(rng() % kProducts + 1),
                        static_cast<int64_t>(rng() % kCustomers + 1),
                        static_cast<int64_t>(rng() % 5 + 1), std::string("Works as described.")},
                       nullptr, error)) {
          return false;
        }
      }
      if (!db_->Script("COMMIT", error)) return false;
    }
    std::string log_path = options_.data_dir + "/shop-debug.log";
    log_fd_ = open(log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    inventory_job_ = std::thread([this] { InventoryJob(); });
    return true;
  }

  bool Static(const HttpRequest& req, HttpResponse* resp) override {
    if (req.path != "/busy.html") return false;
    resp->content_type = "text/html; charset=utf-8";
    resp->body =
        "<!doctype html><title>Busy</title><h1>We are very busy</h1>"
        "<p>Too many people are shopping right now. Please try again in a moment.</p>\n";
    return true;
  }

  bool Match(const HttpRequest& req, Route* r, std::string* id) override {
    const std::string& p = req.path;
    auto bind = [this](void (Shop::*fn)(Call&, HttpResponse*)) {
      return [this, fn](Call& c, HttpResponse* resp) { (this->*fn)(c, resp); };
    };
    if (req.method == "GET") {
      if (p == "/") return Set(r, "GET /", bind(&Shop::Home));
      if (p == "/search") return Set(r, "GET /search", bind(&Shop::Search));
      if (p == "/account") return Set(r, "GET /account", bind(&Shop::Account));
      if (p.rfind("/products/", 0) == 0 && IsId(std::string_view(p).substr(10))) {
        *id = p.substr(10);
        return Set(r, "GET /products/{id}", bind(&Shop::Product));
      }
      if (p.rfind("/orders/", 0) == 0 && IsId(std::string_view(p).substr(8))) {
        *id = p.substr(8);
        return Set(r, "GET /orders/{id}", bind(&Shop::Order));
      }
    } else if (req.method == "POST") {
      if (p == "/cart") return Set(r, "POST /cart", bind(&Shop::Cart));
      if (p == "/checkout") return Set(r, "POST /checkout", bind(&Shop::Checkout));
    }
    return false;
  }

 private:
  static bool Set(Route* r, const char* endpoint, Handler h) {
    r->endpoint = endpoint;
    r->handler = std::move(h);
    return true;
  }

  // What every page does first: the faults that hit all of the shop.
  void Common(Call& call) {
    if (faults_.on(Fault::kHotLogging)) AuditLog(call);
    if (faults_.on(Fault::kErrorBurst) && Chance(0.4)) RenderTemplate(call);
  }

  // error_burst: a template refers to a variable the page does not set.
  [[noreturn]] void RenderTemplate(Call& call) {
    LOUPE_METHOD(agent_, "shop::RenderTemplate");
    throw DemoError("TemplateError", "template '" + std::string(call.req.path) +
                                         "': undefined variable 'price_display'");
  }

  // hot_logging: debug logging left on. Each line is formatted with streams
  // and the sink flushes every 40 lines to a slow collector, so the request
  // spends a few hundred ms here: the active stack shows this frame on top.
  void AuditLog(Call& call) {
    loupe::Step step = loupe::Step::Method("shop::AuditLog");
    std::string batch;
    for (int line = 0; line < 400 && !stopping(); ++line) {
      std::ostringstream os;
      std::time_t now = std::time(nullptr);
      std::tm tm{};
      localtime_r(&now, &tm);
      os << std::put_time(&tm, "%Y-%m-%dT%H:%M:%S")
         << " DEBUG shop.audit user=" << (call.user.empty() ? "-" : call.user)
         << " ip=" << call.client_ip << " path=" << call.req.path << " line=" << line
         << " state=" << std::hex << (line * 2654435761u) << std::dec
         << " headers=" << call.req.headers.size() << '\n';
      batch += os.str();
      if (line % 40 == 39) {
        WriteLog(batch);
        batch.clear();
        Pause(40);  // the collector acknowledges the flush
      }
    }
  }

  void WriteLog(const std::string& s) {
    std::lock_guard<std::mutex> lock(log_mu_);
    if (log_fd_ < 0) return;
    struct stat st {};
    if (fstat(log_fd_, &st) == 0 && st.st_size > (8 << 20)) {
      if (ftruncate(log_fd_, 0) != 0) return;  // keep the demo's disk use bounded
    }
    ssize_t ignored = write(log_fd_, s.data(), s.size());
    (void)ignored;
  }

  // lock: every ~10 s a stock synchronization job holds the inventory lock
  // for 3-5 s; requests that read stock wait and all finish when it ends (a
  // vertical line on the X-View). It is itself a transaction (a job).
  void InventoryJob() {
    auto last = std::chrono::steady_clock::now() - std::chrono::seconds(10);
    while (Pause(200)) {
      if (!faults_.on(Fault::kLock)) continue;
      auto now = std::chrono::steady_clock::now();
      if (now - last < std::chrono::seconds(10)) continue;
      last = now;
      loupe::Transaction tx(agent_, "JOB inventory-sync");
      loupe::Step step = loupe::Step::Method("shop::InventorySync");
      std::lock_guard<std::mutex> lock(inventory_mu_);
      db_->Query("SELECT product_id, stock FROM inventory WHERE stock < ?", {int64_t{100}},
                 nullptr);
      Pause(Uniform(3000, 5000));
      last = std::chrono::steady_clock::now();
    }
  }

  int64_t ReadStock(int64_t product) {
    loupe::Step step = loupe::Step::Method("shop::ReadStock");
    std::lock_guard<std::mutex> lock(inventory_mu_);
    std::vector<SqlRow> rows;
    db_->Query("SELECT stock FROM inventory WHERE product_id = ?", {product}, &rows);
    return rows.empty() ? 0 : std::atoll(rows[0][0].c_str());
  }

  void RequireUser(Call& call, HttpResponse* resp) {
    if (call.customer == 0) {
      resp->status = 401;
      resp->body = "{\"error\":\"sign in first\"}";
    }
  }

  void Home(Call& call, HttpResponse* resp) {
    LOUPE_METHOD(agent_, "shop::Home");
    Common(call);
    std::vector<SqlRow> rows;
    if (!db_->Query("SELECT id, name, price FROM products ORDER BY popularity DESC LIMIT ?",
                    {int64_t{12}}, &rows)) {
      throw DemoError("DatabaseError", "loading featured products failed");
    }
    std::string cart = "0";
    if (call.customer != 0) {
      std::vector<SqlRow> c;
      db_->Query("SELECT COUNT(*) FROM cart_items WHERE customer_id = ?", {call.customer}, &c);
      if (!c.empty()) cart = c[0][0];
    }
    resp->body = "{\"featured\":[";
    for (size_t i = 0; i < rows.size(); ++i) resp->body += (i ? "," : "") + ProductJson(rows[i]);
    resp->body += "],\"cart_items\":" + cart + "}";
  }

  void Product(Call& call, HttpResponse* resp) {
    Common(call);
    int64_t id = std::atoll(call.id.c_str());
    std::vector<SqlRow> rows;
    db_->Query("SELECT id, name, price, category, description FROM products WHERE id = ?", {id},
               &rows);
    if (rows.empty()) {
      resp->status = 404;
      resp->body = "{\"error\":\"no such product\"}";
      return;
    }
    int64_t stock = ReadStock(id);
    std::vector<SqlRow> related;
    db_->Query("SELECT id, name, price FROM products WHERE category = ? AND id <> ? LIMIT ?",
               {rows[0][3], id, int64_t{4}}, &related);
    std::vector<SqlRow> rating;
    db_->Query("SELECT COUNT(*), COALESCE(AVG(rating), 0) FROM reviews WHERE product_id = ?", {id},
               &rating);
    resp->body = "{\"product\":" + ProductJson(rows[0]) + ",\"stock\":" + std::to_string(stock) +
                 ",\"reviews\":" + (rating.empty() ? "0" : rating[0][0]) + ",\"related\":[";
    for (size_t i = 0; i < related.size(); ++i) {
      resp->body += (i ? "," : "") + ProductJson(related[i]);
    }
    resp->body += "]}";
  }

  void Search(Call& call, HttpResponse* resp) {
    Common(call);
    std::string q = call.req.Param("q");
    if (q.size() > 64) q.resize(64);
    std::string like = "%" + q + "%";
    std::vector<SqlRow> rows;
    if (faults_.on(Fault::kSlowSql)) {
      // A report-style search: ranks every match by its reviews, and the
      // database is under pressure (sleep_ms stands in for a full scan of a
      // big table, so the demo stays light on CPU).
      db_->Query(
          "SELECT p.id, p.name, p.price, (SELECT AVG(r.rating) FROM reviews r WHERE r.product_id "
          "= p.id) AS rating FROM products p WHERE p.name LIKE ? AND (SELECT sleep_ms(?)) = 0 "
          "ORDER BY rating DESC LIMIT 20",
          {like, Uniform(1500, 4500)}, &rows);
    } else {
      db_->Query(
          "SELECT id, name, price FROM products WHERE name LIKE ? ORDER BY popularity DESC LIMIT "
          "20",
          {like}, &rows);
    }
    resp->body = "{\"results\":[";
    for (size_t i = 0; i < rows.size(); ++i) resp->body += (i ? "," : "") + ProductJson(rows[i]);
    resp->body += "]}";
  }

  void Cart(Call& call, HttpResponse* resp) {
    RequireUser(call, resp);
    if (resp->status != 200) return;
    Common(call);
    std::string product = FormValue(call.req.body, "product");
    std::string qty_s = FormValue(call.req.body, "qty");
    if (!IsId(product) || !IsId(qty_s) || qty_s.size() > 2) {
      resp->status = 400;
      resp->body = "{\"error\":\"product and qty (1-99) required\"}";
      return;
    }
    int64_t pid = std::atoll(product.c_str());
    int64_t qty = std::atoll(qty_s.c_str());
    std::vector<SqlRow> rows;
    db_->Query("SELECT price FROM products WHERE id = ?", {pid}, &rows);
    if (rows.empty() || qty < 1) {
      resp->status = 400;
      resp->body = "{\"error\":\"unknown product\"}";
      return;
    }
    if (ReadStock(pid) < qty) {
      resp->status = 409;
      resp->body = "{\"error\":\"out of stock\"}";
      return;
    }
    int64_t now = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::system_clock::now().time_since_epoch())
                      .count();
    db_->Exec("INSERT INTO cart_items (customer_id, product_id, qty, added_ms) VALUES (?, ?, ?, ?)",
              {call.customer, pid, qty, now});
    resp->status = 201;
    resp->body = "{\"added\":" + product + "}";
  }

  void Checkout(Call& call, HttpResponse* resp) {
    RequireUser(call, resp);
    if (resp->status != 200) return;
    Common(call);
    LOUPE_METHOD(agent_, "shop::Checkout");
    // items=3:1,7:2 (product:qty), at most kMaxItems.
    std::string items = FormValue(call.req.body, "items");
    std::string order_items;
    double total = 0;
    size_t count = 0;
    std::string_view rest = items;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string_view item = rest.substr(0, comma);
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      size_t colon = item.find(':');
      if (colon == std::string_view::npos || !IsId(item.substr(0, colon)) ||
          !IsId(item.substr(colon + 1)) || item.size() - colon > 3 || ++count > kMaxItems) {
        resp->status = 400;
        resp->body = "{\"error\":\"items must be product:qty,... (at most 10)\"}";
        return;
      }
      int64_t pid = std::atoll(std::string(item.substr(0, colon)).c_str());
      int64_t qty = std::atoll(std::string(item.substr(colon + 1)).c_str());
      std::vector<SqlRow> rows;
      db_->Query("SELECT price FROM products WHERE id = ?", {pid}, &rows);
      if (rows.empty() || qty < 1) {
        resp->status = 400;
        resp->body = "{\"error\":\"unknown product\"}";
        return;
      }
      double price = std::atof(rows[0][0].c_str());
      total += price * static_cast<double>(qty);
      if (!order_items.empty()) order_items += ',';
      order_items += std::to_string(pid) + ":" + std::to_string(qty) + ":" + rows[0][0];
    }
    if (count == 0) {
      resp->status = 400;
      resp->body = "{\"error\":\"empty cart\"}";
      return;
    }
    {
      loupe::Step step = loupe::Step::Method("shop::ReserveStock");
      std::lock_guard<std::mutex> lock(inventory_mu_);
      std::string_view r = order_items;
      while (!r.empty()) {
        size_t comma = r.find(',');
        std::string item(r.substr(0, comma));
        r = comma == std::string_view::npos ? std::string_view() : r.substr(comma + 1);
        int64_t pid = std::atoll(item.c_str());
        int64_t qty = std::atoll(item.c_str() + item.find(':') + 1);
        // Restock instead of failing, so the demo never runs dry.
        db_->Exec(
            "UPDATE inventory SET stock = CASE WHEN stock >= ? THEN stock - ? ELSE 500 END "
            "WHERE product_id = ?",
            {qty, qty, pid});
      }
    }
    char total_s[32];
    snprintf(total_s, sizeof total_s, "%.2f", total);
    std::string body =
        "customer=" + std::to_string(call.customer) + "&items=" + order_items + "&total=" + total_s;
    HttpClient::Result r = CallDownstream(call, "POST", "/orders", body, kOrdersTimeoutMs);
    if (r.status == 201) {
      db_->Exec("DELETE FROM cart_items WHERE customer_id = ?", {call.customer});
      resp->status = 201;
      resp->body = r.body;
    } else if (r.status == 402) {
      resp->status = 402;
      resp->body = "{\"error\":\"payment declined\"}";
    } else {
      resp->status = 502;
      std::string why = r.status ? "orders answered " + std::to_string(r.status) : r.error;
      resp->body = "{\"error\":\"" + JsonEscape(why) + "\"}";
      call.tx.SetError("UpstreamError", "checkout failed: " + why);
    }
  }

  void Order(Call& call, HttpResponse* resp) {
    Common(call);
    HttpClient::Result r = CallDownstream(call, "GET", "/orders/" + call.id, {}, kOrdersTimeoutMs);
    if (r.status == 0) {
      resp->status = 502;
      resp->body = "{\"error\":\"" + JsonEscape(r.error) + "\"}";
      call.tx.SetError("UpstreamError", "orders: " + r.error);
      return;
    }
    resp->status = r.status >= 500 ? 502 : r.status;
    resp->body = r.body;
  }

  void Account(Call& call, HttpResponse* resp) {
    RequireUser(call, resp);
    if (resp->status != 200) return;
    Common(call);
    std::vector<SqlRow> rows;
    db_->Query("SELECT id, name, email, tier FROM customers WHERE id = ?", {call.customer}, &rows);
    if (rows.empty()) {
      resp->status = 404;
      resp->body = "{\"error\":\"no such customer\"}";
      return;
    }
    HttpClient::Result r =
        CallDownstream(call, "GET", "/customers/" + std::to_string(call.customer) + "/orders", {},
                       kOrdersTimeoutMs);
    resp->body = "{\"name\":\"" + JsonEscape(rows[0][1]) + "\",\"tier\":\"" + rows[0][3] +
                 "\",\"orders\":" + (r.status == 200 ? r.body : std::string("null")) + "}";
  }

  std::mutex inventory_mu_;  // the stock lock the `lock` fault holds for seconds
  std::thread inventory_job_;
  std::mutex log_mu_;
  int log_fd_ = -1;  // guarded by log_mu_ (after start)
};

std::unique_ptr<Service> NewShop(loupe::Agent* agent, Faults* faults, ServiceOptions options) {
  return std::make_unique<Shop>(agent, faults, std::move(options));
}

}  // namespace demo
