package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"

	"go.opentelemetry.io/collector/consumer/consumererror"
)

// Fault modes accepted by POST /fault (and -fault).
const (
	ModeOK                       = "ok"
	ModeUnavailable              = "unavailable"
	ModeUnavailableRetry         = "unavailable_retry"
	ModeResourceExhausted        = "resource_exhausted"
	ModeResourceExhaustedNoRetry = "resource_exhausted_noretry"
	ModeInvalid                  = "invalid"
	ModePermanent                = "permanent"
	ModeHang                     = "hang"
	ModePartial                  = "partial"
)

var validModes = map[string]bool{
	ModeOK: true, ModeUnavailable: true, ModeUnavailableRetry: true,
	ModeResourceExhausted: true, ModeResourceExhaustedNoRetry: true,
	ModeInvalid: true, ModePermanent: true, ModeHang: true, ModePartial: true,
}

// Signals.
const (
	SignalLogs    = "logs"
	SignalTraces  = "traces"
	SignalMetrics = "metrics"
)

var allSignals = []string{SignalLogs, SignalTraces, SignalMetrics}

// defaultRetryAfter is used by the *_retry modes when retry_after_s is absent.
const defaultRetryAfter = 1.0

// FaultSpec is the JSON body of POST /fault and the answer of GET /fault.
type FaultSpec struct {
	// Mode is one of the Mode* constants. Empty means "ok".
	Mode string `json:"mode"`
	// Count is how many requests get the fault before it reverts to "ok".
	// 0 means "until changed". In GET /fault it is the remaining count.
	Count int `json:"count"`
	// RetryAfterS is the delay put into RetryInfo for unavailable_retry and
	// resource_exhausted (gRPC keeps fractions, HTTP Retry-After is truncated
	// to whole seconds). Absent means 1 second.
	RetryAfterS *float64 `json:"retry_after_s,omitempty"`
	// DelayMs is how long "hang" holds a request. 0 = until the client goes
	// away or the process ends.
	DelayMs int64 `json:"delay_ms"`
	// Signal restricts the fault to "logs", "traces" or "metrics";
	// empty = all signals. Requests of other signals are accepted normally
	// and do not consume Count.
	Signal string `json:"signal,omitempty"`
	// Rejected and Message (only for "partial"): the request is accepted
	// and written, and the answer is a success whose partial_success says
	// Rejected items were rejected, with Message as error_message.
	Rejected int64  `json:"rejected,omitempty"`
	Message  string `json:"message,omitempty"`
}

func (f *FaultSpec) normalize() error {
	if f.Mode == "" {
		f.Mode = ModeOK
	}
	if !validModes[f.Mode] {
		return fmt.Errorf("unknown mode %q", f.Mode)
	}
	if f.Count < 0 {
		return errors.New("count must be >= 0")
	}
	if f.DelayMs < 0 {
		return errors.New("delay_ms must be >= 0")
	}
	if f.RetryAfterS != nil && *f.RetryAfterS < 0 {
		return errors.New("retry_after_s must be >= 0")
	}
	if f.Rejected < 0 {
		return errors.New("rejected must be >= 0")
	}
	if f.Mode != ModePartial && (f.Rejected != 0 || f.Message != "") {
		return errors.New(`rejected and message go with mode "partial" only`)
	}
	switch f.Signal {
	case "", SignalLogs, SignalTraces, SignalMetrics:
	default:
		return fmt.Errorf("unknown signal %q", f.Signal)
	}
	return nil
}

func (f FaultSpec) retryAfter() time.Duration {
	s := defaultRetryAfter
	if f.RetryAfterS != nil {
		s = *f.RetryAfterS
	}
	return time.Duration(s * float64(time.Second))
}

// ParseFaultSpec decodes and validates a fault spec.
func ParseFaultSpec(b []byte) (FaultSpec, error) {
	var f FaultSpec
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return f, err
	}
	return f, f.normalize()
}

// faultState holds the current fault; it is changed at run time.
type faultState struct {
	mu  sync.Mutex
	cur FaultSpec
}

func (s *faultState) set(f FaultSpec) {
	s.mu.Lock()
	s.cur = f
	s.mu.Unlock()
}

func (s *faultState) get() FaultSpec {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur
}

// take decides, atomically, what happens to one request of the signal.
func (s *faultState) take(signal string) FaultSpec {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.cur
	if f.Mode == ModeOK || (f.Signal != "" && f.Signal != signal) {
		return FaultSpec{Mode: ModeOK}
	}
	if s.cur.Count > 0 {
		s.cur.Count--
		if s.cur.Count == 0 {
			s.cur = FaultSpec{Mode: ModeOK}
		}
	}
	return f
}

func retryStatus(code codes.Code, msg string, d time.Duration) error {
	st, err := status.New(code, msg).WithDetails(&errdetails.RetryInfo{RetryDelay: durationpb.New(d)})
	if err != nil { // cannot happen with a valid proto message
		return status.Error(code, msg)
	}
	return st.Err()
}

// faultError returns the error the consumer returns for an error mode; the
// otlpreceiver turns it into the gRPC status / HTTP status code.
func faultError(f FaultSpec) error {
	switch f.Mode {
	case ModeUnavailable:
		// Plain (non-permanent) error: gRPC UNAVAILABLE, HTTP 503, no RetryInfo.
		return errors.New("otbreceiver: injected fault: unavailable")
	case ModeUnavailableRetry:
		return retryStatus(codes.Unavailable, "otbreceiver: injected fault: unavailable_retry", f.retryAfter())
	case ModeResourceExhausted:
		return retryStatus(codes.ResourceExhausted, "otbreceiver: injected fault: resource_exhausted", f.retryAfter())
	case ModeResourceExhaustedNoRetry:
		return status.Error(codes.ResourceExhausted, "otbreceiver: injected fault: resource_exhausted_noretry")
	case ModeInvalid:
		return status.Error(codes.InvalidArgument, "otbreceiver: injected fault: invalid")
	case ModePermanent:
		// Permanent error without a gRPC status: gRPC INTERNAL, HTTP 500.
		return consumererror.NewPermanent(errors.New("otbreceiver: injected fault: permanent"))
	}
	return nil
}

// maxArrivals bounds signalStats.ArrivalsMs.
const maxArrivals = 10000

// signalStats are the counters of one signal reported by GET /stats.
type signalStats struct {
	// Requests is every request that reached the consumer (non-empty ones;
	// the receiver answers empty requests itself).
	Requests int64 `json:"requests"`
	// Accepted is the number of requests written to the jsonl file.
	Accepted int64 `json:"accepted"`
	// Items counts log records / spans / metric data points accepted.
	Items int64 `json:"items"`
	// Hanging is the number of requests being held by "hang" right now.
	Hanging int64 `json:"hanging"`
	// Rejected is the sum of the rejected counts sent back in partial
	// successes (the items stay counted in Items: the whole request is
	// written).
	Rejected int64 `json:"rejected"`
	// Transports counts requests by how they came: "grpc", "http".
	Transports map[string]int64 `json:"transports"`
	// ContentTypes counts requests by Content-Type ("application/x-protobuf",
	// "application/json", "application/grpc", ...; parameters cut off).
	ContentTypes map[string]int64 `json:"content_types"`
	// Encodings counts HTTP requests by Content-Encoding as sent ("gzip";
	// "identity" when the header is absent). gRPC message compression is not
	// visible here.
	Encodings map[string]int64 `json:"encodings"`
	// LastHeaders are the headers (HTTP) or metadata (gRPC) of the last
	// request that reached the consumer, names lower-case.
	LastHeaders map[string][]string `json:"last_headers"`
	// ArrivalsMs are the arrival times (Unix milliseconds, fractional) of the
	// last maxArrivals requests that reached the consumer, oldest first:
	// tests measure retry delays with them.
	ArrivalsMs []float64 `json:"arrivals_ms"`
	// Outcomes counts requests by final outcome: "ok", each error mode name,
	// "hang_ok" (held for delay_ms, then accepted), "hang_aborted" (held
	// until the client went away or shutdown; not written), "write_error".
	Outcomes map[string]int64 `json:"outcomes"`
}

type stats struct {
	mu  sync.Mutex
	sig map[string]*signalStats
}

func newStats() *stats {
	s := &stats{sig: map[string]*signalStats{}}
	for _, n := range allSignals {
		s.sig[n] = &signalStats{Outcomes: map[string]int64{}, Transports: map[string]int64{},
			ContentTypes: map[string]int64{}, Encodings: map[string]int64{}, LastHeaders: map[string][]string{},
			ArrivalsMs: []float64{}}
	}
	return s
}

func (s *stats) update(signal string, fn func(*signalStats)) {
	s.mu.Lock()
	fn(s.sig[signal])
	s.mu.Unlock()
}

func (s *stats) snapshot() map[string]signalStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]signalStats{}
	for k, v := range s.sig {
		c := *v
		c.Outcomes = maps.Clone(v.Outcomes)
		c.Transports = maps.Clone(v.Transports)
		c.ContentTypes = maps.Clone(v.ContentTypes)
		c.Encodings = maps.Clone(v.Encodings)
		c.ArrivalsMs = slices.Clone(v.ArrivalsMs)
		c.LastHeaders = map[string][]string{}
		for h, vals := range v.LastHeaders {
			c.LastHeaders[h] = slices.Clone(vals)
		}
		out[k] = c
	}
	return out
}
