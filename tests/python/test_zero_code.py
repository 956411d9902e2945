"""Zero-code: `opentelemetry-instrument python app.py` on the native engine (bindings/python/
otelbridge/distro.py, entry points in pyproject.toml).

The binding is pip-installed into a target directory (so its entry points exist for
importlib.metadata), next to the official opentelemetry-distro, opentelemetry-instrumentation-
requests and -logging from PyPI (tests/python/requirements.txt). The app below knows nothing of
OpenTelemetry: it serves one HTTP endpoint from a thread, fetches it with `requests` (a real HTTP
request over TCP), and logs. urllib3 logs at DEBUG while the request is being sent, i.e. inside
the requests instrumentation's CLIENT span. Only the environment names otelbridge
(OTEL_PYTHON_DISTRO=otelbridge; OTEL_PYTHON_CONFIGURATOR is left unset on purpose: the distro
must pick our configurator over the official one).

Asserted at the real receiver: every log record arrives exactly once (the contrib logging
instrumentation is loaded, but must not attach its handler next to ours); the app's
logging.basicConfig still takes effect; the root logger holds our handler once.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

from collector import json_attrs


APP = r'''
import http.server, json, logging, sys, threading

import requests

logging.basicConfig(level=logging.INFO, stream=sys.stderr)
logging.getLogger("urllib3").setLevel(logging.DEBUG)
log = logging.getLogger("zero_code_app")


class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"pong"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
threading.Thread(target=srv.serve_forever, daemon=True).start()
log.info("app started", extra={"app.phase": "start"})
r = requests.get(f"http://127.0.0.1:{srv.server_address[1]}/ping", timeout=10)
log.warning("fetched", extra={"http.status": r.status_code, "body.text": r.text})
srv.shutdown()
root = logging.getLogger()
print(json.dumps({
    "handlers": [f"{type(h).__module__}.{type(h).__qualname__}" for h in root.handlers],
}))
'''


def _instrument_cmd() -> str:
    p = Path(sys.executable).parent / "opentelemetry-instrument"
    assert p.exists(), f"{p} not found: pip install -r tests/python/requirements.txt"
    return str(p)


def run_app(installed_dir: Path, tmp_path: Path, rx, extra_env: dict | None = None):
    app = tmp_path / "app.py"
    app.write_text(textwrap.dedent(APP))
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("OTEL_") or k.startswith("OTELBRIDGE_"))}
    env.update(PYTHONPATH=str(installed_dir),
               OTEL_PYTHON_DISTRO="otelbridge",
               OTEL_SERVICE_NAME="zero-code-app",
               OTEL_EXPORTER_OTLP_ENDPOINT=rx.grpc_endpoint,
               OTEL_METRICS_EXPORTER="none",
               OTEL_BLRP_SCHEDULE_DELAY="50", OTEL_BSP_SCHEDULE_DELAY="50")
    env.update(extra_env or {})
    r = subprocess.run([_instrument_cmd(), sys.executable, str(app)], env=env, cwd=tmp_path,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, f"app failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return json.loads(r.stdout.strip().splitlines()[-1]), r.stderr


def test_opentelemetry_instrument_logs_once_through_our_handler(rx, installed_binding_dir,
                                                                tmp_path):
    out, stderr = run_app(installed_binding_dir, tmp_path, rx)
    # The app's basicConfig(level=INFO) worked although our handler was attached before the app
    # ran (it returns early when the root logger has handlers), ours is still there, once, and
    # the contrib LoggingHandler is not.
    assert out["handlers"] == ["logging.StreamHandler", "otelbridge.logging.Handler"], out
    assert "INFO:zero_code_app:app started" in stderr
    # The app exited: the atexit flush delivered everything.
    rx.wait_for(lambda s: s["logs"]["items"] >= 2, timeout=10)
    time.sleep(0.3)
    records = rx.log_records()
    bodies = Counter(rec["body"]["stringValue"] for _, _, rec in records)
    assert bodies["app started"] == 1, bodies
    assert bodies["fetched"] == 1, bodies
    dup = {b: c for b, c in bodies.items() if c > 1}
    assert not dup, f"records that arrived more than once: {dup}"
    by_body = {rec["body"]["stringValue"]: (res, scope, rec) for res, scope, rec in records}
    res, scope, rec = by_body["fetched"]
    assert scope["name"] == "zero_code_app"
    assert rec["severityNumber"] == 13 and rec["severityText"] == "WARN"
    assert json_attrs(rec) == {"http.status": "200", "body.text": "pong"} or \
        json_attrs(rec) == {"http.status": 200, "body.text": "pong"}
    assert json_attrs(res)["service.name"] == "zero-code-app"
    # urllib3's DEBUG records were emitted while requests sent the request: they arrive too.
    urllib3 = [r for _, s, r in records if s["name"].startswith("urllib3")]
    assert len(urllib3) >= 2, sorted(bodies)


def test_opentelemetry_instrument_requests_span_and_correlated_logs(rx, installed_binding_dir,
                                                                     tmp_path):
    run_app(installed_binding_dir, tmp_path, rx)
    rx.wait_for(lambda s: s["traces"]["items"] >= 1 and s["logs"]["items"] >= 4, timeout=10)
    time.sleep(0.3)
    spans = [(rs, ss, sp) for req in rx.read_traces() for rs in req["resourceSpans"]
             for ss in rs["scopeSpans"] for sp in ss["spans"]]
    assert len(spans) == 1, [sp["name"] for _, _, sp in spans]
    rs, ss, span = spans[0]
    assert ss["scope"]["name"] == "opentelemetry.instrumentation.requests"
    assert span["kind"] == 3 and span["name"] == "GET"  # SPAN_KIND_CLIENT
    attrs = json_attrs(span)
    url = attrs.get("url.full", attrs.get("http.url"))
    assert url is not None and url.endswith("/ping"), attrs
    assert json_attrs(rs["resource"])["service.name"] == "zero-code-app"
    records = rx.log_records()
    inside = [rec for _, s, rec in records if s["name"].startswith("urllib3")]
    assert len(inside) >= 2
    for rec in inside:  # emitted while requests sent the request: that request's span
        assert (rec.get("traceId"), rec.get("spanId")) == (span["traceId"], span["spanId"]), rec
    for _, s, rec in records:
        if s["name"] == "zero_code_app":  # outside any span
            assert not rec.get("traceId") and not rec.get("spanId"), rec
