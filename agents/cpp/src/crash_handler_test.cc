// Crash reports: a child process that crashes inside a transaction leaves a
// report naming the signal, the transaction and its stack; the next start of
// the agent sends it to /v1/loupe/crash and deletes it once acknowledged.
#include "crash_handler.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "loupe/agent.h"
#include "testing/agent_test_util.h"
#include "testing/fake_http_server.h"

namespace loupe {

// Outside the anonymous namespace: an exported symbol, so the stack names it.
[[gnu::noinline]] void CrashNow() {
  volatile int* volatile p = nullptr;  // neither null nor the store can be assumed away
  *p = 42;
}

namespace {

namespace fs = std::filesystem;
using testing::FakeHttpServer;
using testing::FakeRequest;
using testing::FakeResponse;
using testing::TestOptions;

std::string TempDir(const char* name) {
  std::string dir = fs::temp_directory_path() / (std::string("loupe_crash_") + name + "_" +
                                                 std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}


// Forks a child that starts an agent writing reports to dir, opens a
// transaction and dies of SIGSEGV in it; returns the child's wait status.
int CrashInChild(const std::string& dir) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    AgentOptions o = TestOptions("http://127.0.0.1:1");
    o.loupe_extensions = true;
    o.crash_dir = dir;
    o.snapshot_interval_ms = 60'000;
    Agent agent(o);
    Transaction tx(agent, "GET /boom");
    CrashNow();
    ::_exit(0);  // not reached
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

TEST(CrashHandler, ACrashInATransactionLeavesAReport) {
  const std::string dir = TempDir("report");
  const int status = CrashInChild(dir);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child must still die of its signal; status " << status;
  EXPECT_EQ(WTERMSIG(status), SIGSEGV);
  std::vector<std::string> reports = internal::FindCrashReports(dir, "orders");
  ASSERT_EQ(reports.size(), 1u);
  EXPECT_TRUE(internal::FindCrashReports(dir, "order").empty());  // another service's name
  const std::string text = ReadFile(reports[0]);
  EXPECT_NE(text.find("service orders\ninstance orders-1\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nsignal 11\naddress 0x0\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nendpoint GET /boom\nframes\n"), std::string::npos) << text;

  std::string json;
  ASSERT_TRUE(internal::CrashReportJson(text, &json));
  EXPECT_NE(json.find(R"("service":"orders","instance":"orders-1")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("signal_number":11,"signal":"SIGSEGV","address":"0x0")"),
            std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("endpoint":"GET /boom")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("tx_id":")"), std::string::npos) << json;
  // The crashing function is named in the stack (the test exports its symbols).
  EXPECT_NE(json.find("CrashNow"), std::string::npos) << json;
  fs::remove_all(dir);
}

TEST(CrashHandler, TheNextStartSendsReportsAndDeletesWhatWasAcknowledged) {
  const std::string dir = TempDir("send");
  ASSERT_TRUE(WIFSIGNALED(CrashInChild(dir)));
  ASSERT_TRUE(WIFSIGNALED(CrashInChild(dir)));
  ASSERT_EQ(internal::FindCrashReports(dir, "orders").size(), 2u);

  FakeHttpServer server;
  std::atomic<int> calls{0};
  std::atomic<bool> refuse{true};
  server.SetHandler([&](const FakeRequest& r) {
    FakeResponse resp;
    if (r.path() == "/v1/loupe/crash") {
      calls.fetch_add(1);
      if (refuse.load()) resp.status = 503;
      EXPECT_EQ(r.headers.at("authorization"), "Bearer k3y");
      EXPECT_NE(r.body.find(R"("signal":"SIGSEGV")"), std::string::npos) << r.body;
    }
    return resp;
  });
  AgentOptions o = TestOptions(server.url());
  o.loupe_extensions = true;
  o.crash_dir = dir;
  {
    // The server is unavailable: the reports stay for the next start.
    Agent agent(o);
    ASSERT_TRUE(FakeHttpServer::WaitFor([&] { return calls.load() >= 2; }));
    agent.Shutdown(1000);
    EXPECT_EQ(agent.stats().crash_reports_sent, 0u);
  }
  EXPECT_EQ(internal::FindCrashReports(dir, "orders").size(), 2u);
  refuse = false;
  Agent agent(o);
  ASSERT_TRUE(FakeHttpServer::WaitFor([&] { return agent.stats().crash_reports_sent == 2; }));
  EXPECT_TRUE(internal::FindCrashReports(dir, "orders").empty());
  fs::remove_all(dir);
}

// A report still being written (the crashing process's own sender thread may
// look while its handler writes) is a .tmp: never read, never deleted while
// fresh. The finished report next to it is sent.
TEST(CrashHandler, AReportBeingWrittenIsLeftAlone) {
  // Written by hand: a child forked after this process installed its
  // handlers (the previous test) would write to that test's directory.
  const std::string dir = TempDir("partial");
  {
    std::ofstream(dir + "/loupe-crash-orders-99998.txt")
        << "service orders\ninstance orders-1\npid 99998\ntime_ms 1700000000000\nsignal 11\n"
           "address 0x0\nframes\n./app(main+0x10)[0x401000]\n";
    std::ofstream(dir + "/loupe-crash-orders-99999.tmp") << "service orders\ninstance i\n";
  }
  FakeHttpServer server;
  std::atomic<int> calls{0};
  server.SetHandler([&](const FakeRequest& r) {
    if (r.path() == "/v1/loupe/crash") calls.fetch_add(1);
    return FakeResponse{};
  });
  AgentOptions o = TestOptions(server.url());
  o.loupe_extensions = true;
  o.crash_dir = dir;
  Agent agent(o);
  ASSERT_TRUE(FakeHttpServer::WaitFor([&] { return agent.stats().crash_reports_sent == 1; }));
  agent.Shutdown(1000);
  EXPECT_EQ(calls.load(), 1);
  EXPECT_TRUE(fs::exists(dir + "/loupe-crash-orders-99999.tmp"));
  fs::remove_all(dir);
}

TEST(CrashHandler, ATruncatedReportIsNotSent) {
  std::string json;
  EXPECT_FALSE(internal::CrashReportJson("service orders\ninstance i\npid 3\n", &json));
  EXPECT_TRUE(internal::CrashReportJson(
      "service orders\ninstance i\npid 3\ntime_ms 5\nsignal 6\naddress 0x0\nframes\n", &json));
  EXPECT_NE(json.find(R"("signal":"SIGABRT")"), std::string::npos) << json;
  EXPECT_NE(json.find(R"("frames":[])"), std::string::npos) << json;
}

}  // namespace
}  // namespace loupe
