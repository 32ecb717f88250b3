#include "store/filter.h"

namespace loupe::store {

bool CompiledFilter::Compile(const ProjectDicts& project, const TxFilter& f) {
  from = f.from_us;
  to = f.to_us;
  min_el = f.min_elapsed_us <= 0 ? std::numeric_limits<int64_t>::min() : f.min_elapsed_us;
  max_el = f.max_elapsed_us;
  errors_only = f.errors_only;
  nstr = 0;
  const std::pair<int, const std::string*> strs[kMaxStringTests] = {{kDictService, &f.service},
                                                                    {kDictInstance, &f.instance},
                                                                    {kDictEndpoint, &f.endpoint},
                                                                    {kDictUser, &f.user},
                                                                    {kDictClientIp, &f.client_ip}};
  for (const auto& [c, s] : strs) {
    if (s->empty()) continue;
    column[nstr] = c;
    value[nstr] = *s;
    project_id[nstr] = 0;
    if (!IsHighCardinality(c)) {
      const int64_t id = project[c].Find(*s);
      if (id < 0) return false;
      project_id[nstr] = static_cast<uint32_t>(id);
    }
    want[nstr] = project_id[nstr];
    ++nstr;
  }
  rest = nstr > 0 || errors_only || min_el != std::numeric_limits<int64_t>::min() ||
         max_el != std::numeric_limits<int64_t>::max();
  return from < to && min_el <= max_el;
}

bool CompileRollupFilter(const ProjectDicts& project, const RollupFilter& f, int columns,
                         RollupIdFilter* out) {
  out->from_us = f.from_us;
  out->to_us = f.to_us;
  const std::string* strs[3] = {&f.service, &f.instance, &f.endpoint};
  int64_t* want[3] = {&out->service, &out->instance, &out->endpoint};
  for (int c = 0; c < columns && c < 3; ++c) {
    *want[c] = -1;
    if (strs[c]->empty()) continue;
    *want[c] = project[kRollupDictColumn[c]].Find(*strs[c]);
    if (*want[c] < 0) return false;
  }
  return true;
}

RollupNamer RollupNamerOf(const ProjectDicts& project) {
  return [&project](int col, uint32_t id) { return project[kRollupDictColumn[col]].Get(id); };
}

}  // namespace loupe::store
