#include "common/process_metrics.h"

#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <utility>
#include <vector>

namespace loupe {

void RegisterProcessMetrics(MetricsRegistry* m) {
  m->AddCallback("process_resident_memory_bytes", "Resident memory size in bytes.", [] {
    long pages = 0, resident = 0;
    if (FILE* f = std::fopen("/proc/self/statm", "r")) {
      if (std::fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = 0;
      std::fclose(f);
    }
    return std::vector<std::pair<Labels, double>>{
        {{}, static_cast<double>(resident) * static_cast<double>(sysconf(_SC_PAGESIZE))}};
  });
  m->AddCounterCallback(
      "process_cpu_seconds_total", "User and system CPU time spent in seconds.", [] {
        double secs = 0;
        if (FILE* f = std::fopen("/proc/self/stat", "r")) {
          char buf[1024];
          size_t n = std::fread(buf, 1, sizeof buf - 1, f);
          buf[n] = 0;
          std::fclose(f);
          const char* p = std::strrchr(buf, ')');
          unsigned long utime = 0, stime = 0;
          // Fields after the command: state(3) ... utime(14) stime(15).
          if (p && std::sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
                               &stime) == 2) {
            secs = static_cast<double>(utime + stime) / static_cast<double>(sysconf(_SC_CLK_TCK));
          }
        }
        return std::vector<std::pair<Labels, double>>{{{}, secs}};
      });
}

}  // namespace loupe
