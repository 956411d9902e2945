"""Helpers for the binding's trace tests: run a scenario in a child process (configure() is
process-global) and decode what the file exporter wrote (OTLP/JSON, one request per line, logs and
traces told apart by their top-level key) with the official opentelemetry-proto classes."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

import oracle


def run_child(pkg: Path, body: str, tmp_path: Path, env: dict | None = None,
              check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    """Runs body with the binding on PYTHONPATH; argv[1] is the output file (tmp_path/out.jsonl).
    The child's stdout's last line is returned parsed as JSON in r.result (if it parses)."""
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(body))
    child_env = {k: v for k, v in os.environ.items()
                 if not (k.startswith("OTEL_") or k.startswith("OTELBRIDGE_"))}
    child_env["PYTHONPATH"] = str(pkg)
    child_env.update(env or {})
    r = subprocess.run([sys.executable, str(script), str(tmp_path / "out.jsonl")], env=child_env,
                       capture_output=True, text=True, timeout=timeout, cwd=tmp_path)
    if check:
        assert r.returncode == 0, f"child failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
    r.result = None  # type: ignore[attr-defined]
    if lines:
        try:
            r.result = json.loads(lines[-1])  # type: ignore[attr-defined]
        except ValueError:
            pass
    return r


def _b64(hex_text: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_text)).decode("ascii")


def _fix_ids(doc: dict) -> dict:
    """OTLP/JSON writes ids as hex; proto3 JSON (json_format) wants base64."""
    for rs in doc.get("resourceSpans", []) or []:
        for ss in rs.get("scopeSpans", []) or []:
            for sp in ss.get("spans", []) or []:
                for k in ("traceId", "spanId", "parentSpanId"):
                    if isinstance(sp.get(k), str):
                        sp[k] = _b64(sp[k])
                for ln in sp.get("links", []) or []:
                    for k in ("traceId", "spanId"):
                        if isinstance(ln.get(k), str):
                            ln[k] = _b64(ln[k])
    for rl in doc.get("resourceLogs", []) or []:
        for sl in rl.get("scopeLogs", []) or []:
            for rec in sl.get("logRecords", []) or []:
                for k in ("traceId", "spanId"):
                    if isinstance(rec.get(k), str):
                        rec[k] = _b64(rec[k])
    return doc


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


def any_value(v):
    kind = v.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind)


def attrs_of(msg) -> dict:
    return {kv.key: any_value(kv.value) for kv in msg.attributes}


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
