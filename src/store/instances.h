// The instances of one project, as both stores keep them for
// Store::PutInstance and ListInstances.
// Thread-safety: none; the stores guard it with the project lock.
#ifndef LOUPE_STORE_INSTANCES_H_
#define LOUPE_STORE_INSTANCES_H_

#include <map>
#include <string>
#include <utility>

#include "store/store.h"

namespace loupe::store {

// Instances by (service, instance).
using InstanceMap = std::map<std::pair<std::string, std::string>, InstanceInfo>;

// Records that info was seen (Store::PutInstance): a new instance is added
// as given; a known one takes info's non-empty host, kind and sdk, keeps the
// earliest non-zero first_seen_us and the latest last_seen_us.
void RecordInstance(InstanceMap* instances, const InstanceInfo& info);

}  // namespace loupe::store

#endif  // LOUPE_STORE_INSTANCES_H_
