"""otelbridge.loguru.sink and otelbridge.structlog.OtelProcessor (issue 6, item 4): the same
mapping as the stdlib Handler, decoded from the file exporter's OTLP protobuf with
opentelemetry-proto, field by field. The expected values are written here from the mapping
documented in the modules (and python-logging.md), not computed with the binding's code.
"""

from __future__ import annotations

import json

from pybinding import attrs_of, read_logs, run_child

LOGURU = r'''
import json, sys
from loguru import logger
import otelbridge, otelbridge.loguru

otelbridge.configure(service_name="loguru-test", logs_exporter="file",
                     otelbridge_file_path=sys.argv[1], otelbridge_file_format="proto",
                     attach_handler=False)
logger.remove()
seen = []
logger.add(lambda m: seen.append({"time": m.record["time"].timestamp(),
                                  "us": m.record["time"].microsecond,
                                  "line": m.record["line"]}), level="TRACE")
logger.add(otelbridge.loguru.sink, level="TRACE")
code_logger = logger.bind(code="yes")
logger.add(otelbridge.loguru.make_sink(code_attributes=True), level="TRACE",
           filter=lambda r: r["extra"].get("code") == "yes")

class Weird:
    def __str__(self):
        return "weird!"

logger.trace("t")
logger.debug("d")
logger.info("hello {}", "world")
logger.success("s")
logger.warning("w")
logger.error("e")
logger.critical("c")
logger.bind(user="u1", n=3, f=0.5, ok=True, raw=b"\x01", ids=[1, 2], obj=Weird()).info("bound")
with logger.contextualize(request_id="r-1"):
    logger.info("ctx")
logger.bind(**{"otel.event.name": "app.evt"}).info("event")
try:
    {}["missing"]
except KeyError:
    logger.exception("boom")
code_logger.info("with code")
assert otelbridge.shutdown(10)
print(json.dumps(seen))
'''


def test_loguru_sink_mapping(pkg_dir, tmp_path):
    r = run_child(pkg_dir, LOGURU, tmp_path)
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    logs = read_logs(tmp_path / "out.bin")
    # the code_logger record reaches both otelbridge sinks (the default one has no filter)
    assert len(logs) == 13 and len(seen) == 12, [rec.body.string_value for _, _, rec in logs]
    for res, scope, rec in logs:
        assert res["service.name"] == "loguru-test"
        assert scope == "__main__"
        assert rec.trace_id == b"" and rec.span_id == b""
        assert rec.body.WhichOneof("value") == "string_value"
    recs = [rec for _, _, rec in logs]
    # exact microseconds from loguru's record time
    for rec, s in zip(recs, seen):
        assert rec.time_unix_nano % 1000 == 0
        assert rec.time_unix_nano // 1000 % 1_000_000 == s["us"]
        assert abs(rec.time_unix_nano / 1e9 - s["time"]) < 1e-6
    levels = [(r.severity_number, r.severity_text, r.body.string_value) for r in recs[:7]]
    assert levels == [(1, "TRACE", "t"), (5, "DEBUG", "d"), (9, "INFO", "hello world"),
                      (12, "SUCCESS", "s"), (13, "WARN", "w"), (17, "ERROR", "e"),
                      (21, "FATAL", "c")]
    for rec in recs[:7]:
        assert attrs_of(rec) == {} and rec.event_name == ""
    assert recs[7].body.string_value == "bound"
    assert attrs_of(recs[7]) == {"user": "u1", "n": 3, "f": 0.5, "ok": True, "raw": b"\x01",
                                 "ids": [1, 2], "obj": "weird!"}
    assert attrs_of(recs[8]) == {"request_id": "r-1"}
    assert recs[9].event_name == "app.evt" and attrs_of(recs[9]) == {}
    exc = attrs_of(recs[10])
    assert recs[10].severity_number == 17 and recs[10].body.string_value == "boom"
    assert set(exc) == {"exception.type", "exception.message", "exception.stacktrace"}
    assert exc["exception.type"] == "KeyError" and exc["exception.message"] == "'missing'"
    assert exc["exception.stacktrace"].startswith("Traceback (most recent call last):\n")
    assert exc["exception.stacktrace"].rstrip().endswith("KeyError: 'missing'")
    # with code: once without code attributes (default sink), once with them
    a, b = attrs_of(recs[11]), attrs_of(recs[12])
    assert recs[11].body.string_value == recs[12].body.string_value == "with code"
    with_code = [x for x in (a, b) if "code.line.number" in x]
    without = [x for x in (a, b) if "code.line.number" not in x]
    assert without == [{"code": "yes"}]
    assert with_code == [{"code": "yes", "code.file.path": str(tmp_path / "child.py"),
                          "code.function.name": "<module>",
                          "code.line.number": seen[-1]["line"]}]


STRUCTLOG = r'''
import json, logging, sys, time
import structlog
import otelbridge
from otelbridge.structlog import OtelProcessor

otelbridge.configure(service_name="structlog-test", logs_exporter="file",
                     otelbridge_file_path=sys.argv[1], otelbridge_file_format="proto",
                     attach_handler=False)
rendered = []
def keep(logger, method, ed):
    rendered.append(dict(ed))
    raise structlog.DropEvent
structlog.configure(processors=[
    structlog.contextvars.merge_contextvars,
    structlog.processors.add_log_level,
    structlog.processors.TimeStamper(fmt=None),
    OtelProcessor(),
    keep,
], logger_factory=structlog.PrintLoggerFactory(), cache_logger_on_first_use=False)

class Weird:
    def __str__(self):
        return "weird!"

log = structlog.get_logger()
log.debug("d")
log.info("i")
log.warning("w")
log.error("e")
log.critical("c")
log.bind(user="u1", n=3, f=0.5, ok=True, ids=(1, 2), obj=Weird()).info("bound", extra_kw="x")
structlog.contextvars.bind_contextvars(request_id="r-1")
log.info("ctx")
structlog.contextvars.clear_contextvars()
log.info("event", **{"otel.event.name": "app.evt"})
try:
    1 / 0
except ZeroDivisionError:
    log.exception("boom")
try:
    raise ValueError("bad value")
except ValueError as e:
    err = e
log.error("given", exc_info=err)

# a named logger (stdlib-style chain: add_logger_name) and drop=True
structlog.configure(processors=[structlog.stdlib.add_logger_name, structlog.stdlib.add_log_level,
                                OtelProcessor(drop=True)],
                    logger_factory=structlog.stdlib.LoggerFactory(),
                    wrapper_class=structlog.stdlib.BoundLogger)
logging.getLogger().setLevel(logging.DEBUG)
structlog.get_logger("shop.cart").warning("named")
assert otelbridge.shutdown(10)
print(json.dumps([{"timestamp": d["timestamp"], "event": d["event"]} for d in rendered]))
'''


def test_structlog_processor_mapping(pkg_dir, tmp_path):
    r = run_child(pkg_dir, STRUCTLOG, tmp_path)
    rendered = json.loads(r.stdout.strip().splitlines()[-1])
    assert "named" not in r.stderr, "drop=True: nothing went on to stdlib logging"
    logs = read_logs(tmp_path / "out.bin")
    assert len(logs) == 11 and len(rendered) == 10
    for res, scope, rec in logs:
        assert res["service.name"] == "structlog-test"
        assert rec.trace_id == b""
    assert [s for _, s, _ in logs] == ["structlog"] * 10 + ["shop.cart"]
    recs = [rec for _, _, rec in logs]
    # the processor ran after TimeStamper(fmt=None): the record's time is that UNIX time, and
    # the processor returned the event dict unchanged to the next processor
    for rec, d in zip(recs, rendered):
        assert rec.time_unix_nano == int(d["timestamp"] * 1e9)
        assert rec.body.string_value == d["event"]
    assert [(r.severity_number, r.severity_text, r.body.string_value) for r in recs[:5]] == [
        (5, "DEBUG", "d"), (9, "INFO", "i"), (13, "WARN", "w"), (17, "ERROR", "e"),
        (21, "FATAL", "c")]
    for rec in recs[:5]:
        assert attrs_of(rec) == {}
    assert attrs_of(recs[5]) == {"user": "u1", "n": 3, "f": 0.5, "ok": True, "ids": [1, 2],
                                 "obj": "weird!", "extra_kw": "x"}
    assert attrs_of(recs[6]) == {"request_id": "r-1"}
    assert recs[7].event_name == "app.evt" and attrs_of(recs[7]) == {}
    boom = attrs_of(recs[8])
    assert recs[8].severity_number == 17 and recs[8].severity_text == "ERROR"
    assert set(boom) == {"exception.type", "exception.message", "exception.stacktrace"}
    assert boom["exception.type"] == "ZeroDivisionError"
    assert boom["exception.message"] == "division by zero"
    assert boom["exception.stacktrace"].rstrip().endswith("ZeroDivisionError: division by zero")
    given = attrs_of(recs[9])
    assert given["exception.type"] == "ValueError" and given["exception.message"] == "bad value"
    assert "raise ValueError" in given["exception.stacktrace"]
    named = recs[10]
    assert (named.severity_number, named.severity_text, named.body.string_value) == \
        (13, "WARN", "named")
    assert attrs_of(named) == {}
