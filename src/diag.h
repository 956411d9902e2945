// The engine's own diagnostics: to stderr, or to a callback the host registered. The engine never
// logs through itself (DESIGN.md §2 rule 7).
#pragma once

#include <cstddef>
#include <cstdint>

#include "otelbridge/otelbridge.h"

namespace otb {

// Current maximum level (OTEL_DIAG_*); 0 = silent.
int32_t diag_level();
void diag_set_level(int32_t level);
// Parses an OTEL_LOG_LEVEL value; returns -1 when unknown.
int32_t diag_parse_level(const char *s, size_t n);
void diag_set_sink(otel_diag_fn fn, void *user_data);

// printf-style message at `level`; cheap when the level is filtered out.
void diag(int32_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

}  // namespace otb
