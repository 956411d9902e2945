"""gunicorn (PyPI) with 4 sync workers and the Python binding: nothing lost, nothing twice.

A small WSGI app (written below) configures otelbridge from the environment when it is imported
and, per request, emits one log record (and one span, when the binding's trace API is present)
carrying the request's id. The server runs with and without preload_app:
  - without it, each worker imports the app after the fork and configures its own engine;
  - with it, the master configures the engine before forking, and each worker inherits it (the
    library's fork handling gives the child a fresh queue, worker and connection).
The schedule delay is an hour and N is below one batch, so nothing is exported before shutdown:
every record must leave through gunicorn's graceful shutdown (SIGTERM to the master; each worker
ends through sys.exit, so the atexit flush runs). Then the real receiver must hold exactly N log
records (and N spans), one per request id, each under the process.pid of the worker that answered
that request (the app returns its pid in the response), and none under the master's pid.
"""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest

from collector import json_attrs
from pybinding import free_port

N_REQUESTS = 200
WORKERS = 4

APP = r'''
import logging, os, time

import otelbridge

otelbridge.configure()  # everything from the environment (OTEL_*)
log = logging.getLogger("gunicorn_app")
log.setLevel(logging.INFO)

from otelbridge import trace as _trace

tracer = _trace.get_tracer("gunicorn_app")


def app(environ, start_response):
    rid = environ.get("QUERY_STRING", "")
    with tracer.start_as_current_span("GET /", attributes={"request.id": rid}):
        log.info("handled request", extra={"request.id": rid})
    time.sleep(0.005)  # keep workers busy so that the load spreads over all of them
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''


def _get(port: int, rid: str) -> int:
    deadline = time.monotonic() + 10
    while True:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("GET", "/?" + rid)
            r = c.getresponse()
            body = r.read()
            c.close()
            assert r.status == 200, (r.status, body)
            return int(body)
        except (ConnectionRefusedError, ConnectionResetError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _wait_listening(port: int, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"gunicorn exited with {proc.returncode} before listening")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("gunicorn did not listen within %s s" % timeout)


@pytest.mark.parametrize("preload", [False, True], ids=["no-preload", "preload"])
def test_gunicorn_sync_workers_lose_nothing_and_duplicate_nothing(rx, pkg_dir, tmp_path,
                                                                   preload):
    (tmp_path / "gunicorn_app.py").write_text(textwrap.dedent(APP))
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("OTEL_") or k.startswith("OTELBRIDGE_"))}
    env.update(PYTHONPATH=f"{tmp_path}{os.pathsep}{pkg_dir}",
               OTEL_SERVICE_NAME="gunicorn-test",
               OTEL_EXPORTER_OTLP_ENDPOINT=rx.grpc_endpoint,
               OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
               OTEL_METRICS_EXPORTER="none",
               # Nothing leaves before shutdown: the timers never fire and N < one batch.
               OTEL_BLRP_SCHEDULE_DELAY="3600000", OTEL_BSP_SCHEDULE_DELAY="3600000",
               OTEL_BLRP_MAX_EXPORT_BATCH_SIZE="512", OTEL_BSP_MAX_EXPORT_BATCH_SIZE="512")
    args = [sys.executable, "-m", "gunicorn", "--workers", str(WORKERS),
            "--worker-class", "sync", "--bind", f"127.0.0.1:{port}",
            "--graceful-timeout", "20", "--log-level", "warning"]
    if preload:
        args.append("--preload")
    args.append("gunicorn_app:app")
    stderr_path = tmp_path / "gunicorn.stderr"
    with open(stderr_path, "wb") as err:
        proc = subprocess.Popen(args, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL,
                                stderr=err)
        try:
            _wait_listening(port, proc)
            rids = [f"r{i:04d}" for i in range(N_REQUESTS)]
            with ThreadPoolExecutor(8) as pool:
                pids = list(pool.map(lambda rid: _get(port, rid), rids))
            served_by = dict(zip(rids, pids))
            # Nothing was exported yet: what arrives below came through the shutdown path.
            assert rx.stats()["logs"]["items"] == 0
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    stderr = stderr_path.read_text(errors="replace")
    assert rc == 0, f"gunicorn exited with {rc}:\n{stderr}"
    worker_pids = set(pids)
    assert proc.pid not in worker_pids
    assert len(worker_pids) >= 2, f"the load reached only {worker_pids}"

    # Everything was flushed before the workers exited; allow the receiver a moment to write.
    rx.wait_for(lambda s: s["logs"]["items"] >= N_REQUESTS, timeout=10)
    time.sleep(0.3)
    records = rx.log_records()
    assert len(records) == N_REQUESTS, f"{len(records)} log records for {N_REQUESTS} requests"
    seen = Counter()
    for resource, scope, rec in records:
        rattrs = json_attrs(resource)
        attrs = json_attrs(rec)
        rid = attrs["request.id"]
        seen[rid] += 1
        assert scope.get("name") == "gunicorn_app"
        assert rec["body"]["stringValue"] == "handled request"
        assert rattrs["service.name"] == "gunicorn-test"
        assert int(rattrs["process.pid"]) == served_by[rid], (
            f"{rid} was served by {served_by[rid]} but its record says {rattrs['process.pid']}")
    assert set(seen) == set(rids), "lost: %s" % sorted(set(rids) - set(seen))[:10]
    assert max(seen.values()) == 1, "twice: %s" % [r for r, c in seen.items() if c > 1][:10]
    per_pid_records = Counter(int(json_attrs(r)["process.pid"]) for r, _, _ in records)
    assert per_pid_records == Counter(pids)

    rx.wait_for(lambda s: s["traces"]["items"] >= N_REQUESTS, timeout=10)
    spans = {}
    for req in rx.read_traces():
        for rs in req.get("resourceSpans", []):
            pid = int(json_attrs(rs.get("resource", {}))["process.pid"])
            for ss in rs.get("scopeSpans", []):
                for sp in ss.get("spans", []):
                    rid = json_attrs(sp)["request.id"]
                    assert rid not in spans, f"span of {rid} twice"
                    assert pid == served_by[rid]
                    spans[rid] = sp
    assert set(spans) == set(rids)
    for _, _, rec in records:  # each log record carries its request's span
        sp = spans[json_attrs(rec)["request.id"]]
        assert (rec.get("traceId"), rec.get("spanId")) == (sp["traceId"], sp["spanId"])
