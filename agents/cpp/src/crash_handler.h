// Crash reports (docs/format/agent-protocol.md, POST /v1/loupe/crash): a
// handler for the fatal signals writes what it can of the crash to a file,
// and the next start of the application sends the files to Loupe, which
// makes them NATIVE_CRITICAL_ERROR events.
//
// The handler runs in a dying process, so it only does async-signal-safe
// work: open/write/close of one file in a directory fixed at install time,
// the clock, backtrace() (preloaded at install, so it does not allocate) and
// backtrace_symbols_fd, then it restores the default action and re-raises
// the signal (core dumps and exit statuses stay as they were). It writes:
//
//   service <name>\n instance <name>\n pid <n>\n time_ms <n>\n signal <n>\n
//   address 0x<hex>\n [tx_id <16 hex>\n endpoint <text>\n] frames\n <one per line>
//
// to <dir>/loupe-crash-<service>-<pid>.tmp, renamed to .txt once complete
// (the transaction lines when the crashing thread was serving one). Handlers are installed only for signals
// whose action is still the default (an application with its own handler
// keeps it), on an alternate stack for the installing thread (a stack
// overflow on another thread crashes without a report).
//
// Thread-safety: Install once (Agent::Start); the rest are plain functions.
#ifndef LOUPE_AGENT_CRASH_HANDLER_H_
#define LOUPE_AGENT_CRASH_HANDLER_H_

#include <string>
#include <string_view>
#include <vector>

namespace loupe::internal {

// Installs the handlers; false when dir is not a writable directory or no
// signal was free. Later calls do nothing and return the first result.
bool InstallCrashHandler(const std::string& dir, std::string_view service,
                         std::string_view instance);

// The complete report files of `service` in dir (full paths), oldest first.
std::vector<std::string> FindCrashReports(const std::string& dir, std::string_view service);

// Deletes report files of `service` the handler began but never finished
// (.tmp older than an hour).
void RemoveStaleCrashTemps(const std::string& dir, std::string_view service);

// The JSON body of POST /v1/loupe/crash for a report file's text; false when
// the text is not a report (a file cut short before its signal line).
bool CrashReportJson(std::string_view text, std::string* json);

// "SIGSEGV" for 11, ... ; "" for a number without a name here.
const char* SignalName(int signo);

}  // namespace loupe::internal

#endif  // LOUPE_AGENT_CRASH_HANDLER_H_
