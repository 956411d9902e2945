// A reference LogRecord encoder for differential tests: the straightforward byte-at-a-time
// encoder src/encode.cc replaced (one checked write per byte, UTF-8 scanned character by
// character), kept here as an oracle for the optimised one. It writes into a std::string with
// no size limit; the expected outcome under a limit follows from its size (see
// expected_status). Do not optimise it: its value is that it is obviously right.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>

#include "otelbridge/otelbridge.h"

namespace otbref {

// ---- UTF-8: one U+FFFD per maximal ill-formed subpart ----
inline size_t seq_len(const unsigned char *s, size_t i, size_t n, size_t *bad) {
  unsigned char c = s[i];
  if (c < 0x80) return 1;
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    need = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
  } else {
    *bad = 1;
    return 0;
  }
  size_t k = 1;
  for (; k < need; k++) {
    if (i + k >= n) break;
    unsigned char b = s[i + k];
    unsigned char l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xBF;
    if (b < l || b > h) break;
  }
  if (k == need) return need;
  *bad = k;
  return 0;
}

// The repaired form of the first max_chars characters of s.
inline std::string repaired(otel_str s, size_t max_chars) {
  const unsigned char *p = reinterpret_cast<const unsigned char *>(s.ptr);
  std::string out;
  size_t i = 0, chars = 0;
  while (i < s.len && chars < max_chars) {
    size_t bad = 0, len = seq_len(p, i, s.len, &bad);
    if (len) {
      out.append(s.ptr + i, len);
      i += len;
    } else {
      out += "\xEF\xBF\xBD";
      i += bad;
    }
    chars++;
  }
  return out;
}

// ---- wire ----
inline void varint(std::string &o, uint64_t v) {
  while (v >= 0x80) {
    o += static_cast<char>(v | 0x80);
    v >>= 7;
  }
  o += static_cast<char>(v);
}
inline void tag(std::string &o, uint32_t field, int wt) {
  varint(o, (uint64_t{field} << 3) | wt);
}
inline void len_field(std::string &o, uint32_t field, const std::string &payload) {
  tag(o, field, 2);
  varint(o, payload.size());
  o += payload;
}
inline void fixed64(std::string &o, uint32_t field, uint64_t v) {
  tag(o, field, 1);
  for (int i = 0; i < 8; i++) o += static_cast<char>(v >> (8 * i));
}
inline bool str_ok(otel_str s) {
  return (s.ptr != nullptr || s.len == 0) && s.len <= (SIZE_MAX >> 2);
}
inline std::string bytes_of(otel_str s) {
  return s.len ? std::string(s.ptr, s.len) : std::string();
}

// AnyValue body of v, or false (OTEL_E_INVALID_ARG).
inline bool any_value(std::string &o, const otel_value &v, size_t value_chars, int depth);

inline bool key_value(std::string &o, otel_str key, const otel_value &v, size_t value_chars,
                      int depth) {
  len_field(o, 1, repaired(key, SIZE_MAX));
  std::string val;
  if (!any_value(val, v, value_chars, depth)) return false;
  len_field(o, 2, val);
  return true;
}

inline bool any_value(std::string &o, const otel_value &v, size_t value_chars, int depth) {
  switch (v.type) {
    case OTEL_VALUE_EMPTY:
      return true;
    case OTEL_VALUE_STRING:
      if (!str_ok(v.u.str)) return false;
      len_field(o, 1, repaired(v.u.str, value_chars));
      return true;
    case OTEL_VALUE_BOOL:
      tag(o, 2, 0);
      varint(o, v.u.boolean ? 1 : 0);
      return true;
    case OTEL_VALUE_INT:
      tag(o, 3, 0);
      varint(o, static_cast<uint64_t>(v.u.i64));
      return true;
    case OTEL_VALUE_DOUBLE: {
      uint64_t bits;
      std::memcpy(&bits, &v.u.f64, 8);
      fixed64(o, 4, bits);
      return true;
    }
    case OTEL_VALUE_BYTES:
      if (!str_ok(v.u.bytes)) return false;
      len_field(o, 7, bytes_of(v.u.bytes));
      return true;
    case OTEL_VALUE_ARRAY: {
      if (depth >= OTEL_MAX_VALUE_DEPTH) return false;
      if (v.u.array.items == nullptr && v.u.array.len != 0) return false;
      std::string arr;
      for (size_t i = 0; i < v.u.array.len; i++) {
        std::string item;
        if (!any_value(item, v.u.array.items[i], value_chars, depth + 1)) return false;
        len_field(arr, 1, item);
      }
      len_field(o, 5, arr);
      return true;
    }
    case OTEL_VALUE_MAP: {
      if (depth >= OTEL_MAX_VALUE_DEPTH) return false;
      if (v.u.map.items == nullptr && v.u.map.len != 0) return false;
      std::string map;
      for (size_t i = 0; i < v.u.map.len; i++) {
        if (!str_ok(v.u.map.items[i].key)) return false;
        std::string kv;
        if (!key_value(kv, v.u.map.items[i].key, v.u.map.items[i].value, value_chars, depth + 1))
          return false;
        len_field(map, 1, kv);
      }
      len_field(o, 6, map);
      return true;
    }
    default:
      return false;
  }
}

inline bool same_key(otel_str a, otel_str b) {
  return a.len == b.len &&
         (a.len == 0 || (a.ptr && b.ptr && std::memcmp(a.ptr, b.ptr, a.len) == 0));
}

// Repeated KeyValue in `field`. OTEL_OK or OTEL_E_INVALID_ARG.
inline int32_t attributes(std::string &o, uint32_t field, const otel_attr *attrs, size_t n,
                          uint32_t count_limit, size_t value_chars, uint32_t *dropped) {
  *dropped = 0;
  if (n == 0) return OTEL_OK;
  if (attrs == nullptr) return OTEL_E_INVALID_ARG;
  uint32_t kept = 0;
  for (size_t i = 0; i < n; i++) {
    otel_str key = attrs[i].key;
    if (!str_ok(key)) return OTEL_E_INVALID_ARG;
    if (key.len == 0) {
      ++*dropped;
      continue;
    }
    bool seen = false;
    for (size_t j = 0; j < i; j++) seen = seen || same_key(attrs[j].key, key);
    if (seen) continue;
    if (kept >= count_limit) {
      ++*dropped;
      continue;
    }
    size_t last = i;
    for (size_t j = i + 1; j < n; j++)
      if (same_key(attrs[j].key, key)) last = j;
    std::string kv;
    if (!key_value(kv, key, attrs[last].value, value_chars, 0)) return OTEL_E_INVALID_ARG;
    len_field(o, field, kv);
    kept++;
  }
  return OTEL_OK;
}

struct Record {
  uint64_t time, observed;
  int32_t severity;
  otel_str severity_text;
  const otel_value *body;
  const otel_attr *attrs;
  size_t n_attrs;
  otel_str event_name;
  const otel_span_context *ctx;
};

// The LogRecord body. OTEL_OK or OTEL_E_INVALID_ARG.
inline int32_t log_record(std::string &o, const Record &r, uint32_t count_limit,
                          size_t value_chars) {
  if (r.time) fixed64(o, 1, r.time);
  if (r.severity) {
    tag(o, 2, 0);
    varint(o, static_cast<uint64_t>(r.severity));
  }
  if (r.severity_text.len) len_field(o, 3, repaired(r.severity_text, SIZE_MAX));
  if (r.body) {
    std::string body;
    if (!any_value(body, *r.body, SIZE_MAX, 0)) return OTEL_E_INVALID_ARG;
    len_field(o, 5, body);
  }
  uint32_t dropped = 0;
  if (attributes(o, 6, r.attrs, r.n_attrs, count_limit, value_chars, &dropped) != OTEL_OK)
    return OTEL_E_INVALID_ARG;
  if (dropped) {
    tag(o, 7, 0);
    varint(o, dropped);
  }
  if (r.ctx) {
    static const uint8_t kZero[16] = {};
    if (std::memcmp(r.ctx->trace_id, kZero, 16) != 0) {
      if (r.ctx->trace_flags) {
        tag(o, 8, 5);
        for (int i = 0; i < 4; i++) o += static_cast<char>(uint32_t{r.ctx->trace_flags} >> (8 * i));
      }
      len_field(o, 9, std::string(reinterpret_cast<const char *>(r.ctx->trace_id), 16));
      if (std::memcmp(r.ctx->span_id, kZero, 8) != 0)
        len_field(o, 10, std::string(reinterpret_cast<const char *>(r.ctx->span_id), 8));
    }
  }
  if (r.observed) fixed64(o, 11, r.observed);
  if (r.event_name.len) len_field(o, 12, repaired(r.event_name, SIZE_MAX));
  return OTEL_OK;
}

// What an encoder writing into a buffer limited to `limit` bytes must return, given the
// reference's status and size.
inline int32_t expected_status(int32_t ref_status, size_t ref_size, size_t limit) {
  if (ref_status != OTEL_OK) return ref_status;
  return ref_size > limit ? OTEL_E_TOO_LARGE : OTEL_OK;
}

}  // namespace otbref
