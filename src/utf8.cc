#include "utf8.h"

#include <cstdint>
#include <cstring>

namespace otb {
namespace {

// Length of the valid sequence starting at s[i] (1..4), or 0 when the sequence is ill-formed, in
// which case *bad is the length of its maximal ill-formed subpart (at least 1).
inline size_t seq_len(const unsigned char *s, size_t i, size_t n, size_t *bad) {
  unsigned char c = s[i];
  if (c < 0x80) return 1;
  size_t need;
  unsigned char lo = 0x80, hi = 0xBF;  // allowed range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    need = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    need = 3;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;  // no UTF-16 surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    need = 4;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;  // nothing above U+10FFFF
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

// Length of the leading all-ASCII run of s[0..n), eight bytes at a time (sixteen while it lasts).
inline size_t ascii_prefix(const unsigned char *s, size_t n) {
  constexpr uint64_t kHigh = 0x8080808080808080ull;
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    uint64_t a, b;
    std::memcpy(&a, s + i, 8);
    std::memcpy(&b, s + i + 8, 8);
    if ((a | b) & kHigh) break;
  }
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, s + i, 8);
    if (w & kHigh) break;
  }
  while (i < n && s[i] < 0x80) i++;
  return i;
}

}  // namespace

Utf8Scan utf8_scan_long(const char *str, size_t n, size_t max_chars) {
  const unsigned char *s = reinterpret_cast<const unsigned char *>(str);
  size_t m = n < max_chars ? n : max_chars;
  // Each ASCII byte is one character, so an ASCII prefix needs no per-character work.
  size_t i = m ? ascii_prefix(s, m) : 0;
  if (i == m) return Utf8Scan{m, m, true};
  size_t out = i, chars = i;
  bool valid = true;
  while (i < n && chars < max_chars) {
    size_t bad = 0;
    size_t len = seq_len(s, i, n, &bad);
    if (len) {
      i += len;
      out += len;
    } else {
      i += bad;
      out += 3;  // U+FFFD is EF BF BD
      valid = false;
    }
    chars++;
  }
  return Utf8Scan{i, out, valid};
}

size_t utf8_repair(const char *str, size_t n, char *out) {
  const unsigned char *s = reinterpret_cast<const unsigned char *>(str);
  size_t i = 0, o = 0;
  while (i < n) {
    size_t bad = 0;
    size_t len = seq_len(s, i, n, &bad);
    if (len) {
      std::memcpy(out + o, s + i, len);
      i += len;
      o += len;
    } else {
      out[o++] = static_cast<char>(0xEF);
      out[o++] = static_cast<char>(0xBF);
      out[o++] = static_cast<char>(0xBD);
      i += bad;
    }
  }
  return o;
}

std::string utf8_repaired(otel_str s) {
  Utf8Scan sc = utf8_scan(s.ptr, s.len, SIZE_MAX);
  if (sc.valid) return std::string(s.ptr, s.len);
  std::string out(sc.out_len, '\0');
  utf8_repair(s.ptr, s.len, &out[0]);
  return out;
}

}  // namespace otb
