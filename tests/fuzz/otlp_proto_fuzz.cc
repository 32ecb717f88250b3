// libFuzzer target: DecodeTracesProto on arbitrary bytes, with default and
// with tiny limits; a successful decode must satisfy BatchChecker.
#include <cstddef>
#include <cstdint>
#include <string>

#include "batch_invariants.h"
#include "wire/otlp_proto.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace loupe;
  // A heap copy of exactly `size` bytes, so ASan catches any read past the end.
  const std::string body(reinterpret_cast<const char*>(data), size);
  for (const wire::DecodeLimits& limits : {wire::DecodeLimits{}, fuzz::TinyLimits()}) {
    model::SpanBatch batch;
    Status st = wire::DecodeTracesProto(body, limits, &batch);
    if (st.ok()) {
      fuzz::BatchChecker(batch, body, limits).Check();
    } else {
      LOUPE_FUZZ_CHECK(st.code() == Status::Code::kInvalidArgument);
    }
  }
  return 0;
}
