// ProjectMap<P>: a store's projects by id, each created on first use and
// never removed, so a P* stays valid for the map's lifetime.
//
// Thread-safe. Find takes the map's lock shared; GetOrCreate takes it
// exclusively only to create. A store may guard state of its own that must
// change together with the map (the embedded engine's retention settings)
// with mu(); iterating (begin/end) REQUIRES mu() held, shared or exclusive.
// Lock order: mu() before any project's own lock.
#ifndef LOUPE_STORE_PROJECT_MAP_H_
#define LOUPE_STORE_PROJECT_MAP_H_

#include <memory>
#include <mutex>
#include <shared_mutex>
#include <unordered_map>
#include <vector>

#include "store/store.h"

namespace loupe::store {

template <typename P>
class ProjectMap {
 public:
  using Map = std::unordered_map<ProjectId, std::unique_ptr<P>>;

  // The project, or nullptr when it was never created.
  P* Find(ProjectId id) const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    auto it = projects_.find(id);
    return it == projects_.end() ? nullptr : it->second.get();
  }

  // The project, created by make(id) (returning std::unique_ptr<P>) when
  // absent. make runs with mu() held exclusively and must not take it.
  template <typename Make>
  P* GetOrCreate(ProjectId id, Make&& make) {
    if (P* p = Find(id)) return p;
    std::unique_lock<std::shared_mutex> lock(mu_);
    std::unique_ptr<P>& p = projects_[id];
    if (!p) p = make(id);
    return p.get();
  }

  // Every project, at the time of the call (later ones are not included).
  std::vector<P*> All() const {
    std::shared_lock<std::shared_mutex> lock(mu_);
    std::vector<P*> out;
    out.reserve(projects_.size());
    for (const auto& [id, p] : projects_) out.push_back(p.get());
    return out;
  }

  std::shared_mutex& mu() const { return mu_; }
  // REQUIRES: mu() held.
  typename Map::const_iterator begin() const { return projects_.begin(); }
  typename Map::const_iterator end() const { return projects_.end(); }
  typename Map::const_iterator find(ProjectId id) const { return projects_.find(id); }

 private:
  mutable std::shared_mutex mu_;
  Map projects_;  // GUARDED_BY(mu_)
};

}  // namespace loupe::store

#endif  // LOUPE_STORE_PROJECT_MAP_H_
