// libFuzzer target for Gunzip: arbitrary input must decompress within the
// limit or fail cleanly, and any input must survive a deflate/Gunzip round
// trip unchanged.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "batch_invariants.h"
#include "wire/gzip.h"

namespace {

std::string GzipCompress(const uint8_t* data, size_t size, int level) {
  z_stream zs{};
  if (deflateInit2(&zs, level, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    __builtin_trap();
  }
  std::string out(deflateBound(&zs, size), '\0');
  zs.next_in = const_cast<Bytef*>(data);
  zs.avail_in = static_cast<uInt>(size);
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  LOUPE_FUZZ_CHECK(deflate(&zs, Z_FINISH) == Z_STREAM_END);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace loupe;
  const std::string in(reinterpret_cast<const char*>(data), size);

  constexpr size_t kLimit = 1 << 20;
  std::string out;
  Status st = wire::Gunzip(in, kLimit, &out);
  LOUPE_FUZZ_CHECK(out.capacity() <= kLimit + 1);
  if (st.ok()) {
    LOUPE_FUZZ_CHECK(out.size() <= kLimit);
  } else {
    LOUPE_FUZZ_CHECK(st.code() == Status::Code::kInvalidArgument ||
                     st.code() == Status::Code::kResourceExhausted);
  }

  // A small limit from the first byte exercises the limit at every size.
  if (size > 0) {
    const size_t small = size_t{data[0]} * 37;
    std::string out2;
    st = wire::Gunzip(in, small, &out2);
    LOUPE_FUZZ_CHECK(out2.size() <= small);
    LOUPE_FUZZ_CHECK(out2.capacity() <= std::max<size_t>(small + 1, 15));
    if (!st.ok()) {
      LOUPE_FUZZ_CHECK(st.code() == Status::Code::kInvalidArgument ||
                       st.code() == Status::Code::kResourceExhausted);
    }
  }

  // Round trip of the input itself.
  std::string gz = GzipCompress(data, size, size % 10);
  std::string back;
  st = wire::Gunzip(gz, size, &back);
  LOUPE_FUZZ_CHECK(st.ok());
  LOUPE_FUZZ_CHECK(back == in);
  return 0;
}
