#include "notify/notifier.h"

#include <gtest/gtest.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <thread>

#include "common/logging.h"
#include "notify/notify_test_util.h"
#include "notify/render.h"

namespace loupe::notify {
namespace {

using testing::HttpAnswer;
using testing::HttpReceiver;
using testing::ScopedTempDir;
using testing::UnusedPort;
using Clock_ = std::chrono::steady_clock;

NotifierOptions Options(const std::string& dir) {
  NotifierOptions o;
  o.dir = dir;
  o.allow_hosts = {"127.0.0.0/8"};
  o.initial_backoff_ms = 50;
  o.max_backoff_ms = 200;
  o.timeouts.connect_ms = 1000;
  o.timeouts.total_ms = 5000;
  o.external_url = "http://loupe.test";
  return o;
}

std::unique_ptr<Notifier> OpenNotifier(const NotifierOptions& o) {
  Result<std::unique_ptr<Notifier>> n = Notifier::Open(o);
  EXPECT_TRUE(n.ok()) << n.status().ToString();
  return n.ok() ? std::move(n).value() : nullptr;
}

ChannelConfig Webhook(const std::string& id, const std::string& url) {
  ChannelConfig c;
  c.id = id;
  c.name = id + "-name";
  c.type = ChannelType::kWebhook;
  c.url = url;
  return c;
}

Notification Note(const std::string& alert = "a1", int64_t since_ms = 1'765'141'200'000) {
  Notification n;
  n.project = "default";
  n.rule_id = "r1";
  n.rule_name = "identity errors";
  n.alert_id = alert;
  n.level = "CRITICAL";
  n.title = "Error rate of identity is 12.5 %";
  n.signal = "error_rate";
  n.value = 12.5;
  n.threshold = 10;
  n.unit = "%";
  n.scope = "service identity";
  n.since_ms = since_ms;
  n.link = "http://loupe.test/#/xview?service=identity";
  n.id = MakeNotificationId(alert, n.state, since_ms);
  return n;
}

bool WaitFor(const std::function<bool()>& pred, int timeout_ms) {
  auto end = Clock_::now() + std::chrono::milliseconds(timeout_ms);
  while (Clock_::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

uint64_t Pending(Notifier* n, const std::string& ch) { return n->Stats(ch)->pending; }

std::string Header(const std::string& headers, const std::string& name) {
  std::string lower_headers = headers, lower_name = name + ":";
  for (char& c : lower_headers) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (char& c : lower_name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t p = lower_headers.find("\r\n" + lower_name);
  if (p == std::string::npos) return "";
  p += 2 + lower_name.size();
  size_t e = headers.find("\r\n", p);
  std::string v = headers.substr(p, e - p);
  while (!v.empty() && v.front() == ' ') v.erase(0, 1);
  return v;
}

TEST(Notifier, DeliversAlertmanagerBodyWithStableIdToWebhook) {
  ScopedTempDir tmp;
  HttpReceiver rx;
  auto n = OpenNotifier(Options(tmp.path()));
  ASSERT_TRUE(n->SetChannel(Webhook("hook", rx.url())).ok());
  Notification note = Note();
  ASSERT_TRUE(n->Enqueue("hook", note).ok());
  ASSERT_TRUE(rx.WaitForRequests(1, 5000));
  auto req = rx.requests()[0];
  EXPECT_EQ(req.method, "POST");
  EXPECT_EQ(req.path, "/hook/secret-token?key=s3cr3t");
  EXPECT_EQ(Header(req.headers, "Content-Type"), "application/json");
  EXPECT_EQ(Header(req.headers, "Idempotency-Key"), note.id);
  rapidjson::Document d;
  d.Parse(req.body.c_str());
  ASSERT_FALSE(d.HasParseError());
  EXPECT_STREQ(d["version"].GetString(), "4");
  EXPECT_STREQ(d["receiver"].GetString(), "hook-name");
  EXPECT_STREQ(d["externalURL"].GetString(), "http://loupe.test");
  EXPECT_STREQ(d["notificationId"].GetString(), note.id.c_str());
  ASSERT_TRUE(WaitFor([&] { return n->Stats("hook")->delivered == 1; }, 2000));
  EXPECT_EQ(Pending(n.get(), "hook"), 0u);
  auto log = n->DeliveryLog("hook", 10);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].result, "delivered");
  EXPECT_EQ(log[0].code, 200);
  EXPECT_EQ(log[0].notification_id, note.id);
  EXPECT_EQ(log[0].channel_id, "hook");
  EXPECT_EQ(n->Stats("hook")->delivered, 1u);
}

TEST(Notifier, SendNowMakesOneAttemptAndQueuesNothing) {
  ScopedTempDir tmp;
  HttpReceiver rx({}, {500});
  auto n = OpenNotifier(Options(tmp.path()));
  ASSERT_TRUE(n->SetChannel(Webhook("hook", rx.url())).ok());
  Notification note = Note();
  note.id = "test-hook-1";
  Result<DeliveryRecord> r = n->SendNow("hook", note, 2000);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->result, "failed") << "a 500 is not retried for a send-now";
  EXPECT_EQ(r->code, 500);
  EXPECT_EQ(r->attempt, 1);
  EXPECT_EQ(r->notification_id, "test-hook-1");
  EXPECT_EQ(Pending(n.get(), "hook"), 0u);
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // several back-off steps
  EXPECT_EQ(rx.requests().size(), 1u);
  auto log = n->DeliveryLog("hook", 10);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].result, "failed");
  EXPECT_EQ(log[0].notification_id, "test-hook-1");
  EXPECT_EQ(n->Stats("hook")->failed, 1u);
  EXPECT_EQ(n->Stats("hook")->enqueued, 0u);

  // Reopened: nothing comes back from the queue either.
  n.reset();
  n = OpenNotifier(Options(tmp.path()));
  ASSERT_TRUE(n->SetChannel(Webhook("hook", rx.url())).ok());
  EXPECT_EQ(n->Stats("hook")->replayed, 0u);
  EXPECT_EQ(Pending(n.get(), "hook"), 0u);
}

TEST(Notifier, SendNowGivesUpAtItsTimeout) {
  ScopedTempDir tmp;
  HttpAnswer slow{200};
  slow.delay_ms = 3000;
  HttpReceiver rx({}, slow);
  auto n = OpenNotifier(Options(tmp.path()));
  ASSERT_TRUE(n->SetChannel(Webhook("hook", rx.url())).ok());
  auto t0 = Clock_::now();
  Result<DeliveryRecord> r = n->SendNow("hook", Note(), 300);
  ASSERT_TRUE(r.ok());
  EXPECT_LT(Clock_::now() - t0, std::chrono::milliseconds(2000));
  EXPECT_EQ(r->result, "failed");
  EXPECT_FALSE(r->error.empty());
  EXPECT_EQ(n->SendNow("nope", Note(), 300).status().code(), Status::Code::kNotFound);
}

TEST(Notifier, DeliversSlackBlocks) {
  ScopedTempDir tmp;
  HttpReceiver rx;
  auto n = OpenNotifier(Options(tmp.path()));
  ChannelConfig c = Webhook("slack", rx.url("/services/T0/B0/XYZ"));
  c.type = ChannelType::kSlack;
  ASSERT_TRUE(n->SetChannel(c).ok());
  ASSERT_TRUE(n->Enqueue("slack", Note()).ok());
  ASSERT_TRUE(rx.WaitForRequests(1, 5000));
  rapidjson::Document d;
  d.Parse(rx.requests()[0].body.c_str());
  ASSERT_FALSE(d.HasParseError());
  EXPECT_TRUE(d["text"].IsString());
  EXPECT_TRUE(d["blocks"].IsArray());
}

TEST(Notifier, ServerErrorsAreRetriedWithBackoffThenDelivered) {
  ScopedTempDir tmp;
  HttpReceiver rx({{500}, {503}, {200}});
  auto n = OpenNotifier(Options(tmp.path()));
  ASSERT_TRUE(n->SetChannel(Webhook("hook", rx.url())).ok());
  Notification note = Note();
  ASSERT_TRUE(n->Enqueue("hook", note).ok());
  ASSERT_TRUE(rx.WaitForRequests(3, 5000));
  ASSERT_TRUE(WaitFor([&] { return n->Stats("hook")->delivered == 1; }, 2000));
  EXPECT_EQ(Pending(n.get(), "hook"), 0u);
  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 3u);
  for (const auto& r : reqs) EXPECT_EQ(Header(r.headers, "Idempotency-Key"), note.id);
  // Back-off: at least half of the 50 ms step, then of the 100 ms step.
  EXPECT_GE(reqs[1].at - reqs[0].at, std::chrono::milliseconds(25));
  EXPECT_GE(reqs[2].at - reqs[1].at, std::chrono::milliseconds(50));
  auto log = n->DeliveryLog("hook", 10);  // newest first
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log[2].result, "retry");
  EXPECT_EQ(log[2].code, 500);
  EXPECT_EQ(log[2].attempt, 1);
  EXPECT_GT(log[2].retry_in_ms, 0);
  EXPECT_EQ(log[1].code, 503);
  EXPECT_EQ(log[0].result, "delivered");
  EXPECT_EQ(log[0].attempt, 3);
  auto stats = n->Stats("hook");
  EXPECT_EQ(stats->attempts, 3u);
  EXPECT_EQ(stats->retries, 2u);
  EXPECT_EQ(stats->delivered, 1u);
}

TEST(Notifier, TooManyRequestsWaitsForRetryAfter) {
  ScopedTempDir tmp;
  HttpReceiver rx({{429, {"Retry-After: 1"}}, {200}});
  auto n = OpenNotifier(Options(tmp.path()));  // back-off alone would wait <= 50 ms
  ASSERT_TRUE(n->SetChannel(Webhook("hook", rx.url())).ok());
  ASSERT_TRUE(n->Enqueue("hook", Note()).ok());
  ASSERT_TRUE(rx.WaitForRequests(2, 5000));
  auto reqs = rx.requests();
  EXPECT_GE(reqs[1].at - reqs[0].at, std::chrono::milliseconds(950));
  ASSERT_TRUE(WaitFor([&] { return n->Stats("hook")->delivered == 1; }, 2000));
  EXPECT_EQ(Pending(n.get(), "hook"), 0u);
  auto log = n->DeliveryLog("hook", 10);
  ASSERT_EQ(log.size(), 2u);
  EXPECT_EQ(log[1].code, 429);
  EXPECT_EQ(log[1].retry_in_ms, 1000);
}

TEST(Notifier, DeadReceiverDelaysOnlyItsOwnChannel) {
  ScopedTempDir tmp;
  HttpReceiver slow({}, HttpAnswer{200, {}, 10'000});
  HttpReceiver fast;
  NotifierOptions o = Options(tmp.path());
  o.timeouts.total_ms = 20'000;
  auto n = OpenNotifier(o);
  ASSERT_TRUE(n->SetChannel(Webhook("slow", slow.url())).ok());
  ASSERT_TRUE(n->SetChannel(Webhook("fast", fast.url())).ok());
  ASSERT_TRUE(n->Enqueue("slow", Note("a1")).ok());
  ASSERT_TRUE(n->Enqueue("slow", Note("a2")).ok());
  auto t0 = Clock_::now();
  ASSERT_TRUE(n->Enqueue("fast", Note("a3")).ok());
  ASSERT_TRUE(fast.WaitForRequests(1, 3000));
  // Far below the slow receiver's 10 s: the fast channel did not wait for it.
  EXPECT_LT(Clock_::now() - t0, std::chrono::milliseconds(4000));
  EXPECT_EQ(Pending(n.get(), "slow"), 2u);
}

TEST(Notifier, TimedOutAttemptIsRetried) {
  ScopedTempDir tmp;
  HttpReceiver rx({HttpAnswer(200, {}, 1500), HttpAnswer(200)});
  NotifierOptions o = Options(tmp.path());
  o.timeouts.total_ms = 300;
  auto n = OpenNotifier(o);
  ASSERT_TRUE(n->SetChannel(Webhook("hook", rx.url())).ok());
  ASSERT_TRUE(n->Enqueue("hook", Note()).ok());
  ASSERT_TRUE(WaitFor([&] { return n->Stats("hook")->delivered == 1; }, 6000));
  auto log = n->DeliveryLog("hook", 10);
  ASSERT_GE(log.size(), 2u);
  EXPECT_EQ(log.back().result, "retry");
  EXPECT_NE(log.back().error.find("imeout"), std::string::npos) << log.back().error;
  EXPECT_LT(log.back().latency_ms, 1200);
}

TEST(Notifier, LoopbackTargetIsRefusedWithoutAllowList) {
  ScopedTempDir tmp;
  HttpReceiver rx;
  NotifierOptions o = Options(tmp.path());
  o.allow_hosts.clear();
  auto n = OpenNotifier(o);
  ASSERT_TRUE(n->SetChannel(Webhook("hook", rx.url())).ok());
  ASSERT_TRUE(n->Enqueue("hook", Note()).ok());
  ASSERT_TRUE(WaitFor([&] { return n->Stats("hook")->failed == 1; }, 3000));
  EXPECT_EQ(Pending(n.get(), "hook"), 0u);
  EXPECT_TRUE(rx.requests().empty());
  auto log = n->DeliveryLog("hook", 10);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].result, "failed");
  EXPECT_NE(log[0].error.find("refused"), std::string::npos) << log[0].error;
}

TEST(Notifier, ClientErrorFailsForGoodWithoutRetry) {
  ScopedTempDir tmp;
  HttpReceiver rx({{404}}, HttpAnswer{200});
  auto n = OpenNotifier(Options(tmp.path()));
  ASSERT_TRUE(n->SetChannel(Webhook("hook", rx.url())).ok());
  ASSERT_TRUE(n->Enqueue("hook", Note()).ok());
  ASSERT_TRUE(WaitFor([&] { return n->Stats("hook")->failed == 1; }, 3000));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(rx.requests().size(), 1u);
  EXPECT_EQ(n->DeliveryLog("hook", 10)[0].code, 404);
}

TEST(Notifier, SecretsStayOutOfDeliveryLogAndServerLog) {
  ScopedTempDir tmp;
  std::mutex mu;
  std::vector<std::string> lines;
  SetLogSinkForTesting([&](std::string_view l) {
    std::lock_guard<std::mutex> g(mu);
    lines.emplace_back(l);
  });
  ResetLogRateLimitsForTesting();
  {
    HttpReceiver rx({{500, {}, 0, "bad"}}, HttpAnswer{200});
    auto n = OpenNotifier(Options(tmp.path()));
    ASSERT_TRUE(n->SetChannel(Webhook("hook", rx.url())).ok());
    ASSERT_TRUE(n->Enqueue("hook", Note()).ok());
    ASSERT_TRUE(WaitFor([&] { return n->Stats("hook")->delivered == 1; }, 3000));
    ChannelConfig dead = Webhook("dead", "http://127.0.0.1:" + std::to_string(UnusedPort()) +
                                             "/hook/secret-token?key=s3cr3t");
    ASSERT_TRUE(n->SetChannel(dead).ok());
    ASSERT_TRUE(n->Enqueue("dead", Note()).ok());
    ASSERT_TRUE(WaitFor([&] { return n->Stats("dead")->retries >= 1; }, 3000));
    std::vector<DeliveryRecord> all = n->DeliveryLog("hook", 10);
    for (const auto& r : n->DeliveryLog("dead", 10)) all.push_back(r);
    ASSERT_GE(all.size(), 3u);
    for (const auto& r : all) {
      EXPECT_EQ(r.target.find("secret"), std::string::npos) << r.target;
      EXPECT_EQ(r.error.find("secret"), std::string::npos) << r.error;
      EXPECT_EQ(r.error.find("s3cr3t"), std::string::npos) << r.error;
    }
  }
  SetLogSinkForTesting(nullptr);
  ASSERT_FALSE(lines.empty());
  for (const auto& l : lines) {
    EXPECT_EQ(l.find("secret"), std::string::npos) << l;
    EXPECT_EQ(l.find("s3cr3t"), std::string::npos) << l;
  }
}

TEST(Notifier, QueuedNotificationIsDeliveredOnceAfterRestart) {
  ScopedTempDir tmp;
  const int port = UnusedPort();
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/hook";
  Notification note = Note();
  {
    NotifierOptions o = Options(tmp.path());
    o.initial_backoff_ms = 60'000;  // one attempt, then wait
    auto n = OpenNotifier(o);
    ASSERT_TRUE(n->SetChannel(Webhook("hook", url)).ok());
    ASSERT_TRUE(n->Enqueue("hook", note).ok());
    ASSERT_TRUE(WaitFor([&] { return n->Stats("hook")->retries == 1; }, 3000));
  }  // destroyed with the notification undelivered: the queue files stay as left
  HttpReceiver rx;
  const std::string live_url = rx.url("/hook");
  {
    auto n = OpenNotifier(Options(tmp.path()));
    ASSERT_TRUE(n->SetChannel(Webhook("hook", live_url)).ok());
    EXPECT_EQ(n->Stats("hook")->replayed, 1u);
    ASSERT_TRUE(rx.WaitForRequests(1, 5000));
    ASSERT_TRUE(WaitFor([&] { return n->Stats("hook")->delivered == 1; }, 2000));
    EXPECT_EQ(Pending(n.get(), "hook"), 0u);
  }
  {
    auto n = OpenNotifier(Options(tmp.path()));
    ASSERT_TRUE(n->SetChannel(Webhook("hook", live_url)).ok());
    EXPECT_EQ(n->Stats("hook")->replayed, 0u);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 1u);
  EXPECT_EQ(Header(reqs[0].headers, "Idempotency-Key"), note.id);
}

TEST(Notifier, NotificationEnqueuedBeforeKillNineIsDeliveredAfterRestart) {
  ScopedTempDir tmp;
  const int port = UnusedPort();
  Notification note = Note("killed");
  // The child enqueues and is killed at once, before any attempt can finish;
  // fork happens before this test starts any thread.
  pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    NotifierOptions o = Options(tmp.path());
    o.initial_backoff_ms = 60'000;
    auto r = Notifier::Open(o);
    if (!r.ok()) _exit(2);
    auto n = std::move(r).value();
    if (!n->SetChannel(Webhook("hook", "http://127.0.0.1:" + std::to_string(port) + "/h")).ok()) {
      _exit(3);
    }
    if (!n->Enqueue("hook", note).ok()) _exit(4);
    raise(SIGKILL);
    _exit(5);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFSIGNALED(status)) << "child exit " << WEXITSTATUS(status);
  ASSERT_EQ(WTERMSIG(status), SIGKILL);

  HttpReceiver rx;
  auto n = OpenNotifier(Options(tmp.path()));
  ASSERT_TRUE(n->SetChannel(Webhook("hook", rx.url("/h"))).ok());
  ASSERT_TRUE(rx.WaitForRequests(1, 5000));
  EXPECT_EQ(Header(rx.requests()[0].headers, "Idempotency-Key"), note.id);
  ASSERT_TRUE(WaitFor([&] { return n->Stats("hook")->delivered == 1; }, 2000));
  EXPECT_EQ(Pending(n.get(), "hook"), 0u);
}

TEST(Notifier, ChangedTargetIsTriedAtOnce) {
  ScopedTempDir tmp;
  NotifierOptions o = Options(tmp.path());
  o.initial_backoff_ms = 60'000;
  auto n = OpenNotifier(o);
  ASSERT_TRUE(
      n->SetChannel(Webhook("hook", "http://127.0.0.1:" + std::to_string(UnusedPort()) + "/"))
          .ok());
  ASSERT_TRUE(n->Enqueue("hook", Note()).ok());
  ASSERT_TRUE(WaitFor([&] { return n->Stats("hook")->retries == 1; }, 3000));
  HttpReceiver rx;
  ASSERT_TRUE(n->SetChannel(Webhook("hook", rx.url())).ok());
  ASSERT_TRUE(rx.WaitForRequests(1, 3000));
}

TEST(Notifier, OldEntriesExpireUndelivered) {
  ScopedTempDir tmp;
  ManualClock clock(1'000'000'000'000);
  NotifierOptions o = Options(tmp.path());
  o.clock = &clock;
  o.max_age_ms = 60'000;
  auto n = OpenNotifier(o);
  ASSERT_TRUE(
      n->SetChannel(Webhook("hook", "http://127.0.0.1:" + std::to_string(UnusedPort()) + "/"))
          .ok());
  ASSERT_TRUE(n->Enqueue("hook", Note()).ok());
  ASSERT_TRUE(WaitFor([&] { return n->Stats("hook")->retries >= 1; }, 3000));
  clock.Advance(61'000'000);
  ASSERT_TRUE(WaitFor([&] { return n->Stats("hook")->expired == 1; }, 3000));
  EXPECT_EQ(Pending(n.get(), "hook"), 0u);
  EXPECT_EQ(n->DeliveryLog("hook", 1)[0].result, "expired");
}

TEST(Notifier, FullQueueDropsOldestAndCountsIt) {
  ScopedTempDir tmp;
  NotifierOptions o = Options(tmp.path());
  o.max_queue = 2;
  o.initial_backoff_ms = 60'000;
  auto n = OpenNotifier(o);
  ASSERT_TRUE(
      n->SetChannel(Webhook("hook", "http://127.0.0.1:" + std::to_string(UnusedPort()) + "/"))
          .ok());
  for (int i = 0; i < 5; ++i) ASSERT_TRUE(n->Enqueue("hook", Note("a" + std::to_string(i))).ok());
  auto stats = n->Stats("hook");
  EXPECT_EQ(stats->pending, 2u);
  EXPECT_EQ(stats->dropped_overflow, 3u);
  EXPECT_EQ(stats->enqueued, 5u);
}

TEST(Notifier, RemovedChannelKeepsOrDiscardsItsQueue) {
  ScopedTempDir tmp;
  NotifierOptions o = Options(tmp.path());
  o.initial_backoff_ms = 60'000;
  auto n = OpenNotifier(o);
  const std::string dead = "http://127.0.0.1:" + std::to_string(UnusedPort()) + "/";
  ASSERT_TRUE(n->SetChannel(Webhook("hook", dead)).ok());
  ASSERT_TRUE(n->Enqueue("hook", Note("a1")).ok());
  ASSERT_TRUE(n->RemoveChannel("hook", /*discard_queue=*/false).ok());
  HttpReceiver rx;
  ASSERT_TRUE(n->SetChannel(Webhook("hook", rx.url())).ok());
  EXPECT_EQ(n->Stats("hook")->replayed, 1u);
  ASSERT_TRUE(rx.WaitForRequests(1, 5000));

  ASSERT_TRUE(n->SetChannel(Webhook("other", dead)).ok());
  ASSERT_TRUE(n->Enqueue("other", Note("a2")).ok());
  ASSERT_TRUE(n->RemoveChannel("other", /*discard_queue=*/true).ok());
  ASSERT_TRUE(n->SetChannel(Webhook("other", dead)).ok());
  EXPECT_EQ(n->Stats("other")->replayed, 0u);
  EXPECT_EQ(n->Stats("other")->pending, 0u);
}

TEST(Notifier, RejectsBadChannelsAndNotifications) {
  ScopedTempDir tmp;
  auto n = OpenNotifier(Options(tmp.path()));
  EXPECT_EQ(n->SetChannel(Webhook("../etc", "http://x.example/")).code(),
            Status::Code::kInvalidArgument);
  EXPECT_EQ(n->SetChannel(Webhook("ok", "ftp://x.example/")).code(),
            Status::Code::kInvalidArgument);
  ChannelConfig mail;
  mail.id = "mail";
  mail.type = ChannelType::kEmail;
  mail.addresses = {"ops@example.com"};
  EXPECT_EQ(n->SetChannel(mail).code(), Status::Code::kInvalidArgument);  // no SMTP configured
  EXPECT_EQ(n->Enqueue("nope", Note()).code(), Status::Code::kNotFound);
  ASSERT_TRUE(n->SetChannel(Webhook("ok", "http://x.example/")).ok());
  Notification bad = Note();
  bad.id = "has space";
  EXPECT_EQ(n->Enqueue("ok", bad).code(), Status::Code::kInvalidArgument);
  EXPECT_EQ(n->RemoveChannel("nope", false).code(), Status::Code::kNotFound);
  EXPECT_TRUE(n->RemoveChannel("ok", true).ok());
  EXPECT_EQ(n->Enqueue("ok", Note()).code(), Status::Code::kNotFound);
}

}  // namespace
}  // namespace loupe::notify
