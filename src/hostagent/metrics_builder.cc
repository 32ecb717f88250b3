#include "hostagent/metrics_builder.h"

#include <algorithm>
#include <array>
#include <initializer_list>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace loupe::hostagent {
namespace {

using model::MetricType;
using model::Temporality;

// An attribute of a point: a string or an int.
struct Attr {
  std::string_view key;
  std::string_view s;
  int64_t i = 0;
  bool is_int = false;
  bool omit_if_empty = false;

  Attr(std::string_view k, std::string_view v) : key(k), s(v) {}
  static Attr Optional(std::string_view k, std::string_view v) {
    Attr a(k, v);
    a.omit_if_empty = true;
    return a;
  }
  Attr(std::string_view k, int64_t v) : key(k), i(v), is_int(true) {}
};

// Appends metrics and points of one resource. Keys and constant values are
// string literals; other strings are copied into the batch's arena by Own().
class Writer {
 public:
  Writer(model::MetricBatch* b, uint64_t start, uint64_t time)
      : b_(b), start_(start), time_(time) {}

  void Resource(std::initializer_list<Attr> attrs) {
    DropEmptyMetric();
    model::Resource r;
    r.attrs.begin = static_cast<uint32_t>(b_->attrs.size());
    for (const Attr& a : attrs) {
      if (!a.is_int && a.s.empty()) continue;
      Push(a);
    }
    r.attrs.count = static_cast<uint32_t>(b_->attrs.size()) - r.attrs.begin;
    resource_ = static_cast<uint32_t>(b_->resources.size());
    b_->resources.push_back(r);
  }

  void Gauge(const char* name, const char* unit, const char* description) {
    Begin(name, unit, description, MetricType::kGauge, Temporality::kUnspecified, false);
  }
  void Counter(const char* name, const char* unit, const char* description) {
    Begin(name, unit, description, MetricType::kSum, Temporality::kCumulative, true);
  }
  void UpDown(const char* name, const char* unit, const char* description) {
    Begin(name, unit, description, MetricType::kSum, Temporality::kCumulative, false);
  }

  void Point(double v, std::initializer_list<Attr> attrs) { Add({false, 0, v}, attrs); }
  void PointInt(int64_t v, std::initializer_list<Attr> attrs) { Add({true, v, 0}, attrs); }

  std::string_view Own(std::string s) { return b_->Own(std::move(s)); }

  // Takes back the last metric if no point was added to it (a rate on the
  // first collection, file descriptors nobody could read).
  void DropEmptyMetric() {
    if (b_->metrics.size() > first_metric_ && b_->metrics.back().points_count == 0) {
      b_->metrics.pop_back();
    }
  }

 private:
  void Begin(const char* name, const char* unit, const char* description, MetricType type,
             Temporality temporality, bool monotonic) {
    DropEmptyMetric();
    model::Metric& m = b_->metrics.emplace_back();
    m.resource = resource_;
    m.scope_name = kScopeName;
    m.name = name;
    m.unit = unit;
    m.description = description;
    m.type = type;
    m.temporality = temporality;
    m.monotonic = monotonic;
    m.points_begin = static_cast<uint32_t>(b_->points.size());
  }

  void Add(model::MetricValue v, std::initializer_list<Attr> attrs) {
    model::MetricPoint p;
    p.time_unix_nano = time_;
    if (b_->metrics.back().type == MetricType::kSum) p.start_unix_nano = start_;
    p.value = v;
    p.attrs.begin = static_cast<uint32_t>(b_->attrs.size());
    for (const Attr& a : attrs) {
      if (a.is_int || !a.s.empty() || !a.omit_if_empty) Push(a);
    }
    p.attrs.count = static_cast<uint32_t>(b_->attrs.size()) - p.attrs.begin;
    b_->points.push_back(p);
    ++b_->metrics.back().points_count;
  }

  void Push(const Attr& a) {
    model::KeyValue kv;
    kv.key = a.key;
    if (a.is_int) {
      kv.value.type = model::AttrValue::Type::kInt;
      kv.value.i = a.i;
    } else {
      kv.value.type = model::AttrValue::Type::kString;
      kv.value.s = a.s;
    }
    b_->attrs.push_back(kv);
  }

  model::MetricBatch* b_;
  const size_t first_metric_ = b_->metrics.size();
  uint64_t start_, time_;
  uint32_t resource_ = 0;
};

// TCP states by the kernel's number (include/net/tcp_states.h), as
// network.connection.state values.
constexpr const char* kTcpStates[12] = {"",           "established", "syn_sent",  "syn_recv",
                                        "fin_wait_1", "fin_wait_2",  "time_wait", "close",
                                        "close_wait", "last_ack",    "listen",    "closing"};

double Ratio(double a, double b) { return b > 0 ? a / b : 0; }

void Cpu(Writer& w, const HostSnapshot* prev, const HostSnapshot& cur) {
  w.Counter("system.cpu.time", "s", "Seconds each logical CPU spent in each mode");
  for (const CpuCore& c : cur.cores) {
    const CpuTimes& t = c.times;
    const int64_t n = c.logical_number;
    w.Point(t.user, {{"cpu.mode", "user"}, {"cpu.logical_number", n}});
    w.Point(t.nice, {{"cpu.mode", "nice"}, {"cpu.logical_number", n}});
    w.Point(t.system, {{"cpu.mode", "system"}, {"cpu.logical_number", n}});
    w.Point(t.idle, {{"cpu.mode", "idle"}, {"cpu.logical_number", n}});
    w.Point(t.iowait, {{"cpu.mode", "iowait"}, {"cpu.logical_number", n}});
    w.Point(t.irq + t.softirq, {{"cpu.mode", "interrupt"}, {"cpu.logical_number", n}});
    w.Point(t.steal, {{"cpu.mode", "steal"}, {"cpu.logical_number", n}});
  }
  w.UpDown("system.cpu.logical.count", "{cpu}", "Logical CPUs");
  w.PointInt(static_cast<int64_t>(cur.cores.size()), {});
  if (prev == nullptr) return;
  // Host-wide: the change in each mode's time over the change in all modes'.
  const CpuTimes& a = prev->cpu;
  const CpuTimes& b = cur.cpu;
  const double total = b.Total() - a.Total();
  if (total <= 0) return;
  auto d = [&](double x, double y) { return std::max(0.0, y - x) / total; };
  w.Gauge("system.cpu.utilization", "1",
          "Share of the time of all logical CPUs spent in each mode since the last collection");
  w.Point(d(a.user, b.user), {{"cpu.mode", "user"}});
  w.Point(d(a.nice, b.nice), {{"cpu.mode", "nice"}});
  w.Point(d(a.system, b.system), {{"cpu.mode", "system"}});
  w.Point(d(a.idle, b.idle), {{"cpu.mode", "idle"}});
  w.Point(d(a.iowait, b.iowait), {{"cpu.mode", "iowait"}});
  w.Point(d(a.irq + a.softirq, b.irq + b.softirq), {{"cpu.mode", "interrupt"}});
  w.Point(d(a.steal, b.steal), {{"cpu.mode", "steal"}});
}

void MemoryMetrics(Writer& w, const HostSnapshot& cur) {
  const Memory& m = cur.memory;
  if (m.total == 0) return;
  const double total = static_cast<double>(m.total);
  w.UpDown("system.memory.usage", "By", "Memory in use by state");
  w.PointInt(static_cast<int64_t>(m.Used()), {{"system.memory.state", "used"}});
  w.PointInt(static_cast<int64_t>(m.free), {{"system.memory.state", "free"}});
  w.PointInt(static_cast<int64_t>(m.buffers), {{"system.memory.state", "buffers"}});
  w.PointInt(static_cast<int64_t>(m.cached), {{"system.memory.state", "cached"}});
  w.UpDown("system.memory.limit", "By", "Total memory");
  w.PointInt(static_cast<int64_t>(m.total), {});
  w.Gauge("system.memory.utilization", "1", "Share of memory in each state");
  w.Point(Ratio(static_cast<double>(m.Used()), total), {{"system.memory.state", "used"}});
  w.Point(Ratio(static_cast<double>(m.free), total), {{"system.memory.state", "free"}});
  w.Point(Ratio(static_cast<double>(m.buffers), total), {{"system.memory.state", "buffers"}});
  w.Point(Ratio(static_cast<double>(m.cached), total), {{"system.memory.state", "cached"}});
  if (m.swap_total == 0) return;
  const uint64_t swap_free = std::min(m.swap_free, m.swap_total);
  w.UpDown("system.paging.usage", "By", "Swap space in use and free");
  w.PointInt(static_cast<int64_t>(m.swap_total - swap_free), {{"system.paging.state", "used"}});
  w.PointInt(static_cast<int64_t>(swap_free), {{"system.paging.state", "free"}});
  w.Gauge("system.paging.utilization", "1", "Share of swap space in use and free");
  const double st = static_cast<double>(m.swap_total);
  w.Point(Ratio(static_cast<double>(m.swap_total - swap_free), st),
          {{"system.paging.state", "used"}});
  w.Point(Ratio(static_cast<double>(swap_free), st), {{"system.paging.state", "free"}});
}

void Load(Writer& w, const HostSnapshot& cur) {
  w.Gauge("system.cpu.load_average.1m", "{thread}", "Load average over 1 minute");
  w.Point(cur.load1, {});
  w.Gauge("system.cpu.load_average.5m", "{thread}", "Load average over 5 minutes");
  w.Point(cur.load5, {});
  w.Gauge("system.cpu.load_average.15m", "{thread}", "Load average over 15 minutes");
  w.Point(cur.load15, {});
}

// Per second between two cumulative counters; 0 when the counter went back
// (a reset) or no time passed.
double Rate(uint64_t a, uint64_t b, double seconds) {
  return b >= a && seconds > 0 ? static_cast<double>(b - a) / seconds : 0;
}

void DiskMetrics(Writer& w, const HostSnapshot* prev, const HostSnapshot& cur, double seconds) {
  if (cur.disks.empty()) return;
  // Owned copies of the device names, indexed like cur.disks.
  std::vector<std::string_view> dev;
  for (const Disk& d : cur.disks) dev.push_back(w.Own(d.device));
  w.Counter("system.disk.io", "By", "Bytes read and written per disk");
  for (const Disk& d : cur.disks) {
    w.PointInt(static_cast<int64_t>(d.read_bytes),
               {{"system.device", dev[&d - cur.disks.data()]}, {"disk.io.direction", "read"}});
    w.PointInt(static_cast<int64_t>(d.written_bytes),
               {{"system.device", dev[&d - cur.disks.data()]}, {"disk.io.direction", "write"}});
  }
  w.Counter("system.disk.operations", "{operation}", "Reads and writes completed per disk");
  for (const Disk& d : cur.disks) {
    w.PointInt(static_cast<int64_t>(d.reads),
               {{"system.device", dev[&d - cur.disks.data()]}, {"disk.io.direction", "read"}});
    w.PointInt(static_cast<int64_t>(d.writes),
               {{"system.device", dev[&d - cur.disks.data()]}, {"disk.io.direction", "write"}});
  }
  w.Counter("system.disk.operation_time", "s", "Time spent on reads and writes per disk");
  for (const Disk& d : cur.disks) {
    w.Point(d.read_time,
            {{"system.device", dev[&d - cur.disks.data()]}, {"disk.io.direction", "read"}});
    w.Point(d.write_time,
            {{"system.device", dev[&d - cur.disks.data()]}, {"disk.io.direction", "write"}});
  }
  w.Counter("system.disk.io_time", "s", "Time each disk was busy");
  for (const Disk& d : cur.disks)
    w.Point(d.io_time, {{"system.device", dev[&d - cur.disks.data()]}});
  if (prev == nullptr) return;
  w.Gauge("system.disk.io.rate", "By/s",
          "Bytes read and written per second since the last collection");
  for (const Disk& d : cur.disks) {
    auto it = std::find_if(prev->disks.begin(), prev->disks.end(),
                           [&](const Disk& p) { return p.device == d.device; });
    if (it == prev->disks.end()) continue;
    w.Point(Rate(it->read_bytes, d.read_bytes, seconds),
            {{"system.device", dev[&d - cur.disks.data()]}, {"disk.io.direction", "read"}});
    w.Point(Rate(it->written_bytes, d.written_bytes, seconds),
            {{"system.device", dev[&d - cur.disks.data()]}, {"disk.io.direction", "write"}});
  }
}

void FileSystemMetrics(Writer& w, const HostSnapshot& cur) {
  if (cur.filesystems.empty()) return;
  // Owned copies of the identifying strings, indexed like cur.filesystems.
  struct Id {
    std::string_view device, mountpoint, type;
  };
  std::vector<Id> ids;
  for (const FileSystem& f : cur.filesystems) {
    ids.push_back({w.Own(f.device), w.Own(f.mountpoint), w.Own(f.type)});
  }
  w.UpDown("system.filesystem.usage", "By", "File system space by state");
  for (const FileSystem& f : cur.filesystems) {
    const Id& id = ids[&f - cur.filesystems.data()];
    const char* mode = f.read_only ? "ro" : "rw";
    for (auto [state, v] :
         {std::pair{"used", f.used}, {"free", f.free}, {"reserved", f.reserved}}) {
      w.PointInt(static_cast<int64_t>(v), {{"system.device", id.device},
                                           {"system.filesystem.mountpoint", id.mountpoint},
                                           {"system.filesystem.type", id.type},
                                           {"system.filesystem.mode", mode},
                                           {"system.filesystem.state", state}});
    }
  }
  w.Gauge("system.filesystem.utilization", "1",
          "Share of the space available to users that is used (df's Use%)");
  for (const FileSystem& f : cur.filesystems) {
    const Id& id = ids[&f - cur.filesystems.data()];
    w.Point(Ratio(static_cast<double>(f.used), static_cast<double>(f.used + f.free)),
            {{"system.device", id.device},
             {"system.filesystem.mountpoint", id.mountpoint},
             {"system.filesystem.type", id.type},
             {"system.filesystem.mode", f.read_only ? "ro" : "rw"}});
  }
}

void Network(Writer& w, const HostSnapshot* prev, const HostSnapshot& cur, double seconds) {
  // Owned copies of the interface names, indexed like cur.interfaces.
  std::vector<std::string_view> ifname;
  for (const NetInterface& n : cur.interfaces) ifname.push_back(w.Own(n.name));
  if (!cur.interfaces.empty()) {
    struct Pair {
      const char* name;
      const char* unit;
      const char* description;
      uint64_t NetInterface::*rx;
      uint64_t NetInterface::*tx;
    };
    for (const Pair& m :
         {Pair{"system.network.io", "By", "Bytes received and sent", &NetInterface::rx_bytes,
               &NetInterface::tx_bytes},
          Pair{"system.network.packets", "{packet}", "Packets received and sent",
               &NetInterface::rx_packets, &NetInterface::tx_packets},
          Pair{"system.network.errors", "{error}", "Receive and send errors",
               &NetInterface::rx_errors, &NetInterface::tx_errors},
          Pair{"system.network.packet.dropped", "{packet}", "Packets dropped on receive and send",
               &NetInterface::rx_dropped, &NetInterface::tx_dropped}}) {
      w.Counter(m.name, m.unit, m.description);
      for (const NetInterface& n : cur.interfaces) {
        w.PointInt(static_cast<int64_t>(n.*m.rx),
                   {{"network.interface.name", ifname[&n - cur.interfaces.data()]},
                    {"network.io.direction", "receive"}});
        w.PointInt(static_cast<int64_t>(n.*m.tx),
                   {{"network.interface.name", ifname[&n - cur.interfaces.data()]},
                    {"network.io.direction", "transmit"}});
      }
    }
    if (prev != nullptr) {
      w.Gauge("system.network.io.rate", "By/s",
              "Bytes received and sent per second since the last collection");
      for (const NetInterface& n : cur.interfaces) {
        auto it = std::find_if(prev->interfaces.begin(), prev->interfaces.end(),
                               [&](const NetInterface& p) { return p.name == n.name; });
        if (it == prev->interfaces.end()) continue;
        w.Point(Rate(it->rx_bytes, n.rx_bytes, seconds),
                {{"network.interface.name", ifname[&n - cur.interfaces.data()]},
                 {"network.io.direction", "receive"}});
        w.Point(Rate(it->tx_bytes, n.tx_bytes, seconds),
                {{"network.interface.name", ifname[&n - cur.interfaces.data()]},
                 {"network.io.direction", "transmit"}});
      }
    }
  }
  w.UpDown("system.network.connection.count", "{connection}", "TCP connections by state");
  for (int st = 1; st <= 11; ++st) {
    w.PointInt(static_cast<int64_t>(cur.tcp.count[st]),
               {{"network.transport", "tcp"}, {"network.connection.state", kTcpStates[st]}});
  }
}

void ProcessMetrics(Writer& w, const HostSnapshot& cur) {
  w.UpDown("system.process.count", "{process}", "Processes on the host");
  w.PointInt(static_cast<int64_t>(cur.process_count), {});
  if (cur.processes.empty()) return;
  const double cpus = std::max<double>(1, static_cast<double>(cur.cores.size()));
  // The same identifying attributes on every process point, copied once.
  std::vector<std::array<std::string_view, 3>> ids;
  for (const Process& p : cur.processes) {
    ids.push_back({w.Own(p.name), w.Own(p.command_line), w.Own(p.user)});
  }
  auto each = [&](auto&& point) {
    for (size_t i = 0; i < cur.processes.size(); ++i) {
      const Process& p = cur.processes[i];
      point(p, std::initializer_list<Attr>{{"process.pid", static_cast<int64_t>(p.pid)},
                                           {"process.executable.name", ids[i][0]},
                                           Attr::Optional("process.command_line", ids[i][1]),
                                           Attr::Optional("process.owner", ids[i][2])});
    }
  };
  w.Gauge("process.cpu.utilization", "1",
          "CPU used since the last collection over the elapsed time and the number of CPUs");
  each([&](const Process& p, std::initializer_list<Attr> a) {
    if (p.cpu_utilization) w.Point(*p.cpu_utilization / cpus, a);
  });
  w.Counter("process.cpu.time", "s", "CPU seconds used by the process");
  each([&](const Process& p, std::initializer_list<Attr> a) { w.Point(p.cpu_time, a); });
  w.UpDown("process.memory.usage", "By", "Resident memory of the process");
  each([&](const Process& p, std::initializer_list<Attr> a) {
    w.PointInt(static_cast<int64_t>(p.rss), a);
  });
  w.UpDown("process.memory.virtual", "By", "Virtual memory of the process");
  each([&](const Process& p, std::initializer_list<Attr> a) {
    w.PointInt(static_cast<int64_t>(p.vsize), a);
  });
  w.UpDown("process.thread.count", "{thread}", "Threads of the process");
  each([&](const Process& p, std::initializer_list<Attr> a) {
    w.PointInt(static_cast<int64_t>(p.threads), a);
  });
  w.UpDown("process.unix.file_descriptor.count", "{file_descriptor}",
           "Open file descriptors of the process (when readable)");
  each([&](const Process& p, std::initializer_list<Attr> a) {
    if (p.open_files >= 0) w.PointInt(p.open_files, a);
  });
}

void ContainerMetrics(Writer& w, std::string_view host_name, std::string_view host_id,
                      const HostSnapshot* prev, const HostSnapshot& cur, double seconds) {
  const double cpus = std::max<double>(1, static_cast<double>(cur.cores.size()));
  for (const Container& c : cur.containers) {
    w.Resource({{"host.name", host_name},
                {"host.id", host_id},
                {"os.type", "linux"},
                {"container.id", w.Own(c.id)},
                {"k8s.pod.uid", w.Own(c.pod_uid)}});
    w.Counter("container.cpu.time", "s", "CPU seconds used by the container");
    w.Point(c.cpu_time, {});
    const Container* before = nullptr;
    if (prev != nullptr) {
      for (const Container& p : prev->containers) {
        if (p.id == c.id) before = &p;
      }
    }
    if (before != nullptr && seconds > 0) {
      const double usage = std::max(0.0, c.cpu_time - before->cpu_time) / seconds;
      w.Gauge("container.cpu.usage", "{cpu}", "CPUs used since the last collection");
      w.Point(usage, {});
      w.Gauge("container.cpu.utilization", "1",
              "CPU used over the container's CPU limit, or over the host's CPUs without one");
      w.Point(usage / (c.cpu_limit > 0 ? c.cpu_limit : cpus), {});
    }
    w.Counter("container.cpu.throttling_data.periods", "{period}", "CFS periods elapsed");
    w.PointInt(static_cast<int64_t>(c.periods), {});
    w.Counter("container.cpu.throttling_data.throttled_periods", "{period}",
              "CFS periods in which the container was throttled");
    w.PointInt(static_cast<int64_t>(c.throttled_periods), {});
    w.Counter("container.cpu.throttling_data.throttled_time", "s",
              "Time the container was throttled");
    w.Point(c.throttled_time, {});
    w.UpDown("container.memory.usage", "By", "Memory used by the container's cgroup");
    w.PointInt(static_cast<int64_t>(c.memory_usage), {});
    if (c.memory_limit) {
      w.UpDown("container.memory.limit", "By", "Memory limit of the container's cgroup");
      w.PointInt(static_cast<int64_t>(*c.memory_limit), {});
      w.Gauge("container.memory.utilization", "1", "Memory used over the limit");
      w.Point(Ratio(static_cast<double>(c.memory_usage), static_cast<double>(*c.memory_limit)), {});
    }
    w.Counter("container.memory.oom_kills", "{kill}", "Processes killed by the OOM killer");
    w.PointInt(static_cast<int64_t>(c.oom_kills), {});
  }
}

}  // namespace

void BuildMetrics(const HostIdentity& host, uint64_t start_unix_nano, const HostSnapshot* prev,
                  const HostSnapshot& cur, model::MetricBatch* out) {
  Writer w(out, start_unix_nano, cur.time_unix_nano);
  const std::string_view host_name = w.Own(host.name), host_id = w.Own(host.id);
  w.Resource({{"host.name", host_name}, {"host.id", host_id}, {"os.type", "linux"}});
  if (prev != nullptr && prev->time_unix_nano >= cur.time_unix_nano) prev = nullptr;
  const double seconds =
      prev != nullptr ? static_cast<double>(cur.time_unix_nano - prev->time_unix_nano) / 1e9 : 0;
  Cpu(w, prev, cur);
  Load(w, cur);
  MemoryMetrics(w, cur);
  DiskMetrics(w, prev, cur, seconds);
  FileSystemMetrics(w, cur);
  Network(w, prev, cur, seconds);
  ProcessMetrics(w, cur);
  ContainerMetrics(w, host_name, host_id, prev, cur, seconds);
  w.DropEmptyMetric();
}

}  // namespace loupe::hostagent
