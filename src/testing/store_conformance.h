// Store conformance suite: the behaviour every store::Store implementation
// must show (store/store.h), as a value-parameterized GoogleTest suite.
//
// Use it from the implementation's test file:
//
//   #include "testing/store_conformance.h"
//
//   LOUPE_INSTANTIATE_STORE_CONFORMANCE(
//       MemStore, (::loupe::testing::StoreConformanceParam{
//                     .name = "mem",
//                     .open = [](const std::string&) { return loupe::store::NewMemStore(); },
//                 }));
//
// A durable store passes a factory that opens (or reopens) the store in `dir`
// and sets `durable = true`; the suite then also closes the store, reopens it
// with the same directory (through `reopen` if given, else `open`) and checks
// that everything acknowledged is still there. Each test gets a fresh empty
// temporary directory, removed afterwards.
//
// The macro instantiates the suite and references a symbol of
// store_conformance.cc (which references store_conformance_late.cc and
// store_conformance_rollup.cc in turn) so that the linker keeps the tests of
// this static library. Tests are named <Prefix>/StoreConformanceTest.<Test>/<param.name>.
//
// Semantics pinned here beyond store.h: min/max elapsed bounds are inclusive;
// GetTrace of an unknown trace returns an empty vector (not an error);
// ListInstances is ordered by (service, instance); PutInstance keeps the
// earliest non-zero first_seen, the latest last_seen and the newest non-empty
// host/kind/sdk; a late step with span id 0 is never a duplicate.
#ifndef LOUPE_TESTING_STORE_CONFORMANCE_H_
#define LOUPE_TESTING_STORE_CONFORMANCE_H_

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <set>
#include <string>
#include <tuple>

#include "store/store.h"

namespace loupe::testing {

// Opens a store over `dir` (an existing, possibly non-empty directory).
// Returns nullptr on failure (the test then fails).
using StoreFactory = std::function<std::unique_ptr<store::Store>(const std::string& dir)>;

struct StoreConformanceParam {
  std::string name;               // test name suffix: [A-Za-z0-9_]
  StoreFactory open = nullptr;    // required
  bool durable = false;           // run the close/reopen tests
  StoreFactory reopen = nullptr;  // optional; defaults to `open`
};

inline void PrintTo(const StoreConformanceParam& p, std::ostream* os) { *os << p.name; }

// Fixture. store() is a fresh store over dir(); Reopen() closes it and opens
// the same directory again (REQUIRES: GetParam().durable).
class StoreConformanceTest : public ::testing::TestWithParam<StoreConformanceParam> {
 protected:
  void SetUp() override;
  void TearDown() override;

  store::Store& store() { return *store_; }
  const std::string& dir() const { return dir_; }
  void Reopen();

 private:
  std::string dir_;
  std::unique_ptr<store::Store> store_;
};

// Every point Store::ScanScatter hands over for `filter`, as (end, elapsed,
// error); a failed scan or columns of unequal lengths fail the test.
using ScatterPoints = std::multiset<std::tuple<int64_t, int64_t, bool>>;
ScatterPoints ScanScatterPoints(const store::Store& s, model::ProjectId project,
                                const store::TxFilter& filter);

// Name generator for INSTANTIATE_TEST_SUITE_P (returns param.name).
std::string StoreConformanceName(const ::testing::TestParamInfo<StoreConformanceParam>& info);

}  // namespace loupe::testing

// Instantiates the suite for one or more StoreConformanceParam values.
// Use at namespace scope; it brings StoreConformanceTest into that scope
// (GoogleTest pastes the unqualified suite name into identifiers).
#define LOUPE_INSTANTIATE_STORE_CONFORMANCE(prefix, ...)                                 \
  using ::loupe::testing::StoreConformanceTest;                                          \
  INSTANTIATE_TEST_SUITE_P(prefix, StoreConformanceTest, ::testing::Values(__VA_ARGS__), \
                           ::loupe::testing::StoreConformanceName)

#endif  // LOUPE_TESTING_STORE_CONFORMANCE_H_
