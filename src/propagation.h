// W3C Trace Context (traceparent, tracestate) and W3C Baggage, for otel_propagation_inject and
// otel_propagation_extract. Pure functions over caller buffers: no allocation, no engine state
// beyond which propagators are enabled (OTEL_PROPAGATORS).
#pragma once

#include <string>

#include "otelbridge/otelbridge.h"

namespace otb {

struct Propagators {
  bool tracecontext = true;
  bool baggage = true;
};

// Parses an OTEL_PROPAGATORS value ("tracecontext,baggage", "none", ...). Unknown or unsupported
// names (b3, jaeger, xray...) give a warning through diag and are ignored.
Propagators parse_propagators(const std::string &value);

// traceparent "00-<32 hex trace id>-<16 hex span id>-<2 hex flags>" (55 chars). Returns false for
// anything the W3C spec says to ignore (bad version ff, bad length, non-hex or uppercase hex,
// all-zero ids...). Future versions (> 00) are parsed per the spec's forward-compatibility rules.
bool traceparent_parse(otel_str value, otel_span_context *out);
// Writes the 55-character traceparent of ctx (version 00) to out. False if ctx has an invalid id.
bool traceparent_format(const otel_span_context &ctx, char out[55]);
// True when value is a valid W3C tracestate (at most 32 list members, valid keys and values).
bool tracestate_valid(otel_str value);

// The whole inject/extract, as documented for the ABI functions in otelbridge.h. `ctx` is never
// NULL here (the ABI layer resolves "current").
int32_t propagation_inject(const Propagators &p, const otel_span_context &ctx, otel_str trace_state,
                           const otel_attr *baggage, size_t n_baggage, char *buf, size_t buf_len,
                           otel_header *headers, size_t max_headers, size_t *n_headers);
int32_t propagation_extract(const Propagators &p, const otel_header *headers, size_t n_headers,
                            otel_span_context *ctx, otel_str *trace_state, otel_attr *baggage,
                            size_t max_baggage, size_t *n_baggage, char *buf, size_t buf_len);

}  // namespace otb
