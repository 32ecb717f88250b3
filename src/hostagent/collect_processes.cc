// Collector: the top processes by CPU and by resident memory.
#include <algorithm>
#include <charconv>
#include <string>
#include <unordered_map>

#include "hostagent/collector.h"

namespace loupe::hostagent {

namespace {

constexpr size_t kMaxCommandLine = 1024;

bool ParsePid(std::string_view name, int* pid) {
  if (name.empty() || name[0] < '1' || name[0] > '9') return false;
  auto r = std::from_chars(name.data(), name.data() + name.size(), *pid);
  return r.ec == std::errc() && r.ptr == name.data() + name.size();
}

}  // namespace

// /proc/PID/stat: "pid (comm) state ppid ..." where comm may hold spaces and
// parentheses, so the fields are counted from the last ')'. After it: state
// is field 3 (1-based, as proc(5)), utime 14, stime 15, num_threads 20,
// starttime 22, vsize 23, rss 24 (pages).
bool Collector::ReadProcessStat(int pid, Process* p) {
  std::string_view text;
  if (!fs_.Read("/proc/" + std::to_string(pid) + "/stat", &text, 4096)) return false;
  const size_t open = text.find('(');
  const size_t close = text.rfind(')');
  if (open == std::string_view::npos || close == std::string_view::npos || close < open) {
    return false;
  }
  p->pid = pid;
  p->name = std::string(text.substr(open + 1, close - open - 1));
  SplitFields(text.substr(close + 1), &fields_);
  if (fields_.size() < 22) return false;  // fields_[0] is field 3 (state)
  uint64_t utime = 0, stime = 0, threads = 0, start = 0, vsize = 0, rss = 0;
  ParseU64(fields_[11], &utime);
  ParseU64(fields_[12], &stime);
  ParseU64(fields_[17], &threads);
  ParseU64(fields_[19], &start);
  ParseU64(fields_[20], &vsize);
  ParseU64(fields_[21], &rss);
  p->cpu_time = static_cast<double>(utime + stime) / clock_ticks_;
  p->threads = threads;
  p->start_ticks = start;
  p->vsize = vsize;
  p->rss = rss * page_size_;
  return true;
}

void Collector::LoadUsers() {
  users_.clear();
  std::string_view text, line;
  if (!fs_.Read("/etc/passwd", &text)) return;
  while (NextLine(&text, &line)) {
    // name:password:uid:...
    const size_t a = line.find(':');
    if (a == std::string_view::npos) continue;
    const size_t b = line.find(':', a + 1);
    if (b == std::string_view::npos) continue;
    const size_t c = line.find(':', b + 1);
    uint64_t uid = 0;
    if (!ParseU64(line.substr(b + 1, c == std::string_view::npos ? c : c - b - 1), &uid)) continue;
    users_.emplace(static_cast<uint32_t>(uid), std::string(line.substr(0, a)));
  }
}

void Collector::ReadProcessDetails(Process* p) {
  const std::string dir = "/proc/" + std::to_string(p->pid);
  std::string_view text, line;
  if (options_.command_lines && fs_.Read(dir + "/cmdline", &text, kMaxCommandLine)) {
    std::string cmd(text);
    while (!cmd.empty() && cmd.back() == '\0') cmd.pop_back();
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    p->command_line = std::move(cmd);
  }
  if (fs_.Read(dir + "/status", &text, 64 * 1024)) {
    while (NextLine(&text, &line)) {
      if (line.substr(0, 4) != "Uid:") continue;
      SplitFields(line, &fields_);
      uint64_t uid = 0;
      if (fields_.size() >= 2 && ParseU64(fields_[1], &uid)) {
        auto it = users_.find(static_cast<uint32_t>(uid));
        p->user = it != users_.end() ? it->second : std::to_string(uid);
      }
      break;
    }
  }
  p->open_files = fs_.CountEntries(dir + "/fd");
}

void Collector::ReadProcesses(uint64_t time_unix_nano, HostSnapshot* out) {
  if (options_.top_processes <= 0) return;
  std::vector<std::string> names;
  if (!fs_.List("/proc", &names)) return;
  std::vector<Process> all;
  all.reserve(names.size());
  for (const std::string& name : names) {
    int pid = 0;
    if (!ParsePid(name, &pid)) continue;
    Process p;
    if (ReadProcessStat(pid, &p)) all.push_back(std::move(p));
  }
  out->process_count = all.size();

  // CPU since the previous collection, for the same process (pid and start).
  const double elapsed = seen_time_ != 0 && time_unix_nano > seen_time_
                             ? static_cast<double>(time_unix_nano - seen_time_) / 1e9
                             : 0;
  std::unordered_map<int, ProcessSeen> seen;
  seen.reserve(all.size());
  for (Process& p : all) {
    seen.emplace(p.pid, ProcessSeen{p.start_ticks, p.cpu_time});
    auto it = seen_.find(p.pid);
    if (elapsed > 0 && it != seen_.end() && it->second.start_ticks == p.start_ticks) {
      p.cpu_utilization = std::max(0.0, p.cpu_time - it->second.cpu_time) / elapsed;
    }
  }
  seen_ = std::move(seen);
  seen_time_ = time_unix_nano;

  // The top N by CPU (by CPU time on a first collection) and by RSS; ties by pid.
  const size_t n = std::min(all.size(), static_cast<size_t>(options_.top_processes));
  std::vector<size_t> order(all.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  auto cpu = [&](size_t i) {
    return elapsed > 0 ? all[i].cpu_utilization.value_or(0) : all[i].cpu_time;
  };
  std::vector<bool> chosen(all.size(), false);
  std::partial_sort(order.begin(), order.begin() + n, order.end(), [&](size_t a, size_t b) {
    return cpu(a) != cpu(b) ? cpu(a) > cpu(b) : all[a].pid < all[b].pid;
  });
  for (size_t i = 0; i < n; ++i) chosen[order[i]] = true;
  std::partial_sort(order.begin(), order.begin() + n, order.end(), [&](size_t a, size_t b) {
    return all[a].rss != all[b].rss ? all[a].rss > all[b].rss : all[a].pid < all[b].pid;
  });
  for (size_t i = 0; i < n; ++i) chosen[order[i]] = true;

  LoadUsers();
  for (size_t i = 0; i < all.size(); ++i) {
    if (!chosen[i]) continue;
    ReadProcessDetails(&all[i]);
    out->processes.push_back(std::move(all[i]));
  }
  std::sort(out->processes.begin(), out->processes.end(),
            [](const Process& a, const Process& b) { return a.pid < b.pid; });
}

}  // namespace loupe::hostagent
