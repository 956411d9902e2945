// Command otbreceiver embeds the OpenTelemetry Collector's real otlpreceiver
// (OTLP/gRPC and OTLP/HTTP) for otelbridge's integration tests. Every
// accepted request is appended as one OTLP/JSON line to
// OUT/{logs,traces,metrics}.jsonl; failures can be injected at run time
// through a small control HTTP API. See README.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/zap"
)

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	fs := flag.NewFlagSet("otbreceiver", flag.ContinueOnError)
	grpcEP := fs.String("grpc", "127.0.0.1:0", "OTLP/gRPC endpoint host:port (port 0 = pick a free port)")
	httpEP := fs.String("http", "127.0.0.1:0", "OTLP/HTTP endpoint host:port (port 0 = pick a free port)")
	ctrlEP := fs.String("control", "127.0.0.1:0", "control API endpoint host:port (port 0 = pick a free port)")
	outDir := fs.String("out", ".", "directory for logs.jsonl, traces.jsonl, metrics.jsonl (truncated at start)")
	readyFile := fs.String("ready", "", "once listening, write {\"grpc\",\"http\",\"control\",\"pid\",\"out\"} JSON to this file (atomically)")
	faultJSON := fs.String("fault", "", "initial fault, same JSON as POST /fault, e.g. '{\"mode\":\"unavailable\",\"count\":1}'")
	verbose := fs.Bool("v", false, "log the receiver's own messages to stderr")
	tlsCert := fs.String("tls-cert", "", "server certificate (PEM): gRPC and HTTP speak TLS only (needs -tls-key)")
	tlsKey := fs.String("tls-key", "", "private key (PEM) of -tls-cert")
	clientCA := fs.String("client-ca", "", "CA (PEM) that must have signed the client's certificate: mTLS (needs -tls-cert)")
	if err := fs.Parse(args); err != nil {
		return 2
	}

	opts := Options{GRPC: *grpcEP, HTTP: *httpEP, Control: *ctrlEP, OutDir: *outDir,
		TLSCert: *tlsCert, TLSKey: *tlsKey, ClientCA: *clientCA}
	if (opts.TLSCert == "") != (opts.TLSKey == "") || (opts.ClientCA != "" && opts.TLSCert == "") {
		fmt.Fprintln(os.Stderr, "otbreceiver: -tls-cert and -tls-key go together; -client-ca needs both")
		return 2
	}
	if *faultJSON != "" {
		f, err := ParseFaultSpec([]byte(*faultJSON))
		if err != nil {
			fmt.Fprintf(os.Stderr, "otbreceiver: -fault: %v\n", err)
			return 2
		}
		opts.Fault = f
	}
	if *verbose {
		l, err := zap.NewDevelopment()
		if err == nil {
			opts.Logger = l
		}
	}

	// Catch signals before anything listens, so a test that sends SIGTERM
	// right after the ready file appears always gets a clean shutdown.
	sigCh := make(chan os.Signal, 1)
	signal.Notify(sigCh, syscall.SIGTERM, syscall.SIGINT)

	srv, err := Start(context.Background(), opts)
	if err != nil {
		fmt.Fprintf(os.Stderr, "otbreceiver: %v\n", err)
		return 1
	}
	if *readyFile != "" {
		if err := WriteReady(*readyFile, srv.Ready); err != nil {
			fmt.Fprintf(os.Stderr, "otbreceiver: ready file: %v\n", err)
			_ = srv.Shutdown(context.Background())
			return 1
		}
	}
	b, _ := json.Marshal(srv.Ready)
	fmt.Println(string(b))

	sig := <-sigCh
	fmt.Fprintf(os.Stderr, "otbreceiver: %v, shutting down\n", sig)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "otbreceiver: shutdown: %v\n", err)
		return 1
	}
	return 0
}
