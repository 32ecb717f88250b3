#include "store/instances.h"

#include <algorithm>

namespace loupe::store {

void RecordInstance(InstanceMap* instances, const InstanceInfo& info) {
  auto [it, inserted] = instances->try_emplace({info.service, info.instance}, info);
  if (inserted) return;
  InstanceInfo& cur = it->second;
  if (!info.host.empty()) cur.host = info.host;
  if (!info.kind.empty()) cur.kind = info.kind;
  if (!info.sdk.empty()) cur.sdk = info.sdk;
  if (info.first_seen_us != 0 &&
      (cur.first_seen_us == 0 || info.first_seen_us < cur.first_seen_us)) {
    cur.first_seen_us = info.first_seen_us;
  }
  cur.last_seen_us = std::max(cur.last_seen_us, info.last_seen_us);
}

}  // namespace loupe::store
