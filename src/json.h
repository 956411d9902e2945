// Readers of our own wire bytes: OTLP/JSON for the file exporter (and http/json later), and one
// readable line per record for the console exporter. Both walk the protobuf request the pipeline
// framed, so every record is encoded once, on the calling thread, whatever the exporter.
#pragma once

#include <string>

#include "common.h"

namespace otb {

// Appends the OTLP/JSON form of an Export*ServiceRequest of `signal` to *out (no newline).
// False when the bytes do not parse.
bool request_to_json(Signal signal, const uint8_t *p, size_t n, std::string *out);

// Appends one human-readable line per record of an Export*ServiceRequest to *out.
bool request_to_console(Signal signal, const uint8_t *p, size_t n, std::string *out);

// Appends s as a JSON string literal (quotes, escapes for ", \\, control characters).
void json_string(std::string *out, const uint8_t *s, size_t n);
// Appends the base64 (RFC 4648, padded) of p, without quotes.
void base64(std::string *out, const uint8_t *p, size_t n);

}  // namespace otb
