// Helpers shared by the agent's tests.
#ifndef LOUPE_AGENT_TESTING_AGENT_TEST_UTIL_H_
#define LOUPE_AGENT_TESTING_AGENT_TEST_UTIL_H_

#include <string>
#include <vector>

#include "loupe/agent.h"
#include "testing/fake_http_server.h"
#include "testing/otlp_reader.h"

namespace loupe::testing {

// Options against `url` with short intervals so tests run fast.
inline AgentOptions TestOptions(const std::string& url) {
  AgentOptions o;
  o.service = "orders";
  o.instance = "orders-1";
  o.endpoint = url;
  o.ingest_key = "k3y";
  o.loupe_extensions = false;
  o.flush_interval_ms = 20;
  o.request_timeout_ms = 2000;
  o.retry_backoff_ms = 10;
  o.snapshot_interval_ms = 30;
  return o;
}

// Every span of every /v1/traces request the server received.
inline std::vector<DecodedSpan> ExportedSpans(const FakeHttpServer& server,
                                              DecodedRequest* last = nullptr) {
  std::vector<DecodedSpan> spans;
  for (const FakeRequest& r : server.RequestsTo("/v1/traces")) {
    DecodedRequest d;
    if (!DecodeRequest(r.body, &d)) continue;
    for (auto& s : d.spans) spans.push_back(s);
    if (last != nullptr) *last = d;
  }
  return spans;
}

inline const DecodedSpan* FindSpan(const std::vector<DecodedSpan>& spans, const std::string& name) {
  for (const auto& s : spans) {
    if (s.name == name) return &s;
  }
  return nullptr;
}

}  // namespace loupe::testing

#endif  // LOUPE_AGENT_TESTING_AGENT_TEST_UTIL_H_
