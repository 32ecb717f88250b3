// Encoding of a transaction's profile (its steps and the fields lists do not
// need) as one blob, used in memtables and segment profile blocks, and of a
// list of late steps. Layout: docs/format/segment.md, "Profile blob".
// Thread-safety: pure functions.
#ifndef LOUPE_STORE_PROFILE_CODEC_H_
#define LOUPE_STORE_PROFILE_CODEC_H_

#include <string>
#include <string_view>
#include <vector>

#include "model/transaction.h"

namespace loupe::store {

// Appends the profile of tx (span ids, host, url, dropped_steps, steps with
// start times relative to tx.start_us) to *out.
void EncodeProfile(const model::Transaction& tx, std::string* out);

// Fills span_id, parent_span_id, host, url, dropped_steps and steps of *tx.
// REQUIRES: tx->start_us is set. Returns false on a malformed blob.
bool DecodeProfile(std::string_view blob, model::Transaction* tx);

// Steps alone, start times relative to base_us. Decode appends to *steps.
void EncodeSteps(const std::vector<model::Step>& steps, int64_t base_us, std::string* out);
bool DecodeSteps(std::string_view blob, int64_t base_us, std::vector<model::Step>* steps);

// The span ids (non-zero) of the steps in a profile blob, appended to *ids.
bool ProfileSpanIds(std::string_view blob, std::vector<model::SpanId>* ids);

}  // namespace loupe::store

#endif  // LOUPE_STORE_PROFILE_CODEC_H_
