// The shared encodings of the segment format (segment_format.h).
#include "store/embedded/segment_format.h"

#include <algorithm>
#include <cstring>

#include "common/hash.h"

namespace loupe::store {
namespace {

constexpr int kBloomProbes = 6;

}  // namespace

void BloomBuild(const std::vector<model::TxId>& ids, int bits_per_key, std::string* out) {
  uint64_t bits = std::max<uint64_t>(512, static_cast<uint64_t>(ids.size()) * bits_per_key);
  uint32_t blocks = static_cast<uint32_t>((bits + 511) / 512);
  out->assign(4 + static_cast<size_t>(blocks) * 64, '\0');
  std::memcpy(out->data(), &blocks, 4);
  auto* words = reinterpret_cast<unsigned char*>(out->data() + 4);
  for (model::TxId id : ids) {
    uint64_t h = Mix64(id ^ 0x5bd1e9955bd1e995ull);
    uint64_t block = ((h >> 32) * blocks) >> 32;
    uint64_t h2 = Mix64(h);
    for (int i = 0; i < kBloomProbes; ++i) {
      uint32_t bit = (h2 >> (9 * i)) & 511;
      words[block * 64 + bit / 8] |= static_cast<unsigned char>(1u << (bit % 8));
    }
  }
}

bool BloomMayContain(std::string_view filter, model::TxId id) {
  if (filter.size() < 4) return true;
  uint32_t blocks = DecodeFixed32(filter.data());
  if (blocks == 0 || filter.size() < 4 + static_cast<size_t>(blocks) * 64) return true;
  const auto* words = reinterpret_cast<const unsigned char*>(filter.data() + 4);
  uint64_t h = Mix64(id ^ 0x5bd1e9955bd1e995ull);
  uint64_t block = ((h >> 32) * blocks) >> 32;
  uint64_t h2 = Mix64(h);
  for (int i = 0; i < kBloomProbes; ++i) {
    uint32_t bit = (h2 >> (9 * i)) & 511;
    if ((words[block * 64 + bit / 8] & (1u << (bit % 8))) == 0) return false;
  }
  return true;
}

void PutChunk(std::string* out, const Segment::Chunk& c) {
  PutVarint(out, c.offset);
  PutVarint(out, c.length);
  PutVarint(out, c.raw_length);
  PutFixed32(out, c.crc);
  out->push_back(static_cast<char>(c.codec));
}

bool GetChunk(Decoder* d, Segment::Chunk* c) {
  c->offset = d->Varint();
  c->length = d->Varint32();
  c->raw_length = d->Varint32();
  c->crc = d->Fixed32();
  uint8_t codec = d->Byte();
  if (codec > static_cast<uint8_t>(Compression::kZstd)) return false;
  c->codec = static_cast<Compression>(codec);
  return d->ok();
}

void PutSummaryDelta(std::string* out, const model::Summary& s) {
  PutVarint(out, s.sql_count);
  PutZigZag(out, s.sql_us);
  PutVarint(out, s.fetch_count);
  PutZigZag(out, s.fetch_us);
  PutVarint(out, s.external_count);
  PutZigZag(out, s.external_us);
}

void GetSummaryDelta(Decoder* d, model::Summary* s) {
  s->sql_count = d->Varint32();
  s->sql_us = d->ZigZag();
  s->fetch_count = d->Varint32();
  s->fetch_us = d->ZigZag();
  s->external_count = d->Varint32();
  s->external_us = d->ZigZag();
}

}  // namespace loupe::store
