// Status and Result<T>: the error type of every Loupe function that can fail.
//
// An OK Status holds no allocation and costs one pointer test. A non-OK Status
// carries a Code that says whether a retry can help (kUnavailable,
// kResourceExhausted) or not (kInvalidArgument, kCorruption, ...), and a
// message. Add context on the way up with Annotate(): "opening WAL segment 12: ...".
//
// Only ingest/ and api/ map codes to HTTP/gRPC statuses.
// Thread-safety: values; copy freely.
#ifndef LOUPE_COMMON_STATUS_H_
#define LOUPE_COMMON_STATUS_H_

#include <cassert>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace loupe {

class Status {
 public:
  enum class Code : unsigned char {
    kOk = 0,
    kInvalidArgument,    // bad input; retrying the same input fails again
    kNotFound,
    kAlreadyExists,
    kUnauthenticated,    // missing or wrong key/token
    kPermissionDenied,   // valid credentials, no access
    kResourceExhausted,  // over a limit (size, rate, disk); may succeed later
    kUnavailable,        // transient: overloaded, shutting down; retry later
    kCorruption,         // stored data failed a check
    kIoError,
    kInternal,
  };

  Status() noexcept = default;
  Status(Code code, std::string_view msg)
      : rep_(code == Code::kOk ? nullptr : std::make_shared<Rep>(Rep{code, std::string(msg)})) {}

  static Status OK() noexcept { return Status(); }
  static Status InvalidArgument(std::string_view m) { return Status(Code::kInvalidArgument, m); }
  static Status NotFound(std::string_view m) { return Status(Code::kNotFound, m); }
  static Status AlreadyExists(std::string_view m) { return Status(Code::kAlreadyExists, m); }
  static Status Unauthenticated(std::string_view m) { return Status(Code::kUnauthenticated, m); }
  static Status PermissionDenied(std::string_view m) { return Status(Code::kPermissionDenied, m); }
  static Status ResourceExhausted(std::string_view m) { return Status(Code::kResourceExhausted, m); }
  static Status Unavailable(std::string_view m) { return Status(Code::kUnavailable, m); }
  static Status Corruption(std::string_view m) { return Status(Code::kCorruption, m); }
  static Status IoError(std::string_view m) { return Status(Code::kIoError, m); }
  static Status Internal(std::string_view m) { return Status(Code::kInternal, m); }

  bool ok() const noexcept { return rep_ == nullptr; }
  Code code() const noexcept { return rep_ ? rep_->code : Code::kOk; }
  const std::string& message() const noexcept {
    static const std::string kEmpty;
    return rep_ ? rep_->message : kEmpty;
  }
  // True when the same request may succeed later.
  bool retryable() const noexcept {
    return code() == Code::kUnavailable || code() == Code::kResourceExhausted;
  }

  // Returns a copy whose message is "context: message".
  Status Annotate(std::string_view context) const {
    if (ok()) return *this;
    return Status(code(), std::string(context) + ": " + message());
  }

  std::string ToString() const;
  static std::string_view CodeName(Code c) noexcept;

 private:
  struct Rep {
    Code code;
    std::string message;
  };
  std::shared_ptr<const Rep> rep_;
};

// Result<T>: a T or a non-OK Status.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) {  // NOLINT
    assert(!status_.ok() && "Result constructed from OK status without a value");
    if (status_.ok()) status_ = Status::Internal("Result from OK status");
  }
  bool ok() const noexcept { return status_.ok(); }
  const Status& status() const noexcept { return status_; }
  T& value() & { assert(ok()); return *value_; }
  const T& value() const& { assert(ok()); return *value_; }
  T&& value() && { assert(ok()); return std::move(*value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

#define LOUPE_RETURN_IF_ERROR(expr)          \
  do {                                       \
    ::loupe::Status _st = (expr);            \
    if (!_st.ok()) return _st;               \
  } while (0)

}  // namespace loupe

#endif  // LOUPE_COMMON_STATUS_H_
