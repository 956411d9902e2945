// OTLP protobuf wire encoding, written straight from the caller's values into a Buf: no message
// objects, no intermediate copies. Field numbers are from opentelemetry-proto v1.x.
#pragma once

#include <cstdint>

#include "common.h"
#include "utf8.h"

namespace otb {

// ---- protobuf wire primitives ----
enum WireType : uint8_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

inline size_t varint_size(uint64_t v) {
  if (OTB_LIKELY(v < 0x80)) return 1;
  // 7 payload bits per byte: ceil(significant bits / 7).
  size_t bits = 64 - static_cast<size_t>(__builtin_clzll(v));
  return (bits * 9 + 64) / 64;
}
inline size_t tag_size(uint32_t field) {
  return OTB_LIKELY(field < 16) ? 1 : varint_size(uint64_t{field} << 3);
}
// The bytes of a length-delimited field whose payload is n bytes.
inline size_t len_field_size(uint32_t field, size_t n) {
  return tag_size(field) + varint_size(n) + n;
}

// Unchecked writers: each stores at p, which the caller made room at (Buf::reserve_tail), and
// returns the end of what it wrote.
namespace raw {
inline uint8_t *varint(uint8_t *p, uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<uint8_t>(v);
  return p;
}
inline uint8_t *tag(uint8_t *p, uint32_t field, WireType wt) {
  if (OTB_LIKELY(field < 16)) {
    *p = static_cast<uint8_t>((field << 3) | wt);
    return p + 1;
  }
  return varint(p, (uint64_t{field} << 3) | wt);
}
inline uint8_t *fixed64(uint8_t *p, uint64_t v) {
  std::memcpy(p, &v, 8);  // little-endian host (x86-64, aarch64)
  return p + 8;
}
inline uint8_t *fixed32(uint8_t *p, uint32_t v) {
  std::memcpy(p, &v, 4);
  return p + 4;
}
// Copies n bytes (src may be NULL when n is 0). Up to 32 bytes inline, with overlapping moves.
inline uint8_t *bytes(uint8_t *p, const void *src, size_t n) {
  const uint8_t *s = static_cast<const uint8_t *>(src);
  if (n > 32) {
    std::memcpy(p, s, n);
  } else if (n >= 8) {
    uint64_t w[4];
    std::memcpy(&w[0], s, 8);
    std::memcpy(&w[1], s + n - 8, 8);
    if (n > 16) {
      std::memcpy(&w[2], s + 8, 8);
      std::memcpy(&w[3], s + n - 16, 8);
      std::memcpy(p + 8, &w[2], 8);
      std::memcpy(p + n - 16, &w[3], 8);
    }
    std::memcpy(p, &w[0], 8);
    std::memcpy(p + n - 8, &w[1], 8);
  } else if (n >= 4) {
    uint32_t a, b;
    std::memcpy(&a, s, 4);
    std::memcpy(&b, s + n - 4, 4);
    std::memcpy(p, &a, 4);
    std::memcpy(p + n - 4, &b, 4);
  } else if (n > 0) {
    uint8_t a = s[0], b = s[n / 2], c = s[n - 1];
    p[0] = a;
    p[n / 2] = b;
    p[n - 1] = c;
  }
  return p + n;
}
// A string payload as utf8_scan measured it: the bytes as they are, or repaired.
inline uint8_t *utf8(uint8_t *p, const char *s, const Utf8Scan &sc) {
  if (OTB_LIKELY(sc.valid)) return bytes(p, s, sc.in_len);
  return p + utf8_repair(s, sc.in_len, reinterpret_cast<char *>(p));
}
}  // namespace raw

// Checked writers: each makes room once, then writes. Past the limit they write nothing and the
// buffer's overflow() is set.
inline void put_varint(Buf &b, uint64_t v) {
  if (uint8_t *p = b.reserve_tail(varint_size(v))) b.commit(raw::varint(p, v));
}
inline void put_tag(Buf &b, uint32_t field, WireType wt) {
  if (OTB_LIKELY(field < 16)) {
    b.put(static_cast<uint8_t>((field << 3) | wt));
  } else {
    put_varint(b, (uint64_t{field} << 3) | wt);
  }
}
inline void put_fixed64(Buf &b, uint32_t field, uint64_t v) {
  if (uint8_t *p = b.reserve_tail(tag_size(field) + 8))
    b.commit(raw::fixed64(raw::tag(p, field, kFixed64), v));
}
inline void put_fixed32(Buf &b, uint32_t field, uint32_t v) {
  if (uint8_t *p = b.reserve_tail(tag_size(field) + 4))
    b.commit(raw::fixed32(raw::tag(p, field, kFixed32), v));
}
inline void put_double(Buf &b, uint32_t field, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  put_fixed64(b, field, bits);
}
// A length-delimited field with raw bytes (no UTF-8 check).
inline void put_bytes(Buf &b, uint32_t field, const void *p, size_t n) {
  if (uint8_t *w = b.reserve_tail(len_field_size(field, n)))
    b.commit(raw::bytes(raw::varint(raw::tag(w, field, kLen), n), p, n));
}
// A string field: UTF-8 repaired, cut to max_chars characters.
void put_string(Buf &b, uint32_t field, otel_str s, size_t max_chars = SIZE_MAX);

// Nested messages whose size is not known up front: begin() reserves one length byte, end()
// writes the length, moving the body when it needs a longer varint.
inline size_t msg_begin(Buf &b, uint32_t field) {
  uint8_t *p = b.reserve_tail(tag_size(field) + 1);
  if (!p) return b.size();  // overflow: msg_end will do nothing
  p = raw::tag(p, field, kLen);
  *p = 0;
  b.commit(p + 1);
  return b.size() - 1;
}
void msg_end_long(Buf &b, size_t mark, size_t len);
inline void msg_end(Buf &b, size_t mark) {
  if (b.overflow()) return;
  size_t len = b.size() - mark - 1;
  if (OTB_LIKELY(len < 0x80))
    b.data()[mark] = static_cast<uint8_t>(len);
  else
    msg_end_long(b, mark, len);
}

// ---- OpenTelemetry values ----
struct AttrLimits {
  uint32_t count = 128;           // attributes kept per record
  size_t value_chars = SIZE_MAX;  // string value length limit, in characters
};

// Encodes `v` as an AnyValue message in `field`. OTEL_OK or OTEL_E_INVALID_ARG (bad pointer,
// unknown type, nesting deeper than OTEL_MAX_VALUE_DEPTH).
int32_t put_any_value(Buf &b, uint32_t field, const otel_value &v, size_t value_chars,
                      int depth = 0);

// Encodes attributes as repeated KeyValue in `field`, applying limits: empty keys are dropped, a
// repeated key keeps its first position and its last value, attributes past the count limit are
// dropped. *dropped receives how many were dropped.
int32_t put_attributes(Buf &b, uint32_t field, const otel_attr *attrs, size_t n,
                       const AttrLimits &limits, uint32_t *dropped);

// ---- Log records ----
struct LogRecordArgs {
  uint64_t time_unix_nano;
  uint64_t observed_unix_nano;
  int32_t severity_number;
  otel_str severity_text;
  const otel_value *body;
  const otel_attr *attrs;
  size_t n_attrs;
  otel_str event_name;
  const otel_span_context *ctx;
};

// Writes the fields of one opentelemetry.proto.logs.v1.LogRecord (its body, without the outer
// tag and length). OTEL_OK, OTEL_E_INVALID_ARG, or OTEL_E_TOO_LARGE when b's limit was hit.
// A time_unix_nano or observed_unix_nano of 0 is written as `now` (0: the field is left out).
int32_t encode_log_record(Buf &b, const LogRecordArgs &a, const AttrLimits &limits, uint64_t now);
inline int32_t encode_log_record(Buf &b, const LogRecordArgs &a, const AttrLimits &limits) {
  return encode_log_record(b, a, limits, 0);
}

// Checks an otel_str for the ABI rule "ptr NULL only with len 0" and sane lengths.
inline bool str_ok(otel_str s) {
  return (s.ptr != nullptr || s.len == 0) && s.len <= (SIZE_MAX >> 2);
}

}  // namespace otb
