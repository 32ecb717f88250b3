// Collector: reads one HostSnapshot from /proc, statvfs and the cgroup tree
// below a root directory ("/" on a real host, a fixture tree in tests).
//
// What it reads (docs/design/hostagent.md lists the metrics made of it):
// /proc/stat, /proc/loadavg, /proc/meminfo, /proc/diskstats (whole disks:
// partitions, loop, ram and zram devices skipped), /proc/self/mountinfo with
// statvfs of each real file system (types /proc/filesystems marks "nodev"
// are virtual and skipped; each device once; under a root other than "/",
// /proc/1/mountinfo first, the host's mounts), /proc/net/dev (lo skipped),
// /proc/net/tcp and tcp6, /proc/PID/{stat,status,cmdline,fd} with user
// names from ROOT/etc/passwd, and container cgroups under
// ROOT/sys/fs/cgroup (v2 when cgroup.controllers exists there, else the v1
// cpu/cpuacct/memory hierarchies).
//
// A file that is missing or unreadable leaves its part of the snapshot empty
// (a container host without swap, a /proc/PID that exited meanwhile): only a
// missing /proc/stat fails the collection. Process CPU rates and the choice
// of the top processes use the previous Collect() of the same Collector.
//
// Thread-safety: not thread-safe; one thread collects.
#ifndef LOUPE_HOSTAGENT_COLLECTOR_H_
#define LOUPE_HOSTAGENT_COLLECTOR_H_

#include <sys/statvfs.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "common/status.h"
#include "hostagent/host_snapshot.h"
#include "hostagent/proc_fs.h"

namespace loupe::hostagent {

class Collector {
 public:
  struct Options {
    std::string root = "/";
    // Processes reported: the top N by CPU and the top N by resident memory
    // (a process in both lists is reported once). 0 = none.
    int top_processes = 10;
    // Whether the top processes' command lines are read and sent (they may
    // hold secrets passed as arguments); false leaves them empty.
    bool command_lines = true;
    // Kernel constants; tests of fixture trees set them, 0 = this machine's.
    int64_t clock_ticks = 0;  // sysconf(_SC_CLK_TCK)
    int64_t page_size = 0;    // sysconf(_SC_PAGESIZE)
    // statvfs of a path (already under the root); tests replace it.
    std::function<int(const std::string& path, struct statvfs* st)> statvfs;
    // Most cgroup directories visited per collection (a runaway tree costs
    // at most this many directory reads).
    int max_cgroups = 4096;
  };

  explicit Collector(Options options);

  // Reads a snapshot stamped `time_unix_nano` into *out (cleared first).
  // Returns IoError if /proc/stat cannot be read (a wrong root).
  Status Collect(uint64_t time_unix_nano, HostSnapshot* out);

 private:
  struct ProcessSeen {
    uint64_t start_ticks = 0;
    double cpu_time = 0;
  };

  void ReadCpu(HostSnapshot* out, bool* ok);
  void ReadLoad(HostSnapshot* out);
  void ReadMemory(HostSnapshot* out);
  void ReadDisks(HostSnapshot* out);
  void ReadFileSystems(HostSnapshot* out);
  void ReadNet(HostSnapshot* out);
  void ReadTcp(HostSnapshot* out);
  void ReadProcesses(uint64_t time_unix_nano, HostSnapshot* out);
  bool ReadProcessStat(int pid, Process* p);
  void ReadProcessDetails(Process* p);
  void LoadUsers();
  void ReadContainers(HostSnapshot* out);
  void WalkCgroups(const std::string& dir, int depth, std::vector<std::string>* found,
                   int* visited);
  void ReadContainerV2(Container* c);
  void ReadContainerV1(const std::string& path, Container* c);

  Options options_;
  ProcFs fs_;
  double clock_ticks_;
  uint64_t page_size_;
  std::unordered_map<int, ProcessSeen> seen_;  // pid -> last collection
  uint64_t seen_time_ = 0;
  std::unordered_map<uint32_t, std::string> users_;  // uid -> name
  std::vector<std::string> names_;                   // scratch
  std::vector<std::string_view> fields_;             // scratch
};

// The container id and Kubernetes pod uid in a cgroup path (a directory
// name of it matching a container id: 64 hex digits, optionally as
// docker-, cri-containerd-, crio- or libpod-ID.scope; the pod uid from a
// "pod<uid>" directory (cgroupfs driver) or a "...-pod<uid>.slice" one
// (systemd driver, underscores read as dashes)). Empty id if none.
void ParseContainerCgroup(std::string_view path, std::string* container_id, std::string* pod_uid);

}  // namespace loupe::hostagent

#endif  // LOUPE_HOSTAGENT_COLLECTOR_H_
