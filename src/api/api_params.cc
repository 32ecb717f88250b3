// Parameter parsing and error responses of the API.
#include <strings.h>

#include <charconv>
#include <limits>

#include "api/api_internal.h"

namespace loupe::api::internal {
namespace {

// Times past this (year ~5138) are surely a unit mistake; rejecting them also
// keeps µs arithmetic far from overflow.
constexpr int64_t kMaxTimeMs = 100'000'000'000'000;

std::string Quoted(std::string_view s) {
  // Parameter values in messages: bounded, so error bodies stay small.
  constexpr size_t kMax = 64;
  std::string out = "'";
  out += s.size() > kMax ? std::string(s.substr(0, kMax)) + "..." : std::string(s);
  out += "'";
  return out;
}

}  // namespace

void SetError(net::HttpResponse* resp, int status, std::string_view code,
              std::string_view message) {
  std::string body;
  JsonWriter w(&body);
  w.StartObject();
  w.Key("error");
  w.StartObject();
  w.Field("code", code);
  w.Field("message", message);
  w.EndObject();
  w.EndObject();
  w.Finish();
  SetJson(resp, std::move(body), status);
}

void SetStatusError(net::HttpResponse* resp, const Status& s) {
  using C = Status::Code;
  switch (s.code()) {
    case C::kInvalidArgument:
      return SetError(resp, 400, "invalid_argument", s.message());
    case C::kNotFound:
    case C::kPermissionDenied:  // do not reveal that it exists
      return SetError(resp, 404, "not_found", s.message());
    case C::kAlreadyExists:
      return SetError(resp, 409, "already_exists", s.message());
    case C::kUnauthenticated:
      SetError(resp, 401, "unauthenticated", s.message());
      resp->headers.emplace_back("WWW-Authenticate", "Bearer");
      return;
    case C::kResourceExhausted:
      SetError(resp, 429, "resource_exhausted", s.message());
      resp->headers.emplace_back("Retry-After", "1");
      return;
    case C::kUnavailable:
      SetError(resp, 503, "unavailable", s.message());
      resp->headers.emplace_back("Retry-After", "1");
      return;
    default:
      return SetError(resp, 500, "internal", s.message());
  }
}

void SetJson(net::HttpResponse* resp, std::string body, int status) {
  resp->status = status;
  resp->content_type = "application/json; charset=utf-8";
  resp->body = std::move(body);
}

std::string_view BearerToken(std::string_view authorization) {
  if (authorization.size() < 7 || ::strncasecmp(authorization.data(), "bearer ", 7) != 0) {
    return {};
  }
  std::string_view t = authorization.substr(7);
  while (!t.empty() && t.front() == ' ') t.remove_prefix(1);
  while (!t.empty() && t.back() == ' ') t.remove_suffix(1);
  return t;
}

bool ParseMillis(std::string_view s, int64_t* us) {
  size_t dot = s.find('.');
  std::string_view whole = s.substr(0, dot);
  std::string_view frac = dot == std::string_view::npos ? std::string_view() : s.substr(dot + 1);
  if (whole.empty() || whole.size() > 15) return false;
  if (dot != std::string_view::npos && frac.empty()) return false;
  int64_t ms = 0;
  for (char c : whole) {
    if (c < '0' || c > '9') return false;
    ms = ms * 10 + (c - '0');
  }
  int64_t micros = 0;
  for (size_t i = 0; i < frac.size(); ++i) {
    char c = frac[i];
    if (c < '0' || c > '9') return false;
    if (i < 3) micros = micros * 10 + (c - '0');
  }
  for (size_t i = frac.size(); i < 3; ++i) micros *= 10;
  if (ms > kMaxTimeMs) return false;
  *us = ms * kMicrosPerMilli + micros;
  return true;
}

Status IntParam(const net::HttpRequest& req, std::string_view name, int64_t min, int64_t max,
                int64_t* out) {
  std::optional<std::string> v = req.Param(name);
  if (!v) return Status::OK();
  int64_t x = 0;
  const char* b = v->data();
  const char* e = b + v->size();
  auto [p, ec] = std::from_chars(b, e, x);
  if (v->empty() || ec != std::errc() || p != e) {
    return Status::InvalidArgument(std::string(name) + " must be an integer, got " + Quoted(*v));
  }
  if (x < min || x > max) {
    return Status::InvalidArgument(std::string(name) + " must be between " + std::to_string(min) +
                                   " and " + std::to_string(max));
  }
  *out = x;
  return Status::OK();
}

Status TimeRange(const net::HttpRequest& req, int64_t now_us, int max_range_days, int64_t* from_us,
                 int64_t* to_us) {
  int64_t to = now_us, from;
  if (auto v = req.Param("to")) {
    if (!ParseMillis(*v, &to)) {
      return Status::InvalidArgument("to must be Unix milliseconds, got " + Quoted(*v));
    }
  }
  from = to - kDefaultRangeUs;
  if (auto v = req.Param("from")) {
    if (!ParseMillis(*v, &from)) {
      return Status::InvalidArgument("from must be Unix milliseconds, got " + Quoted(*v));
    }
  }
  if (from >= to) return Status::InvalidArgument("from must be < to");
  if (to - from > int64_t{max_range_days} * 86400 * kMicrosPerSecond) {
    return Status::InvalidArgument("the range from..to may be at most " +
                                   std::to_string(max_range_days) + " days");
  }
  *from_us = from;
  *to_us = to;
  return Status::OK();
}

Status Filter(const net::HttpRequest& req, int64_t now_us, int max_range_days, store::TxFilter* f) {
  LOUPE_RETURN_IF_ERROR(TimeRange(req, now_us, max_range_days, &f->from_us, &f->to_us));
  if (auto v = req.Param("service")) f->service = std::move(*v);
  if (auto v = req.Param("instance")) f->instance = std::move(*v);
  if (auto v = req.Param("endpoint")) f->endpoint = std::move(*v);
  if (auto v = req.Param("user")) f->user = std::move(*v);
  if (auto v = req.Param("client_ip")) f->client_ip = std::move(*v);
  if (auto v = req.Param("min_ms"); v && !v->empty()) {
    if (!ParseMillis(*v, &f->min_elapsed_us)) {
      return Status::InvalidArgument("min_ms must be a non-negative number, got " + Quoted(*v));
    }
  }
  if (auto v = req.Param("max_ms"); v && !v->empty()) {
    if (!ParseMillis(*v, &f->max_elapsed_us)) {
      return Status::InvalidArgument("max_ms must be a non-negative number, got " + Quoted(*v));
    }
  }
  if (f->min_elapsed_us > f->max_elapsed_us) {
    return Status::InvalidArgument("min_ms must be <= max_ms");
  }
  if (auto v = req.Param("error")) {
    if (*v == "1" || *v == "true") {
      f->errors_only = true;
    } else if (*v == "0" || *v == "false" || v->empty()) {
      f->errors_only = false;
    } else {
      return Status::InvalidArgument("error must be 1 or 0, got " + Quoted(*v));
    }
  }
  return Status::OK();
}

Result<RangeRequest> ParseRangeRequest(const Env& env, const Call& call) {
  Result<auth::Project> project = ResolveProject(env, call);
  if (!project.ok()) return project.status();
  RangeRequest r{std::move(*project), {}};
  LOUPE_RETURN_IF_ERROR(Filter(*call.http, call.now_us, env.options.max_range_days, &r.filter));
  return r;
}

Result<auth::Project> ResolveProject(const Env& env, const Call& call) {
  std::string name = call.http->Param("project").value_or("default");
  if (name.empty()) name = "default";
  Result<auth::Project> p = env.deps.registry->FindProject(call.who, name);
  if (!p.ok()) {
    return Status::NotFound("no project " + Quoted(name));
  }
  return p;
}

}  // namespace loupe::api::internal
