package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"go.opentelemetry.io/collector/component"
	"go.opentelemetry.io/collector/config/configauth"
	"go.opentelemetry.io/collector/config/confighttp"
	"go.opentelemetry.io/collector/config/configmiddleware"
	"go.opentelemetry.io/collector/config/configoptional"
	"go.opentelemetry.io/collector/config/configtls"
	"go.opentelemetry.io/collector/consumer"
	"go.opentelemetry.io/collector/consumer/consumererror"
	"go.opentelemetry.io/collector/pdata/plog"
	"go.opentelemetry.io/collector/pdata/pmetric"
	"go.opentelemetry.io/collector/pdata/ptrace"
	"go.opentelemetry.io/collector/receiver/otlpreceiver"
	"go.opentelemetry.io/collector/receiver/receivertest"
)

// Options configure a Server.
type Options struct {
	GRPC    string // gRPC endpoint, host:port; port 0 = pick a free port
	HTTP    string // OTLP/HTTP endpoint, host:port; port 0 = pick a free port
	Control string // control API endpoint, host:port; port 0 = any free port
	OutDir  string // where logs.jsonl, traces.jsonl, metrics.jsonl go
	Fault   FaultSpec
	Logger  *zap.Logger // receiver's logger; nil = no logging

	// TLS: with TLSCert and TLSKey (PEM files) both servers speak TLS only.
	// ClientCA (PEM) additionally requires a client certificate signed by it
	// (mTLS). This is the receiver's own configtls.ServerConfig.
	TLSCert, TLSKey, ClientCA string
}

// Ready is what the -ready file contains.
type Ready struct {
	GRPC    string `json:"grpc"`
	HTTP    string `json:"http"`
	Control string `json:"control"`
	PID     int    `json:"pid"`
	OutDir  string `json:"out"`
	TLS     bool   `json:"tls"`  // gRPC and HTTP need TLS (https://)
	MTLS    bool   `json:"mtls"` // and a client certificate
}

// Server is the embedded otlpreceiver plus the jsonl sink, the fault
// injector and the control API.
type Server struct {
	Ready Ready

	faults faultState
	stats  *stats
	files  map[string]*jsonlFile

	receivers []component.Component
	ctrlSrv   *http.Server
	ctrlDone  chan struct{}

	quit         chan struct{} // closed at shutdown: releases "hang"
	shutdownOnce sync.Once
	shutdownErr  error
}

type jsonlFile struct {
	mu sync.Mutex
	f  *os.File
}

// writeLine appends one line with a single write(2) on an unbuffered file,
// so other processes see it as soon as the consumer returns.
func (j *jsonlFile) writeLine(b []byte) error {
	line := make([]byte, 0, len(b)+1)
	line = append(line, b...)
	line = append(line, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	_, err := j.f.Write(line)
	return err
}

// Start creates the output files, starts the control API and the receiver.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if err := opts.Fault.normalize(); err != nil {
		return nil, fmt.Errorf("initial fault: %w", err)
	}
	if (opts.TLSCert == "") != (opts.TLSKey == "") {
		return nil, errors.New("TLS needs both a certificate and a key")
	}
	if opts.ClientCA != "" && opts.TLSCert == "" {
		return nil, errors.New("a client CA (mTLS) needs a server certificate and key")
	}
	s := &Server{
		stats:    newStats(),
		files:    map[string]*jsonlFile{},
		quit:     make(chan struct{}),
		ctrlDone: make(chan struct{}),
	}
	s.faults.set(opts.Fault)

	outDir, err := filepath.Abs(opts.OutDir)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return nil, err
	}
	for _, sig := range allSignals {
		f, err := os.OpenFile(filepath.Join(outDir, sig+".jsonl"),
			os.O_CREATE|os.O_TRUNC|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			s.closeFiles()
			return nil, err
		}
		s.files[sig] = &jsonlFile{f: f}
	}

	// The control listener stays open (we serve it), so the free ports picked
	// below for the receiver cannot collide with it.
	ctrlLn, err := net.Listen("tcp", opts.Control)
	if err != nil {
		s.closeFiles()
		return nil, fmt.Errorf("control listen: %w", err)
	}

	auto := isPortZero(opts.GRPC) || isPortZero(opts.HTTP)
	attempts := 1
	if auto {
		attempts = 5 // a picked port may be taken between pick and bind
	}
	for i := 0; i < attempts; i++ {
		var grpcAddr, httpAddr string
		grpcAddr, httpAddr, err = pickPorts(opts.GRPC, opts.HTTP)
		if err != nil {
			break
		}
		err = s.startReceiver(ctx, grpcAddr, httpAddr, opts)
		if err == nil {
			s.Ready = Ready{GRPC: grpcAddr, HTTP: httpAddr, PID: os.Getpid(), OutDir: outDir,
				TLS: opts.TLSCert != "", MTLS: opts.ClientCA != ""}
			break
		}
	}
	if err != nil {
		ctrlLn.Close()
		s.closeFiles()
		return nil, fmt.Errorf("start receiver: %w", err)
	}

	s.Ready.Control = ctrlLn.Addr().String()
	s.ctrlSrv = &http.Server{Handler: s.controlMux(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(s.ctrlDone)
		_ = s.ctrlSrv.Serve(ctrlLn)
	}()
	return s, nil
}

func (s *Server) startReceiver(ctx context.Context, grpcAddr, httpAddr string, opts Options) error {
	factory := otlpreceiver.NewFactory()
	cfg := factory.CreateDefaultConfig().(*otlpreceiver.Config)
	grpcCfg := cfg.Protocols.GRPC.GetOrInsertDefault()
	httpCfg := &cfg.Protocols.HTTP.GetOrInsertDefault().ServerConfig
	grpcCfg.NetAddr.Endpoint = grpcAddr
	httpCfg.NetAddr.Endpoint = httpAddr

	// The otbinspect extension (inspect.go), as authenticator and middleware
	// of both servers: records headers, sends partial successes.
	grpcCfg.Auth = configoptional.Some(configauth.Config{AuthenticatorID: inspectID})
	httpCfg.Auth = configoptional.Some(confighttp.AuthConfig{Config: configauth.Config{AuthenticatorID: inspectID}})
	grpcCfg.Middlewares = []configmiddleware.Config{{ID: inspectID}}
	httpCfg.Middlewares = []configmiddleware.Config{{ID: inspectID}}

	if opts.TLSCert != "" {
		tlsCfg := configtls.NewDefaultServerConfig()
		tlsCfg.CertFile = opts.TLSCert
		tlsCfg.KeyFile = opts.TLSKey
		tlsCfg.ClientCAFile = opts.ClientCA // "" = no client certificate asked for
		grpcCfg.TLS = configoptional.Some(tlsCfg)
		httpCfg.TLS = configoptional.Some(tlsCfg)
	}

	set := receivertest.NewNopSettings(factory.Type())
	if opts.Logger != nil {
		set.Logger = opts.Logger
	}

	logsC, _ := consumer.NewLogs(func(ctx context.Context, ld plog.Logs) error {
		return s.consume(ctx, SignalLogs, ld.LogRecordCount(), func() ([]byte, error) {
			return (&plog.JSONMarshaler{}).MarshalLogs(ld)
		})
	})
	tracesC, _ := consumer.NewTraces(func(ctx context.Context, td ptrace.Traces) error {
		return s.consume(ctx, SignalTraces, td.SpanCount(), func() ([]byte, error) {
			return (&ptrace.JSONMarshaler{}).MarshalTraces(td)
		})
	})
	metricsC, _ := consumer.NewMetrics(func(ctx context.Context, md pmetric.Metrics) error {
		return s.consume(ctx, SignalMetrics, md.DataPointCount(), func() ([]byte, error) {
			return (&pmetric.JSONMarshaler{}).MarshalMetrics(md)
		})
	})

	// The same cfg pointer for all three: the factory shares one receiver
	// (one gRPC and one HTTP server) between the signals.
	lr, err := factory.CreateLogs(ctx, set, cfg, logsC)
	if err != nil {
		return err
	}
	tr, err := factory.CreateTraces(ctx, set, cfg, tracesC)
	if err != nil {
		return err
	}
	mr, err := factory.CreateMetrics(ctx, set, cfg, metricsC)
	if err != nil {
		return err
	}
	comps := []component.Component{lr, tr, mr}
	host := inspectHost{}
	for _, c := range comps {
		if err := c.Start(ctx, host); err != nil {
			for _, c2 := range comps {
				_ = c2.Shutdown(ctx)
			}
			return err
		}
	}
	s.receivers = comps
	return nil
}

// consume applies the current fault to one request and, if accepted, writes
// it as one OTLP/JSON line before returning (so a successful response means
// the line is already in the file).
func (s *Server) consume(ctx context.Context, sig string, items int, marshal func() ([]byte, error)) error {
	arrived := float64(time.Now().UnixNano()) / 1e6
	f := s.faults.take(sig)
	ri := requestInfoFrom(ctx)
	s.stats.update(sig, func(st *signalStats) {
		st.Requests++
		if len(st.ArrivalsMs) >= maxArrivals {
			st.ArrivalsMs = st.ArrivalsMs[1:]
		}
		st.ArrivalsMs = append(st.ArrivalsMs, arrived)
		if ri != nil {
			st.Transports[ri.transport]++
			st.LastHeaders = ri.headers
			if ct := first(ri.headers["content-type"]); ct != "" {
				st.ContentTypes[strings.TrimSpace(strings.SplitN(ct, ";", 2)[0])]++
			}
			if ri.transport == "http" {
				enc := first(ri.headers["content-encoding"])
				if enc == "" {
					enc = "identity"
				}
				st.Encodings[enc]++
			}
		}
	})
	switch f.Mode {
	case ModeOK:
		return s.accept(sig, items, marshal, "ok")
	case ModePartial:
		if ri == nil { // cannot happen: otbinspect is always configured
			s.stats.update(sig, func(st *signalStats) { st.Outcomes["write_error"]++ })
			return consumererror.NewPermanent(errors.New("otbreceiver: partial: no request context"))
		}
		if err := s.accept(sig, items, marshal, ModePartial); err != nil {
			return err
		}
		ri.setPartial(sig, partial{rejected: f.Rejected, message: f.Message})
		s.stats.update(sig, func(st *signalStats) { st.Rejected += f.Rejected })
		return nil
	case ModeHang:
		s.stats.update(sig, func(st *signalStats) { st.Hanging++ })
		released := s.hold(ctx, f.DelayMs)
		s.stats.update(sig, func(st *signalStats) { st.Hanging-- })
		if !released {
			s.stats.update(sig, func(st *signalStats) { st.Outcomes["hang_aborted"]++ })
			return status.Error(codes.Unavailable, "otbreceiver: injected fault: hang aborted")
		}
		return s.accept(sig, items, marshal, "hang_ok")
	default:
		s.stats.update(sig, func(st *signalStats) { st.Outcomes[f.Mode]++ })
		return faultError(f)
	}
}

// hold blocks for delayMs (true = released normally) or, when delayMs is 0,
// until the client goes away or the server shuts down (false). Shutdown
// always aborts the hold.
func (s *Server) hold(ctx context.Context, delayMs int64) bool {
	if delayMs > 0 {
		t := time.NewTimer(time.Duration(delayMs) * time.Millisecond)
		defer t.Stop()
		select {
		case <-t.C:
			return true
		case <-s.quit:
			return false
		}
	}
	select {
	case <-ctx.Done():
	case <-s.quit:
	}
	return false
}

func (s *Server) accept(sig string, items int, marshal func() ([]byte, error), outcome string) error {
	b, err := marshal()
	if err == nil {
		err = s.files[sig].writeLine(b)
	}
	if err != nil {
		s.stats.update(sig, func(st *signalStats) { st.Outcomes["write_error"]++ })
		return fmt.Errorf("otbreceiver: write %s: %w", sig, err)
	}
	s.stats.update(sig, func(st *signalStats) {
		st.Accepted++
		st.Items += int64(items)
		st.Outcomes[outcome]++
	})
	return nil
}

// SetFault replaces the current fault.
func (s *Server) SetFault(f FaultSpec) error {
	if err := f.normalize(); err != nil {
		return err
	}
	s.faults.set(f)
	return nil
}

func (s *Server) controlMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /fault", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		f, err := ParseFaultSpec(body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.faults.set(f)
		writeJSON(w, s.faults.get())
	})
	mux.HandleFunc("GET /fault", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, s.faults.get())
	})
	mux.HandleFunc("GET /stats", func(w http.ResponseWriter, _ *http.Request) {
		out := map[string]any{}
		for k, v := range s.stats.snapshot() {
			out[k] = v
		}
		out["fault"] = s.faults.get()
		writeJSON(w, out)
	})
	mux.HandleFunc("GET /ready", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, s.Ready)
	})
	return mux
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// Shutdown releases held requests, stops the receiver and the control API
// and closes the files.
// Calling it again returns the first result.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() { s.shutdownErr = s.shutdown(ctx) })
	return s.shutdownErr
}

func (s *Server) shutdown(ctx context.Context) error {
	close(s.quit)
	var errs []error
	for _, c := range s.receivers {
		errs = append(errs, c.Shutdown(ctx))
	}
	if s.ctrlSrv != nil {
		errs = append(errs, s.ctrlSrv.Shutdown(ctx))
		<-s.ctrlDone
	}
	errs = append(errs, s.closeFiles())
	return errors.Join(errs...)
}

func (s *Server) closeFiles() error {
	var errs []error
	for k, f := range s.files {
		errs = append(errs, f.f.Close())
		delete(s.files, k)
	}
	return errors.Join(errs...)
}

func first(v []string) string {
	if len(v) == 0 {
		return ""
	}
	return v[0]
}

func isPortZero(hostport string) bool {
	_, port, err := net.SplitHostPort(hostport)
	return err == nil && port == "0"
}

// pickPorts replaces port 0 in the endpoints by free ports. The receiver does
// not report its bound port, so we find one by listening on :0 and closing.
// Both probe listeners are held until both ports are known, so the two
// endpoints never get the same port.
func pickPorts(grpcEP, httpEP string) (string, string, error) {
	endpoints := []string{grpcEP, httpEP}
	out := make([]string, len(endpoints))
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for i, ep := range endpoints {
		host, port, err := net.SplitHostPort(ep)
		if err != nil {
			return "", "", fmt.Errorf("endpoint %q: %w", ep, err)
		}
		if port != "0" {
			out[i] = ep
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			return "", "", err
		}
		lns = append(lns, l)
		_, p, _ := net.SplitHostPort(l.Addr().String())
		out[i] = net.JoinHostPort(host, p)
	}
	return out[0], out[1], nil
}

// WriteReady writes the ready line to path.tmp and renames it to path, so a
// reader never sees a partial file.
func WriteReady(path string, r Ready) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
