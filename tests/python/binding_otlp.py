"""Helpers for the binding's trace tests: run a scenario in a child process (configure() is
process-global) and decode what the file exporter wrote (OTLP/JSON, one request per line, logs and
traces told apart by their top-level key) with the official opentelemetry-proto classes."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import oracle
import pybinding
from pybinding import attrs_of  # noqa: F401  (re-exported: the trace tests import it from here)


def run_child(pkg: Path, body: str, tmp_path: Path, env: dict | None = None,
              check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    """pybinding.run_child with argv[1] = tmp_path/out.jsonl (the file exporter's output). The
    child's stdout's last line is returned parsed as JSON in r.result (if it parses)."""
    r = pybinding.run_child(pkg, body, tmp_path, check=check, env=env, timeout=timeout,
                            args=[tmp_path / "out.jsonl"])
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    r.result = None  # type: ignore[attr-defined]
    if lines:
        try:
            r.result = json.loads(lines[-1])  # type: ignore[attr-defined]
        except ValueError:
            pass
    return r


def _fix_ids(doc: dict) -> dict:
    """OTLP/JSON writes ids as hex; proto3 JSON (json_format) wants base64."""
    return oracle.trace_hex_ids_to_base64(oracle.hex_ids_to_base64(doc))


def decode_docs(docs: list[dict]):
    """(trace requests, log requests) from parsed OTLP/JSON documents."""
    traces, logs = [], []
    for doc in docs:
        doc = _fix_ids(doc)
        if "resourceSpans" in doc:
            traces.append(json_format.ParseDict(doc, ExportTraceServiceRequest(),
                                                ignore_unknown_fields=False))
        elif "resourceLogs" in doc:
            logs.append(json_format.ParseDict(doc, ExportLogsServiceRequest(),
                                              ignore_unknown_fields=False))
        else:
            raise AssertionError(f"unexpected request: {sorted(doc)}")
    return traces, logs


def decode_file(path: Path):
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    assert text == "" or text.endswith("\n")
    return decode_docs([oracle.load_json_line(ln) for ln in text.split("\n") if ln])


def spans_of(traces) -> list[tuple]:
    """[(resource, scope, span)] in wire order."""
    return [(rs.resource, ss.scope, sp) for req in traces for rs in req.resource_spans
            for ss in rs.scope_spans for sp in ss.spans]


def logs_of(logs) -> list[tuple]:
    return [(rl.resource, sl.scope, rec) for req in logs for rl in req.resource_logs
            for sl in rl.scope_logs for rec in sl.log_records]


def by_name(spans) -> dict:
    out: dict = {}
    for _, scope, sp in spans:
        assert sp.name not in out, f"span name {sp.name!r} twice"
        out[sp.name] = (scope, sp)
    return out


def hx(b: bytes) -> str:
    return b.hex()
