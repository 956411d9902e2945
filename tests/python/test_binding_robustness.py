"""The Python binding must never recurse or deadlock (issue 6, item 3).

Each scenario runs in a subprocess (configure() is process-global) with a wall-clock timeout, so a
deadlock is a test failure, not a hung suite. What arrived is decoded with opentelemetry-proto
(file exporter) and counted exactly.

Expectations, precisely:
  - formatter that logs: each record logged while the handler emits on the same thread is
    emitted one level deep; the formatter's log call from inside THAT emission is dropped by our
    handler. N records in -> exactly N outer + N inner records out, no RecursionError.
  - dictConfig while threads log: the threads log to a logger dictConfig leaves alone (its
    otelbridge Handler stays attached; dictConfig closes it anyway, as it closes every handler it
    knows): every one of their records arrives exactly once; the main thread's records, logged
    after each reconfiguration, arrive exactly once through the root handler dictConfig made.
  - exporter failure: the engine's diagnostics go to stderr and never become records, the logging
    threads are never blocked (bounded time), flush/shutdown honour their timeouts.
  - signal handler: records logged from a signal handler that interrupted our emit arrive; exact
    counts of both. (A signal handler that interrupts the emission of another signal handler's
    record would be two levels deep and is dropped: the test blocks the signal inside its
    handler, as a handler that must not nest does.)
  - interpreter exit: records logged by atexit functions that run after otelbridge's own atexit
    flush still arrive (the library's C exit handler exports them); daemon threads logging
    through exit do not crash or hang the exit.
"""

from __future__ import annotations

import json
import socket
import time
from collections import Counter

from pybinding import attrs_of, read_logs, run_child

FORMATTER_LOGS = r'''
import logging, sys
import otelbridge
from otelbridge.logging import Handler

otelbridge.configure(logs_exporter="file", otelbridge_file_path=sys.argv[1],
                     otelbridge_file_format="proto", attach_handler=False)

class Chatty(logging.Formatter):
    calls = 0
    def format(self, record):
        Chatty.calls += 1
        logging.getLogger("inner").warning("formatting %s", record.name)
        return "F:" + super().format(record)

h = Handler()
h.setFormatter(Chatty("%(name)s|%(message)s"))
root = logging.getLogger()
root.addHandler(h)
root.setLevel(logging.INFO)

class Loud:
    def __str__(self):
        logging.getLogger("inner.str").warning("str called")
        return "loud"

N = 50
for i in range(N):
    logging.getLogger("app").info("record %d", i)
logging.getLogger("app.loud").info("with a loud extra", extra={"v": Loud()})
assert otelbridge.shutdown(10)
print(Chatty.calls)
'''


def test_formatter_that_logs_does_not_recurse(pkg_dir, tmp_path):
    r = run_child(pkg_dir, FORMATTER_LOGS, tmp_path)
    assert "RecursionError" not in r.stderr and "Logging error" not in r.stderr, r.stderr
    logs = read_logs(tmp_path / "out.bin")
    by_scope = Counter(s for _, s, _ in logs)
    # 50 app records, each formatted once (-> 1 inner record, whose own format's log is dropped);
    # the loud record: its format logs (inner) and its extra's __str__ logs (inner.str), both one
    # level deep; their formats' log calls are two levels deep and dropped.
    assert by_scope == {"app": 50, "inner": 51, "app.loud": 1, "inner.str": 1}, by_scope
    app = [rec for _, s, rec in logs if s == "app"]
    assert [r.body.string_value for r in app] == [f"F:app|record {i}" for i in range(50)]
    inner = sorted(rec.body.string_value for _, s, rec in logs if s == "inner")
    assert inner == sorted(["F:inner|formatting app"] * 50 + ["F:inner|formatting app.loud"])
    [loud] = [rec for _, s, rec in logs if s == "app.loud"]
    assert attrs_of(loud) == {"v": "loud"}
    [strrec] = [rec for _, s, rec in logs if s == "inner.str"]
    assert strrec.body.string_value == "F:inner.str|str called"
    # Every record was formatted: 50 app + 50 inner + loud + its inner + inner.str, plus the
    # format calls of the 2-deep records that were dropped: none (dropped before formatting).
    assert int(r.stdout.split()[-1]) == 50 + 50 + 1 + 1 + 1


DICTCONFIG = r'''
import logging, logging.config, os, sys, threading
import otelbridge
from otelbridge.logging import Handler

otelbridge.configure(logs_exporter="file", otelbridge_file_path=sys.argv[1],
                     otelbridge_file_format="proto", blrp_max_queue_size=100000,
                     attach_handler=False)
work = logging.getLogger("work")
work.propagate = False
work.setLevel(logging.INFO)
work.addHandler(Handler())

T, M, CONFIGS = 4, 2000, 40
start = threading.Barrier(T + 1)
def worker(t):
    start.wait()
    for i in range(M):
        work.info("w", extra={"t": t, "i": i})

threads = [threading.Thread(target=worker, args=(t,)) for t in range(T)]
for th in threads:
    th.start()
start.wait()
CFG = {
    "version": 1, "disable_existing_loggers": False,
    "handlers": {"otel": {"()": "otelbridge.logging.Handler"}},
    "root": {"handlers": ["otel"], "level": "INFO"},
}
for c in range(CONFIGS):
    logging.config.dictConfig(CFG)
    logging.getLogger("main").info("after config %d", c)
for th in threads:
    th.join(20)
    if th.is_alive():
        sys.stderr.write("DEADLOCK: a logging thread did not finish\n")
        os._exit(3)
assert work.handlers and isinstance(work.handlers[0], Handler)
assert otelbridge.shutdown(10)
'''


def test_dictconfig_while_threads_log(pkg_dir, tmp_path):
    t0 = time.monotonic()
    run_child(pkg_dir, DICTCONFIG, tmp_path, timeout=60)
    logs = read_logs(tmp_path / "out.bin")
    work = Counter((attrs_of(rec)["t"], attrs_of(rec)["i"]) for _, s, rec in logs if s == "work")
    assert len(work) == 4 * 2000 and set(work.values()) == {1}, \
        f"{len(work)} distinct of 8000, duplicates: {sum(v > 1 for v in work.values())}"
    main = [rec.body.string_value for _, s, rec in logs if s == "main"]
    assert main == [f"after config {c}" for c in range(40)]
    assert {s for _, s, _ in logs} == {"work", "main"}
    assert time.monotonic() - t0 < 60


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


EXPORT_FAILS = r'''
import json, logging, sys, threading, time
import otelbridge

port = int(sys.argv[1])
otelbridge.configure(logs_exporter="otlp", exporter_otlp_endpoint=f"http://127.0.0.1:{port}",
                     exporter_otlp_timeout=300, blrp_schedule_delay=20,
                     blrp_max_export_batch_size=64)
root = logging.getLogger()
root.setLevel(logging.DEBUG)
names = set()
class Names(logging.Handler):
    def emit(self, record):
        names.add(record.name)
root.addHandler(Names())

def burst(t):
    for i in range(2000):
        logging.getLogger("app").info("r %d", i, extra={"t": t})
        if i % 200 == 0:
            time.sleep(0.02)  # let the worker try (and fail) exports meanwhile
t0 = time.monotonic()
threads = [threading.Thread(target=burst, args=(t,)) for t in range(4)]
for th in threads: th.start()
for th in threads: th.join()
log_s = time.monotonic() - t0
t1 = time.monotonic()
flushed = otelbridge.flush(0.5)
flush_s = time.monotonic() - t1
t2 = time.monotonic()
otelbridge.shutdown(0.5)
shutdown_s = time.monotonic() - t2
print(json.dumps({"names": sorted(names), "log_s": log_s, "flush_s": flush_s,
                  "shutdown_s": shutdown_s, "flushed": flushed}))
'''


def test_exporter_failure_diagnostics_never_become_records(pkg_dir, tmp_path):
    t0 = time.monotonic()
    r = run_child(pkg_dir, EXPORT_FAILS, tmp_path, env={"OTEL_LOG_LEVEL": "debug"},
                  args=[_closed_port()], timeout=60)
    wall = time.monotonic() - t0
    out = json.loads(r.stdout.strip().splitlines()[-1])
    # Only the application's own logger ever produced a Python record: nothing from the engine.
    assert out["names"] == ["app"], out
    # The engine did report the failures, on stderr, in its own format.
    diag = [l for l in r.stderr.splitlines() if l.startswith("otelbridge: ")]
    assert diag, r.stderr
    assert any("export" in l.lower() or "unavailable" in l.lower() or "connect" in l.lower()
               for l in diag), diag[:20]
    assert not [l for l in r.stderr.splitlines()
                if l and not l.startswith("otelbridge: ")], r.stderr[-2000:]
    # Timeouts honoured (with scheduling slack), the exit did not hang.
    assert out["flush_s"] < 2.0 and out["shutdown_s"] < 2.0, out
    assert wall < 30, wall


SIGNALS = r'''
import json, logging, signal, sys
import otelbridge
import otelbridge.logging as ol

otelbridge.configure(logs_exporter="file", otelbridge_file_path=sys.argv[1],
                     otelbridge_file_format="proto", blrp_max_queue_size=200000)
logging.getLogger().setLevel(logging.INFO)
sig = logging.getLogger("sig")
state = {"n": 0, "nested": 0}
def on_alarm(signum, frame):
    # SIGALRM is blocked while this handler runs, so a second alarm cannot interrupt the
    # handler's own emit (that record would be two levels deep, which the handler drops by
    # design); it is delivered after the unblock instead.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
    try:
        if ol.emit_depth():
            state["nested"] += 1  # this signal interrupted our handler's emit
        state["n"] += 1
        sig.warning("from signal %d", state["n"])
    finally:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})
signal.signal(signal.SIGALRM, on_alarm)
signal.setitimer(signal.ITIMER_REAL, 0.0005, 0.0005)
app = logging.getLogger("app")
N = 30000
for i in range(N):
    app.info("main %d", i, extra={"i": i})
signal.setitimer(signal.ITIMER_REAL, 0, 0)
assert otelbridge.shutdown(10)
print(json.dumps(state))
'''


def test_logging_from_a_signal_handler(pkg_dir, tmp_path):
    r = run_child(pkg_dir, SIGNALS, tmp_path, timeout=90)
    state = json.loads(r.stdout.strip().splitlines()[-1])
    assert state["n"] >= 10 and state["nested"] >= 1, state  # the scenario really happened
    logs = read_logs(tmp_path / "out.bin")
    app = [attrs_of(rec)["i"] for _, s, rec in logs if s == "app"]
    sig = sorted(rec.body.string_value for _, s, rec in logs if s == "sig")
    assert sorted(app) == list(range(30000))
    assert sig == sorted(f"from signal {k}" for k in range(1, state["n"] + 1))


AT_EXIT = r'''
import atexit, logging, sys, threading
def late():
    # Registered before configure(): runs after otelbridge's own atexit flush.
    for i in range(5):
        logging.getLogger("late").warning("late %d", i)
atexit.register(late)

import otelbridge
otelbridge.configure(logs_exporter="file", otelbridge_file_path=sys.argv[1],
                     otelbridge_file_format="proto", blrp_schedule_delay=600000,
                     otelbridge_exit_timeout=5000)
logging.getLogger().setLevel(logging.INFO)

def spin():
    d = logging.getLogger("daemon")
    while True:
        d.info("spinning")
for _ in range(2):
    threading.Thread(target=spin, daemon=True).start()
for i in range(10):
    logging.getLogger("main").info("main %d", i)
# no shutdown(): a normal exit
'''


def test_logging_at_interpreter_exit(pkg_dir, tmp_path):
    for attempt in range(3):  # the daemon threads race with the exit: run it a few times
        d = tmp_path / f"run{attempt}"
        d.mkdir()
        t0 = time.monotonic()
        r = run_child(pkg_dir, AT_EXIT, d, timeout=30)
        assert time.monotonic() - t0 < 20
        assert "Traceback" not in r.stderr, r.stderr
        logs = read_logs(d / "out.bin")
        main = [rec.body.string_value for _, s, rec in logs if s == "main"]
        late = [rec.body.string_value for _, s, rec in logs if s == "late"]
        assert main == [f"main {i}" for i in range(10)]
        assert late == [f"late {i}" for i in range(5)]
        assert {s for _, s, _ in logs} <= {"main", "late", "daemon"}
        assert all(rec.body.string_value == "spinning" for _, s, rec in logs if s == "daemon")
