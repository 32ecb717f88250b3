// Collector: containers from the cgroup tree (v2, or the v1 hierarchies).
#include <algorithm>
#include <string>

#include "hostagent/collector.h"

namespace loupe::hostagent {

namespace {

constexpr int kMaxCgroupDepth = 10;
constexpr std::string_view kCgroupRoot = "/sys/fs/cgroup";

bool IsHex64(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

bool StripPrefix(std::string_view* s, std::string_view prefix) {
  if (s->substr(0, prefix.size()) != prefix) return false;
  s->remove_prefix(prefix.size());
  return true;
}

bool StripSuffix(std::string_view* s, std::string_view suffix) {
  if (s->size() < suffix.size() || s->substr(s->size() - suffix.size()) != suffix) return false;
  s->remove_suffix(suffix.size());
  return true;
}

// The container id a cgroup directory name stands for, or "".
std::string_view ContainerIdOf(std::string_view name) {
  StripSuffix(&name, ".scope");
  for (std::string_view prefix : {"docker-", "cri-containerd-", "crio-", "libpod-"}) {
    if (StripPrefix(&name, prefix)) break;
  }
  return IsHex64(name) ? name : std::string_view();
}

// v1 files hold one number; "max" (v2) or a huge v1 value means no limit.
bool ReadNumber(ProcFs* fs, const std::string& path, uint64_t* v) {
  std::string_view text;
  if (!fs->Read(path, &text, 256)) return false;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.remove_suffix(1);
  return ParseU64(text, v);
}

}  // namespace

void ParseContainerCgroup(std::string_view path, std::string* container_id, std::string* pod_uid) {
  container_id->clear();
  pod_uid->clear();
  const bool kube = path.find("kubepods") != std::string_view::npos;
  while (!path.empty()) {
    const size_t slash = path.find('/');
    std::string_view part = path.substr(0, slash);
    path.remove_prefix(slash == std::string_view::npos ? path.size() : slash + 1);
    if (part.empty()) continue;
    if (std::string_view id = ContainerIdOf(part); !id.empty()) {
      *container_id = std::string(id);
      continue;
    }
    if (!kube) continue;
    std::string_view pod = part;
    const bool systemd = StripSuffix(&pod, ".slice");
    const size_t at = systemd ? pod.rfind("-pod") : (pod.substr(0, 3) == "pod" ? 0 : pod.npos);
    if (at == std::string_view::npos) continue;
    pod.remove_prefix(at + (systemd ? 4 : 3));
    std::string uid(pod);
    std::replace(uid.begin(), uid.end(), '_', '-');
    if (uid.size() == 36) *pod_uid = std::move(uid);
  }
}

void Collector::WalkCgroups(const std::string& dir, int depth, std::vector<std::string>* found,
                            int* visited) {
  if (depth > kMaxCgroupDepth || *visited >= options_.max_cgroups) return;
  ++*visited;
  std::vector<std::string> names;
  if (!fs_.List(dir, &names)) return;
  std::sort(names.begin(), names.end());
  for (const std::string& name : names) {
    const std::string child = dir + "/" + name;
    // Control files are regular files; only directories are cgroups.
    if (name.find('.') != std::string::npos && !name.ends_with(".scope") &&
        !name.ends_with(".slice")) {
      continue;
    }
    if (!fs_.IsDirectory(child)) continue;
    if (!ContainerIdOf(name).empty()) {
      found->push_back(child);
      continue;  // a container's own sub-cgroups belong to it
    }
    WalkCgroups(child, depth + 1, found, visited);
  }
}

void Collector::ReadContainerV2(Container* c) {
  const std::string dir = std::string(kCgroupRoot) + c->cgroup;
  std::string_view text, line;
  if (fs_.Read(dir + "/cpu.stat", &text, 4096)) {
    while (NextLine(&text, &line)) {
      SplitFields(line, &fields_);
      uint64_t v = 0;
      if (fields_.size() != 2 || !ParseU64(fields_[1], &v)) continue;
      if (fields_[0] == "usage_usec")
        c->cpu_time = static_cast<double>(v) / 1e6;
      else if (fields_[0] == "nr_periods")
        c->periods = v;
      else if (fields_[0] == "nr_throttled")
        c->throttled_periods = v;
      else if (fields_[0] == "throttled_usec")
        c->throttled_time = static_cast<double>(v) / 1e6;
    }
  }
  if (fs_.Read(dir + "/cpu.max", &text, 256)) {  // "max 100000" or "50000 100000"
    SplitFields(text.substr(0, text.find('\n')), &fields_);
    uint64_t quota = 0, period = 0;
    if (fields_.size() == 2 && ParseU64(fields_[0], &quota) && ParseU64(fields_[1], &period) &&
        period > 0) {
      c->cpu_limit = static_cast<double>(quota) / static_cast<double>(period);
    }
  }
  ReadNumber(&fs_, dir + "/memory.current", &c->memory_usage);
  uint64_t limit = 0;
  if (ReadNumber(&fs_, dir + "/memory.max", &limit)) c->memory_limit = limit;
  if (fs_.Read(dir + "/memory.events", &text, 4096)) {
    while (NextLine(&text, &line)) {
      SplitFields(line, &fields_);
      if (fields_.size() == 2 && fields_[0] == "oom_kill") ParseU64(fields_[1], &c->oom_kills);
    }
  }
}

void Collector::ReadContainerV1(const std::string& path, Container* c) {
  const std::string root(kCgroupRoot);
  uint64_t v = 0;
  for (const char* h : {"/cpuacct", "/cpu,cpuacct", "/cpuacct,cpu"}) {
    if (ReadNumber(&fs_, root + h + path + "/cpuacct.usage", &v)) {
      c->cpu_time = static_cast<double>(v) / 1e9;
      break;
    }
  }
  for (const char* h : {"/cpu", "/cpu,cpuacct", "/cpuacct,cpu"}) {
    const std::string dir = root + h + path;
    std::string_view text, line;
    if (!fs_.Read(dir + "/cpu.stat", &text, 4096)) continue;
    while (NextLine(&text, &line)) {
      SplitFields(line, &fields_);
      if (fields_.size() != 2 || !ParseU64(fields_[1], &v)) continue;
      if (fields_[0] == "nr_periods")
        c->periods = v;
      else if (fields_[0] == "nr_throttled")
        c->throttled_periods = v;
      else if (fields_[0] == "throttled_time")
        c->throttled_time = static_cast<double>(v) / 1e9;
    }
    uint64_t period = 0;
    if (fs_.Read(dir + "/cpu.cfs_quota_us", &text, 64)) {
      // -1 = no quota.
      while (!text.empty() && text.back() == '\n') text.remove_suffix(1);
      uint64_t quota = 0;
      if (ParseU64(text, &quota) && ReadNumber(&fs_, dir + "/cpu.cfs_period_us", &period) &&
          period > 0) {
        c->cpu_limit = static_cast<double>(quota) / static_cast<double>(period);
      }
    }
    break;
  }
  const std::string mem = root + "/memory" + path;
  ReadNumber(&fs_, mem + "/memory.usage_in_bytes", &c->memory_usage);
  // v1 reports "no limit" as the largest page-aligned 63-bit value.
  if (ReadNumber(&fs_, mem + "/memory.limit_in_bytes", &v) && v < (uint64_t{1} << 62)) {
    c->memory_limit = v;
  }
  std::string_view text, line;
  if (fs_.Read(mem + "/memory.oom_control", &text, 4096)) {
    while (NextLine(&text, &line)) {
      SplitFields(line, &fields_);
      if (fields_.size() == 2 && fields_[0] == "oom_kill") ParseU64(fields_[1], &c->oom_kills);
    }
  }
}

void Collector::ReadContainers(HostSnapshot* out) {
  const std::string root(kCgroupRoot);
  std::vector<std::string> found;
  int visited = 0;
  std::string hierarchy;
  if (fs_.Exists(root + "/cgroup.controllers")) {
    out->cgroup_version = 2;
    hierarchy = root;
  } else {
    for (const char* h : {"/memory", "/cpuacct", "/cpu,cpuacct"}) {
      if (fs_.IsDirectory(root + h)) {
        hierarchy = root + h;
        out->cgroup_version = 1;
        break;
      }
    }
  }
  if (hierarchy.empty()) return;
  WalkCgroups(hierarchy, 0, &found, &visited);
  for (const std::string& dir : found) {
    Container c;
    c.cgroup = dir.substr(hierarchy.size());
    ParseContainerCgroup(c.cgroup, &c.id, &c.pod_uid);
    if (c.id.empty()) continue;
    if (out->cgroup_version == 2) {
      ReadContainerV2(&c);
    } else {
      ReadContainerV1(c.cgroup, &c);
    }
    out->containers.push_back(std::move(c));
  }
}

}  // namespace loupe::hostagent
