"""OTLP/gRPC export (src/transport_grpc.cc) against the real receiver.

Every test starts tests/collector's otbreceiver (the OpenTelemetry Collector's own otlpreceiver)
on free ports, points an engine at it with OTEL_EXPORTER_OTLP_PROTOCOL=grpc, and checks what the
receiver wrote (logs.jsonl, decoded with the official protobuf classes and compared field by field),
what it counted (GET /stats), and what the engine counted. Failures are injected with POST /fault.

Some tests put a TCP recorder between the engine and the receiver, to see what went over the wire:
the gRPC message's compressed flag (gzip), the metadata, and how many connections were opened. The
TLS tests make their certificates with the openssl CLI.
"""

from __future__ import annotations

import re
import socket
import subprocess
import threading
import time

import pytest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

import collector
import oracle
import otb

SECRET = "secret-XYZ"


# ---- the receiver and engines -----------------------------------------------------------------


@pytest.fixture
def rx(tmp_path):
    c = collector.start(tmp_path / "rx")
    yield c
    c.stop()


@pytest.fixture
def engines(rx, engine_factory):
    """engine_factory, with every engine freed before the receiver stops (a client that keeps
    its connection open makes the receiver's graceful stop wait)."""
    yield engine_factory
    engine_factory.close_all()


def grpc_engine(factory, endpoint: str, **extra):
    config = {
        "OTEL_LOGS_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_BLRP_SCHEDULE_DELAY": "50",
    }
    config.update(extra)
    return factory(config=config)


class WireRecorder:
    """A TCP relay to `target` that keeps every byte the client sent, per connection."""

    PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

    def __init__(self, target: str):
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.connections: list[bytearray] = []
        self.lock = threading.Lock()
        self._open: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            buf = bytearray()
            with self.lock:
                self.connections.append(buf)
                self._open += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, buf), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()

    def _pump(self, src, dst, record):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if record is not None:
                    with self.lock:
                        record += data
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def close(self):
        self.sock.close()
        with self.lock:
            for s in self._open:
                s.close()

    def client_bytes(self) -> bytes:
        with self.lock:
            return b"".join(bytes(c) for c in self.connections)

    def grpc_message_flags(self) -> list[int]:
        """The compressed-flag byte of each request message (the first DATA frame of a stream
        starts with the 5-byte gRPC message prefix: flag, then the big-endian length)."""
        flags = []
        with self.lock:
            conns = [bytes(c) for c in self.connections]
        for data in conns:
            assert data.startswith(self.PREFACE), "not an HTTP/2 (h2c) connection"
            i, seen = len(self.PREFACE), set()
            while i + 9 <= len(data):
                n = int.from_bytes(data[i:i + 3], "big")
                ftype = data[i + 3]
                stream = int.from_bytes(data[i + 5:i + 9], "big") & 0x7FFFFFFF
                if ftype == 0 and n > 0 and stream not in seen:  # DATA
                    seen.add(stream)
                    flags.append(data[i + 9])
                i += 9 + n
        return flags


@pytest.fixture
def wire(rx):
    w = WireRecorder(rx.grpc)
    yield w
    w.close()


# ---- reference records ------------------------------------------------------------------------


def any_value(v) -> AnyValue:
    if isinstance(v, str):
        return AnyValue(string_value=v)
    if isinstance(v, bool):
        return AnyValue(bool_value=v)
    if isinstance(v, int):
        return AnyValue(int_value=v)
    if isinstance(v, float):
        return AnyValue(double_value=v)
    if isinstance(v, bytes):
        return AnyValue(bytes_value=v)
    if isinstance(v, list):
        return AnyValue(array_value=ArrayValue(values=[any_value(x) for x in v]))
    if isinstance(v, dict):
        return AnyValue(kvlist_value=KeyValueList(values=key_values(v)))
    raise TypeError(type(v).__name__)


def key_values(d: dict) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in d.items()]


T0 = 1_700_000_000_000_000_000


def make_records(n: int, tag: str = "r") -> list[dict]:
    """n emit argument sets, all different, covering every LogRecord field the engine writes."""
    out = []
    for i in range(n):
        rec = {
            "time_unix_nano": T0 + i * 1_000_003,
            "observed_unix_nano": T0 + i * 1_000_003 + 7,
            "severity_number": 1 + i % 24,
            "severity_text": ["INFO", "WARN", "ERROR", "DEBUG"][i % 4],
            "body": f"{tag}-{i} héllo" if i % 3 else {"msg": f"{tag}-{i}", "n": i, "ok": True},
            "attrs": {"i": i, "s": f"v{i}", "f": i + 0.5, "b": i % 2 == 0, "raw": bytes([i % 256, 0, 255]),
                      "arr": [1, "two", 3.0], "map": {"k": f"m{i}"}},
            "event_name": f"event.{i}" if i % 2 else "",
        }
        if i % 2 == 0:
            rec["ctx"] = {"trace_id": bytes(range(i % 200, i % 200 + 16)),
                          "span_id": bytes(range(100 + i % 100, 108 + i % 100)),
                          "trace_flags": 1}
        out.append(rec)
    return out


def ref_record(rec: dict) -> LogRecord:
    r = LogRecord(time_unix_nano=rec["time_unix_nano"],
                  observed_time_unix_nano=rec["observed_unix_nano"],
                  severity_number=rec["severity_number"], severity_text=rec["severity_text"],
                  body=any_value(rec["body"]), attributes=key_values(rec["attrs"]),
                  event_name=rec["event_name"])
    if "ctx" in rec:
        r.trace_id = rec["ctx"]["trace_id"]
        r.span_id = rec["ctx"]["span_id"]
        r.flags = rec["ctx"]["trace_flags"]
    return r


def emit_all(engine, scope, records):
    for rec in records:
        st = engine.emit(scope, **rec)
        assert st == otb.OTEL_OK, f"otel_log_emit: {otb.status_name(st)}"


def received(rx) -> list[tuple[str, LogRecord]]:
    """(scope name, LogRecord) for every record the receiver wrote, in arrival order."""
    out = []
    for line in rx.out.joinpath("logs.jsonl").read_text().split("\n"):
        if not line:
            continue
        req = oracle.json_line_to_request(line)
        for rl in req.resource_logs:
            for sl in rl.scope_logs:
                out.extend((sl.scope.name, rec) for rec in sl.log_records)
    return out


def assert_received_exactly(rx, scope_name: str, records: list[dict]):
    got = received(rx)
    assert len(got) == len(records), f"the receiver has {len(got)} records, {len(records)} were emitted"
    for i, ((scope, rec), want) in enumerate(zip(got, records)):
        assert scope == scope_name
        diffs = oracle.diff_messages(rec, ref_record(want))
        assert not diffs, f"record {i}:\n" + "\n".join(diffs)


def assert_stats(stats: dict, **want):
    got = {k: stats[k] for k in want}
    assert got == want, f"engine stats {got}, expected {want} (all: {stats})"


def outcomes(rx) -> dict:
    return rx.signal_stats("logs")["outcomes"]


# ---- delivery ---------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["none", "gzip"])
def test_records_arrive_field_by_field(engines, rx, wire, compression):
    e = grpc_engine(engines, f"http://{wire.address}",
                    OTEL_EXPORTER_OTLP_COMPRESSION=compression)
    scope = e.scope("grpc.test", "1.2.3")
    records = make_records(40)
    emit_all(e, scope, records[:20])
    assert e.lib.engine_flush(e.engine, 10000) == otb.OTEL_OK
    emit_all(e, scope, records[20:])
    assert e.shutdown(10000) == otb.OTEL_OK

    assert_received_exactly(rx, "grpc.test", records)
    assert_stats(e.stats(), accepted=40, exported=40, failed=0, rejected=0, dropped_shutdown=0,
                 export_batches=2)
    s = rx.signal_stats("logs")
    assert (s["requests"], s["accepted"], s["items"]) == (2, 2, 40)
    # Sent as they are: the compressed flag of each gRPC message says whether gzip was used.
    assert wire.grpc_message_flags() == [1 if compression == "gzip" else 0] * 2
    # One channel, created once: both exports share one connection.
    assert len(wire.connections) == 1


def test_resource_and_scope_are_framed(engines, rx):
    e = grpc_engine(engines, rx.grpc_endpoint, OTEL_SERVICE_NAME="grpc-svc")
    a, b = e.scope("scope.a", "1"), e.scope("scope.b", "2")
    emit_all(e, a, make_records(3, "a"))
    emit_all(e, b, make_records(2, "b"))
    assert e.shutdown(10000) == otb.OTEL_OK
    reqs = rx.read_logs()
    assert len(reqs) == 1
    (rl,) = reqs[0]["resourceLogs"]
    attrs = {kv["key"]: kv["value"] for kv in rl["resource"]["attributes"]}
    assert attrs["service.name"] == {"stringValue": "grpc-svc"}
    assert attrs["telemetry.sdk.name"] == {"stringValue": "otelbridge"}
    scopes = [(sl["scope"]["name"], sl["scope"].get("version"), len(sl["logRecords"]))
              for sl in rl["scopeLogs"]]
    assert sorted(scopes) == [("scope.a", "1", 3), ("scope.b", "2", 2)]


def test_header_is_sent_and_its_value_never_shown(engines, rx, wire, capfd):
    # Debug diagnostics and a failed attempt first: every message the exporter can print.
    rx.set_fault("unavailable", count=1)
    e = grpc_engine(engines, f"http://{wire.address}",
                    OTEL_EXPORTER_OTLP_HEADERS="Authorization=Bearer%20" + SECRET + ",X-Tenant=acme",
                    OTEL_LOG_LEVEL="debug")
    scope = e.scope("hdr")
    records = make_records(5)
    emit_all(e, scope, records)
    assert e.shutdown(15000) == otb.OTEL_OK
    assert_received_exactly(rx, "hdr", records)
    assert outcomes(rx) == {"unavailable": 1, "ok": 1}

    # At the receiver: lowercased keys, decoded values, as gRPC metadata.
    headers = rx.signal_stats("logs")["last_headers"]
    assert headers.get("authorization") == ["Bearer " + SECRET], headers
    assert headers.get("x-tenant") == ["acme"], headers
    assert "otelbridge/" in " ".join(headers.get("user-agent", [])), headers
    # On the wire too (gRPC 1.51 sends metadata as HPACK literals).
    sent = wire.client_bytes()
    assert b"authorization" in sent and b"Bearer " + SECRET.encode() in sent
    assert b"x-tenant" in sent and b"acme" in sent
    # Never in our diagnostics (stderr), even at debug level with a failure reported.
    err = capfd.readouterr().err
    assert "UNAVAILABLE" in err, f"the failed attempt should be reported at debug level: {err!r}"
    assert SECRET not in err


def test_invalid_header_value_is_a_config_error_without_the_value(lib, rx):
    cfg = lib.config_new()
    try:
        for k, v in {"OTEL_LOGS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                     "OTEL_EXPORTER_OTLP_ENDPOINT": rx.grpc_endpoint,
                     "OTEL_EXPORTER_OTLP_HEADERS": "x-key=secret%0Aline"}.items():
            assert lib.config_set(cfg, k, v)[0] == otb.OTEL_OK
        st, engine, err = lib.engine_new(cfg)
    finally:
        lib.config_free(cfg)
    if engine:
        lib.engine_free(engine)
    assert st == otb.OTEL_E_INVALID_CONFIG, (otb.status_name(st), err)
    assert "x-key" in err and "secret" not in err


def test_header_reserved_by_grpc_is_skipped_with_a_warning(engines, rx, capfd):
    e = grpc_engine(engines, rx.grpc_endpoint,
                    OTEL_EXPORTER_OTLP_HEADERS="User-Agent=mine,grpc-timeout=1S,x-ok=1")
    records = make_records(2)
    emit_all(e, e.scope("reserved"), records)
    assert e.shutdown(10000) == otb.OTEL_OK
    assert_received_exactly(rx, "reserved", records)
    headers = rx.signal_stats("logs")["last_headers"]
    assert headers.get("x-ok") == ["1"] and "mine" not in " ".join(headers.get("user-agent", []))
    err = capfd.readouterr().err
    assert "'user-agent'" in err and "'grpc-timeout'" in err, err


# ---- failures and retries ---------------------------------------------------------------------


def test_unavailable_twice_then_ok_is_retried(engines, rx):
    rx.set_fault("unavailable", count=2)
    e = grpc_engine(engines, rx.grpc_endpoint)
    scope = e.scope("retry")
    records = make_records(20)
    emit_all(e, scope, records)
    assert e.shutdown(15000) == otb.OTEL_OK
    assert_received_exactly(rx, "retry", records)  # every record, exactly once
    assert outcomes(rx) == {"unavailable": 2, "ok": 1}
    assert_stats(e.stats(), exported=20, failed=0, export_batches=1)


def test_invalid_argument_is_dropped_not_retried(engines, rx, capfd):
    rx.set_fault("invalid")
    e = grpc_engine(engines, rx.grpc_endpoint)
    emit_all(e, e.scope("inv"), make_records(7))
    assert e.shutdown(10000) == otb.OTEL_OK
    s = rx.signal_stats("logs")
    assert s["requests"] == 1 and s["outcomes"] == {"invalid": 1}, s
    assert rx.read_logs() == []
    assert_stats(e.stats(), exported=0, failed=7)
    assert "gRPC INVALID_ARGUMENT" in capfd.readouterr().err


def test_resource_exhausted_without_retry_info_is_not_retried(engines, rx):
    rx.set_fault("resource_exhausted_noretry")
    e = grpc_engine(engines, rx.grpc_endpoint)
    emit_all(e, e.scope("re"), make_records(4))
    assert e.shutdown(10000) == otb.OTEL_OK
    assert outcomes(rx) == {"resource_exhausted_noretry": 1}
    assert_stats(e.stats(), exported=0, failed=4)


def test_permanent_internal_is_not_retried(engines, rx):
    rx.set_fault("permanent")
    e = grpc_engine(engines, rx.grpc_endpoint)
    emit_all(e, e.scope("perm"), make_records(3))
    assert e.shutdown(10000) == otb.OTEL_OK
    assert outcomes(rx) == {"permanent": 1}
    assert_stats(e.stats(), exported=0, failed=3)


def test_partial_success_is_counted_not_retried(engines, rx, capfd):
    rx.set_fault("partial", count=1, rejected=2, message="2 records too old")
    e = grpc_engine(engines, rx.grpc_endpoint)
    records = make_records(5)
    emit_all(e, e.scope("partial"), records)
    assert e.shutdown(10000) == otb.OTEL_OK
    assert outcomes(rx) == {"partial": 1}
    assert_received_exactly(rx, "partial", records)  # written whole; 2 of them refused
    assert_stats(e.stats(), accepted=5, exported=3, rejected=2, failed=0)
    assert "2 records too old" in capfd.readouterr().err


# retry_after_s=2 cannot be mistaken for the exporter's own first backoff (1 s +-50% jitter).
@pytest.mark.parametrize("mode,retry_after_s", [("resource_exhausted", 1), ("resource_exhausted", 2),
                                                ("unavailable_retry", 2)])
def test_retry_info_delay_is_honoured(engines, rx, mode, retry_after_s):
    rx.set_fault(mode, count=1, retry_after_s=retry_after_s)
    # Only the flush exports (the schedule delay is a minute), so the flush spans both attempts.
    e = grpc_engine(engines, rx.grpc_endpoint, OTEL_BLRP_SCHEDULE_DELAY="60000")
    scope = e.scope("throttled")
    records = make_records(6)
    emit_all(e, scope, records)
    t0 = time.monotonic()
    assert e.lib.engine_flush(e.engine, 10000) == otb.OTEL_OK
    elapsed = time.monotonic() - t0
    assert e.shutdown(5000) == otb.OTEL_OK
    assert outcomes(rx) == {mode: 1, "ok": 1}
    assert_received_exactly(rx, "throttled", records)
    assert elapsed >= retry_after_s, f"retried after {elapsed:.3f} s, the server asked for {retry_after_s} s"
    assert elapsed < retry_after_s + 2.0
    assert_stats(e.stats(), exported=6, failed=0)


def test_receiver_down_then_up_is_reached(engine_factory, tmp_path):
    # Nothing listens at first (connection refused). The receiver comes up on that port while the
    # export is under way, and the records reach it within the same export: the transport keeps
    # the channel's reconnection going while it waits (nobody else polls gRPC).
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    e = grpc_engine(engine_factory, f"http://127.0.0.1:{port}", OTEL_BLRP_SCHEDULE_DELAY="60000",
                    OTEL_EXPORTER_OTLP_TIMEOUT="8000")
    records = make_records(3)
    emit_all(e, e.scope("late"), records)
    flusher = threading.Thread(target=e.lib.engine_flush, args=(e.engine, 10000))
    t0 = time.monotonic()
    flusher.start()
    time.sleep(0.5)
    c = collector.start(tmp_path / "late", grpc=f"127.0.0.1:{port}")
    try:
        flusher.join(12)
        elapsed = time.monotonic() - t0
        assert e.shutdown(5000) == otb.OTEL_OK
        assert_received_exactly(c, "late", records)
        assert_stats(e.stats(), exported=3, failed=0)
        assert elapsed < 3.0, f"delivered {elapsed:.2f} s after the flush; the receiver was up at 0.5 s"
    finally:
        engine_factory.close_all()
        c.stop()


# ---- deadlines, cancel, TLS -------------------------------------------------------------------


def test_hung_receiver_hits_the_deadline(engines, rx):
    rx.set_fault("hang")
    e = grpc_engine(engines, rx.grpc_endpoint, OTEL_EXPORTER_OTLP_TIMEOUT="1000")
    emit_all(e, e.scope("hang"), make_records(2))
    t0 = time.monotonic()
    assert e.lib.engine_flush(e.engine, 10000) == otb.OTEL_OK
    elapsed = time.monotonic() - t0
    assert 0.9 <= elapsed < 2.5, f"the export took {elapsed:.2f} s with a 1 s timeout"
    assert_stats(e.stats(), exported=0, failed=2)
    # The deadline reached the server: it saw the client give up.
    rx.wait_for(lambda s: s["logs"]["outcomes"].get("hang_aborted") == 1)
    assert e.shutdown(5000) == otb.OTEL_OK


def test_shutdown_cancels_a_call_in_flight(engines, rx):
    rx.set_fault("hang")
    e = grpc_engine(engines, rx.grpc_endpoint, OTEL_EXPORTER_OTLP_TIMEOUT="30000",
                    OTEL_BLRP_EXPORT_TIMEOUT="30000")
    emit_all(e, e.scope("cancel"), make_records(2))
    rx.wait_for(lambda s: s["logs"]["hanging"] == 1)
    t0 = time.monotonic()
    st = e.shutdown(300)
    assert st in (otb.OTEL_OK, otb.OTEL_E_TIMEOUT), otb.status_name(st)
    # free waits for the worker; the cancelled call lets it go at once, not after 30 s.
    assert e.free() == otb.OTEL_OK
    assert time.monotonic() - t0 < 2.0
    rx.wait_for(lambda s: s["logs"]["outcomes"].get("hang_aborted") == 1)


def test_tls_to_a_plaintext_receiver_fails_and_never_falls_back(engines, rx, capfd):
    e = grpc_engine(engines, f"https://{rx.grpc}", OTEL_EXPORTER_OTLP_TIMEOUT="1000")
    emit_all(e, e.scope("tls"), make_records(2))
    assert e.shutdown(10000) == otb.OTEL_OK
    assert_stats(e.stats(), exported=0, failed=2)
    assert rx.signal_stats("logs")["requests"] == 0
    err = capfd.readouterr().err
    assert "UNAVAILABLE" in err and "handshake" in err.lower(), err


def _openssl(cwd, *args):
    p = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    assert p.returncode == 0, f"openssl {' '.join(args)}:\n{p.stderr}"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """ca.pem (signs server.pem for 127.0.0.1 and client.pem) and other-ca.pem (signs nothing
    here), made with the openssl CLI."""
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    for ca in ("ca", "other-ca"):
        _openssl(d, "req", "-x509", *ec, "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2",
                 "-subj", f"/CN=otelbridge test {ca}")
    for name, ext in (("server", "subjectAltName=IP:127.0.0.1,DNS:localhost"),
                      ("client", "extendedKeyUsage=clientAuth")):
        (d / f"{name}.ext").write_text(ext + "\n")
        _openssl(d, "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN=otelbridge test {name}")
        _openssl(d, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-CAcreateserial", "-out", f"{name}.pem", "-days", "2", "-extfile", f"{name}.ext")
    return d


@pytest.mark.parametrize("case", ["tls", "mtls", "wrong_ca", "mtls_without_client_cert"])
def test_tls(engine_factory, tmp_path, pki, capfd, case):
    mtls = case.startswith("mtls")
    kw = dict(tls_cert=pki / "server.pem", tls_key=pki / "server.key")
    if mtls:
        kw["client_ca"] = pki / "ca.pem"
    r = collector.start(tmp_path / "rx-tls", **kw)
    try:
        assert r.ready["tls"] is True, r.ready
        config = {"OTEL_EXPORTER_OTLP_CERTIFICATE": str(pki / ("other-ca.pem" if case == "wrong_ca" else "ca.pem")),
                  "OTEL_EXPORTER_OTLP_TIMEOUT": "1500"}
        if case == "mtls":
            config["OTEL_EXPORTER_OTLP_CLIENT_KEY"] = str(pki / "client.key")
            config["OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE"] = str(pki / "client.pem")
        e = grpc_engine(engine_factory, f"https://{r.grpc}", **config)
        records = make_records(4)
        emit_all(e, e.scope("tls"), records)
        assert e.shutdown(10000) == otb.OTEL_OK
        if case in ("tls", "mtls"):
            assert_received_exactly(r, "tls", records)
            assert_stats(e.stats(), exported=4, failed=0)
        else:
            assert_stats(e.stats(), exported=0, failed=4)
            assert r.signal_stats("logs")["requests"] == 0
            err = capfd.readouterr().err
            assert "gRPC UNAVAILABLE" in err, err
            assert re.search(r"(?i)handshake|ssl|certificate|tls", err.split("gRPC UNAVAILABLE", 1)[1]), err
    finally:
        engine_factory.close_all()
        r.stop()


def test_unreadable_certificate_is_a_config_error(lib, rx, tmp_path):
    missing = tmp_path / "no-such-ca.pem"
    not_pem = tmp_path / "not.pem"
    not_pem.write_text("hello\n")
    for key, path in [("OTEL_EXPORTER_OTLP_CERTIFICATE", missing),
                      ("OTEL_EXPORTER_OTLP_CERTIFICATE", not_pem)]:
        cfg = lib.config_new()
        try:
            for k, v in {"OTEL_LOGS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                         "OTEL_EXPORTER_OTLP_ENDPOINT": f"https://{rx.grpc}", key: str(path)}.items():
                assert lib.config_set(cfg, k, v)[0] == otb.OTEL_OK
            st, engine, err = lib.engine_new(cfg)
        finally:
            lib.config_free(cfg)
        if engine:
            lib.engine_free(engine)
        assert st == otb.OTEL_E_INVALID_CONFIG, (otb.status_name(st), err)
        assert str(path) in err


def test_client_key_without_certificate_is_a_config_error(lib, rx, tmp_path):
    key = tmp_path / "client.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    cfg = lib.config_new()
    try:
        for k, v in {"OTEL_LOGS_EXPORTER": "otlp", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                     "OTEL_EXPORTER_OTLP_ENDPOINT": f"https://{rx.grpc}",
                     "OTEL_EXPORTER_OTLP_CLIENT_KEY": str(key)}.items():
            assert lib.config_set(cfg, k, v)[0] == otb.OTEL_OK
        st, engine, err = lib.engine_new(cfg)
    finally:
        lib.config_free(cfg)
    if engine:
        lib.engine_free(engine)
    assert st == otb.OTEL_E_INVALID_CONFIG, (otb.status_name(st), err)
    assert "certificate" in err


def test_forked_child_of_a_grpc_parent_is_refused_clearly(engines, rx, capfd):
    """libgrpc 1.51 does not survive fork() once the parent used it: the child's exports must
    fail at once with a message saying so, never hang until their deadline; the parent keeps
    working."""
    import os
    e = grpc_engine(engines, rx.grpc_endpoint, OTEL_EXPORTER_OTLP_TIMEOUT="5000")
    scope = e.scope("fork.grpc", "1")
    emit_all(e, scope, make_records(2, "parent"))
    assert e.lib.engine_flush(e.engine, 10000) == otb.OTEL_OK  # gRPC is now in use
    pid = os.fork()
    if pid == 0:  # the child: report through the exit status only
        code = 0
        try:
            emit_all(e, scope, make_records(1, "child"))
            t0 = time.monotonic()
            e.lib.engine_flush(e.engine, 10000)
            st = e.stats()
            if time.monotonic() - t0 > 2.0:
                code = 3  # hung instead of failing fast
            elif st["failed"] != 1 or st["exported"] != 0:
                code = 4
        except BaseException:
            code = 5
        os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0, f"child check failed with {os.WEXITSTATUS(status)}"
    assert "forked after its parent had exported over gRPC" in capfd.readouterr().err
    emit_all(e, scope, make_records(1, "parent-after"))
    assert e.shutdown(10000) == otb.OTEL_OK
    assert e.stats()["exported"] == 3, "the parent still exports over its own connection"
