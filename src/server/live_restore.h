// Rebuilds the live figures (live/live_state.h) of a restarted server from
// its store, so that "today" and "the last minutes" survive a restart, a
// crash or an upgrade: today's calls (count since local midnight, from the
// rollups), the per-second ring of the last window_seconds (count, errors,
// mean elapsed, from the per-second rollups) and the concurrent users (raw
// rows of the last users_window_minutes + 1 minutes).
//
// Thread-safety: run at start-up, before ingest (LiveState::Restore).
#ifndef LOUPE_SERVER_LIVE_RESTORE_H_
#define LOUPE_SERVER_LIVE_RESTORE_H_

#include <cstdint>
#include <vector>

#include "common/status.h"
#include "live/live_state.h"
#include "store/store.h"

namespace loupe::server {

// What the store says of `project` as of now_us, in LiveSeed form.
Result<live::LiveSeed> LiveSeedFromStore(const store::Store& store, model::ProjectId project,
                                         const live::LiveOptions& options, int64_t now_us);

// LiveSeedFromStore + LiveState::Restore for each project. Returns the first
// error (the other projects are still restored).
Status RestoreLive(const store::Store& store, const std::vector<model::ProjectId>& projects,
                   live::LiveState* live, int64_t now_us);

}  // namespace loupe::server

#endif  // LOUPE_SERVER_LIVE_RESTORE_H_
