// ProjectId: the number of a project, Loupe's tenant (ARCHITECTURE.md §1).
// The one definition every layer uses: auth issues ids with the project's
// keys, control keeps agent configuration per project, live and the store
// keep data per project. auth::Registry assigns the ids.
// Thread-safety: a plain value.
#ifndef LOUPE_MODEL_PROJECT_H_
#define LOUPE_MODEL_PROJECT_H_

#include <cstdint>

namespace loupe::model {

using ProjectId = uint32_t;

}  // namespace loupe::model

#endif  // LOUPE_MODEL_PROJECT_H_
