"""The logging hot path's C parts (otelbridge._speedups): the per-instance handle() and the record
factory (RecordFactory). What arrived is read back from the file exporter and decoded with the
official opentelemetry-proto; the factory's fields are checked on the records themselves.
"""

from __future__ import annotations

import json

from pybinding import attrs_of, read_logs, run_child

HANDLE = r'''
import json, logging, sys
import otelbridge
from otelbridge.logging import Handler

otelbridge.configure(logs_exporter="file", otelbridge_file_path=sys.argv[1],
                     otelbridge_file_format="proto")
out = {}

def logger(name, h):
    lg = logging.getLogger(name)
    lg.propagate = False
    lg.handlers = [h]
    lg.setLevel(1)
    return lg

# 1. no filters: one C call; handle() returns what logging's Handler.handle returns
h = Handler()
out["c_handle"] = type(h.__dict__.get("handle")).__name__
lg = logger("plain", h)
lg.info("plain one")
rec = lg.makeRecord("plain", logging.INFO, "f.py", 1, "direct", None, None)
rv = h.handle(rec)
out["rv_plain"] = rv is rec if sys.version_info >= (3, 12) else rv is True

# 2. a Filter object that drops every other record (filters list non-empty)
class Odd(logging.Filter):
    def filter(self, record):
        return record.getMessage().endswith(("1", "3"))
h2 = Handler()
h2.addFilter(Odd())
lg2 = logger("filtered", h2)
for i in range(4):
    lg2.info("filtered %d", i)
out["rv_dropped"] = h2.handle(lg2.makeRecord("filtered", 20, "f.py", 1, "x0", None, None))

# 3. a filter callable added after construction that drops everything
h3 = Handler()
lg3 = logger("dropall", h3)
lg3.info("kept before the filter")
h3.addFilter(lambda r: False)
lg3.info("dropped")
h3.removeFilter(h3.filters[0])
lg3.info("kept after the filter")

# 4. a subclass whose filter returns a new record (the Python 3.12 rule, also applied on 3.11)
class Rewrite(Handler):
    def filter(self, record):
        if "skip" in record.getMessage():
            return False
        new = logging.makeLogRecord(dict(record.__dict__, msg="rewritten " + record.msg,
                                         rewritten=True))
        return new
h4 = Rewrite()
lg4 = logger("rewrite", h4)
lg4.info("original")
lg4.info("skip me")
out["rv_rewrite"] = type(h4.handle(lg4.makeRecord("rewrite", 20, "f.py", 1, "r", None, None))).__name__

# 5. a subclass overriding emit: its emit runs (and may call the C one through super())
class Counting(Handler):
    seen = []
    def emit(self, record):
        self.seen.append(record.getMessage())
        record.counted = len(self.seen)
        super().emit(record)
h5 = Counting()
lg5 = logger("counting", h5)
lg5.warning("counted %s", "a")
lg5.warning("counted %s", "b")
out["seen"] = Counting.seen

# 6. a subclass overriding handle keeps its own
class OwnHandle(Handler):
    def handle(self, record):
        record.own = True
        return super().handle(record)
h6 = OwnHandle()
out["own_has_instance_handle"] = "handle" in h6.__dict__
logger("own", h6).info("own handle")

# 7. an exception in emit goes to handleError with sys.exc_info() set, and is not raised
class BadFormatter(logging.Formatter):
    def format(self, record):
        raise KeyError("formatter broke")
errors = []
h7 = Handler()
h7.setFormatter(BadFormatter())
h7.handleError = lambda record: errors.append(repr(sys.exc_info()[1]))
logger("broken", h7).info("never")
out["errors"] = errors

# 8. handleError itself raising an Exception is swallowed; a KeyboardInterrupt propagates
h8 = Handler()
h8.setFormatter(BadFormatter())
def raising(record):
    raise RuntimeError("handleError broke")
h8.handleError = raising
logger("broken2", h8).info("never either")
class Interrupting(logging.Formatter):
    def format(self, record):
        raise KeyboardInterrupt
h9 = Handler()
h9.setFormatter(Interrupting())
try:
    logger("interrupt", h9).info("interrupted")
    out["interrupt"] = "swallowed"
except KeyboardInterrupt:
    out["interrupt"] = "raised"

assert otelbridge.shutdown(5)
print(json.dumps(out))
'''


def test_handle_filters_subclasses_and_errors(pkg_dir, tmp_path):
    r = run_child(pkg_dir, HANDLE, tmp_path)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["c_handle"] == "partial"
    assert out["rv_plain"] is True
    assert out["rv_dropped"] is False
    assert out["rv_rewrite"] == "LogRecord"
    assert out["seen"] == ["counted a", "counted b"]
    assert out["own_has_instance_handle"] is False
    assert out["errors"] == ["KeyError('formatter broke')"]
    assert out["interrupt"] == "raised"
    logs = read_logs(tmp_path / "out.bin")
    by_scope: dict = {}
    for _, scope, rec in logs:
        by_scope.setdefault(scope, []).append(rec)
    assert [x.body.string_value for x in by_scope["plain"]] == ["plain one", "direct"]
    assert [x.body.string_value for x in by_scope["filtered"]] == ["filtered 1", "filtered 3"]
    assert [x.body.string_value for x in by_scope["dropall"]] == [
        "kept before the filter", "kept after the filter"]
    rw = by_scope["rewrite"]
    assert [x.body.string_value for x in rw] == ["rewritten original", "rewritten r"]
    assert all(attrs_of(x)["rewritten"] is True for x in rw)
    cnt = by_scope["counting"]
    assert [x.body.string_value for x in cnt] == ["counted a", "counted b"]
    assert [attrs_of(x)["counted"] for x in cnt] == [1, 2]
    assert [x.severity_number for x in cnt] == [13, 13]
    own = by_scope["own"]
    assert len(own) == 1 and attrs_of(own[0])["own"] is True
    assert "broken" not in by_scope and "broken2" not in by_scope
    assert "interrupt" not in by_scope
    assert len(logs) == 11


FACTORY = r'''
import json, logging, sys, time
import otelbridge
from otelbridge import _speedups
from otelbridge.logging import Handler, enable_correlation_fields
import otelbridge.trace as ot

otelbridge.configure(logs_exporter="file", otelbridge_file_path=sys.argv[1],
                     otelbridge_file_format="proto", traces_exporter="none")
f = logging.getLogRecordFactory()
out = {"type": type(f).__name__, "previous": f.previous is logging.LogRecord}
otelbridge.logging.install_record_factory()          # idempotent
out["same"] = logging.getLogRecordFactory() is f
lg = logging.getLogger("factory")
lg.propagate = False
lg.handlers = [Handler()]
lg.setLevel(1)
recs = []
class Keep(logging.Handler):
    def emit(self, record):
        recs.append(record)
lg.addHandler(Keep())
t0 = time.time_ns()
for i in range(200):
    lg.info("r %d", i)
t1 = time.time_ns()
bad = []
for r in recs:
    ns = r._otelbridge_ns
    if not (t0 <= ns <= t1) or r.created != ns / 1e9 or r.msecs != (ns % 10**9) // 10**6 + 0.0 \
            or type(r.msecs) is not float:
        bad.append([ns, r.created, r.msecs])
out["bad"] = bad
out["ns"] = [r._otelbridge_ns for r in recs[:3]]

# a previous factory that sets its own time: left alone (no _otelbridge_ns, created kept)
FIXED = 1_000_000_000.25
def fixed_time(*a, **kw):
    r = logging.LogRecord(*a, **kw)
    r.created = FIXED
    r.msecs = 250.0
    return r
logging.setLogRecordFactory(fixed_time)
otelbridge.logging.install_record_factory()
recs.clear()
lg.info("fixed")
r = recs[0]
out["fixed"] = [r.created, r.msecs, "_otelbridge_ns" in r.__dict__]

# the previous factory raising: the error propagates, nothing is made
def failing(*a, **kw):
    raise LookupError("no record")
try:
    _speedups.RecordFactory(failing)("n", 20, "p", 1, "m", (), None)
    out["failing"] = "no error"
except LookupError as e:
    out["failing"] = str(e)
try:
    _speedups.RecordFactory(42)
    out["bad_arg"] = "accepted"
except TypeError:
    out["bad_arg"] = "TypeError"

# correlation fields (opt-in, Python `after`)
enable_correlation_fields("svc")
recs.clear()
lg.info("outside")
with ot.get_tracer("t").start_as_current_span("s") as span:
    lg.info("inside")
sc = span.get_span_context()
out["corr"] = [[x.otelTraceID, x.otelSpanID, x.otelTraceSampled, x.otelServiceName] for x in recs]
out["want"] = [format(sc.trace_id, "032x"), format(sc.span_id, "016x"), sc.sampled, "svc"]
assert otelbridge.shutdown(5)
print(json.dumps(out))
'''


def test_record_factory(pkg_dir, tmp_path):
    r = run_child(pkg_dir, FACTORY, tmp_path)
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["type"] == "RecordFactory" and out["previous"] and out["same"]
    assert out["bad"] == []
    assert out["fixed"] == [1_000_000_000.25, 250.0, False]
    assert out["failing"] == "no record"
    assert out["bad_arg"] == "TypeError"
    assert out["corr"] == [["0", "0", False, "svc"], out["want"]]
    logs = read_logs(tmp_path / "out.bin")
    by_body = {rec.body.string_value: rec for _, _, rec in logs}
    # the exact ns reach the wire; the fixed-time record uses int(created * 1e9)
    assert [by_body[f"r {i}"].time_unix_nano for i in range(3)] == out["ns"]
    assert by_body["fixed"].time_unix_nano == int(1_000_000_000.25 * 1e9)
    assert by_body["inside"].span_id.hex() == out["want"][1]
    assert by_body["outside"].span_id == b""
    assert len(logs) == 200 + 1 + 2
