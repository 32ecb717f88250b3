// The raw counters one collection of the host agent reads from /proc, the
// file systems and the cgroup tree: cumulative values as the kernel keeps
// them, in SI units (seconds, bytes). MetricsBuilder (metrics_builder.h)
// turns two snapshots into OTLP metrics; rates come from their difference.
//
// Thread-safety: plain values.
#ifndef LOUPE_HOSTAGENT_HOST_SNAPSHOT_H_
#define LOUPE_HOSTAGENT_HOST_SNAPSHOT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace loupe::hostagent {

// Seconds spent in each mode (/proc/stat), cumulative since boot.
struct CpuTimes {
  double user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;

  double Total() const { return user + nice + system + idle + iowait + irq + softirq + steal; }
};

struct CpuCore {
  int logical_number = 0;  // N of the cpuN line
  CpuTimes times;
};

// /proc/meminfo, bytes. used = total - free - buffers - cached, as free(1).
struct Memory {
  uint64_t total = 0, free = 0, available = 0, buffers = 0, cached = 0;
  uint64_t swap_total = 0, swap_free = 0;
  uint64_t Used() const {
    const uint64_t unused = free + buffers + cached;
    return total > unused ? total - unused : 0;
  }
};

// /proc/diskstats for a whole disk (partitions, loop and ram devices skipped).
struct Disk {
  std::string device;
  uint64_t reads = 0, writes = 0;              // operations completed
  uint64_t read_bytes = 0, written_bytes = 0;  // sectors * 512
  double read_time = 0, write_time = 0;        // seconds spent on operations
  double io_time = 0;                          // seconds the device was busy
};

// One mounted real file system (statvfs), bytes.
struct FileSystem {
  std::string device, mountpoint, type;
  bool read_only = false;
  uint64_t used = 0, free = 0, reserved = 0;  // free: available to users
};

// /proc/net/dev for one interface (lo skipped).
struct NetInterface {
  std::string name;
  uint64_t rx_bytes = 0, tx_bytes = 0, rx_packets = 0, tx_packets = 0;
  uint64_t rx_errors = 0, tx_errors = 0, rx_dropped = 0, tx_dropped = 0;
};

// TCP connection states of /proc/net/tcp and tcp6, indexed by the kernel's
// state number (1 = ESTABLISHED ... 11 = CLOSING); index 0 is unused.
struct TcpStates {
  uint64_t count[12] = {};
};

struct Process {
  int pid = 0;
  uint64_t start_ticks = 0;  // start time after boot in clock ticks: the pid's identity
  std::string name;          // comm
  std::string command_line;  // cmdline, NULs as spaces, cut at 1 KiB
  std::string user;          // from /etc/passwd of the root, else the uid
  double cpu_time = 0;       // user + system seconds
  uint64_t rss = 0, vsize = 0;
  uint64_t threads = 0;
  int64_t open_files = -1;  // -1 when /proc/PID/fd is not readable
  // CPU used since the previous collection as a fraction of one core; unset
  // on the first collection of this process.
  std::optional<double> cpu_utilization;
};

// One container's cgroup: cgroup v2 files, or the v1 cpuacct/cpu/memory ones.
struct Container {
  std::string id;        // 64 hex digits from the cgroup path
  std::string pod_uid;   // Kubernetes pod uid (dashed), when under kubepods
  std::string cgroup;    // path under the hierarchy root, for logs
  double cpu_time = 0;   // seconds, all cores
  double cpu_limit = 0;  // cores allowed (quota / period); 0 = no limit
  uint64_t throttled_periods = 0, periods = 0;
  double throttled_time = 0;  // seconds
  uint64_t memory_usage = 0;
  std::optional<uint64_t> memory_limit;  // unset = no limit
  uint64_t oom_kills = 0;
};

struct HostSnapshot {
  uint64_t time_unix_nano = 0;
  std::vector<CpuCore> cores;  // per logical CPU
  CpuTimes cpu;                // all CPUs (the "cpu" line)
  double load1 = 0, load5 = 0, load15 = 0;
  Memory memory;
  std::vector<Disk> disks;
  std::vector<FileSystem> filesystems;
  std::vector<NetInterface> interfaces;
  TcpStates tcp;
  // The top processes by CPU and by memory (Collector::Options), by pid.
  std::vector<Process> processes;
  uint64_t process_count = 0;  // all processes seen
  int cgroup_version = 0;      // 1, 2, or 0 when no cgroup tree was found
  std::vector<Container> containers;
};

}  // namespace loupe::hostagent

#endif  // LOUPE_HOSTAGENT_HOST_SNAPSHOT_H_
