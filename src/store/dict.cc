#include "store/dict.h"

namespace loupe::store {

uint32_t Dict::Intern(std::string_view s) {
  auto it = index_.find(s);
  if (it != index_.end()) return it->second;
  const std::string& stored = strings_.emplace_back(s);
  auto id = static_cast<uint32_t>(views_.size());
  views_.push_back(stored);
  index_.emplace(stored, id);
  // The string's heap buffer (none within the SSO capacity), the deque slot
  // and an index node.
  bytes_ += (stored.capacity() > 15 ? stored.capacity() + 1 : 0) + sizeof(std::string) + 48;
  return id;
}

size_t InternColumns(const model::Transaction& tx, ProjectDicts& project, LocalDicts& local,
                     uint32_t (&ids)[kNumDictColumns]) {
  ids[kDictService] = project[kDictService].Intern(tx.service);
  ids[kDictInstance] = project[kDictInstance].Intern(tx.instance);
  ids[kDictEndpoint] = project[kDictEndpoint].Intern(tx.endpoint);
  ids[kDictMethod] = project[kDictMethod].Intern(tx.http_method);
  ids[kDictErrorType] = project[kDictErrorType].Intern(tx.error_type);
  const size_t before = local[0].bytes() + local[1].bytes();
  ids[kDictUser] = local[LocalSlot(kDictUser)].Intern(tx.user);
  ids[kDictClientIp] = local[LocalSlot(kDictClientIp)].Intern(tx.client_ip);
  return local[0].bytes() + local[1].bytes() - before;
}

}  // namespace loupe::store
