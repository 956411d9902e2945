#include "encode.h"

#include <cstring>

#include "utf8.h"

namespace otb {

// Field numbers of opentelemetry.proto.common.v1 and logs.v1.
namespace f {
constexpr uint32_t kAnyString = 1, kAnyBool = 2, kAnyInt = 3, kAnyDouble = 4, kAnyArray = 5,
                   kAnyKvlist = 6, kAnyBytes = 7;
constexpr uint32_t kArrayValues = 1, kKvlistValues = 1;
constexpr uint32_t kKvKey = 1, kKvValue = 2;
constexpr uint32_t kLogTime = 1, kLogSeverityNumber = 2, kLogSeverityText = 3, kLogBody = 5,
                   kLogAttributes = 6, kLogDropped = 7, kLogFlags = 8, kLogTraceId = 9,
                   kLogSpanId = 10, kLogObservedTime = 11, kLogEventName = 12;
}  // namespace f

void put_string(Buf &b, uint32_t field, otel_str s, size_t max_chars) {
  Utf8Scan sc = utf8_scan(s.ptr, s.len, max_chars);
  if (sc.valid) {
    put_bytes(b, field, s.ptr, sc.in_len);
    return;
  }
  put_tag(b, field, kLen);
  put_varint(b, sc.out_len);
  if (!b.reserve(sc.out_len)) return;
  b.advance(utf8_repair(s.ptr, sc.in_len, reinterpret_cast<char *>(b.tail())));
}

void msg_end_long(Buf &b, size_t mark, size_t len) {
  size_t k = varint_size(len);
  if (!b.reserve(k - 1)) return;
  uint8_t *body = b.data() + mark + 1;
  std::memmove(body + k - 1, body, len);
  uint8_t *p = b.data() + mark;
  uint64_t v = len;
  while (v >= 0x80) {
    *p++ = static_cast<uint8_t>(v | 0x80);
    v >>= 7;
  }
  *p = static_cast<uint8_t>(v);
  b.advance(k - 1);
}

int32_t put_any_value(Buf &b, uint32_t field, const otel_value &v, size_t value_chars, int depth) {
  switch (v.type) {
    case OTEL_VALUE_EMPTY:
      put_tag(b, field, kLen);
      b.put(0);
      return OTEL_OK;
    case OTEL_VALUE_STRING: {
      if (!str_ok(v.u.str)) return OTEL_E_INVALID_ARG;
      // Size is known up front, so no length fix-up is needed.
      Utf8Scan sc = utf8_scan(v.u.str.ptr, v.u.str.len, value_chars);
      put_tag(b, field, kLen);
      put_varint(b, tag_size(f::kAnyString) + varint_size(sc.out_len) + sc.out_len);
      put_tag(b, f::kAnyString, kLen);
      put_varint(b, sc.out_len);
      if (!b.reserve(sc.out_len)) return OTEL_OK;
      if (sc.valid) {
        if (sc.in_len) std::memcpy(b.tail(), v.u.str.ptr, sc.in_len);  // ptr may be NULL when empty
        b.advance(sc.in_len);
      } else {
        b.advance(utf8_repair(v.u.str.ptr, sc.in_len, reinterpret_cast<char *>(b.tail())));
      }
      return OTEL_OK;
    }
    case OTEL_VALUE_BYTES:
      if (!str_ok(v.u.bytes)) return OTEL_E_INVALID_ARG;
      put_tag(b, field, kLen);
      put_varint(b, tag_size(f::kAnyBytes) + varint_size(v.u.bytes.len) + v.u.bytes.len);
      put_bytes(b, f::kAnyBytes, v.u.bytes.ptr, v.u.bytes.len);
      return OTEL_OK;
    case OTEL_VALUE_BOOL:
      put_tag(b, field, kLen);
      b.put(2);
      put_tag(b, f::kAnyBool, kVarint);
      b.put(v.u.boolean ? 1 : 0);
      return OTEL_OK;
    case OTEL_VALUE_INT: {
      uint64_t u = static_cast<uint64_t>(v.u.i64);
      put_tag(b, field, kLen);
      put_varint(b, 1 + varint_size(u));
      put_tag(b, f::kAnyInt, kVarint);
      put_varint(b, u);
      return OTEL_OK;
    }
    case OTEL_VALUE_DOUBLE:
      put_tag(b, field, kLen);
      b.put(9);
      put_double(b, f::kAnyDouble, v.u.f64);
      return OTEL_OK;
    case OTEL_VALUE_ARRAY: {
      if (depth >= OTEL_MAX_VALUE_DEPTH) return OTEL_E_INVALID_ARG;
      const otel_value_array &a = v.u.array;
      if (a.items == nullptr && a.len != 0) return OTEL_E_INVALID_ARG;
      size_t outer = msg_begin(b, field);
      size_t inner = msg_begin(b, f::kAnyArray);
      for (size_t i = 0; i < a.len; i++) {
        int32_t st = put_any_value(b, f::kArrayValues, a.items[i], value_chars, depth + 1);
        if (st != OTEL_OK) return st;
      }
      msg_end(b, inner);
      msg_end(b, outer);
      return OTEL_OK;
    }
    case OTEL_VALUE_MAP: {
      if (depth >= OTEL_MAX_VALUE_DEPTH) return OTEL_E_INVALID_ARG;
      const otel_attr_array &m = v.u.map;
      if (m.items == nullptr && m.len != 0) return OTEL_E_INVALID_ARG;
      size_t outer = msg_begin(b, field);
      size_t inner = msg_begin(b, f::kAnyKvlist);
      for (size_t i = 0; i < m.len; i++) {
        if (!str_ok(m.items[i].key)) return OTEL_E_INVALID_ARG;
        size_t kv = msg_begin(b, f::kKvlistValues);
        put_string(b, f::kKvKey, m.items[i].key);
        int32_t st = put_any_value(b, f::kKvValue, m.items[i].value, value_chars, depth + 1);
        if (st != OTEL_OK) return st;
        msg_end(b, kv);
      }
      msg_end(b, inner);
      msg_end(b, outer);
      return OTEL_OK;
    }
    default:
      return OTEL_E_INVALID_ARG;
  }
}

namespace {
inline bool same_key(const otel_str &a, const otel_str &b) {
  return a.len == b.len && (a.len == 0 || std::memcmp(a.ptr, b.ptr, a.len) == 0);
}
}  // namespace

int32_t put_attributes(Buf &b, uint32_t field, const otel_attr *attrs, size_t n,
                       const AttrLimits &limits, uint32_t *dropped) {
  *dropped = 0;
  if (n == 0) return OTEL_OK;
  if (attrs == nullptr) return OTEL_E_INVALID_ARG;
  uint32_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    const otel_str &key = attrs[i].key;
    if (!str_ok(key)) return OTEL_E_INVALID_ARG;
    if (key.len == 0) {
      ++*dropped;
      continue;
    }
    bool seen = false;  // a repeated key keeps the position of its first occurrence
    for (size_t j = 0; j < i && !seen; j++) seen = same_key(attrs[j].key, key);
    if (seen) continue;
    if (kept >= limits.count) {
      ++*dropped;
      continue;
    }
    size_t last = i;  // ... and the value of its last
    for (size_t j = i + 1; j < n; j++)
      if (same_key(attrs[j].key, key)) last = j;
    size_t kv = msg_begin(b, field);
    put_string(b, f::kKvKey, key);
    int32_t st = put_any_value(b, f::kKvValue, attrs[last].value, limits.value_chars);
    if (st != OTEL_OK) return st;
    msg_end(b, kv);
    kept++;
  }
  return OTEL_OK;
}

int32_t encode_log_record(Buf &b, const LogRecordArgs &a, const AttrLimits &limits) {
  if (a.time_unix_nano) put_fixed64(b, f::kLogTime, a.time_unix_nano);
  if (a.severity_number) {
    put_tag(b, f::kLogSeverityNumber, kVarint);
    put_varint(b, static_cast<uint64_t>(a.severity_number));
  }
  if (a.severity_text.len) put_string(b, f::kLogSeverityText, a.severity_text);
  if (a.body) {
    int32_t st = put_any_value(b, f::kLogBody, *a.body, SIZE_MAX);
    if (st != OTEL_OK) return st;
  }
  uint32_t dropped = 0;
  int32_t st = put_attributes(b, f::kLogAttributes, a.attrs, a.n_attrs, limits, &dropped);
  if (st != OTEL_OK) return st;
  if (dropped) {
    put_tag(b, f::kLogDropped, kVarint);
    put_varint(b, dropped);
  }
  if (a.ctx) {
    static const uint8_t kZero[16] = {};
    if (std::memcmp(a.ctx->trace_id, kZero, 16) != 0) {
      if (a.ctx->trace_flags) put_fixed32(b, f::kLogFlags, a.ctx->trace_flags);
      put_bytes(b, f::kLogTraceId, a.ctx->trace_id, 16);
      if (std::memcmp(a.ctx->span_id, kZero, 8) != 0)
        put_bytes(b, f::kLogSpanId, a.ctx->span_id, 8);
    }
  }
  if (a.observed_unix_nano) put_fixed64(b, f::kLogObservedTime, a.observed_unix_nano);
  if (a.event_name.len) put_string(b, f::kLogEventName, a.event_name);
  return b.overflow() ? OTEL_E_TOO_LARGE : OTEL_OK;
}

}  // namespace otb
