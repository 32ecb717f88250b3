#include "database.h"

#include <sqlite3.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <unordered_map>

#include "loupe/agent.h"

namespace demo {
namespace {

std::atomic<uint64_t> next_database_id{1};
std::atomic<bool> sleeps_interrupted{false};

// sleep_ms(ms): sleeps (at most 30 s) and returns 0. Lets the slow-SQL fault
// make a statement slow inside SQLite itself, so the time shows on the SQL step.
void SleepMs(sqlite3_context* ctx, int argc, sqlite3_value** argv) {
  int64_t ms = argc > 0 ? std::min<int64_t>(sqlite3_value_int64(argv[0]), 30000) : 0;
  for (; ms > 0 && !sleeps_interrupted.load(std::memory_order_relaxed); ms -= 20) {
    usleep(static_cast<useconds_t>(std::min<int64_t>(ms, 20) * 1000));
  }
  sqlite3_result_int(ctx, 0);
}

std::string ToText(const SqlValue& v) {
  if (const auto* i = std::get_if<int64_t>(&v)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&v)) {
    char buf[32];
    snprintf(buf, sizeof buf, "%.2f", *d);
    return buf;
  }
  return std::get<std::string>(v);
}

double MsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

struct Database::Conn {
  sqlite3* db = nullptr;
  std::unordered_map<std::string, sqlite3_stmt*> stmts;  // prepared statement cache
  ~Conn() {
    for (auto& [sql, st] : stmts) sqlite3_finalize(st);
    sqlite3_close(db);
  }
};

void InterruptSqlSleeps() { sleeps_interrupted.store(true); }

Database::Database(std::string path) : path_(std::move(path)), id_(next_database_id++) {}

Database::~Database() {
  for (Conn* c : conns_) delete c;
}

std::unique_ptr<Database> Database::Open(const std::string& path, std::string* error) {
  std::unique_ptr<Database> db(new Database(path));
  Conn* c = db->ThreadConn(error);
  if (c == nullptr) return nullptr;
  if (!db->Script("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", error)) return nullptr;
  return db;
}

Database::Conn* Database::ThreadConn(std::string* error) {
  thread_local std::unordered_map<uint64_t, Conn*> mine;
  auto it = mine.find(id_);
  if (it != mine.end()) return it->second;
  auto* c = new Conn;
  int rc =
      sqlite3_open_v2(path_.c_str(), &c->db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    if (error) *error = "opening " + path_ + ": " + sqlite3_errstr(rc);
    delete c;
    return nullptr;
  }
  sqlite3_busy_timeout(c->db, 10000);
  sqlite3_create_function(c->db, "sleep_ms", 1, SQLITE_UTF8, nullptr, SleepMs, nullptr, nullptr);
  {
    std::lock_guard<std::mutex> lock(mu_);
    conns_.push_back(c);
  }
  mine.emplace(id_, c);
  return c;
}

bool Database::Script(std::string_view sql, std::string* error) {
  Conn* c = ThreadConn(error);
  if (c == nullptr) return false;
  char* msg = nullptr;
  std::string text(sql);
  if (sqlite3_exec(c->db, text.c_str(), nullptr, nullptr, &msg) != SQLITE_OK) {
    if (error) *error = msg ? msg : "sqlite3_exec failed";
    sqlite3_free(msg);
    return false;
  }
  return true;
}

bool Database::Query(std::string_view sql, const std::vector<SqlValue>& binds,
                     std::vector<SqlRow>* rows, std::string* error) {
  return Run(sql, binds, rows, nullptr, error);
}

bool Database::Exec(std::string_view sql, const std::vector<SqlValue>& binds, int64_t* last_id,
                    std::string* error) {
  return Run(sql, binds, nullptr, last_id, error);
}

bool Database::Run(std::string_view sql, const std::vector<SqlValue>& binds,
                   std::vector<SqlRow>* rows, int64_t* last_id, std::string* error) {
  loupe::Step step = loupe::Step::Sql("sqlite", sql);
  // Formatting binds is instrumentation work: skipped when the step is not
  // recorded (agent off), so "agent off" runs only the application's work.
  if (step.recording()) {
    for (const SqlValue& v : binds) step.Bind(ToText(v));
  }
  std::string err;
  Conn* c = ThreadConn(&err);
  if (c == nullptr) {
    step.Error(err);
    if (error) *error = err;
    return false;
  }
  std::string key(sql);
  sqlite3_stmt* st;
  auto it = c->stmts.find(key);
  if (it != c->stmts.end()) {
    st = it->second;
  } else {
    if (sqlite3_prepare_v2(c->db, key.c_str(), static_cast<int>(key.size()), &st, nullptr) !=
        SQLITE_OK) {
      err = sqlite3_errmsg(c->db);
      step.Error(err);
      if (error) *error = err;
      return false;
    }
    c->stmts.emplace(std::move(key), st);
  }
  for (size_t i = 0; i < binds.size(); ++i) {
    int idx = static_cast<int>(i + 1);
    const SqlValue& v = binds[i];
    if (const auto* n = std::get_if<int64_t>(&v)) {
      sqlite3_bind_int64(st, idx, *n);
    } else if (const auto* d = std::get_if<double>(&v)) {
      sqlite3_bind_double(st, idx, *d);
    } else {
      const std::string& s = std::get<std::string>(v);
      sqlite3_bind_text(st, idx, s.data(), static_cast<int>(s.size()), SQLITE_TRANSIENT);
    }
  }
  // Execution is the first sqlite3_step; fetching is the rest (what Loupe
  // shows as fetch time, as JDBC agents do for ResultSet.next()).
  int rc = sqlite3_step(st);
  auto fetch_start = std::chrono::steady_clock::now();
  int64_t n = 0;
  while (rc == SQLITE_ROW) {
    ++n;
    if (rows != nullptr) {
      int cols = sqlite3_column_count(st);
      SqlRow row(static_cast<size_t>(cols));
      for (int i = 0; i < cols; ++i) {
        const unsigned char* t = sqlite3_column_text(st, i);
        if (t)
          row[static_cast<size_t>(i)].assign(reinterpret_cast<const char*>(t),
                                             static_cast<size_t>(sqlite3_column_bytes(st, i)));
      }
      rows->push_back(std::move(row));
    }
    rc = sqlite3_step(st);
  }
  double fetch_ms = MsSince(fetch_start);
  bool ok = rc == SQLITE_DONE;
  if (!ok) err = sqlite3_errmsg(c->db);
  if (ok && last_id != nullptr) *last_id = sqlite3_last_insert_rowid(c->db);
  sqlite3_reset(st);
  sqlite3_clear_bindings(st);
  step.Rows(n, n > 0 ? fetch_ms : 0);
  if (!ok) {
    step.Error(err);
    if (error) *error = err;
  }
  return ok;
}

}  // namespace demo
