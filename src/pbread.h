// A minimal protobuf wire reader, for reading our own bytes back (JSON, console) and the
// receiver's responses (partial success, google.rpc.Status). Never allocates.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

namespace otb {

struct PbField {
  uint32_t num = 0;
  uint8_t wt = 0;
  uint64_t u = 0;                 // varint, fixed32 or fixed64 value
  const uint8_t *data = nullptr;  // length-delimited payload
  size_t len = 0;
};

struct PbReader {
  const uint8_t *p, *end;
  bool bad = false;
  PbReader(const uint8_t *d, size_t n) : p(d), end(d + n) {}
  bool varint(uint64_t *v) {
    uint64_t r = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (p >= end) return false;
      uint8_t b = *p++;
      r |= uint64_t{b & 0x7Fu} << shift;
      if (!(b & 0x80)) {
        *v = r;
        return true;
      }
    }
    return false;
  }
  // Next field; false at the end or on malformed input (bad set).
  bool next(PbField *f) {
    if (p >= end) return false;
    uint64_t key;
    if (!varint(&key)) return fail();
    f->num = static_cast<uint32_t>(key >> 3);
    f->wt = static_cast<uint8_t>(key & 7);
    switch (f->wt) {
      case 0:
        return varint(&f->u) || fail();
      case 1:
        if (end - p < 8) return fail();
        std::memcpy(&f->u, p, 8);
        p += 8;
        return true;
      case 5: {
        if (end - p < 4) return fail();
        uint32_t v;
        std::memcpy(&v, p, 4);
        f->u = v;
        p += 4;
        return true;
      }
      case 2: {
        uint64_t len;
        if (!varint(&len) || len > static_cast<uint64_t>(end - p)) return fail();
        f->data = p;
        f->len = static_cast<size_t>(len);
        p += len;
        return true;
      }
      default:
        return fail();
    }
  }
  bool fail() {
    bad = true;
    return false;
  }
};

}  // namespace otb
