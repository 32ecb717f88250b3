// EventFilter spelled out for tests (designated initializers would leave the
// other members unnamed and warn).
#ifndef LOUPE_TESTING_EVENT_FILTER_H_
#define LOUPE_TESTING_EVENT_FILTER_H_

#include <cstdint>

#include "store/store.h"

namespace loupe::testing {

inline constexpr int64_t kAnyTime = INT64_MAX;

inline store::EventFilter EventFilterOf(int64_t from_us, int64_t to_us, const char* level = "",
                                        const char* type = "", const char* service = "") {
  store::EventFilter f;
  f.from_us = from_us;
  f.to_us = to_us;
  f.level = level;
  f.type = type;
  f.service = service;
  return f;
}

}  // namespace loupe::testing

#endif  // LOUPE_TESTING_EVENT_FILTER_H_
