package main

// The "otbinspect" extension: hooks the harness into the otlpreceiver through
// the Collector's own extension points, so requests still take the
// receiver's real path (decompression, decoding, TLS, status mapping):
//
//   - as a server authenticator (configauth, always succeeds) it sees every
//     request's headers as they came off the wire, before the HTTP
//     decompressor removes Content-Encoding, and puts a *requestInfo into the
//     request context;
//   - the consumer (server.go) finds that requestInfo, copies the headers into
//     the per-signal stats and, in "partial" mode, asks for a partial-success
//     answer;
//   - as an HTTP and gRPC server middleware (configmiddleware) it replaces the
//     receiver's empty Export*ServiceResponse by one with partial_success set
//     (the otlpreceiver itself cannot send partial_success).

import (
	"bytes"
	"context"
	"net/http"
	"reflect"
	"strings"
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/extension/extensionauth"
	"go.opentelemetry.io/collector/extension/extensionmiddleware"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

var inspectID = component.MustNewID("otbinspect")

// requestInfo travels in the context of one request, from the authenticator
// through the consumer to the middleware.
type requestInfo struct {
	transport string              // "grpc" or "http"
	headers   map[string][]string // lower-case names, as received
	mu        sync.Mutex
	signal    string   // set by the consumer
	partial   *partial // set by the consumer in "partial" mode
}

type partial struct {
	rejected int64
	message  string
}

func (ri *requestInfo) setPartial(sig string, p partial) {
	ri.mu.Lock()
	ri.signal, ri.partial = sig, &p
	ri.mu.Unlock()
}

func (ri *requestInfo) getPartial() (string, *partial) {
	ri.mu.Lock()
	defer ri.mu.Unlock()
	return ri.signal, ri.partial
}

type requestInfoKey struct{}

func requestInfoFrom(ctx context.Context) *requestInfo {
	ri, _ := ctx.Value(requestInfoKey{}).(*requestInfo)
	return ri
}

// inspectExt is the extension component. It is given to the receiver through
// the host's GetExtensions().
type inspectExt struct{}

var (
	_ extensionauth.Server           = inspectExt{}
	_ extensionmiddleware.HTTPServer = inspectExt{}
	_ extensionmiddleware.GRPCServer = inspectExt{}
	_ component.Component            = inspectExt{}
)

func (inspectExt) Start(context.Context, component.Host) error { return nil }
func (inspectExt) Shutdown(context.Context) error              { return nil }

// Authenticate records the headers (HTTP) or metadata (gRPC) and never fails.
// HTTP header names arrive canonicalised ("Content-Encoding"), gRPC metadata
// lower-case, with pseudo-headers such as ":authority"; both are stored
// lower-case.
func (inspectExt) Authenticate(ctx context.Context, sources map[string][]string) (context.Context, error) {
	ri := &requestInfo{transport: "http", headers: make(map[string][]string, len(sources))}
	for k, v := range sources {
		lk := strings.ToLower(k)
		ri.headers[lk] = append(ri.headers[lk], v...)
	}
	if ct := ri.headers["content-type"]; len(ct) > 0 && strings.HasPrefix(ct[0], "application/grpc") {
		ri.transport = "grpc"
	}
	return context.WithValue(ctx, requestInfoKey{}, ri), nil
}

// GetHTTPHandler buffers the receiver's answer and, when the consumer asked
// for a partial success, replaces a 200 answer by an Export*ServiceResponse
// with partial_success, encoded like the receiver's answer (protobuf or JSON,
// which follows the request's Content-Type).
func (inspectExt) GetHTTPHandler(context.Context) (extensionmiddleware.WrapHTTPHandlerFunc, error) {
	return func(_ context.Context, next http.Handler) (http.Handler, error) {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			ri := requestInfoFrom(r.Context())
			if ri == nil {
				next.ServeHTTP(w, r)
				return
			}
			bw := &bufferedResponse{header: http.Header{}}
			next.ServeHTTP(bw, r)
			code := bw.code
			if code == 0 {
				code = http.StatusOK
			}
			body := bw.body.Bytes()
			if sig, p := ri.getPartial(); p != nil && code == http.StatusOK {
				ct := bw.header.Get("Content-Type")
				b, err := partialResponse(sig, *p, strings.HasPrefix(ct, "application/json"))
				if err != nil {
					http.Error(w, "otbreceiver: "+err.Error(), http.StatusInternalServerError)
					return
				}
				body = b
				bw.header.Del("Content-Length")
			}
			for k, v := range bw.header {
				w.Header()[k] = v
			}
			w.WriteHeader(code)
			_, _ = w.Write(body)
		}), nil
	}, nil
}

// bufferedResponse is an http.ResponseWriter that keeps the answer.
type bufferedResponse struct {
	header http.Header
	code   int
	body   bytes.Buffer
}

func (b *bufferedResponse) Header() http.Header { return b.header }
func (b *bufferedResponse) WriteHeader(code int) {
	if b.code == 0 {
		b.code = code
	}
}
func (b *bufferedResponse) Write(p []byte) (int, error) {
	if b.code == 0 {
		b.code = http.StatusOK
	}
	return b.body.Write(p)
}

// GetGRPCServerOptions adds a unary interceptor that swaps the receiver's
// response for one with partial_success. The response is pdata's internal
// Export*ServiceResponse type; a new value of that type is filled from the
// protobuf bytes of a public plogotlp/ptraceotlp/pmetricotlp ExportResponse.
func (inspectExt) GetGRPCServerOptions(context.Context) ([]grpc.ServerOption, error) {
	return []grpc.ServerOption{grpc.ChainUnaryInterceptor(
		func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
			resp, err := handler(ctx, req)
			ri := requestInfoFrom(ctx)
			if err != nil || ri == nil || resp == nil {
				return resp, err
			}
			sig, p := ri.getPartial()
			if p == nil {
				return resp, nil
			}
			b, err := partialResponse(sig, *p, false)
			if err != nil {
				return nil, status.Error(codes.Internal, "otbreceiver: "+err.Error())
			}
			t := reflect.TypeOf(resp)
			if t.Kind() != reflect.Pointer {
				return nil, status.Errorf(codes.Internal, "otbreceiver: unexpected response type %T", resp)
			}
			nr := reflect.New(t.Elem()).Interface()
			u, ok := nr.(interface{ UnmarshalProto([]byte) error })
			if !ok {
				return nil, status.Errorf(codes.Internal, "otbreceiver: response type %T has no UnmarshalProto", resp)
			}
			if err := u.UnmarshalProto(b); err != nil {
				return nil, status.Errorf(codes.Internal, "otbreceiver: partial response: %v", err)
			}
			return nr, nil
		})}, nil
}

// partialResponse encodes an Export*ServiceResponse with partial_success set.
func partialResponse(sig string, p partial, asJSON bool) ([]byte, error) {
	type marshaler interface {
		MarshalProto() ([]byte, error)
		MarshalJSON() ([]byte, error)
	}
	var m marshaler
	switch sig {
	case SignalLogs:
		r := plogotlp.NewExportResponse()
		r.PartialSuccess().SetRejectedLogRecords(p.rejected)
		r.PartialSuccess().SetErrorMessage(p.message)
		m = r
	case SignalTraces:
		r := ptraceotlp.NewExportResponse()
		r.PartialSuccess().SetRejectedSpans(p.rejected)
		r.PartialSuccess().SetErrorMessage(p.message)
		m = r
	case SignalMetrics:
		r := pmetricotlp.NewExportResponse()
		r.PartialSuccess().SetRejectedDataPoints(p.rejected)
		r.PartialSuccess().SetErrorMessage(p.message)
		m = r
	default:
		return nil, status.Errorf(codes.Internal, "unknown signal %q", sig)
	}
	if asJSON {
		return m.MarshalJSON()
	}
	return m.MarshalProto()
}

// inspectHost is the component.Host given to the receiver: it offers the
// otbinspect extension.
type inspectHost struct{}

func (inspectHost) GetExtensions() map[component.ID]component.Component {
	return map[component.ID]component.Component{inspectID: inspectExt{}}
}
