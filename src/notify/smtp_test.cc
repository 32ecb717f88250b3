// E-mail delivery against a real SMTP server on loopback: Debian's aiosmtpd
// (python3-aiosmtpd, run with /usr/bin/python3) through tests/notify/smtp_sink.py,
// which writes every message it accepts as JSON for the test to check.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <rapidjson/document.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "common/logging.h"
#include "notify/notifier.h"
#include "notify/notify_test_util.h"

#ifndef LOUPE_SOURCE_DIR
#error "LOUPE_SOURCE_DIR must name the source tree (set in CMakeLists.txt)"
#endif

namespace loupe::notify {
namespace {

using testing::ScopedTempDir;
using testing::UnusedPort;

constexpr char kUser[] = "loupe";
constexpr char kPassword[] = "s3cret-pass";

// The sink process: started in the constructor, stopped in the destructor.
class SmtpSink {
 public:
  SmtpSink(const std::string& outdir, int port) : port_(port) {
    int out[2], in[2];
    if (pipe(out) != 0 || pipe(in) != 0) return;
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      dup2(in[0], 0);
      close(out[0]);
      close(in[1]);
      std::string script = std::string(LOUPE_SOURCE_DIR) + "/tests/notify/smtp_sink.py";
      std::string p = std::to_string(port);
      execl("/usr/bin/python3", "python3", script.c_str(), p.c_str(), outdir.c_str(), kUser,
            kPassword, static_cast<char*>(nullptr));
      _exit(127);
    }
    close(out[1]);
    close(in[0]);
    stdin_ = in[1];
    // Wait for "READY" (aiosmtpd listening) for up to 20 s.
    std::string got;
    auto end = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (got.find("READY") == std::string::npos && std::chrono::steady_clock::now() < end) {
      pollfd p{out[0], POLLIN, 0};
      if (poll(&p, 1, 100) <= 0) continue;
      char buf[256];
      ssize_t n = read(out[0], buf, sizeof(buf));
      if (n <= 0) break;
      got.append(buf, n);
    }
    // Kept open until the end: the sink's later writes must not hit EPIPE.
    stdout_ = out[0];
    ready_ = got.find("READY") != std::string::npos;
  }
  ~SmtpSink() {
    if (stdin_ >= 0) close(stdin_);
    if (stdout_ >= 0) close(stdout_);
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
    }
  }
  bool ready() const { return ready_; }
  int port() const { return port_; }

 private:
  int port_;
  pid_t pid_ = -1;
  int stdin_ = -1;
  int stdout_ = -1;
  bool ready_ = false;
};

bool WaitForFile(const std::string& path, int timeout_ms) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < end) {
    if (std::filesystem::exists(path)) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return std::filesystem::exists(path);
}

class SmtpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::filesystem::create_directories(mail_dir());
    sink_ = std::make_unique<SmtpSink>(mail_dir(), UnusedPort());
    ASSERT_TRUE(sink_->ready())
        << "the SMTP sink did not start: /usr/bin/python3 needs python3-aiosmtpd "
           "(scripts/install-deps.sh installs it)";
  }

  std::string mail_dir() const { return tmp_.path() + "/mail"; }

  NotifierOptions Options(const std::string& password) const {
    NotifierOptions o;
    o.dir = tmp_.path() + "/queues";
    o.smtp.host = "127.0.0.1";
    o.smtp.port = static_cast<uint16_t>(sink_->port());
    o.smtp.from = "loupe@loupe.test";
    o.smtp.user = kUser;
    o.smtp.password = password;
    o.initial_backoff_ms = 50;
    o.max_backoff_ms = 200;
    return o;
  }

  static ChannelConfig Mail() {
    ChannelConfig c;
    c.id = "ops-mail";
    c.name = "ops-mail";
    c.type = ChannelType::kEmail;
    c.addresses = {"ops@example.com", "dev@example.com"};
    return c;
  }

  static Notification Note() {
    Notification n;
    n.project = "default";
    n.rule_name = "identity errors";
    n.alert_id = "a1";
    n.level = "CRITICAL";
    n.title = "Error rate of identity is 12.5 %";
    n.value = 12.5;
    n.threshold = 10;
    n.unit = "%";
    n.scope = "service identity";
    n.since_ms = 1'765'141'200'000;
    n.link = "http://loupe.test/#/xview?service=identity&error=1";
    n.id = MakeNotificationId(n.alert_id, n.state, n.since_ms);
    return n;
  }

  ScopedTempDir tmp_;
  std::unique_ptr<SmtpSink> sink_;
};

TEST_F(SmtpTest, DeliversOneMessageToEveryRecipientAfterLogin) {
  auto n = Notifier::Open(Options(kPassword));
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  ASSERT_TRUE((*n)->SetChannel(Mail()).ok());
  Notification note = Note();
  ASSERT_TRUE((*n)->Enqueue("ops-mail", note).ok());
  ASSERT_TRUE(WaitForFile(mail_dir() + "/1.json", 10000));

  std::ifstream f(mail_dir() + "/1.json");
  std::stringstream ss;
  ss << f.rdbuf();
  rapidjson::Document d;
  d.Parse(ss.str().c_str());
  ASSERT_FALSE(d.HasParseError()) << ss.str();
  EXPECT_STREQ(d["mail_from"].GetString(), "loupe@loupe.test");
  ASSERT_EQ(d["rcpt_tos"].Size(), 2u);
  EXPECT_STREQ(d["rcpt_tos"][0].GetString(), "ops@example.com");
  EXPECT_STREQ(d["rcpt_tos"][1].GetString(), "dev@example.com");
  EXPECT_STREQ(d["auth_login"].GetString(), "loupe");
  EXPECT_STREQ(d["subject"].GetString(), "[FIRING CRITICAL] Error rate of identity is 12.5 %");
  EXPECT_EQ(std::string(d["message_id"].GetString()), "<" + note.id + "@loupe.test>");
  EXPECT_STREQ(d["to"].GetString(), "ops@example.com, dev@example.com");
  std::string text = d["text"].GetString();
  EXPECT_NE(text.find("12.5 % (threshold 10 %)"), std::string::npos) << text;
  EXPECT_NE(text.find("service identity"), std::string::npos) << text;
  EXPECT_NE(text.find(note.link), std::string::npos) << text;
  std::string html = d["html"].GetString();
  EXPECT_NE(html.find("href=\"http://loupe.test/#/xview?service=identity&amp;error=1\""),
            std::string::npos)
      << html;

  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while ((*n)->Stats("ops-mail")->delivered == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto log = (*n)->DeliveryLog("ops-mail", 10);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].result, "delivered");
  EXPECT_EQ(log[0].code, 250);
  EXPECT_EQ(log[0].target, "smtp://127.0.0.1:" + std::to_string(sink_->port()));
  EXPECT_FALSE(std::filesystem::exists(mail_dir() + "/2.json"));
}

TEST_F(SmtpTest, RejectedLoginFailsForGoodAndKeepsThePasswordOutOfLogs) {
  std::vector<std::string> lines;
  std::mutex mu;
  SetLogSinkForTesting([&](std::string_view l) {
    std::lock_guard<std::mutex> g(mu);
    lines.emplace_back(l);
  });
  ResetLogRateLimitsForTesting();
  const std::string wrong = "wrong-pass-4711";
  {
    auto n = Notifier::Open(Options(wrong));
    ASSERT_TRUE(n.ok());
    ASSERT_TRUE((*n)->SetChannel(Mail()).ok());
    ASSERT_TRUE((*n)->Enqueue("ops-mail", Note()).ok());
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while ((*n)->Stats("ops-mail")->failed == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    auto log = (*n)->DeliveryLog("ops-mail", 10);
    ASSERT_EQ(log.size(), 1u);
    EXPECT_EQ(log[0].result, "failed") << log[0].error;
    EXPECT_EQ(log[0].code, 535);
    EXPECT_EQ(log[0].error.find(wrong), std::string::npos);
  }
  SetLogSinkForTesting(nullptr);
  for (const auto& l : lines) EXPECT_EQ(l.find(wrong), std::string::npos) << l;
  EXPECT_FALSE(std::filesystem::exists(mail_dir() + "/1.json"));
}

TEST_F(SmtpTest, RequiredStartTlsIsNeverSkipped) {
  // The sink offers no STARTTLS: with --smtp-starttls the message must not go
  // out in clear text.
  NotifierOptions o = Options(kPassword);
  o.smtp.starttls = true;
  auto n = Notifier::Open(o);
  ASSERT_TRUE(n.ok());
  ASSERT_TRUE((*n)->SetChannel(Mail()).ok());
  ASSERT_TRUE((*n)->Enqueue("ops-mail", Note()).ok());
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while ((*n)->Stats("ops-mail")->attempts == 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  auto log = (*n)->DeliveryLog("ops-mail", 10);
  ASSERT_FALSE(log.empty());
  EXPECT_NE(log.back().result, "delivered");
  EXPECT_NE(log.back().error.find("TLS"), std::string::npos) << log.back().error;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(std::filesystem::exists(mail_dir() + "/1.json"));
}

}  // namespace
}  // namespace loupe::notify
