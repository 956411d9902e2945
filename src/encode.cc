#include "encode.h"

#include <cstddef>
#include <cstring>

#include "utf8.h"

// Two ways to write the same bytes.
//
// The plain path covers the common record: a scalar or string body, attributes that the limits
// and de-duplication leave as they are, and valid UTF-8 everywhere. It reserves room for the whole
// record up front (strings counted at their length) and makes one pass with an unchecked cursor:
// each string is copied and checked for UTF-8 in the same pass, each attribute is checked and
// measured just before it is written, and nothing needs a length fix-up. Anything it does not
// cover (an array or map, a key that repeats, a limit that applies, a string that needs repair, a
// record that may not fit under the buffer's limit) makes it give up, and the record is written
// again by the general path.
//
// The general path handles everything, field by field: each field is measured first (strings are
// scanned for UTF-8 then, which gives their exact repaired size) and written with one
// Buf::reserve_tail() and unchecked stores through a local pointer. Only arrays and maps, whose
// size is not known up front, go through msg_begin/msg_end. A field that does not fit under the
// buffer's limit is not written and sets overflow(); the writers carry on checking the rest of the
// input, so an invalid argument anywhere still wins over OTEL_E_TOO_LARGE. put_any_value,
// put_string and the non-plain put_attributes are the general path's pieces.
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

// For the small helpers the hot paths are made of, where -O2 would otherwise keep a call.
#define OTB_INLINE inline __attribute__((always_inline))

namespace {

// The tag of a field below 16, as one byte.
constexpr uint8_t tag1(uint32_t field, WireType wt) {
  return static_cast<uint8_t>((field << 3) | wt);
}

inline bool is_container(const otel_value &v) {
  return v.type == OTEL_VALUE_ARRAY || v.type == OTEL_VALUE_MAP;
}

// ---- the general path ----

// An AnyValue other than an array or a map, measured and copied out of the caller's otel_value
// (stores through a uint8_t pointer may alias the caller's memory, so the writer reads none).
struct Leaf {
  int32_t type;
  size_t size;       // of the AnyValue message body
  const char *data;  // strings and bytes
  Utf8Scan sc;       // strings and bytes: the payload (bytes are never repaired)
  uint64_t bits;     // bool, int and double
};

// Measures v, which is not an array or a map. False when v is invalid: a bad pointer, an unknown
// type.
OTB_INLINE bool measure_leaf(const otel_value &v, size_t value_chars, Leaf *l) {
  *l = Leaf{v.type, 0, nullptr, Utf8Scan{0, 0, true}, 0};
  switch (v.type) {
    case OTEL_VALUE_EMPTY:
      l->size = 0;
      return true;
    case OTEL_VALUE_STRING:
      if (!str_ok(v.u.str)) return false;
      l->data = v.u.str.ptr;
      l->sc = utf8_scan(v.u.str.ptr, v.u.str.len, value_chars);
      l->size = len_field_size(f::kAnyString, l->sc.out_len);
      return true;
    case OTEL_VALUE_BYTES:
      if (!str_ok(v.u.bytes)) return false;
      l->data = v.u.bytes.ptr;
      l->sc = Utf8Scan{v.u.bytes.len, v.u.bytes.len, true};
      l->size = len_field_size(f::kAnyBytes, v.u.bytes.len);
      return true;
    case OTEL_VALUE_BOOL:
      l->bits = v.u.boolean ? 1 : 0;
      l->size = 2;
      return true;
    case OTEL_VALUE_INT:
      l->bits = static_cast<uint64_t>(v.u.i64);
      l->size = 1 + varint_size(l->bits);
      return true;
    case OTEL_VALUE_DOUBLE:
      std::memcpy(&l->bits, &v.u.f64, 8);
      l->size = 9;
      return true;
    default:
      return false;
  }
}

// Writes the AnyValue body of a measured leaf (l.size bytes).
OTB_INLINE uint8_t *write_leaf(uint8_t *p, const Leaf &l) {
  switch (l.type) {
    case OTEL_VALUE_STRING:
      *p++ = tag1(f::kAnyString, kLen);
      return raw::utf8(raw::varint(p, l.sc.out_len), l.data, l.sc);
    case OTEL_VALUE_BYTES:
      *p++ = tag1(f::kAnyBytes, kLen);
      return raw::bytes(raw::varint(p, l.sc.in_len), l.data, l.sc.in_len);
    case OTEL_VALUE_BOOL:
      p[0] = tag1(f::kAnyBool, kVarint);
      p[1] = static_cast<uint8_t>(l.bits);
      return p + 2;
    case OTEL_VALUE_INT:
      *p++ = tag1(f::kAnyInt, kVarint);
      return raw::varint(p, l.bits);
    case OTEL_VALUE_DOUBLE:
      *p++ = tag1(f::kAnyDouble, kFixed64);
      return raw::fixed64(p, l.bits);
    default:  // OTEL_VALUE_EMPTY: an AnyValue with nothing set
      return p;
  }
}

// A string field (field < 16) as utf8_scan measured it.
inline size_t str_field_size(const Utf8Scan &sc) {
  return 1 + varint_size(sc.out_len) + sc.out_len;
}
inline uint8_t *write_str_field(uint8_t *p, uint32_t field, const char *s, const Utf8Scan &sc) {
  *p++ = tag1(field, kLen);
  return raw::utf8(raw::varint(p, sc.out_len), s, sc);
}

int32_t put_container(Buf &b, uint32_t field, const otel_value &v, size_t value_chars, int depth);

// A KeyValue{key, value} in `field`; key has passed str_ok. A leaf value makes the whole KeyValue
// one measured write.
inline int32_t put_key_value(Buf &b, uint32_t field, otel_str key, const otel_value &v,
                             size_t value_chars, int depth) {
  Utf8Scan ks = utf8_scan(key.ptr, key.len, SIZE_MAX);
  if (OTB_UNLIKELY(is_container(v))) {
    size_t kv = msg_begin(b, field);
    if (uint8_t *p = b.reserve_tail(str_field_size(ks)))
      b.commit(write_str_field(p, f::kKvKey, key.ptr, ks));
    int32_t st = put_container(b, f::kKvValue, v, value_chars, depth);
    if (st != OTEL_OK) return st;
    msg_end(b, kv);
    return OTEL_OK;
  }
  Leaf l;
  if (!measure_leaf(v, value_chars, &l)) return OTEL_E_INVALID_ARG;
  size_t len = str_field_size(ks) + 1 + varint_size(l.size) + l.size;
  if (uint8_t *p = b.reserve_tail(len_field_size(field, len))) {
    p = raw::varint(raw::tag(p, field, kLen), len);
    p = write_str_field(p, f::kKvKey, key.ptr, ks);
    *p++ = tag1(f::kKvValue, kLen);
    b.commit(write_leaf(raw::varint(p, l.size), l));
  }
  return OTEL_OK;
}

// An array or a map as an AnyValue in `field`.
int32_t put_container(Buf &b, uint32_t field, const otel_value &v, size_t value_chars, int depth) {
  if (depth >= OTEL_MAX_VALUE_DEPTH) return OTEL_E_INVALID_ARG;
  if (v.type == OTEL_VALUE_ARRAY) {
    const otel_value_array a = v.u.array;
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
  const otel_attr_array m = v.u.map;
  if (m.items == nullptr && m.len != 0) return OTEL_E_INVALID_ARG;
  size_t outer = msg_begin(b, field);
  size_t inner = msg_begin(b, f::kAnyKvlist);
  for (size_t i = 0; i < m.len; i++) {
    if (!str_ok(m.items[i].key)) return OTEL_E_INVALID_ARG;
    int32_t st = put_key_value(b, f::kKvlistValues, m.items[i].key, m.items[i].value, value_chars,
                               depth + 1);
    if (st != OTEL_OK) return st;
  }
  msg_end(b, inner);
  msg_end(b, outer);
  return OTEL_OK;
}

// Key equality for attribute de-duplication. `a` has passed str_ok and is not empty; `b` may be
// a later key not checked yet (a NULL pointer then never matches: the record fails on it anyway).
inline bool same_key(const otel_str &a, const otel_str &b) {
  if (a.len != b.len || b.ptr == nullptr) return false;
  size_t n = a.len;
  if (n >= 8 && n <= 16) {  // common key lengths: two overlapping words, no call
    uint64_t a0, a1, b0, b1;
    std::memcpy(&a0, a.ptr, 8);
    std::memcpy(&a1, a.ptr + n - 8, 8);
    std::memcpy(&b0, b.ptr, 8);
    std::memcpy(&b1, b.ptr + n - 8, 8);
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
  }
  return std::memcmp(a.ptr, b.ptr, n) == 0;
}

// Whether attrs[0..i) has `key` (which has passed str_ok, as have the earlier keys).
bool earlier_key(const otel_attr *attrs, size_t i, const otel_str &key) {
  for (size_t j = 0; j < i; j++)
    if (same_key(key, attrs[j].key)) return true;
  return false;
}

// The general path: any attributes, with limits, de-duplication and repair.
int32_t put_attributes_general(Buf &b, uint32_t field, const otel_attr *attrs, size_t n,
                               const AttrLimits &limits, uint32_t *dropped) {
  *dropped = 0;
  if (n == 0) return OTEL_OK;
  if (attrs == nullptr) return OTEL_E_INVALID_ARG;
  // Only keys of the same length can be equal: a key whose length (mod 64) no other key has
  // skips the scans for earlier and later occurrences.
  uint8_t same_len[64] = {};
  for (size_t i = 0; i < n; i++) {
    uint8_t &c = same_len[attrs[i].key.len & 63];
    c = static_cast<uint8_t>(c + (c < 255));
  }
  uint32_t kept = 0, drop = 0;
  int32_t st = OTEL_OK;
  for (size_t i = 0; i < n; i++) {
    const otel_str key = attrs[i].key;
    if (!str_ok(key)) {
      st = OTEL_E_INVALID_ARG;
      break;
    }
    if (key.len == 0) {
      drop++;
      continue;
    }
    const bool may_repeat = same_len[key.len & 63] > 1;
    if (may_repeat) {  // a repeated key keeps the position of its first occurrence
      bool seen = false;
      for (size_t j = 0; j < i && !seen; j++) seen = same_key(key, attrs[j].key);
      if (seen) continue;
    }
    if (kept >= limits.count) {
      drop++;
      continue;
    }
    size_t last = i;  // ... and the value of its last
    if (may_repeat)
      for (size_t j = i + 1; j < n; j++)
        if (same_key(key, attrs[j].key)) last = j;
    st = put_key_value(b, field, key, attrs[last].value, limits.value_chars, 0);
    if (st != OTEL_OK) break;
    kept++;
  }
  *dropped = drop;
  return st;
}

inline bool nonzero16(const uint8_t *p) {
  uint64_t a, b;
  std::memcpy(&a, p, 8);
  std::memcpy(&b, p + 8, 8);
  return (a | b) != 0;
}
inline bool nonzero8(const uint8_t *p) {
  uint64_t a;
  std::memcpy(&a, p, 8);
  return a != 0;
}

// The LogRecord fields other than the attributes, measured by the general path: `head` bytes come
// before the attributes (time, severity, severity text, and the body unless it is an array or a
// map), `tail` bytes after them (trace context, observed time, event name; the dropped count, which
// the attributes decide, comes on top).
struct LogParts {
  uint64_t time, severity, observed;
  otel_str sev_text, event;
  Utf8Scan sev_sc, event_sc;
  bool body_leaf;  // a.body is set and is not an array or a map
  Leaf body;
  const otel_span_context *ctx;
  bool trace, span;
  uint32_t flags;
  size_t head, tail;
};

// False when the body is invalid.
OTB_INLINE bool measure_parts(const LogRecordArgs &a, uint64_t now, LogParts *m) {
  m->time = a.time_unix_nano ? a.time_unix_nano : now;
  m->severity = static_cast<uint64_t>(a.severity_number);
  m->sev_text = a.severity_text;
  m->sev_sc = utf8_scan(m->sev_text.ptr, m->sev_text.len, SIZE_MAX);
  m->body_leaf = a.body && !is_container(*a.body);
  m->body = Leaf{OTEL_VALUE_EMPTY, 0, nullptr, Utf8Scan{0, 0, true}, 0};
  if (m->body_leaf && !measure_leaf(*a.body, SIZE_MAX, &m->body)) return false;
  m->head = (m->time ? 9 : 0) + (m->severity ? 1 + varint_size(m->severity) : 0) +
            (m->sev_text.len ? str_field_size(m->sev_sc) : 0) +
            (m->body_leaf ? 1 + varint_size(m->body.size) + m->body.size : 0);
  m->ctx = a.ctx;
  m->trace = m->ctx && nonzero16(m->ctx->trace_id);
  m->span = m->trace && nonzero8(m->ctx->span_id);
  m->flags = m->trace ? m->ctx->trace_flags : 0;
  m->observed = a.observed_unix_nano ? a.observed_unix_nano : now;
  m->event = a.event_name;
  m->event_sc = utf8_scan(m->event.ptr, m->event.len, SIZE_MAX);
  m->tail = (m->flags ? 5 : 0) + (m->trace ? 18 : 0) + (m->span ? 10 : 0) + (m->observed ? 9 : 0) +
            (m->event.len ? str_field_size(m->event_sc) : 0);
  return true;
}

OTB_INLINE uint8_t *write_head(uint8_t *p, const LogParts &m) {
  if (m.time) {
    *p++ = tag1(f::kLogTime, kFixed64);
    p = raw::fixed64(p, m.time);
  }
  if (m.severity) {
    *p++ = tag1(f::kLogSeverityNumber, kVarint);
    p = raw::varint(p, m.severity);
  }
  if (m.sev_text.len) p = write_str_field(p, f::kLogSeverityText, m.sev_text.ptr, m.sev_sc);
  if (m.body_leaf) {
    *p++ = tag1(f::kLogBody, kLen);
    p = write_leaf(raw::varint(p, m.body.size), m.body);
  }
  return p;
}

OTB_INLINE uint8_t *write_tail(uint8_t *p, const LogParts &m, uint32_t dropped) {
  if (dropped) {
    *p++ = tag1(f::kLogDropped, kVarint);
    p = raw::varint(p, dropped);
  }
  if (m.flags) {
    *p++ = tag1(f::kLogFlags, kFixed32);
    p = raw::fixed32(p, m.flags);
  }
  if (m.trace) {
    p[0] = tag1(f::kLogTraceId, kLen);
    p[1] = 16;
    p = raw::bytes(p + 2, m.ctx->trace_id, 16);
  }
  if (m.span) {
    p[0] = tag1(f::kLogSpanId, kLen);
    p[1] = 8;
    p = raw::bytes(p + 2, m.ctx->span_id, 8);
  }
  if (m.observed) {
    *p++ = tag1(f::kLogObservedTime, kFixed64);
    p = raw::fixed64(p, m.observed);
  }
  if (m.event.len) p = write_str_field(p, f::kLogEventName, m.event.ptr, m.event_sc);
  return p;
}

// The whole record by the general path.
int32_t encode_general(Buf &b, const LogRecordArgs &a, const AttrLimits &limits, uint64_t now) {
  LogParts m;
  if (!measure_parts(a, now, &m)) return OTEL_E_INVALID_ARG;
  if (uint8_t *p = b.reserve_tail(m.head)) b.commit(write_head(p, m));
  if (a.body && !m.body_leaf) {
    int32_t st = put_container(b, f::kLogBody, *a.body, SIZE_MAX, 0);
    if (st != OTEL_OK) return st;
  }
  uint32_t dropped = 0;
  int32_t st = put_attributes_general(b, f::kLogAttributes, a.attrs, a.n_attrs, limits, &dropped);
  if (st != OTEL_OK) return st;
  size_t tail = m.tail + (dropped ? 1 + varint_size(dropped) : 0);
  if (uint8_t *p = b.reserve_tail(tail)) b.commit(write_tail(p, m, dropped));
  return b.overflow() ? OTEL_E_TOO_LARGE : OTEL_OK;
}

// ---- the plain path ----

// Copies s[0..n) to p when it is valid UTF-8 (and so needs no repair): the end of the copy, or
// nullptr when it is not valid. Up to 32 bytes are copied and checked for ASCII in one go.
OTB_INLINE uint8_t *copy_if_valid(uint8_t *p, const char *str, size_t n) {
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  const uint8_t *s = reinterpret_cast<const uint8_t *>(str);
  if (OTB_LIKELY(n <= 32)) {
    uint64_t acc;
    if (n >= 8) {
      uint64_t w[4];
      std::memcpy(&w[0], s, 8);
      std::memcpy(&w[1], s + n - 8, 8);
      acc = w[0] | w[1];
      if (n > 16) {
        std::memcpy(&w[2], s + 8, 8);
        std::memcpy(&w[3], s + n - 16, 8);
        acc |= w[2] | w[3];
        std::memcpy(p + 8, &w[2], 8);
        std::memcpy(p + n - 16, &w[3], 8);
      }
      std::memcpy(p, &w[0], 8);
      std::memcpy(p + n - 8, &w[1], 8);
    } else if (n >= 4) {
      uint32_t x, y;
      std::memcpy(&x, s, 4);
      std::memcpy(&y, s + n - 4, 4);
      acc = x | y;
      std::memcpy(p, &x, 4);
      std::memcpy(p + n - 4, &y, 4);
    } else if (n > 0) {
      uint8_t x = s[0], y = s[n / 2], z = s[n - 1];
      acc = x | y | z;
      p[0] = x;
      p[n / 2] = y;
      p[n - 1] = z;
    } else {
      return p;
    }
    if (OTB_LIKELY((acc & kHigh) == 0)) return p + n;
    return utf8_scan_long(str, n, SIZE_MAX).valid ? p + n : nullptr;
  }
  if (!utf8_scan_long(str, n, SIZE_MAX).valid) return nullptr;
  std::memcpy(p, s, n);
  return p + n;
}

// A string field (field < 16) whose string is copied as it is: nullptr when it is not valid UTF-8.
OTB_INLINE uint8_t *plain_str_field(uint8_t *p, uint32_t field, otel_str s) {
  *p++ = tag1(field, kLen);
  return copy_if_valid(raw::varint(p, s.len), s.ptr, s.len);
}

// An AnyValue that the plain path writes as it is: a scalar, bytes, or a string that needs no
// cut (and, checked as it is copied, no repair).
struct PlainValue {
  int32_t type;
  size_t size;       // of the AnyValue message body
  otel_str payload;  // strings and bytes
  uint64_t bits;     // bool, int and double
};

// False when v is not plain: an array or a map, a bad pointer or an unknown type (which the
// general path reports), or a string longer than value_chars bytes (which may have to be cut).
OTB_INLINE bool plain_value(const otel_value &v, size_t value_chars, PlainValue *pv) {
  *pv = PlainValue{v.type, 0, otel_str{nullptr, 0}, 0};
  switch (v.type) {
    case OTEL_VALUE_STRING:
    case OTEL_VALUE_BYTES:
      pv->payload = v.u.str;  // the same otel_str for both
      if (!str_ok(pv->payload) || (v.type == OTEL_VALUE_STRING && pv->payload.len > value_chars))
        return false;
      pv->size = 1 + varint_size(pv->payload.len) + pv->payload.len;
      return true;
    case OTEL_VALUE_INT:
      pv->bits = static_cast<uint64_t>(v.u.i64);
      pv->size = 1 + varint_size(pv->bits);
      return true;
    case OTEL_VALUE_DOUBLE:
      std::memcpy(&pv->bits, &v.u.f64, 8);
      pv->size = 9;
      return true;
    case OTEL_VALUE_BOOL:
      pv->bits = v.u.boolean ? 1 : 0;
      pv->size = 2;
      return true;
    case OTEL_VALUE_EMPTY:
      pv->size = 0;
      return true;
    default:
      return false;
  }
}

// Writes the AnyValue body of a plain value: nullptr when its string is not valid UTF-8.
OTB_INLINE uint8_t *write_plain_value(uint8_t *p, const PlainValue &pv) {
  switch (pv.type) {
    case OTEL_VALUE_STRING:
      return plain_str_field(p, f::kAnyString, pv.payload);
    case OTEL_VALUE_BYTES:
      *p++ = tag1(f::kAnyBytes, kLen);
      return raw::bytes(raw::varint(p, pv.payload.len), pv.payload.ptr, pv.payload.len);
    case OTEL_VALUE_INT:
      *p++ = tag1(f::kAnyInt, kVarint);
      return raw::varint(p, pv.bits);
    case OTEL_VALUE_DOUBLE:
      *p++ = tag1(f::kAnyDouble, kFixed64);
      return raw::fixed64(p, pv.bits);
    case OTEL_VALUE_BOOL:
      p[0] = tag1(f::kAnyBool, kVarint);
      p[1] = static_cast<uint8_t>(pv.bits);
      return p + 2;
    default:  // OTEL_VALUE_EMPTY: an AnyValue with nothing set
      return p;
  }
}

// Attributes are plain when neither the limits nor de-duplication have anything to do: every key
// is non-empty, valid UTF-8 and unlike the others, there are at most limits.count of them, and
// every value is plain (plain_value) with valid UTF-8.
//
// Appends plain attributes as repeated KeyValue in `field` at p, which is b's tail or past it
// (b.size() <= p - b.data() <= b.capacity()), keeping room for `after` more bytes behind them.
// Returns the new end, or nullptr when the attributes are not plain or do not fit under b's limit;
// the caller then discards what was written and takes the general path. Never sets overflow().
template <bool kShortTag>  // field < 16: its tag is one byte
uint8_t *append_plain_attrs(Buf &b, uint8_t *p, size_t after, uint32_t field,
                            const otel_attr *attrs, size_t n, const AttrLimits &limits) {
  if (n > limits.count || (n && !attrs)) return nullptr;
  const size_t value_chars = limits.value_chars;
  uint8_t *room_end = b.data() + b.capacity() - after;  // the caller made room for `after`
  uint64_t lens = 0;  // the key lengths seen so far, mod 64: only keys of one length can be equal
  for (const otel_attr *it = attrs, *stop = attrs + n; it != stop; ++it) {
    const otel_str key = it->key;
    PlainValue v;
    if (key.len - 1 >= (SIZE_MAX >> 2) || !key.ptr) return nullptr;  // empty, or not str_ok
    if (!plain_value(it->value, value_chars, &v)) return nullptr;
    const uint64_t bit = uint64_t{1} << (key.len & 63);
    if ((lens & bit) && earlier_key(attrs, static_cast<size_t>(it - attrs), key)) return nullptr;
    lens |= bit;
    // The KeyValue's length, and with it the key's and the value's, usually fits in one byte.
    size_t kv = 4 + key.len + v.size;
    const bool small = kv < 0x80;
    if (!small) kv = 1 + varint_size(key.len) + key.len + 1 + varint_size(v.size) + v.size;
    const size_t need = (kShortTag ? 1 : tag_size(field)) + varint_size(kv) + kv;
    if (OTB_UNLIKELY(room_end - p < static_cast<ptrdiff_t>(need))) {
      size_t at = static_cast<size_t>(p - b.data());
      b.truncate(at);
      if (!b.try_reserve(need + after)) return nullptr;
      p = b.data() + at;
      room_end = b.data() + b.capacity() - after;
    }
    if (kShortTag && OTB_LIKELY(small)) {
      p[0] = tag1(field, kLen);
      p[1] = static_cast<uint8_t>(kv);
      p[2] = tag1(f::kKvKey, kLen);
      p[3] = static_cast<uint8_t>(key.len);
      p = copy_if_valid(p + 4, key.ptr, key.len);
      if (!p) return nullptr;
      p[0] = tag1(f::kKvValue, kLen);
      p[1] = static_cast<uint8_t>(v.size);
      p += 2;
    } else {
      p = raw::varint(raw::tag(p, field, kLen), kv);
      p = plain_str_field(p, f::kKvKey, key);
      if (!p) return nullptr;
      *p++ = tag1(f::kKvValue, kLen);
      p = raw::varint(p, v.size);
    }
    p = write_plain_value(p, v);
    if (!p) return nullptr;
  }
  return p;
}

// The whole record by the plain path. False when it needs the general path; what was written
// past b.size() is then to be ignored (b.size() itself may have moved: the caller restores it).
bool encode_plain(Buf &b, const LogRecordArgs &a, const AttrLimits &limits, uint64_t now) {
  const otel_str sev_text = a.severity_text, event = a.event_name;
  if (!str_ok(sev_text) || !str_ok(event)) return false;
  PlainValue body{OTEL_VALUE_EMPTY, 0, otel_str{nullptr, 0}, 0};  // (no body: unused)
  if (a.body && !plain_value(*a.body, SIZE_MAX, &body)) return false;
  // Every field but the attributes at its largest, strings at their length: time 9, severity 11,
  // severity text 11 + len, body 11 + AnyValue body; flags 5, trace id 18, span id 10, observed
  // time 9, event name 11 + len. There is no dropped count: plain attributes drop nothing.
  const size_t tail_max = 5 + 18 + 10 + 9 + 11 + event.len;
  const size_t head_max = 9 + 11 + 11 + sev_text.len + (a.body ? 11 + body.size : 0);
  if (!b.try_reserve(head_max + tail_max)) return false;
  uint8_t *p = b.tail();

  const uint64_t time = a.time_unix_nano ? a.time_unix_nano : now;
  if (time) {
    *p++ = tag1(f::kLogTime, kFixed64);
    p = raw::fixed64(p, time);
  }
  if (a.severity_number) {
    *p++ = tag1(f::kLogSeverityNumber, kVarint);
    p = raw::varint(p, static_cast<uint64_t>(a.severity_number));
  }
  if (sev_text.len && !(p = plain_str_field(p, f::kLogSeverityText, sev_text))) return false;
  if (a.body) {
    *p++ = tag1(f::kLogBody, kLen);
    if (!(p = write_plain_value(raw::varint(p, body.size), body))) return false;
  }
  if (a.n_attrs && !(p = append_plain_attrs<true>(b, p, tail_max, f::kLogAttributes, a.attrs,
                                                  a.n_attrs, limits)))
    return false;
  if (const otel_span_context *ctx = a.ctx; ctx && nonzero16(ctx->trace_id)) {
    if (ctx->trace_flags) {
      *p++ = tag1(f::kLogFlags, kFixed32);
      p = raw::fixed32(p, ctx->trace_flags);
    }
    p[0] = tag1(f::kLogTraceId, kLen);
    p[1] = 16;
    p = raw::bytes(p + 2, ctx->trace_id, 16);
    if (nonzero8(ctx->span_id)) {
      p[0] = tag1(f::kLogSpanId, kLen);
      p[1] = 8;
      p = raw::bytes(p + 2, ctx->span_id, 8);
    }
  }
  const uint64_t observed = a.observed_unix_nano ? a.observed_unix_nano : now;
  if (observed) {
    *p++ = tag1(f::kLogObservedTime, kFixed64);
    p = raw::fixed64(p, observed);
  }
  if (event.len && !(p = plain_str_field(p, f::kLogEventName, event))) return false;
  b.commit(p);
  return true;
}

}  // namespace

void put_string(Buf &b, uint32_t field, otel_str s, size_t max_chars) {
  Utf8Scan sc = utf8_scan(s.ptr, s.len, max_chars);
  if (uint8_t *p = b.reserve_tail(len_field_size(field, sc.out_len)))
    b.commit(raw::utf8(raw::varint(raw::tag(p, field, kLen), sc.out_len), s.ptr, sc));
}

void msg_end_long(Buf &b, size_t mark, size_t len) {
  size_t k = varint_size(len);
  if (!b.reserve(k - 1)) return;
  uint8_t *body = b.data() + mark + 1;
  std::memmove(body + k - 1, body, len);
  raw::varint(b.data() + mark, len);
  b.advance(k - 1);
}

int32_t put_any_value(Buf &b, uint32_t field, const otel_value &v, size_t value_chars, int depth) {
  if (is_container(v)) return put_container(b, field, v, value_chars, depth);
  Leaf l;
  if (!measure_leaf(v, value_chars, &l)) return OTEL_E_INVALID_ARG;
  if (uint8_t *p = b.reserve_tail(len_field_size(field, l.size)))
    b.commit(write_leaf(raw::varint(raw::tag(p, field, kLen), l.size), l));
  return OTEL_OK;
}

int32_t put_attributes(Buf &b, uint32_t field, const otel_attr *attrs, size_t n,
                       const AttrLimits &limits, uint32_t *dropped) {
  if (!b.overflow()) {  // (an overflowed buffer takes no more bytes, even where it has room)
    const size_t start = b.size();
    uint8_t *p = field < 16 ? append_plain_attrs<true>(b, b.tail(), 0, field, attrs, n, limits)
                            : append_plain_attrs<false>(b, b.tail(), 0, field, attrs, n, limits);
    if (p) {
      b.commit(p);
      *dropped = 0;
      return OTEL_OK;
    }
    b.truncate(start);
  }
  return put_attributes_general(b, field, attrs, n, limits, dropped);
}

int32_t encode_log_record(Buf &b, const LogRecordArgs &a, const AttrLimits &limits, uint64_t now) {
  const size_t start = b.size();
  if (OTB_LIKELY(encode_plain(b, a, limits, now))) return OTEL_OK;
  b.truncate(start);
  return encode_general(b, a, limits, now);
}

}  // namespace otb
