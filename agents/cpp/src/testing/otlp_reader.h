// A tiny protobuf reader for tests: decodes what the agent's encoder wrote
// back into plain structs, independently of the encoder's code.
#ifndef LOUPE_AGENT_TESTING_OTLP_READER_H_
#define LOUPE_AGENT_TESTING_OTLP_READER_H_

#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace loupe::testing {

struct PbField {
  uint32_t number = 0;
  uint32_t wire = 0;
  uint64_t value = 0;      // varint, fixed32, fixed64
  std::string_view bytes;  // length-delimited
};

// Splits one message into its fields; false on malformed input.
inline bool ParsePb(std::string_view msg, std::vector<PbField>* out) {
  out->clear();
  size_t i = 0;
  auto varint = [&](uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (i >= msg.size()) return false;
      const uint8_t b = static_cast<uint8_t>(msg[i++]);
      *v |= uint64_t{b & 0x7fu} << shift;
      if ((b & 0x80) == 0) return true;
    }
    return false;
  };
  while (i < msg.size()) {
    uint64_t key;
    if (!varint(&key)) return false;
    PbField f;
    f.number = static_cast<uint32_t>(key >> 3);
    f.wire = static_cast<uint32_t>(key & 7);
    switch (f.wire) {
      case 0:
        if (!varint(&f.value)) return false;
        break;
      case 1:
        if (i + 8 > msg.size()) return false;
        std::memcpy(&f.value, msg.data() + i, 8);
        i += 8;
        break;
      case 5: {
        if (i + 4 > msg.size()) return false;
        uint32_t v;
        std::memcpy(&v, msg.data() + i, 4);
        f.value = v;
        i += 4;
        break;
      }
      case 2: {
        uint64_t len;
        if (!varint(&len) || len > msg.size() - i) return false;
        f.bytes = msg.substr(i, len);
        i += len;
        break;
      }
      default:
        return false;
    }
    out->push_back(f);
  }
  return true;
}

struct DecodedValue {
  enum { kString, kBool, kInt, kDouble, kArray } type = kString;
  std::string s;
  int64_t i = 0;
  double d = 0;
  std::vector<std::string> array;  // string elements
};

struct DecodedEvent {
  std::string name;
  uint64_t time_ns = 0;
  std::map<std::string, DecodedValue> attrs;
};

struct DecodedSpan {
  std::string trace_id, span_id, parent_span_id;  // raw bytes
  std::string name;
  int kind = 0;
  uint64_t start_ns = 0, end_ns = 0;
  std::map<std::string, DecodedValue> attrs;
  std::vector<DecodedEvent> events;
  int status_code = 0;
  std::string status_message;
  uint32_t flags = 0;
};

struct DecodedRequest {
  std::map<std::string, DecodedValue> resource;
  std::string scope_name;
  std::vector<DecodedSpan> spans;
};

inline bool DecodeAny(std::string_view b, DecodedValue* v) {
  std::vector<PbField> fs;
  if (!ParsePb(b, &fs)) return false;
  for (const auto& f : fs) {
    if (f.number == 1) {
      v->type = DecodedValue::kString;
      v->s = std::string(f.bytes);
    } else if (f.number == 2) {
      v->type = DecodedValue::kBool;
      v->i = static_cast<int64_t>(f.value);
    } else if (f.number == 3) {
      v->type = DecodedValue::kInt;
      v->i = static_cast<int64_t>(f.value);
    } else if (f.number == 4) {
      v->type = DecodedValue::kDouble;
      std::memcpy(&v->d, &f.value, 8);
    } else if (f.number == 5) {
      v->type = DecodedValue::kArray;
      std::vector<PbField> items;
      if (!ParsePb(f.bytes, &items)) return false;
      for (const auto& it : items) {
        DecodedValue e;
        if (it.number != 1 || !DecodeAny(it.bytes, &e)) return false;
        v->array.push_back(e.s);
      }
    }
  }
  return true;
}

inline bool DecodeKv(std::string_view b, std::map<std::string, DecodedValue>* attrs) {
  std::vector<PbField> fs;
  if (!ParsePb(b, &fs)) return false;
  std::string key;
  DecodedValue v;
  for (const auto& f : fs) {
    if (f.number == 1) key = std::string(f.bytes);
    if (f.number == 2 && !DecodeAny(f.bytes, &v)) return false;
  }
  (*attrs)[key] = v;
  return true;
}

inline bool DecodeSpan(std::string_view b, DecodedSpan* s) {
  std::vector<PbField> fs;
  if (!ParsePb(b, &fs)) return false;
  for (const auto& f : fs) {
    switch (f.number) {
      case 1:
        s->trace_id = std::string(f.bytes);
        break;
      case 2:
        s->span_id = std::string(f.bytes);
        break;
      case 4:
        s->parent_span_id = std::string(f.bytes);
        break;
      case 5:
        s->name = std::string(f.bytes);
        break;
      case 6:
        s->kind = static_cast<int>(f.value);
        break;
      case 7:
        s->start_ns = f.value;
        break;
      case 8:
        s->end_ns = f.value;
        break;
      case 9:
        if (!DecodeKv(f.bytes, &s->attrs)) return false;
        break;
      case 11: {
        std::vector<PbField> es;
        if (!ParsePb(f.bytes, &es)) return false;
        DecodedEvent e;
        for (const auto& g : es) {
          if (g.number == 1) e.time_ns = g.value;
          if (g.number == 2) e.name = std::string(g.bytes);
          if (g.number == 3 && !DecodeKv(g.bytes, &e.attrs)) return false;
        }
        s->events.push_back(e);
        break;
      }
      case 15: {
        std::vector<PbField> st;
        if (!ParsePb(f.bytes, &st)) return false;
        for (const auto& g : st) {
          if (g.number == 2) s->status_message = std::string(g.bytes);
          if (g.number == 3) s->status_code = static_cast<int>(g.value);
        }
        break;
      }
      case 16:
        s->flags = static_cast<uint32_t>(f.value);
        break;
      default:
        break;
    }
  }
  return true;
}

// Decodes an ExportTraceServiceRequest (all resource and scope spans merged).
inline bool DecodeRequest(std::string_view body, DecodedRequest* out) {
  std::vector<PbField> top;
  if (!ParsePb(body, &top)) return false;
  for (const auto& rs : top) {
    if (rs.number != 1 || rs.wire != 2) return false;
    std::vector<PbField> rsf;
    if (!ParsePb(rs.bytes, &rsf)) return false;
    for (const auto& f : rsf) {
      if (f.number == 1) {
        std::vector<PbField> res;
        if (!ParsePb(f.bytes, &res)) return false;
        for (const auto& a : res) {
          if (a.number == 1 && !DecodeKv(a.bytes, &out->resource)) return false;
        }
      } else if (f.number == 2) {
        std::vector<PbField> ss;
        if (!ParsePb(f.bytes, &ss)) return false;
        for (const auto& g : ss) {
          if (g.number == 1) {
            std::vector<PbField> scope;
            if (!ParsePb(g.bytes, &scope)) return false;
            for (const auto& h : scope) {
              if (h.number == 1) out->scope_name = std::string(h.bytes);
            }
          } else if (g.number == 2) {
            DecodedSpan s;
            if (!DecodeSpan(g.bytes, &s)) return false;
            out->spans.push_back(std::move(s));
          }
        }
      }
    }
  }
  return true;
}

}  // namespace loupe::testing

#endif  // LOUPE_AGENT_TESTING_OTLP_READER_H_
