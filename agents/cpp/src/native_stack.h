// Native stack samples of another thread of this process (Linux, glibc): the
// sampling thread sends the target thread a real-time signal with tgkill, the
// target's handler walks its own stack with backtrace() into a shared slot,
// and the sampler symbolizes the addresses (dladdr + demangling) off the
// signal path. backtrace() can only walk the calling thread, hence the signal.
//
// Cost to the sampled thread: one signal delivery and one backtrace (a few
// microseconds) per sample, only for transactions past the active-stack
// threshold. The handler is installed with SA_RESTART, but some system calls
// (poll, epoll_wait, nanosleep, and reads with a timeout) return EINTR when a
// handler runs, so the feature is opt-in (AgentOptions::native_stacks).
//
// Thread-safety: thread-safe; concurrent Sample calls take turns.
#ifndef LOUPE_AGENT_NATIVE_STACK_H_
#define LOUPE_AGENT_NATIVE_STACK_H_

#include <cstdint>
#include <string>
#include <vector>

namespace loupe::internal {

class NativeStackSampler {
 public:
  // Installs the process-wide handler for `signo` (SIGRTMIN + 5 when 0) the
  // first time; false when native sampling is not available: not Linux,
  // another handler already owns the signal, or sigaction failed.
  static bool Init(int signo = 0);

  // The innermost `max_frames` frames of kernel thread `tid` of this process,
  // outermost first, as "native <function>" or "native <module>+0x<offset>";
  // empty when the thread did not answer within `timeout_ms` (it exited, or
  // signals are blocked on it). Callers are serialized (one slot per process).
  static std::vector<std::string> Sample(uint32_t tid, size_t max_frames, int timeout_ms = 20);
};

}  // namespace loupe::internal

#endif  // LOUPE_AGENT_NATIVE_STACK_H_
