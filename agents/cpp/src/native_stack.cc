// Native stack sampling through a signal; see native_stack.h.

#include "native_stack.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string_view>

#if defined(__linux__) && (defined(__x86_64__) || defined(__aarch64__))
#define LOUPE_NATIVE_STACKS 1
#include <cxxabi.h>
#include <dlfcn.h>
#include <errno.h>
#include <execinfo.h>
#include <signal.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <mutex>
#include <thread>
#endif

namespace loupe::internal {

#ifdef LOUPE_NATIVE_STACKS
namespace {

constexpr int kSlotFrames = 128;

// The one request in flight. state: kIdle -> kRequested (sampler) -> kBusy
// (handler, by compare-exchange, so a late handler never writes into a slot
// the sampler has given up on and reused) -> kDone (handler) -> kIdle.
enum : int { kIdle, kRequested, kBusy, kDone };
struct Slot {
  std::atomic<int> state{kIdle};
  std::atomic<long> target{0};
  void* frames[kSlotFrames];
  int n = 0;
  void* pc = nullptr;
};
Slot g_slot;
std::atomic<int> g_signo{0};

void Handler(int, siginfo_t* info, void* uctx) {
  const int saved_errno = errno;
  int expected = kRequested;
  if (info != nullptr && info->si_code == SI_TKILL && info->si_pid == ::getpid() &&
      ::syscall(SYS_gettid) == g_slot.target.load(std::memory_order_relaxed) &&
      g_slot.state.compare_exchange_strong(expected, kBusy, std::memory_order_acquire)) {
    const auto* uc = static_cast<const ucontext_t*>(uctx);
#if defined(__x86_64__)
    g_slot.pc = reinterpret_cast<void*>(uc->uc_mcontext.gregs[REG_RIP]);
#else
    g_slot.pc = reinterpret_cast<void*>(uc->uc_mcontext.pc);
#endif
    // Async-signal-safe once libgcc's unwinder is loaded, which Init does.
    g_slot.n = ::backtrace(g_slot.frames, kSlotFrames);
    g_slot.state.store(kDone, std::memory_order_release);
  }
  errno = saved_errno;
}

std::string Symbolize(void* addr, bool return_address) {
  // A return address points after the call; look up the call itself.
  void* lookup = return_address ? static_cast<char*>(addr) - 1 : addr;
  Dl_info info;
  std::string out = "native ";
  if (::dladdr(lookup, &info) != 0 && info.dli_sname != nullptr) {
    int status = 0;
    char* demangled = abi::__cxa_demangle(info.dli_sname, nullptr, nullptr, &status);
    out.append(status == 0 && demangled != nullptr ? demangled : info.dli_sname);
    std::free(demangled);
    return out;
  }
  // No dynamic symbol (a static function, or a binary linked without
  // -rdynamic): module and offset, which addr2line can resolve.
  if (info.dli_fname != nullptr && info.dli_fname[0] != '\0') {
    std::string_view m = info.dli_fname;
    const size_t slash = m.rfind('/');
    if (slash != std::string_view::npos) m.remove_prefix(slash + 1);
    out.append(m);
  } else {
    out.append("?");
  }
  char off[32];
  std::snprintf(off, sizeof off, "+0x%zx",
                static_cast<size_t>(static_cast<char*>(addr) -
                                    static_cast<char*>(info.dli_fbase != nullptr ? info.dli_fbase
                                                                                 : nullptr)));
  out.append(off);
  return out;
}

}  // namespace

bool NativeStackSampler::Init(int signo) {
  static std::mutex mu;
  std::lock_guard<std::mutex> l(mu);
  if (signo == 0) signo = SIGRTMIN + 5;
  if (g_signo.load() != 0) return g_signo.load() == signo;
  struct sigaction old;
  if (::sigaction(signo, nullptr, &old) != 0) return false;
  if ((old.sa_flags & SA_SIGINFO) != 0 || old.sa_handler != SIG_DFL) return false;  // taken
  void* warm[4];
  ::backtrace(warm, 4);  // loads libgcc_s (dlopen, malloc) outside any handler
  struct sigaction sa;
  std::memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = Handler;
  sa.sa_flags = SA_SIGINFO | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (::sigaction(signo, &sa, nullptr) != 0) return false;
  g_signo.store(signo);
  return true;
}

std::vector<std::string> NativeStackSampler::Sample(uint32_t tid, size_t max_frames,
                                                    int timeout_ms) {
  std::vector<std::string> out;
  const int signo = g_signo.load();
  if (signo == 0 || max_frames == 0) return out;
  // One slot per process: the extension threads of several agents take turns.
  static std::mutex mu;
  std::lock_guard<std::mutex> l(mu);
  g_slot.target.store(static_cast<long>(tid), std::memory_order_relaxed);
  g_slot.state.store(kRequested, std::memory_order_release);
  if (::syscall(SYS_tgkill, ::getpid(), static_cast<pid_t>(tid), signo) != 0) {
    g_slot.state.store(kIdle);
    return out;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (int spins = 0; g_slot.state.load(std::memory_order_acquire) != kDone; ++spins) {
    if (std::chrono::steady_clock::now() >= deadline) {
      int expected = kRequested;
      if (g_slot.state.compare_exchange_strong(expected, kIdle)) return out;  // never answered
      // The handler is writing: it finishes without blocking.
      while (g_slot.state.load(std::memory_order_acquire) != kDone) std::this_thread::yield();
      break;
    }
    if (spins < 100) {
      std::this_thread::yield();
    } else {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
  }
  // Frames from the interrupted instruction outwards: skip the handler's own
  // frames and the signal trampoline above it.
  const int n = g_slot.n;
  int first = 0;
  while (first < n && g_slot.frames[first] != g_slot.pc) ++first;
  if (first == n) first = std::min(2, n);
  const int last = std::min(n, first + static_cast<int>(max_frames));  // exclusive
  for (int i = last - 1; i >= first; --i) {
    out.push_back(Symbolize(g_slot.frames[i], i != first));
  }
  g_slot.state.store(kIdle, std::memory_order_release);
  return out;
}

#else  // not Linux x86-64/aarch64

bool NativeStackSampler::Init(int) { return false; }
std::vector<std::string> NativeStackSampler::Sample(uint32_t, size_t, int) { return {}; }

#endif

}  // namespace loupe::internal
