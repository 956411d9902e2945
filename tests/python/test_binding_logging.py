"""The Python binding (bindings/python): otelbridge.configure() + otelbridge.logging.Handler.

The binding's cffi extension is built once per module into a temporary directory, against this
checkout (OTELBRIDGE_PREFIX=<repo>, library from $OTELBRIDGE_LIBRARY's build directory). Each
scenario runs in a subprocess (configure() is process-global), writes OTLP protobuf frames with
the file exporter, and reports what it logged as JSON; the frames are decoded with the official
opentelemetry-proto and compared with the expected mapping (../shared/notes/python-logging.md)
field by field. The expected values are computed here, independently of the binding's code.
"""

from __future__ import annotations

import json
import textwrap

from pybinding import attrs_of, read_logs, run_child


# The expected mapping, written from the notes' table (not from the binding's code).
def expected_severity(levelno: int) -> int:
    if levelno <= 0:
        return 0
    if levelno <= 5:
        return 1
    if levelno <= 9:
        return {6: 2, 7: 3, 8: 4, 9: 4}[levelno]
    if levelno >= 53:
        return 24
    base = {1: 5, 2: 9, 3: 13, 4: 17, 5: 21}[levelno // 10]
    return base + min(levelno % 10, 3)


def expected_text(levelname: str) -> str:
    return {"WARNING": "WARN", "CRITICAL": "FATAL"}.get(levelname, levelname)


CHILD_MAIN = r'''
import json, logging, sys
import otelbridge
from otelbridge.logging import Handler

out = sys.argv[1]
otelbridge.configure(service_name="pytest-binding", logs_exporter="file",
                     otelbridge_file_path=out, otelbridge_file_format="proto",
                     blrp_schedule_delay=50, resource_attributes="deployment.environment=test")
root = logging.getLogger()
root.setLevel(1)
assert any(isinstance(h, Handler) for h in root.handlers)

seen = []
class Capture(logging.Handler):
    def emit(self, record):
        d = {k: v for k, v in record.__dict__.items()}
        if record.name == "app.bad":
            seen.append("bad")
            return
        seen.append({
            "name": record.name, "levelno": record.levelno, "levelname": record.levelname,
            "message": record.getMessage(), "created": record.created,
            "ns": d.get("_otelbridge_ns"), "formatted": None,
            "exc": None if not record.exc_info else
                   [record.exc_info[0].__name__, str(record.exc_info[1])],
        })
root.addHandler(Capture())

class Weird:
    def __str__(self):
        return "weird!"

levels = [1, 5, 6, 7, 9, 10, 11, 12, 13, 19, 20, 21, 25, 30, 35, 40, 45, 50, 51, 52, 53, 60]
lv = logging.getLogger("app.levels")
for i, n in enumerate(levels):
    lv.log(n, "level %d", n, extra={"idx": i})

logging.getLogger("app.extra").warning(
    "extras %s", "here",
    extra={"s": "str", "i": -7, "f": 1.5, "b": True, "raw": b"\x00\xff", "ints": [1, 2, 3],
           "mixed": ("a", 2), "d": {"k": 1}, "w": Weird(), "big": 1 << 70, "none": None,
           "uni": "h\u00e9llo \u2603", "otelTraceID": "0" * 32, "otelSpanID": "0" * 16,
           "otelTraceSampled": False, "otelServiceName": "x", "otel.event.name": "app.evt"})

try:
    {}["missing"]
except KeyError:
    logging.getLogger("app.exc").exception("failed %s", "lookup", extra={"attempt": 3})

# A handler with a formatter: body = self.format(record).
fl = logging.getLogger("app.fmt")
fl.propagate = False
fh = Handler()
fh.setFormatter(logging.Formatter("%(levelname)s|%(name)s|%(message)s"))
fl.addHandler(fh)
cap = Capture()
fl.addHandler(cap)
fl.error("formatted %d", 42)
seen[-1]["formatted"] = "ERROR|app.fmt|formatted 42"

logging.getLogger("app.obj").info({"a": 1})

# A record whose message cannot be formatted: emit must not raise (handleError -> stderr).
logging.getLogger("app.bad").info("%d", "not a number")
seen.pop()

result = json.dumps(seen)
ok = otelbridge.shutdown(10)
assert ok, "shutdown timed out"
assert not any(isinstance(h, Handler) for h in root.handlers)
logging.getLogger("app.after").error("after shutdown: dropped, no exception")
print(result)
'''


def test_logging_mapping_field_by_field(pkg_dir, tmp_path):
    r = run_child(pkg_dir, CHILD_MAIN, tmp_path)
    seen = json.loads(r.stdout.strip().splitlines()[-1])
    assert "Logging error" in r.stderr  # the unformattable record went to handleError
    logs = read_logs(tmp_path / "out.bin")
    assert len(logs) == len(seen), [s for _, s, _ in logs]

    for (res, scope, rec), exp in zip(logs, seen):
        where = f"{exp['name']} level {exp['levelno']}"
        assert res["telemetry.sdk.language"] == "python"
        assert res["service.name"] == "pytest-binding"
        assert res["deployment.environment"] == "test"
        assert scope == exp["name"], where
        # Exact nanoseconds: the record factory's instant, and record.created derived from it.
        assert exp["ns"] is not None, where
        assert rec.time_unix_nano == exp["ns"], where
        assert exp["ns"] / 1e9 == exp["created"], where
        assert rec.observed_time_unix_nano >= rec.time_unix_nano, where
        assert rec.severity_number == expected_severity(exp["levelno"]), where
        assert rec.severity_text == expected_text(exp["levelname"]), where
        assert rec.body.WhichOneof("value") == "string_value", where
        assert rec.body.string_value == (exp["formatted"] or exp["message"]), where
        assert rec.trace_id == b"" and rec.span_id == b"", where
        assert rec.dropped_attributes_count == 0, where
        attrs = attrs_of(rec)
        if exp["name"] == "app.levels":
            assert attrs == {"idx": len([s for s in seen[:seen.index(exp)]
                                         if s["name"] == "app.levels"])}, where
            assert rec.event_name == ""
        elif exp["name"] == "app.extra":
            assert rec.event_name == "app.evt"
            assert attrs == {
                "s": "str", "i": -7, "f": 1.5, "b": True, "raw": b"\x00\xff",
                "ints": [1, 2, 3], "mixed": ["a", 2], "d": "{'k': 1}", "w": "weird!",
                "big": str(1 << 70), "none": "None", "uni": "h\u00e9llo \u2603",
            }, attrs
        elif exp["name"] == "app.exc":
            assert exp["exc"] == ["KeyError", "'missing'"]
            assert set(attrs) == {"attempt", "exception.type", "exception.message",
                                  "exception.stacktrace"}
            assert attrs["attempt"] == 3
            assert attrs["exception.type"] == "KeyError"
            assert attrs["exception.message"] == "'missing'"
            st = attrs["exception.stacktrace"]
            assert st.startswith("Traceback (most recent call last):\n"), st
            assert 'File "' in st and st.rstrip().endswith("KeyError: 'missing'"), st
        else:
            assert attrs == {}, (where, attrs)

    names = [s for _, s, _ in logs]
    assert names.count("app.levels") == 22
    assert "app.after" not in names and "app.bad" not in names
    sev = [(r.severity_number, r.severity_text) for _, s, r in logs if s == "app.levels"]
    # The table, spelled out for the levels that matter most.
    assert sev[5] == (5, "DEBUG") and sev[10] == (9, "INFO") and sev[13] == (13, "WARN")
    assert sev[15] == (17, "ERROR") and sev[17] == (21, "FATAL") and sev[21] == (24, "Level 60")
    assert sev[0] == (1, "Level 1") and sev[1] == (1, "Level 5") and sev[4] == (4, "Level 9")


CHILD_CODE_ATTRS = r'''
import logging, sys
import otelbridge
otelbridge.configure(logs_exporter="file", otelbridge_file_path=sys.argv[1],
                     otelbridge_file_format="proto", python_log_code_attributes=True)
def where_it_happens():
    logging.getLogger("app.code").warning("here")  # LINE
where_it_happens()
assert otelbridge.flush(10)
assert otelbridge.shutdown(10)
'''


def test_code_attributes_opt_in(pkg_dir, tmp_path):
    run_child(pkg_dir, CHILD_CODE_ATTRS, tmp_path)
    line = next(i for i, l in enumerate(textwrap.dedent(CHILD_CODE_ATTRS).splitlines(), 1)
                if "# LINE" in l)
    [(_, scope, rec)] = read_logs(tmp_path / "out.bin")
    assert scope == "app.code"
    assert attrs_of(rec) == {"code.file.path": str(tmp_path / "child.py"),
                             "code.function.name": "where_it_happens",
                             "code.line.number": line}


CHILD_BAD_CONFIG = r'''
import logging, otelbridge
from otelbridge import ConfigurationError, OtelBridgeError
for kw in ({"logs_exporter": "bogus"}, {"no_such_key": "1"}, {"blrp_max_queue_size": "lots"},
           {"python_no_such_setting": True}):
    try:
        otelbridge.configure(**kw)
    except ConfigurationError as e:
        print("ERR", e.status, e)
    else:
        raise SystemExit(f"configure({kw}) did not raise")
assert not otelbridge.is_configured()
assert not logging.getLogger().handlers
# A failed configure leaves no engine behind: a good one still works, once.
otelbridge.configure(logs_exporter="none", attach_handler=False)
assert not logging.getLogger().handlers
try:
    otelbridge.configure(logs_exporter="none")
except OtelBridgeError as e:
    print("AGAIN", e)
else:
    raise SystemExit("second configure did not raise")
assert otelbridge.shutdown(5) and otelbridge.shutdown(5)
'''


def test_bad_configuration_raises_with_library_message(pkg_dir, tmp_path):
    r = run_child(pkg_dir, CHILD_BAD_CONFIG, tmp_path)
    lines = r.stdout.splitlines()
    errs = [l for l in lines if l.startswith("ERR ")]
    assert len(errs) == 4, r.stdout
    assert errs[0].startswith("ERR -3 ") and "OTEL_LOGS_EXPORTER" in errs[0] \
        and "bogus" in errs[0] and "otlp|console|file|none" in errs[0], errs[0]
    assert errs[1].startswith("ERR -2 ") and "OTEL_NO_SUCH_KEY" in errs[1] \
        and "unknown configuration key" in errs[1], errs[1]
    assert errs[2].startswith("ERR -3 ") and "OTEL_BLRP_MAX_QUEUE_SIZE" in errs[2], errs[2]
    assert errs[3].startswith("ERR -2 ") and "OTEL_PYTHON_NO_SUCH_SETTING" in errs[3], errs[3]
    assert any(l.startswith("AGAIN ") and "already" in l for l in lines), r.stdout


def test_setting_key_rule(pkg_dir, tmp_path):
    r = run_child(pkg_dir, r'''
import otelbridge
print(otelbridge.setting_key("service_name"), otelbridge.setting_key("otelbridge_file_path"),
      otelbridge.setting_key("BLRP_schedule_delay"))
''', tmp_path)
    assert r.stdout.split() == ["OTEL_SERVICE_NAME", "OTELBRIDGE_FILE_PATH",
                                "OTEL_BLRP_SCHEDULE_DELAY"]
