#include "hostagent/metrics_builder.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "wire/otlp_metrics_proto.h"

namespace loupe::hostagent {
namespace {

using model::MetricBatch;
using model::MetricType;

constexpr uint64_t kStart = 1'700'000'000'000'000'000;
constexpr uint64_t kT1 = kStart + 10'000'000'000;
constexpr uint64_t kT2 = kT1 + 5'000'000'000;  // 5 s later

const HostIdentity kHost{"web-1", "0123abcd"};

HostSnapshot First() {
  HostSnapshot s;
  s.time_unix_nano = kT1;
  s.cpu = {10, 0, 5, 80, 5, 0, 0, 0};
  s.cores = {{0, {6, 0, 3, 40, 1, 0, 0, 0}}, {1, {4, 0, 2, 40, 4, 0, 0, 0}}};
  s.load1 = 1.5;
  s.memory = {.total = 1000,
              .free = 100,
              .available = 600,
              .buffers = 50,
              .cached = 250,
              .swap_total = 200,
              .swap_free = 150};
  s.interfaces.push_back({.name = "eth0", .rx_bytes = 1000, .tx_bytes = 500});
  s.disks.push_back({.device = "sda", .read_bytes = 4096, .written_bytes = 0});
  s.filesystems.push_back({.device = "/dev/sda1",
                           .mountpoint = "/",
                           .type = "ext4",
                           .used = 600,
                           .free = 300,
                           .reserved = 100});
  s.tcp.count[1] = 7;
  s.tcp.count[10] = 3;
  s.process_count = 90;
  Process p;
  p.pid = 42;
  p.name = "nginx";
  p.command_line = "nginx -g daemon off;";
  p.user = "www-data";
  p.cpu_time = 12;
  p.rss = 1 << 20;
  p.vsize = 1 << 24;
  p.threads = 4;
  p.open_files = 9;
  s.processes.push_back(p);
  Container c;
  c.id = std::string(64, 'a');
  c.pod_uid = "1b2c3d4e-5f60-4718-92a3-b4c5d6e7f809";
  c.cpu_time = 100;
  c.cpu_limit = 0.5;
  c.memory_usage = 300;
  c.memory_limit = 1200;
  c.oom_kills = 2;
  s.containers.push_back(c);
  return s;
}

HostSnapshot Second() {
  HostSnapshot s = First();
  s.time_unix_nano = kT2;
  // 10 s of CPU time in 5 s on 2 CPUs: 3 user, 1 system, 6 idle.
  s.cpu.user += 3;
  s.cpu.system += 1;
  s.cpu.idle += 6;
  s.interfaces[0].rx_bytes += 5000;  // 1000 B/s
  s.interfaces[0].tx_bytes += 50;    // 10 B/s
  s.disks[0].written_bytes += 10240;
  s.processes[0].cpu_time += 1;
  s.processes[0].cpu_utilization = 0.2;  // of one core
  s.containers[0].cpu_time += 2;         // 0.4 cores over 5 s
  return s;
}

// The points of metric `name`, keyed by their attributes rendered "k=v,...".
struct Found {
  const model::Metric* metric = nullptr;
  std::map<std::string, double> points;
  std::vector<const model::Resource*> resources;
};

Found Get(const MetricBatch& b, std::string_view name) {
  Found f;
  for (const model::Metric& m : b.metrics) {
    if (m.name != name) continue;
    f.metric = &m;
    f.resources.push_back(&b.resources[m.resource]);
    for (uint32_t i = m.points_begin; i < m.points_begin + m.points_count; ++i) {
      const model::MetricPoint& p = b.points[i];
      std::string key;
      for (uint32_t k = p.attrs.begin; k < p.attrs.begin + p.attrs.count; ++k) {
        if (!key.empty()) key += ",";
        key += std::string(b.attrs[k].key) + "=";
        b.attrs[k].value.AppendText(&key);
      }
      f.points[key] = p.value.AsDouble();
    }
  }
  return f;
}

std::string ResourceAttr(const MetricBatch& b, const model::Resource* r, std::string_view key) {
  const model::KeyValue* kv = b.Find(r->attrs, key);
  return kv != nullptr ? std::string(kv->value.s) : "";
}

TEST(BuildMetrics, TheHostResourceCarriesItsIdentity) {
  MetricBatch b;
  BuildMetrics(kHost, kStart, nullptr, First(), &b);
  ASSERT_GE(b.resources.size(), 1u);
  EXPECT_EQ(ResourceAttr(b, &b.resources[0], "host.name"), "web-1");
  EXPECT_EQ(ResourceAttr(b, &b.resources[0], "host.id"), "0123abcd");
  EXPECT_EQ(ResourceAttr(b, &b.resources[0], "os.type"), "linux");
}

TEST(BuildMetrics, CpuTimeIsACumulativeCounterPerCoreAndMode) {
  MetricBatch b;
  BuildMetrics(kHost, kStart, nullptr, First(), &b);
  Found f = Get(b, "system.cpu.time");
  ASSERT_NE(f.metric, nullptr);
  EXPECT_EQ(f.metric->type, MetricType::kSum);
  EXPECT_EQ(f.metric->temporality, model::Temporality::kCumulative);
  EXPECT_TRUE(f.metric->monotonic);
  EXPECT_EQ(f.metric->unit, "s");
  EXPECT_EQ(f.points.size(), 14u);  // 2 cores x 7 modes
  EXPECT_EQ(f.points["cpu.mode=iowait,cpu.logical_number=1"], 4);
  EXPECT_EQ(b.points[f.metric->points_begin].start_unix_nano, kStart);
  EXPECT_EQ(b.points[f.metric->points_begin].time_unix_nano, kT1);
  EXPECT_EQ(Get(b, "system.cpu.logical.count").points[""], 2);
}

TEST(BuildMetrics, RatesNeedAPreviousSnapshot) {
  MetricBatch b;
  BuildMetrics(kHost, kStart, nullptr, First(), &b);
  for (const char* name :
       {"system.cpu.utilization", "system.network.io.rate", "system.disk.io.rate",
        "process.cpu.utilization", "container.cpu.usage", "container.cpu.utilization"}) {
    EXPECT_EQ(Get(b, name).metric, nullptr) << name;
  }
}

TEST(BuildMetrics, CpuUtilizationIsTheShareOfEachModeSinceThePreviousSnapshot) {
  const HostSnapshot a = First(), c = Second();
  MetricBatch b;
  BuildMetrics(kHost, kStart, &a, c, &b);
  Found f = Get(b, "system.cpu.utilization");
  ASSERT_NE(f.metric, nullptr);
  EXPECT_EQ(f.metric->type, MetricType::kGauge);
  EXPECT_DOUBLE_EQ(f.points["cpu.mode=user"], 0.3);
  EXPECT_DOUBLE_EQ(f.points["cpu.mode=system"], 0.1);
  EXPECT_DOUBLE_EQ(f.points["cpu.mode=idle"], 0.6);
  EXPECT_DOUBLE_EQ(f.points["cpu.mode=iowait"], 0);
}

TEST(BuildMetrics, MemoryAndSwapByState) {
  MetricBatch b;
  BuildMetrics(kHost, kStart, nullptr, First(), &b);
  Found f = Get(b, "system.memory.usage");
  EXPECT_EQ(f.points["system.memory.state=used"], 600);  // 1000 - 100 - 50 - 250
  EXPECT_EQ(f.points["system.memory.state=free"], 100);
  EXPECT_EQ(f.points["system.memory.state=buffers"], 50);
  EXPECT_EQ(f.points["system.memory.state=cached"], 250);
  EXPECT_DOUBLE_EQ(Get(b, "system.memory.utilization").points["system.memory.state=used"], 0.6);
  EXPECT_EQ(Get(b, "system.memory.limit").points[""], 1000);
  EXPECT_EQ(Get(b, "system.paging.usage").points["system.paging.state=used"], 50);
  EXPECT_DOUBLE_EQ(Get(b, "system.paging.utilization").points["system.paging.state=free"], 0.75);
  EXPECT_DOUBLE_EQ(Get(b, "system.cpu.load_average.1m").points[""], 1.5);
}

TEST(BuildMetrics, NetworkAndDiskCountersAndRates) {
  const HostSnapshot a = First(), c = Second();
  MetricBatch b;
  BuildMetrics(kHost, kStart, &a, c, &b);
  Found io = Get(b, "system.network.io");
  EXPECT_EQ(io.points["network.interface.name=eth0,network.io.direction=receive"], 6000);
  EXPECT_EQ(io.points["network.interface.name=eth0,network.io.direction=transmit"], 550);
  Found rate = Get(b, "system.network.io.rate");
  EXPECT_DOUBLE_EQ(rate.points["network.interface.name=eth0,network.io.direction=receive"], 1000);
  EXPECT_DOUBLE_EQ(rate.points["network.interface.name=eth0,network.io.direction=transmit"], 10);
  EXPECT_EQ(rate.metric->unit, "By/s");
  Found disk = Get(b, "system.disk.io.rate");
  EXPECT_DOUBLE_EQ(disk.points["system.device=sda,disk.io.direction=write"], 2048);
  EXPECT_DOUBLE_EQ(disk.points["system.device=sda,disk.io.direction=read"], 0);
  Found tcp = Get(b, "system.network.connection.count");
  EXPECT_EQ(tcp.points.size(), 11u);
  EXPECT_EQ(tcp.points["network.transport=tcp,network.connection.state=established"], 7);
  EXPECT_EQ(tcp.points["network.transport=tcp,network.connection.state=listen"], 3);
  EXPECT_EQ(tcp.points["network.transport=tcp,network.connection.state=closing"], 0);
}

TEST(BuildMetrics, ACounterThatWentBackGivesARateOfZero) {
  HostSnapshot a = First(), c = Second();
  c.interfaces[0].rx_bytes = 10;  // the interface was reset
  MetricBatch b;
  BuildMetrics(kHost, kStart, &a, c, &b);
  EXPECT_EQ(Get(b, "system.network.io.rate")
                .points["network.interface.name=eth0,network.io.direction=receive"],
            0);
}

TEST(BuildMetrics, FileSystemUsageByState) {
  MetricBatch b;
  BuildMetrics(kHost, kStart, nullptr, First(), &b);
  const std::string attrs =
      "system.device=/dev/sda1,system.filesystem.mountpoint=/,system.filesystem.type=ext4,"
      "system.filesystem.mode=rw";
  Found f = Get(b, "system.filesystem.usage");
  EXPECT_EQ(f.points[attrs + ",system.filesystem.state=used"], 600);
  EXPECT_EQ(f.points[attrs + ",system.filesystem.state=free"], 300);
  EXPECT_EQ(f.points[attrs + ",system.filesystem.state=reserved"], 100);
  EXPECT_DOUBLE_EQ(Get(b, "system.filesystem.utilization").points[attrs], 600.0 / 900);
}

TEST(BuildMetrics, ProcessesCarryTheirIdentityInPointAttributes) {
  const HostSnapshot a = First(), c = Second();
  MetricBatch b;
  BuildMetrics(kHost, kStart, &a, c, &b);
  const std::string id =
      "process.pid=42,process.executable.name=nginx,process.command_line=nginx -g daemon off;,"
      "process.owner=www-data";
  EXPECT_DOUBLE_EQ(Get(b, "process.cpu.utilization").points[id], 0.1);  // 0.2 of 1 core / 2 CPUs
  EXPECT_EQ(Get(b, "process.cpu.time").points[id], 13);
  EXPECT_EQ(Get(b, "process.memory.usage").points[id], 1 << 20);
  EXPECT_EQ(Get(b, "process.memory.virtual").points[id], 1 << 24);
  EXPECT_EQ(Get(b, "process.thread.count").points[id], 4);
  EXPECT_EQ(Get(b, "process.unix.file_descriptor.count").points[id], 9);
  EXPECT_EQ(Get(b, "system.process.count").points[""], 90);
}

TEST(BuildMetrics, AnEmptyCommandLineIsLeftOut) {
  HostSnapshot s = First();
  s.processes[0].command_line.clear();
  MetricBatch b;
  BuildMetrics(kHost, kStart, nullptr, s, &b);
  EXPECT_EQ(Get(b, "process.memory.usage")
                .points["process.pid=42,process.executable.name=nginx,process.owner=www-data"],
            1 << 20);
}

TEST(BuildMetrics, ContainersHaveAResourceEachWithCpuAgainstTheirLimit) {
  const HostSnapshot a = First(), c = Second();
  MetricBatch b;
  BuildMetrics(kHost, kStart, &a, c, &b);
  ASSERT_EQ(b.resources.size(), 2u);
  const model::Resource* r = &b.resources[1];
  EXPECT_EQ(ResourceAttr(b, r, "container.id"), std::string(64, 'a'));
  EXPECT_EQ(ResourceAttr(b, r, "k8s.pod.uid"), "1b2c3d4e-5f60-4718-92a3-b4c5d6e7f809");
  EXPECT_EQ(ResourceAttr(b, r, "host.name"), "web-1");
  Found usage = Get(b, "container.cpu.usage");
  ASSERT_EQ(usage.resources.size(), 1u);
  EXPECT_EQ(usage.resources[0], r);
  EXPECT_DOUBLE_EQ(usage.points[""], 0.4);
  EXPECT_DOUBLE_EQ(Get(b, "container.cpu.utilization").points[""], 0.8);  // of a 0.5 limit
  EXPECT_EQ(Get(b, "container.cpu.time").points[""], 102);
  EXPECT_EQ(Get(b, "container.memory.usage").points[""], 300);
  EXPECT_EQ(Get(b, "container.memory.limit").points[""], 1200);
  EXPECT_DOUBLE_EQ(Get(b, "container.memory.utilization").points[""], 0.25);
  EXPECT_EQ(Get(b, "container.memory.oom_kills").points[""], 2);
}

TEST(BuildMetrics, TheBatchEncodesIntoARequestThatDecodesToTheSameMetrics) {
  const HostSnapshot a = First(), c = Second();
  MetricBatch b;
  BuildMetrics(kHost, kStart, &a, c, &b);
  std::string body;
  wire::EncodeMetricsProto(b, &body);
  MetricBatch d;
  ASSERT_TRUE(wire::DecodeMetricsProto(body, wire::DecodeLimits{}, &d).ok());
  EXPECT_EQ(d.metrics.size(), b.metrics.size());
  EXPECT_EQ(d.points.size(), b.points.size());
  EXPECT_EQ(d.skipped_metrics + d.invalid_points + d.dropped_attributes, 0u);
  for (const model::Metric& m : d.metrics) {
    EXPECT_EQ(m.scope_name, kScopeName);
    EXPECT_GT(m.points_count, 0u) << m.name;
  }
}

}  // namespace
}  // namespace loupe::hostagent
