// UTF-8 validation and repair. Protobuf `string` fields must hold valid UTF-8 (the Collector
// rejects a whole request otherwise), so every string from a caller passes through here; invalid
// sequences become U+FFFD, one per maximal ill-formed subpart (the Unicode recommendation, and
// what Python's bytes.decode(errors="replace") does).
#pragma once

#include <cstddef>
#include <string>

#include "otelbridge/otelbridge.h"

namespace otb {

struct Utf8Scan {
  size_t in_len;   // input bytes that make up the scanned characters
  size_t out_len;  // bytes of their repaired form
  bool valid;      // true when those input bytes are valid UTF-8 (out_len == in_len)
};

// Scans at most max_chars characters of s[0..n) (an invalid subpart counts as one character).
Utf8Scan utf8_scan(const char *s, size_t n, size_t max_chars);

// Writes the repaired form of s[0..n) to out (out_len bytes from utf8_scan). Returns bytes written.
size_t utf8_repair(const char *s, size_t n, char *out);

// The repaired form of s as a std::string.
std::string utf8_repaired(otel_str s);

}  // namespace otb
