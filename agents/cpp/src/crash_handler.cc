// The crash handler and its reports (crash_handler.h).
#include "crash_handler.h"

#include <dirent.h>
#include <execinfo.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <mutex>

#include "agent_internal.h"
#include "json.h"

namespace loupe::internal {
namespace {

constexpr int kSignals[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
constexpr int kMaxFrames = 64;

// Everything the handler needs, prepared at install (no allocation later).
char g_prefix[1024];  // "<dir>/loupe-crash-<service>-"
char g_header[2048];  // "service …\ninstance …\n"
size_t g_header_len = 0;

// A name fit for a file name: letters, digits, '-', '_', '.'; others '_'.
std::string FileSafe(std::string_view s) {
  std::string out(s.substr(0, 100));
  for (char& c : out) {
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '-' || c == '_' || c == '.')) {
      c = '_';
    }
  }
  return out;
}

// One line of text: newlines and NULs become spaces.
std::string OneLine(std::string_view s) {
  std::string out(s.substr(0, 900));
  for (char& c : out) {
    if (c == '\n' || c == '\r' || c == '\0') c = ' ';
  }
  return out;
}

// Async-signal-safe formatting into a fixed buffer.
struct Buf {
  char data[4096];
  size_t n = 0;
  void Put(const char* s, size_t len) {
    len = std::min(len, sizeof(data) - n);
    std::memcpy(data + n, s, len);
    n += len;
  }
  void Put(const char* s) { Put(s, std::strlen(s)); }
  void Dec(uint64_t v) {
    char t[24];
    int i = 0;
    do {
      t[i++] = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    while (i > 0) Put(&t[--i], 1);
  }
  void Hex(uint64_t v, int min_digits) {
    char t[16];
    int i = 0;
    do {
      t[i++] = "0123456789abcdef"[v & 15];
      v >>= 4;
    } while (v != 0 || i < min_digits);
    while (i > 0) Put(&t[--i], 1);
  }
};

void WriteAll(int fd, const char* p, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w <= 0) return;
    p += w;
    n -= static_cast<size_t>(w);
  }
}

void OnFatalSignal(int signo, siginfo_t* info, void*) {
  const int saved_errno = errno;
  // Written as .tmp and renamed to .txt when complete, so a reader (this
  // process's own sender thread, still running) never sees half a report.
  Buf path;
  path.Put(g_prefix);
  path.Dec(static_cast<uint64_t>(::getpid()));
  Buf done = path;
  path.Put(".tmp");
  done.Put(".txt");
  path.data[std::min(path.n, sizeof(path.data) - 1)] = '\0';
  done.data[std::min(done.n, sizeof(done.data) - 1)] = '\0';
  const int fd = ::open(path.data, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd >= 0) {
    Buf b;
    b.Put(g_header, g_header_len);
    b.Put("pid ");
    b.Dec(static_cast<uint64_t>(::getpid()));
    timespec ts{};
    ::clock_gettime(CLOCK_REALTIME, &ts);
    b.Put("\ntime_ms ");
    b.Dec(static_cast<uint64_t>(ts.tv_sec) * 1000 + static_cast<uint64_t>(ts.tv_nsec) / 1000000);
    b.Put("\nsignal ");
    b.Dec(static_cast<uint64_t>(signo));
    b.Put("\naddress 0x");
    b.Hex(reinterpret_cast<uintptr_t>(info != nullptr ? info->si_addr : nullptr), 1);
    b.Put("\n");
    uint64_t span = 0;
    std::string_view endpoint;
    if (CurrentTransactionForCrash(&span, &endpoint)) {
      b.Put("tx_id ");
      b.Hex(span, 16);
      b.Put("\nendpoint ");
      for (char c : endpoint.substr(0, 512)) b.Put(c == '\n' || c == '\r' ? " " : &c, 1);
      b.Put("\n");
    }
    b.Put("frames\n");
    WriteAll(fd, b.data, b.n);
    void* frames[kMaxFrames];
    const int n = ::backtrace(frames, kMaxFrames);
    // Frame 0 is this handler and 1 the signal trampoline: the crash is below.
    if (n > 2) ::backtrace_symbols_fd(frames + 2, n - 2, fd);
    ::close(fd);
    ::rename(path.data, done.data);
  }
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigemptyset(&dfl.sa_mask);
  ::sigaction(signo, &dfl, nullptr);
  errno = saved_errno;
  ::raise(signo);
}

}  // namespace

const char* SignalName(int signo) {
  switch (signo) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    default: return "";
  }
}

bool InstallCrashHandler(const std::string& dir, std::string_view service,
                         std::string_view instance) {
  static std::once_flag once;
  static bool installed = false;
  std::call_once(once, [&] {
    struct stat st {};
    if (dir.empty() || ::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode) ||
        ::access(dir.c_str(), W_OK) != 0) {
      return;
    }
    const std::string prefix = dir + "/loupe-crash-" + FileSafe(service) + "-";
    const std::string header =
        "service " + OneLine(service) + "\ninstance " + OneLine(instance) + "\n";
    if (prefix.size() >= sizeof(g_prefix) || header.size() >= sizeof(g_header)) return;
    std::memcpy(g_prefix, prefix.c_str(), prefix.size() + 1);
    std::memcpy(g_header, header.data(), header.size());
    g_header_len = header.size();
    // backtrace() loads libgcc's unwinder on first use, which allocates:
    // do that now, not in the handler.
    void* warm[2];
    ::backtrace(warm, 2);
    // An alternate stack, so a stack overflow of this thread is reported.
    static char* alt = static_cast<char*>(std::malloc(64 * 1024));
    if (alt != nullptr) {
      stack_t ss{};
      ss.ss_sp = alt;
      ss.ss_size = 64 * 1024;
      ::sigaltstack(&ss, nullptr);
    }
    for (int signo : kSignals) {
      struct sigaction old {};
      if (::sigaction(signo, nullptr, &old) != 0) continue;
      if ((old.sa_flags & SA_SIGINFO) != 0 || old.sa_handler != SIG_DFL) continue;  // the app's own
      struct sigaction sa {};
      sa.sa_sigaction = OnFatalSignal;
      sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
      sigemptyset(&sa.sa_mask);
      if (::sigaction(signo, &sa, nullptr) == 0) installed = true;
    }
  });
  return installed;
}

void RemoveStaleCrashTemps(const std::string& dir, std::string_view service) {
  // A .tmp the handler never renamed: the process died inside it. After an
  // hour nothing will complete it.
  const std::string prefix = "loupe-crash-" + FileSafe(service) + "-";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  const time_t now = ::time(nullptr);
  while (dirent* e = ::readdir(d)) {
    std::string_view name(e->d_name);
    if (name.substr(0, prefix.size()) != prefix || name.size() < 4 ||
        name.substr(name.size() - 4) != ".tmp") {
      continue;
    }
    const std::string path = dir + "/" + std::string(name);
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0 && now - st.st_mtime > 3600) ::unlink(path.c_str());
  }
  ::closedir(d);
}

std::vector<std::string> FindCrashReports(const std::string& dir, std::string_view service) {
  std::vector<std::pair<long long, std::string>> found;
  const std::string prefix = "loupe-crash-" + FileSafe(service) + "-";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return {};
  while (dirent* e = ::readdir(d)) {
    std::string_view name(e->d_name);
    if (name.substr(0, prefix.size()) != prefix || name.size() < 4 ||
        name.substr(name.size() - 4) != ".txt") {
      continue;
    }
    // Only digits between the prefix and ".txt": another service whose name
    // extends this one ("shop" and "shop-admin") is not ours.
    std::string_view pid = name.substr(prefix.size(), name.size() - prefix.size() - 4);
    if (pid.empty() || pid.find_first_not_of("0123456789") != std::string_view::npos) continue;
    const std::string path = dir + "/" + std::string(name);
    struct stat st {};
    if (::stat(path.c_str(), &st) == 0) found.emplace_back(st.st_mtime, path);
  }
  ::closedir(d);
  std::sort(found.begin(), found.end());
  std::vector<std::string> out;
  for (auto& f : found) out.push_back(std::move(f.second));
  return out;
}

bool CrashReportJson(std::string_view text, std::string* json) {
  std::string service, instance, address, tx_id, endpoint;
  long long pid = 0, time_ms = 0, signo = 0;
  std::vector<std::string_view> frames;
  bool in_frames = false;
  while (!text.empty()) {
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (in_frames) {
      if (!line.empty()) frames.push_back(line);
      continue;
    }
    const size_t sp = line.find(' ');
    std::string_view key = line.substr(0, sp);
    std::string_view value = sp == std::string_view::npos ? "" : line.substr(sp + 1);
    if (key == "frames") {
      in_frames = true;
    } else if (key == "service") {
      service = value;
    } else if (key == "instance") {
      instance = value;
    } else if (key == "pid") {
      pid = std::atoll(std::string(value).c_str());
    } else if (key == "time_ms") {
      time_ms = std::atoll(std::string(value).c_str());
    } else if (key == "signal") {
      signo = std::atoll(std::string(value).c_str());
    } else if (key == "address") {
      address = value;
    } else if (key == "tx_id") {
      tx_id = value;
    } else if (key == "endpoint") {
      endpoint = value;
    }
  }
  if (service.empty() || instance.empty() || signo <= 0 || time_ms <= 0) return false;
  if (frames.size() > 128) frames.resize(128);
  json->clear();
  *json += "{\"service\":";
  AppendJsonString(json, service);
  *json += ",\"instance\":";
  AppendJsonString(json, instance);
  *json += ",\"pid\":" + std::to_string(pid) + ",\"time_ms\":" + std::to_string(time_ms);
  *json += ",\"signal_number\":" + std::to_string(signo) + ",\"signal\":";
  AppendJsonString(json, SignalName(static_cast<int>(signo)));
  *json += ",\"address\":";
  AppendJsonString(json, address);
  if (tx_id.size() == 16) {
    *json += ",\"tx_id\":";
    AppendJsonString(json, tx_id);
    *json += ",\"endpoint\":";
    AppendJsonString(json, endpoint);
  }
  *json += ",\"frames\":[";
  for (size_t i = 0; i < frames.size(); ++i) {
    if (i > 0) *json += ',';
    AppendJsonString(json, frames[i], 1024);
  }
  *json += "]}";
  return true;
}

}  // namespace loupe::internal
