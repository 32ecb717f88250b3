// SQLite access for the demo services, with every statement recorded as a
// Loupe SQL step (text, bind values, rows fetched, fetch time).
#ifndef LOUPE_DEMO_DATABASE_H_
#define LOUPE_DEMO_DATABASE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

struct sqlite3;

namespace demo {

using SqlValue = std::variant<int64_t, double, std::string>;
using SqlRow = std::vector<std::string>;  // columns as text ("" for NULL)

// One SQLite database file. Each thread gets its own connection (opened on
// first use, closed with the Database), so statements never share a
// connection across threads. Thread-safe. The file uses WAL mode with a busy
// timeout, so concurrent writers wait rather than fail.
class Database {
 public:
  // Opens (creating if missing) `path` and registers the demo's SQL
  // functions (sleep_ms). nullptr with *error on failure.
  static std::unique_ptr<Database> Open(const std::string& path, std::string* error);
  ~Database();
  Database(const Database&) = delete;
  Database& operator=(const Database&) = delete;

  // Runs `sql` with `binds` as a SQL step of the calling thread's current
  // transaction and appends result rows to *rows (may be null). Returns false
  // with *error (may be null) on failure; the step is marked failed then.
  bool Query(std::string_view sql, const std::vector<SqlValue>& binds, std::vector<SqlRow>* rows,
             std::string* error = nullptr);
  // Like Query for statements without result rows; *last_id (may be null)
  // receives sqlite3_last_insert_rowid.
  bool Exec(std::string_view sql, const std::vector<SqlValue>& binds, int64_t* last_id = nullptr,
            std::string* error = nullptr);
  // Runs a script of statements without recording steps (schema, seeding).
  bool Script(std::string_view sql, std::string* error);

  const std::string& path() const { return path_; }

 private:
  struct Conn;
  explicit Database(std::string path);
  Conn* ThreadConn(std::string* error);
  bool Run(std::string_view sql, const std::vector<SqlValue>& binds, std::vector<SqlRow>* rows,
           int64_t* last_id, std::string* error);

  const std::string path_;
  const uint64_t id_;  // distinguishes Database objects in the per-thread connection map
  std::mutex mu_;
  std::vector<Conn*> conns_;  // every thread's connection; guarded by mu_
};

// Makes every running and future sleep_ms() return at once (shutdown).
void InterruptSqlSleeps();

}  // namespace demo

#endif  // LOUPE_DEMO_DATABASE_H_
