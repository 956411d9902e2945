// W3C Trace Context (traceparent, tracestate) and W3C Baggage.
//
// Everything here works on the caller's views and buffers: no allocation on inject or extract
// (only parse_propagators, which runs at configuration time, builds strings). Malformed input is
// never an error on extract: it is ignored, exactly as the specifications ask.
//
// Choices the specifications leave open:
//  - Header values are trimmed of optional whitespace (SP, HTAB) at both ends, as HTTP does
//    (RFC 9110 §5.5), before traceparent is parsed.
//  - Only the first traceparent header counts (it is not a list-valued field). tracestate and
//    baggage headers may repeat; they are combined in order, as RFC 9110 §5.3 says.
//  - tracestate keys follow Trace Context Level 1 (simple keys, or tenant@system). A list with a
//    malformed member, a duplicate key or more than 32 members is dropped whole. Extract returns
//    it normalized: members joined by "," with no optional whitespace and no empty members.
//  - Baggage values are percent-decoded per RFC 3986: "+" stays "+" (never a space), a "%" not
//    followed by two hex digits makes the member invalid, and decoded bytes that are not UTF-8
//    become U+FFFD (W3C Baggage). Inject percent-encodes every byte outside RFC 3986's unreserved
//    set (ALPHA DIGIT - . _ ~), so any decoder (form-style or not) reads the value back exactly.
//  - Baggage limits (W3C): at most 180 list-members, 4096 bytes per list-member and 8192 bytes in
//    all. Members past a limit are ignored (extract) or not written (inject); a single member over
//    4096 bytes is skipped and the ones after it still count. Properties (";k=v") are validated and
//    dropped. A repeated key keeps its first position and takes the last value.
//  - Inject skips baggage entries whose key is not an RFC 9110 token or whose value is not a
//    string; no usable entry means no baggage header. A tracestate that is not valid is not sent.
//  - All or nothing: when buf (or headers, or the caller's baggage array on extract) is too small,
//    the result is OTEL_E_INVALID_ARG and every output is empty (*n_headers 0; on extract a zero
//    context, an empty trace state and no baggage). Only what is actually returned needs room: a
//    dropped tracestate or a header that is not written needs none. max_baggage 0 means the caller
//    does not want baggage, which is then not parsed.
#include "propagation.h"

#include <cstring>

#include "diag.h"
#include "utf8.h"

namespace otb {
namespace {

constexpr size_t kTraceparentLen = 55;
constexpr size_t kMaxTracestateMembers = 32;
constexpr size_t kMaxBaggageMembers = 180;
constexpr size_t kMaxBaggageMemberBytes = 4096;
constexpr size_t kMaxBaggageBytes = 8192;
constexpr size_t kMaxStrLen = SIZE_MAX / 4;

const char kHex[] = "0123456789abcdef";

bool bad_str(otel_str s) {
  return (s.ptr == nullptr && s.len != 0) || s.len > kMaxStrLen;
}

inline bool is_digit(unsigned char c) {
  return c >= '0' && c <= '9';
}
inline bool is_lcalpha(unsigned char c) {
  return c >= 'a' && c <= 'z';
}
inline bool is_alpha(unsigned char c) {
  return is_lcalpha(c) || (c >= 'A' && c <= 'Z');
}
inline bool is_lchex(unsigned char c) {
  return is_digit(c) || (c >= 'a' && c <= 'f');
}
inline bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

// Any-case hex digit value, or -1.
inline int hex_value(unsigned char c) {
  if (is_digit(c)) return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 9110 token characters (baggage keys).
inline bool is_tchar(unsigned char c) {
  if (is_alpha(c) || is_digit(c)) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

// W3C Baggage baggage-octet: printable ASCII except space, DQUOTE, comma, semicolon, backslash.
inline bool is_baggage_octet(unsigned char c) {
  return c == 0x21 || (c >= 0x23 && c <= 0x2B) || (c >= 0x2D && c <= 0x3A) ||
         (c >= 0x3C && c <= 0x5B) || (c >= 0x5D && c <= 0x7E);
}

// RFC 3986 unreserved: written as they are by inject; every other byte is %XX.
inline bool is_unreserved(unsigned char c) {
  return is_alpha(c) || is_digit(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

struct View {
  const char *p;
  size_t n;
};

View trim_ows(const char *p, size_t n) {
  while (n && is_ows(p[0])) {
    p++;
    n--;
  }
  while (n && is_ows(p[n - 1])) n--;
  return View{p, n};
}

bool views_equal(View a, View b) {
  return a.n == b.n && (a.n == 0 || !memcmp(a.p, b.p, a.n));
}

// ASCII case-insensitive comparison of a header name with a lowercase literal.
bool name_is(otel_str name, const char *lower, size_t lower_len) {
  if (name.len != lower_len) return false;
  for (size_t i = 0; i < lower_len; i++) {
    unsigned char c = static_cast<unsigned char>(name.ptr[i]);
    if (c >= 'A' && c <= 'Z') c = static_cast<unsigned char>(c + 32);
    if (c != static_cast<unsigned char>(lower[i])) return false;
  }
  return true;
}

// Decodes n lowercase hex characters into n/2 bytes; false on any other character.
bool parse_lchex(const char *p, size_t n, uint8_t *out) {
  for (size_t i = 0; i < n; i += 2) {
    unsigned char a = static_cast<unsigned char>(p[i]), b = static_cast<unsigned char>(p[i + 1]);
    if (!is_lchex(a) || !is_lchex(b)) return false;
    out[i / 2] = static_cast<uint8_t>(hex_value(a) << 4 | hex_value(b));
  }
  return true;
}

bool all_zero(const uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (p[i]) return false;
  return true;
}

void write_hex(const uint8_t *p, size_t n, char *out) {
  for (size_t i = 0; i < n; i++) {
    out[2 * i] = kHex[p[i] >> 4];
    out[2 * i + 1] = kHex[p[i] & 0xF];
  }
}

// A bounded writer into the caller's buffer, or (counting()) a counter of what would be written.
// A write that does not fit sets !ok() and nothing more is written.
class Out {
 public:
  Out(char *buf, size_t cap) : buf_(buf), cap_(cap) {}
  static Out counter() {
    Out o(nullptr, SIZE_MAX);
    o.counting_ = true;
    return o;
  }
  bool ok() const { return ok_; }
  size_t pos() const { return pos_; }
  // A view of what was written from `start` to pos(); never a NULL pointer.
  otel_str view_from(size_t start) const {
    if (pos_ == start || !buf_) return otel_str{"", 0};
    return otel_str{buf_ + start, pos_ - start};
  }
  // Back to `pos`, with the ok() state there was at that point.
  void reset_to(size_t pos, bool was_ok) {
    pos_ = pos;
    ok_ = was_ok;
  }
  // Reserves n bytes at pos(): their address, or nullptr when counting or out of room (then
  // ok() is false). n == 0 always succeeds and returns nullptr.
  char *take(size_t n) {
    if (!ok_) return nullptr;
    if (counting_) {
      pos_ += n;
      return nullptr;
    }
    if (cap_ - pos_ < n) {
      ok_ = false;
      return nullptr;
    }
    char *p = n ? buf_ + pos_ : nullptr;
    pos_ += n;
    return p;
  }
  void put(const char *s, size_t n) {
    char *p = take(n);
    if (p) memcpy(p, s, n);
  }
  void put(char c) {
    char *p = take(1);
    if (p) *p = c;
  }
  void put_pct(unsigned char c) {
    static const char kUpperHex[] = "0123456789ABCDEF";
    char *p = take(3);
    if (p) {
      p[0] = '%';
      p[1] = kUpperHex[c >> 4];
      p[2] = kUpperHex[c & 0xF];
    }
  }

 private:
  char *buf_;
  size_t cap_;
  size_t pos_ = 0;
  bool ok_ = true;
  bool counting_ = false;
};

// ---- tracestate -------------------------------------------------------------------------------

inline bool is_ts_keychar(unsigned char c) {
  return is_lcalpha(c) || is_digit(c) || c == '_' || c == '-' || c == '*' || c == '/';
}

// key = simple-key / multi-tenant-key (Trace Context Level 1):
//   simple-key       = lcalpha 0*255( lcalpha / DIGIT / "_" / "-" / "*" / "/" )
//   multi-tenant-key = tenant-id "@" system-id
//   tenant-id        = ( lcalpha / DIGIT ) 0*240( keychar )
//   system-id        = lcalpha 0*13( keychar )
bool tracestate_key_valid(View k) {
  if (k.n == 0) return false;
  const char *at = static_cast<const char *>(memchr(k.p, '@', k.n));
  auto rest_ok = [](const char *p, size_t n) {
    for (size_t i = 0; i < n; i++)
      if (!is_ts_keychar(static_cast<unsigned char>(p[i]))) return false;
    return true;
  };
  const unsigned char c0 = static_cast<unsigned char>(k.p[0]);
  if (!at) return k.n <= 256 && is_lcalpha(c0) && rest_ok(k.p + 1, k.n - 1);
  size_t tenant = static_cast<size_t>(at - k.p), system = k.n - tenant - 1;
  if (tenant < 1 || tenant > 241 || system < 1 || system > 14) return false;
  if (!(is_lcalpha(c0) || is_digit(c0)) || !rest_ok(k.p + 1, tenant - 1)) return false;
  return is_lcalpha(static_cast<unsigned char>(at[1])) && rest_ok(at + 2, system - 1);
}

// value = 0*255( chr ) nblk-chr; chr = %x20 / nblk-chr; nblk-chr = %x21-2B / %x2D-3C / %x3E-7E
bool tracestate_value_valid(View v) {
  if (v.n == 0 || v.n > 256 || v.p[v.n - 1] == ' ') return false;
  for (size_t i = 0; i < v.n; i++) {
    unsigned char c = static_cast<unsigned char>(v.p[i]);
    if (c < 0x20 || c > 0x7E || c == ',' || c == '=') return false;
  }
  return true;
}

// Parses one or more tracestate header values (fed in order, as one combined list) and writes the
// normalized list to `out` (may be a counting Out). `valid` turns false for good at the first
// malformed member, duplicate key or member past the 32nd.
struct TracestateParser {
  explicit TracestateParser(Out *o) : out(o), start(o->pos()) {}
  Out *out;
  size_t start;
  View keys[kMaxTracestateMembers];
  size_t n = 0;
  bool valid = true;

  void feed(const char *p, size_t len) {
    size_t i = 0;
    while (valid && i <= len) {
      const char *comma = static_cast<const char *>(memchr(p + i, ',', len - i));
      size_t end = comma ? static_cast<size_t>(comma - p) : len;
      member(trim_ows(p + i, end - i));
      i = end + 1;
    }
  }
  void member(View m) {
    if (m.n == 0) return;  // empty and whitespace-only members are allowed
    const char *eq = static_cast<const char *>(memchr(m.p, '=', m.n));
    if (!eq) {
      valid = false;
      return;
    }
    View k{m.p, static_cast<size_t>(eq - m.p)};
    View v{eq + 1, m.n - k.n - 1};
    if (n == kMaxTracestateMembers || !tracestate_key_valid(k) || !tracestate_value_valid(v)) {
      valid = false;
      return;
    }
    for (size_t j = 0; j < n; j++)
      if (views_equal(keys[j], k)) {
        valid = false;
        return;
      }
    keys[n++] = k;
    if (n > 1) out->put(',');
    out->put(m.p, m.n);
  }
};

// ---- baggage ----------------------------------------------------------------------------------

bool baggage_key_valid(View k) {
  if (k.n == 0) return false;
  for (size_t i = 0; i < k.n; i++)
    if (!is_tchar(static_cast<unsigned char>(k.p[i]))) return false;
  return true;
}

// property = key OWS "=" OWS value / key OWS   (the caller trimmed the surrounding OWS)
bool baggage_property_valid(View prop) {
  const char *eq = static_cast<const char *>(memchr(prop.p, '=', prop.n));
  if (!eq) return baggage_key_valid(prop);
  View k = trim_ows(prop.p, static_cast<size_t>(eq - prop.p));
  View v = trim_ows(eq + 1, prop.n - static_cast<size_t>(eq - prop.p) - 1);
  if (!baggage_key_valid(k)) return false;
  for (size_t i = 0; i < v.n; i++)
    if (!is_baggage_octet(static_cast<unsigned char>(v.p[i]))) return false;
  return true;
}

// Percent-decodes v (already checked to be baggage-octets) into out[0..kMaxBaggageMemberBytes).
// Returns the decoded length, or SIZE_MAX for a "%" without two hex digits after it.
size_t percent_decode(View v, char *out) {
  size_t o = 0;
  for (size_t i = 0; i < v.n; i++) {
    unsigned char c = static_cast<unsigned char>(v.p[i]);
    if (c == '%') {
      if (i + 2 >= v.n) return SIZE_MAX;  // fewer than two characters left
      int hi = hex_value(static_cast<unsigned char>(v.p[i + 1]));
      int lo = hex_value(static_cast<unsigned char>(v.p[i + 2]));
      if (hi < 0 || lo < 0) return SIZE_MAX;
      out[o++] = static_cast<char>(hi << 4 | lo);
      i += 2;
    } else {
      out[o++] = static_cast<char>(c);
    }
  }
  return o;
}

// Parses one or more baggage header values (fed in order, as one combined list) into entries,
// their keys and decoded values written to `out`.
struct BaggageParser {
  BaggageParser(Out *o, otel_attr *e, size_t cap) : out(o), entries(e), max_entries(cap) {}
  Out *out;
  otel_attr *entries;
  size_t max_entries;     // > 0
  size_t n_entries = 0;   // distinct keys found
  size_t n_members = 0;   // valid list-members read (duplicates included), for the 180 limit
  size_t bytes = 0;       // bytes of those list-members, with one "," between them
  bool full = false;      // a limit was reached (or an error): ignore the rest
  bool too_many = false;  // more distinct keys than max_entries

  void feed(const char *p, size_t len) {
    size_t i = 0;
    while (!full && i <= len) {
      const char *comma = static_cast<const char *>(memchr(p + i, ',', len - i));
      size_t end = comma ? static_cast<size_t>(comma - p) : len;
      member(trim_ows(p + i, end - i));
      i = end + 1;
    }
  }

  void member(View m) {
    if (m.n == 0 || m.n > kMaxBaggageMemberBytes) return;
    const char *eq = static_cast<const char *>(memchr(m.p, '=', m.n));
    if (!eq) return;
    View key = trim_ows(m.p, static_cast<size_t>(eq - m.p));
    if (!baggage_key_valid(key)) return;
    const char *rest = eq + 1, *end = m.p + m.n;
    const char *semi =
        static_cast<const char *>(memchr(rest, ';', static_cast<size_t>(end - rest)));
    View raw = trim_ows(rest, static_cast<size_t>((semi ? semi : end) - rest));
    for (size_t i = 0; i < raw.n; i++)
      if (!is_baggage_octet(static_cast<unsigned char>(raw.p[i]))) return;
    while (semi) {
      const char *p = semi + 1;
      semi = static_cast<const char *>(memchr(p, ';', static_cast<size_t>(end - p)));
      if (!baggage_property_valid(trim_ows(p, static_cast<size_t>((semi ? semi : end) - p))))
        return;
    }
    char decoded[kMaxBaggageMemberBytes];
    size_t dn = percent_decode(raw, decoded);
    if (dn == SIZE_MAX) return;

    // A valid list-member: apply the limits, then keep it.
    size_t add = m.n + (n_members ? 1 : 0);
    if (n_members == kMaxBaggageMembers || bytes + add > kMaxBaggageBytes) {
      full = true;
      return;
    }
    n_members++;
    bytes += add;

    size_t slot = n_entries;
    for (size_t j = 0; j < n_entries; j++) {
      const otel_str &k = entries[j].key;
      if (k.len == key.n && !memcmp(k.ptr, key.p, key.n)) {
        slot = j;  // a repeated key: first position, last value
        break;
      }
    }
    if (slot == n_entries) {
      if (n_entries == max_entries) {
        too_many = full = true;
        return;
      }
      size_t kpos = out->pos();
      out->put(key.p, key.n);
      entries[slot].key = out->view_from(kpos);
      n_entries++;
    }
    Utf8Scan sc = utf8_scan(decoded, dn, SIZE_MAX);
    size_t vpos = out->pos();
    char *vp = out->take(sc.out_len);
    if (vp) {
      if (sc.valid)
        memcpy(vp, decoded, dn);
      else
        utf8_repair(decoded, dn, vp);
    }
    if (!out->ok()) {
      full = true;
      return;
    }
    otel_value &v = entries[slot].value;
    v.type = OTEL_VALUE_STRING;
    v.reserved_ = 0;
    v.u.str = out->view_from(vpos);
  }
};

// Writes the percent-encoded form of a UTF-8 string (invalid sequences become U+FFFD).
void percent_encode(otel_str s, Out *out) {
  const char *p = s.ptr;
  size_t n = s.len, i = 0;
  while (i < n) {
    unsigned char c = static_cast<unsigned char>(p[i]);
    if (c < 0x80) {
      if (is_unreserved(c))
        out->put(static_cast<char>(c));
      else
        out->put_pct(c);
      i++;
      continue;
    }
    Utf8Scan sc = utf8_scan(p + i, n - i, 1);
    if (sc.valid) {
      for (size_t k = 0; k < sc.in_len; k++) out->put_pct(static_cast<unsigned char>(p[i + k]));
    } else {
      out->put_pct(0xEF);
      out->put_pct(0xBF);
      out->put_pct(0xBD);
    }
    i += sc.in_len;
  }
}

bool inject_entry_usable(const otel_attr &a) {
  return a.value.type == OTEL_VALUE_STRING && baggage_key_valid(View{a.key.ptr, a.key.len});
}

bool same_key(const otel_attr &a, const otel_attr &b) {
  return a.key.len == b.key.len && (a.key.len == 0 || !memcmp(a.key.ptr, b.key.ptr, a.key.len));
}

// Writes the baggage list (no header name) for the usable entries. Returns the number of members
// written; out->ok() is false when the buffer is too small.
size_t write_baggage(const otel_attr *baggage, size_t n, Out *out) {
  size_t members = 0, bytes = 0;
  for (size_t i = 0; i < n && members < kMaxBaggageMembers; i++) {
    const otel_attr &e = baggage[i];
    if (!inject_entry_usable(e)) continue;
    bool seen = false;
    for (size_t j = 0; j < i && !seen; j++)
      seen = inject_entry_usable(baggage[j]) && same_key(baggage[j], e);
    if (seen) continue;  // written at its first position already
    const otel_attr *last = &e;
    for (size_t j = i + 1; j < n; j++)
      if (inject_entry_usable(baggage[j]) && same_key(baggage[j], e)) last = &baggage[j];

    Out count = Out::counter();
    count.put(e.key.ptr, e.key.len);
    count.put('=');
    percent_encode(last->value.u.str, &count);
    size_t len = count.pos();
    if (len > kMaxBaggageMemberBytes) {
      diag(OTEL_DIAG_DEBUG, "baggage: entry %.*s is over %zu bytes encoded; not propagated",
           static_cast<int>(e.key.len < 64 ? e.key.len : 64), e.key.ptr, kMaxBaggageMemberBytes);
      continue;
    }
    size_t add = len + (members ? 1 : 0);
    if (bytes + add > kMaxBaggageBytes) {
      diag(OTEL_DIAG_DEBUG, "baggage: over %zu bytes; the remaining entries are not propagated",
           kMaxBaggageBytes);
      break;
    }
    if (members) out->put(',');
    out->put(e.key.ptr, e.key.len);
    out->put('=');
    percent_encode(last->value.u.str, out);
    members++;
    bytes += add;
  }
  return members;
}

}  // namespace

// ---- OTEL_PROPAGATORS -------------------------------------------------------------------------

Propagators parse_propagators(const std::string &value) {
  Propagators p;
  View all = trim_ows(value.data(), value.size());
  if (all.n == 0) return p;  // unset or empty: the default, tracecontext,baggage
  p.tracecontext = p.baggage = false;
  bool none = false, other = false;
  size_t i = 0;
  while (i <= all.n) {
    const char *comma = static_cast<const char *>(memchr(all.p + i, ',', all.n - i));
    size_t end = comma ? static_cast<size_t>(comma - all.p) : all.n;
    View item = trim_ows(all.p + i, end - i);
    i = end + 1;
    if (item.n == 0) continue;
    std::string name(item.p, item.n);
    for (char &c : name)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
    if (name == "tracecontext") {
      p.tracecontext = other = true;
    } else if (name == "baggage") {
      p.baggage = other = true;
    } else if (name == "none") {
      none = true;
    } else if (name == "b3" || name == "b3multi" || name == "jaeger" || name == "xray" ||
               name == "ottrace") {
      diag(OTEL_DIAG_WARN, "OTEL_PROPAGATORS: propagator \"%s\" is not supported; ignored",
           name.c_str());
    } else {
      diag(OTEL_DIAG_WARN, "OTEL_PROPAGATORS: unknown propagator \"%.*s\"; ignored",
           static_cast<int>(item.n < 64 ? item.n : 64), item.p);
    }
  }
  if (none && other)
    diag(OTEL_DIAG_WARN,
         "OTEL_PROPAGATORS: \"none\" is listed with other propagators; \"none\" is ignored");
  return p;
}

// ---- traceparent ------------------------------------------------------------------------------

bool traceparent_parse(otel_str value, otel_span_context *out) {
  otel_span_context ctx;
  memset(&ctx, 0, sizeof ctx);
  if (out) *out = ctx;
  const char *p = value.ptr;
  size_t n = value.len;
  if (!p || n < kTraceparentLen) return false;
  // version "-" trace-id "-" parent-id "-" trace-flags
  unsigned char v0 = static_cast<unsigned char>(p[0]), v1 = static_cast<unsigned char>(p[1]);
  if (!is_lchex(v0) || !is_lchex(v1) || p[2] != '-') return false;
  if (v0 == 'f' && v1 == 'f') return false;  // version ff is forbidden
  if (v0 == '0' && v1 == '0') {
    if (n != kTraceparentLen) return false;
  } else if (n > kTraceparentLen && p[kTraceparentLen] != '-') {
    return false;  // a future version may only add fields after another "-"
  }
  if (p[35] != '-' || p[52] != '-') return false;
  if (!parse_lchex(p + 3, 32, ctx.trace_id) || !parse_lchex(p + 36, 16, ctx.span_id) ||
      !parse_lchex(p + 53, 2, &ctx.trace_flags))
    return false;
  if (all_zero(ctx.trace_id, 16) || all_zero(ctx.span_id, 8)) return false;
  if (out) *out = ctx;
  return true;
}

bool traceparent_format(const otel_span_context &ctx, char out[55]) {
  if (all_zero(ctx.trace_id, 16) || all_zero(ctx.span_id, 8)) return false;
  out[0] = '0';
  out[1] = '0';
  out[2] = '-';
  write_hex(ctx.trace_id, 16, out + 3);
  out[35] = '-';
  write_hex(ctx.span_id, 8, out + 36);
  out[52] = '-';
  write_hex(&ctx.trace_flags, 1, out + 53);
  return true;
}

bool tracestate_valid(otel_str value) {
  if (bad_str(value)) return false;
  Out count = Out::counter();
  TracestateParser ts(&count);
  if (value.len) ts.feed(value.ptr, value.len);
  return ts.valid;
}

// ---- inject / extract -------------------------------------------------------------------------

int32_t propagation_inject(const Propagators &p, const otel_span_context &ctx, otel_str trace_state,
                           const otel_attr *baggage, size_t n_baggage, char *buf, size_t buf_len,
                           otel_header *headers, size_t max_headers, size_t *n_headers) {
  if (!n_headers) return OTEL_E_INVALID_ARG;
  *n_headers = 0;
  if ((!buf && buf_len) || (!headers && max_headers) || (!baggage && n_baggage) ||
      bad_str(trace_state) || n_baggage > SIZE_MAX / 64)
    return OTEL_E_INVALID_ARG;
  for (size_t i = 0; i < n_baggage; i++) {
    if (bad_str(baggage[i].key)) return OTEL_E_INVALID_ARG;
    if (baggage[i].value.type == OTEL_VALUE_STRING && bad_str(baggage[i].value.u.str))
      return OTEL_E_INVALID_ARG;
  }

  Out out(buf, buf_len);
  otel_header found[3];
  size_t nh = 0;
  auto add = [&](size_t name_pos, size_t value_pos) {
    found[nh].name = out.view_from(name_pos);
    found[nh].name.len = value_pos - name_pos;
    found[nh].value = out.view_from(value_pos);
    nh++;
  };

  char tp[kTraceparentLen];
  if (p.tracecontext && traceparent_format(ctx, tp)) {
    size_t name_pos = out.pos();
    out.put("traceparent", 11);
    size_t value_pos = out.pos();
    out.put(tp, sizeof tp);
    add(name_pos, value_pos);

    if (trace_state.len) {
      name_pos = out.pos();
      bool was_ok = out.ok();
      out.put("tracestate", 10);
      value_pos = out.pos();
      TracestateParser ts(&out);
      ts.feed(trace_state.ptr, trace_state.len);
      if (ts.valid && ts.n) {
        add(name_pos, value_pos);
      } else {
        // Only empty members, or an invalid list: no header (and no buffer needed for it).
        if (!ts.valid) diag(OTEL_DIAG_DEBUG, "tracestate to inject is not valid; not propagated");
        out.reset_to(name_pos, was_ok);
      }
    }
  }

  if (p.baggage && n_baggage) {
    size_t name_pos = out.pos();
    bool was_ok = out.ok();
    out.put("baggage", 7);
    size_t value_pos = out.pos();
    if (write_baggage(baggage, n_baggage, &out))
      add(name_pos, value_pos);
    else
      out.reset_to(name_pos, was_ok);  // no usable entry: no header
  }

  if (!out.ok() || nh > max_headers) return OTEL_E_INVALID_ARG;
  for (size_t i = 0; i < nh; i++) headers[i] = found[i];
  *n_headers = nh;
  return OTEL_OK;
}

int32_t propagation_extract(const Propagators &p, const otel_header *headers, size_t n_headers,
                            otel_span_context *ctx, otel_str *trace_state, otel_attr *baggage,
                            size_t max_baggage, size_t *n_baggage, char *buf, size_t buf_len) {
  if (ctx) memset(ctx, 0, sizeof *ctx);
  if (trace_state) *trace_state = otel_str{nullptr, 0};
  if (n_baggage) *n_baggage = 0;
  if (!ctx || (!headers && n_headers) || (!buf && buf_len) || (!baggage && max_baggage) ||
      (max_baggage && !n_baggage) || n_headers > SIZE_MAX / 64)
    return OTEL_E_INVALID_ARG;
  for (size_t i = 0; i < n_headers; i++)
    if (bad_str(headers[i].name) || bad_str(headers[i].value)) return OTEL_E_INVALID_ARG;

  Out out(buf, buf_len);
  otel_span_context found;
  memset(&found, 0, sizeof found);
  otel_str ts_view{nullptr, 0};

  if (p.tracecontext) {
    bool have_ctx = false;
    for (size_t i = 0; i < n_headers; i++) {
      if (!name_is(headers[i].name, "traceparent", 11)) continue;
      View v = trim_ows(headers[i].value.ptr, headers[i].value.len);
      have_ctx = traceparent_parse(otel_str{v.p, v.n}, &found);
      break;  // only the first traceparent counts
    }
    if (have_ctx) found.is_remote = 1;
    // tracestate only with a valid traceparent: every tracestate header, combined in order.
    if (have_ctx && trace_state) {
      TracestateParser ts(&out);
      for (size_t i = 0; i < n_headers && ts.valid; i++)
        if (name_is(headers[i].name, "tracestate", 10) && headers[i].value.len)
          ts.feed(headers[i].value.ptr, headers[i].value.len);
      if (ts.valid && ts.n)
        ts_view = out.view_from(0);
      else
        out.reset_to(0, true);  // a malformed list is dropped whole: not a buffer problem
    }
  }

  size_t nb = 0;
  if (p.baggage && max_baggage && out.ok()) {
    BaggageParser bp(&out, baggage, max_baggage);
    for (size_t i = 0; i < n_headers && !bp.full; i++)
      if (name_is(headers[i].name, "baggage", 7) && headers[i].value.len)
        bp.feed(headers[i].value.ptr, headers[i].value.len);
    if (bp.too_many) return OTEL_E_INVALID_ARG;
    nb = bp.n_entries;
  }

  if (!out.ok()) return OTEL_E_INVALID_ARG;
  *ctx = found;
  if (trace_state) *trace_state = ts_view;
  if (n_baggage) *n_baggage = nb;
  return OTEL_OK;
}

}  // namespace otb
