#include <curl/curl.h>

#include <mutex>
#include <string>

#include "hostagent/transport.h"

namespace loupe::hostagent {
namespace {

size_t Discard(char*, size_t size, size_t n, void*) { return size * n; }

class HttpTransport : public Transport {
 public:
  HttpTransport(const HttpTransportOptions& o, CURL* curl) : curl_(curl) {
    std::string base = o.server;
    while (!base.empty() && base.back() == '/') base.pop_back();
    url_ = base + "/v1/metrics";
    headers_ = curl_slist_append(headers_, "Content-Type: application/x-protobuf");
    if (!o.key.empty()) {
      headers_ = curl_slist_append(headers_, ("Authorization: Bearer " + o.key).c_str());
    }
    curl_easy_setopt(curl_, CURLOPT_URL, url_.c_str());
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers_);
    curl_easy_setopt(curl_, CURLOPT_USERAGENT, "Loupe-Agent/1");
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(o.connect_timeout_ms));
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, static_cast<long>(o.total_timeout_ms));
    curl_easy_setopt(curl_, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(curl_, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, Discard);
    curl_easy_setopt(curl_, CURLOPT_ERRORBUFFER, error_);
  }
  ~HttpTransport() override {
    curl_slist_free_all(headers_);
    curl_easy_cleanup(curl_);
  }

  Status SendMetrics(std::string_view body) override {
    error_[0] = '\0';
    curl_easy_setopt(curl_, CURLOPT_POST, 1L);
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
    const CURLcode rc = curl_easy_perform(curl_);
    if (rc != CURLE_OK) {
      return Status::Unavailable("POST " + url_ + ": " +
                                 (error_[0] != '\0' ? error_ : curl_easy_strerror(rc)));
    }
    long code = 0;
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &code);
    if (code >= 200 && code < 300) return Status::OK();
    const std::string what = "POST " + url_ + ": HTTP " + std::to_string(code);
    if (code == 401) return Status::Unauthenticated(what + " (wrong or missing key)");
    if (code == 403) return Status::PermissionDenied(what);
    if (code == 429) return Status::ResourceExhausted(what);
    if (code == 408 || code >= 500) return Status::Unavailable(what);
    return Status::InvalidArgument(what);
  }

 private:
  CURL* curl_;
  std::string url_;
  curl_slist* headers_ = nullptr;
  char error_[CURL_ERROR_SIZE] = {};
};

}  // namespace

Result<std::unique_ptr<Transport>> NewHttpTransport(const HttpTransportOptions& options) {
  if (options.server.rfind("http://", 0) != 0 && options.server.rfind("https://", 0) != 0) {
    return Status::InvalidArgument("server URL must start with http:// or https://: " +
                                   options.server);
  }
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
  CURL* curl = curl_easy_init();
  if (curl == nullptr) return Status::Internal("curl_easy_init failed");
  return std::unique_ptr<Transport>(new HttpTransport(options, curl));
}

}  // namespace loupe::hostagent
