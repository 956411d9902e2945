"""The real OTLP receiver (tests/collector: the OpenTelemetry Collector's otlpreceiver) for tests.

    import collector
    rx = collector.start(tmp_path)          # free ports; waits until every server listens
    rx.grpc, rx.http, rx.control            # "127.0.0.1:PORT" each
    rx.grpc_endpoint, rx.http_endpoint      # "http://127.0.0.1:PORT" for OTEL_EXPORTER_OTLP_ENDPOINT
    rx.set_fault("unavailable", count=2)    # POST /fault (see tests/collector/README.md)
    rx.stats()["logs"]["requests"]          # GET /stats
    rx.read_logs()                          # logs.jsonl, one parsed JSON object per request
    rx.stop()                               # SIGTERM, asserts a clean exit (status 0)

Or as a context manager: `with collector.start(tmp_path) as rx: ...`.

The binary comes from tests/collector/build.sh (built once, cached), or from $OTBRECEIVER when
that is set. Building needs Go; a missing Go is a test error, never a skip.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLLECTOR_DIR = HERE.parent / "collector"

_BINARY: str | None = None


def json_attrs(obj: dict) -> dict:
    """{key: value} of an OTLP/JSON object's `attributes` (resource, span, log record, data
    point), each AnyValue read as its one member (None when it has none)."""
    out = {}
    for kv in obj.get("attributes", []) or []:
        v = kv.get("value", {})
        out[kv["key"]] = next(iter(v.values())) if v else None
    return out


class CollectorError(AssertionError):
    pass


def binary() -> str:
    """The otbreceiver binary: $OTBRECEIVER, else built (once per process) by build.sh."""
    global _BINARY
    if _BINARY is None:
        env = os.environ.get("OTBRECEIVER")
        if env:
            _BINARY = env
        else:
            proc = subprocess.run([str(COLLECTOR_DIR / "build.sh")], capture_output=True,
                                  text=True, timeout=600)
            if proc.returncode != 0:
                raise CollectorError(f"tests/collector/build.sh failed ({proc.returncode}):\n"
                                     f"{proc.stderr[-4000:]}")
            _BINARY = proc.stdout.strip().splitlines()[-1]
    if not os.access(_BINARY, os.X_OK):
        raise CollectorError(f"otbreceiver binary {_BINARY!r} is not executable")
    return _BINARY


class Collector:
    """One running otbreceiver process."""

    def __init__(self, directory, fault: dict | None = None, verbose: bool = False,
                 start_timeout: float = 15.0, grpc: str | None = None, http: str | None = None,
                 tls_cert=None, tls_key=None, client_ca=None):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.out = self.dir / "out"
        self.out.mkdir(exist_ok=True)
        self.ready_file = self.dir / "ready.json"
        if self.ready_file.exists():
            self.ready_file.unlink()
        self.stderr_path = self.dir / "otbreceiver.stderr"
        args = [binary(), "-out", str(self.out), "-ready", str(self.ready_file)]
        if fault is not None:
            args += ["-fault", json.dumps(fault)]
        if verbose:
            args.append("-v")
        # Fixed addresses (e.g. to restart on the same port) and TLS/mTLS (tests/collector/README.md).
        for flag, value in (("-grpc", grpc), ("-http", http), ("-tls-cert", tls_cert),
                            ("-tls-key", tls_key), ("-client-ca", client_ca)):
            if value is not None:
                args += [flag, str(value)]
        self._stderr = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self._stderr)
        deadline = time.monotonic() + start_timeout
        while not self.ready_file.exists():
            if self.proc.poll() is not None:
                self._stderr.close()
                raise CollectorError(f"otbreceiver exited with {self.proc.returncode} before it "
                                     f"was ready:\n{self.stderr_text()}")
            if time.monotonic() > deadline:
                self.kill()
                raise CollectorError(f"otbreceiver not ready after {start_timeout} s:\n"
                                     f"{self.stderr_text()}")
            time.sleep(0.02)
        self.ready = json.loads(self.ready_file.read_text())
        self.grpc: str = self.ready["grpc"]
        self.http: str = self.ready["http"]
        self.control: str = self.ready["control"]
        self.pid: int = self.ready["pid"]
        self.tls: bool = bool(self.ready.get("tls"))

    # -- addresses
    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def grpc_endpoint(self) -> str:
        return f"{self.scheme}://{self.grpc}"

    @property
    def http_endpoint(self) -> str:
        return f"{self.scheme}://{self.http}"

    # -- control API
    def _request(self, method: str, path: str, body: dict | None = None) -> dict:
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"http://{self.control}{path}", data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=5) as resp:
                return json.loads(resp.read() or b"null")
        except urllib.error.HTTPError as e:
            raise CollectorError(f"{method} {path} -> {e.code}: {e.read().decode(errors='replace')}")

    def set_fault(self, mode: str = "ok", count: int = 0, retry_after_s: float | None = None,
                  delay_ms: int = 0, signal: str = "", rejected: int | None = None,
                  message: str | None = None) -> dict:
        """POST /fault. Returns the new fault state. rejected/message: mode "partial" only."""
        body: dict = {"mode": mode, "count": count, "delay_ms": delay_ms, "signal": signal}
        if retry_after_s is not None:
            body["retry_after_s"] = retry_after_s
        if rejected is not None:
            body["rejected"] = rejected
        if message is not None:
            body["message"] = message
        return self._request("POST", "/fault", body)

    def fault(self) -> dict:
        return self._request("GET", "/fault")

    def stats(self) -> dict:
        """GET /stats: {"fault": {...}, "logs": {"requests", "accepted", "items", "hanging",
        "outcomes"}, "traces": {...}, "metrics": {...}}."""
        return self._request("GET", "/stats")

    def signal_stats(self, signal: str = "logs") -> dict:
        s = self.stats().get(signal) or {}
        s.setdefault("outcomes", {})
        return s

    def wait_for(self, predicate, timeout: float = 5.0, interval: float = 0.02):
        """Polls predicate(stats()) until it is truthy; returns the last stats."""
        deadline = time.monotonic() + timeout
        while True:
            s = self.stats()
            if predicate(s):
                return s
            if time.monotonic() > deadline:
                raise CollectorError(f"condition not met within {timeout} s; stats: {s}")
            time.sleep(interval)

    # -- output
    def read_jsonl(self, signal: str) -> list[dict]:
        path = self.out / f"{signal}.jsonl"
        if not path.exists():
            return []
        text = path.read_text(encoding="utf-8")
        return [json.loads(line) for line in text.split("\n") if line]

    def read_logs(self) -> list[dict]:
        """One parsed OTLP/JSON ExportLogsServiceRequest per accepted request."""
        return self.read_jsonl("logs")

    def read_traces(self) -> list[dict]:
        return self.read_jsonl("traces")

    def read_metrics(self) -> list[dict]:
        return self.read_jsonl("metrics")

    def log_records(self) -> list[tuple[dict, dict, dict]]:
        """(resource, scope, logRecord) for every record received, in arrival order."""
        out = []
        for req in self.read_logs():
            for rl in req.get("resourceLogs", []) or []:
                for sl in rl.get("scopeLogs", []) or []:
                    for rec in sl.get("logRecords", []) or []:
                        out.append((rl.get("resource", {}), sl.get("scope", {}), rec))
        return out

    def stderr_text(self) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")
        except OSError:
            return ""

    # -- lifecycle
    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM and wait; a non-zero exit status is a test failure."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.kill()
                raise CollectorError(f"otbreceiver did not stop within {timeout} s")
        self._stderr.close()
        if self.proc.returncode != 0:
            raise CollectorError(f"otbreceiver exited with {self.proc.returncode}:\n"
                                 f"{self.stderr_text()}")

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self._stderr.close()

    def __enter__(self) -> "Collector":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.stop()
        else:
            self.kill()


def start(directory, fault: dict | None = None, verbose: bool = False, **kw) -> Collector:
    """Starts otbreceiver with its files under `directory` and waits until it is ready.
    kw: grpc/http ("127.0.0.1:PORT" to reuse a port), tls_cert/tls_key/client_ca (PEM paths)."""
    return Collector(directory, fault=fault, verbose=verbose, **kw)
