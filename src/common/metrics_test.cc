#include "common/metrics.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "common/process_metrics.h"

namespace loupe {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(MetricsRegistry, CounterCallbacksAreRenderedAsCounters) {
  MetricsRegistry m;
  m.AddCounterCallback("things_total", "Things.", [] {
    return std::vector<std::pair<Labels, double>>{{{{"kind", "a"}}, 3}};
  });
  m.AddCallback("level", "A level.", [] {
    return std::vector<std::pair<Labels, double>>{{{}, 1}};
  });
  const std::string out = m.Render();
  EXPECT_THAT(out, HasSubstr("# TYPE things_total counter\nthings_total{kind=\"a\"} 3\n"));
  EXPECT_THAT(out, HasSubstr("# TYPE level gauge\nlevel 1\n"));
}

TEST(ProcessMetrics, CpuSecondsIsACounterAndResidentMemoryAGauge) {
  MetricsRegistry m;
  RegisterProcessMetrics(&m);
  const std::string out = m.Render();
  EXPECT_THAT(out, HasSubstr("# TYPE process_cpu_seconds_total counter\n"));
  EXPECT_THAT(out, Not(HasSubstr("# TYPE process_cpu_seconds_total gauge")));
  EXPECT_THAT(out, HasSubstr("# TYPE process_resident_memory_bytes gauge\n"));
  EXPECT_THAT(out, Not(HasSubstr("process_resident_memory_bytes 0\n")));
}

}  // namespace
}  // namespace loupe
