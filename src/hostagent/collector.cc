#include "hostagent/collector.h"

#include <unistd.h>

#include <algorithm>
#include <utility>

namespace loupe::hostagent {

Collector::Collector(Options options)
    : options_(std::move(options)),
      fs_(options_.root),
      clock_ticks_(static_cast<double>(options_.clock_ticks > 0 ? options_.clock_ticks
                                                                : ::sysconf(_SC_CLK_TCK))),
      page_size_(static_cast<uint64_t>(options_.page_size > 0 ? options_.page_size
                                                              : ::sysconf(_SC_PAGESIZE))) {
  if (clock_ticks_ <= 0) clock_ticks_ = 100;
  if (!options_.statvfs) {
    options_.statvfs = [](const std::string& path, struct statvfs* st) {
      return ::statvfs(path.c_str(), st);
    };
  }
}

Status Collector::Collect(uint64_t time_unix_nano, HostSnapshot* out) {
  *out = HostSnapshot{};
  out->time_unix_nano = time_unix_nano;
  bool cpu_ok = false;
  ReadCpu(out, &cpu_ok);
  if (!cpu_ok) return Status::IoError("cannot read " + fs_.Path("/proc/stat"));
  ReadLoad(out);
  ReadMemory(out);
  ReadDisks(out);
  ReadFileSystems(out);
  ReadNet(out);
  ReadTcp(out);
  ReadProcesses(time_unix_nano, out);
  ReadContainers(out);
  return Status::OK();
}

namespace {

// "cpu" or "cpuN" line fields after the name, in USER_HZ ticks.
CpuTimes ParseCpuTimes(const std::vector<std::string_view>& f, double ticks) {
  double v[8] = {};
  for (size_t i = 1; i < f.size() && i <= 8; ++i) {
    uint64_t x = 0;
    if (ParseU64(f[i], &x)) v[i - 1] = static_cast<double>(x) / ticks;
  }
  return CpuTimes{v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
}

// Whole disks only: partitions share the stats of their disk, loop and ram
// devices are not storage. Linux names partitions sdXN, vdXN, xvdXN, hdXN,
// nvmeNnNpN, mmcblkNpN.
bool IsWholeDisk(std::string_view name) {
  auto starts = [&](std::string_view p) { return name.substr(0, p.size()) == p; };
  if (starts("loop") || starts("ram") || starts("zram") || starts("fd") || starts("sr")) {
    return false;
  }
  const bool ends_digit = !name.empty() && name.back() >= '0' && name.back() <= '9';
  if (starts("nvme") || starts("mmcblk")) {
    const size_t p = name.rfind('p');
    return !(p != std::string_view::npos && p > 4 && ends_digit && name[p - 1] >= '0' &&
             name[p - 1] <= '9');
  }
  if (starts("sd") || starts("vd") || starts("xvd") || starts("hd")) return !ends_digit;
  return true;  // dm-N, md-N and others are whole devices
}

// Mount points in mountinfo escape space, tab, newline and backslash as \ooo.
std::string UnescapeMount(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '7') {
      out.push_back(
          static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0')));
      i += 3;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace

void Collector::ReadCpu(HostSnapshot* out, bool* ok) {
  std::string_view text, line;
  if (!fs_.Read("/proc/stat", &text)) return;
  *ok = true;
  while (NextLine(&text, &line)) {
    if (line.substr(0, 3) != "cpu") break;  // the cpu lines come first
    SplitFields(line, &fields_);
    if (fields_.empty()) continue;
    if (fields_[0] == "cpu") {
      out->cpu = ParseCpuTimes(fields_, clock_ticks_);
      continue;
    }
    uint64_t n = 0;
    if (!ParseU64(fields_[0].substr(3), &n)) continue;
    out->cores.push_back({static_cast<int>(n), ParseCpuTimes(fields_, clock_ticks_)});
  }
}

void Collector::ReadLoad(HostSnapshot* out) {
  std::string_view text;
  if (!fs_.Read("/proc/loadavg", &text)) return;
  SplitFields(text, &fields_);
  if (fields_.size() < 3) return;
  ParseDouble(fields_[0], &out->load1);
  ParseDouble(fields_[1], &out->load5);
  ParseDouble(fields_[2], &out->load15);
}

void Collector::ReadMemory(HostSnapshot* out) {
  std::string_view text, line;
  if (!fs_.Read("/proc/meminfo", &text)) return;
  uint64_t sreclaimable = 0;
  while (NextLine(&text, &line)) {
    SplitFields(line, &fields_);
    if (fields_.size() < 2) continue;
    uint64_t kb = 0;
    if (!ParseU64(fields_[1], &kb)) continue;
    const uint64_t bytes = kb * 1024;
    const std::string_view key = fields_[0];
    if (key == "MemTotal:")
      out->memory.total = bytes;
    else if (key == "MemFree:")
      out->memory.free = bytes;
    else if (key == "MemAvailable:")
      out->memory.available = bytes;
    else if (key == "Buffers:")
      out->memory.buffers = bytes;
    else if (key == "Cached:")
      out->memory.cached = bytes;
    else if (key == "SReclaimable:")
      sreclaimable = bytes;
    else if (key == "SwapTotal:")
      out->memory.swap_total = bytes;
    else if (key == "SwapFree:")
      out->memory.swap_free = bytes;
  }
  // free(1) counts reclaimable slab as cache.
  out->memory.cached += sreclaimable;
}

void Collector::ReadDisks(HostSnapshot* out) {
  std::string_view text, line;
  if (!fs_.Read("/proc/diskstats", &text)) return;
  while (NextLine(&text, &line)) {
    SplitFields(line, &fields_);
    // major minor name reads merged sectors ms writes merged sectors ms inflight io_ms ...
    if (fields_.size() < 13 || !IsWholeDisk(fields_[2])) continue;
    uint64_t v[11] = {};
    for (int i = 0; i < 10; ++i) ParseU64(fields_[3 + i], &v[i]);
    Disk d;
    d.device = std::string(fields_[2]);
    d.reads = v[0];
    d.read_bytes = v[2] * 512;
    d.read_time = static_cast<double>(v[3]) / 1000;
    d.writes = v[4];
    d.written_bytes = v[6] * 512;
    d.write_time = static_cast<double>(v[7]) / 1000;
    d.io_time = static_cast<double>(v[9]) / 1000;
    out->disks.push_back(std::move(d));
  }
}

void Collector::ReadFileSystems(HostSnapshot* out) {
  // Virtual file system types ("nodev" in /proc/filesystems).
  std::vector<std::string> nodev;
  std::string_view text, line;
  if (fs_.Read("/proc/filesystems", &text)) {
    while (NextLine(&text, &line)) {
      SplitFields(line, &fields_);
      if (fields_.size() == 2 && fields_[0] == "nodev") nodev.emplace_back(fields_[1]);
    }
  }
  // Under another root (the host's / mounted into the agent's container),
  // /proc/self is the agent's own mount namespace; pid 1's is the host's.
  const bool other_root = options_.root != "/" && !options_.root.empty();
  if (!(other_root && fs_.Read("/proc/1/mountinfo", &text)) &&
      !fs_.Read("/proc/self/mountinfo", &text)) {
    return;
  }
  struct Mount {
    std::string device_id, source, mountpoint, type;
    bool read_only;
  };
  std::vector<Mount> mounts;
  while (NextLine(&text, &line)) {
    SplitFields(line, &fields_);
    // id parent major:minor root mountpoint options [optional...] - type source super
    auto dash = std::find(fields_.begin(), fields_.end(), std::string_view("-"));
    if (fields_.size() < 7 || dash == fields_.end() || fields_.end() - dash < 3) continue;
    const std::string_view type = dash[1];
    if (std::find(nodev.begin(), nodev.end(), type) != nodev.end()) continue;
    const std::string_view options = fields_[5];
    mounts.push_back({std::string(fields_[2]), UnescapeMount(dash[2]), UnescapeMount(fields_[4]),
                      std::string(type), options == "ro" || options.substr(0, 3) == "ro,"});
  }
  std::vector<std::string> devices_done;
  for (const Mount& m : mounts) {
    // A device mounted twice (bind mounts) is counted once, at its first mount.
    if (std::find(devices_done.begin(), devices_done.end(), m.device_id) != devices_done.end()) {
      continue;
    }
    struct statvfs st;
    if (options_.statvfs(fs_.Path(m.mountpoint), &st) != 0 || st.f_blocks == 0) continue;
    devices_done.push_back(m.device_id);
    const uint64_t unit = st.f_frsize != 0 ? st.f_frsize : st.f_bsize;
    FileSystem f;
    f.device = m.source;
    f.mountpoint = m.mountpoint;
    f.type = m.type;
    f.read_only = m.read_only;
    f.used = (st.f_blocks - std::min(st.f_bfree, st.f_blocks)) * unit;
    f.free = std::min(st.f_bavail, st.f_bfree) * unit;
    f.reserved = (st.f_bfree - std::min(st.f_bavail, st.f_bfree)) * unit;
    out->filesystems.push_back(std::move(f));
  }
}

void Collector::ReadNet(HostSnapshot* out) {
  std::string_view text, line;
  if (!fs_.Read("/proc/net/dev", &text)) return;
  while (NextLine(&text, &line)) {
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;  // the two header lines
    std::string_view name = line.substr(0, colon);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    if (name == "lo") continue;
    SplitFields(line.substr(colon + 1), &fields_);
    if (fields_.size() < 16) continue;
    uint64_t v[16] = {};
    for (int i = 0; i < 16; ++i) ParseU64(fields_[i], &v[i]);
    NetInterface n;
    n.name = std::string(name);
    n.rx_bytes = v[0];
    n.rx_packets = v[1];
    n.rx_errors = v[2];
    n.rx_dropped = v[3];
    n.tx_bytes = v[8];
    n.tx_packets = v[9];
    n.tx_errors = v[10];
    n.tx_dropped = v[11];
    out->interfaces.push_back(std::move(n));
  }
}

void Collector::ReadTcp(HostSnapshot* out) {
  for (const char* path : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    bool header = true;
    fs_.ForEachLine(path, [&](std::string_view line) {
      if (header) {  // "  sl  local_address rem_address   st ..."
        header = false;
        return;
      }
      // The state is the 4th field, two hex digits.
      SplitFields(line, &fields_);
      if (fields_.size() < 4 || fields_[3].size() != 2) return;
      auto hex = [](char c) { return c >= 'A' ? (c | 0x20) - 'a' + 10 : c - '0'; };
      const int st = hex(fields_[3][0]) * 16 + hex(fields_[3][1]);
      if (st >= 1 && st <= 11) ++out->tcp.count[st];
    });
  }
}

}  // namespace loupe::hostagent
