#include "hostagent/collector.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace loupe::hostagent {
namespace {

const std::string kFixtures = LOUPE_SOURCE_DIR "/tests/fixtures/hostagent";
const std::string kContainerA = std::string(60, 'a') + "1234";
constexpr uint64_t kT0 = 1'700'000'000'000'000'000;

// statvfs of every fixture mount: 1000 blocks of 4 KiB, 400 free, 300 for users.
int FakeStatvfs(const std::string& path, struct statvfs* st) {
  *st = {};
  st->f_frsize = 4096;
  st->f_blocks = 1000;
  st->f_bfree = 400;
  st->f_bavail = 300;
  return 0;
}

Collector::Options FixtureOptions(const std::string& root, int top = 2) {
  Collector::Options o;
  o.root = root;
  o.top_processes = top;
  o.clock_ticks = 100;
  o.page_size = 4096;
  o.statvfs = FakeStatvfs;
  return o;
}

HostSnapshot CollectFixture(const std::string& name, int top = 2) {
  Collector c(FixtureOptions(kFixtures + "/" + name, top));
  HostSnapshot s;
  Status st = c.Collect(kT0, &s);
  EXPECT_TRUE(st.ok()) << st.ToString();
  return s;
}

TEST(Collector, ReadsCpuTimesPerCoreAndForTheHost) {
  HostSnapshot s = CollectFixture("v2");
  EXPECT_EQ(s.time_unix_nano, kT0);
  EXPECT_DOUBLE_EQ(s.cpu.user, 10.0);
  EXPECT_DOUBLE_EQ(s.cpu.nice, 2.0);
  EXPECT_DOUBLE_EQ(s.cpu.system, 3.0);
  EXPECT_DOUBLE_EQ(s.cpu.idle, 80.0);
  EXPECT_DOUBLE_EQ(s.cpu.iowait, 1.0);
  EXPECT_DOUBLE_EQ(s.cpu.irq + s.cpu.softirq, 1.0);
  ASSERT_EQ(s.cores.size(), 2u);
  EXPECT_EQ(s.cores[1].logical_number, 1);
  EXPECT_DOUBLE_EQ(s.cores[1].times.idle, 41.0);
  EXPECT_DOUBLE_EQ(s.cores[0].times.user, 6.0);
}

TEST(Collector, ReadsLoadAndMemoryLikeFree) {
  HostSnapshot s = CollectFixture("v2");
  EXPECT_DOUBLE_EQ(s.load1, 0.52);
  EXPECT_DOUBLE_EQ(s.load5, 0.40);
  EXPECT_DOUBLE_EQ(s.load15, 0.31);
  EXPECT_EQ(s.memory.total, 8'192'000'000u);
  EXPECT_EQ(s.memory.free, 2'048'000'000u);
  EXPECT_EQ(s.memory.buffers, 512'000'000u);
  EXPECT_EQ(s.memory.cached, 1'740'800'000u);  // Cached + SReclaimable
  EXPECT_EQ(s.memory.Used(), 3'891'200'000u);
  EXPECT_EQ(s.memory.swap_total, 1'024'000'000u);
  EXPECT_EQ(s.memory.swap_free, 768'000'000u);
}

TEST(Collector, ReadsWholeDisksOnly) {
  HostSnapshot s = CollectFixture("v2");
  ASSERT_EQ(s.disks.size(), 3u);
  EXPECT_EQ(s.disks[0].device, "sda");
  EXPECT_EQ(s.disks[1].device, "nvme0n1");
  EXPECT_EQ(s.disks[2].device, "dm-0");
  const Disk& d = s.disks[0];
  EXPECT_EQ(d.reads, 1000u);
  EXPECT_EQ(d.read_bytes, 20000u * 512);
  EXPECT_DOUBLE_EQ(d.read_time, 3.0);
  EXPECT_EQ(d.writes, 500u);
  EXPECT_EQ(d.written_bytes, 8000u * 512);
  EXPECT_DOUBLE_EQ(d.write_time, 4.0);
  EXPECT_DOUBLE_EQ(d.io_time, 5.0);
}

TEST(Collector, ReadsRealFileSystemsOncePerDevice) {
  HostSnapshot s = CollectFixture("v2");
  ASSERT_EQ(s.filesystems.size(), 2u);  // proc, tmpfs, overlay and the /srv bind are skipped
  const FileSystem& root = s.filesystems[0];
  EXPECT_EQ(root.mountpoint, "/");
  EXPECT_EQ(root.device, "/dev/sda1");
  EXPECT_EQ(root.type, "ext4");
  EXPECT_FALSE(root.read_only);
  EXPECT_EQ(root.used, 600u * 4096);
  EXPECT_EQ(root.free, 300u * 4096);
  EXPECT_EQ(root.reserved, 100u * 4096);
  const FileSystem& data = s.filesystems[1];
  EXPECT_EQ(data.mountpoint, "/data disk");  // \040 unescaped
  EXPECT_EQ(data.type, "xfs");
  EXPECT_TRUE(data.read_only);
}

TEST(Collector, ReadsInterfacesWithoutLoopbackAndTcpStates) {
  HostSnapshot s = CollectFixture("v2");
  ASSERT_EQ(s.interfaces.size(), 1u);
  const NetInterface& n = s.interfaces[0];
  EXPECT_EQ(n.name, "eth0");
  EXPECT_EQ(n.rx_bytes, 1'000'000u);
  EXPECT_EQ(n.rx_packets, 2000u);
  EXPECT_EQ(n.rx_errors, 1u);
  EXPECT_EQ(n.rx_dropped, 2u);
  EXPECT_EQ(n.tx_bytes, 500'000u);
  EXPECT_EQ(n.tx_packets, 1500u);
  EXPECT_EQ(n.tx_errors, 3u);
  EXPECT_EQ(n.tx_dropped, 4u);
  EXPECT_EQ(s.tcp.count[1], 2u);   // established
  EXPECT_EQ(s.tcp.count[6], 1u);   // time_wait
  EXPECT_EQ(s.tcp.count[8], 1u);   // close_wait (tcp6)
  EXPECT_EQ(s.tcp.count[10], 2u);  // listen (tcp and tcp6)
  EXPECT_EQ(s.tcp.count[2], 0u);
}

TEST(Collector, ReportsTheTopProcessesByCpuAndMemoryWithTheirDetails) {
  HostSnapshot s = CollectFixture("v2", 2);
  EXPECT_EQ(s.process_count, 4u);
  ASSERT_EQ(s.processes.size(), 2u);
  EXPECT_EQ(s.processes[0].pid, 100);
  const Process& java = s.processes[1];
  EXPECT_EQ(java.pid, 200);
  EXPECT_EQ(java.name, "java (app) x");
  EXPECT_EQ(java.command_line, "/usr/bin/java -Xmx2g -jar app.jar");
  EXPECT_EQ(java.user, "alice");
  EXPECT_DOUBLE_EQ(java.cpu_time, 25.0);
  EXPECT_EQ(java.rss, 250000u * 4096);
  EXPECT_EQ(java.vsize, 5'000'000'000u);
  EXPECT_EQ(java.threads, 40u);
  EXPECT_EQ(java.open_files, 7);
  EXPECT_EQ(java.start_ticks, 2000u);
  EXPECT_FALSE(java.cpu_utilization.has_value());  // first collection
  EXPECT_EQ(s.processes[0].user, "www-data");
}

TEST(Collector, CommandLinesCanBeLeftOut) {
  Collector::Options o = FixtureOptions(kFixtures + "/v2");
  o.command_lines = false;
  Collector c(o);
  HostSnapshot s;
  ASSERT_TRUE(c.Collect(kT0, &s).ok());
  ASSERT_EQ(s.processes.size(), 2u);
  EXPECT_EQ(s.processes[1].command_line, "");
  EXPECT_EQ(s.processes[1].name, "java (app) x");
}

TEST(Collector, ProcessCpuRatesComeFromTheDifferenceOfTwoCollections) {
  const std::string root = ::testing::TempDir() + "/hostagent_rates";
  std::filesystem::remove_all(root);
  std::filesystem::copy(kFixtures + "/v2", root, std::filesystem::copy_options::recursive);
  Collector c(FixtureOptions(root, 2));
  HostSnapshot first, second;
  ASSERT_TRUE(c.Collect(kT0, &first).ok());
  // pid 300 burns 5 CPU seconds (500 ticks) in the next 5 s.
  std::ofstream(root + "/proc/300/stat")
      << "300 (sleep) R 1 300 300 0 -1 4194560 100 0 0 0 501 1 0 0 20 0 1 0 3000 8000000 200 "
         "0 0 0 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0\n";
  ASSERT_TRUE(c.Collect(kT0 + 5'000'000'000, &second).ok());
  // Top 2 by CPU: 300, then 1 (every other rate is 0; ties by pid); by memory: 200, 100.
  ASSERT_EQ(second.processes.size(), 4u);
  const Process& sleeper = second.processes[3];
  EXPECT_EQ(sleeper.pid, 300);
  ASSERT_TRUE(sleeper.cpu_utilization.has_value());
  EXPECT_DOUBLE_EQ(*sleeper.cpu_utilization, 1.0);
  EXPECT_EQ(sleeper.user, "4242");    // no /etc/passwd entry
  EXPECT_EQ(sleeper.open_files, -1);  // the fixture has no /proc/300/fd
  ASSERT_TRUE(second.processes[2].cpu_utilization.has_value());
  EXPECT_DOUBLE_EQ(*second.processes[2].cpu_utilization, 0.0);
  std::filesystem::remove_all(root);
}

TEST(Collector, ReadsContainersFromCgroupV2) {
  HostSnapshot s = CollectFixture("v2");
  EXPECT_EQ(s.cgroup_version, 2);
  ASSERT_EQ(s.containers.size(), 2u);
  const Container& a = s.containers[0];
  EXPECT_EQ(a.id, kContainerA);
  EXPECT_EQ(a.pod_uid, "");
  EXPECT_EQ(a.cgroup, "/system.slice/docker-" + kContainerA + ".scope");
  EXPECT_DOUBLE_EQ(a.cpu_time, 12.5);
  EXPECT_DOUBLE_EQ(a.cpu_limit, 0.5);
  EXPECT_EQ(a.periods, 400u);
  EXPECT_EQ(a.throttled_periods, 25u);
  EXPECT_DOUBLE_EQ(a.throttled_time, 1.5);
  EXPECT_EQ(a.memory_usage, 104'857'600u);
  ASSERT_TRUE(a.memory_limit.has_value());
  EXPECT_EQ(*a.memory_limit, 268'435'456u);
  EXPECT_EQ(a.oom_kills, 1u);
  const Container& b = s.containers[1];
  EXPECT_EQ(b.id, std::string(64, 'b'));
  EXPECT_DOUBLE_EQ(b.cpu_limit, 0);          // "max"
  EXPECT_FALSE(b.memory_limit.has_value());  // "max"
}

TEST(Collector, FallsBackToCgroupV1) {
  HostSnapshot s = CollectFixture("v1");
  EXPECT_EQ(s.cgroup_version, 1);
  ASSERT_EQ(s.containers.size(), 1u);
  const Container& c = s.containers[0];
  EXPECT_EQ(c.id, std::string(64, 'c'));
  EXPECT_DOUBLE_EQ(c.cpu_time, 7.25);
  EXPECT_DOUBLE_EQ(c.cpu_limit, 2.0);
  EXPECT_EQ(c.periods, 100u);
  EXPECT_EQ(c.throttled_periods, 10u);
  EXPECT_DOUBLE_EQ(c.throttled_time, 2.0);
  EXPECT_EQ(c.memory_usage, 52'428'800u);
  EXPECT_FALSE(c.memory_limit.has_value());  // v1's "unlimited"
  EXPECT_EQ(c.oom_kills, 4u);
}

TEST(Collector, ReadsKubernetesPodsFromTheSystemdDriversPaths) {
  HostSnapshot s = CollectFixture("kubepods");
  ASSERT_EQ(s.containers.size(), 1u);
  const Container& c = s.containers[0];
  EXPECT_EQ(c.id, std::string(64, 'd'));
  EXPECT_EQ(c.pod_uid, "1b2c3d4e-5f60-4718-92a3-b4c5d6e7f809");
  EXPECT_DOUBLE_EQ(c.cpu_time, 3.0);
  EXPECT_DOUBLE_EQ(c.cpu_limit, 1.0);
  EXPECT_EQ(c.memory_usage, 2'097'152u);
  EXPECT_EQ(*c.memory_limit, 4'194'304u);
}

TEST(ParseContainerCgroup, ReadsIdsAndPodUidsOfBothKubeletDrivers) {
  const std::string id(64, 'e');
  const std::string uid = "1b2c3d4e-5f60-4718-92a3-b4c5d6e7f809";
  const std::string uid_ = "1b2c3d4e_5f60_4718_92a3_b4c5d6e7f809";
  std::string c, p;
  ParseContainerCgroup("/kubepods/burstable/pod" + uid + "/" + id, &c, &p);
  EXPECT_EQ(c, id);
  EXPECT_EQ(p, uid);
  ParseContainerCgroup("/kubepods/pod" + uid + "/" + id, &c, &p);  // guaranteed QoS
  EXPECT_EQ(p, uid);
  ParseContainerCgroup(
      "/kubepods.slice/kubepods-pod" + uid_ + ".slice/cri-containerd-" + id + ".scope", &c, &p);
  EXPECT_EQ(c, id);
  EXPECT_EQ(p, uid);
  ParseContainerCgroup("/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod" + uid_ +
                           ".slice/crio-" + id + ".scope",
                       &c, &p);
  EXPECT_EQ(c, id);
  EXPECT_EQ(p, uid);
  ParseContainerCgroup("/docker/" + id, &c, &p);
  EXPECT_EQ(c, id);
  EXPECT_EQ(p, "");
  ParseContainerCgroup("/machine.slice/libpod-" + id + ".scope", &c, &p);
  EXPECT_EQ(c, id);
  ParseContainerCgroup("/system.slice/ssh.service", &c, &p);
  EXPECT_EQ(c, "");
  ParseContainerCgroup("/kubepods.slice/crio-conmon-" + id + ".scope", &c, &p);
  EXPECT_EQ(c, "");
  ParseContainerCgroup("/docker/" + id.substr(1) + "X", &c, &p);
  EXPECT_EQ(c, "");
}

// A /proc/net/tcp larger than the 64 KiB read chunk: every line is counted
// once, including those that straddle two chunks.
TEST(Collector, CountsTcpTablesLargerThanTheReadChunk) {
  const std::string root = ::testing::TempDir() + "/hostagent_tcp";
  std::filesystem::remove_all(root);
  std::filesystem::copy(kFixtures + "/v1", root, std::filesystem::copy_options::recursive);
  {
    std::ofstream tcp(root + "/proc/net/tcp");
    tcp << "  sl  local_address rem_address   st tx_queue rx_queue\n";
    for (int i = 0; i < 3000; ++i) {
      tcp << "  " << i << ": 0100007F:1F90 0100007F:D431 " << (i % 3 == 0 ? "06" : "01")
          << " 00000000:00000000 00:00000000 00000000  1000        0 2 1 0000000000000000\n";
    }
  }
  std::filesystem::remove(root + "/proc/net/tcp6");
  Collector c(FixtureOptions(root));
  HostSnapshot s;
  ASSERT_TRUE(c.Collect(kT0, &s).ok());
  EXPECT_EQ(s.tcp.count[6], 1000u);
  EXPECT_EQ(s.tcp.count[1], 2000u);
  std::filesystem::remove_all(root);
}

TEST(Collector, AMissingProcStatFailsTheCollection) {
  Collector c(FixtureOptions(kFixtures + "/does-not-exist"));
  HostSnapshot s;
  EXPECT_EQ(c.Collect(kT0, &s).code(), Status::Code::kIoError);
}

// Writes `text` to an existing file (a cgroup control file); false on error.
bool WriteFile(const std::string& path, const std::string& text) {
  std::ofstream f(path);
  f << text;
  f.flush();
  return static_cast<bool>(f);
}

// A real cgroup on this machine with a child process burning CPU in it: the
// collector finds it as a container and measures its CPU. Needs root and a
// writable cgroup tree (v2, or the v1 cpuacct and memory hierarchies);
// skipped elsewhere.
TEST(Collector, MeasuresARealChildCgroupBurningCpu) {
  namespace fs = std::filesystem;
  const std::string id = "feed" + std::string(56, '0') + std::to_string(1000 + ::getpid() % 9000);
  ASSERT_EQ(id.size(), 64u);
  const std::string group = "loupe-test-" + std::to_string(::getpid());
  const bool v2 = fs::exists("/sys/fs/cgroup/cgroup.controllers");
  std::vector<std::string> dirs;  // created, deepest last
  std::string procs;              // where the burner goes
  std::error_code ec;
  if (v2) {
    dirs = {"/sys/fs/cgroup/" + group, "/sys/fs/cgroup/" + group + "/docker-" + id + ".scope"};
    procs = dirs[1] + "/cgroup.procs";
  } else {
    for (const char* h : {"memory", "cpuacct"}) {
      dirs.push_back(std::string("/sys/fs/cgroup/") + h + "/" + group);
      dirs.push_back(dirs.back() + "/" + id);
    }
    procs = dirs[3] + "/cgroup.procs";
  }
  if (::geteuid() != 0) GTEST_SKIP() << "needs root to create cgroups";
  for (size_t i = 0; i < dirs.size(); ++i) {
    if (!fs::create_directory(dirs[i], ec) && ec) {
      const std::string failed = dirs[i];
      while (i-- > 0) ::rmdir(dirs[i].c_str());
      GTEST_SKIP() << "cannot create " << failed << ": " << ec.message();
    }
  }
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    volatile uint64_t spin = 0;
    for (;;) spin = spin + 1;
  }
  const bool moved = WriteFile(procs, std::to_string(child));
  Collector c(Collector::Options{});
  HostSnapshot a, b;
  Status s1 = c.Collect(kT0, &a);
  ::usleep(1'000'000);
  Status s2 = c.Collect(kT0 + 1'000'000'000, &b);
  ::kill(child, SIGKILL);
  ::waitpid(child, nullptr, 0);
  for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
    for (int i = 0; i < 50 && ::rmdir(it->c_str()) != 0 && errno == EBUSY; ++i) ::usleep(20'000);
  }
  ASSERT_TRUE(moved) << "cannot write " << procs;
  ASSERT_TRUE(s1.ok() && s2.ok());
  auto find = [&](const HostSnapshot& s) -> const Container* {
    for (const Container& k : s.containers) {
      if (k.id == id) return &k;
    }
    return nullptr;
  };
  const Container* before = find(a);
  const Container* after = find(b);
  ASSERT_NE(before, nullptr) << "cgroup v" << (v2 ? 2 : 1) << " container not found";
  ASSERT_NE(after, nullptr);
  // A second of a busy loop on a shared 2-core machine: well over 0.1 s of CPU.
  EXPECT_GT(after->cpu_time - before->cpu_time, 0.1);
  EXPECT_LT(after->cpu_time - before->cpu_time, 1.5);
}

// The real machine's /proc: whatever it holds, the collector reads its basics.
TEST(Collector, CollectsThisMachine) {
  Collector::Options o;
  o.top_processes = 5;
  Collector c(o);
  HostSnapshot s;
  ASSERT_TRUE(c.Collect(kT0, &s).ok());
  EXPECT_EQ(s.cores.size(), static_cast<size_t>(::sysconf(_SC_NPROCESSORS_ONLN)));
  EXPECT_GT(s.cpu.Total(), 0);
  EXPECT_GT(s.memory.total, 0u);
  EXPECT_GT(s.process_count, 1u);
  ASSERT_FALSE(s.processes.empty());
  uint64_t max_rss = 0;
  for (const Process& p : s.processes) {
    EXPECT_FALSE(p.name.empty());
    max_rss = std::max(max_rss, p.rss);
  }
  EXPECT_GT(max_rss, 0u);  // the top 5 by memory include this test
  EXPECT_FALSE(s.filesystems.empty());
}

}  // namespace
}  // namespace loupe::hostagent
