"""Faults end to end: libotelbridge -> the Collector's real otlpreceiver (tests/collector), over
OTLP/HTTP and OTLP/gRPC.

Every test checks exact accounting from otel_engine_stats: emitted = exported + rejected + failed +
dropped_* (+ queued + in_flight while running), each cause with its exact value, and what the
receiver saw (requests, outcomes, the records themselves).

- a receiver that starts late, or is killed mid-export and restarted on the same port;
- throttling (503 + Retry-After, gRPC RetryInfo: the delay is measured), 429, permanent errors
  (exactly one request), partial success (rejected, not retried, reported once);
- a receiver that never answers: the export timeout holds, shutdown(1000) returns in ~1 s;
- TLS, mTLS, and a wrong CA (a TLS diagnostic, failures counted, nothing in plaintext);
- emit cost on the application thread does not depend on the receiver's health.
"""

from __future__ import annotations

import ctypes
import re
import subprocess
import time

import pytest

import collector
import otb
from test_otlp_http import (  # noqa: F401  (diag, otlp are fixtures; rx: conftest.py)
    OTEL_DIAG_WARN,
    assert_accounting,
    diag,
    endpoint_for,
    free_port,
    new_engine,
    otlp,
    wait_stats,
    where_records_went,
)

PROTOCOLS = ["http/protobuf", "grpc"]


def emit_bodies(e, sc, prefix: str, n: int) -> list[str]:
    bodies = [f"{prefix}-{i}" for i in range(n)]
    for b in bodies:
        st = e.emit(sc, body=b, attrs=[("k", "v")])
        assert st == otb.OTEL_OK, f"emit {b}: {otb.status_name(st)}"
    return bodies


def bodies_received(r: collector.Collector) -> list[str]:
    return [rec.get("body", {}).get("stringValue") for _, _, rec in r.log_records()]


def assert_exactly_once(got: list[str], want: list[str], where: str) -> None:
    dup = sorted({b for b in got if got.count(b) > 1})
    assert not dup, f"{where}: records arrived more than once: {dup[:10]}"
    missing = sorted(set(want) - set(got))
    extra = sorted(set(got) - set(want))
    assert not missing and not extra, (
        f"{where}: {len(missing)} missing {missing[:10]}, {len(extra)} unexpected {extra[:10]}")


def flush(e, timeout_ms: int) -> int:
    return e.lib.engine_flush(e.engine, timeout_ms)


# ---- receiver availability --------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_receiver_started_late_gets_everything_queued(otlp, tmp_path, protocol):
    diag, factory = otlp
    gport, hport = free_port(), free_port()
    ep = f"http://127.0.0.1:{gport if protocol == 'grpc' else hport}"
    e = new_engine(factory, ep, protocol, OTEL_EXPORTER_OTLP_TIMEOUT=20000,
                   OTEL_BLRP_MAX_QUEUE_SIZE=1000)
    sc = e.scope("late")
    want = emit_bodies(e, sc, "early", 100)
    time.sleep(0.7)  # the first attempts fail: nothing listens yet
    want += emit_bodies(e, sc, "meanwhile", 100)
    time.sleep(0.8)
    s = e.stats()
    assert s["exported"] == 0 and s["failed"] == 0 and s["dropped_queue_full"] == 0, (
        f"while the receiver is down, records must wait (retrying), not be dropped: {s}\n{diag.dump()}")
    r = collector.start(tmp_path / "rx", grpc=f"127.0.0.1:{gport}", http=f"127.0.0.1:{hport}")
    up = time.time()
    try:
        t0 = time.monotonic()
        st = flush(e, 20000)
        arrivals = r.signal_stats()["arrivals_ms"]
        # The exporter's backoff (1 s, 2 s, ... with jitter) makes its next attempt at most ~3 s
        # after the receiver is up; 6 s is generous, a client that stays stuck fails it.
        late = (arrivals[0] / 1000 - up) if arrivals else None
        assert late is not None and late <= 6.0, (
            f"the receiver listened at +{up - diag.t0_wall:.2f}s, its first request arrived "
            f"{'never' if late is None else f'{late:.2f} s later'} (flush: {otb.status_name(st)} "
            f"after {time.monotonic() - t0:.1f} s); stats {e.stats()}\n{diag.dump()}")
        assert st == otb.OTEL_OK, f"flush after the receiver came up: {otb.status_name(st)}"
        assert e.shutdown(5000) == otb.OTEL_OK
        assert_accounting(e.stats(), 200, exported=200, _diag=diag)
        assert_exactly_once(bodies_received(r), want, "receiver")
        assert r.signal_stats()["items"] == 200
    finally:
        factory.close_all()  # free the engines first (see the rx fixture)
        r.stop()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_receiver_killed_mid_export_and_restarted_on_same_port(otlp, tmp_path, protocol):
    diag, factory = otlp
    r1 = collector.start(tmp_path / "rx1")
    r2 = None
    try:
        e = new_engine(factory, endpoint_for(r1, protocol), protocol, OTEL_EXPORTER_OTLP_TIMEOUT=20000)
        sc = e.scope("restart")
        a = emit_bodies(e, sc, "a", 50)
        assert flush(e, 5000) == otb.OTEL_OK
        assert_exactly_once(bodies_received(r1), a, "first receiver")

        # The next request is held by the receiver, which then dies with it (SIGKILL).
        r1.set_fault("hang")
        b = emit_bodies(e, sc, "b", 50)
        r1.wait_for(lambda s: s["logs"]["hanging"] == 1, timeout=5)
        r1.kill()
        time.sleep(0.3)
        r2 = collector.start(tmp_path / "rx2", grpc=r1.grpc, http=r1.http)
        t0 = time.monotonic()
        st = flush(e, 20000)
        assert st == otb.OTEL_OK, (f"flush after the restart: {otb.status_name(st)} after "
                                   f"{time.monotonic() - t0:.1f} s; stats {e.stats()}\n{diag.dump()}")
        c = emit_bodies(e, sc, "c", 50)
        assert flush(e, 10000) == otb.OTEL_OK
        t0 = time.monotonic()
        assert e.shutdown(5000) == otb.OTEL_OK
        assert time.monotonic() - t0 < 2
        assert_accounting(e.stats(), 150, exported=150)
        assert_exactly_once(bodies_received(r2), b + c, "restarted receiver")
    finally:
        factory.close_all()
        r1.kill()
        if r2:
            r2.stop()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_shutdown_releases_the_connection(otlp, tmp_path, protocol):
    """After otel_engine_shutdown, without free (the global engine is never freed), the engine
    holds no connection the receiver has to wait for: a graceful receiver stop is immediate."""
    diag, factory = otlp
    r = collector.start(tmp_path / "rx")
    try:
        e = new_engine(factory, endpoint_for(r, protocol), protocol)
        emit_bodies(e, e.scope("conn"), "c", 5)
        assert flush(e, 5000) == otb.OTEL_OK
        assert e.shutdown(5000) == otb.OTEL_OK
        t0 = time.monotonic()
        r.stop()
        dt = time.monotonic() - t0
        assert dt < 2.0, (f"the receiver's graceful stop took {dt:.1f} s: the engine, shut down "
                          f"but not freed, still holds its {protocol} connection")
    finally:
        factory.close_all()
        r.kill()


# ---- throttling and errors --------------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_retry_after_is_honoured(rx, otlp, protocol):
    """HTTP 503 + Retry-After: 2 / gRPC UNAVAILABLE + RetryInfo 2 s: retried after >= 2 s."""
    diag, factory = otlp
    rx.set_fault("unavailable_retry", count=1, retry_after_s=2)
    e = new_engine(factory, endpoint_for(rx, protocol), protocol, OTEL_EXPORTER_OTLP_TIMEOUT=10000)
    sc = e.scope("throttled")
    want = emit_bodies(e, sc, "t", 10)
    assert flush(e, 10000) == otb.OTEL_OK, f"{e.stats()}\n{diag.dump()}"
    st = rx.signal_stats()
    assert st["outcomes"] == {"unavailable_retry": 1, "ok": 1}, st
    arrivals = st["arrivals_ms"]
    assert len(arrivals) == 2
    gap = arrivals[1] - arrivals[0]
    assert 2000 <= gap < 3500, f"retry {gap:.0f} ms after a 2 s Retry-After/RetryInfo"
    assert e.shutdown(5000) == otb.OTEL_OK
    assert_accounting(e.stats(), 10, exported=10)
    assert_exactly_once(bodies_received(rx), want, "receiver")


@pytest.mark.parametrize("protocol,mode,retried", [
    ("http/protobuf", "resource_exhausted", True),          # 429 + Retry-After: 1
    ("http/protobuf", "resource_exhausted_noretry", True),  # 429 alone: retryable over HTTP
    ("grpc", "resource_exhausted", True),                   # RESOURCE_EXHAUSTED + RetryInfo
    ("grpc", "resource_exhausted_noretry", False),          # without RetryInfo: permanent
])
def test_resource_exhausted(rx, otlp, protocol, mode, retried):
    diag, factory = otlp
    rx.set_fault(mode, count=1, retry_after_s=1)
    e = new_engine(factory, endpoint_for(rx, protocol), protocol, OTEL_EXPORTER_OTLP_TIMEOUT=10000)
    sc = e.scope("exhausted")
    want = emit_bodies(e, sc, "x", 10)
    assert flush(e, 10000) == otb.OTEL_OK
    assert e.shutdown(5000) == otb.OTEL_OK
    st = rx.signal_stats()
    if retried:
        assert st["outcomes"] == {mode: 1, "ok": 1}, st
        if mode == "resource_exhausted":
            gap = st["arrivals_ms"][1] - st["arrivals_ms"][0]
            assert gap >= 1000, f"retried {gap:.0f} ms after a 1 s delay"
        assert_accounting(e.stats(), 10, exported=10)
        assert_exactly_once(bodies_received(rx), want, "receiver")
    else:
        assert st["outcomes"] == {mode: 1}, f"permanent: exactly one request: {st}"
        assert_accounting(e.stats(), 10, failed=10)


@pytest.mark.parametrize("protocol,mode,what", [
    ("http/protobuf", "invalid", "400"),
    ("http/json", "invalid", "400"),
    ("http/protobuf", "permanent", "500"),
    ("grpc", "invalid", "INVALID_ARGUMENT"),
    ("grpc", "permanent", "INTERNAL"),
])
def test_permanent_error_dropped_after_one_request(rx, otlp, protocol, mode, what):
    diag, factory = otlp
    rx.set_fault(mode, count=1)
    e = new_engine(factory, endpoint_for(rx, protocol), protocol, OTEL_EXPORTER_OTLP_TIMEOUT=10000)
    sc = e.scope("permanent")
    emit_bodies(e, sc, "p", 10)
    t0 = time.monotonic()
    assert flush(e, 10000) == otb.OTEL_OK
    assert time.monotonic() - t0 < 1.5, "a permanent error must not wait for retries"
    st = rx.signal_stats()
    assert st["requests"] == 1 and st["outcomes"] == {mode: 1}, f"exactly one request: {st}"
    assert_accounting(e.stats(), 10, failed=10)
    errs = [m for lvl, m in diag.messages if lvl <= OTEL_DIAG_WARN]
    assert len(errs) == 1 and what in errs[0], f"one error naming {what}:\n{diag.dump()}"
    # The next batch goes through.
    assert e.emit(sc, body="after") == otb.OTEL_OK
    assert e.shutdown(5000) == otb.OTEL_OK
    assert_accounting(e.stats(), 11, failed=10, exported=1)


@pytest.mark.parametrize("protocol", ["http/protobuf", "http/json", "grpc"])
def test_partial_success_rejected_not_retried_reported_once(rx, otlp, protocol):
    diag, factory = otlp
    message = "3 log records were too old (ünïcode)"
    rx.set_fault("partial", rejected=3, message=message)
    e = new_engine(factory, endpoint_for(rx, protocol), protocol)
    sc = e.scope("partial")
    want = emit_bodies(e, sc, "one", 10)
    assert flush(e, 5000) == otb.OTEL_OK
    want += emit_bodies(e, sc, "two", 10)
    assert flush(e, 5000) == otb.OTEL_OK
    assert e.shutdown(5000) == otb.OTEL_OK
    assert_accounting(e.stats(), 20, exported=14, rejected=6)
    st = rx.signal_stats()
    assert st["requests"] == 2 and st["outcomes"] == {"partial": 2}, f"not retried: {st}"
    assert_exactly_once(bodies_received(rx), want, "receiver")
    hits = diag.matching(message)
    assert len(hits) == 1, f"the partial-success message must be reported exactly once:\n{diag.dump()}"


# ---- a receiver that never answers ------------------------------------------------------------


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_hanging_receiver_timeout_holds_and_shutdown_is_bounded(rx, otlp, protocol):
    diag, factory = otlp
    rx.set_fault("hang")  # held until the client gives up
    e = new_engine(factory, endpoint_for(rx, protocol), protocol, OTEL_EXPORTER_OTLP_TIMEOUT=1000)
    sc = e.scope("hang")
    emit_bodies(e, sc, "h", 5)
    rx.wait_for(lambda s: s["logs"]["hanging"] == 1, timeout=5)
    t0 = time.monotonic()
    s = wait_stats(e, lambda s: s["failed"] == 5, timeout=10, what="failed == 5")
    dt = time.monotonic() - t0
    assert dt <= 2.0, f"OTEL_EXPORTER_OTLP_TIMEOUT=1000, but the export took {dt:.2f} s"
    assert_accounting(s, 5, failed=5)
    rx.wait_for(lambda s: s["logs"]["hanging"] == 0, timeout=5)  # the client went away
    assert e.shutdown(2000) == otb.OTEL_OK

    # Only shutdown can end this export (30 s timeout): it must return within its own 1 s.
    e2 = new_engine(factory, endpoint_for(rx, protocol), protocol, OTEL_EXPORTER_OTLP_TIMEOUT=30000)
    sc2 = e2.scope("hang")
    emit_bodies(e2, sc2, "h2", 5)
    rx.wait_for(lambda s: s["logs"]["hanging"] == 1, timeout=5)
    emit_bodies(e2, sc2, "queued", 5)  # behind the stuck batch
    t0 = time.monotonic()
    st = e2.shutdown(1000)
    dt = time.monotonic() - t0
    assert dt <= 1.3, f"otel_engine_shutdown(engine, 1000) took {dt:.2f} s ({otb.status_name(st)})"
    assert st in (otb.OTEL_OK, otb.OTEL_E_TIMEOUT), otb.status_name(st)
    s = wait_stats(e2, lambda s: s["in_flight"] == 0, timeout=2, what="in_flight == 0 after cancel")
    assert where_records_went(s) == 10 and s["exported"] == 0, s
    assert s["failed"] + s["dropped_shutdown"] == 10, s
    t0 = time.monotonic()
    assert e2.free() == otb.OTEL_OK
    dt = time.monotonic() - t0
    assert dt <= 1.0, f"otel_engine_free after a cancelled export took {dt:.2f} s"


# ---- TLS --------------------------------------------------------------------------------------


def _openssl(cwd, *args):
    p = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    assert p.returncode == 0, f"openssl {' '.join(args)}:\n{p.stderr}"


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """A CA, a server certificate for 127.0.0.1 and a client certificate signed by it, and an
    unrelated CA, made with the openssl CLI."""
    d = tmp_path_factory.mktemp("pki")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    for ca in ("ca", "other-ca"):
        _openssl(d, "req", "-x509", *ec, "-keyout", f"{ca}.key", "-out", f"{ca}.pem", "-days", "2",
                 "-subj", f"/CN=otelbridge test {ca}", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign")
    leaves = {
        "server": "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n",
        "client": "extendedKeyUsage=clientAuth\n",
    }
    for serial, (name, ext) in enumerate(leaves.items(), start=1000):
        (d / f"{name}.ext").write_text("basicConstraints=CA:FALSE\n" + ext)
        _openssl(d, "req", *ec, "-keyout", f"{name}.key", "-out", f"{name}.csr",
                 "-subj", f"/CN=otelbridge test {name}")
        _openssl(d, "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
                 "-set_serial", str(serial), "-days", "2", "-out", f"{name}.pem",
                 "-extfile", f"{name}.ext")
    return d


def _tls_receiver(tmp_path, pki, mtls: bool) -> collector.Collector:
    kw = dict(tls_cert=pki / "server.pem", tls_key=pki / "server.key")
    if mtls:
        kw["client_ca"] = pki / "ca.pem"
    r = collector.start(tmp_path / "rx-tls", **kw)
    assert r.ready["tls"] is True and r.ready["mtls"] is mtls, r.ready
    return r


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("mtls", [False, True], ids=["tls", "mtls"])
def test_tls_delivers(otlp, tmp_path, pki, protocol, mtls):
    diag, factory = otlp
    r = _tls_receiver(tmp_path, pki, mtls)
    try:
        extra = {"OTEL_EXPORTER_OTLP_CERTIFICATE": pki / "ca.pem"}
        if mtls:
            extra.update(OTEL_EXPORTER_OTLP_CLIENT_CERTIFICATE=pki / "client.pem",
                         OTEL_EXPORTER_OTLP_CLIENT_KEY=pki / "client.key")
        e = new_engine(factory, endpoint_for(r, protocol), protocol, OTEL_EXPORTER_OTLP_TIMEOUT=5000,
                       **extra)
        assert endpoint_for(r, protocol).startswith("https://")
        want = emit_bodies(e, e.scope("tls"), "tls", 20)
        assert flush(e, 5000) == otb.OTEL_OK
        assert e.shutdown(5000) == otb.OTEL_OK
        assert_accounting(e.stats(), 20, exported=20)
        assert_exactly_once(bodies_received(r), want, "TLS receiver")
    finally:
        factory.close_all()  # free the engines first (see the rx fixture)
        r.stop()


TLS_WORDS = re.compile(r"(?i)tls|ssl|certificate|handshake")


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("case", ["wrong_ca", "mtls_without_client_cert"])
def test_tls_failure_counted_never_plaintext(otlp, tmp_path, pki, protocol, case):
    diag, factory = otlp
    r = _tls_receiver(tmp_path, pki, mtls=case == "mtls_without_client_cert")
    try:
        ca = "other-ca.pem" if case == "wrong_ca" else "ca.pem"
        e = new_engine(factory, endpoint_for(r, protocol), protocol, OTEL_EXPORTER_OTLP_TIMEOUT=1500,
                       OTEL_EXPORTER_OTLP_CERTIFICATE=pki / ca)
        emit_bodies(e, e.scope("tls"), "tls", 10)
        t0 = time.monotonic()
        flush(e, 5000)
        assert e.shutdown(5000) == otb.OTEL_OK
        dt = time.monotonic() - t0
        assert_accounting(e.stats(), 10, _diag=diag, failed=10)
        assert dt < 3.0, (f"OTEL_EXPORTER_OTLP_TIMEOUT=1500, but the failed export took {dt:.1f} s "
                          f"to resolve:\n{diag.dump()}")
        st = r.signal_stats()
        assert st["requests"] == 0 and not bodies_received(r), f"the receiver got data: {st}"
        errs = [m for lvl, m in diag.messages if lvl <= OTEL_DIAG_WARN]
        assert errs, f"no warning/error for a failed TLS export:\n{diag.dump()}"
        if case == "wrong_ca":
            assert any(TLS_WORDS.search(m) for m in errs), (
                f"the diagnostic must say it is a TLS/certificate problem:\n{diag.dump()}")
    finally:
        factory.close_all()  # free the engines first (see the rx fixture)
        r.stop()


# ---- the application thread never waits for the receiver -------------------------------------


def _time_emits(e, n: int) -> tuple[float, int]:
    """Mean µs per otel_log_emit over n calls with prebuilt arguments (as little Python as
    possible between calls), and how many did not return OTEL_OK."""
    sc = e.scope("cost")
    a = otb.Arena()
    body = ctypes.byref(a.value("payload " * 8))
    attrs, n_attrs = a.attrs([("i", 1), ("k", "value")])
    sev, ev = a.str("INFO"), a.str("")
    fn = e.lib.dll.otel_log_emit
    bad = 0
    t0 = time.perf_counter_ns()
    for _ in range(n):
        if fn(sc, 0, 0, 9, sev, body, attrs, n_attrs, ev, None):
            bad += 1
    dt = time.perf_counter_ns() - t0
    del a
    return dt / n / 1000.0, bad


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_emit_cost_independent_of_receiver(rx, otlp, protocol):
    diag, factory = otlp
    n = 20000
    q = dict(OTEL_BLRP_MAX_QUEUE_SIZE=n * 3, OTEL_EXPORTER_OTLP_TIMEOUT=10000)
    results = {}
    engines = {}
    for cond in ("healthy", "healthy2", "down", "hanging"):
        if cond == "down":
            ep = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused, retries
        else:
            rx.set_fault("hang" if cond == "hanging" else "ok")
            ep = endpoint_for(rx, protocol)
        e = new_engine(factory, ep, protocol, **q)
        engines[cond] = e
        _time_emits(e, 2000)  # warm-up: the worker starts, the queue ring grows
        if cond == "hanging":
            rx.wait_for(lambda s: s["logs"]["hanging"] >= 1, timeout=5)
        results[cond] = _time_emits(e, n)
        if cond.startswith("healthy"):
            assert flush(e, 10000) == otb.OTEL_OK
    # Stop every engine before judging, so a failure does not leave stuck exports behind.
    final = {}
    for cond, e in engines.items():
        e.shutdown(500 if cond in ("down", "hanging") else 5000)
        final[cond] = wait_stats(e, lambda s: s["in_flight"] == 0, timeout=3, what="in_flight == 0")
    healthy = min(results["healthy"][0], results["healthy2"][0])
    summary = ", ".join(f"{k} {v[0]:.2f} µs/emit ({v[1]} refused)" for k, v in results.items())
    for cond in ("down", "hanging"):
        per, bad = results[cond]
        assert bad == 0, f"{cond}: {bad} emits refused (the queue holds {3 * n}): {summary}"
        assert per <= 3 * healthy + 2.0, f"emit cost depends on the receiver: {summary}"
    for cond, s in final.items():
        assert where_records_went(s) == n + 2000, f"{cond}: accounting {s}"
        if cond.startswith("healthy"):
            assert_accounting(s, n + 2000, exported=n + 2000)
