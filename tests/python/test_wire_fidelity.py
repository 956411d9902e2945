"""Wire fidelity of otelbridge's OTLP logs encoding, checked against the official opentelemetry-proto
package (and google.protobuf's json_format for OTLP/JSON).

How it works: each *group* below is a corpus of cases, one log record per case, emitted through the
C ABI into its own engine (otel_engine_new) with the file exporter, once in
OTELBRIDGE_FILE_FORMAT=proto and once in =json. After shutdown + free the file is decoded and each
case's record is found by its (unique) time_unix_nano and compared field by field with a record
built here in Python from what was emitted (the reference model below, written from the header and
the OTLP specification, not from the library).

Run: python3 -m pytest -q tests/python   (library: $OTELBRIDGE_LIBRARY or build/src/libotelbridge.so)
"""

from __future__ import annotations

import copy
import math
import os
import re
import socket
import sys
import threading
import time
from dataclasses import dataclass, field

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

import oracle
from oracle import ref_str, ref_value
import otb
from otb import EMPTY, NO_BODY, INT64_MAX, INT64_MIN, UINT64_MAX, Map, RawAttrs, RawStr, RawValue, Str

FORMATS = ["proto", "json"]
NOW_SLACK_NS = 3_000_000_000  # "now" must fall within the emit call's window +- 3 s

SERVICE_NAME = "wire-fidelity-svc"
COMMON_CONFIG = {
    "OTEL_SERVICE_NAME": SERVICE_NAME,
    "OTEL_RESOURCE_ATTRIBUTES": "k1=v%201,k2=a%2Cb",
}
# Only the shutdown flush exports: the whole corpus travels as one batch, deterministically.
SINGLE_BATCH = {"OTEL_BLRP_SCHEDULE_DELAY": "60000"}

TRACE_ID = bytes.fromhex("4bf92f3577b34da6a3ce929d0e0e4736")
SPAN_ID = bytes.fromhex("00f067aa0ba902b7")
TRACE_ID_2 = bytes.fromhex("ffffffffffffffffffffffffffffff01")
SPAN_ID_2 = bytes.fromhex("0000000000000001")

UNI = "héllo wörld ✓ 日本語 🎉"
NAN = float("nan")
INF = float("inf")


# ---- cases ------------------------------------------------------------------------------------


@dataclass
class Case:
    name: str
    body: object = NO_BODY
    attrs: object = None
    severity: int = 9
    severity_text: object = "INFO"
    event_name: object = ""
    ctx: dict | None = None
    time: int | None = None       # None: a unique id is assigned; 0 = "now"
    observed: int | None = None   # None: time + 333; 0 = "now"
    scope: str | None = "main"    # a key of Group.scopes; None passes a NULL scope
    expect_status: int = otb.OTEL_OK
    attrs_ordered: bool = True    # False: compare attributes as a set (duplicate keys)
    check_dropped: bool = True


@dataclass
class Group:
    name: str
    cases: list
    config: dict = field(default_factory=dict)
    scopes: dict = field(default_factory=lambda: {"main": ("otelbridge.wire-test", "0.0.1", "", None)})
    single_batch: bool = True
    post_shutdown: bool = False
    count_limit: int | None = 128   # the spec's default OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT
    length_limit: int | None = None


MAIN = Group("main", [
    Case("no_body"),
    Case("empty_string_body", body=""),
    Case("null_view_len0_is_empty_string_body", body=RawStr(None, 0)),
    Case("empty_value_body", body=EMPTY),
    Case("null_view_len0_values_are_empty_values",
         attrs=[("s", RawStr(None, 0)), ("b", RawValue(otb.OTEL_VALUE_BYTES, None, 0)),
                ("arr", RawValue(otb.OTEL_VALUE_ARRAY, None, 0)),
                ("map", RawValue(otb.OTEL_VALUE_MAP, None, 0))]),
    Case("null_view_len0_key_is_an_empty_key", attrs=[(RawStr(None, 0), 1), ("a", 2)]),
    Case("null_view_len0_bytes_body", body=RawValue(otb.OTEL_VALUE_BYTES, None, 0)),
    Case("no_attributes", body="x", attrs=None),
    Case("empty_attribute_list", body="x", attrs=[]),
    Case("scalar_attributes", body="scalars",
         attrs=[("s", "text"), ("i", 42), ("d", 3.25), ("b", True), ("y", b"raw"), ("e", EMPTY)]),
    Case("nested_values",
         body={"l1": [1, "two", {"l3": [[b"\x00", 2.5, False, {"l5": {"l6": ["deep", -7, EMPTY]}}]]}],
               "m": {}, "a": []},
         attrs=[("nested", [{"k": [1, [2, [3, "x"]]]}, "s", 1.0, True, b"\x01"]),
                ("map", Map([("inner", {"x": 1, "y": ["a", {"z": "zz"}]}), ("b", True)]))]),
    Case("bytes_values", body=b"\x00\xff",
         attrs=[("zero_ff", b"\x00\xff"), ("empty", b""), ("all_256", bytes(range(256))),
                ("invalid_utf8_as_bytes", b"\xff\xfe\xed\xa0\x80\xc0\xaf")]),
    Case("non_ascii_text", body=UNI, severity_text="ПОПЕРЕДЖЕННЯ ⚠", event_name="événement.日本語.🎉",
         attrs=[("ключ✓ 日本語 🎉", UNI), ("emoji🎉", ["🎉", "日本語", "ß"])]),
    Case("control_characters",
         body="line1\nline2\r\t\"quoted\" back\\slash \x00 nul \x01\x1f\x7f \u2028\u2029 /end",
         attrs=[("k\n\"\\", "v\x00\x1b")]),
    Case("int64_extremes", body=INT64_MIN,
         attrs=[("min", INT64_MIN), ("max", INT64_MAX), ("zero", 0), ("minus_one", -1),
                ("two_pow_53_plus_1", 2**53 + 1)]),
    Case("int64_max_body", body=INT64_MAX),
    Case("double_specials", body=NAN,
         attrs=[("nan", NAN), ("inf", INF), ("neg_inf", -INF), ("neg_zero", -0.0), ("zero", 0.0),
                ("denorm_min", 5e-324), ("max", sys.float_info.max), ("pi", math.pi)]),
    Case("double_neg_zero_body", body=-0.0),
    Case("double_inf_body", body=-INF),
    Case("false_and_zero_presence", body=False,
         attrs=[("false", False), ("zero", 0), ("zero_double", 0.0), ("empty_string", ""),
                ("empty_bytes", b""), ("empty_array", []), ("empty_map", {})]),
    Case("int_zero_body", body=0),
    Case("double_zero_body", body=0.0),
    Case("bool_nonzero_is_true", body=True,
         attrs=[("two", RawValue(otb.OTEL_VALUE_BOOL, boolean=2)),
                ("minus_one", RawValue(otb.OTEL_VALUE_BOOL, boolean=-1))]),
    Case("event_name", body="e", event_name="com.example.login"),
    Case("severity_text_empty", severity=9, severity_text=""),
    *[Case(f"severity_{n}", severity=n, severity_text=f"SEV{n}") for n in range(0, 25)],
    Case("explicit_timestamps_small", time=1, observed=2),
    Case("explicit_timestamps_uint64_max", time=UINT64_MAX, observed=UINT64_MAX - 1),
    Case("explicit_timestamps_observed_before_time", time=1_700_000_000_123_456_789,
         observed=1_600_000_000_987_654_321),
    Case("time_zero_means_now", time=0, observed=0),
    Case("observed_zero_means_now", observed=0),
    Case("trace_context_sampled", ctx=dict(trace_id=TRACE_ID, span_id=SPAN_ID, trace_flags=1)),
    Case("trace_context_unsampled", ctx=dict(trace_id=TRACE_ID_2, span_id=SPAN_ID_2, trace_flags=0)),
    Case("trace_context_is_remote_not_in_flags",
         ctx=dict(trace_id=TRACE_ID, span_id=SPAN_ID_2, trace_flags=1, is_remote=1)),
    Case("trace_context_all_zero_trace_id_is_none",
         ctx=dict(trace_id=bytes(16), span_id=SPAN_ID, trace_flags=1)),
    Case("duplicate_keys_last_wins",
         attrs=[("k", 1), ("x", "a"), ("k", 2), ("y", True), ("k", "last")],
         attrs_ordered=False, check_dropped=False),
    Case("empty_key_dropped_and_counted", attrs=[("a", 1), ("", 2), ("b", 3)]),
    Case("default_count_limit_128", attrs=[(f"k{i:03d}", i) for i in range(200)]),
    Case("long_body", body="x" * 70000 + "é" * 1000 + "🎉"),
], config=SINGLE_BATCH)

LIMITS = Group("limits", [
    Case("count_limit_keeps_first_4", attrs=[(f"a{i}", i) for i in range(7)]),
    Case("count_limit_exactly_4_drops_none", attrs=[(f"a{i}", i) for i in range(4)]),
    Case("length_limit_ascii",
         attrs=[("long", "abcdefgh"), ("exact", "abcde"), ("short", "abc"), ("empty", "")]),
    Case("length_limit_counts_code_points",
         attrs=[("two_byte", "héllo wörld"), ("mixed", "日本語🎉ab"), ("emoji", "🎉🎉🎉🎉🎉🎉"),
                ("five_two_byte", "ééééé")]),
    Case("length_limit_strings_inside_arrays",
         attrs=[("arr", ["abcdefg", "xy", "ééééééé", "🎉🎉🎉🎉🎉🎉x"]),
                ("mixed_arr", ["abcdefgh", 123456789, 1.5, True, b"0123456789"])]),
    Case("length_limit_not_for_bytes_ints_keys",
         attrs=[("bytes", b"0123456789"), ("int", 1234567890123), ("a_long_key_name", "v"),
                ("dbl", 12345.678)]),
    Case("length_limit_not_for_body_event_severity_text", body="abcdefghij",
         severity_text="WARNING-LONG", event_name="event.name.long"),
    Case("length_limit_after_utf8_replacement", attrs=[("s", Str(b"ab\xffcdefg"))]),
    Case("empty_key_does_not_use_a_slot",
         attrs=[("", 0), ("a", 1), ("b", 2), ("c", 3), ("d", 4)]),
    Case("duplicate_key_past_the_limit_still_wins",
         attrs=[("a", 1), ("b", 2), ("c", 3), ("d", 4), ("a", 5), ("e", 6)],
         attrs_ordered=False, check_dropped=False),
], config={**SINGLE_BATCH, "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT": "4",
           "OTEL_LOGRECORD_ATTRIBUTE_VALUE_LENGTH_LIMIT": "5"},
    count_limit=4, length_limit=5)

UTF8 = Group("utf8", [
    Case("invalid_byte_ff", body=Str(b"ab\xffcd")),
    Case("truncated_3byte_sequence_at_end", body=Str(b"abc\xe6\x97")),
    Case("truncated_4byte_sequence_at_end", body=Str(b"x\xf0\x9f\x8e")),
    Case("overlong_2byte", body=Str(b"a\xc0\xafb")),
    Case("overlong_3byte_nul", body=Str(b"a\xe0\x80\x80b")),
    Case("surrogate_d800", body=Str(b"a\xed\xa0\x80b")),
    Case("surrogate_pair_cesu8", body=Str(b"\xed\xa0\xbd\xed\xb8\x80")),
    Case("above_u10ffff", body=Str(b"\xf4\x90\x80\x80")),
    Case("lone_continuation_byte", body=Str(b"\x80abc")),
    Case("invalid_in_every_string_field", body=Str(b"b\xff"), severity_text=Str(b"S\xff"),
         event_name=Str(b"ev\xff"),
         attrs=[(Str(b"k\xff"), Str(b"v\xfe")), ("arr", [Str(b"\xc3")]),
                ("map", Map([(Str(b"\xe2\x82"), Str(b"ok\xe2\x82"))]))]),
    Case("invalid_in_scope_name", body="scope name", scope="bad_scope"),
    Case("valid_edge_code_points_untouched",
         body="\u0080\u07ff\u0800\uffff\U00010000\U0010ffff\ufffd"),
    Case("bytes_never_utf8_checked", body=b"\xff\xed\xa0\x80", attrs=[("b", b"\xc0\xaf")]),
], config=SINGLE_BATCH, scopes={
    "main": ("otelbridge.utf8", "", "", None),
    "bad_scope": (Str(b"scope\xff.name"), Str(b"v\xc0"), "", [(Str(b"sk\xff"), Str(b"sv\xff"))]),
})

SCOPES = Group("scopes", [
    Case("scope1_first", body="s1-a", scope="s1"),
    Case("scope2_first", body="s2-a", scope="s2"),
    Case("scope1_second", body="s1-b", scope="s1"),
    Case("scope2_second", body="s2-b", scope="s2"),
    Case("scope1_third", body="s1-c", scope="s1"),
], config=SINGLE_BATCH, scopes={
    "s1": ("otelbridge.scope.one", "1.2.3", "https://opentelemetry.io/schemas/1.24.0",
           [("scope.attr", "x"), ("scope.n", 7), ("scope.nested", {"a": [1, "b"]})]),
    "s2": ("skóp.日本語.🎉", "v2-ß", "", None),
})

_BAD = otb.OTEL_E_INVALID_ARG
BAD = Group("bad_input", [
    Case("good_0", body="good-0"),
    Case("null_scope", body="x", scope=None, expect_status=_BAD),
    Case("severity_25", severity=25, expect_status=_BAD),
    Case("severity_minus_1", severity=-1, expect_status=_BAD),
    Case("severity_int32_min", severity=-(2**31), expect_status=_BAD),
    Case("good_1", body="good-1"),
    Case("null_ptr_len5_severity_text", severity_text=RawStr(None, 5), expect_status=_BAD),
    Case("null_ptr_len5_event_name", event_name=RawStr(None, 5), expect_status=_BAD),
    Case("null_ptr_len5_body_string", body=RawStr(None, 5), expect_status=_BAD),
    Case("null_ptr_len5_body_bytes", body=RawValue(otb.OTEL_VALUE_BYTES, None, 5), expect_status=_BAD),
    Case("null_ptr_len5_attr_key", attrs=[("ok", 1), (RawStr(None, 5), 1)], expect_status=_BAD),
    Case("null_ptr_len5_attr_string", attrs=[("ok", 1), ("k", RawStr(None, 5))], expect_status=_BAD),
    Case("null_ptr_len5_nested_string", body=[1, {"k": RawStr(None, 5)}], expect_status=_BAD),
    Case("good_2", body="good-2", attrs=[("a", 1)]),
    Case("null_attrs_with_count_3", attrs=RawAttrs(None, 3), expect_status=_BAD),
    Case("null_array_items_len_2", body=RawValue(otb.OTEL_VALUE_ARRAY, None, 2), expect_status=_BAD),
    Case("null_map_items_len_2", body=RawValue(otb.OTEL_VALUE_MAP, None, 2), expect_status=_BAD),
    Case("unknown_value_type_99", body=RawValue(99), expect_status=_BAD),
    Case("unknown_value_type_minus_1", body=RawValue(-1), expect_status=_BAD),
    Case("unknown_value_type_inside_map", body={"a": [1, 2, RawValue(42)]}, expect_status=_BAD),
    Case("body_array_depth_17", body=otb.nested_array(17), expect_status=_BAD),
    Case("body_map_depth_17", body=otb.nested_map(17), expect_status=_BAD),
    Case("attr_value_depth_17", attrs=[("deep", otb.nested_array(17))], expect_status=_BAD),
    Case("good_3", body="good-3"),
    # Accepted edges: these must arrive intact.
    Case("null_ptr_len0_severity_text_ok", severity_text=RawStr(None, 0), body="g4"),
    Case("null_ptr_len0_event_name_ok", event_name=RawStr(None, 0), body="g5"),
    Case("body_array_depth_16_ok", body=otb.nested_array(16, "leaf")),
    Case("body_map_depth_16_ok", body=otb.nested_map(16, "leaf")),
    Case("attr_value_depth_16_ok", attrs=[("deep", otb.nested_map(16, 1))]),
    Case("severity_0_ok", severity=0, severity_text=""),
    Case("severity_24_ok", severity=24, severity_text="FATAL4"),
    Case("good_last", body="good-last"),
], config={"OTEL_BLRP_SCHEDULE_DELAY": "50"}, scopes={"main": ("bad.input", "", "", None)},
    single_batch=False, post_shutdown=True)

LIMIT_ZERO = Group("count_limit_zero", [
    Case("count_limit_0_drops_every_attribute", body="kept", attrs=[("a", 1), ("b", "x")]),
], config={**SINGLE_BATCH, "OTEL_LOGRECORD_ATTRIBUTE_COUNT_LIMIT": "0"}, count_limit=0)

GROUPS = {g.name: g for g in (MAIN, LIMITS, UTF8, SCOPES, BAD, LIMIT_ZERO)}


def _assign_ids():
    for gi, g in enumerate(GROUPS.values()):
        base = 1_700_000_000_000_000_000 + gi * 1_000_000_000
        for i, c in enumerate(g.cases):
            if c.time is None:
                c.time = base + (i + 1) * 1000
            if c.observed is None:
                c.observed = c.time + 333 if c.time else 0
        times = [c.time for c in g.cases if c.expect_status == otb.OTEL_OK]
        assert len(times) == len(set(times)), f"group {g.name}: case times must be unique"
        assert times.count(0) <= 1, f"group {g.name}: at most one time=0 case"


_assign_ids()


# ---- reference model: what the wire must say for what was emitted ------------------------------


def ref_attributes(pairs, count_limit, length_limit) -> tuple[list, int]:
    """Header: empty keys are dropped and counted; a repeated key keeps its last value.
    Spec: the first count_limit attributes are kept, the rest counted as dropped."""
    kept: dict = {}
    dropped = 0
    for k, v in (pairs or []):
        key = ref_str(k)
        if key == "":
            dropped += 1
            continue
        kept[key] = v
    items = list(kept.items())
    if count_limit is not None and len(items) > count_limit:
        dropped += len(items) - count_limit
        items = items[:count_limit]
    return [KeyValue(key=k, value=ref_value(v, length_limit)) for k, v in items], dropped


def ref_record(case: Case, group: Group) -> LogRecord:
    rec = LogRecord(time_unix_nano=case.time, observed_time_unix_nano=case.observed,
                    severity_number=case.severity, severity_text=ref_str(case.severity_text),
                    event_name=ref_str(case.event_name))
    if case.body is not NO_BODY:
        rec.body.CopyFrom(ref_value(case.body))  # limits apply to attributes, not to the body
    attrs, dropped = ref_attributes(case.attrs, group.count_limit, group.length_limit)
    rec.attributes.extend(attrs)
    rec.dropped_attributes_count = dropped
    if case.ctx and any(case.ctx["trace_id"]):
        rec.trace_id = case.ctx["trace_id"]
        rec.span_id = case.ctx["span_id"]
        rec.flags = case.ctx.get("trace_flags", 0)  # bits 0-7 only: is_remote is not on the wire
    return rec


def ref_scope(group: Group, key: str) -> InstrumentationScope:
    name, version, _schema, attrs = group.scopes[key]
    sc = InstrumentationScope(name=ref_str(name), version=ref_str(version))
    for k, v in (attrs or []):
        sc.attributes.append(KeyValue(key=ref_str(k), value=ref_value(v)))
    return sc


# ---- running a group --------------------------------------------------------------------------


@dataclass
class Run:
    group: Group
    fmt: str
    statuses: dict = field(default_factory=dict)
    windows: dict = field(default_factory=dict)
    scope_handles: dict = field(default_factory=dict)
    shutdown_status: int | None = None
    stats: dict = field(default_factory=dict)
    post: dict = field(default_factory=dict)
    free_status: int | None = None
    raw: bytes = b""
    requests: list = field(default_factory=list)
    decode_errors: list = field(default_factory=list)
    lint: list = field(default_factory=list)

    def decoded(self):
        assert not self.decode_errors, (
            f"[{self.fmt}/{self.group.name}] the file did not decode: " + "; ".join(self.decode_errors))
        return self.requests

    def records(self):
        return oracle.flatten(self.decoded())

    def expected_on_wire(self) -> list[Case]:
        return [c for c in self.group.cases if c.expect_status == otb.OTEL_OK]

    def find(self, case: Case):
        """The (request_index, resource_logs, scope_logs, record) tuples of one case."""
        recs = self.records()
        if case.time:
            return [r for r in recs if r[3].time_unix_nano == case.time]
        known = {c.time for c in self.expected_on_wire() if c.time}
        return [r for r in recs if r[3].time_unix_nano not in known]


def run_group(factory, group: Group, fmt: str) -> Run:
    run = Run(group, fmt)
    eng = factory(fmt=fmt, config={**COMMON_CONFIG, **group.config}, name=f"{group.name}-{fmt}")
    for key, (name, version, schema_url, attrs) in group.scopes.items():
        run.scope_handles[key] = eng.scope(name, version, schema_url, attrs)
    for c in group.cases:
        scope = None if c.scope is None else run.scope_handles[c.scope]
        before = time.time_ns()
        run.statuses[c.name] = eng.emit(
            scope, time_unix_nano=c.time, observed_unix_nano=c.observed, severity_number=c.severity,
            severity_text=c.severity_text, body=c.body, attrs=c.attrs, event_name=c.event_name,
            ctx=c.ctx)
        run.windows[c.name] = (before, time.time_ns())
    run.shutdown_status = eng.shutdown(5000)
    run.stats = eng.stats()
    if group.post_shutdown:
        scope = run.scope_handles["main"]
        run.post["emit_after_shutdown"] = eng.emit(scope, time_unix_nano=5, observed_unix_nano=5,
                                                   severity_number=9, body="after shutdown")
        run.post["second_shutdown"] = eng.shutdown(5000)
        run.post["flush_after_shutdown"] = eng.lib.engine_flush(eng.engine, 1000)
        name, version, schema_url, attrs = group.scopes["main"]
        run.post["scope_get_after_shutdown"] = eng.lib.scope_get(eng.engine, name, version,
                                                                 schema_url, attrs)[0]
        run.post["stats_after_post"] = eng.stats()
    run.free_status = eng.free()
    run.raw = eng.read_bytes()
    if fmt == "proto":
        try:
            frames = oracle.read_frames(run.raw)
        except oracle.FrameError as e:
            run.decode_errors.append(str(e))
            frames = []
        for i, fr in enumerate(frames):
            issues = oracle.wire_lint(fr)
            run.lint.extend(f"frame {i}: {s}" for s in issues)
            try:
                run.requests.append(oracle.decode_frame(fr))
            except Exception as e:  # DecodeError: keep the other frames
                run.decode_errors.append(f"frame {i}: {type(e).__name__}: {e}; lint: {issues[:5]}")
    else:
        try:
            text = run.raw.decode("utf-8")
        except UnicodeDecodeError as e:
            run.decode_errors.append(f"the JSON file is not UTF-8: {e}")
            text = ""
        if text and not text.endswith("\n"):
            run.decode_errors.append("the JSON file does not end with a newline")
        for i, line in enumerate(text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")):
            try:
                run.requests.append(oracle.json_line_to_request(line))
            except Exception as e:
                run.decode_errors.append(f"line {i + 1}: {type(e).__name__}: {e}")
    return run


@pytest.fixture(scope="module")
def runs(module_engine_factory):
    cache: dict = {}

    def get(group_name: str, fmt: str) -> Run:
        key = (group_name, fmt)
        if key not in cache:
            cache[key] = run_group(module_engine_factory, GROUPS[group_name], fmt)
        return cache[key]

    return get


# ---- per-case checks --------------------------------------------------------------------------

CASE_PARAMS = [pytest.param(g.name, c.name, fmt, id=f"{fmt}-{g.name}-{c.name}")
               for fmt in FORMATS for g in GROUPS.values() for c in g.cases]


def _case(group_name, case_name) -> Case:
    return next(c for c in GROUPS[group_name].cases if c.name == case_name)


def _sorted_attrs(rec):
    rec = copy.deepcopy(rec)
    items = sorted(rec.attributes, key=lambda kv: kv.key)
    items = [copy.deepcopy(kv) for kv in items]
    del rec.attributes[:]
    rec.attributes.extend(items)
    return rec


@pytest.mark.parametrize("group_name,case_name,fmt", CASE_PARAMS)
def test_case(runs, group_name, case_name, fmt):
    group = GROUPS[group_name]
    case = _case(group_name, case_name)
    run = runs(group_name, fmt)

    st = run.statuses[case.name]
    assert st == case.expect_status, (
        f"otel_log_emit status for {case.name}: expected {otb.status_name(case.expect_status)}, "
        f"got {otb.status_name(st)}")
    if case.expect_status != otb.OTEL_OK:
        return  # absence from the wire is checked by test_records_exactly_once

    found = run.find(case)
    assert len(found) == 1, (
        f"{case.name}: expected exactly 1 record on the wire with time_unix_nano={case.time}, "
        f"found {len(found)}")
    _, _rl, sl, got = found[0]

    want_scope = ref_scope(group, case.scope)
    assert sl.scope.name == want_scope.name, (
        f"{case.name}: the record sits in ScopeLogs of scope {sl.scope.name!r}, "
        f"expected {want_scope.name!r}")

    want = ref_record(case, group)
    before, after = run.windows[case.name]
    if case.time == 0:
        assert before - NOW_SLACK_NS <= got.time_unix_nano <= after + NOW_SLACK_NS, (
            f"time_unix_nano=0 means now: got {got.time_unix_nano}, the call ran in "
            f"[{before}, {after}] (diff {(got.time_unix_nano - before) / 1e9:+.3f} s)")
        want.time_unix_nano = got.time_unix_nano
    if case.observed == 0:
        assert before - NOW_SLACK_NS <= got.observed_time_unix_nano <= after + NOW_SLACK_NS, (
            f"observed_unix_nano=0 means now: got {got.observed_time_unix_nano}, the call ran in "
            f"[{before}, {after}]")
        want.observed_time_unix_nano = got.observed_time_unix_nano
    if not case.check_dropped:
        # The header does not say whether an overwritten duplicate counts as dropped.
        want.dropped_attributes_count = got.dropped_attributes_count
    if not case.attrs_ordered:
        keys = [kv.key for kv in got.attributes]
        assert len(keys) == len(set(keys)), f"{case.name}: a key appears more than once: {keys}"
        got, want = _sorted_attrs(got), _sorted_attrs(want)

    diffs = oracle.diff_messages(got, want, f"{case.name}")
    assert not diffs, f"[{fmt}] {case.name}: the record on the wire differs from what was emitted:\n  " \
        + "\n  ".join(diffs)


# ---- per-group checks -------------------------------------------------------------------------

GROUP_PARAMS = [pytest.param(g.name, fmt, id=f"{fmt}-{g.name}") for fmt in FORMATS for g in GROUPS.values()]


@pytest.mark.parametrize("group_name,fmt", GROUP_PARAMS)
def test_shutdown_and_free_statuses(runs, group_name, fmt):
    run = runs(group_name, fmt)
    assert run.shutdown_status == otb.OTEL_OK, (
        f"otel_engine_shutdown(5000): expected OTEL_OK, got {otb.status_name(run.shutdown_status)}")
    assert run.free_status == otb.OTEL_OK, (
        f"otel_engine_free after shutdown: expected OTEL_OK, got {otb.status_name(run.free_status)}")


@pytest.mark.parametrize("group_name,fmt", GROUP_PARAMS)
def test_records_exactly_once(runs, group_name, fmt):
    run = runs(group_name, fmt)
    recs = run.records()
    want = run.expected_on_wire()
    assert len(recs) == len(want), (
        f"record count on the wire: expected {len(want)} (one per accepted case), got {len(recs)}")
    known = {c.time for c in want}
    stray = [r[3].time_unix_nano for r in recs if r[3].time_unix_nano not in known]
    n_now = sum(1 for c in want if c.time == 0)
    assert len(stray) == n_now, (
        f"records whose time_unix_nano matches no case: expected {n_now} (the time=0 case), "
        f"got {len(stray)}: {stray[:10]}")


@pytest.mark.parametrize("group_name,fmt", GROUP_PARAMS)
def test_records_in_emit_order_per_scope(runs, group_name, fmt):
    run = runs(group_name, fmt)
    for key in run.group.scopes:
        name = ref_scope(run.group, key).name
        want = [c.time for c in run.expected_on_wire() if c.scope == key and c.time]
        got = [r[3].time_unix_nano for r in run.records()
               if r[2].scope.name == name and r[3].time_unix_nano in set(want)]
        assert got == want, f"scope {name!r}: records not in emit order (times {got} vs {want})"


@pytest.mark.parametrize("group_name,fmt", GROUP_PARAMS)
def test_statistics_exact(runs, group_name, fmt):
    run = runs(group_name, fmt)
    s = run.stats
    n_ok = len(run.expected_on_wire())
    n_invalid = sum(1 for c in run.group.cases
                    if c.expect_status == otb.OTEL_E_INVALID_ARG and c.scope is not None)
    n_emitted = sum(1 for c in run.group.cases if c.scope is not None)
    assert s["accepted"] == n_ok, f"stats.accepted: expected {n_ok}, got {s['accepted']}"
    assert s["exported"] == n_ok, f"stats.exported: expected {n_ok}, got {s['exported']}"
    assert s["invalid"] == n_invalid, f"stats.invalid: expected {n_invalid}, got {s['invalid']}"
    for k in ("queued", "in_flight", "dropped_queue_full", "dropped_oldest", "dropped_too_large",
              "dropped_shutdown", "failed", "rejected", "queued_bytes"):
        assert s[k] == 0, f"stats.{k} after a clean shutdown: expected 0, got {s[k]}"
    assert s["accepted"] == (s["queued"] + s["in_flight"] + s["exported"] + s["rejected"]
                             + s["failed"] + s["dropped_oldest"]), f"header identity for accepted: {s}"
    assert n_emitted == (s["accepted"] + s["dropped_queue_full"] + s["dropped_too_large"]
                         + s["dropped_shutdown"] + s["invalid"]), (
        f"header identity emitted = accepted + dropped_* + invalid: emitted {n_emitted}, stats {s}")
    n_requests = len(run.decoded())
    assert s["export_batches"] == n_requests, (
        f"stats.export_batches: expected {n_requests} (one per frame/line in the file), "
        f"got {s['export_batches']}")
    if run.group.single_batch:
        assert n_requests == 1, (
            f"with OTEL_BLRP_SCHEDULE_DELAY=60000 only the shutdown flush exports: expected 1 "
            f"request in the file, got {n_requests}")


@pytest.mark.parametrize("group_name", list(GROUPS))
def test_proto_wire_lint(runs, group_name):
    run = runs(group_name, "proto")
    assert run.raw, "the proto file is empty"
    assert not run.lint, "raw protobuf problems a decoder would forgive:\n  " + "\n  ".join(run.lint[:30])
    unknown = [p for req in run.decoded() for p in oracle.has_unknown_fields(req)]
    assert not unknown, f"messages with unknown fields after decoding: {unknown[:10]}"


def _normalize_now(requests, group: Group):
    """Copies with the "now" timestamps (different in each run) set to 0."""
    reqs = [copy.deepcopy(r) for r in requests]
    known = {c.time for c in group.cases if c.time}
    observed_now = {c.time for c in group.cases if c.time and c.observed == 0}
    for req in reqs:
        for _, _, _, rec in oracle.flatten([req]):
            if rec.time_unix_nano not in known:
                rec.time_unix_nano = 0
                rec.observed_time_unix_nano = 0
            elif rec.time_unix_nano in observed_now:
                rec.observed_time_unix_nano = 0
    return reqs


@pytest.mark.parametrize("group_name", list(GROUPS))
def test_json_equals_proto(runs, group_name):
    pj, jj = runs(group_name, "proto"), runs(group_name, "json")
    group = GROUPS[group_name]
    preq = _normalize_now(pj.decoded(), group)
    jreq = _normalize_now(jj.decoded(), group)
    if group.single_batch:
        assert len(jreq) == len(preq), (
            f"requests: {len(preq)} proto frames vs {len(jreq)} JSON lines")
        diffs = []
        for i, (j, p) in enumerate(zip(jreq, preq)):
            diffs += oracle.diff_messages(j, p, f"request[{i}]")
        assert not diffs, "JSON (got) vs proto (expected):\n  " + "\n  ".join(diffs[:40])
    else:  # batches split by the 50 ms schedule: compare record by record, with resource and scope
        pr, jr = oracle.flatten(preq), oracle.flatten(jreq)
        assert len(jr) == len(pr), f"records: {len(pr)} in proto vs {len(jr)} in JSON"
        diffs = []
        for (_, prl, psl, prec), (_, jrl, jsl, jrec) in zip(pr, jr):
            t = prec.time_unix_nano
            diffs += oracle.diff_messages(jrec, prec, f"record[time={t}]")
            diffs += oracle.diff_messages(jrl.resource, prl.resource, f"record[time={t}].resource")
            diffs += oracle.diff_messages(jsl.scope, psl.scope, f"record[time={t}].scope")
        assert not diffs, "JSON (got) vs proto (expected):\n  " + "\n  ".join(diffs[:40])


# ---- OTLP/JSON rules on the raw text ---------------------------------------------------------

LOWER_CAMEL = re.compile(r"^[a-z][a-zA-Z0-9]*$")
DIGITS = re.compile(r"^-?[0-9]+$")


def _raw_docs(run: Run) -> list[dict]:
    text = run.raw.decode("utf-8")
    return [oracle.load_json_line(line) for line in text.split("\n") if line]


def _raw_record(docs, t: int) -> dict:
    found = [rec for d in docs for rl in d.get("resourceLogs", []) for sl in rl.get("scopeLogs", [])
             for rec in sl.get("logRecords", []) if rec.get("timeUnixNano") == str(t)]
    assert len(found) == 1, f"expected one JSON logRecord with timeUnixNano \"{t}\", got {len(found)}"
    return found[0]


def _raw_attr(rec: dict, key: str) -> dict:
    vals = [a.get("value", {}) for a in rec.get("attributes", []) if a.get("key") == key]
    assert len(vals) == 1, f"expected one attribute {key!r} in the JSON record, got {len(vals)}"
    return vals[0]


@pytest.mark.parametrize("group_name", list(GROUPS))
def test_json_raw_rules(runs, group_name):
    run = runs(group_name, "json")
    text = run.raw.decode("utf-8")
    assert text, "the JSON file is empty"
    lines = text.split("\n")
    assert lines[-1] == "", "the JSON file must end with a newline"
    docs = []
    for i, line in enumerate(lines[:-1]):
        assert line.strip(), f"line {i + 1} is empty"
        try:
            docs.append(oracle.load_json_line(line))
        except ValueError as e:
            pytest.fail(f"line {i + 1} is not strict JSON: {e}")
        assert isinstance(docs[-1], dict) and list(docs[-1]) == ["resourceLogs"], (
            f"line {i + 1}: expected one object with the single key resourceLogs, got {list(docs[-1])}")
    seen = {"intValue": 0, "timeUnixNano": 0, "severityNumber": 0, "traceId": 0}
    bad = []
    for d in docs:
        for path, k, v in oracle.iter_json(d):
            if not LOWER_CAMEL.match(k):
                bad.append(f"{path}: key {k!r} is not lowerCamelCase")
            if k in ("intValue", "timeUnixNano", "observedTimeUnixNano"):
                seen["intValue" if k == "intValue" else "timeUnixNano"] += 1
                if not (isinstance(v, str) and DIGITS.match(v)):
                    bad.append(f"{path}.{k}: a 64-bit integer must be a decimal string, got {v!r}")
            if k == "severityNumber":
                seen[k] += 1
                if type(v) is not int:
                    bad.append(f"{path}.{k}: an enum must be an integer, got {v!r}")
            if k in ("droppedAttributesCount", "flags") and type(v) is not int:
                bad.append(f"{path}.{k}: a 32-bit integer must be a JSON number, got {v!r}")
            if k == "traceId":
                seen[k] += 1
                if not (isinstance(v, str) and re.fullmatch(r"[0-9a-f]{32}", v)):
                    bad.append(f"{path}.traceId: expected 32 lowercase hex chars, got {v!r}")
            if k == "spanId" and not (isinstance(v, str) and re.fullmatch(r"[0-9a-f]{16}", v)):
                bad.append(f"{path}.spanId: expected 16 lowercase hex chars, got {v!r}")
    assert not bad, "OTLP/JSON rule violations:\n  " + "\n  ".join(bad[:40])
    assert seen["timeUnixNano"] > 0, "no timeUnixNano seen: the rule check would be vacuous"
    if group_name == "main":
        for k in ("intValue", "severityNumber", "traceId"):
            assert seen[k] > 0, f"no {k} seen in the main corpus: the rule check would be vacuous"


def test_json_raw_values_main(runs):
    """Exact OTLP/JSON spellings of the values proto3 JSON makes special."""
    run = runs("main", "json")
    docs = _raw_docs(run)
    d = _raw_record(docs, _case("main", "double_specials").time)
    assert d["body"] == {"doubleValue": "NaN"}, f"NaN body: {d['body']}"
    assert _raw_attr(d, "nan") == {"doubleValue": "NaN"}, "NaN is the string \"NaN\""
    assert _raw_attr(d, "inf") == {"doubleValue": "Infinity"}, "+inf is the string \"Infinity\""
    assert _raw_attr(d, "neg_inf") == {"doubleValue": "-Infinity"}, "-inf is the string \"-Infinity\""
    i = _raw_record(docs, _case("main", "int64_extremes").time)
    assert _raw_attr(i, "min") == {"intValue": "-9223372036854775808"}, "INT64_MIN as a string"
    assert _raw_attr(i, "max") == {"intValue": "9223372036854775807"}, "INT64_MAX as a string"
    assert i["body"] == {"intValue": "-9223372036854775808"}, "INT64_MIN body as a string"
    b = _raw_record(docs, _case("main", "bytes_values").time)
    assert b["body"] == {"bytesValue": "AP8="}, "bytes b'\\x00\\xff' in standard base64"
    t = _raw_record(docs, _case("main", "trace_context_sampled").time)
    assert t.get("traceId") == TRACE_ID.hex(), f"traceId lowercase hex: {t.get('traceId')!r}"
    assert t.get("spanId") == SPAN_ID.hex(), f"spanId lowercase hex: {t.get('spanId')!r}"
    s = _raw_record(docs, _case("main", "severity_24").time)
    assert s.get("severityNumber") == 24, f"severityNumber 24 as the integer 24: {s.get('severityNumber')!r}"
    c = _raw_record(docs, _case("main", "default_count_limit_128").time)
    assert c.get("droppedAttributesCount") == 72, f"droppedAttributesCount: {c.get('droppedAttributesCount')!r}"
    f = _raw_record(docs, _case("main", "false_and_zero_presence").time)
    assert f["body"] == {"boolValue": False}, f"bool false body keeps its oneof: {f['body']}"
    assert _raw_attr(f, "zero") == {"intValue": "0"}, "int 0 keeps its oneof: {\"intValue\": \"0\"}"
    assert _raw_attr(f, "empty_string") == {"stringValue": ""}, "\"\" keeps its oneof"


# ---- scopes -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", FORMATS)
def test_two_scopes_grouped_in_one_resource(runs, fmt):
    run = runs("scopes", fmt)
    reqs = run.decoded()
    assert len(reqs) == 1, f"expected the 5 records in 1 request (single batch), got {len(reqs)}"
    req = reqs[0]
    assert len(req.resource_logs) == 1, f"ResourceLogs per request: expected 1, got {len(req.resource_logs)}"
    sls = req.resource_logs[0].scope_logs
    assert len(sls) == 2, (
        f"ScopeLogs: expected 2 (one per scope), got {len(sls)}: {[s.scope.name for s in sls]}")
    by_name = {sl.scope.name: sl for sl in sls}
    for key, n_records in (("s1", 3), ("s2", 2)):
        want = ref_scope(SCOPES, key)
        assert want.name in by_name, f"no ScopeLogs for scope {want.name!r}: {list(by_name)}"
        sl = by_name[want.name]
        diffs = oracle.diff_messages(sl.scope, want, f"scope[{key}]")
        assert not diffs, "InstrumentationScope differs:\n  " + "\n  ".join(diffs)
        assert sl.schema_url == SCOPES.scopes[key][2], (
            f"ScopeLogs.schema_url of {key}: expected {SCOPES.scopes[key][2]!r}, got {sl.schema_url!r}")
        bodies = [r.body.string_value for r in sl.log_records]
        want_bodies = [c.body for c in SCOPES.cases if c.scope == key]
        assert bodies == want_bodies, f"records of {key}: expected {want_bodies}, got {bodies}"
        assert len(sl.log_records) == n_records, f"record count of {key}: expected {n_records}"


@pytest.mark.parametrize("fmt", FORMATS)
def test_invalid_utf8_scope(runs, fmt):
    run = runs("utf8", fmt)
    want = ref_scope(UTF8, "bad_scope")
    scopes = [sl.scope for _, _, sl, _ in run.records()]
    names = {s.name for s in scopes}
    assert want.name in names, f"scope name with invalid UTF-8: expected {want.name!r}, got {names}"
    got = next(s for s in scopes if s.name == want.name)
    diffs = oracle.diff_messages(got, want, "scope")
    assert not diffs, "scope with invalid UTF-8 name/version/attributes:\n  " + "\n  ".join(diffs)


def test_scope_get_same_arguments_same_handle(engine_factory, lib):
    e = engine_factory()
    a1 = e.scope("same", "1", "", [("x", 1)])
    a2 = e.scope("same", "1", "", [("x", 1)])
    b = e.scope("other", "1", "", [("x", 1)])
    assert a1 == a2, "otel_scope_get with the same arguments must return the same handle"
    assert a1 != b, "a different scope name must give a different handle"
    assert e.shutdown() == otb.OTEL_OK, "otel_engine_shutdown"
    assert e.free() == otb.OTEL_OK, "otel_engine_free"


# ---- resource ---------------------------------------------------------------------------------


def _resource_attrs(run_requests) -> dict:
    resources = [rl.resource for req in run_requests for rl in req.resource_logs]
    assert resources, "no ResourceLogs in the output"
    first = resources[0]
    for r in resources[1:]:
        assert not oracle.diff_messages(r, first), "every ResourceLogs must carry the same resource"
    keys = [kv.key for kv in first.attributes]
    assert len(keys) == len(set(keys)), f"resource attribute keys repeat: {keys}"
    return {kv.key: kv.value for kv in first.attributes}


@pytest.mark.parametrize("fmt", FORMATS)
def test_resource_attributes(runs, lib, fmt):
    attrs = _resource_attrs(runs("main", fmt).decoded())
    def s(key):
        assert key in attrs, f"resource attribute {key} missing; have {sorted(attrs)}"
        assert attrs[key].WhichOneof("value") == "string_value", f"{key} must be a string: {attrs[key]}"
        return attrs[key].string_value
    assert s("service.name") == SERVICE_NAME, "service.name from OTEL_SERVICE_NAME"
    assert s("telemetry.sdk.name") == "otelbridge", "telemetry.sdk.name"
    assert s("telemetry.sdk.language") == "cpp", "telemetry.sdk.language default (header: cpp)"
    assert s("telemetry.sdk.version") == lib.version(), "telemetry.sdk.version == otel_version()"
    assert "process.pid" in attrs, f"process.pid missing; have {sorted(attrs)}"
    assert attrs["process.pid"].WhichOneof("value") == "int_value", "process.pid is an int"
    assert attrs["process.pid"].int_value == os.getpid(), "process.pid == os.getpid()"
    assert s("host.name") == socket.gethostname(), "host.name == gethostname()"
    assert s("k1") == "v 1", "OTEL_RESOURCE_ATTRIBUTES percent-decoding: k1=v%201 -> 'v 1'"
    assert s("k2") == "a,b", "OTEL_RESOURCE_ATTRIBUTES percent-decoding: k2=a%2Cb -> 'a,b'"


def _single_record_engine(engine_factory, config=None, **kw):
    e = engine_factory(config=config or {}, **kw)
    sc = e.scope("resource.test")
    assert e.emit(sc, severity_number=9, body="r") == otb.OTEL_OK
    assert e.shutdown() == otb.OTEL_OK, "shutdown"
    assert e.free() == otb.OTEL_OK, "free"
    return _resource_attrs(e.proto_requests())


def test_resource_precedence(engine_factory):
    attrs = _single_record_engine(
        engine_factory,
        config={"OTEL_SERVICE_NAME": "svc-wins",
                "OTEL_RESOURCE_ATTRIBUTES": "service.name=from-env-attrs,k1=env,k3=env3"},
        resource_attrs=[("k1", "code"), ("service.name", "from-code"), ("code.int", 5)],
        sdk_language="python")
    assert attrs["service.name"].string_value == "svc-wins", (
        "OTEL_SERVICE_NAME wins over both OTEL_RESOURCE_ATTRIBUTES and code resource attributes")
    assert attrs["k1"].string_value == "code", "code resource attributes win over OTEL_RESOURCE_ATTRIBUTES"
    assert attrs["k3"].string_value == "env3", "OTEL_RESOURCE_ATTRIBUTES keys not overridden stay"
    assert attrs["code.int"].WhichOneof("value") == "int_value" and attrs["code.int"].int_value == 5, (
        "a typed code resource attribute keeps its type")
    assert attrs["telemetry.sdk.language"].string_value == "python", "otel_config_set_sdk_language"


def test_resource_service_name_from_resource_attributes(engine_factory):
    attrs = _single_record_engine(engine_factory,
                                  config={"OTEL_RESOURCE_ATTRIBUTES": "service.name=from-attrs"})
    assert attrs["service.name"].string_value == "from-attrs", (
        "without OTEL_SERVICE_NAME, service.name comes from OTEL_RESOURCE_ATTRIBUTES")


def test_resource_service_name_default(engine_factory):
    attrs = _single_record_engine(engine_factory)
    assert "service.name" in attrs, "service.name is always set"
    assert attrs["service.name"].string_value.startswith("unknown_service"), (
        f"spec default service.name is unknown_service[:exe], got {attrs['service.name'].string_value!r}")


# ---- bad input: statuses after shutdown, config errors -----------------------------------------


def test_after_shutdown_statuses(runs):
    run = runs("bad_input", "proto")
    p = run.post
    assert p["emit_after_shutdown"] == otb.OTEL_E_SHUTDOWN, (
        f"emit after shutdown: expected OTEL_E_SHUTDOWN, got {otb.status_name(p['emit_after_shutdown'])}")
    assert p["second_shutdown"] == otb.OTEL_E_SHUTDOWN, (
        f"second shutdown: expected OTEL_E_SHUTDOWN, got {otb.status_name(p['second_shutdown'])}")
    assert p["flush_after_shutdown"] == otb.OTEL_E_SHUTDOWN, (
        f"flush after shutdown: expected OTEL_E_SHUTDOWN, got {otb.status_name(p['flush_after_shutdown'])}")
    assert p["scope_get_after_shutdown"] == otb.OTEL_E_SHUTDOWN, (
        "otel_scope_get after shutdown: expected OTEL_E_SHUTDOWN, got "
        f"{otb.status_name(p['scope_get_after_shutdown'])}")
    s0, s1 = run.stats, p["stats_after_post"]
    assert s1["dropped_shutdown"] == s0["dropped_shutdown"] + 1, (
        f"an emit after shutdown counts in dropped_shutdown: {s0['dropped_shutdown']} -> {s1['dropped_shutdown']}")
    assert s1["accepted"] == s0["accepted"], "an emit after shutdown is not accepted"
    assert s1["exported"] == s0["exported"], "nothing is exported after shutdown"
    assert run.free_status == otb.OTEL_OK, "otel_engine_free after a double shutdown returns OTEL_OK"


def test_config_unknown_key(lib):
    cfg = lib.config_new()
    try:
        st, err = lib.config_set(cfg, "OTEL_NOT_A_REAL_KEY", "x")
        assert st == otb.OTEL_E_UNKNOWN_KEY, f"unknown key: expected OTEL_E_UNKNOWN_KEY, got {otb.status_name(st)}"
        assert err, "an unknown key writes a message into the error buffer"
        st, err = lib.config_set(cfg, "OTEL_BLRP_SCHEDULE_DELAY", "soon")
        assert st == otb.OTEL_E_INVALID_CONFIG, (
            f"unparsable value: expected OTEL_E_INVALID_CONFIG, got {otb.status_name(st)}")
        assert err, "an unparsable value writes a message into the error buffer"
        st, _ = lib.config_set(cfg, RawStr(None, 5), "x")
        assert st == otb.OTEL_E_INVALID_ARG, f"key (NULL, 5): expected OTEL_E_INVALID_ARG, got {otb.status_name(st)}"
        st, _ = lib.config_set(None, "OTEL_SERVICE_NAME", "x")
        assert st == otb.OTEL_E_INVALID_ARG, f"NULL config: expected OTEL_E_INVALID_ARG, got {otb.status_name(st)}"
        st, _ = lib.config_set(cfg, "OTEL_SERVICE_NAME", "ok")
        assert st == otb.OTEL_OK, f"a known key still works after errors: {otb.status_name(st)}"
    finally:
        lib.config_free(cfg)


def test_stats_entries_past_count_are_zeroed(engine_factory, lib):
    e = engine_factory()
    st, vals = lib.engine_stats(e.engine, otb.OTEL_SIGNAL_LOGS, n=otb.OTEL_STAT_COUNT + 5,
                                fill=0xDEADBEEF)
    assert st == otb.OTEL_OK, f"otel_engine_stats: {otb.status_name(st)}"
    assert vals[otb.OTEL_STAT_COUNT:] == [0] * 5, f"entries past OTEL_STAT_COUNT must be 0: {vals}"
    assert vals[otb.OTEL_STAT_QUEUE_CAPACITY] > 0, "queue_capacity is positive"
    assert e.shutdown() == otb.OTEL_OK, "otel_engine_shutdown"
    assert e.free() == otb.OTEL_OK, "otel_engine_free"


def test_flush_exports_and_makes_records_visible(engine_factory):
    e = engine_factory(config=SINGLE_BATCH)
    sc = e.scope("flush.test")
    for i in range(3):
        assert e.emit(sc, time_unix_nano=100 + i, observed_unix_nano=100 + i, severity_number=9,
                      body=f"f{i}") == otb.OTEL_OK
    assert e.lib.engine_flush(e.engine, 5000) == otb.OTEL_OK, "otel_engine_flush(5000)"
    s = e.stats()
    assert s["exported"] == 3 and s["queued"] == 0, f"after flush: exported 3, queued 0; got {s}"
    times = [r[3].time_unix_nano for r in oracle.flatten(e.proto_requests())]
    assert times == [100, 101, 102], f"after flush the file holds the 3 records: {times}"
    assert e.shutdown() == otb.OTEL_OK, "otel_engine_shutdown"
    assert e.free() == otb.OTEL_OK, "otel_engine_free"


def test_schedule_delay_exports_without_flush(engine_factory):
    e = engine_factory(config={"OTEL_BLRP_SCHEDULE_DELAY": "50"})
    sc = e.scope("schedule.test")
    assert e.emit(sc, severity_number=9, body="tick") == otb.OTEL_OK
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and e.stats()["exported"] < 1:
        time.sleep(0.02)
    assert e.stats()["exported"] == 1, "with a 50 ms schedule delay the worker exports within 5 s"
    assert e.shutdown() == otb.OTEL_OK, "otel_engine_shutdown"
    assert e.free() == otb.OTEL_OK, "otel_engine_free"


def test_max_export_batch_size_respected(engine_factory):
    e = engine_factory(config={**SINGLE_BATCH, "OTEL_BLRP_MAX_EXPORT_BATCH_SIZE": "10"})
    sc = e.scope("batch.test")
    for i in range(1, 36):
        assert e.emit(sc, time_unix_nano=i, observed_unix_nano=i, severity_number=9,
                      body=f"b{i}") == otb.OTEL_OK, f"emit {i}"
    assert e.shutdown() == otb.OTEL_OK, "shutdown"
    stats = e.stats()
    assert e.free() == otb.OTEL_OK, "free"
    reqs = e.proto_requests()
    sizes = [len(oracle.flatten([r])) for r in reqs]
    assert all(n <= 10 for n in sizes), f"OTEL_BLRP_MAX_EXPORT_BATCH_SIZE=10: request sizes {sizes}"
    times = [r[3].time_unix_nano for r in oracle.flatten(reqs)]
    assert times == list(range(1, 36)), f"all 35 records once, in order: {times}"
    assert stats["export_batches"] == len(reqs), (
        f"stats.export_batches {stats['export_batches']} vs {len(reqs)} requests in the file")


def test_concurrent_emitters_each_record_once(engine_factory):
    n_threads, per_thread = 4, 500
    e = engine_factory(config={"OTEL_BLRP_SCHEDULE_DELAY": "10"})
    sc = e.scope("threads.test")
    statuses = [[] for _ in range(n_threads)]

    def worker(tid):
        for i in range(per_thread):
            t = (tid + 1) * 1_000_000 + i
            statuses[tid].append(e.emit(sc, time_unix_nano=t, observed_unix_nano=t,
                                        severity_number=9, body=f"t{tid}-{i}",
                                        attrs=[("tid", tid), ("i", i)]))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    bad = [(k, i, otb.status_name(st)) for k in range(n_threads) for i, st in enumerate(statuses[k])
           if st != otb.OTEL_OK]
    assert not bad, f"emit statuses from {n_threads} threads: {bad[:10]}"
    assert e.shutdown() == otb.OTEL_OK, "shutdown"
    stats = e.stats()
    assert e.free() == otb.OTEL_OK, "free"
    total = n_threads * per_thread
    assert stats["accepted"] == total and stats["exported"] == total, f"stats: {stats}"
    recs = [r[3] for r in oracle.flatten(e.proto_requests())]
    assert len(recs) == total, f"records on the wire: expected {total}, got {len(recs)}"
    for k in range(n_threads):
        mine = [r for r in recs if r.time_unix_nano // 1_000_000 == k + 1]
        idx = [r.time_unix_nano % 1_000_000 for r in mine]
        assert idx == list(range(per_thread)), f"thread {k}: records missing, duplicated or reordered"
        for r in mine:
            i = r.time_unix_nano % 1_000_000
            assert r.body.string_value == f"t{k}-{i}", f"thread {k} record {i}: body {r.body}"
            assert [(a.key, a.value.int_value) for a in r.attributes] == [("tid", k), ("i", i)], (
                f"thread {k} record {i}: attributes {r.attributes}")


def test_resource_attributes_parsing_extended(engine_factory):
    attrs = _single_record_engine(engine_factory, config={
        "OTEL_RESOURCE_ATTRIBUTES": "k4=a=b,k5=%E6%97%A5%F0%9F%8E%89,k6=x%25y, k9 = v9 "})
    got = {k: attrs[k].string_value for k in ("k4", "k5", "k6", "k9") if k in attrs}
    assert got.get("k4") == "a=b", f"'=' inside a value is kept (k4=a=b): {got}"
    assert got.get("k5") == "日🎉", f"percent-encoded UTF-8 is decoded as UTF-8 (k5): {got}"
    assert got.get("k6") == "x%y", f"%25 decodes to '%' (k6): {got}"
    assert got.get("k9") == "v9", f"whitespace around keys and values is trimmed (' k9 = v9 '): {got}"


def test_config_invalid_resource_attributes(lib):
    cfg = lib.config_new()
    try:
        for bad in ("k9=%zz", "novalue", "=v"):
            st, err = lib.config_set(cfg, "OTEL_RESOURCE_ATTRIBUTES", bad)
            assert st == otb.OTEL_E_INVALID_CONFIG, (
                f"OTEL_RESOURCE_ATTRIBUTES={bad!r} set in code: expected OTEL_E_INVALID_CONFIG, "
                f"got {otb.status_name(st)}")
            assert err, f"OTEL_RESOURCE_ATTRIBUTES={bad!r}: an error message is written"
    finally:
        lib.config_free(cfg)


def test_resource_invalid_utf8_replaced(engine_factory):
    e = engine_factory(config={"OTEL_SERVICE_NAME": Str(b"svc\xff"),
                               "OTEL_RESOURCE_ATTRIBUTES": "k7=%FF%FE,k8=ok"},
                       resource_attrs=[(Str(b"rk\xff"), Str(b"rv\xc0\xaf"))])
    sc = e.scope("resource.utf8")
    assert e.emit(sc, severity_number=9, body="r") == otb.OTEL_OK
    assert e.shutdown() == otb.OTEL_OK, "otel_engine_shutdown"
    assert e.free() == otb.OTEL_OK, "otel_engine_free"
    frames = e.proto_frames()
    assert len(frames) == 1, f"one frame expected, got {len(frames)}"
    issues = oracle.wire_lint(frames[0])
    assert not issues, f"invalid UTF-8 from configuration reached the wire: {issues}"
    attrs = _resource_attrs(e.proto_requests())
    assert attrs["service.name"].string_value == "svc\ufffd", "OTEL_SERVICE_NAME bytes svc\\xff"
    assert attrs.get("rk\ufffd", AnyValue()).string_value == "rv\ufffd\ufffd", (
        f"code resource attribute with invalid UTF-8 key/value: {sorted(attrs)}")
    assert attrs.get("k7", AnyValue()).string_value == "\ufffd\ufffd", (
        "OTEL_RESOURCE_ATTRIBUTES k7=%FF%FE decodes to invalid UTF-8, replaced by U+FFFD: "
        f"{attrs.get('k7')}")
    assert attrs["k8"].string_value == "ok", "the other OTEL_RESOURCE_ATTRIBUTES entries stay"


def test_record_larger_than_queue_is_too_large(engine_factory):
    e = engine_factory(config=SINGLE_BATCH)
    cap = e.stats()["queue_capacity_bytes"]
    assert 0 < cap <= 256 * 1024 * 1024, f"queue_capacity_bytes is a sane positive number: {cap}"
    sc = e.scope("too.large")
    assert e.emit(sc, time_unix_nano=1, observed_unix_nano=1, severity_number=9, body="before") == otb.OTEL_OK
    st = e.emit(sc, time_unix_nano=2, observed_unix_nano=2, severity_number=9, body="x" * (cap + 1))
    assert st == otb.OTEL_E_TOO_LARGE, (
        f"a record larger than the queue's byte capacity ({cap}): expected OTEL_E_TOO_LARGE, "
        f"got {otb.status_name(st)}")
    assert e.emit(sc, time_unix_nano=3, observed_unix_nano=3, severity_number=9, body="after") == otb.OTEL_OK
    assert e.shutdown() == otb.OTEL_OK, "otel_engine_shutdown"
    s = e.stats()
    assert e.free() == otb.OTEL_OK, "otel_engine_free"
    assert s["dropped_too_large"] == 1, f"stats.dropped_too_large: expected 1, got {s['dropped_too_large']}"
    assert s["accepted"] == 2 and s["exported"] == 2, f"stats accepted/exported: expected 2/2: {s}"
    times = [r[3].time_unix_nano for r in oracle.flatten(e.proto_requests())]
    assert times == [1, 3], f"the records around the too-large one arrive: {times}"
