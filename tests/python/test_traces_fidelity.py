"""Wire fidelity of otelbridge's spans (OTLP traces), checked against the official
opentelemetry-proto package, google.protobuf's json_format for OTLP/JSON, and the official Python
SDK's samplers.

How it works: a *scenario* drives the span ABI (otel_span_start / set_attrs / add_event / add_link /
set_status / update_name / record_exception / end, the context stack) through a Recorder that
applies every call to the library AND to a reference model written here from the header's
contract and the OpenTelemetry specification (never from the library's code). Span and trace ids
are read back with otel_span_context_get. The engine writes with the file exporter, once with
OTELBRIDGE_FILE_FORMAT=proto and once with =json; each exported span is found by its span id and
compared field by field with the model (oracle.diff_messages).

The corpus engines export with an explicit otel_engine_flush() before otel_engine_shutdown():
see test_spans_only_engine_exports_at_shutdown for why (a library bug would otherwise hide every
other check).

Run: OTELBRIDGE_LIBRARY=build/src/libotelbridge.so python3 -m pytest -q tests/python/test_traces_fidelity.py
"""

from __future__ import annotations

import copy
import ctypes
import hashlib
import os
import random
import re
import socket
import threading
import time
from dataclasses import dataclass, field

import pytest
from google.protobuf import json_format
from opentelemetry import trace as otel_trace
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status
from opentelemetry.sdk.trace import sampling as sdk_sampling
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

import oracle
from oracle import attr_pairs as _pairs, raw_key, ref_str, ref_value
import otb
from otb import EMPTY, INT64_MAX, INT64_MIN, Link, Map, Parent, RawAttrs, RawLinks, RawStr, Str

FORMATS = ["proto", "json"]
NOW_SLACK_NS = 3_000_000_000

SERVICE_NAME = "traces-fidelity-svc"
BASE_CONFIG = {
    "OTEL_LOGS_EXPORTER": "none",
    "OTEL_TRACES_EXPORTER": "file",
    "OTEL_BSP_SCHEDULE_DELAY": "60000",   # only flush/shutdown export: one batch, deterministic
    "OTEL_BSP_MAX_QUEUE_SIZE": "8192",
    "OTEL_SERVICE_NAME": SERVICE_NAME,
    "OTEL_RESOURCE_ATTRIBUTES": "k1=v%201,k2=a%2Cb",
}

FLAG_HAS_IS_REMOTE = 0x100
FLAG_IS_REMOTE = 0x200

REMOTE_TRACE = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
REMOTE_SPAN = bytes.fromhex("00f067aa0ba902b7")
REMOTE_TRACE_2 = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
REMOTE_SPAN_2 = bytes.fromhex("b7ad6b7169203331")
LINK_TRACE = bytes.fromhex("ffffffffffffffffffffffffffffff01")
LINK_SPAN = bytes.fromhex("0000000000000001")

UNI = "héllo wörld ✓ 日本語 🎉"
NAN = float("nan")
INF = float("inf")

T0 = 1_700_000_000_000_000_000  # explicit timestamps are T0 + small offsets


# ---- reference values (same rules as the logs corpus, test_wire_fidelity.py) -------------------


class AttrSet:
    """The specification's bounded attributes: applied in order; an existing key is overwritten in
    place, a new key is added while under the count limit, else counted as dropped; an empty key
    is dropped and counted (header)."""

    def __init__(self, count_limit: int, length_limit: int | None):
        self.count_limit = count_limit
        self.length_limit = length_limit
        self.items: dict[bytes, tuple] = {}
        self.dropped = 0

    def apply(self, attrs) -> None:
        for k, v in _pairs(attrs):
            rk = raw_key(k)
            if rk == b"":
                self.dropped += 1
            elif rk in self.items:
                self.items[rk] = (k, v)
            elif len(self.items) < self.count_limit:
                self.items[rk] = (k, v)
            else:
                self.dropped += 1

    def key_values(self) -> list[KeyValue]:
        return [KeyValue(key=ref_str(k), value=ref_value(v, self.length_limit))
                for k, v in self.items.values()]


# ---- the recorder: drives the ABI and builds the reference model --------------------------------


@dataclass
class Limits:
    attrs: int = 128
    length: int | None = None
    events: int = 128
    links: int = 128
    event_attrs: int = 128
    link_attrs: int = 128


@dataclass
class SpanRef:
    label: str
    scope: str
    handle: int
    ctx: dict
    name: object
    kind: int
    start: int
    start_window: tuple
    parent_span_id: bytes
    trace_state: object
    parent_remote: bool
    sampled: bool
    attrs: AttrSet
    events: list = field(default_factory=list)       # (Span.Event, window or None)
    dropped_events: int = 0
    links: list = field(default_factory=list)
    dropped_links: int = 0
    status_code: int = otb.OTEL_STATUS_UNSET
    status_message: object = ""
    end: int | None = None
    end_window: tuple | None = None
    ended: bool = False
    expected_trace_id: bytes | None = None  # the parent's trace id; None for a root

    @property
    def trace_id(self) -> bytes:
        return self.ctx["trace_id"]

    @property
    def span_id(self) -> bytes:
        return self.ctx["span_id"]


class Recorder:
    def __init__(self, lib: otb.Lib, scopes: dict, limits: Limits):
        self.lib = lib
        self.scopes = scopes          # key -> scope handle
        self.limits = limits
        self.spans: dict[str, SpanRef] = {}
        self.order: list[str] = []    # labels in end order
        self.errors: list[str] = []   # unexpected statuses (asserted by test_scenario_statuses)
        self.current: list = []       # the model of this thread's context stack

    def _check(self, what: str, st: int, want: int = otb.OTEL_OK) -> None:
        if st != want:
            self.errors.append(f"{what}: expected {otb.status_name(want)}, got {otb.status_name(st)}")

    def _attrs(self, attrs) -> AttrSet:
        s = AttrSet(self.limits.attrs, self.limits.length)
        s.apply(attrs)
        return s

    def _link(self, l: Link) -> Span.Link:
        a = AttrSet(self.limits.link_attrs, self.limits.length)
        a.apply(l.attrs)
        return Span.Link(trace_id=l.trace_id, span_id=l.span_id, trace_state=ref_str(l.trace_state),
                         attributes=a.key_values(), dropped_attributes_count=a.dropped,
                         flags=(l.trace_flags & 0xFF) | FLAG_HAS_IS_REMOTE
                         | (FLAG_IS_REMOTE if l.is_remote else 0))

    def parent_of(self, parent: Parent | None):
        """(trace_id, parent_span_id, trace_state, remote, sampled) the model expects, or None for
        a root. parent None / current: what this thread has current (the model tracks it)."""
        kind = otb.OTEL_PARENT_CURRENT if parent is None else parent.kind
        if kind == otb.OTEL_PARENT_ROOT:
            return None
        if kind == otb.OTEL_PARENT_SPAN:
            p = self.by_handle(parent.span_handle)
            return p.trace_id, p.span_id, p.trace_state, False, p.ctx["trace_flags"] & 1
        if kind == otb.OTEL_PARENT_REMOTE:
            c = parent.ctx
            return c["trace_id"], c["span_id"], parent.trace_state, True, c["trace_flags"] & 1
        if not self.current:
            return None
        top = self.current[-1]
        if isinstance(top, SpanRef):
            return top.trace_id, top.span_id, top.trace_state, False, top.ctx["trace_flags"] & 1
        return top  # a remote context tuple

    def by_handle(self, h: int) -> SpanRef:
        return next(s for s in self.spans.values() if s.handle == h)

    def start(self, label: str, name, kind: int = otb.OTEL_SPAN_KIND_INTERNAL, start: int = 0,
              parent: Parent | None = None, attrs=None, links=None, scope: str = "s1") -> SpanRef:
        assert label not in self.spans, label
        p = self.parent_of(parent)
        before = time.time_ns()
        st, h = self.lib.span_start(self.scopes[scope], name, kind, start, parent, attrs, links)
        window = (before, time.time_ns())
        self._check(f"otel_span_start({label})", st)
        st, ctx = self.lib.span_context_get(h)
        self._check(f"otel_span_context_get({label})", st)
        sampled = True if p is None else bool(p[4])  # the default sampler: parentbased_always_on
        ref = SpanRef(label=label, scope=scope, handle=h, ctx=ctx or {}, name=name, kind=kind,
                      start=start, start_window=window,
                      parent_span_id=b"" if p is None else p[1],
                      trace_state="" if p is None else (p[2] or ""),
                      parent_remote=bool(p and p[3]), sampled=sampled, attrs=self._attrs(attrs),
                      expected_trace_id=None if p is None else p[0])
        for l in links or []:
            self._add_link_ref(ref, l)
        self.spans[label] = ref
        return ref

    def _add_link_ref(self, ref: SpanRef, l: Link) -> None:
        if len(ref.links) >= self.limits.links:
            ref.dropped_links += 1
        else:
            ref.links.append(self._link(l))

    def set_attrs(self, ref: SpanRef, attrs) -> None:
        self._check(f"otel_span_set_attrs({ref.label})", self.lib.span_set_attrs(ref.handle, attrs))
        ref.attrs.apply(attrs)

    def _event(self, ref: SpanRef, name, t: int, attrs, window) -> None:
        if len(ref.events) >= self.limits.events:
            ref.dropped_events += 1
            return
        a = AttrSet(self.limits.event_attrs, self.limits.length)
        a.apply(attrs)
        ev = Span.Event(time_unix_nano=t, name=ref_str(name), attributes=a.key_values(),
                        dropped_attributes_count=a.dropped)
        ref.events.append((ev, window if t == 0 else None))

    def add_event(self, ref: SpanRef, name, t: int = 0, attrs=None) -> None:
        before = time.time_ns()
        st = self.lib.span_add_event(ref.handle, name, t, attrs)
        window = (before, time.time_ns())
        self._check(f"otel_span_add_event({ref.label}, {name!r})", st)
        self._event(ref, name, t, attrs, window)

    def record_exception(self, ref: SpanRef, type="", message="", stacktrace="", attrs=None,
                         t: int = 0) -> None:
        before = time.time_ns()
        st = self.lib.span_record_exception(ref.handle, type, message, stacktrace, attrs, t)
        window = (before, time.time_ns())
        self._check(f"otel_span_record_exception({ref.label})", st)
        # Header: the semantic-convention event "exception"; empty type/message/stacktrace omitted;
        # then the caller's attributes. The status is not changed.
        all_attrs = [(k, v) for k, v in (("exception.type", type), ("exception.message", message),
                                         ("exception.stacktrace", stacktrace))
                     if raw_key(v) != b""] + _pairs(attrs)
        self._event(ref, "exception", t, all_attrs, window)

    def add_link(self, ref: SpanRef, l: Link) -> None:
        self._check(f"otel_span_add_link({ref.label})", self.lib.span_add_link(ref.handle, l))
        self._add_link_ref(ref, l)

    def set_status(self, ref: SpanRef, code: int, description="") -> None:
        self._check(f"otel_span_set_status({ref.label}, {code})",
                    self.lib.span_set_status(ref.handle, code, description))
        # Spec + header: Unset is ignored; Ok is final; the description is kept only with Error.
        if code == otb.OTEL_STATUS_UNSET or ref.status_code == otb.OTEL_STATUS_OK:
            return
        ref.status_code = code
        ref.status_message = description if code == otb.OTEL_STATUS_ERROR else ""

    def update_name(self, ref: SpanRef, name) -> None:
        self._check(f"otel_span_update_name({ref.label})", self.lib.span_update_name(ref.handle, name))
        ref.name = name

    def end(self, ref: SpanRef, t: int = 0) -> None:
        before = time.time_ns()
        st = self.lib.span_end(ref.handle, t)
        ref.end_window = (before, time.time_ns())
        self._check(f"otel_span_end({ref.label})", st)
        ref.end = t
        ref.ended = True
        self.order.append(ref.label)

    def attach(self, ref: SpanRef) -> int:
        st, tok = self.lib.context_attach(ref.handle)
        self._check(f"otel_context_attach({ref.label})", st)
        self.current.append(ref)
        return tok

    def attach_remote(self, trace_id, span_id, flags=1, trace_state=None) -> int:
        st, tok = self.lib.context_attach_remote(trace_id, span_id, flags, trace_state)
        self._check("otel_context_attach_remote", st)
        self.current.append((trace_id, span_id, trace_state, True, flags & 1))
        return tok

    def restore(self, tok: int) -> None:
        self._check("otel_context_restore", self.lib.context_restore(tok))
        self.current.pop()

    # -- the expected wire form
    def expected_span(self, ref: SpanRef) -> Span:
        s = Span(trace_id=ref.trace_id, span_id=ref.span_id, trace_state=ref_str(ref.trace_state),
                 parent_span_id=ref.parent_span_id, name=ref_str(ref.name), kind=ref.kind,
                 start_time_unix_nano=ref.start, end_time_unix_nano=ref.end or 0,
                 attributes=ref.attrs.key_values(), dropped_attributes_count=ref.attrs.dropped,
                 events=[e for e, _ in ref.events], dropped_events_count=ref.dropped_events,
                 links=ref.links, dropped_links_count=ref.dropped_links,
                 flags=(1 if ref.sampled else 0) | FLAG_HAS_IS_REMOTE
                 | (FLAG_IS_REMOTE if ref.parent_remote else 0))
        if ref.status_code != otb.OTEL_STATUS_UNSET:
            s.status.CopyFrom(Status(code=ref.status_code, message=ref_str(ref.status_message)))
        return s

    def exported(self) -> list[SpanRef]:
        return [self.spans[l] for l in self.order if self.spans[l].sampled]


# ---- scenarios --------------------------------------------------------------------------------

SCOPES = {
    "s1": ("otelbridge.traces.one", "1.2.3", "https://opentelemetry.io/schemas/1.24.0",
           [("scope.attr", "x"), ("scope.n", 7)]),
    "s2": ("skóp.日本語.🎉", "v2-ß", "", None),
    "bad": (Str(b"scope\xff.name"), Str(b"v\xc0"), "", None),
}

ALL_TYPES = [("s", "text"), ("i", 42), ("d", 3.25), ("b", True), ("y", b"\x00\xffraw"), ("e", EMPTY),
             ("arr", [1, "two", 3.5, False, b"\x01"]), ("map", Map([("k", "v"), ("n", [1, {"x": "y"}])])),
             ("int_min", INT64_MIN), ("int_max", INT64_MAX), ("nan", NAN), ("inf", INF),
             ("neg_zero", -0.0), ("false", False), ("zero", 0), ("empty_s", ""), ("empty_b", b""),
             ("uni", UNI), ("bad_utf8", Str(b"v\xff\xc0\xaf")), (Str(b"key\xfe"), "bad key")]


def scenario_main(r: Recorder) -> None:
    """Default limits. Every feature of a span, parents of every kind, scopes, context."""
    # -- a root with every attribute type, explicit times
    root = r.start("root", "root-span", otb.OTEL_SPAN_KIND_SERVER, T0 + 1, Parent.root(),
                   attrs=ALL_TYPES)
    r.add_event(root, "ev.explicit", T0 + 2, [("e.s", "x"), ("e.i", 1), ("e.arr", ["a", 2])])
    r.add_event(root, "ev.now", 0)
    r.add_event(root, "événement.日本語.🎉", T0 + 3)
    r.add_event(root, Str(b"ev\xffbad"), T0 + 4, [(Str(b"ek\xff"), Str(b"ev\xfe"))])
    r.add_event(root, "", T0 + 5)  # an empty event name is allowed
    r.set_status(root, otb.OTEL_STATUS_OK, "dropped with OK")
    r.set_status(root, otb.OTEL_STATUS_ERROR, "ignored: OK is final")
    r.set_status(root, otb.OTEL_STATUS_UNSET, "")

    # -- set_attrs overwrites in place and appends new keys
    kids = r.start("kinds-and-overwrite", "overwrite", otb.OTEL_SPAN_KIND_CLIENT, T0 + 10,
                   Parent.span(root.handle), attrs=[("a", 1), ("b", "two"), ("c", 3.0)])
    r.set_attrs(kids, [("b", "TWO"), ("d", [1, 2]), ("a", False)])
    r.set_attrs(kids, [("", "empty key dropped"), ("e", b"e")])
    r.set_attrs(kids, [])
    r.end(kids, T0 + 11)

    # -- every kind
    for k in range(0, 6):
        s = r.start(f"kind-{k}", f"kind {k}", k, T0 + 20 + k, Parent.span(root.handle))
        r.end(s, T0 + 30 + k)

    # -- names: non-ASCII, invalid UTF-8, update_name (final name wins), empty
    n1 = r.start("name-unicode", UNI, otb.OTEL_SPAN_KIND_INTERNAL, T0 + 40, Parent.span(root.handle))
    r.end(n1, T0 + 41)
    n2 = r.start("name-invalid-utf8", Str(b"bad\xff\xed\xa0\x80name\xc3"), 1, T0 + 42,
                 Parent.span(root.handle))
    r.end(n2, T0 + 43)
    n3 = r.start("name-updated", "first name", 1, T0 + 44, Parent.span(root.handle))
    r.update_name(n3, "second name")
    r.update_name(n3, Str(b"final \xf0\x9f\x8e name \xff"))
    r.end(n3, T0 + 45)
    n4 = r.start("name-empty", "", 1, T0 + 46, Parent.span(root.handle))
    r.end(n4, T0 + 47)
    n5 = r.start("name-null-view", RawStr(None, 0), 1, T0 + 48, Parent.span(root.handle))
    r.end(n5, T0 + 49)

    # -- times: 0 = now for start and end
    t1 = r.start("times-now", "times now", 1, 0, Parent.span(root.handle))
    r.end(t1, 0)
    t2 = r.start("times-extreme", "times extreme", 1, 1, Parent.span(root.handle))
    r.end(t2, otb.UINT64_MAX)

    # -- status variants
    st1 = r.start("status-error", "status error", 1, T0 + 50, Parent.span(root.handle))
    r.set_status(st1, otb.OTEL_STATUS_ERROR, "first error")
    r.set_status(st1, otb.OTEL_STATUS_ERROR, "second error ✓")
    r.set_status(st1, otb.OTEL_STATUS_UNSET, "unset is ignored")
    r.end(st1, T0 + 51)
    st2 = r.start("status-error-then-ok", "status error then ok", 1, T0 + 52, Parent.span(root.handle))
    r.set_status(st2, otb.OTEL_STATUS_ERROR, "boom")
    r.set_status(st2, otb.OTEL_STATUS_OK, "")
    r.end(st2, T0 + 53)
    st3 = r.start("status-error-invalid-utf8", "status bad utf8", 1, T0 + 54, Parent.span(root.handle))
    r.set_status(st3, otb.OTEL_STATUS_ERROR, Str(b"msg \xff\xfe end"))
    r.end(st3, T0 + 55)
    st4 = r.start("status-error-empty", "status error no message", 1, T0 + 56, Parent.span(root.handle))
    r.set_status(st4, otb.OTEL_STATUS_ERROR, "")
    r.end(st4, T0 + 57)
    st5 = r.start("status-unset", "status unset", 1, T0 + 58, Parent.span(root.handle))
    r.set_status(st5, otb.OTEL_STATUS_UNSET, "nothing")
    r.end(st5, T0 + 59)

    # -- exceptions
    ex = r.start("exception", "exception", 1, T0 + 60, Parent.span(root.handle))
    r.record_exception(ex, "ValueError", "bad value ✓", "Traceback (most recent call last):\n  x",
                       [("extra", 1), ("exception.escaped", True)], T0 + 61)
    r.record_exception(ex, "OnlyType", "", "", None, 0)
    r.record_exception(ex, "", "only message", "", None, T0 + 62)
    r.record_exception(ex, Str(b"T\xff"), Str(b"m\xfe"), Str(b"s\xc0"), None, T0 + 63)
    r.end(ex, T0 + 64)

    # -- links: at start and added; flags = trace flags | 0x100 | 0x200 when remote
    lk = r.start("links", "links", 1, T0 + 70, Parent.span(root.handle), links=[
        Link(LINK_TRACE, LINK_SPAN, 1, 1, "a=b,c=d", [("l.s", "v"), ("l.i", 9)]),
        Link(REMOTE_TRACE, REMOTE_SPAN, 0, 0),
    ])
    r.add_link(lk, Link(root.trace_id, root.span_id, 1, 0, None, [("l.arr", [1, "x"])]))
    r.add_link(lk, Link(REMOTE_TRACE_2, REMOTE_SPAN_2, 0x81, 1, Str(b"k=v\xff"),
                        [(Str(b"lk\xff"), UNI), ("", "dropped")]))
    r.end(lk, T0 + 71)

    # -- remote parents: trace id continues, parent span id, 0x200, trace_state inherited
    rp = r.start("remote-child", "remote child", otb.OTEL_SPAN_KIND_SERVER, T0 + 80,
                 Parent.remote(REMOTE_TRACE, REMOTE_SPAN, 1, "vendor=abc,other=1"))
    gc = r.start("remote-grandchild", "remote grandchild", 1, T0 + 81, Parent.span(rp.handle))
    r.end(gc, T0 + 82)
    r.end(rp, T0 + 83)
    rp2 = r.start("remote-child-is-remote-0", "remote parent given with is_remote 0", 1, T0 + 84,
                  Parent.remote(REMOTE_TRACE_2, REMOTE_SPAN_2, 1, None, is_remote=0))
    r.end(rp2, T0 + 85)
    # an unsampled remote parent (parentbased_always_on): not recorded, never exported
    un = r.start("remote-unsampled", "remote unsampled", 1, T0 + 86,
                 Parent.remote(REMOTE_TRACE_2, REMOTE_SPAN, 0, "x=y"))
    r.set_attrs(un, [("ignored", 1)])
    r.add_event(un, "ignored", T0 + 87)
    r.end(un, T0 + 88)

    # -- context: a span started with parent NULL is the child of the attached span
    cur = r.start("current-parent", "current parent", 1, T0 + 90, Parent.span(root.handle))
    tok = r.attach(cur)
    c1 = r.start("current-child-null", "child via NULL parent", 1, T0 + 91, None)
    c2 = r.start("current-child-explicit", "child via PARENT_CURRENT", 1, T0 + 92, Parent.current())
    tok2 = r.attach(c2)
    c3 = r.start("current-grandchild", "grandchild via current", 1, T0 + 93)
    r.end(c3, T0 + 94)
    r.restore(tok2)
    c4 = r.start("current-child-after-restore", "child after inner restore", 1, T0 + 95)
    r.end(c4, T0 + 96)
    r.end(c2, T0 + 97)
    r.end(c1, T0 + 98)
    r.restore(tok)
    r.end(cur, T0 + 99)
    nr = r.start("no-current-root", "root when nothing is current", 1, T0 + 100)
    r.end(nr, T0 + 101)

    # -- a remote context made current: child's parent is the remote span, flag 0x200, trace_state
    tok = r.attach_remote(REMOTE_TRACE_2, REMOTE_SPAN_2, 1, "rk=rv")
    ar = r.start("attach-remote-child", "child of attached remote", otb.OTEL_SPAN_KIND_CONSUMER, T0 + 110)
    r.end(ar, T0 + 111)
    r.restore(tok)

    # -- trace_state inherited through a local child made current (remote -> A -> attach A -> B)
    ts_a = r.start("tracestate-a", "tracestate A", 1, T0 + 120,
                   Parent.remote(REMOTE_TRACE, REMOTE_SPAN_2, 1, "congo=t61rcWkgMzE"))
    tok = r.attach(ts_a)
    ts_b = r.start("tracestate-b-via-current", "tracestate B via current", 1, T0 + 121)
    r.end(ts_b, T0 + 122)
    r.restore(tok)
    ts_c = r.start("tracestate-c-via-span", "tracestate C via span", 1, T0 + 123, Parent.span(ts_a.handle))
    r.end(ts_c, T0 + 124)
    r.end(ts_a, T0 + 125)

    # -- scopes: the same spans grouping, non-ASCII and invalid UTF-8 scope names
    for i in range(3):
        s = r.start(f"scope2-{i}", f"in scope two {i}", 1, T0 + 130 + i, Parent.span(root.handle),
                    scope="s2")
        r.end(s, T0 + 140 + i)
    sb = r.start("scope-bad-utf8", "in the bad scope", 1, T0 + 150, Parent.span(root.handle), scope="bad")
    r.end(sb, T0 + 151)

    # -- default limits: 128 attributes, 128 events
    many = r.start("default-attr-limit", "200 attributes", 1, T0 + 160, Parent.span(root.handle),
                   attrs=[(f"k{i:03d}", i) for i in range(200)])
    r.set_attrs(many, [("k000", "overwritten past the limit"), ("new", "dropped")])
    for i in range(130):
        r.add_event(many, f"e{i}", T0 + 1000 + i)
    r.end(many, T0 + 161)

    r.end(root, T0 + 9999)


def scenario_limits(r: Recorder) -> None:
    """OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT=4, value length 5, 3 events, 2 links, 2 attributes per event,
    1 per link."""
    a = r.start("attr-count", "attr count", 1, T0 + 1, Parent.root(),
                attrs=[(f"a{i}", i) for i in range(6)])
    r.set_attrs(a, [("a0", "over"), ("a9", 9), ("", 0)])
    r.end(a, T0 + 2)
    b = r.start("attr-count-exact", "attr count exact", 1, T0 + 3, Parent.root(),
                attrs=[(f"a{i}", i) for i in range(4)])
    r.end(b, T0 + 4)
    c = r.start("length", "length", 1, T0 + 5, Parent.root(), attrs=[
        ("long", "abcdefgh"), ("uni", "日本語🎉ab✓"), ("arr", ["abcdefg", "xy", "ééééééé"])])
    r.set_attrs(c, [("bad", Str(b"ab\xffcdefg")), ("map", {"k": "abcdefgh"})])  # map: past the count
    r.end(c, T0 + 6)
    c2 = r.start("length-2", "length 2", 1, T0 + 5, Parent.root(), attrs=[
        ("bytes", b"0123456789"), ("int", 1234567890123), ("a_long_key_name", "v"),
        ("map", Map([("k", "abcdefgh"), ("n", ["abcdefgh", 1])]))])
    r.set_attrs(c2, [("long", "abcdefgh")])  # dropped: over the count limit
    r.end(c2, T0 + 6)
    d = r.start("length-not-names", "a name longer than five", 1, T0 + 7, Parent.root())
    r.set_status(d, otb.OTEL_STATUS_ERROR, "a description longer than five")
    r.add_event(d, "an event name longer than five", T0 + 8, [("k", "abcdefgh")])
    r.end(d, T0 + 9)
    e = r.start("events", "events", 1, T0 + 10, Parent.root())
    r.add_event(e, "e1", T0 + 11, [("x", 1), ("y", 2), ("z", 3)])
    r.add_event(e, "e2", T0 + 12, [("x", 1), ("", 2), ("y", "abcdefgh")])
    r.record_exception(e, "Type", "message", "stack", [("extra", 1)], T0 + 13)
    r.add_event(e, "e4-dropped", T0 + 14)
    r.record_exception(e, "Dropped", "", "", None, T0 + 15)
    r.end(e, T0 + 16)
    f = r.start("links", "links", 1, T0 + 17, Parent.root(), links=[
        Link(LINK_TRACE, LINK_SPAN, 1, 1, "a=b", [("l1", "abcdefgh"), ("l2", 2)]),
    ])
    r.add_link(f, Link(REMOTE_TRACE, REMOTE_SPAN, 0, 0, None, [("m1", 1)]))
    r.add_link(f, Link(REMOTE_TRACE_2, REMOTE_SPAN_2, 1, 0, None, None))
    r.add_link(f, Link(REMOTE_TRACE_2, REMOTE_SPAN, 1, 1))
    r.end(f, T0 + 18)
    g = r.start("plain", "plain", 1, T0 + 19, Parent.root())
    r.end(g, T0 + 20)


@dataclass
class Group:
    name: str
    scenario: object
    config: dict
    limits: Limits
    scopes: tuple = ("s1", "s2", "bad")


GROUPS = {g.name: g for g in (
    Group("main", scenario_main, {}, Limits()),
    Group("limits", scenario_limits, {
        "OTEL_SPAN_ATTRIBUTE_COUNT_LIMIT": "4", "OTEL_SPAN_ATTRIBUTE_VALUE_LENGTH_LIMIT": "5",
        # the generic value length too, so event and link attributes are cut by either reading
        # of the specification (SDKs differ on which of the two applies to them)
        "OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT": "5",
        "OTEL_SPAN_EVENT_COUNT_LIMIT": "3", "OTEL_SPAN_LINK_COUNT_LIMIT": "2",
        "OTEL_EVENT_ATTRIBUTE_COUNT_LIMIT": "2", "OTEL_LINK_ATTRIBUTE_COUNT_LIMIT": "1"},
        Limits(attrs=4, length=5, events=3, links=2, event_attrs=2, link_attrs=1), scopes=("s1",)),
)}


# ---- decoding ---------------------------------------------------------------------------------


def json_line_to_trace_request(line: str) -> ExportTraceServiceRequest:
    doc = oracle.trace_hex_ids_to_base64(oracle.load_json_line(line))
    return json_format.ParseDict(doc, ExportTraceServiceRequest(), ignore_unknown_fields=False)


def flatten_spans(requests) -> list[tuple]:
    """[(request_index, resource_spans, scope_spans, span)] in wire order."""
    return [(ri, rs, ss, sp) for ri, req in enumerate(requests) for rs in req.resource_spans
            for ss in rs.scope_spans for sp in ss.spans]


def decode_file(raw: bytes, fmt: str):
    """(trace requests, log requests, errors, lint issues). JSON lines are told apart by their
    top-level key; proto frames by trying the traces schema's lint first."""
    traces, logs, errors, lint = [], [], [], []
    if fmt == "proto":
        try:
            frames = oracle.read_frames(raw)
        except oracle.FrameError as e:
            return traces, logs, [str(e)], lint
        for i, fr in enumerate(frames):
            issues = oracle.wire_lint(fr, ExportTraceServiceRequest.DESCRIPTOR)
            lint.extend(f"frame {i}: {s}" for s in issues)
            try:
                traces.append(ExportTraceServiceRequest.FromString(fr))
            except Exception as e:  # DecodeError
                errors.append(f"frame {i}: {type(e).__name__}: {e}; lint: {issues[:5]}")
        return traces, logs, errors, lint
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        return traces, logs, [f"the JSON file is not UTF-8: {e}"], lint
    if text and not text.endswith("\n"):
        errors.append("the JSON file does not end with a newline")
    for i, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")):
        if not line:
            errors.append(f"line {i + 1} is empty")
            continue
        try:
            doc = oracle.load_json_line(line)
            if "resourceSpans" in doc:
                traces.append(json_line_to_trace_request(line))
            elif "resourceLogs" in doc:
                logs.append(oracle.json_line_to_request(line))
            else:
                errors.append(f"line {i + 1}: neither resourceSpans nor resourceLogs: {list(doc)}")
        except Exception as e:
            errors.append(f"line {i + 1}: {type(e).__name__}: {e}")
    return traces, logs, errors, lint


def trace_stats(lib, engine) -> dict:
    st, vals = lib.engine_stats(engine, otb.OTEL_SIGNAL_TRACES)
    assert st == otb.OTEL_OK, f"otel_engine_stats(TRACES): {otb.status_name(st)}"
    return dict(zip(otb.STAT_NAMES, vals))


def new_engine(factory, fmt="proto", config=None, name="traces"):
    return factory(fmt=fmt, config={**BASE_CONFIG, **(config or {})}, name=name)


def finish(e, flush=True):
    """flush (optional), shutdown, stats, free; returns the statuses and the traces stats."""
    out = {"flush": e.lib.engine_flush(e.engine, 5000) if flush else None,
           "shutdown": e.shutdown(5000)}
    out["stats"] = trace_stats(e.lib, e.engine)
    out["free"] = e.free()
    return out


# ---- running a group --------------------------------------------------------------------------


@dataclass
class Run:
    group: Group
    fmt: str
    rec: Recorder
    scope_handles: dict
    end: dict
    raw: bytes
    requests: list
    errors: list
    lint: list

    def decoded(self):
        assert not self.errors, f"[{self.fmt}/{self.group.name}] the file did not decode: " + \
            "; ".join(self.errors[:10])
        return self.requests

    def spans(self):
        return flatten_spans(self.decoded())

    def find(self, ref: SpanRef):
        return [t for t in self.spans() if t[3].span_id == ref.span_id]


def run_group(factory, group: Group, fmt: str) -> Run:
    e = new_engine(factory, fmt, group.config, name=f"{group.name}-{fmt}")
    handles = {k: e.scope(*SCOPES[k]) for k in group.scopes}
    rec = Recorder(e.lib, handles, group.limits)
    try:
        group.scenario(rec)
    finally:
        # never leave a context attached on this thread for the next test
        while rec.current:
            rec.current.pop()
            e.lib.context_restore(len(rec.current) + 1)
    end = finish(e)
    raw = e.read_bytes()
    traces, _logs, errors, lint = decode_file(raw, fmt)
    return Run(group, fmt, rec, handles, end, raw, traces, errors, lint)


@pytest.fixture(scope="module")
def runs(module_engine_factory):
    cache: dict = {}

    def get(group_name: str, fmt: str) -> Run:
        key = (group_name, fmt)
        if key not in cache:
            cache[key] = run_group(module_engine_factory, GROUPS[group_name], fmt)
        return cache[key]

    return get


class _DryLib:
    """Enough of otb.Lib to run a scenario for its labels only."""

    def __init__(self):
        self.n = 0

    def span_start(self, *a, **k):
        self.n += 1
        return otb.OTEL_OK, self.n

    def span_context_get(self, h):
        return otb.OTEL_OK, dict(trace_id=h.to_bytes(16, "big"), span_id=h.to_bytes(8, "big"),
                                 trace_flags=1, is_remote=0)

    def context_attach(self, h):
        return otb.OTEL_OK, 1

    def context_attach_remote(self, *a):
        return otb.OTEL_OK, 1

    def __getattr__(self, name):
        return lambda *a, **k: otb.OTEL_OK


def _dry_labels(group: Group) -> list[str]:
    r = Recorder(_DryLib(), {k: 0 for k in SCOPES}, group.limits)
    group.scenario(r)
    return list(r.spans)


_LABELS = {g.name: _dry_labels(g) for g in GROUPS.values()}

SPAN_PARAMS = [pytest.param(g, label, fmt, id=f"{fmt}-{g}-{label}")
               for fmt in FORMATS for g in GROUPS for label in _LABELS[g]]


def _in_window(got: int, window: tuple) -> bool:
    return window[0] - NOW_SLACK_NS <= got <= window[1] + NOW_SLACK_NS


@pytest.mark.parametrize("group_name,label,fmt", SPAN_PARAMS)
def test_span(runs, group_name, label, fmt):
    run = runs(group_name, fmt)
    r = run.rec
    ref = r.spans[label]
    assert not [e for e in r.errors if f"({label}" in e], \
        f"{label}: calls failed: {[e for e in r.errors if f'({label}' in e]}"

    # the context read back with otel_span_context_get
    ctx = ref.ctx
    assert len(ctx["trace_id"]) == 16 and any(ctx["trace_id"]), f"{label}: trace_id {ctx['trace_id'].hex()}"
    assert len(ctx["span_id"]) == 8 and any(ctx["span_id"]), f"{label}: span_id {ctx['span_id'].hex()}"
    assert ctx["is_remote"] == 0, f"{label}: a local span's context has is_remote 0, got {ctx['is_remote']}"
    assert ctx["trace_flags"] == (1 if ref.sampled else 0), (
        f"{label}: trace flags: expected {int(ref.sampled)} (the sampled bit), got {ctx['trace_flags']:#x}")
    if ref.expected_trace_id is not None:
        assert ctx["trace_id"] == ref.expected_trace_id, (
            f"{label}: a child continues its parent's trace: expected {ref.expected_trace_id.hex()}, "
            f"got {ctx['trace_id'].hex()}")
    others = [s.label for s in r.spans.values() if s is not ref and s.span_id == ref.span_id]
    assert not others, f"{label}: span id {ref.span_id.hex()} also used by {others}"
    if ref.expected_trace_id is None:
        same = [s.label for s in r.spans.values() if s.expected_trace_id is None and s is not ref
                and s.trace_id == ref.trace_id]
        assert not same, f"{label}: a root got the trace id of another root: {same}"

    found = run.find(ref)
    if not ref.sampled:
        assert not found, f"{label}: an unsampled span must not be exported, found {len(found)}"
        return
    assert len(found) == 1, f"{label}: expected exactly one span with span_id {ref.span_id.hex()}, " \
                            f"found {len(found)}"
    _, _rs, ss, got = found[0]
    want_scope = ref_scope(ref.scope)
    assert ss.scope.name == want_scope.name, (
        f"{label}: in ScopeSpans of {ss.scope.name!r}, expected {want_scope.name!r}")

    want = r.expected_span(ref)
    if ref.start == 0:
        assert _in_window(got.start_time_unix_nano, ref.start_window), (
            f"{label}: start 0 means now: got {got.start_time_unix_nano}, the call ran in {ref.start_window}")
        want.start_time_unix_nano = got.start_time_unix_nano
    if ref.end == 0:
        assert _in_window(got.end_time_unix_nano, ref.end_window), (
            f"{label}: end 0 means now: got {got.end_time_unix_nano}, the call ran in {ref.end_window}")
        want.end_time_unix_nano = got.end_time_unix_nano
    for i, (_ev, window) in enumerate(ref.events):
        if window is not None and i < len(got.events):
            g = got.events[i].time_unix_nano
            assert _in_window(g, window), f"{label}: event {i} time 0 means now: got {g}, call in {window}"
            want.events[i].time_unix_nano = g
    if got.HasField("status") and got.status.code == 0 and not got.status.message:
        got = copy.deepcopy(got)
        got.ClearField("status")  # an empty Status equals an absent one
    diffs = oracle.diff_messages(got, want, label)
    assert not diffs, f"[{fmt}] {label}: the span on the wire differs from what was emitted:\n  " + \
        "\n  ".join(diffs)


def ref_scope(key: str) -> InstrumentationScope:
    name, version, _schema, attrs = SCOPES[key]
    sc = InstrumentationScope(name=ref_str(name), version=ref_str(version))
    for k, v in (attrs or []):
        sc.attributes.append(KeyValue(key=ref_str(k), value=ref_value(v)))
    return sc


GROUP_PARAMS = [pytest.param(g, fmt, id=f"{fmt}-{g}") for fmt in FORMATS for g in GROUPS]


@pytest.mark.parametrize("group_name,fmt", GROUP_PARAMS)
def test_scenario_statuses(runs, group_name, fmt):
    run = runs(group_name, fmt)
    assert not run.rec.errors, "calls that should have succeeded:\n  " + "\n  ".join(run.rec.errors)
    for k in ("flush", "shutdown", "free"):
        assert run.end[k] == otb.OTEL_OK, f"otel_engine_{k}: expected OTEL_OK, got {otb.status_name(run.end[k])}"


@pytest.mark.parametrize("group_name,fmt", GROUP_PARAMS)
def test_spans_exactly_once_in_end_order(runs, group_name, fmt):
    run = runs(group_name, fmt)
    got = [t[3].span_id for t in run.spans()]
    want = [s.span_id for s in run.rec.exported()]
    assert sorted(got) == sorted(want), (
        f"spans on the wire: expected {len(want)} (every sampled span once), got {len(got)}; "
        f"missing {[s.label for s in run.rec.exported() if s.span_id not in got]}, "
        f"unexpected {[g.hex() for g in got if g not in want]}")
    for key in run.group.scopes:
        name = ref_scope(key).name
        g = [t[3].span_id for t in run.spans() if t[2].scope.name == name]
        w = [s.span_id for s in run.rec.exported() if s.scope == key]
        assert g == w, f"scope {name!r}: spans not in end order"


@pytest.mark.parametrize("group_name,fmt", GROUP_PARAMS)
def test_statistics_exact(runs, group_name, fmt):
    run = runs(group_name, fmt)
    s = run.end["stats"]
    n = len(run.rec.exported())
    assert s["accepted"] == n and s["exported"] == n, (
        f"traces stats accepted/exported: expected {n}/{n} (sampled spans), got {s['accepted']}/{s['exported']}")
    for k in ("queued", "in_flight", "dropped_queue_full", "dropped_oldest", "dropped_too_large",
              "dropped_shutdown", "failed", "rejected", "invalid"):
        assert s[k] == 0, f"traces stats.{k}: expected 0, got {s[k]}"
    assert s["export_batches"] == len(run.decoded()) == 1, (
        f"one flush, one batch: export_batches {s['export_batches']}, requests {len(run.decoded())}")


@pytest.mark.parametrize("group_name", list(GROUPS))
def test_proto_wire_lint(runs, group_name):
    run = runs(group_name, "proto")
    assert run.raw, "the proto file is empty"
    assert not run.lint, "raw protobuf problems a decoder would forgive:\n  " + "\n  ".join(run.lint[:30])
    unknown = [p for req in run.decoded() for p in oracle.has_unknown_fields(req)]
    assert not unknown, f"messages with unknown fields after decoding: {unknown[:10]}"


def _normalize(run: Run) -> list:
    """Copies of the requests with the random ids replaced by ids derived from the span labels and
    the "now" timestamps zeroed, so two runs of one scenario compare equal."""
    id_map: dict[bytes, bytes] = {}
    for s in run.rec.spans.values():
        h = hashlib.sha256(s.label.encode()).digest()
        id_map[s.span_id] = h[:8]
        if s.expected_trace_id is None:
            id_map[s.trace_id] = h[8:24]
    now_labels = {s.span_id for s in run.rec.spans.values() if s.start == 0 or s.end == 0}
    reqs = [copy.deepcopy(r) for r in run.decoded()]
    for _, _, _, sp in flatten_spans(reqs):
        ref = next(s for s in run.rec.spans.values() if s.span_id == sp.span_id)
        for f in ("trace_id", "span_id", "parent_span_id"):
            v = getattr(sp, f)
            setattr(sp, f, id_map.get(v, v))
        for ln in sp.links:
            ln.trace_id = id_map.get(ln.trace_id, ln.trace_id)
            ln.span_id = id_map.get(ln.span_id, ln.span_id)
        if ref.span_id in now_labels:
            if ref.start == 0:
                sp.start_time_unix_nano = 0
            if ref.end == 0:
                sp.end_time_unix_nano = 0
        for i, (_ev, window) in enumerate(ref.events):
            if window is not None and i < len(sp.events):
                sp.events[i].time_unix_nano = 0
    return reqs


@pytest.mark.parametrize("group_name", list(GROUPS))
def test_json_equals_proto(runs, group_name):
    pj, jj = runs(group_name, "proto"), runs(group_name, "json")
    preq, jreq = _normalize(pj), _normalize(jj)
    assert len(jreq) == len(preq), f"requests: {len(preq)} proto frames vs {len(jreq)} JSON lines"
    diffs = []
    for i, (j, p) in enumerate(zip(jreq, preq)):
        diffs += oracle.diff_messages(j, p, f"request[{i}]")
    assert not diffs, "JSON (got) vs proto (expected), ids and 'now' normalized:\n  " + "\n  ".join(diffs[:40])


LOWER_CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")
DIGITS = re.compile(r"^-?[0-9]+$")


@pytest.mark.parametrize("group_name", list(GROUPS))
def test_json_raw_rules(runs, group_name):
    run = runs(group_name, "json")
    text = run.raw.decode("utf-8")
    assert text and text.endswith("\n"), "the JSON file is empty or does not end with a newline"
    bad = []
    seen = {"traceId": 0, "parentSpanId": 0, "kind": 0, "flags": 0}
    for i, line in enumerate(text.split("\n")[:-1]):
        doc = oracle.load_json_line(line)
        assert isinstance(doc, dict) and list(doc) == ["resourceSpans"], (
            f"line {i + 1}: expected one object with the single key resourceSpans, got {list(doc)}")
        for path, k, v in oracle.iter_json(doc):
            if not LOWER_CAMEL.match(k):
                bad.append(f"{path}: key {k!r} is not lowerCamelCase")
            if k in ("startTimeUnixNano", "endTimeUnixNano", "timeUnixNano", "intValue"):
                if not (isinstance(v, str) and DIGITS.match(v)):
                    bad.append(f"{path}.{k}: a 64-bit integer must be a decimal string, got {v!r}")
            if k in ("kind", "code", "flags", "droppedAttributesCount", "droppedEventsCount",
                     "droppedLinksCount"):
                seen[k] = seen.get(k, 0) + 1
                if type(v) is not int:
                    bad.append(f"{path}.{k}: must be a JSON integer, got {v!r}")
            if k == "traceId":
                seen[k] += 1
                if not (isinstance(v, str) and re.fullmatch(r"[0-9a-f]{32}", v)):
                    bad.append(f"{path}.traceId: expected 32 lowercase hex chars, got {v!r}")
            if k in ("spanId", "parentSpanId"):
                seen[k] = seen.get(k, 0) + 1
                if not (isinstance(v, str) and re.fullmatch(r"[0-9a-f]{16}", v)):
                    bad.append(f"{path}.{k}: expected 16 lowercase hex chars, got {v!r}")
    assert not bad, "OTLP/JSON rule violations:\n  " + "\n  ".join(bad[:40])
    for k in ("traceId", "kind", "flags") + (("parentSpanId",) if group_name == "main" else ()):
        assert seen[k] > 0, f"no {k} seen: the rule check would be vacuous"


@pytest.mark.parametrize("fmt", FORMATS)
def test_scopes_grouped_in_one_resource(runs, fmt):
    run = runs("main", fmt)
    reqs = run.decoded()
    assert len(reqs) == 1, f"one flush: expected 1 request, got {len(reqs)}"
    req = reqs[0]
    assert len(req.resource_spans) == 1, f"ResourceSpans: expected 1, got {len(req.resource_spans)}"
    sss = req.resource_spans[0].scope_spans
    names = [ss.scope.name for ss in sss]
    want_names = [ref_scope(k).name for k in ("s1", "s2", "bad")]
    assert sorted(names) == sorted(want_names), f"ScopeSpans: one per scope {want_names}, got {names}"
    for ss in sss:
        key = next(k for k in ("s1", "s2", "bad") if ref_scope(k).name == ss.scope.name)
        diffs = oracle.diff_messages(ss.scope, ref_scope(key), f"scope[{key}]")
        assert not diffs, "InstrumentationScope differs:\n  " + "\n  ".join(diffs)
        assert ss.schema_url == SCOPES[key][2], f"ScopeSpans.schema_url of {key}: {ss.schema_url!r}"
        n = sum(1 for s in run.rec.exported() if s.scope == key)
        assert len(ss.spans) == n, f"spans of scope {key}: expected {n}, got {len(ss.spans)}"


@pytest.mark.parametrize("fmt", FORMATS)
def test_resource(runs, lib, fmt):
    reqs = runs("main", fmt).decoded()
    res = reqs[0].resource_spans[0].resource
    attrs = {kv.key: kv.value for kv in res.attributes}
    assert len(attrs) == len(res.attributes), f"resource keys repeat: {[kv.key for kv in res.attributes]}"

    def s(key):
        assert key in attrs, f"resource attribute {key} missing; have {sorted(attrs)}"
        return attrs[key].string_value

    assert s("service.name") == SERVICE_NAME
    assert s("telemetry.sdk.name") == "otelbridge"
    assert s("telemetry.sdk.language") == "cpp"
    assert s("telemetry.sdk.version") == lib.version()
    assert s("host.name") == socket.gethostname()
    assert attrs["process.pid"].int_value == os.getpid(), "process.pid"
    assert s("k1") == "v 1" and s("k2") == "a,b", "OTEL_RESOURCE_ATTRIBUTES"


# ---- export without an explicit flush -----------------------------------------------------------


def test_spans_only_engine_exports_at_shutdown(engine_factory):
    """Header: otel_engine_shutdown "Flushes, then stops": spans ended before it are exported,
    also when the engine never emitted a log record and nobody called flush."""
    e = new_engine(engine_factory)
    sc = e.scope("shutdown.only")
    handles = []
    for i in range(3):
        st, h = e.lib.span_start(sc, f"s{i}", 1, T0 + i, Parent.root())
        assert st == otb.OTEL_OK
        handles.append(h)
    for h in handles:
        assert e.lib.span_end(h, T0 + 100) == otb.OTEL_OK
    end = finish(e, flush=False)
    spans = flatten_spans(decode_file(e.read_bytes(), "proto")[0])
    assert end["shutdown"] == otb.OTEL_OK, f"shutdown: {otb.status_name(end['shutdown'])}"
    assert len(spans) == 3 and end["stats"]["exported"] == 3, (
        f"3 spans ended before otel_engine_shutdown (no flush, no log record): expected 3 exported, "
        f"got {len(spans)} in the file; traces stats {end['stats']}")


def test_spans_only_schedule_delay_exports_without_flush(engine_factory):
    """OTEL_BSP_SCHEDULE_DELAY=50: an ended span is exported by the worker within seconds."""
    e = new_engine(engine_factory, config={"OTEL_BSP_SCHEDULE_DELAY": "50"})
    sc = e.scope("schedule.only")
    st, h = e.lib.span_start(sc, "tick", 1, T0, Parent.root())
    assert st == otb.OTEL_OK and e.lib.span_end(h, T0 + 1) == otb.OTEL_OK
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and trace_stats(e.lib, e.engine)["exported"] < 1:
        time.sleep(0.02)
    s = trace_stats(e.lib, e.engine)
    finish(e)
    assert s["exported"] == 1, (
        f"with OTEL_BSP_SCHEDULE_DELAY=50 the span is exported within 5 s without a flush; "
        f"traces stats after 5 s: {s}")


# ---- handles ----------------------------------------------------------------------------------


def _all_span_calls(lib, h) -> dict:
    """Every call that takes a span handle, with valid other arguments."""
    st_ctx, _ = lib.span_context_get(h)
    return {
        "set_attrs": lib.span_set_attrs(h, [("k", 1)]),
        "add_event": lib.span_add_event(h, "e", 0, None),
        "add_link": lib.span_add_link(h, Link(LINK_TRACE, LINK_SPAN)),
        "set_status": lib.span_set_status(h, otb.OTEL_STATUS_ERROR, "x"),
        "update_name": lib.span_update_name(h, "n"),
        "record_exception": lib.span_record_exception(h, "T", "m", "s"),
        "context_get": st_ctx,
        "is_recording": lib.span_is_recording(h),
        "context_attach": _attach_and_undo(lib, h),
        "end": lib.span_end(h, 0),
    }


def _attach_and_undo(lib, h) -> int:
    st, tok = lib.context_attach(h)
    if st == otb.OTEL_OK:
        lib.context_restore(tok)
    return st


def test_double_end_and_stale_handle_after_slot_reuse(engine_factory):
    e = new_engine(engine_factory)
    lib = e.lib
    sc = e.scope("handles")
    st, a = lib.span_start(sc, "A", 1, T0 + 1, Parent.root())
    assert st == otb.OTEL_OK and a != 0
    _, actx = lib.span_context_get(a)
    assert lib.span_end(a, T0 + 2) == otb.OTEL_OK
    st2 = lib.span_end(a, T0 + 3)
    assert st2 == otb.OTEL_E_INVALID_HANDLE, f"second end: expected -13, got {otb.status_name(st2)}"
    st, b = lib.span_start(sc, "B", 1, T0 + 4, Parent.root())  # reuses A's slot
    assert st == otb.OTEL_OK
    assert b != a, f"the new span got the old handle {a:#x}"
    assert b & 0xFFFFF == a & 0xFFFFF, "test premise: B reuses A's slot (same index bits)"
    calls = _all_span_calls(lib, a)
    bad = {k: otb.status_name(v) for k, v in calls.items() if v != otb.OTEL_E_INVALID_HANDLE}
    assert not bad, f"calls on A's stale handle (slot now B's) must return OTEL_E_INVALID_HANDLE: {bad}"
    st, _c = lib.span_start(sc, "C", 1, T0 + 5, Parent.span(a))
    assert st == otb.OTEL_E_INVALID_HANDLE, f"a stale parent handle: expected -13, got {otb.status_name(st)}"
    for h in (0, 1, 0xFFFF_FFFF_FFFF_FFFF, (a & ~0xFFFFF) | 0xFFFFF):
        st = lib.span_end(h, 0)
        assert st == otb.OTEL_E_INVALID_HANDLE, f"handle {h:#x}: expected -13, got {otb.status_name(st)}"
    assert lib.span_is_recording(b) == 1
    assert lib.span_end(b, T0 + 6) == otb.OTEL_OK
    end = finish(e)
    spans = {sp.name: sp for _, _, _, sp in flatten_spans(decode_file(e.read_bytes(), "proto")[0])}
    assert sorted(spans) == ["A", "B"], f"only A and B are exported: {sorted(spans)}"
    b_sp = spans["B"]
    assert not b_sp.attributes and not b_sp.events and not b_sp.links and not b_sp.HasField("status"), (
        f"calls on A's stale handle must not reach B (the slot's new span): {b_sp}")
    assert spans["A"].span_id == actx["span_id"] and spans["A"].end_time_unix_nano == T0 + 2
    assert end["stats"]["exported"] == 2, end["stats"]


def test_use_after_shutdown_is_shutdown(engine_factory):
    e = new_engine(engine_factory)
    lib = e.lib
    sc = e.scope("after.shutdown")
    st, live = lib.span_start(sc, "live at shutdown", 1, T0, Parent.root())
    assert st == otb.OTEL_OK
    assert e.shutdown(5000) == otb.OTEL_OK
    calls = _all_span_calls(lib, live)
    bad = {k: otb.status_name(v) for k, v in calls.items() if v != otb.OTEL_E_SHUTDOWN}
    assert not bad, f"calls on a live span after otel_engine_shutdown must return OTEL_E_SHUTDOWN: {bad}"
    st, _ = lib.span_start(sc, "after", 1, 0, Parent.root())
    assert st == otb.OTEL_E_SHUTDOWN, f"otel_span_start after shutdown: {otb.status_name(st)}"
    assert e.free() == otb.OTEL_OK
    assert flatten_spans(decode_file(e.read_bytes(), "proto")[0]) == [], \
        "a span still live at shutdown is not exported"


def test_handle_of_a_freed_engine_is_invalid(engine_factory):
    e = new_engine(engine_factory)
    lib = e.lib
    sc = e.scope("freed")
    st, h = lib.span_start(sc, "orphan", 1, T0, Parent.root())
    assert st == otb.OTEL_OK
    assert e.free() == otb.OTEL_OK
    # a new engine after the free must not adopt the old handle
    e2 = new_engine(engine_factory)
    sc2 = e2.scope("after.free")
    st, h2 = lib.span_start(sc2, "new", 1, T0, Parent.root())
    assert st == otb.OTEL_OK
    calls = _all_span_calls(lib, h)
    bad = {k: otb.status_name(v) for k, v in calls.items() if v != otb.OTEL_E_INVALID_HANDLE}
    assert not bad, f"calls on a span of a freed engine must return OTEL_E_INVALID_HANDLE: {bad}"
    assert lib.span_is_recording(h2) == 1, "the new engine's span is untouched"
    assert lib.span_end(h2, T0 + 1) == otb.OTEL_OK
    finish(e2)


def test_invalid_arguments(engine_factory):
    e = new_engine(engine_factory)
    lib = e.lib
    sc = e.scope("bad.args")
    BAD = otb.OTEL_E_INVALID_ARG
    got = {}
    got["out NULL"] = lib.span_start(sc, "x", 1, 0, Parent.root(), null_out=True)[0]
    for k in (-1, 6, 100, -(2**31)):
        got[f"kind {k}"] = lib.span_start(sc, "x", k, 0, Parent.root())[0]
    for k in (-1, 4, 99):
        got[f"parent kind {k}"] = lib.span_start(sc, "x", 1, 0, Parent.raw(k))[0]
    got["scope NULL"] = lib.span_start(None, "x", 1, 0, Parent.root())[0]
    got["name (NULL, 5)"] = lib.span_start(sc, RawStr(None, 5), 1, 0, Parent.root())[0]
    got["attrs (NULL, 3)"] = lib.span_start(sc, "x", 1, 0, Parent.root(), attrs=RawAttrs(None, 3))[0]
    got["links (NULL, 2)"] = lib.span_start(sc, "x", 1, 0, Parent.root(), links=RawLinks(None, 2))[0]
    got["link trace_state (NULL, 4)"] = lib.span_start(
        sc, "x", 1, 0, Parent.root(), links=[Link(LINK_TRACE, LINK_SPAN, 1, 0, RawStr(None, 4))])[0]
    got["remote trace_state (NULL, 4)"] = lib.span_start(
        sc, "x", 1, 0, Parent.remote(REMOTE_TRACE, REMOTE_SPAN, 1, RawStr(None, 4)))[0]
    got["attr key (NULL, 5)"] = lib.span_start(sc, "x", 1, 0, Parent.root(), attrs=[(RawStr(None, 5), 1)])[0]

    st, h = lib.span_start(sc, "good", 1, T0, Parent.root())
    assert st == otb.OTEL_OK
    got["context_get out NULL"] = lib.span_context_get(h, null_out=True)[0]
    got["attach token NULL"] = lib.context_attach(h, null_token=True)[0]
    got["add_link NULL"] = lib.span_add_link(h, None)
    for c in (-1, 3, 99):
        got[f"status code {c}"] = lib.span_set_status(h, c, "")
    got["event name (NULL, 5)"] = lib.span_add_event(h, RawStr(None, 5), 0)
    got["event attrs (NULL, 2)"] = lib.span_add_event(h, "e", 0, RawAttrs(None, 2))
    got["set_attrs (NULL, 2)"] = lib.span_set_attrs(h, RawAttrs(None, 2))
    got["update_name (NULL, 5)"] = lib.span_update_name(h, RawStr(None, 5))
    got["status description (NULL, 5)"] = lib.span_set_status(h, otb.OTEL_STATUS_ERROR, RawStr(None, 5))
    got["exception type (NULL, 5)"] = lib.span_record_exception(h, RawStr(None, 5), "m", "s")
    got["exception attrs (NULL, 2)"] = lib.span_record_exception(h, "T", "m", "s", RawAttrs(None, 2))
    dll = lib._tdll()
    a = otb.Arena()
    got["attach_remote ctx NULL"] = dll.otel_context_attach_remote(None, a.str(""), ctypes_u64_ref())
    ctx = a.span_context(REMOTE_TRACE, REMOTE_SPAN, 1)
    got["attach_remote token NULL"] = dll.otel_context_attach_remote(otb.byref(ctx), a.str(""), None)
    got["attach_remote trace_state (NULL, 3)"] = lib.context_attach_remote(
        REMOTE_TRACE, REMOTE_SPAN, 1, RawStr(None, 3))[0]
    bad = {k: otb.status_name(v) for k, v in got.items() if v != BAD}
    assert not bad, f"expected OTEL_E_INVALID_ARG for each, got: {bad}"

    # nothing above left a trace: the good span ends clean, and only it is exported
    _, cur, cur_span = lib.context_current()
    assert cur_span == 0 and not any(cur["trace_id"]), "a refused attach left a current context"
    assert lib.span_end(h, T0 + 1) == otb.OTEL_OK
    end = finish(e)
    spans = [sp for _, _, _, sp in flatten_spans(decode_file(e.read_bytes(), "proto")[0])]
    assert [sp.name for sp in spans] == ["good"], f"only the good span is exported: {[s.name for s in spans]}"
    sp = spans[0]
    assert not sp.attributes and not sp.events and not sp.HasField("status") and sp.name == "good", (
        f"refused calls must not change the span: {sp}")
    assert end["stats"]["exported"] == 1


def ctypes_u64_ref():
    return ctypes.byref(ctypes.c_uint64(0))


# ---- sampling ---------------------------------------------------------------------------------


def test_always_off_nothing_exported_but_context_propagates(engine_factory):
    e = new_engine(engine_factory, config={"OTEL_TRACES_SAMPLER": "always_off"})
    lib = e.lib
    sc = e.scope("always.off")
    st, root = lib.span_start(sc, "root", 2, 0, Parent.root(), attrs=[("a", 1)])
    assert st == otb.OTEL_OK and root
    st, rctx = lib.span_context_get(root)
    assert st == otb.OTEL_OK
    assert any(rctx["trace_id"]) and any(rctx["span_id"]), f"a valid context: {rctx}"
    assert rctx["trace_flags"] & 1 == 0, f"sampled bit 0: flags {rctx['trace_flags']:#x}"
    assert lib.span_is_recording(root) == 0
    assert lib.span_set_attrs(root, [("b", 2)]) == otb.OTEL_OK
    assert lib.span_add_event(root, "e", 0) == otb.OTEL_OK
    st, child = lib.span_start(sc, "child", 1, 0, Parent.span(root))
    _, cctx = lib.span_context_get(child)
    assert cctx["trace_id"] == rctx["trace_id"] and cctx["span_id"] != rctx["span_id"], \
        "a child of an unsampled span continues the trace with its own span id"
    assert cctx["trace_flags"] & 1 == 0 and lib.span_is_recording(child) == 0
    st, tok = lib.context_attach(child)
    assert st == otb.OTEL_OK
    try:
        st, gc = lib.span_start(sc, "grandchild", 1, 0, None)
        _, gctx = lib.span_context_get(gc)
    finally:
        assert lib.context_restore(tok) == otb.OTEL_OK
    assert gctx["trace_id"] == rctx["trace_id"], "the current (unsampled) span's trace continues"
    for h in (gc, child, root):
        assert lib.span_end(h, 0) == otb.OTEL_OK
    end = finish(e)
    assert e.read_bytes() == b"", "always_off: nothing is written"
    assert end["stats"]["accepted"] == 0 and end["stats"]["exported"] == 0, end["stats"]


SDK_SAMPLERS = {
    "always_on": lambda r: sdk_sampling.ALWAYS_ON,
    "always_off": lambda r: sdk_sampling.ALWAYS_OFF,
    "traceidratio": lambda r: sdk_sampling.TraceIdRatioBased(r),
    "parentbased_always_on": lambda r: sdk_sampling.ParentBased(sdk_sampling.ALWAYS_ON),
    "parentbased_always_off": lambda r: sdk_sampling.ParentBased(sdk_sampling.ALWAYS_OFF),
    "parentbased_traceidratio": lambda r: sdk_sampling.ParentBased(sdk_sampling.TraceIdRatioBased(r)),
}


def _sdk_decision(sampler, parent: dict | None, trace_id: bytes) -> bool:
    ctx = None
    if parent is not None:
        sc = SpanContext(trace_id=int.from_bytes(parent["trace_id"], "big"),
                         span_id=int.from_bytes(parent["span_id"], "big"),
                         is_remote=bool(parent["is_remote"]),
                         trace_flags=TraceFlags(parent["trace_flags"]))
        ctx = otel_trace.set_span_in_context(NonRecordingSpan(sc))
    return sampler.should_sample(ctx, int.from_bytes(trace_id, "big"), "x").decision.is_sampled()


def test_traceidratio_half_matches_the_python_sdk(engine_factory):
    """2000 root spans with traceidratio 0.5: each decision equals the official Python SDK's
    TraceIdRatioBased(0.5) for the same trace id."""
    e = new_engine(engine_factory, config={"OTEL_TRACES_SAMPLER": "traceidratio",
                                           "OTEL_TRACES_SAMPLER_ARG": "0.5"})
    lib = e.lib
    sc = e.scope("ratio")
    sdk = sdk_sampling.TraceIdRatioBased(0.5)
    ours = {}
    for i in range(2000):
        st, h = lib.span_start(sc, "x", 1, T0 + i, Parent.root())
        assert st == otb.OTEL_OK
        _, ctx = lib.span_context_get(h)
        ours[ctx["span_id"]] = (ctx, lib.span_is_recording(h))
        assert lib.span_end(h, T0 + i) == otb.OTEL_OK
    end = finish(e)
    exported = {sp.span_id for _, _, _, sp in flatten_spans(decode_file(e.read_bytes(), "proto")[0])}
    mismatches = []
    n_sdk = 0
    for sid, (ctx, recording) in ours.items():
        want = sdk.should_sample(None, int.from_bytes(ctx["trace_id"], "big"), "x").decision.is_sampled()
        n_sdk += want
        got = sid in exported
        if got != want or bool(ctx["trace_flags"] & 1) != want or recording != int(want):
            mismatches.append(f"trace {ctx['trace_id'].hex()}: SDK {want}, exported {got}, "
                              f"flags {ctx['trace_flags']:#x}, recording {recording}")
    assert not mismatches, f"{len(mismatches)} of 2000 decisions differ from the SDK:\n  " + \
        "\n  ".join(mismatches[:20])
    assert 850 <= n_sdk <= 1150, f"the test is meaningful only with a mix: SDK sampled {n_sdk}/2000"
    assert end["stats"]["exported"] == n_sdk, end["stats"]


@pytest.mark.parametrize("sampler", list(SDK_SAMPLERS))
def test_sampler_decisions_match_the_python_sdk(engine_factory, sampler):
    """Roots, remote parents (sampled and not) and local parents (sampled and not): each decision
    (exported, sampled bit, is_recording) equals the official Python SDK sampler's."""
    ratio = 0.5
    e = new_engine(engine_factory, config={"OTEL_TRACES_SAMPLER": sampler,
                                           "OTEL_TRACES_SAMPLER_ARG": str(ratio)})
    lib = e.lib
    sc = e.scope("sampler." + sampler)
    sdk = SDK_SAMPLERS[sampler](ratio)
    rng = random.Random(1234)
    cases = []  # (label, parent dict or None, handle)

    def start(label, parent_arg, parent_ctx):
        st, h = lib.span_start(sc, label, 1, T0, parent_arg)
        assert st == otb.OTEL_OK, f"{label}: {otb.status_name(st)}"
        cases.append((label, parent_ctx, h))
        return h

    for i in range(200):
        start(f"root{i}", Parent.root(), None)
    for i in range(200):
        tid = rng.getrandbits(128).to_bytes(16, "big")
        sid = rng.getrandbits(64).to_bytes(8, "big")
        flags = i % 2
        start(f"remote{i}", Parent.remote(tid, sid, flags, None),
              dict(trace_id=tid, span_id=sid, trace_flags=flags, is_remote=1))
    for label, parent_ctx, h in list(cases):
        if label.endswith(("0", "1", "2", "3")):
            _, pctx = lib.span_context_get(h)
            start(f"local-child-of-{label}", Parent.span(h), pctx)
    results = []
    for label, parent_ctx, h in cases:
        _, ctx = lib.span_context_get(h)
        results.append((label, parent_ctx, ctx, lib.span_is_recording(h)))
    for _, _, h in reversed(cases):
        assert lib.span_end(h, T0 + 1) == otb.OTEL_OK
    finish(e)
    exported = {sp.span_id for _, _, _, sp in flatten_spans(decode_file(e.read_bytes(), "proto")[0])}
    mismatches = []
    kinds = set()
    for label, parent_ctx, ctx, recording in results:
        if parent_ctx is not None:
            assert ctx["trace_id"] == parent_ctx["trace_id"], f"{label}: the child continues the trace"
        want = _sdk_decision(sdk, parent_ctx, ctx["trace_id"])
        kinds.add(want)
        got = ctx["span_id"] in exported
        if got != want or bool(ctx["trace_flags"] & 1) != want or recording != int(want):
            mismatches.append(f"{label} (parent {parent_ctx and parent_ctx['trace_flags']}): SDK {want}, "
                              f"exported {got}, flags {ctx['trace_flags']:#x}, recording {recording}")
    assert not mismatches, f"[{sampler}] {len(mismatches)}/{len(results)} decisions differ from the " \
        f"Python SDK:\n  " + "\n  ".join(mismatches[:20])


# ---- context ----------------------------------------------------------------------------------


@pytest.fixture
def clean_context(lib):
    """Asserts that the test left nothing current on this thread."""
    yield
    _, ctx, span = lib.context_current()
    assert span == 0 and not any(ctx["trace_id"]), "the test left a context attached"


def test_attach_restore_order(engine_factory, clean_context):
    e = new_engine(engine_factory)
    lib = e.lib
    sc = e.scope("ctx")
    _, a = lib.span_start(sc, "A", 1, 0, Parent.root())
    _, b = lib.span_start(sc, "B", 1, 0, Parent.root())
    _, actx = lib.span_context_get(a)
    _, bctx = lib.span_context_get(b)
    st, none_ctx, none_span = lib.context_current()
    assert st == otb.OTEL_OK and none_span == 0 and not any(none_ctx["trace_id"]), "nothing current"
    st, ta = lib.context_attach(a)
    assert st == otb.OTEL_OK
    st, tb = lib.context_attach(b)
    assert st == otb.OTEL_OK and ta != tb
    _, cur, cur_span = lib.context_current()
    assert cur_span == b and cur["span_id"] == bctx["span_id"], "B is current"
    st = lib.context_restore(ta)
    assert st == otb.OTEL_E_INVALID_ARG, f"restoring A's token while B is on top: {otb.status_name(st)}"
    _, cur, cur_span = lib.context_current()
    assert cur_span == b, "an out-of-order restore restores nothing"
    assert lib.context_restore(tb) == otb.OTEL_OK
    _, cur, cur_span = lib.context_current()
    assert cur_span == a and cur["span_id"] == actx["span_id"] and cur["trace_id"] == actx["trace_id"]
    assert lib.context_restore(tb) == otb.OTEL_E_INVALID_ARG, "a token restored twice"
    assert lib.context_restore(ta) == otb.OTEL_OK
    _, cur, cur_span = lib.context_current()
    assert cur_span == 0 and not any(cur["trace_id"]), "nothing current after the last restore"
    assert lib.context_restore(0) == otb.OTEL_E_INVALID_ARG
    # a remote context: no span handle, is_remote set
    st, tr = lib.context_attach_remote(REMOTE_TRACE, REMOTE_SPAN, 1, "k=v")
    assert st == otb.OTEL_OK
    _, cur, cur_span = lib.context_current()
    assert lib.context_restore(tr) == otb.OTEL_OK
    assert cur_span == 0 and cur["trace_id"] == REMOTE_TRACE and cur["span_id"] == REMOTE_SPAN \
        and cur["is_remote"] == 1 and cur["trace_flags"] == 1, f"remote current context: {cur}"
    # an ended span cannot be attached
    assert lib.span_end(a, 0) == otb.OTEL_OK
    st, _ = lib.context_attach(a)
    assert st == otb.OTEL_E_INVALID_HANDLE, f"attach of an ended span: {otb.status_name(st)}"
    assert lib.span_end(b, 0) == otb.OTEL_OK
    finish(e)


def test_logs_carry_the_current_span(engine_factory, clean_context):
    """A log record emitted with ctx NULL takes the thread's current context: trace_id, span_id,
    flags (the W3C trace flags)."""
    e = engine_factory(fmt="json", config={**BASE_CONFIG, "OTEL_LOGS_EXPORTER": "file",
                                           "OTEL_BLRP_SCHEDULE_DELAY": "60000"}, name="corr")
    lib = e.lib
    sc = e.scope("corr")
    _, root = lib.span_start(sc, "root", 2, 0, Parent.root())
    _, rctx = lib.span_context_get(root)
    _, tok = lib.context_attach(root)
    _, child = lib.span_start(sc, "child", 1, 0, None)
    _, cctx = lib.span_context_get(child)
    _, tok2 = lib.context_attach(child)
    assert e.emit(sc, time_unix_nano=1, severity_number=9, body="in child") == otb.OTEL_OK
    assert lib.context_restore(tok2) == otb.OTEL_OK
    assert e.emit(sc, time_unix_nano=2, severity_number=9, body="in root") == otb.OTEL_OK
    explicit = dict(trace_id=REMOTE_TRACE, span_id=REMOTE_SPAN, trace_flags=1)
    assert e.emit(sc, time_unix_nano=3, severity_number=9, body="explicit ctx", ctx=explicit) == otb.OTEL_OK
    assert lib.context_restore(tok) == otb.OTEL_OK
    assert e.emit(sc, time_unix_nano=4, severity_number=9, body="no current") == otb.OTEL_OK
    _, tr = lib.context_attach_remote(REMOTE_TRACE_2, REMOTE_SPAN_2, 0, "")
    assert e.emit(sc, time_unix_nano=5, severity_number=9, body="remote unsampled current") == otb.OTEL_OK
    _, un = lib.span_start(sc, "unsampled child", 1, 0, None)
    _, uctx = lib.span_context_get(un)
    _, tu = lib.context_attach(un)
    assert e.emit(sc, time_unix_nano=6, severity_number=9, body="in unsampled span") == otb.OTEL_OK
    assert lib.context_restore(tu) == otb.OTEL_OK
    assert lib.context_restore(tr) == otb.OTEL_OK
    for h in (un, child, root):
        assert lib.span_end(h, 0) == otb.OTEL_OK
    end = finish(e)
    traces, logs, errors, _ = decode_file(e.read_bytes(), "json")
    assert not errors, errors
    recs = {r[3].time_unix_nano: r[3] for r in oracle.flatten(logs)}
    assert sorted(recs) == [1, 2, 3, 4, 5, 6], f"log records: {sorted(recs)}"
    want = {1: (cctx, 1), 2: (rctx, 1), 3: (explicit, 1), 4: (None, 0),
            5: (dict(trace_id=REMOTE_TRACE_2, span_id=REMOTE_SPAN_2), 0), 6: (uctx, 0)}
    bad = []
    for t, (ctx, flags) in want.items():
        r = recs[t]
        exp = (ctx["trace_id"], ctx["span_id"], flags) if ctx else (b"", b"", 0)
        got = (r.trace_id, r.span_id, r.flags)
        if got != exp:
            bad.append(f"record {t} ({r.body.string_value}): expected trace/span/flags "
                       f"{exp[0].hex()}/{exp[1].hex()}/{exp[2]}, got {got[0].hex()}/{got[1].hex()}/{got[2]}")
    assert not bad, "log-trace correlation:\n  " + "\n  ".join(bad)
    names = sorted(sp.name for _, _, _, sp in flatten_spans(traces))
    assert names == ["child", "root"], f"spans in the same file: {names}"
    assert uctx["trace_id"] == REMOTE_TRACE_2 and uctx["trace_flags"] & 1 == 0


def test_concurrent_threads_nested_spans(engine_factory):
    """4 threads, each a chain of 25 nested spans through its own current context."""
    e = new_engine(engine_factory, config={"OTEL_BSP_SCHEDULE_DELAY": "20"})
    lib = e.lib
    sc = e.scope("threads")
    n_threads, depth = 4, 25
    chains: list[list] = [[] for _ in range(n_threads)]
    errors: list[str] = []
    barrier = threading.Barrier(n_threads)

    def worker(tid):
        try:
            barrier.wait()
            stack = []
            for d in range(depth):
                st, h = lib.span_start(sc, f"t{tid}-d{d}", 1, 0, None, attrs=[("tid", tid), ("d", d)])
                if st != otb.OTEL_OK:
                    errors.append(f"t{tid} d{d}: start {otb.status_name(st)}")
                    return
                _, ctx = lib.span_context_get(h)
                chains[tid].append(ctx)
                st, tok = lib.context_attach(h)
                stack.append((h, tok))
            for h, tok in reversed(stack):
                if lib.context_restore(tok) != otb.OTEL_OK or lib.span_end(h, 0) != otb.OTEL_OK:
                    errors.append(f"t{tid}: restore/end failed")
        except Exception as ex:  # noqa: BLE001 - reported below
            errors.append(f"t{tid}: {ex!r}")

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    end = finish(e)
    spans = {sp.span_id: sp for _, _, _, sp in flatten_spans(decode_file(e.read_bytes(), "proto")[0])}
    assert len(spans) == n_threads * depth, f"spans: {len(spans)}"
    for tid, chain in enumerate(chains):
        for d, ctx in enumerate(chain):
            sp = spans[ctx["span_id"]]
            assert sp.name == f"t{tid}-d{d}", f"{sp.name} vs t{tid}-d{d}"
            assert sp.trace_id == chain[0]["trace_id"], f"t{tid}-d{d}: wrong trace"
            want_parent = b"" if d == 0 else chain[d - 1]["span_id"]
            assert sp.parent_span_id == want_parent, f"t{tid}-d{d}: parent is not the thread's previous span"
    assert end["stats"]["exported"] == n_threads * depth


# ---- engines, queue and limits on live spans ------------------------------------------------------


def test_parent_span_handle_of_another_engine(engine_factory):
    """A parent handle carries its engine: used with a scope of another engine it is either refused
    (OTEL_E_INVALID_HANDLE: "a handle ... from another engine") or resolved in ITS engine; it must
    never resolve to an unrelated span of the scope's engine that sits in the same slot."""
    ea = new_engine(engine_factory, name="engine-a")
    eb = new_engine(engine_factory, name="engine-b")
    lib = ea.lib
    sa, sb = ea.scope("a"), eb.scope("b")
    _, a1 = lib.span_start(sa, "a1", 1, T0, Parent.root())
    _, b1 = lib.span_start(sb, "b1", 1, T0, Parent.root())
    _, a1ctx = lib.span_context_get(a1)
    _, b1ctx = lib.span_context_get(b1)
    assert a1 & 0xFFFF_FFFF_FFFF != 0 and (a1 & 0xFFFF_FFFF_FFFF) == (b1 & 0xFFFF_FFFF_FFFF), \
        "test premise: both first spans sit in slot 0 with generation 1"
    st, x = lib.span_start(sa, "x", 1, T0 + 1, Parent.span(b1))
    if st == otb.OTEL_OK:
        _, xctx = lib.span_context_get(x)
        lib.span_end(x, T0 + 2)
        assert xctx["trace_id"] == b1ctx["trace_id"], (
            f"a span started in engine A with parent b1 (engine B) joined trace "
            f"{xctx['trace_id'].hex()} = {'a1 (an unrelated span of engine A in the same slot)' if xctx['trace_id'] == a1ctx['trace_id'] else '?'}; "
            f"expected b1's trace {b1ctx['trace_id'].hex()} or OTEL_E_INVALID_HANDLE")
    else:
        assert st == otb.OTEL_E_INVALID_HANDLE, f"expected OK or OTEL_E_INVALID_HANDLE, got {otb.status_name(st)}"
    lib.span_end(a1, 0)
    lib.span_end(b1, 0)
    finish(ea)
    finish(eb)


def test_too_many_live_spans_is_no_memory(engine_factory):
    e = new_engine(engine_factory, config={"OTELBRIDGE_MAX_LIVE_SPANS": "3"})
    lib = e.lib
    sc = e.scope("live")
    hs = [lib.span_start(sc, f"s{i}", 1, T0, Parent.root()) for i in range(3)]
    assert [st for st, _ in hs] == [otb.OTEL_OK] * 3
    st, _ = lib.span_start(sc, "one too many", 1, T0, Parent.root())
    assert st == otb.OTEL_E_NO_MEMORY, f"a 4th live span with OTELBRIDGE_MAX_LIVE_SPANS=3: {otb.status_name(st)}"
    assert lib.span_end(hs[0][1], T0 + 1) == otb.OTEL_OK
    st, h = lib.span_start(sc, "after one ended", 1, T0, Parent.root())
    assert st == otb.OTEL_OK, f"a slot is free again after an end: {otb.status_name(st)}"
    for hh in (hs[1][1], hs[2][1], h):
        assert lib.span_end(hh, T0 + 1) == otb.OTEL_OK
    end = finish(e)
    assert end["stats"]["exported"] == 4, end["stats"]


def test_queue_full_and_too_large_at_end(engine_factory):
    e = new_engine(engine_factory, config={"OTEL_BSP_MAX_QUEUE_SIZE": "2",
                                           "OTELBRIDGE_BSP_MAX_QUEUE_BYTES": "65536"})
    lib = e.lib
    sc = e.scope("queue")
    _, big = lib.span_start(sc, "big", 1, T0, Parent.root(), attrs=[("blob", "x" * 70000)])
    st = lib.span_end(big, T0 + 1)
    assert st == otb.OTEL_E_TOO_LARGE, f"a span larger than the queue's bytes: {otb.status_name(st)}"
    assert lib.span_end(big, T0 + 1) == otb.OTEL_E_INVALID_HANDLE, "the dropped span is ended all the same"
    hs = [lib.span_start(sc, f"q{i}", 1, T0, Parent.root())[1] for i in range(3)]
    sts = [lib.span_end(h, T0 + 1) for h in hs]
    assert sts == [otb.OTEL_OK, otb.OTEL_OK, otb.OTEL_E_QUEUE_FULL], \
        f"ends into a queue of 2: {[otb.status_name(s) for s in sts]}"
    end = finish(e)
    s = end["stats"]
    assert (s["dropped_too_large"], s["dropped_queue_full"], s["exported"]) == (1, 1, 2), s
    names = [sp.name for _, _, _, sp in flatten_spans(decode_file(e.read_bytes(), "proto")[0])]
    assert names == ["q0", "q1"], names


def test_traces_exporter_none_keeps_contexts(engine_factory):
    """docs/configuration.md: OTEL_TRACES_EXPORTER=none keeps span contexts, records nothing."""
    e = new_engine(engine_factory, config={"OTEL_TRACES_EXPORTER": "none"})
    lib = e.lib
    sc = e.scope("none")
    st, root = lib.span_start(sc, "root", 1, 0, Parent.root())
    assert st == otb.OTEL_OK
    _, rctx = lib.span_context_get(root)
    st, child = lib.span_start(sc, "child", 1, 0, Parent.span(root))
    _, cctx = lib.span_context_get(child)
    assert any(rctx["trace_id"]) and any(rctx["span_id"]), rctx
    assert cctx["trace_id"] == rctx["trace_id"] and cctx["span_id"] != rctx["span_id"]
    assert lib.span_set_attrs(child, [("a", 1)]) == otb.OTEL_OK
    assert lib.span_end(child, 0) == otb.OTEL_OK and lib.span_end(root, 0) == otb.OTEL_OK
    end = finish(e)
    assert e.read_bytes() == b"" and end["stats"]["accepted"] == 0, end["stats"]
