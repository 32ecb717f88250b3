// Turns host snapshots into OTLP metrics with OpenTelemetry semantic-convention
// names (docs/design/hostagent.md lists every metric, unit and attribute).
//
// Cumulative kernel counters (CPU time, disk and network bytes) are sent as
// cumulative Sums starting at the agent's start; rates and utilizations
// (system.cpu.utilization, the *.rate gauges, container.cpu.usage) come from
// the difference between the previous snapshot and this one, so the first
// collection sends no rates.
//
// Resources: one for the host (host.name, host.id, os.type) holding the
// system.* and process.* metrics (a process's identity is in its points'
// attributes: process.pid, process.executable.name, process.command_line,
// process.owner), and one per container (the host's attributes plus
// container.id and, under Kubernetes, k8s.pod.uid).
//
// Thread-safety: pure function.
#ifndef LOUPE_HOSTAGENT_METRICS_BUILDER_H_
#define LOUPE_HOSTAGENT_METRICS_BUILDER_H_

#include <cstdint>
#include <string>

#include "hostagent/host_snapshot.h"
#include "model/metric.h"

namespace loupe::hostagent {

struct HostIdentity {
  std::string name;  // host.name
  std::string id;    // host.id (/etc/machine-id); left out when empty
};

// Appends the metrics of `cur` to *out (whose existing content is kept;
// strings it adds are owned by out->arena). `prev` is the previous snapshot
// or nullptr; `start_unix_nano` the start of the cumulative sums.
void BuildMetrics(const HostIdentity& host, uint64_t start_unix_nano, const HostSnapshot* prev,
                  const HostSnapshot& cur, model::MetricBatch* out);

// The scope name of the agent's metrics.
inline constexpr const char* kScopeName = "loupe.hostagent";

}  // namespace loupe::hostagent

#endif  // LOUPE_HOSTAGENT_METRICS_BUILDER_H_
