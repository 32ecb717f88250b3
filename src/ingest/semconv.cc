#include "ingest/semconv.h"

#include <algorithm>
#include <charconv>

#include "ingest/endpoint_normalizer.h"

namespace loupe::ingest {
namespace {

using model::AttrValue;
using model::KeyValue;

constexpr std::string_view kParamPrefix = "db.query.parameter.";
constexpr size_t kMaxBinds = 64;

constexpr std::pair<std::string_view, Attr> kKnownAttrs[] = {
    {"http.request.method", Attr::kHttpRequestMethod},
    {"http.method", Attr::kHttpMethod},
    {"http.route", Attr::kHttpRoute},
    {"url.full", Attr::kUrlFull},
    {"http.url", Attr::kHttpUrl},
    {"url.path", Attr::kUrlPath},
    {"url.query", Attr::kUrlQuery},
    {"http.target", Attr::kHttpTarget},
    {"url.scheme", Attr::kUrlScheme},
    {"http.scheme", Attr::kHttpScheme},
    {"http.host", Attr::kHttpHost},
    {"http.response.status_code", Attr::kHttpResponseStatusCode},
    {"http.status_code", Attr::kHttpStatusCode},
    {"rpc.grpc.status_code", Attr::kRpcGrpcStatusCode},
    {"client.address", Attr::kClientAddress},
    {"http.client_ip", Attr::kHttpClientIp},
    {"net.peer.ip", Attr::kNetPeerIp},
    {"net.sock.peer.addr", Attr::kNetSockPeerAddr},
    {"network.peer.address", Attr::kNetworkPeerAddress},
    {"enduser.id", Attr::kEnduserId},
    {"user.id", Attr::kUserId},
    {"db.system", Attr::kDbSystem},
    {"db.system.name", Attr::kDbSystemName},
    {"db.statement", Attr::kDbStatement},
    {"db.query.text", Attr::kDbQueryText},
    {"db.operation.name", Attr::kDbOperationName},
    {"db.operation", Attr::kDbOperation},
    {"db.response.returned_rows", Attr::kDbResponseReturnedRows},
    {"db.rows_affected", Attr::kDbRowsAffected},
    {"db.row_count", Attr::kDbRowCount},
    {"loupe.sql.binds", Attr::kLoupeSqlBinds},
    {"loupe.sql.rows", Attr::kLoupeSqlRows},
    {"server.address", Attr::kServerAddress},
    {"server.port", Attr::kServerPort},
    {"net.peer.name", Attr::kNetPeerName},
    {"net.peer.port", Attr::kNetPeerPort},
    {"rpc.service", Attr::kRpcService},
    {"rpc.method", Attr::kRpcMethod},
    {"messaging.system", Attr::kMessagingSystem},
};

// Key → Attr. Every attribute of every span is looked up, so this is a tiny
// hash table on length and three bytes rather than a general hash map (which
// took 17% of BM_AssemblerAdd's profile): most unknown keys miss on a single
// length compare.
class AttrIndex {
 public:
  AttrIndex() {
    for (const auto& [key, attr] : kKnownAttrs) {
      Slot* bucket = table_[Bucket(key)];
      size_t i = 0;
      while (i < kWays && bucket[i].attr != Attr::kNone) ++i;
      if (i < kWays) {
        bucket[i] = {key, attr};
      } else {
        overflow_.push_back({key, attr});  // not with the current keys; kept correct anyway
      }
    }
  }
  Attr Find(std::string_view key) const noexcept {
    if (key.empty()) return Attr::kNone;
    const Slot* bucket = table_[Bucket(key)];
    for (size_t i = 0; i < kWays && bucket[i].attr != Attr::kNone; ++i) {
      if (bucket[i].key == key) return bucket[i].attr;
    }
    for (const Slot& s : overflow_) {
      if (s.key == key) return s.attr;
    }
    return Attr::kNone;
  }

 private:
  static constexpr size_t kBuckets = 256, kWays = 3;
  struct Slot {
    std::string_view key;
    Attr attr = Attr::kNone;
  };
  static size_t Bucket(std::string_view k) noexcept {
    const size_t n = k.size();
    return (n * 37 + static_cast<uint8_t>(k[0]) * 7 + static_cast<uint8_t>(k[n - 1]) * 3 +
            static_cast<uint8_t>(k[n / 2])) &
           (kBuckets - 1);
  }
  Slot table_[kBuckets][kWays];
  std::vector<Slot> overflow_;
};

const AttrIndex& Index() {
  static const AttrIndex index;
  return index;
}

// The well-known attributes of one span, found in one pass over its attributes.
struct Scan {
  const AttrValue* v[static_cast<size_t>(Attr::kCount)] = {};
  const KeyValue* binds[kMaxBinds];
  size_t num_binds = 0;
  size_t binds_dropped = 0;
  uint64_t others = 0;  // bit i: attribute i (< 64) is not mapped (goes to step.attributes)
  size_t num_others = 0;

  const AttrValue* operator[](Attr a) const { return v[static_cast<size_t>(a)]; }
  // The first present of a and b.
  const AttrValue* Either(Attr a, Attr b) const { return (*this)[a] ? (*this)[a] : (*this)[b]; }
};

// True when an attribute is mapped into a model field (and so not repeated in
// step.attributes). messaging.system only picks the step kind; it stays visible.
bool IsMapped(Attr a) { return a != Attr::kNone && a != Attr::kMessagingSystem; }

void ScanAttrs(std::span<const KeyValue> attrs, Scan* scan) {
  for (size_t i = 0; i < attrs.size(); ++i) {
    const KeyValue& kv = attrs[i];
    Attr a = LookupAttr(kv.key);
    if (a != Attr::kNone) {
      const AttrValue*& slot = scan->v[static_cast<size_t>(a)];
      if (slot == nullptr) slot = &kv.value;  // the first of a repeated key wins
      if (IsMapped(a)) continue;
    } else if (kv.key.starts_with(kParamPrefix)) {
      if (scan->num_binds < kMaxBinds) {
        scan->binds[scan->num_binds++] = &kv;
      } else {
        ++scan->binds_dropped;
      }
      continue;
    }
    if (i < 64) scan->others |= uint64_t{1} << i;
    ++scan->num_others;
  }
}

// Text of a string-ish value; empty for other types (see AppendValue).
std::string_view Str(const AttrValue* v) {
  if (v == nullptr) return {};
  return v->type == AttrValue::Type::kString ? v->s : std::string_view();
}

bool IsStringish(const AttrValue* v) {
  return v != nullptr && v->type == AttrValue::Type::kString && !v->s.empty();
}

// Integer value of an int attribute, or of a string/double holding one.
bool IntOf(const AttrValue* v, int64_t* out) {
  if (v == nullptr) return false;
  switch (v->type) {
    case AttrValue::Type::kInt:
      *out = v->i;
      return true;
    case AttrValue::Type::kDouble:
      if (v->d >= -9e18 && v->d <= 9e18 &&
          v->d == static_cast<double>(static_cast<int64_t>(v->d))) {
        *out = static_cast<int64_t>(v->d);
        return true;
      }
      return false;
    case AttrValue::Type::kString: {
      const char* b = v->s.data();
      const char* e = b + v->s.size();
      auto r = std::from_chars(b, e, *out);
      return r.ec == std::errc() && r.ptr == e;
    }
    default:
      return false;
  }
}

int32_t StatusOf(const AttrValue* v) {
  int64_t s;
  if (!IntOf(v, &s) || s < 0 || s > 999999) return 0;
  return static_cast<int32_t>(s);
}

constexpr char kHexDigits[] = "0123456789abcdef";

// Appends any value as text, capped.
void AppendValue(const AttrValue& v, size_t max, std::string* out, MappingStats* stats) {
  switch (v.type) {
    case AttrValue::Type::kString:
    case AttrValue::Type::kArray:
    case AttrValue::Type::kKvList:
      AppendCapped(v.s, max, out, stats);
      return;
    case AttrValue::Type::kBytes: {
      // Raw bytes are not text: show them as hex.
      size_t n = std::min(v.s.size(), max / 2);
      if (n < v.s.size()) ++stats->truncated;
      for (size_t i = 0; i < n; ++i) {
        auto c = static_cast<uint8_t>(v.s[i]);
        out->push_back(kHexDigits[c >> 4]);
        out->push_back(kHexDigits[c & 15]);
      }
      return;
    }
    default:
      v.AppendText(out);  // numbers and bools: short
      return;
  }
}

void AppendOpt(const AttrValue* v, size_t max, std::string* out, MappingStats* stats) {
  if (v != nullptr) AppendValue(*v, max, out, stats);
}

// "db.query.parameter.<key>" ordering: numeric keys numerically, first; then
// the others by text.
bool BindKeyLess(std::string_view a, std::string_view b) {
  auto numeric = [](std::string_view s) {
    if (s.empty()) return false;
    for (char c : s) {
      if (c < '0' || c > '9') return false;
    }
    return true;
  };
  bool na = numeric(a), nb = numeric(b);
  if (na != nb) return na;
  if (na) {
    while (a.size() > 1 && a[0] == '0') a.remove_prefix(1);
    while (b.size() > 1 && b[0] == '0') b.remove_prefix(1);
    if (a.size() != b.size()) return a.size() < b.size();
  }
  return a < b;
}

std::string_view FindStr(const SpanRef& s, const model::SpanEvent& e, std::string_view key) {
  for (const KeyValue& kv : s.event_attrs(e)) {
    if (kv.key == key) return kv.value.type == AttrValue::Type::kString ? kv.value.s : "";
  }
  return {};
}

const KeyValue* FindKv(std::span<const KeyValue> attrs, std::string_view key) {
  for (const KeyValue& kv : attrs) {
    if (kv.key == key) return &kv;
  }
  return nullptr;
}

// The request path of a server or client span: url.path | http.target | path
// of url.full / http.url. Sets *found when any of them is present.
std::string_view RequestPath(const Scan& a, bool* found) {
  *found = true;
  if (IsStringish(a[Attr::kUrlPath])) return Str(a[Attr::kUrlPath]);
  if (IsStringish(a[Attr::kHttpTarget])) return UrlPath(Str(a[Attr::kHttpTarget]));
  if (IsStringish(a[Attr::kUrlFull])) return UrlPath(Str(a[Attr::kUrlFull]));
  if (IsStringish(a[Attr::kHttpUrl])) return UrlPath(Str(a[Attr::kHttpUrl]));
  *found = false;
  return {};
}

// Path and query as sent: url.path ["?" url.query] | http.target.
void AppendPathAndQuery(const Scan& a, size_t max, std::string* out, MappingStats* stats) {
  if (IsStringish(a[Attr::kUrlPath])) {
    size_t start = out->size();
    AppendCapped(Str(a[Attr::kUrlPath]), max, out, stats);
    if (IsStringish(a[Attr::kUrlQuery]) && out->size() - start < max) {
      out->push_back('?');
      AppendCapped(Str(a[Attr::kUrlQuery]), max - (out->size() - start), out, stats);
    }
  } else if (IsStringish(a[Attr::kHttpTarget])) {
    AppendCapped(Str(a[Attr::kHttpTarget]), max, out, stats);
  }
}

// Peer host of a client span: server.address | net.peer.name | http.host.
const AttrValue* PeerHost(const Scan& a) {
  if (IsStringish(a[Attr::kServerAddress])) return a[Attr::kServerAddress];
  if (IsStringish(a[Attr::kNetPeerName])) return a[Attr::kNetPeerName];
  if (IsStringish(a[Attr::kHttpHost])) return a[Attr::kHttpHost];
  return nullptr;
}

const AttrValue* FirstString(const Scan& a, std::initializer_list<Attr> keys) {
  for (Attr k : keys) {
    if (IsStringish(a[k])) return a[k];
  }
  return nullptr;
}

void MapExternal(const Scan& a, const MappingLimits& limits, model::Step* out,
                 MappingStats* stats) {
  const AttrValue* host = PeerHost(a);
  AppendOpt(host, limits.max_string_bytes, &out->host, stats);
  out->http_status = StatusOf(a[Attr::kHttpResponseStatusCode]);
  if (out->http_status == 0) out->http_status = StatusOf(a[Attr::kHttpStatusCode]);
  if (out->http_status == 0 && a[Attr::kRpcGrpcStatusCode] != nullptr) {
    out->http_status = StatusOf(a[Attr::kRpcGrpcStatusCode]);
  }

  if (const AttrValue* full = FirstString(a, {Attr::kUrlFull, Attr::kHttpUrl})) {
    AppendValue(*full, limits.max_string_bytes, &out->url, stats);
    return;
  }
  const bool has_path = IsStringish(a[Attr::kUrlPath]) || IsStringish(a[Attr::kHttpTarget]);
  const bool is_rpc = IsStringish(a[Attr::kRpcService]);
  if (host == nullptr && !has_path && !is_rpc) return;

  std::string& url = out->url;
  if (host != nullptr) {
    if (const AttrValue* scheme = FirstString(a, {Attr::kUrlScheme, Attr::kHttpScheme})) {
      url.append(scheme->s.substr(0, 16));
      url.append("://");
    }
    AppendValue(*host, limits.max_string_bytes, &url, stats);
    int64_t port;
    if ((IntOf(a[Attr::kServerPort], &port) || IntOf(a[Attr::kNetPeerPort], &port)) && port > 0 &&
        port < 65536 && host->s.find(':') == std::string_view::npos) {
      url.push_back(':');
      char buf[8];
      auto r = std::to_chars(buf, buf + sizeof buf, port);
      url.append(buf, r.ptr);
    }
  }
  if (has_path) {
    AppendPathAndQuery(a, limits.max_string_bytes, &url, stats);
  } else if (is_rpc) {
    if (host != nullptr) url.push_back('/');
    url.append(Str(a[Attr::kRpcService]));
    if (IsStringish(a[Attr::kRpcMethod])) {
      url.push_back('/');
      url.append(Str(a[Attr::kRpcMethod]));
    }
  }
  if (url.size() > limits.max_string_bytes) {
    std::string cut;
    AppendCapped(url, limits.max_string_bytes, &cut, stats);
    url.swap(cut);
  }
}

// Parses the decoders' JSON rendering of an array (`["a",1,null]`) into at
// most `max_items` texts, each cut to `max_bytes`; non-string items keep their
// JSON text. Stops quietly at anything malformed (the input came from our own
// renderer, but is bounded anyway).
void ParseJsonStringArray(std::string_view json, size_t max_items, size_t max_bytes,
                          std::vector<std::string>* out, MappingStats* stats) {
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < json.size() && (json[i] == ' ' || json[i] == '\n' || json[i] == '\t')) ++i;
  };
  skip_ws();
  if (i >= json.size() || json[i] != '[') return;
  ++i;
  while (true) {
    skip_ws();
    if (i >= json.size() || json[i] == ']') return;
    std::string item;
    if (json[i] == '"') {
      ++i;
      while (i < json.size() && json[i] != '"') {
        char c = json[i++];
        if (c == '\\' && i < json.size()) {
          char e = json[i++];
          switch (e) {
            case 'n': c = '\n'; break;
            case 't': c = '\t'; break;
            case 'r': c = '\r'; break;
            case 'b': c = '\b'; break;
            case 'f': c = '\f'; break;
            case 'u': {
              // \uXXXX: keep ASCII, replace the rest (binds are shown, not re-executed).
              unsigned v = 0;
              for (int k = 0; k < 4 && i < json.size(); ++k, ++i) {
                const char h = json[i];
                v = v * 16 + static_cast<unsigned>(h >= '0' && h <= '9'   ? h - '0'
                                                   : h >= 'a' && h <= 'f' ? h - 'a' + 10
                                                   : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                                                          : 0);
              }
              c = v < 0x80 ? static_cast<char>(v) : '?';
              break;
            }
            default: c = e;
          }
        }
        item.push_back(c);
      }
      if (i >= json.size()) return;
      ++i;  // closing quote
    } else {
      const size_t start = i;
      while (i < json.size() && json[i] != ',' && json[i] != ']') ++i;
      item.assign(json.substr(start, i - start));
    }
    if (out->size() >= max_items) {
      ++stats->truncated;
      return;
    }
    std::string capped;
    AppendCapped(item, max_bytes, &capped, stats);
    out->push_back(std::move(capped));
    skip_ws();
    if (i < json.size() && json[i] == ',') ++i;
  }
}

void MapSql(const Scan& a, const MappingLimits& limits, model::Step* out, MappingStats* stats) {
  if (const AttrValue* text = FirstString(a, {Attr::kDbQueryText, Attr::kDbStatement,
                                              Attr::kDbOperationName, Attr::kDbOperation})) {
    AppendCapped(text->s, limits.max_sql_bytes, &out->sql, stats);
  }
  AppendOpt(a.Either(Attr::kDbSystem, Attr::kDbSystemName), limits.max_string_bytes,
            &out->db_system, stats);
  int64_t rows;
  if (IntOf(a[Attr::kDbResponseReturnedRows], &rows) || IntOf(a[Attr::kDbRowsAffected], &rows) ||
      IntOf(a[Attr::kDbRowCount], &rows) || IntOf(a[Attr::kLoupeSqlRows], &rows)) {
    out->rows = rows;
  }
  AppendOpt(PeerHost(a), limits.max_string_bytes, &out->host, stats);
  if (a.num_binds > 0) {
    const KeyValue* binds[kMaxBinds];
    std::copy(a.binds, a.binds + a.num_binds, binds);
    std::stable_sort(binds, binds + a.num_binds, [](const KeyValue* x, const KeyValue* y) {
      return BindKeyLess(x->key.substr(kParamPrefix.size()), y->key.substr(kParamPrefix.size()));
    });
    out->binds.resize(a.num_binds);
    for (size_t i = 0; i < a.num_binds; ++i) {
      AppendValue(binds[i]->value, limits.max_attribute_value_bytes, &out->binds[i], stats);
    }
  }
  stats->truncated += a.binds_dropped;
  // A Loupe agent's bind list: an array, which the decoders render as JSON.
  if (out->binds.empty()) {
    if (const AttrValue* v = a[Attr::kLoupeSqlBinds]; v && v->type == AttrValue::Type::kArray) {
      ParseJsonStringArray(v->s, kMaxBinds, limits.max_attribute_value_bytes, &out->binds, stats);
    }
  }
}

void AppendOtherAttributes(std::span<const KeyValue> attrs, const Scan& scan,
                           const MappingLimits& limits, model::Step* out, MappingStats* stats) {
  if (scan.num_others == 0) return;
  out->attributes.reserve(std::min(scan.num_others, limits.max_attributes_per_step));
  for (size_t i = 0; i < attrs.size(); ++i) {
    const KeyValue& kv = attrs[i];
    if (out->attributes.size() >= limits.max_attributes_per_step) break;
    if (i < 64 ? (scan.others >> i & 1) == 0
               : IsMapped(LookupAttr(kv.key)) || kv.key.starts_with(kParamPrefix)) {
      continue;
    }
    auto& [k, v] = out->attributes.emplace_back();
    AppendCapped(kv.key, limits.max_attribute_value_bytes, &k, stats);
    AppendValue(kv.value, limits.max_attribute_value_bytes, &v, stats);
  }
}

}  // namespace

Attr LookupAttr(std::string_view key) noexcept { return Index().Find(key); }

bool AppendCapped(std::string_view s, size_t max, std::string* out, MappingStats* stats) {
  if (s.size() <= max) {
    out->append(s);
    return true;
  }
  size_t end = max;
  while (end > 0 && (static_cast<uint8_t>(s[end]) & 0xC0) == 0x80) --end;
  out->append(s.substr(0, end));
  if (stats != nullptr) ++stats->truncated;
  return false;
}

ResourceInfo MapResource(std::span<const KeyValue> attrs, const MappingLimits& limits,
                         MappingStats* stats) {
  ResourceInfo r;
  const KeyValue* service = FindKv(attrs, "service.name");
  if (service != nullptr && !service->value.s.empty()) {
    AppendValue(service->value, limits.max_string_bytes, &r.service, stats);
  }
  if (r.service.empty()) r.service = kUnknownService;
  if (const KeyValue* host = FindKv(attrs, "host.name")) {
    AppendValue(host->value, limits.max_string_bytes, &r.host, stats);
  }
  const KeyValue* id = FindKv(attrs, "service.instance.id");
  if (id != nullptr) AppendValue(id->value, limits.max_string_bytes, &r.instance, stats);
  if (r.instance.empty() && !r.host.empty()) {
    r.instance = r.host;
    if (const KeyValue* pid = FindKv(attrs, "process.pid")) {
      r.instance.push_back(':');
      AppendValue(pid->value, 32, &r.instance, stats);
    }
  }
  if (r.instance.empty()) r.instance = r.service;
  if (const KeyValue* lang = FindKv(attrs, "telemetry.sdk.language")) {
    AppendValue(lang->value, limits.max_string_bytes, &r.kind, stats);
  }
  if (const KeyValue* name = FindKv(attrs, "telemetry.sdk.name")) {
    AppendValue(name->value, limits.max_string_bytes, &r.sdk, stats);
    if (const KeyValue* ver = FindKv(attrs, "telemetry.sdk.version")) {
      r.sdk.push_back(' ');
      AppendValue(ver->value, limits.max_string_bytes, &r.sdk, stats);
    }
  }
  return r;
}

bool SpanTimesUs(const model::Span& span, int64_t* start_us, int64_t* end_us) noexcept {
  *end_us = static_cast<int64_t>(span.end_unix_nano / 1000);
  *start_us = static_cast<int64_t>(span.start_unix_nano / 1000);
  if (span.start_unix_nano == 0 || *start_us > *end_us) {
    *start_us = *end_us;
    return true;
  }
  return false;
}

void MapStep(const SpanRef& s, const MappingLimits& limits, model::Step* out, MappingStats* stats) {
  const model::Span& span = *s.span;
  *out = model::Step();
  out->span_id = span.span_id;
  out->parent_span_id = span.parent_span_id;
  int64_t start, end;
  SpanTimesUs(span, &start, &end);
  out->start_us = start;
  out->elapsed_us = end - start;
  AppendCapped(span.name, limits.max_string_bytes, &out->name, stats);

  Scan a;
  ScanAttrs(s.span_attrs(), &a);
  const bool sql = a[Attr::kDbSystem] || a[Attr::kDbSystemName] || a[Attr::kDbStatement] ||
                   a[Attr::kDbQueryText];
  if (sql) {
    out->kind = model::StepKind::kSql;
    MapSql(a, limits, out, stats);
  } else if (a[Attr::kMessagingSystem] || span.kind == model::SpanKind::kProducer ||
             span.kind == model::SpanKind::kConsumer) {
    out->kind = model::StepKind::kMessage;
    AppendOpt(PeerHost(a), limits.max_string_bytes, &out->host, stats);
  } else if (span.kind == model::SpanKind::kClient) {
    out->kind = model::StepKind::kExternal;
    MapExternal(a, limits, out, stats);
  } else {
    out->kind = model::StepKind::kMethod;
  }
  out->error = span.status == model::SpanStatus::kError ||
               (out->kind == model::StepKind::kExternal && out->http_status >= 500 &&
                out->http_status <= 999);
  AppendCapped(span.status_message, limits.max_string_bytes, &out->message, stats);
  AppendOtherAttributes(s.span_attrs(), a, limits, out, stats);
}

size_t AppendErrorSteps(const SpanRef& s, const MappingLimits& limits,
                        std::vector<model::Step>* out, MappingStats* stats) {
  size_t n = 0;
  for (const model::SpanEvent& e : s.span_events()) {
    if (!IsExceptionEvent(e)) continue;
    model::Step& step = out->emplace_back();
    step.kind = model::StepKind::kError;
    step.error = true;
    step.parent_span_id = s.span->span_id;
    step.start_us = e.time_unix_nano != 0 ? static_cast<int64_t>(e.time_unix_nano / 1000)
                                          : static_cast<int64_t>(s.span->end_unix_nano / 1000);
    std::string_view type = FindStr(s, e, "exception.type");
    AppendCapped(type.empty() ? std::string_view("exception") : type, limits.max_string_bytes,
                 &step.name, stats);
    AppendCapped(FindStr(s, e, "exception.message"), limits.max_string_bytes, &step.message, stats);
    AppendCapped(FindStr(s, e, "exception.stacktrace"), limits.max_stack_bytes, &step.stack, stats);
    ++n;
  }
  return n;
}

void MapTransaction(const SpanRef& s, const MappingLimits& limits, model::Transaction* tx,
                    MappingStats* stats) {
  const model::Span& span = *s.span;
  tx->trace_id = span.trace_id;
  tx->span_id = span.span_id;
  tx->parent_span_id = span.parent_span_id;
  SpanTimesUs(span, &tx->start_us, &tx->end_us);

  Scan a;
  ScanAttrs(s.span_attrs(), &a);

  // Method and endpoint.
  tx->http_method.clear();
  if (const AttrValue* m = FirstString(a, {Attr::kHttpRequestMethod, Attr::kHttpMethod})) {
    AppendCapped(m->s, 32, &tx->http_method, stats);
  }
  std::string& ep = tx->endpoint;
  ep.clear();
  auto method_prefix = [&] {
    if (!tx->http_method.empty()) {
      ep.append(tx->http_method);
      ep.push_back(' ');
    }
  };
  bool has_path;
  std::string_view path = RequestPath(a, &has_path);
  if (IsStringish(a[Attr::kHttpRoute])) {
    method_prefix();
    AppendCapped(Str(a[Attr::kHttpRoute]),
                 limits.max_endpoint_bytes - std::min(ep.size(), limits.max_endpoint_bytes), &ep,
                 stats);
  } else if (has_path) {
    method_prefix();
    AppendNormalizedPath(
        path, &ep, limits.max_endpoint_bytes - std::min(ep.size(), limits.max_endpoint_bytes));
  } else {
    AppendCapped(span.name, limits.max_endpoint_bytes, &ep, stats);
  }

  // URL as requested.
  tx->url.clear();
  if (const AttrValue* full = FirstString(a, {Attr::kUrlFull, Attr::kHttpUrl})) {
    AppendCapped(full->s, limits.max_string_bytes, &tx->url, stats);
  } else {
    AppendPathAndQuery(a, limits.max_string_bytes, &tx->url, stats);
  }

  tx->status = StatusOf(a[Attr::kHttpResponseStatusCode]);
  if (tx->status == 0) tx->status = StatusOf(a[Attr::kHttpStatusCode]);

  tx->client_ip.clear();
  AppendOpt(FirstString(a, {Attr::kClientAddress, Attr::kHttpClientIp, Attr::kNetPeerIp,
                            Attr::kNetSockPeerAddr, Attr::kNetworkPeerAddress}),
            limits.max_string_bytes, &tx->client_ip, stats);
  tx->user.clear();
  if (const AttrValue* u = a.Either(Attr::kEnduserId, Attr::kUserId)) {
    AppendValue(*u, limits.max_string_bytes, &tx->user, stats);
  }

  // Error and its type.
  std::string_view first_exception;
  bool has_exception = false;
  for (const model::SpanEvent& e : s.span_events()) {
    if (!IsExceptionEvent(e)) continue;
    has_exception = true;
    first_exception = FindStr(s, e, "exception.type");
    break;
  }
  const bool http_error = tx->status >= 500 && tx->status <= 999;
  tx->error = span.status == model::SpanStatus::kError || http_error || has_exception;
  tx->error_type.clear();
  if (tx->error) {
    if (!first_exception.empty()) {
      AppendCapped(first_exception, limits.max_string_bytes, &tx->error_type, stats);
    } else if (http_error) {
      tx->error_type = "HTTP " + std::to_string(tx->status);
    } else if (!span.status_message.empty()) {
      AppendCapped(span.status_message, limits.max_string_bytes, &tx->error_type, stats);
    } else {
      tx->error_type = "error";
    }
  }
}

}  // namespace loupe::ingest
