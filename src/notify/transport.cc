#include "notify/transport.h"

#include <curl/curl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>

namespace loupe::notify {

namespace {

struct CurlFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using CurlHandle = std::unique_ptr<CURL, CurlFree>;
using Slist = std::unique_ptr<curl_slist, SlistFree>;

void Append(Slist* list, const std::string& s) {
  curl_slist* l = curl_slist_append(list->get(), s.c_str());
  if (l != nullptr) {
    (void)list->release();
    list->reset(l);
  }
}

// Replaces every occurrence of `secret` in `text` (a curl message may quote
// the URL).
void Scrub(std::string* text, std::string_view secret, std::string_view with) {
  if (secret.empty()) return;
  for (size_t p = text->find(secret); p != std::string::npos;
       p = text->find(secret, p + with.size())) {
    text->replace(p, secret.size(), with);
  }
}

struct HttpState {
  const TargetGuard* guard = nullptr;
  std::string host;
  int64_t now_ms = 0;
  int64_t retry_after_ms = -1;
  std::string body_head;  // start of the response body, for the error text
  bool refused = false;   // OpenSocket refused an address
};

// Opens the socket only for an address the guard allows: the last line of
// defence should anything (a proxy setting, a curl change) make curl connect
// somewhere other than the pinned address.
curl_socket_t OpenSocket(void* clientp, curlsocktype purpose, struct curl_sockaddr* address) {
  auto* st = static_cast<HttpState*>(clientp);
  if (purpose != CURLSOCKTYPE_IPCXN || !st->guard->AllowsAddress(&address->addr, st->host)) {
    st->refused = true;
    return CURL_SOCKET_BAD;
  }
  return socket(address->family, address->socktype, address->protocol);
}

size_t OnHeader(char* buffer, size_t size, size_t nitems, void* userdata) {
  auto* st = static_cast<HttpState*>(userdata);
  const size_t n = size * nitems;
  std::string_view line(buffer, n);
  static constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size() && strncasecmp(line.data(), kName.data(), kName.size()) == 0) {
    std::string_view v = line.substr(kName.size());
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && std::isspace(static_cast<unsigned char>(v.back()))) v.remove_suffix(1);
    st->retry_after_ms = ParseRetryAfter(v, st->now_ms);
  }
  return n;
}

size_t OnBody(char* ptr, size_t size, size_t nmemb, void* userdata) {
  auto* st = static_cast<HttpState*>(userdata);
  const size_t n = size * nmemb;
  if (st->body_head.size() < 200)
    st->body_head.append(ptr, std::min(n, 200 - st->body_head.size()));
  return n;
}

struct Upload {
  const std::string* data;
  size_t pos = 0;
};

size_t OnRead(char* buffer, size_t size, size_t nitems, void* userdata) {
  auto* up = static_cast<Upload*>(userdata);
  size_t n = std::min(size * nitems, up->data->size() - up->pos);
  std::memcpy(buffer, up->data->data() + up->pos, n);
  up->pos += n;
  return n;
}

std::string Printable(std::string_view s) {
  std::string out;
  for (char c : s) out.push_back(static_cast<unsigned char>(c) < 0x20 || c == 0x7f ? ' ' : c);
  return out;
}

int OnProgress(void* clientp, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  const auto* cancel = static_cast<const std::atomic<bool>*>(clientp);
  return cancel->load(std::memory_order_relaxed) ? 1 : 0;
}

void CommonOptions(CURL* c, const Timeouts& t, char* errbuf, const std::atomic<bool>* cancel) {
  if (cancel != nullptr) {
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, OnProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool>*>(cancel));
  }
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(t.connect_ms));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(t.total_ms));
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  // Environment proxies (http_proxy, ...) would bypass the address pinning.
  curl_easy_setopt(c, CURLOPT_PROXY, "");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
}

}  // namespace

void InitCurlOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

int64_t ParseRetryAfter(std::string_view value, int64_t now_ms) {
  if (value.empty()) return -1;
  if (std::all_of(value.begin(), value.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    if (value.size() > 9) return -1;
    return std::atoll(std::string(value).c_str()) * 1000;
  }
  time_t t = curl_getdate(std::string(value).c_str(), nullptr);
  if (t < 0) return -1;
  int64_t delay = static_cast<int64_t>(t) * 1000 - now_ms;
  return delay > 0 ? delay : 0;
}

AttemptOutcome PostJson(const TargetGuard& guard, const std::string& url, const std::string& body,
                        const std::vector<std::string>& headers, const Timeouts& timeouts,
                        int64_t now_ms, const std::atomic<bool>* cancel) {
  AttemptOutcome out;
  Result<ResolvedTarget> target = guard.Resolve(url);
  if (!target.ok()) {
    out.kind =
        target.status().retryable() ? AttemptOutcome::Kind::kRetry : AttemptOutcome::Kind::kFailed;
    out.error = target.status().message();
    return out;
  }
  CurlHandle c(curl_easy_init());
  if (!c) {
    out.kind = AttemptOutcome::Kind::kRetry;
    out.error = "curl_easy_init failed";
    return out;
  }
  HttpState st;
  st.guard = &guard;
  st.host = target->host;
  st.now_ms = now_ms;
  char errbuf[CURL_ERROR_SIZE] = {};
  CommonOptions(c.get(), timeouts, errbuf, cancel);
  Slist resolve;
  if (!target->host_is_literal) {
    const bool v6 = target->address.find(':') != std::string::npos;
    Append(&resolve, target->host + ":" + std::to_string(target->port) + ":" +
                         (v6 ? "[" + target->address + "]" : target->address));
    curl_easy_setopt(c.get(), CURLOPT_RESOLVE, resolve.get());
  }
  Slist hdrs;
  Append(&hdrs, "Content-Type: application/json");
  Append(&hdrs, "Expect:");
  for (const auto& h : headers) Append(&hdrs, h);
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c.get(), CURLOPT_HTTPHEADER, hdrs.get());
  curl_easy_setopt(c.get(), CURLOPT_USERAGENT, "Loupe-Notify/1");
  curl_easy_setopt(c.get(), CURLOPT_POST, 1L);
  curl_easy_setopt(c.get(), CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(c.get(), CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(c.get(), CURLOPT_OPENSOCKETFUNCTION, OpenSocket);
  curl_easy_setopt(c.get(), CURLOPT_OPENSOCKETDATA, &st);
  curl_easy_setopt(c.get(), CURLOPT_HEADERFUNCTION, OnHeader);
  curl_easy_setopt(c.get(), CURLOPT_HEADERDATA, &st);
  curl_easy_setopt(c.get(), CURLOPT_WRITEFUNCTION, OnBody);
  curl_easy_setopt(c.get(), CURLOPT_WRITEDATA, &st);

  CURLcode rc = curl_easy_perform(c.get());
  long code = 0;
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &code);
  out.code = static_cast<int>(code);
  out.retry_after_ms = st.retry_after_ms;
  if (st.refused) {
    out.kind = AttemptOutcome::Kind::kFailed;
    out.error =
        "connection to " + target->host + " refused at connect time (see --notify-allow-hosts)";
  } else if (rc != CURLE_OK) {
    out.kind = AttemptOutcome::Kind::kRetry;
    out.error = std::string(curl_easy_strerror(rc));
    if (errbuf[0] != '\0') out.error += ": " + std::string(errbuf);
  } else if (code >= 200 && code < 300) {
    out.kind = AttemptOutcome::Kind::kDelivered;
    return out;
  } else {
    out.kind = code == 408 || code == 429 || code >= 500 ? AttemptOutcome::Kind::kRetry
                                                         : AttemptOutcome::Kind::kFailed;
    out.error = "HTTP " + std::to_string(code);
    if (!st.body_head.empty()) out.error += ": " + Printable(st.body_head);
  }
  // The URL's path and query are the secret of Slack and webhook targets.
  size_t scheme_end = url.find("://");
  size_t path = scheme_end == std::string::npos ? std::string::npos : url.find('/', scheme_end + 3);
  Scrub(&out.error, url, RedactUrl(url));
  if (path != std::string::npos && url.size() - path > 1) {
    Scrub(&out.error, std::string_view(url).substr(path), "/\xE2\x80\xA6");
  }
  return out;
}

AttemptOutcome SendMail(const SmtpOptions& smtp, const std::vector<std::string>& recipients,
                        const std::string& message, const Timeouts& timeouts,
                        const std::atomic<bool>* cancel) {
  AttemptOutcome out;
  if (smtp.host.empty()) {
    out.error = "no SMTP server configured (--smtp-host)";
    return out;
  }
  CurlHandle c(curl_easy_init());
  if (!c) {
    out.kind = AttemptOutcome::Kind::kRetry;
    out.error = "curl_easy_init failed";
    return out;
  }
  char errbuf[CURL_ERROR_SIZE] = {};
  CommonOptions(c.get(), timeouts, errbuf, cancel);
  const bool v6 = smtp.host.find(':') != std::string::npos;
  std::string url =
      "smtp://" + (v6 ? "[" + smtp.host + "]" : smtp.host) + ":" + std::to_string(smtp.port);
  Slist rcpt;
  for (const auto& r : recipients) Append(&rcpt, "<" + r + ">");
  Upload up{&message};
  curl_easy_setopt(c.get(), CURLOPT_URL, url.c_str());
  curl_easy_setopt(c.get(), CURLOPT_PROTOCOLS_STR, "smtp");
  curl_easy_setopt(c.get(), CURLOPT_MAIL_FROM, ("<" + smtp.from + ">").c_str());
  curl_easy_setopt(c.get(), CURLOPT_MAIL_RCPT, rcpt.get());
  curl_easy_setopt(c.get(), CURLOPT_USE_SSL,
                   static_cast<long>(smtp.starttls ? CURLUSESSL_ALL : CURLUSESSL_NONE));
  if (!smtp.user.empty()) {
    curl_easy_setopt(c.get(), CURLOPT_USERNAME, smtp.user.c_str());
    curl_easy_setopt(c.get(), CURLOPT_PASSWORD, smtp.password.c_str());
  }
  curl_easy_setopt(c.get(), CURLOPT_UPLOAD, 1L);
  curl_easy_setopt(c.get(), CURLOPT_READFUNCTION, OnRead);
  curl_easy_setopt(c.get(), CURLOPT_READDATA, &up);

  CURLcode rc = curl_easy_perform(c.get());
  long code = 0;
  curl_easy_getinfo(c.get(), CURLINFO_RESPONSE_CODE, &code);
  out.code = static_cast<int>(code);
  if (rc == CURLE_OK) {
    out.kind = AttemptOutcome::Kind::kDelivered;
    return out;
  }
  out.kind = code >= 500 ? AttemptOutcome::Kind::kFailed : AttemptOutcome::Kind::kRetry;
  out.error = std::string(curl_easy_strerror(rc));
  if (errbuf[0] != '\0') out.error += ": " + std::string(errbuf);
  if (code != 0) out.error += " (SMTP " + std::to_string(code) + ")";
  Scrub(&out.error, smtp.password, "***");
  return out;
}

}  // namespace loupe::notify
