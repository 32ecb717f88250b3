#include "server/store_metrics.h"

#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace loupe::server {
namespace {

using Samples = std::vector<std::pair<Labels, double>>;

// One figure of every project the registry knows that the store holds.
template <typename Fn>
Samples PerProject(const store::Store* store, const auth::Registry* registry, Fn figure) {
  std::unordered_map<model::ProjectId, std::string> names;
  for (const auth::Project& p : registry->AllProjects()) names.emplace(p.id, p.name);
  Samples out;
  for (const store::ProjectUsage& u : store->Usage().projects) {
    auto it = names.find(u.project);
    if (it == names.end()) continue;
    double v;
    if (!figure(u, &v)) continue;
    out.push_back({{{"project", it->second}}, v});
  }
  return out;
}

}  // namespace

void RegisterStoreMetrics(MetricsRegistry* metrics, const store::Store* store,
                          const store::EmbeddedStore* embedded, const auth::Registry* registry) {
  metrics->AddCallback(
      "loupe_store_disk_bytes", "Bytes on disk per project (segments and rollups).", [=] {
        return PerProject(store, registry, [](const store::ProjectUsage& u, double* v) {
          *v = static_cast<double>(u.disk_bytes());
          return true;
        });
      });
  metrics->AddCallback(
      "loupe_store_memtable_bytes", "Bytes per project appended but not yet in a segment.", [=] {
        return PerProject(store, registry, [](const store::ProjectUsage& u, double* v) {
          *v = static_cast<double>(u.memtable_bytes);
          return true;
        });
      });
  metrics->AddCallback("loupe_store_segments", "Segment files per project.", [=] {
    return PerProject(store, registry, [](const store::ProjectUsage& u, double* v) {
      *v = static_cast<double>(u.segments);
      return true;
    });
  });
  metrics->AddCallback("loupe_store_partitions", "Time partitions holding data per project.", [=] {
    return PerProject(store, registry, [](const store::ProjectUsage& u, double* v) {
      *v = static_cast<double>(u.partitions);
      return true;
    });
  });
  metrics->AddCallback("loupe_store_oldest_data_seconds",
                       "Unix time of the oldest transaction (end time) kept per project.", [=] {
                         return PerProject(store, registry,
                                           [](const store::ProjectUsage& u, double* v) {
                                             if (u.partitions == 0) return false;
                                             *v = static_cast<double>(u.oldest_us) / 1e6;
                                             return true;
                                           });
                       });
  metrics->AddCallback("loupe_store_free_disk_bytes", "Free bytes on the file system of the store.",
                       [=] {
                         return Samples{{{}, static_cast<double>(store->Usage().free_disk_bytes)}};
                       });
  metrics->AddCallback(
      "loupe_store_dictionary_entries",
      "Strings the store's dictionaries hold in memory (user and client-IP strings only for "
      "rows not yet flushed).",
      [=] {
        return Samples{{{}, static_cast<double>(store->Stats().dictionary_entries)}};
      });
  metrics->AddCallback("loupe_store_dictionary_bytes", "Approximate memory of those dictionaries.",
                       [=] {
                         return Samples{{{}, static_cast<double>(store->Stats().dictionary_bytes)}};
                       });
  if (embedded == nullptr) return;
  metrics->AddCallback("loupe_store_lifecycle",
                       "Embedded engine compaction and retention events since start, by event.",
                       [=] {
                         const store::EmbeddedStats s = embedded->embedded_stats();
                         const std::pair<const char*, uint64_t> events[] = {
                             {"compactions", s.compactions},
                             {"failed_compactions", s.failed_compactions},
                             {"segments_compacted", s.segments_compacted},
                             {"partitions_dropped", s.partitions_dropped},
                             {"segments_dropped", s.segments_dropped},
                             {"transactions_dropped", s.transactions_dropped},
                             {"expired_rejected", s.expired_rejected},
                             {"rollup_files_dropped", s.rollup_files_dropped},
                         };
                         Samples out;
                         for (const auto& [name, v] : events) {
                           out.push_back({{{"event", name}}, static_cast<double>(v)});
                         }
                         return out;
                       });
  metrics->AddCallback("loupe_store_scatter_cache_groups",
                       "Row groups the X-View's columnar scan took from the decoded-column cache "
                       "(hit) or decoded with the cache enabled (miss), since start.",
                       [=] {
                         const store::EmbeddedStats s = embedded->embedded_stats();
                         return Samples{
                             {{{"result", "hit"}}, static_cast<double>(s.scatter_cache_hits)},
                             {{{"result", "miss"}}, static_cast<double>(s.scatter_cache_misses)}};
                       });
  metrics->AddCallback("loupe_events_stored",
                       "Events written to the store's event journal since start, and those it "
                       "skipped or refused, by result (written, replay_duplicate, refused).",
                       [=] {
                         const store::EventJournalStats e = embedded->embedded_stats().events;
                         return Samples{
                             {{{"result", "written"}}, static_cast<double>(e.events)},
                             {{{"result", "replay_duplicate"}},
                              static_cast<double>(e.replay_duplicates)},
                             {{{"result", "refused"}}, static_cast<double>(e.refused)}};
                       });
  metrics->AddCallback("loupe_events_write_errors_total",
                       "Failed commits of the event journal (their events are retried).", [=] {
                         return Samples{{{}, static_cast<double>(
                                                 embedded->embedded_stats().events.write_errors)}};
                       });
  metrics->AddCallback("loupe_events_disk_bytes", "Bytes of the event journal on disk.", [=] {
    return Samples{{{}, static_cast<double>(embedded->embedded_stats().events.bytes)}};
  });
  metrics->AddCallback(
      "loupe_store_scatter_cache_bytes",
      "Memory held by the X-View's decoded-column cache (--scatter-cache-mb).", [=] {
        return Samples{{{}, static_cast<double>(embedded->embedded_stats().scatter_cache_bytes)}};
      });
}

}  // namespace loupe::server
