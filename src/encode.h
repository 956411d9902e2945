// OTLP protobuf wire encoding, written straight from the caller's values into a Buf: no message
// objects, no intermediate copies. Field numbers are from opentelemetry-proto v1.x.
#pragma once

#include <cstdint>

#include "common.h"

namespace otb {

// ---- protobuf wire primitives ----
enum WireType : uint8_t { kVarint = 0, kFixed64 = 1, kLen = 2, kFixed32 = 5 };

inline size_t varint_size(uint64_t v) {
  size_t n = 1;
  while (v >= 0x80) {
    v >>= 7;
    n++;
  }
  return n;
}
inline void put_varint(Buf &b, uint64_t v) {
  if (!b.reserve(10)) return;
  uint8_t *p = b.tail(), *s = p;
  while (v >= 0x80) {
    *p++ = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<uint8_t>(v);
  b.advance(static_cast<size_t>(p - s));
}
inline void put_tag(Buf &b, uint32_t field, WireType wt) {
  if (OTB_LIKELY(field < 16)) {
    b.put(static_cast<uint8_t>((field << 3) | wt));
  } else {
    put_varint(b, (uint64_t{field} << 3) | wt);
  }
}
inline size_t tag_size(uint32_t field) {
  return varint_size(uint64_t{field} << 3);
}
inline void put_fixed64(Buf &b, uint32_t field, uint64_t v) {
  put_tag(b, field, kFixed64);
  if (!b.reserve(8)) return;
  std::memcpy(b.tail(), &v, 8);  // little-endian host (x86-64, aarch64)
  b.advance(8);
}
inline void put_fixed32(Buf &b, uint32_t field, uint32_t v) {
  put_tag(b, field, kFixed32);
  if (!b.reserve(4)) return;
  std::memcpy(b.tail(), &v, 4);
  b.advance(4);
}
inline void put_double(Buf &b, uint32_t field, double v) {
  uint64_t bits;
  std::memcpy(&bits, &v, 8);
  put_fixed64(b, field, bits);
}
// A length-delimited field with raw bytes (no UTF-8 check).
inline void put_bytes(Buf &b, uint32_t field, const void *p, size_t n) {
  put_tag(b, field, kLen);
  put_varint(b, n);
  b.append(p, n);
}
// A string field: UTF-8 repaired, cut to max_chars characters.
void put_string(Buf &b, uint32_t field, otel_str s, size_t max_chars = SIZE_MAX);

// Nested messages whose size is not known up front: begin() reserves one length byte, end()
// writes the length, moving the body when it needs a longer varint.
inline size_t msg_begin(Buf &b, uint32_t field) {
  put_tag(b, field, kLen);
  size_t mark = b.size();
  b.put(0);
  return mark;
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
int32_t encode_log_record(Buf &b, const LogRecordArgs &a, const AttrLimits &limits);

// Checks an otel_str for the ABI rule "ptr NULL only with len 0" and sane lengths.
inline bool str_ok(otel_str s) {
  return (s.ptr != nullptr || s.len == 0) && s.len <= (SIZE_MAX >> 2);
}

}  // namespace otb
