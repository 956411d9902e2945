"""The binding on every CPython this machine has, 3.8 to 3.13 (pyproject: requires-python >= 3.8).

The interpreters: the one running the tests, `python3.X` on PATH, and pyenv's versions when pyenv
is installed. For each, the package (the cffi module and the _speedups C extension, which has
its own shims for 3.8-3.10) is built with that interpreter and one scenario runs: a log record in
a span, a decorated coroutine's span and its record, an exception record, a counter. The file
exporter's OTLP/JSON is decoded here with the official opentelemetry-proto and checked field by
field; the counter's console line is checked too. An interpreter without cffi gets it (and
setuptools) installed into a target directory from PyPI for this test.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
import textwrap

import pytest

import binding_otlp as bo
import pybinding


def _version(python: str):
    try:
        r = subprocess.run([python, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                           capture_output=True, text=True, timeout=30)
    except OSError:
        return None
    if r.returncode != 0:
        return None
    major, minor = (int(x) for x in r.stdout.strip().split("."))
    return (major, minor) if (major, minor) >= (3, 8) else None


def _interpreters() -> dict:
    candidates = [sys.executable]
    candidates += [shutil.which(f"python3.{m}") for m in range(8, 14)]
    root = os.environ.get("PYENV_ROOT") or os.path.expanduser("~/.pyenv")
    candidates += sorted(glob.glob(os.path.join(root, "versions", "3.*", "bin", "python3")))
    found: dict = {}
    for c in candidates:
        if c and c not in found.values():
            v = _version(c)
            if v is not None and v not in found:
                found[v] = c
    return dict(sorted(found.items()))


INTERPRETERS = _interpreters()

SCENARIO = r'''
import asyncio, logging, sys
import otelbridge
from otelbridge import metrics, trace

otelbridge.configure(service_name="versions", logs_exporter="file", traces_exporter="file",
                     metrics_exporter="console", otelbridge_file_path=sys.argv[1],
                     otelbridge_file_format="json", metric_export_interval=3600000)
log = logging.getLogger("versions")
log.setLevel(logging.INFO)
tracer = trace.get_tracer("versions")
counter = metrics.get_meter("versions").create_counter("versions.count")


@tracer.start_as_current_span("task")
async def task(i):
    log.info("in task %d", i, extra={"task.i": i})


with tracer.start_as_current_span("outer", attributes={"py.minor": sys.version_info[1]}):
    counter.add(2, {"k": "v"})
    log.warning("hello", extra={"xs": [1, 2], "s": "\udcff"})
    asyncio.run(task(7))
try:
    1 / 0
except ZeroDivisionError:
    log.exception("boom")
assert otelbridge.shutdown(10)
'''


@pytest.mark.parametrize("version", list(INTERPRETERS), ids=lambda v: "%d.%d" % v)
def test_binding_builds_and_works_on(version, tmp_path):
    python = INTERPRETERS[version]
    env: dict = {}
    if subprocess.run([python, "-c", "import cffi, setuptools"], capture_output=True).returncode:
        deps = tmp_path / "deps"
        r = subprocess.run([python, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                            "--target", str(deps), "cffi", "setuptools"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, f"pip install cffi for {python}:\n{r.stdout}\n{r.stderr}"
        env["PYTHONPATH"] = str(deps)
    pkg = pybinding.build_package(tmp_path / "pkg", python=python, env_extra=env)
    script = tmp_path / "scenario.py"
    script.write_text(textwrap.dedent(SCENARIO))
    child_env = pybinding.child_env(pkg)
    if env:
        child_env["PYTHONPATH"] += os.pathsep + env["PYTHONPATH"]
    out = tmp_path / "out.jsonl"
    r = subprocess.run([python, str(script), str(out)], env=child_env, capture_output=True,
                       text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, f"{python}:\n{r.stdout}\n{r.stderr}"

    traces, logs = bo.decode_file(out)
    spans = bo.by_name(bo.spans_of(traces))
    assert set(spans) == {"outer", "task"}
    outer, tsk = spans["outer"][1], spans["task"][1]
    assert {a.key: a.value.int_value for a in outer.attributes} == {"py.minor": version[1]}
    assert tsk.parent_span_id == outer.span_id and tsk.trace_id == outer.trace_id
    records = {rec.body.string_value: rec for _, _, rec in bo.logs_of(logs)}
    assert set(records) == {"hello", "in task 7", "boom"}
    hello, in_task, boom = records["hello"], records["in task 7"], records["boom"]
    assert (hello.trace_id, hello.span_id) == (outer.trace_id, outer.span_id)
    assert (in_task.trace_id, in_task.span_id) == (tsk.trace_id, tsk.span_id)
    assert boom.trace_id == b"" and boom.severity_text == "ERROR"
    hattrs = bo.attrs_of(hello)
    # a lone surrogate goes out as its 3 bytes (surrogatepass); the library repairs each: U+FFFD x3
    assert hattrs["xs"] == [1, 2] and hattrs["s"] == "\ufffd" * 3
    assert bo.attrs_of(in_task) == {"task.i": 7}
    battrs = bo.attrs_of(boom)
    assert battrs["exception.type"] == "ZeroDivisionError"
    assert battrs["exception.message"] == "division by zero"
    assert "ZeroDivisionError" in battrs["exception.stacktrace"]
    assert 'METRIC versions.count [versions] {k="v"} 2' in r.stdout + r.stderr, r.stdout
