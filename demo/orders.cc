// orders: creates orders (charging them through payment) and serves order
// history. Faults acted on here: n_plus_one (items loaded one query each),
// error_burst (order creation fails), external_timeout (gives up on payment
// after options.downstream_timeout_ms).
#include <chrono>

#include "service.h"

namespace demo {
namespace {

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// {"payment_id":42,...} -> 42 (0 when absent).
int64_t PaymentId(std::string_view body) {
  constexpr std::string_view kKey = "\"payment_id\":";
  size_t p = body.find(kKey);
  return p == std::string_view::npos
             ? 0
             : std::atoll(std::string(body.substr(p + kKey.size(), 20)).c_str());
}

}  // namespace

// Not in the anonymous namespace: -rdynamic exports its member functions, so
// error stacks name them.
class Orders : public Service {
 public:
  Orders(loupe::Agent* agent, Faults* faults, ServiceOptions options)
      : Service("orders", agent, faults, std::move(options)) {}
  ~Orders() override { Stop(); }

 protected:
  bool Seed(std::string* error) override {
    if (!SeedProducts(db_.get(), options_.seed, error)) return false;
    if (!db_->Script(
            "CREATE TABLE IF NOT EXISTS orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT "
            "NULL, status TEXT NOT NULL, total REAL NOT NULL, payment_id INTEGER, created_ms "
            "INTEGER NOT NULL);"
            "CREATE INDEX IF NOT EXISTS orders_customer ON orders (customer_id);"
            "CREATE TABLE IF NOT EXISTS order_items (id INTEGER PRIMARY KEY, order_id INTEGER NOT "
            "NULL, product_id INTEGER NOT NULL, qty INTEGER NOT NULL, price REAL NOT NULL);"
            "CREATE INDEX IF NOT EXISTS order_items_order ON order_items (order_id);",
            error)) {
      return false;
    }
    std::vector<SqlRow> rows;
    if (!db_->Query("SELECT COUNT(*) FROM orders", {}, &rows, error)) return false;
    if (rows[0][0] != "0") return true;
    // Order history: a few orders per customer, 1-8 items each.
    std::mt19937_64 rng(options_.seed + 2);
    int64_t now = NowMs();
    if (!db_->Script("BEGIN", error)) return false;
    for (int o = 1; o <= kCustomers * 6; ++o) {
      int64_t items = static_cast<int64_t>(rng() % 8 + 1);
      if (!db_->Exec("INSERT INTO orders (id, customer_id, status, total, created_ms)"
                     " VALUES (?, ?, 'paid', ?, ?)",
                     {int64_t{o}, static_cast<int64_t>(rng() % kCustomers + 1),
                      static_cast<double>(rng() % 50000) / 100.0,
                      now - static_cast<int64_t>(rng() % (90LL * 86400000))},
                     nullptr, error)) {
        return false;
      }
      for (int64_t i = 0; i < items; ++i) {
        if (!db_->Exec("INSERT INTO order_items (order_id, product_id, qty, price)"
                       " VALUES (?, ?, ?, ?)",
                       {int64_t{o}, static_cast<int64_t>(rng() % kProducts + 1),
                        static_cast<int64_t>(rng() % 3 + 1),
                        static_cast<double>(rng() % 20000 + 199) / 100.0},
                       nullptr, error)) {
          return false;
        }
      }
    }
    return db_->Script("COMMIT", error);
  }

  bool Match(const HttpRequest& req, Route* r, std::string* id) override {
    const std::string& p = req.path;
    if (req.method == "POST" && p == "/orders") {
      r->endpoint = "POST /orders";
      r->handler = [this](Call& c, HttpResponse* resp) { Create(c, resp); };
      return true;
    }
    if (req.method != "GET") return false;
    if (p.rfind("/orders/", 0) == 0 && IsId(std::string_view(p).substr(8))) {
      *id = p.substr(8);
      r->endpoint = "GET /orders/{id}";
      r->handler = [this](Call& c, HttpResponse* resp) { Get(c, resp); };
      return true;
    }
    // /customers/{id}/orders
    constexpr std::string_view kPrefix = "/customers/";
    constexpr std::string_view kSuffix = "/orders";
    if (p.rfind(kPrefix, 0) == 0 && p.size() > kPrefix.size() + kSuffix.size() &&
        std::string_view(p).substr(p.size() - kSuffix.size()) == kSuffix) {
      std::string_view cid =
          std::string_view(p).substr(kPrefix.size(), p.size() - kPrefix.size() - kSuffix.size());
      if (!IsId(cid)) return false;
      *id = std::string(cid);
      r->endpoint = "GET /customers/{id}/orders";
      r->handler = [this](Call& c, HttpResponse* resp) { History(c, resp); };
      return true;
    }
    return false;
  }

 private:
  // The items of one order as JSON. With n_plus_one on, the classic ORM
  // mistake: one query for the ids, then one per item and one per product.
  std::string Items(int64_t order) {
    LOUPE_METHOD(agent_, "orders::LoadItems");
    std::string out = "[";
    if (faults_.on(Fault::kNPlusOne)) {
      std::vector<SqlRow> ids;
      db_->Query("SELECT id FROM order_items WHERE order_id = ?", {order}, &ids);
      for (size_t i = 0; i < ids.size(); ++i) {
        std::vector<SqlRow> item;
        db_->Query("SELECT product_id, qty, price FROM order_items WHERE id = ?",
                   {static_cast<int64_t>(std::atoll(ids[i][0].c_str()))}, &item);
        if (item.empty()) continue;
        std::vector<SqlRow> product;
        db_->Query("SELECT name FROM products WHERE id = ?",
                   {static_cast<int64_t>(std::atoll(item[0][0].c_str()))}, &product);
        out += (i ? ",{\"product\":" : "{\"product\":") + item[0][0] + ",\"name\":\"" +
               JsonEscape(product.empty() ? "" : product[0][0]) + "\",\"qty\":" + item[0][1] +
               ",\"price\":" + item[0][2] + "}";
      }
    } else {
      std::vector<SqlRow> rows;
      db_->Query(
          "SELECT oi.product_id, p.name, oi.qty, oi.price FROM order_items oi JOIN products "
          "p ON p.id = oi.product_id WHERE oi.order_id = ?",
          {order}, &rows);
      for (size_t i = 0; i < rows.size(); ++i) {
        out += (i ? ",{\"product\":" : "{\"product\":") + rows[i][0] + ",\"name\":\"" +
               JsonEscape(rows[i][1]) + "\",\"qty\":" + rows[i][2] + ",\"price\":" + rows[i][3] +
               "}";
      }
    }
    return out + "]";
  }

  void Get(Call& call, HttpResponse* resp) {
    int64_t id = std::atoll(call.id.c_str());
    std::vector<SqlRow> rows;
    db_->Query("SELECT id, customer_id, status, total, created_ms FROM orders WHERE id = ?", {id},
               &rows);
    if (rows.empty()) {
      resp->status = 404;
      resp->body = "{\"error\":\"no such order\"}";
      return;
    }
    resp->body = "{\"id\":" + rows[0][0] + ",\"customer\":" + rows[0][1] + ",\"status\":\"" +
                 rows[0][2] + "\",\"total\":" + rows[0][3] + ",\"items\":" + Items(id) + "}";
  }

  void History(Call& call, HttpResponse* resp) {
    LOUPE_METHOD(agent_, "orders::History");
    int64_t customer = std::atoll(call.id.c_str());
    std::vector<SqlRow> rows;
    // With n_plus_one the page also "eagerly" shows every item of 20 orders.
    int64_t limit = faults_.on(Fault::kNPlusOne) ? 20 : 5;
    db_->Query(
        "SELECT id, status, total, created_ms FROM orders WHERE customer_id = ? ORDER BY "
        "created_ms DESC LIMIT ?",
        {customer, limit}, &rows);
    resp->body = "[";
    for (size_t i = 0; i < rows.size(); ++i) {
      resp->body += (i ? ",{\"id\":" : "{\"id\":") + rows[i][0] + ",\"status\":\"" + rows[i][1] +
                    "\",\"total\":" + rows[i][2] +
                    ",\"items\":" + Items(std::atoll(rows[i][0].c_str())) + "}";
    }
    resp->body += "]";
  }

  void Create(Call& call, HttpResponse* resp) {
    LOUPE_METHOD(agent_, "orders::Create");
    std::string customer = FormValue(call.req.body, "customer");
    std::string items = FormValue(call.req.body, "items");
    std::string total_s = FormValue(call.req.body, "total");
    if (!IsId(customer) || items.empty() || items.size() > 512 || total_s.empty() ||
        total_s.size() > 16) {
      resp->status = 400;
      resp->body = "{\"error\":\"customer, items and total required\"}";
      return;
    }
    if (faults_.on(Fault::kErrorBurst) && Chance(0.5)) {
      throw DemoError("DeadlockError",
                      "deadlock detected while reserving order number (retry limit reached)");
    }
    double total = std::atof(total_s.c_str());
    int64_t order_id = 0;
    db_->Exec("INSERT INTO orders (customer_id, status, total, created_ms) VALUES (?, 'new', ?, ?)",
              {static_cast<int64_t>(std::atoll(customer.c_str())), total, NowMs()}, &order_id);
    // items = product:qty:price,...
    std::string_view rest = items;
    while (!rest.empty()) {
      size_t comma = rest.find(',');
      std::string item(rest.substr(0, comma));
      rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
      size_t c1 = item.find(':');
      size_t c2 = c1 == std::string::npos ? c1 : item.find(':', c1 + 1);
      if (c2 == std::string::npos) continue;
      db_->Exec("INSERT INTO order_items (order_id, product_id, qty, price) VALUES (?, ?, ?, ?)",
                {order_id, static_cast<int64_t>(std::atoll(item.c_str())),
                 static_cast<int64_t>(std::atoll(item.c_str() + c1 + 1)),
                 std::atof(item.c_str() + c2 + 1)});
    }
    std::string body =
        "order=" + std::to_string(order_id) + "&customer=" + customer + "&amount=" + total_s;
    HttpClient::Result r =
        CallDownstream(call, "POST", "/payments", body, options_.downstream_timeout_ms);
    if (r.status == 201) {
      db_->Exec("UPDATE orders SET status = 'paid', payment_id = ? WHERE id = ?",
                {PaymentId(r.body), order_id});
      resp->status = 201;
      resp->body = "{\"order_id\":" + std::to_string(order_id) + "}";
      return;
    }
    const char* status = r.status == 402 ? "declined" : r.timed_out ? "payment_timeout" : "failed";
    db_->Exec("UPDATE orders SET status = ? WHERE id = ?", {std::string(status), order_id});
    if (r.status == 402) {
      resp->status = 402;
      resp->body = "{\"error\":\"payment declined\",\"order_id\":" + std::to_string(order_id) + "}";
      return;
    }
    std::string why = r.status ? "payment answered " + std::to_string(r.status) : r.error;
    resp->status = r.timed_out ? 504 : 502;
    resp->body = "{\"error\":\"" + JsonEscape(why) + "\"}";
    call.tx.SetError(r.timed_out ? "TimeoutError" : "UpstreamError",
                     "charging order " + std::to_string(order_id) + ": " + why);
  }
};

std::unique_ptr<Service> NewOrders(loupe::Agent* agent, Faults* faults, ServiceOptions options) {
  return std::make_unique<Orders>(agent, faults, std::move(options));
}

}  // namespace demo
