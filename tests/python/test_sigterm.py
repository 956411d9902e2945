"""OTEL_PYTHON_FLUSH_ON_SIGTERM (otelbridge/__init__.py, _install_sigterm_flush): uvicorn handles
SIGTERM, shuts down, restores the handler it found and re-raises the signal, so the process dies
without atexit. With the setting on (and configure() run before uvicorn takes SIGTERM over), every
record logged before the signal reaches the real receiver and the process still ends by SIGTERM;
without it (the control run) the records queued behind a long batch delay are lost. No lifespan
flush in the app.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import httpx
import pytest
from pybinding import free_port, wait_http_ready

N = 25

APP = r'''
import logging, otelbridge
from fastapi import FastAPI
otelbridge.configure()                       # at import, before uvicorn.run() below
log = logging.getLogger("sigterm.app")
log.setLevel(logging.INFO)
app = FastAPI()                              # no lifespan: nothing flushes at shutdown

@app.get("/hit/{i}")
def hit(i: int) -> dict:
    log.info("hit %d", i, extra={"hit.index": i})
    return {"i": i}
'''

LAUNCH = r'''
import sys, uvicorn
sys.path.insert(0, sys.argv[2])
import app
uvicorn.run(app.app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
'''


def _serve_and_term(rx, pkg_dir, tmp_path, flush_on_sigterm: bool) -> int:
    (tmp_path / "app.py").write_text(APP)
    (tmp_path / "launch.py").write_text(LAUNCH)
    port = free_port()
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("OTEL_") or k.startswith("OTELBRIDGE_"))}
    env.update(PYTHONPATH=str(pkg_dir), OTEL_SERVICE_NAME="sigterm-app",
               OTEL_EXPORTER_OTLP_ENDPOINT=rx.grpc_endpoint, OTEL_EXPORTER_OTLP_PROTOCOL="grpc",
               OTEL_BLRP_SCHEDULE_DELAY="60000", OTEL_TRACES_EXPORTER="none",
               OTEL_METRICS_EXPORTER="none")
    if flush_on_sigterm:
        env["OTEL_PYTHON_FLUSH_ON_SIGTERM"] = "true"
    err_path = tmp_path / "uvicorn.stderr"
    with open(err_path, "wb") as err:
        proc = subprocess.Popen([sys.executable, str(tmp_path / "launch.py"), str(port),
                                 str(tmp_path)], env=env, stdout=err, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            wait_http_ready(base + "/hit/-1", proc, err_path)
            with httpx.Client(base_url=base, timeout=10) as c:
                for i in range(N):
                    assert c.get(f"/hit/{i}").json() == {"i": i}
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(30)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert rc == -signal.SIGTERM, (rc, err_path.read_text(errors="replace"))
    return rc


def _hits(rx) -> list:
    out = []
    for req in rx.read_logs():
        for rl in req.get("resourceLogs", []):
            for sl in rl.get("scopeLogs", []):
                if sl.get("scope", {}).get("name") != "sigterm.app":
                    continue
                for rec in sl.get("logRecords", []):
                    attrs = {a["key"]: a["value"] for a in rec.get("attributes", [])}
                    out.append((rec["body"]["stringValue"], int(attrs["hit.index"]["intValue"])))
    return out


@pytest.mark.parametrize("flush_on_sigterm", [True, False], ids=["on", "off"])
def test_uvicorn_sigterm_flushes_every_record(rx, pkg_dir, tmp_path, flush_on_sigterm):
    _serve_and_term(rx, pkg_dir, tmp_path, flush_on_sigterm)
    if flush_on_sigterm:
        rx.wait_for(lambda s: s["logs"]["items"] >= N + 1, timeout=10)
        time.sleep(0.3)
        hits = _hits(rx)
        assert sorted(hits) == sorted([(f"hit {i}", i) for i in range(-1, N)]), hits
    else:
        time.sleep(1.0)
        assert _hits(rx) == []  # the control: the default disposition loses the queue
