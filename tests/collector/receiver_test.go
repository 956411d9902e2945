package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/pmetric/pmetricotlp"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/pdata/ptrace/ptraceotlp"
)

func startTestServer(t *testing.T) *Server {
	t.Helper()
	dir := t.TempDir()
	srv, err := Start(context.Background(), Options{
		GRPC: "127.0.0.1:0", HTTP: "127.0.0.1:0", Control: "127.0.0.1:0", OutDir: dir,
	})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return srv
}

func grpcConn(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return cc
}

func setFault(t *testing.T, srv *Server, body string) {
	t.Helper()
	resp, err := http.Post("http://"+srv.Ready.Control+"/fault", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /fault %s: %s", body, resp.Status)
	}
}

func getStats(t *testing.T, srv *Server) map[string]json.RawMessage {
	t.Helper()
	resp, err := http.Get("http://" + srv.Ready.Control + "/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var m map[string]json.RawMessage
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func signalStatsOf(t *testing.T, srv *Server, sig string) signalStats {
	t.Helper()
	var st signalStats
	if err := json.Unmarshal(getStats(t, srv)[sig], &st); err != nil {
		t.Fatal(err)
	}
	return st
}

func readLines(t *testing.T, srv *Server, sig string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join(srv.Ready.OutDir, sig+".jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		lines = append(lines, sc.Text())
	}
	return lines
}

func testLogs(body string) plog.Logs {
	ld := plog.NewLogs()
	ld.ResourceLogs().AppendEmpty().ScopeLogs().AppendEmpty().LogRecords().AppendEmpty().Body().SetStr(body)
	return ld
}

func retryDelay(err error) (time.Duration, bool) {
	for _, d := range status.Convert(err).Details() {
		if ri, ok := d.(*errdetails.RetryInfo); ok {
			return ri.GetRetryDelay().AsDuration(), true
		}
	}
	return 0, false
}

func TestGRPCAllSignals(t *testing.T) {
	srv := startTestServer(t)
	cc := grpcConn(t, srv.Ready.GRPC)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if _, err := plogotlp.NewGRPCClient(cc).Export(ctx, plogotlp.NewExportRequestFromLogs(testLogs("hello grpc"))); err != nil {
		t.Fatalf("logs export: %v", err)
	}
	td := ptrace.NewTraces()
	td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("span1")
	if _, err := ptraceotlp.NewGRPCClient(cc).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td)); err != nil {
		t.Fatalf("traces export: %v", err)
	}
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("m1")
	m.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(42)
	if _, err := pmetricotlp.NewGRPCClient(cc).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(md)); err != nil {
		t.Fatalf("metrics export: %v", err)
	}

	// The line is written before the consumer returns: no waiting needed.
	lines := readLines(t, srv, SignalLogs)
	if len(lines) != 1 {
		t.Fatalf("logs.jsonl: %d lines, want 1", len(lines))
	}
	got, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs([]byte(lines[0]))
	if err != nil {
		t.Fatalf("logs.jsonl is not OTLP/JSON: %v", err)
	}
	if b := got.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().At(0).Body().Str(); b != "hello grpc" {
		t.Fatalf("body %q", b)
	}
	if l := readLines(t, srv, SignalTraces); len(l) != 1 || !strings.Contains(l[0], `"name":"span1"`) {
		t.Fatalf("traces.jsonl: %q", l)
	}
	if l := readLines(t, srv, SignalMetrics); len(l) != 1 || !strings.Contains(l[0], `"name":"m1"`) {
		t.Fatalf("metrics.jsonl: %q", l)
	}
	st := signalStatsOf(t, srv, SignalLogs)
	if st.Requests != 1 || st.Accepted != 1 || st.Items != 1 || st.Outcomes["ok"] != 1 {
		t.Fatalf("logs stats %+v", st)
	}
}

func TestGRPCFaults(t *testing.T) {
	start := time.Now()
	srv := startTestServer(t)
	client := plogotlp.NewGRPCClient(grpcConn(t, srv.Ready.GRPC))
	export := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, err := client.Export(ctx, plogotlp.NewExportRequestFromLogs(testLogs("x")))
		return err
	}

	cases := []struct {
		fault     string
		code      codes.Code
		wantRetry time.Duration // -1 = no RetryInfo
	}{
		{`{"mode":"unavailable"}`, codes.Unavailable, -1},
		{`{"mode":"unavailable_retry","retry_after_s":2}`, codes.Unavailable, 2 * time.Second},
		{`{"mode":"unavailable_retry","retry_after_s":0.25}`, codes.Unavailable, 250 * time.Millisecond},
		{`{"mode":"resource_exhausted","retry_after_s":3}`, codes.ResourceExhausted, 3 * time.Second},
		{`{"mode":"resource_exhausted_noretry"}`, codes.ResourceExhausted, -1},
		{`{"mode":"invalid"}`, codes.InvalidArgument, -1},
		{`{"mode":"permanent"}`, codes.Internal, -1},
	}
	for _, c := range cases {
		setFault(t, srv, c.fault)
		err := export()
		if got := status.Code(err); got != c.code {
			t.Errorf("%s: code %v (%v), want %v", c.fault, got, err, c.code)
		}
		d, ok := retryDelay(err)
		if c.wantRetry < 0 && ok {
			t.Errorf("%s: unexpected RetryInfo %v", c.fault, d)
		}
		if c.wantRetry >= 0 && (!ok || d != c.wantRetry) {
			t.Errorf("%s: RetryInfo %v (present %v), want %v", c.fault, d, ok, c.wantRetry)
		}
	}

	// count: two failures, then ok again by itself.
	setFault(t, srv, `{"mode":"unavailable","count":2}`)
	for i := 0; i < 2; i++ {
		if status.Code(export()) != codes.Unavailable {
			t.Fatalf("count: request %d not failed", i)
		}
	}
	if err := export(); err != nil {
		t.Fatalf("count: after 2 failures: %v", err)
	}

	// signal filter: a traces-only fault does not touch logs.
	setFault(t, srv, `{"mode":"invalid","signal":"traces"}`)
	if err := export(); err != nil {
		t.Fatalf("signal filter: %v", err)
	}
	setFault(t, srv, `{"mode":"ok"}`)

	// Only accepted requests are written.
	if n := len(readLines(t, srv, SignalLogs)); n != 2 {
		t.Fatalf("logs.jsonl has %d lines, want 2", n)
	}
	st := signalStatsOf(t, srv, SignalLogs)
	if st.Requests != 11 || st.Accepted != 2 || st.Outcomes["unavailable"] != 3 || st.Outcomes["unavailable_retry"] != 2 {
		t.Fatalf("stats %+v", st)
	}
	if len(st.ArrivalsMs) != 11 || !slices.IsSorted(st.ArrivalsMs) ||
		st.ArrivalsMs[10]-st.ArrivalsMs[0] > float64(time.Since(start).Milliseconds()+1) {
		t.Fatalf("arrivals %v", st.ArrivalsMs)
	}
}

func TestHTTPFaults(t *testing.T) {
	srv := startTestServer(t)
	post := func() *http.Response {
		body := `{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"hi"}}]}]}]}`
		resp, err := http.Post("http://"+srv.Ready.HTTP+"/v1/logs", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if r := post(); r.StatusCode != 200 {
		t.Fatalf("ok: %s", r.Status)
	}
	setFault(t, srv, `{"mode":"unavailable_retry","retry_after_s":2}`)
	if r := post(); r.StatusCode != 503 || r.Header.Get("Retry-After") != "2" {
		t.Fatalf("unavailable_retry: %s Retry-After=%q", r.Status, r.Header.Get("Retry-After"))
	}
	setFault(t, srv, `{"mode":"unavailable"}`)
	if r := post(); r.StatusCode != 503 || r.Header.Get("Retry-After") != "" {
		t.Fatalf("unavailable: %s Retry-After=%q", r.Status, r.Header.Get("Retry-After"))
	}
	setFault(t, srv, `{"mode":"resource_exhausted","retry_after_s":3}`)
	if r := post(); r.StatusCode != 429 || r.Header.Get("Retry-After") != "3" {
		t.Fatalf("resource_exhausted: %s Retry-After=%q", r.Status, r.Header.Get("Retry-After"))
	}
	setFault(t, srv, `{"mode":"resource_exhausted_noretry"}`)
	if r := post(); r.StatusCode != 429 || r.Header.Get("Retry-After") != "" {
		t.Fatalf("resource_exhausted_noretry: %s Retry-After=%q", r.Status, r.Header.Get("Retry-After"))
	}
	setFault(t, srv, `{"mode":"invalid"}`)
	if r := post(); r.StatusCode != 400 {
		t.Fatalf("invalid: %s", r.Status)
	}
	setFault(t, srv, `{"mode":"permanent"}`)
	if r := post(); r.StatusCode != 500 {
		t.Fatalf("permanent: %s", r.Status)
	}
	setFault(t, srv, `{"mode":"ok"}`)
	if r := post(); r.StatusCode != 200 {
		t.Fatalf("ok again: %s", r.Status)
	}
	lines := readLines(t, srv, SignalLogs)
	if len(lines) != 2 {
		t.Fatalf("logs.jsonl has %d lines, want 2: %q", len(lines), lines)
	}
	if _, err := (&plog.JSONUnmarshaler{}).UnmarshalLogs([]byte(lines[1])); err != nil {
		t.Fatal(err)
	}
}

func TestHang(t *testing.T) {
	srv := startTestServer(t)
	client := plogotlp.NewGRPCClient(grpcConn(t, srv.Ready.GRPC))

	// delay_ms > 0: held, then accepted and written.
	setFault(t, srv, `{"mode":"hang","delay_ms":300,"count":1}`)
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	_, err := client.Export(ctx, plogotlp.NewExportRequestFromLogs(testLogs("late")))
	cancel()
	if err != nil || time.Since(start) < 300*time.Millisecond {
		t.Fatalf("hang delay: err=%v after %v", err, time.Since(start))
	}
	if n := len(readLines(t, srv, SignalLogs)); n != 1 {
		t.Fatalf("hang delay: %d lines", n)
	}

	// delay_ms = 0: held until the client gives up; not written.
	setFault(t, srv, `{"mode":"hang"}`)
	ctx, cancel = context.WithTimeout(context.Background(), 300*time.Millisecond)
	_, err = client.Export(ctx, plogotlp.NewExportRequestFromLogs(testLogs("never")))
	cancel()
	if status.Code(err) != codes.DeadlineExceeded {
		t.Fatalf("hang forever: %v", err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for signalStatsOf(t, srv, SignalLogs).Outcomes["hang_aborted"] != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("hang not aborted: %+v", signalStatsOf(t, srv, SignalLogs))
		}
		time.Sleep(20 * time.Millisecond)
	}

	// A request still held at shutdown does not block Shutdown.
	errc := make(chan error, 1)
	go func() {
		_, err := client.Export(context.Background(), plogotlp.NewExportRequestFromLogs(testLogs("held")))
		errc <- err
	}()
	for signalStatsOf(t, srv, SignalLogs).Hanging != 1 {
		time.Sleep(10 * time.Millisecond)
	}
	sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer scancel()
	if err := srv.Shutdown(sctx); err != nil {
		t.Fatalf("Shutdown with a held request: %v", err)
	}
	if err := <-errc; err == nil {
		t.Fatal("held request succeeded")
	}
	if n := len(readLines(t, srv, SignalLogs)); n != 1 {
		t.Fatalf("after hang: %d lines", n)
	}
}

func TestControlRejectsBadFault(t *testing.T) {
	srv := startTestServer(t)
	for _, body := range []string{`{"mode":"nope"}`, `{"mode":"ok","bogus":1}`, `{"mode":"hang","delay_ms":-1}`, `not json`} {
		resp, err := http.Post("http://"+srv.Ready.Control+"/fault", "application/json", bytes.NewBufferString(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %s, want 400", body, resp.Status)
		}
	}
}

func TestReadyFileAtomic(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ready.json")
	want := Ready{GRPC: "127.0.0.1:1", HTTP: "127.0.0.1:2", Control: "127.0.0.1:3", PID: 7, OutDir: "/x", TLS: true}
	if err := WriteReady(p, want); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	var got Ready
	if err := json.Unmarshal(b, &got); err != nil || got != want {
		t.Fatalf("got %+v (%v)", got, err)
	}
	if _, err := os.Stat(p + ".tmp"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("tmp file left behind: %v", err)
	}
}

// ---- partial success ----

func TestPartialSuccessGRPC(t *testing.T) {
	srv := startTestServer(t)
	cc := grpcConn(t, srv.Ready.GRPC)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	setFault(t, srv, `{"mode":"partial","rejected":2,"message":"two were bad","count":3}`)
	ld := testLogs("a")
	ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().AppendEmpty().Body().SetStr("b")
	ld.ResourceLogs().At(0).ScopeLogs().At(0).LogRecords().AppendEmpty().Body().SetStr("c")
	lr, err := plogotlp.NewGRPCClient(cc).Export(ctx, plogotlp.NewExportRequestFromLogs(ld))
	if err != nil {
		t.Fatalf("logs: %v", err)
	}
	if ps := lr.PartialSuccess(); ps.RejectedLogRecords() != 2 || ps.ErrorMessage() != "two were bad" {
		t.Fatalf("logs partial_success: rejected=%d message=%q", ps.RejectedLogRecords(), ps.ErrorMessage())
	}

	td := ptrace.NewTraces()
	td.ResourceSpans().AppendEmpty().ScopeSpans().AppendEmpty().Spans().AppendEmpty().SetName("s")
	tr, err := ptraceotlp.NewGRPCClient(cc).Export(ctx, ptraceotlp.NewExportRequestFromTraces(td))
	if err != nil || tr.PartialSuccess().RejectedSpans() != 2 || tr.PartialSuccess().ErrorMessage() != "two were bad" {
		t.Fatalf("traces: err=%v partial=%d %q", err, tr.PartialSuccess().RejectedSpans(), tr.PartialSuccess().ErrorMessage())
	}
	md := pmetric.NewMetrics()
	m := md.ResourceMetrics().AppendEmpty().ScopeMetrics().AppendEmpty().Metrics().AppendEmpty()
	m.SetName("m")
	m.SetEmptyGauge().DataPoints().AppendEmpty().SetIntValue(1)
	mr, err := pmetricotlp.NewGRPCClient(cc).Export(ctx, pmetricotlp.NewExportRequestFromMetrics(md))
	if err != nil || mr.PartialSuccess().RejectedDataPoints() != 2 {
		t.Fatalf("metrics: err=%v partial=%d", err, mr.PartialSuccess().RejectedDataPoints())
	}

	// count 3 used up: a plain success again, with no partial_success.
	lr, err = plogotlp.NewGRPCClient(cc).Export(ctx, plogotlp.NewExportRequestFromLogs(testLogs("d")))
	if err != nil || lr.PartialSuccess().RejectedLogRecords() != 0 || lr.PartialSuccess().ErrorMessage() != "" {
		t.Fatalf("after count: err=%v partial=%d %q", err, lr.PartialSuccess().RejectedLogRecords(), lr.PartialSuccess().ErrorMessage())
	}

	// The whole request is written, and counted.
	lines := readLines(t, srv, SignalLogs)
	if len(lines) != 2 || !strings.Contains(lines[0], `"stringValue":"c"`) {
		t.Fatalf("logs.jsonl: %q", lines)
	}
	st := signalStatsOf(t, srv, SignalLogs)
	if st.Requests != 2 || st.Accepted != 2 || st.Items != 4 || st.Rejected != 2 ||
		st.Outcomes["partial"] != 1 || st.Outcomes["ok"] != 1 || st.Transports["grpc"] != 2 {
		t.Fatalf("logs stats %+v", st)
	}
}

func postOTLP(t *testing.T, client *http.Client, url, contentType string, body []byte, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestPartialSuccessHTTP(t *testing.T) {
	srv := startTestServer(t)
	url := "http://" + srv.Ready.HTTP + "/v1/logs"
	req := plogotlp.NewExportRequestFromLogs(testLogs("x"))
	pb, _ := req.MarshalProto()
	js, _ := req.MarshalJSON()

	setFault(t, srv, `{"mode":"partial","rejected":1,"message":"über-limit"}`)
	// protobuf in, protobuf out
	resp, body := postOTLP(t, http.DefaultClient, url, "application/x-protobuf", pb, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-protobuf" {
		t.Fatalf("proto: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	er := plogotlp.NewExportResponse()
	if err := er.UnmarshalProto(body); err != nil {
		t.Fatal(err)
	}
	if er.PartialSuccess().RejectedLogRecords() != 1 || er.PartialSuccess().ErrorMessage() != "über-limit" {
		t.Fatalf("proto partial_success: %d %q", er.PartialSuccess().RejectedLogRecords(), er.PartialSuccess().ErrorMessage())
	}
	// JSON in, JSON out
	resp, body = postOTLP(t, http.DefaultClient, url, "application/json", js, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("json: %s %q", resp.Status, resp.Header.Get("Content-Type"))
	}
	if !strings.Contains(string(body), `"partialSuccess"`) {
		t.Fatalf("json body %s", body)
	}
	er = plogotlp.NewExportResponse()
	if err := er.UnmarshalJSON(body); err != nil {
		t.Fatal(err)
	}
	if er.PartialSuccess().RejectedLogRecords() != 1 || er.PartialSuccess().ErrorMessage() != "über-limit" {
		t.Fatalf("json partial_success: %s", body)
	}
	// An error fault still wins over nothing: errors are not rewritten.
	setFault(t, srv, `{"mode":"invalid","count":1}`)
	if resp, _ := postOTLP(t, http.DefaultClient, url, "application/x-protobuf", pb, nil); resp.StatusCode != 400 {
		t.Fatalf("invalid after partial: %s", resp.Status)
	}
	// ok: the receiver's own answer again. (pdata always encodes the
	// partial_success field, empty: 0a 00.)
	resp, body = postOTLP(t, http.DefaultClient, url, "application/x-protobuf", pb, nil)
	er = plogotlp.NewExportResponse()
	if err := er.UnmarshalProto(body); resp.StatusCode != 200 || err != nil ||
		er.PartialSuccess().RejectedLogRecords() != 0 || er.PartialSuccess().ErrorMessage() != "" {
		t.Fatalf("ok: %s body %x (%v)", resp.Status, body, err)
	}
	if n := len(readLines(t, srv, SignalLogs)); n != 3 {
		t.Fatalf("logs.jsonl: %d lines, want 3", n)
	}
	st := signalStatsOf(t, srv, SignalLogs)
	if st.Rejected != 2 || st.Outcomes["partial"] != 2 || st.Outcomes["invalid"] != 1 || st.Outcomes["ok"] != 1 {
		t.Fatalf("stats %+v", st)
	}
	if st.ContentTypes["application/x-protobuf"] != 3 || st.ContentTypes["application/json"] != 1 {
		t.Fatalf("content types %+v", st.ContentTypes)
	}
}

func TestRequestHeadersRecorded(t *testing.T) {
	srv := startTestServer(t)
	pb, _ := plogotlp.NewExportRequestFromLogs(testLogs("zipped")).MarshalProto()
	var zbuf bytes.Buffer
	zw := gzip.NewWriter(&zbuf)
	_, _ = zw.Write(pb)
	_ = zw.Close()

	resp, _ := postOTLP(t, http.DefaultClient, "http://"+srv.Ready.HTTP+"/v1/logs", "application/x-protobuf",
		zbuf.Bytes(), map[string]string{"Content-Encoding": "gzip", "X-Tenant": "t1", "Authorization": "Bearer s3cret"})
	if resp.StatusCode != 200 {
		t.Fatalf("gzip post: %s", resp.Status)
	}
	st := signalStatsOf(t, srv, SignalLogs)
	if st.Encodings["gzip"] != 1 || st.Transports["http"] != 1 {
		t.Fatalf("stats %+v", st)
	}
	if got := st.LastHeaders["x-tenant"]; len(got) != 1 || got[0] != "t1" {
		t.Fatalf("x-tenant %q in %v", got, st.LastHeaders)
	}
	if got := st.LastHeaders["authorization"]; len(got) != 1 || got[0] != "Bearer s3cret" {
		t.Fatalf("authorization %q", got)
	}
	if l := readLines(t, srv, SignalLogs); len(l) != 1 || !strings.Contains(l[0], "zipped") {
		t.Fatalf("logs.jsonl %q", l)
	}

	// gRPC metadata.
	cc := grpcConn(t, srv.Ready.GRPC)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	ctx = metadata.AppendToOutgoingContext(ctx, "x-tenant", "t2")
	if _, err := plogotlp.NewGRPCClient(cc).Export(ctx, plogotlp.NewExportRequestFromLogs(testLogs("g"))); err != nil {
		t.Fatal(err)
	}
	st = signalStatsOf(t, srv, SignalLogs)
	if got := st.LastHeaders["x-tenant"]; len(got) != 1 || got[0] != "t2" || st.Transports["grpc"] != 1 ||
		st.ContentTypes["application/grpc"] != 1 || st.Encodings["gzip"] != 1 {
		t.Fatalf("grpc: %+v", st)
	}
}

func TestControlRejectsBadPartial(t *testing.T) {
	srv := startTestServer(t)
	for _, body := range []string{`{"mode":"partial","rejected":-1}`, `{"mode":"ok","rejected":1}`, `{"mode":"invalid","message":"x"}`} {
		resp, err := http.Post("http://"+srv.Ready.Control+"/fault", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("%s: %s, want 400", body, resp.Status)
		}
	}
}

// ---- TLS ----

type testPKI struct {
	dir                             string
	caFile, certFile, keyFile       string // server, signed by the CA, for 127.0.0.1
	clientCert, clientKey           string // client, signed by the CA
	otherCA                         string // an unrelated CA
	otherClientCert, otherClientKey string // client signed by otherCA
	pool                            *x509.CertPool
}

func writePEM(t *testing.T, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func newCA(t *testing.T, dir, name string) (*x509.Certificate, *ecdsa.PrivateKey, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	p := filepath.Join(dir, name+".pem")
	writePEM(t, p, "CERTIFICATE", der)
	return cert, key, p
}

func newLeaf(t *testing.T, dir, name string, ca *x509.Certificate, caKey *ecdsa.PrivateKey, server bool) (string, string) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	if server {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		tmpl.IPAddresses = []net.IP{net.ParseIP("127.0.0.1")}
		tmpl.DNSNames = []string{"localhost"}
	} else {
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	cp, kp := filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	writePEM(t, cp, "CERTIFICATE", der)
	writePEM(t, kp, "PRIVATE KEY", kder)
	return cp, kp
}

func makePKI(t *testing.T) testPKI {
	t.Helper()
	dir := t.TempDir()
	ca, caKey, caFile := newCA(t, dir, "ca")
	other, otherKey, otherFile := newCA(t, dir, "other-ca")
	p := testPKI{dir: dir, caFile: caFile, otherCA: otherFile, pool: x509.NewCertPool()}
	p.certFile, p.keyFile = newLeaf(t, dir, "server", ca, caKey, true)
	p.clientCert, p.clientKey = newLeaf(t, dir, "client", ca, caKey, false)
	p.otherClientCert, p.otherClientKey = newLeaf(t, dir, "other-client", other, otherKey, false)
	p.pool.AddCert(ca)
	return p
}

func startTLSServer(t *testing.T, p testPKI, mtls bool) *Server {
	t.Helper()
	opts := Options{GRPC: "127.0.0.1:0", HTTP: "127.0.0.1:0", Control: "127.0.0.1:0", OutDir: t.TempDir(),
		TLSCert: p.certFile, TLSKey: p.keyFile}
	if mtls {
		opts.ClientCA = p.caFile
	}
	srv, err := Start(context.Background(), opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
	return srv
}

func tlsClients(t *testing.T, p testPKI, certFile, keyFile string, roots *x509.CertPool) (*http.Client, credentials.TransportCredentials) {
	t.Helper()
	cfg := &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	if certFile != "" {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Certificates = []tls.Certificate{c}
	}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg.Clone()}, Timeout: 10 * time.Second}
	return hc, credentials.NewTLS(cfg.Clone())
}

func exportGRPC(t *testing.T, addr string, creds credentials.TransportCredentials, body string) error {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = plogotlp.NewGRPCClient(cc).Export(ctx, plogotlp.NewExportRequestFromLogs(testLogs(body)))
	return err
}

func postHTTP(client *http.Client, url string, body string) (int, error) {
	pb, _ := plogotlp.NewExportRequestFromLogs(testLogs(body)).MarshalProto()
	resp, err := client.Post(url, "application/x-protobuf", bytes.NewReader(pb))
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestTLS(t *testing.T) {
	p := makePKI(t)
	srv := startTLSServer(t, p, false)
	if !srv.Ready.TLS || srv.Ready.MTLS {
		t.Fatalf("ready %+v", srv.Ready)
	}
	hc, creds := tlsClients(t, p, "", "", p.pool)
	if err := exportGRPC(t, srv.Ready.GRPC, creds, "grpc-tls"); err != nil {
		t.Fatalf("gRPC over TLS: %v", err)
	}
	if code, err := postHTTP(hc, "https://"+srv.Ready.HTTP+"/v1/logs", "http-tls"); err != nil || code != 200 {
		t.Fatalf("HTTPS: %d %v", code, err)
	}
	// Plaintext is refused on both ports.
	if err := exportGRPC(t, srv.Ready.GRPC, insecure.NewCredentials(), "grpc-plain"); err == nil {
		t.Fatal("plaintext gRPC accepted by a TLS server")
	}
	if code, err := postHTTP(&http.Client{Timeout: 5 * time.Second}, "http://"+srv.Ready.HTTP+"/v1/logs", "http-plain"); err == nil && code == 200 {
		t.Fatal("plaintext HTTP accepted by a TLS server")
	}
	// A client that trusts another CA refuses the server.
	otherPool := x509.NewCertPool()
	b, _ := os.ReadFile(p.otherCA)
	otherPool.AppendCertsFromPEM(b)
	hcWrong, credsWrong := tlsClients(t, p, "", "", otherPool)
	if err := exportGRPC(t, srv.Ready.GRPC, credsWrong, "wrong-ca"); err == nil {
		t.Fatal("gRPC client with the wrong CA connected")
	}
	if _, err := postHTTP(hcWrong, "https://"+srv.Ready.HTTP+"/v1/logs", "wrong-ca"); err == nil {
		t.Fatal("HTTPS client with the wrong CA connected")
	}
	lines := readLines(t, srv, SignalLogs)
	if len(lines) != 2 || !strings.Contains(lines[0], "grpc-tls") || !strings.Contains(lines[1], "http-tls") {
		t.Fatalf("logs.jsonl %q", lines)
	}
}

func TestMTLS(t *testing.T) {
	p := makePKI(t)
	srv := startTLSServer(t, p, true)
	if !srv.Ready.TLS || !srv.Ready.MTLS {
		t.Fatalf("ready %+v", srv.Ready)
	}
	hc, creds := tlsClients(t, p, p.clientCert, p.clientKey, p.pool)
	if err := exportGRPC(t, srv.Ready.GRPC, creds, "grpc-mtls"); err != nil {
		t.Fatalf("gRPC mTLS: %v", err)
	}
	if code, err := postHTTP(hc, "https://"+srv.Ready.HTTP+"/v1/logs", "http-mtls"); err != nil || code != 200 {
		t.Fatalf("HTTPS mTLS: %d %v", code, err)
	}
	// No client certificate, or one from another CA: refused.
	for _, c := range [][2]string{{"", ""}, {p.otherClientCert, p.otherClientKey}} {
		hc, creds := tlsClients(t, p, c[0], c[1], p.pool)
		if err := exportGRPC(t, srv.Ready.GRPC, creds, "no"); err == nil {
			t.Fatalf("gRPC without a valid client certificate (%q) accepted", c[0])
		}
		if code, err := postHTTP(hc, "https://"+srv.Ready.HTTP+"/v1/logs", "no"); err == nil {
			t.Fatalf("HTTPS without a valid client certificate (%q) accepted: %d", c[0], code)
		}
	}
	if n := len(readLines(t, srv, SignalLogs)); n != 2 {
		t.Fatalf("logs.jsonl: %d lines", n)
	}
}

func TestTLSFlagsNeedEachOther(t *testing.T) {
	for _, args := range [][]string{{"-tls-cert", "x"}, {"-tls-key", "x"}, {"-client-ca", "x"}} {
		if code := run(args); code != 2 {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
	if _, err := Start(context.Background(), Options{GRPC: "127.0.0.1:0", HTTP: "127.0.0.1:0", Control: "127.0.0.1:0",
		OutDir: t.TempDir(), TLSCert: "/nonexistent.pem", TLSKey: "/nonexistent-key.pem"}); err == nil {
		t.Fatal("Start with a missing certificate succeeded")
	}
}
