// Projects, services, instances, endpoints: the cardinality caps and instance aging.

#include <algorithm>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

#include "ingest/assembler.h"
#include "ingest/assembler_internal.h"

namespace loupe::ingest {
namespace {

std::unique_ptr<InstanceEntry> NewInstanceEntry(ServiceEntry* svc, const ResourceInfo& info) {
  auto e = std::make_unique<InstanceEntry>();
  e->service = svc;
  e->instance = info.instance;
  e->host = info.host;
  e->kind = info.kind;
  e->sdk = info.sdk;
  return e;
}

}  // namespace

ProjectState* Assembler::Impl::GetProject(model::ProjectId project) {
  {
    std::shared_lock l(projects_mu_);
    auto it = projects_.find(project);
    if (it != projects_.end()) return it->second.get();
  }
  std::unique_lock l(projects_mu_);
  auto& p = projects_[project];
  if (!p) p = std::make_unique<ProjectState>();
  return p.get();
}

const InstanceEntry* Assembler::Impl::ResolveResource(ProjectState* ps, const ResourceInfo& info,
                                                      int64_t now) {
  std::lock_guard l(ps->mu);
  ServiceEntry* svc;
  auto sit = ps->services.find(std::string_view(info.service));
  if (sit != ps->services.end()) {
    svc = sit->second.get();
  } else {
    const bool room = ps->services.size() + 1 < opt_.max_services_per_project;
    if (!room) overflow_service_->Inc();
    std::string_view name = room ? std::string_view(info.service) : kOverflow;
    auto& e = ps->services[std::string(name)];
    if (!e) {
      e = std::make_unique<ServiceEntry>();
      e->name = name;
    }
    svc = e.get();
  }
  const uint64_t key = Hash64(info.instance, Hash64(svc->name));
  auto iit = ps->instances.find(key);
  if (iit != ps->instances.end()) {
    InstanceSlot& slot = iit->second;
    slot.last_seen_us = now;
    if (slot.own || ps->real_instances >= opt_.max_instances_per_project) return slot.entry;
    // Folded while the cap was full; instances aged out since: it gets its name.
    --ps->folded_instances;
    ++ps->real_instances;
    slot.own = NewInstanceEntry(svc, info);
    slot.entry = slot.own.get();
    return slot.entry;
  }
  // The cap counts real instances only: the "(overflow)" entries are not
  // instances, and instances unseen for instance_idle no longer count.
  if (ps->real_instances >= opt_.max_instances_per_project) {
    overflow_instance_->Inc();
    auto& ov = ps->overflow_entries[svc];
    if (!ov) {
      ov = std::make_unique<InstanceEntry>();
      ov->service = svc;
      ov->instance = kOverflow;
    }
    ++ps->folded_total;
    // Remember the folded identity (so it is counted once and found at
    // once next time) while there is room for as many as the cap again;
    // past that it is folded afresh at every batch.
    if (ps->folded_instances < opt_.max_instances_per_project) {
      ++ps->folded_instances;
      ps->instances.emplace(key, InstanceSlot{nullptr, ov.get(), now});
    }
    return ov.get();
  }
  ++ps->real_instances;
  auto e = NewInstanceEntry(svc, info);
  InstanceEntry* raw = e.get();
  ps->instances.emplace(key, InstanceSlot{std::move(e), raw, now});
  return raw;
}

void Assembler::Impl::AgeInstances(int64_t now) {
  std::vector<ProjectState*> projects;
  {
    std::shared_lock l(projects_mu_);
    for (auto& [id, ps] : projects_) projects.push_back(ps.get());
  }
  const int64_t cutoff = now - opt_.instance_idle_us;
  // A span record points at its instance's entry while it waits for its root
  // (at most orphan_max_wait) and while it is mapped (one Add or Tick).
  const int64_t grace = opt_.orphan_max_wait_us + opt_.late_window_us + 60'000'000;
  for (ProjectState* ps : projects) {
    std::lock_guard l(ps->mu);
    std::erase_if(ps->retired, [&](const auto& r) { return r.first < now - grace; });
    if (now - ps->last_aging_us < 60'000'000 && ps->last_aging_us <= now) continue;
    ps->last_aging_us = now;
    boost::unordered::erase_if(ps->instances, [&](auto& kv) {
      InstanceSlot& slot = kv.second;
      if (slot.last_seen_us >= cutoff) return false;
      if (slot.own) {
        --ps->real_instances;
        ps->retired.emplace_back(now, std::move(slot.own));
      } else {
        --ps->folded_instances;
      }
      return true;
    });
  }
}

std::vector<InstanceCapStats> Assembler::Impl::InstanceStats() const {
  std::vector<InstanceCapStats> out;
  std::shared_lock l(projects_mu_);
  for (const auto& [id, ps] : projects_) {
    std::lock_guard pl(ps->mu);
    out.push_back(InstanceCapStats{id, ps->real_instances, opt_.max_instances_per_project,
                                   ps->folded_instances, ps->folded_total});
  }
  std::sort(out.begin(), out.end(), [](const InstanceCapStats& a, const InstanceCapStats& b) {
    return a.project < b.project;
  });
  return out;
}

void Assembler::Impl::InternEndpoint(ServiceEntry* svc, std::string* endpoint) {
  std::lock_guard l(svc->mu);
  if (svc->endpoints.contains(std::string_view(*endpoint))) return;
  if (svc->endpoints.size() + 1 < opt_.max_endpoints_per_service) {
    svc->endpoints.emplace(*endpoint);
    return;
  }
  overflow_endpoint_->Inc();
  endpoint->assign(kOverflow);
  svc->endpoints.emplace(*endpoint);
}

}  // namespace loupe::ingest
