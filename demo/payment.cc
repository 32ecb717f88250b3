// payment: charges orders. The card acquirer it talks to is simulated (a
// wait of bank_latency_min_ms..bank_latency_max_ms, recorded as an external
// step to acquirer.example) so the demo needs no network. Fault acted on
// here: external_timeout (the acquirer hangs for 10 s; orders gives up first).
#include <chrono>

#include "service.h"

namespace demo {
namespace {

constexpr int kHangMs = 10000;

int64_t NowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

// Not in the anonymous namespace: -rdynamic exports its member functions, so
// error stacks name them.
class Payment : public Service {
 public:
  Payment(loupe::Agent* agent, Faults* faults, ServiceOptions options)
      : Service("payment", agent, faults, std::move(options)) {}
  ~Payment() override { Stop(); }

 protected:
  bool Seed(std::string* error) override {
    return db_->Script(
        "CREATE TABLE IF NOT EXISTS payments (id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL,"
        " customer_id INTEGER NOT NULL, amount REAL NOT NULL, status TEXT NOT NULL,"
        " created_ms INTEGER NOT NULL);"
        "CREATE INDEX IF NOT EXISTS payments_order ON payments (order_id);",
        error);
  }

  bool Match(const HttpRequest& req, Route* r, std::string* id) override {
    if (req.method == "POST" && req.path == "/payments") {
      r->endpoint = "POST /payments";
      r->handler = [this](Call& c, HttpResponse* resp) { Charge(c, resp); };
      return true;
    }
    return false;
  }

 private:
  void Charge(Call& call, HttpResponse* resp) {
    LOUPE_METHOD(agent_, "payment::Charge");
    std::string order = FormValue(call.req.body, "order");
    std::string customer = FormValue(call.req.body, "customer");
    std::string amount_s = FormValue(call.req.body, "amount");
    if (!IsId(order) || !IsId(customer) || amount_s.empty() || amount_s.size() > 16) {
      resp->status = 400;
      resp->body = "{\"error\":\"order, customer and amount required\"}";
      return;
    }
    int64_t order_id = std::atoll(order.c_str());
    double amount = std::atof(amount_s.c_str());
    std::vector<SqlRow> prior;
    db_->Query("SELECT COUNT(*) FROM payments WHERE customer_id = ? AND status = 'declined'",
               {static_cast<int64_t>(std::atoll(customer.c_str()))}, &prior);
    bool declined;
    {
      loupe::Step step = loupe::Step::External("POST", "https://acquirer.example/v1/charges");
      if (faults_.on(Fault::kExternalTimeout)) {
        Pause(kHangMs);
        step.Error("acquirer did not answer within 10000 ms");
        resp->status = 504;
        resp->body = "{\"error\":\"acquirer timeout\"}";
        call.tx.SetError("AcquirerTimeout", "acquirer did not answer within 10000 ms");
        return;
      }
      Pause(Uniform(options_.bank_latency_min_ms, options_.bank_latency_max_ms));
      declined = Chance(0.03);
      step.HttpStatus(declined ? 402 : 201);
    }
    int64_t payment_id = 0;
    db_->Exec(
        "INSERT INTO payments (order_id, customer_id, amount, status, created_ms)"
        " VALUES (?, ?, ?, ?, ?)",
        {order_id, static_cast<int64_t>(std::atoll(customer.c_str())), amount,
         std::string(declined ? "declined" : "captured"), NowMs()},
        &payment_id);
    resp->status = declined ? 402 : 201;
    resp->body = "{\"payment_id\":" + std::to_string(payment_id) + ",\"status\":\"" +
                 (declined ? "declined" : "captured") + "\"}";
  }
};

std::unique_ptr<Service> NewPayment(loupe::Agent* agent, Faults* faults, ServiceOptions options) {
  return std::make_unique<Payment>(agent, faults, std::move(options));
}

}  // namespace demo
