// UTF-8 validation and repair. Protobuf `string` fields must hold valid UTF-8 (the Collector
// rejects a whole request otherwise), so every string from a caller passes through here; invalid
// sequences become U+FFFD, one per maximal ill-formed subpart (the Unicode recommendation, and
// what Python's bytes.decode(errors="replace") does).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "otelbridge/otelbridge.h"

namespace otb {

struct Utf8Scan {
  size_t in_len;   // input bytes that make up the scanned characters
  size_t out_len;  // bytes of their repaired form
  bool valid;      // true when those input bytes are valid UTF-8 (out_len == in_len)
};

// True when s[0..n), n <= 32, is all ASCII. Reads only inside s (overlapping loads); s may be
// NULL when n is 0.
inline bool utf8_is_ascii_short(const char *s, size_t n) {
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
    }
  } else if (n >= 4) {
    uint32_t a, b;
    std::memcpy(&a, s, 4);
    std::memcpy(&b, s + n - 4, 4);
    acc = a | b;
  } else if (n > 0) {
    const unsigned char *u = reinterpret_cast<const unsigned char *>(s);
    acc = u[0] | u[n / 2] | u[n - 1];
  } else {
    return true;
  }
  return (acc & 0x8080808080808080ull) == 0;
}

// utf8_scan for the strings its inline part does not settle.
Utf8Scan utf8_scan_long(const char *s, size_t n, size_t max_chars);

// Scans at most max_chars characters of s[0..n) (an invalid subpart counts as one character).
// Short ASCII strings, the common case, are settled inline.
inline Utf8Scan utf8_scan(const char *s, size_t n, size_t max_chars) {
  size_t m = n < max_chars ? n : max_chars;  // an ASCII prefix of m bytes is the answer
  if (__builtin_expect(m <= 32, 1) && utf8_is_ascii_short(s, m)) return Utf8Scan{m, m, true};
  return utf8_scan_long(s, n, max_chars);
}

// Writes the repaired form of s[0..n) to out (out_len bytes from utf8_scan). Returns bytes written.
size_t utf8_repair(const char *s, size_t n, char *out);

// The repaired form of s as a std::string.
std::string utf8_repaired(otel_str s);

}  // namespace otb
