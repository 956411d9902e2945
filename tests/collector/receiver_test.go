package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
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
	want := Ready{GRPC: "127.0.0.1:1", HTTP: "127.0.0.1:2", Control: "127.0.0.1:3", PID: 7, OutDir: "/x"}
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
