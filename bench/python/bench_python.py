#!/usr/bin/env python3
"""Python benchmark: otelbridge vs the official OpenTelemetry SDK, same receiver, same run.

    python3 bench/python/bench_python.py [--records N] [--threads "1 4"] [--repeat K]
                                         [--signals logs,spans,counters] [--out FILE]

Normally started by bench/run_python.sh, which builds the library (Release) and the cffi extension
and puts them on PYTHONPATH. Every case runs in a fresh child process (configure() and the SDK's
providers are process-global) against one real receiver (tests/collector, the Collector's
otlpreceiver), started here.

Cases (each at every thread count; N records/spans/adds in total, split evenly over the threads):
  logs      logger.info("order processed", extra={"order.id": i, "tenant": "acme"}) on a logger
            whose only handler is
              floor       logging.NullHandler (what stdlib logging costs by itself)
              sdk         the contrib LoggingHandler (opentelemetry-instrumentation-logging) ->
                          SDK LoggerProvider -> BatchLogRecordProcessor -> OTLP gRPC exporter
              otelbridge  otelbridge.logging.Handler -> the engine's OTLP gRPC exporter
  spans     with tracer.start_as_current_span("checkout", attributes={"order.id": i,
            "tenant": "acme"}): pass
              sdk         SDK TracerProvider -> BatchSpanProcessor -> OTLP gRPC exporter
              otelbridge  otelbridge.trace.get_tracer(...) (the native API)
              otelbridge-api  opentelemetry.trace on otelbridge.api.TracerProvider
  counters  counter.add(1, {"http.route": "/orders", "status": i % 4})
              sdk         SDK MeterProvider (PeriodicExportingMetricReader, OTLP gRPC)
              otelbridge  otelbridge.metrics.get_meter(...).create_counter(...)
              otelbridge-api  opentelemetry.metrics on otelbridge.api.MeterProvider
A case whose module is not importable (e.g. a package of bench/python/requirements.txt missing) prints
"n/a" instead of a figure.

Figures:
  app us/op   wall time of the emitting phase (all threads started together on a barrier, until
              the last one finished) / N: the application's cost per operation, per thread-count
  cpu us/op   CPU time of the emitting threads themselves (time.thread_time, summed) / N: what one
              operation costs the application's thread, without the time it waits for a core
              or the GIL while the exporter's worker and the receiver (same 2-core machine) run
  e2e ops/s   N / (time from the start of emitting until the receiver has counted all N items),
              including a flush (force_flush for the SDK) after the emitting phase. Logs and spans
              only. Queues are sized to N for both implementations so that nothing is dropped;
              an item missing at the receiver is reported ("lost"), never hidden.
Each case runs --repeat times; the table shows the median run by app us/op.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Tuple

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]

SIGNAL_IMPLS = {
    "logs": ["floor", "sdk", "otelbridge"],
    "spans": ["sdk", "otelbridge", "otelbridge-api"],
    "counters": ["sdk", "otelbridge", "otelbridge-api"],
}
STATS_KEY = {"logs": "logs", "spans": "traces", "counters": "metrics"}


class NotAvailable(Exception):
    """The implementation's module is not importable in this checkout."""


# ---------------------------------------------------------------------------------------------
# child side
# ---------------------------------------------------------------------------------------------

def _rx_items(control: str, signal: str) -> int:
    with urllib.request.urlopen(f"http://{control}/stats", timeout=5) as r:
        s = json.loads(r.read())
    return int((s.get(signal) or {}).get("items", 0))


def _wait_items(control: str, signal: str, target: int, timeout_s: float) -> Tuple[int, float]:
    """Polls the receiver until it counted `target` items; returns (count, monotonic time)."""
    deadline = time.monotonic() + timeout_s
    n = _rx_items(control, signal)
    while n < target and time.monotonic() < deadline:
        time.sleep(0.002)
        n = _rx_items(control, signal)
    return n, time.monotonic()


def _sdk_resource() -> Any:
    from opentelemetry.sdk.resources import Resource

    return Resource.create({"service.name": "bench-python"})


def _otelbridge_configure(endpoint: str, signal: str, queue: int) -> None:
    try:
        import otelbridge
    except ImportError as e:
        raise NotAvailable(f"otelbridge: {e}")
    settings: Dict[str, Any] = dict(
        service_name="bench-python", exporter_otlp_endpoint=endpoint,
        exporter_otlp_protocol="grpc", logs_exporter="none", traces_exporter="none",
        metrics_exporter="none")
    if signal == "logs":
        settings.update(logs_exporter="otlp", blrp_max_queue_size=queue,
                        otelbridge_blrp_max_queue_bytes=1 << 30)
    elif signal == "spans":
        settings.update(traces_exporter="otlp", bsp_max_queue_size=queue,
                        otelbridge_bsp_max_queue_bytes=1 << 30)
    else:
        settings.update(metrics_exporter="otlp", metric_export_interval=3_600_000)
    otelbridge.configure(attach_handler=False, **settings)


def _otelbridge_source(what: str, impl: str, endpoint: str, signal: str, queue: int
                       ) -> Tuple[Any, Callable[[], None]]:
    """(tracer or meter "bench", flush) on otelbridge, what = "trace" or "metrics": impl
    "otelbridge" uses the native API (otelbridge.<what>.get_tracer / get_meter), any other the
    opentelemetry-api with otelbridge.api.<what>'s provider set. NotAvailable when a module is
    missing (imported before configure(), as each case always did)."""
    get, provider_name, set_provider = (
        ("get_tracer", "TracerProvider", "set_tracer_provider") if what == "trace" else
        ("get_meter", "MeterProvider", "set_meter_provider"))
    try:
        if impl == "otelbridge":
            native = importlib.import_module("otelbridge." + what)
        else:
            api = importlib.import_module("opentelemetry." + what)
            api_mod = importlib.import_module("otelbridge.api." + what)
            provider = getattr(api_mod, provider_name, None)
            if provider is None:  # as `from otelbridge.api.<what> import <Provider>` would
                raise ImportError(f"cannot import name {provider_name!r} from {api_mod.__name__!r}")
    except ImportError as e:
        raise NotAvailable(str(e))
    _otelbridge_configure(endpoint, signal, queue)
    import otelbridge
    if impl == "otelbridge":
        source = getattr(native, get)("bench")
    else:
        getattr(api, set_provider)(provider())
        source = getattr(api, get)("bench")
    return source, lambda: otelbridge.flush(None) and None


def _setup(signal: str, impl: str, endpoint: str, queue: int
           ) -> Tuple[Callable[[int], None], Callable[[], None]]:
    """Returns (op(i), flush()) for the case."""
    grpc_target = endpoint.split("://", 1)[1]
    if signal == "logs":
        import logging

        logger = logging.getLogger("bench")
        logger.propagate = False
        logger.setLevel(logging.INFO)
        if impl == "floor":
            logger.addHandler(logging.NullHandler())
            flush = lambda: None  # noqa: E731
        elif impl == "sdk":
            from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
            from opentelemetry.instrumentation.logging.handler import LoggingHandler
            from opentelemetry.sdk._logs import LoggerProvider
            from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

            lp = LoggerProvider(resource=_sdk_resource())
            lp.add_log_record_processor(BatchLogRecordProcessor(
                OTLPLogExporter(endpoint=grpc_target, insecure=True), max_queue_size=queue))
            logger.addHandler(LoggingHandler(logger_provider=lp))
            flush = lambda: lp.force_flush(120_000) and None  # noqa: E731
        else:
            _otelbridge_configure(endpoint, signal, queue)
            import otelbridge
            from otelbridge.logging import Handler

            logger.addHandler(Handler())
            flush = lambda: otelbridge.flush(None) and None  # noqa: E731
        info = logger.info

        def op(i: int) -> None:
            info("order processed", extra={"order.id": i, "tenant": "acme"})
        return op, flush

    if signal == "spans":
        if impl == "sdk":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            tp = TracerProvider(resource=_sdk_resource())
            tp.add_span_processor(BatchSpanProcessor(
                OTLPSpanExporter(endpoint=grpc_target, insecure=True), max_queue_size=queue))
            tracer: Any = tp.get_tracer("bench")
            flush = lambda: tp.force_flush(120_000) and None  # noqa: E731
        else:
            tracer, flush = _otelbridge_source("trace", impl, endpoint, signal, queue)
        start = tracer.start_as_current_span

        def op(i: int) -> None:
            with start("checkout", attributes={"order.id": i, "tenant": "acme"}):
                pass
        return op, flush

    # counters
    if impl == "sdk":
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        from opentelemetry.sdk.metrics import MeterProvider
        from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

        reader = PeriodicExportingMetricReader(
            OTLPMetricExporter(endpoint=grpc_target, insecure=True),
            export_interval_millis=3_600_000)
        mp = MeterProvider(metric_readers=[reader], resource=_sdk_resource())
        meter: Any = mp.get_meter("bench")
        flush = lambda: mp.force_flush(120_000) and None  # noqa: E731
    else:
        meter, flush = _otelbridge_source("metrics", impl, endpoint, signal, queue)
    add = meter.create_counter("bench.orders").add

    def op(i: int) -> None:
        add(1, {"http.route": "/orders", "status": i % 4})
    return op, flush


def child(signal: str, impl: str, threads: int, records: int, warmup: int, endpoint: str,
          control: str) -> Dict[str, Any]:
    per_thread = records // threads
    n = per_thread * threads
    try:
        op, flush = _setup(signal, impl, endpoint, queue=n + warmup + 1024)
    except NotAvailable as e:
        return {"signal": signal, "impl": impl, "threads": threads, "na": str(e)}
    rx_signal = STATS_KEY[signal]
    e2e = signal != "counters" and impl != "floor"

    base = _rx_items(control, rx_signal)
    for i in range(warmup):
        op(i)
    flush()
    if e2e:  # the warm-up items must be in before we measure
        got, _ = _wait_items(control, rx_signal, base + warmup, 60.0)
        if got != base + warmup:
            raise SystemExit(f"warm-up: the receiver has {got - base} of {warmup} items")
        base = got

    barrier = threading.Barrier(threads + 1)
    ends: List[float] = [0.0] * threads
    cpu: List[float] = [0.0] * threads

    def worker(k: int) -> None:
        lo = k * per_thread
        hi = lo + per_thread
        barrier.wait()
        c0 = time.thread_time()
        for i in range(lo, hi):
            op(i)
        cpu[k] = time.thread_time() - c0
        ends[k] = time.monotonic()

    ts = [threading.Thread(target=worker, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    t0 = time.monotonic()
    barrier.wait()
    for t in ts:
        t.join()
    t_app = max(ends) - t0
    res: Dict[str, Any] = {"signal": signal, "impl": impl, "threads": threads, "n": n,
                           "app_us": t_app / n * 1e6, "cpu_us": sum(cpu) / n * 1e6}
    if e2e:
        flush()
        got, t_end = _wait_items(control, rx_signal, base + n, 120.0)
        got -= base
        res["received"] = got
        res["lost"] = max(0, n - got)
        res["e2e_per_s"] = n / (t_end - t0) if got >= n else 0.0
    return res


# ---------------------------------------------------------------------------------------------
# parent side
# ---------------------------------------------------------------------------------------------

def _fmt(v: Optional[float], unit: str = "") -> str:
    if v is None:
        return "n/a"
    if unit == "us":
        return f"{v:.2f}"
    return f"{v:,.0f}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--records", type=int, default=100_000, help="N per case (total)")
    ap.add_argument("--warmup", type=int, default=5_000)
    ap.add_argument("--threads", default="1 4")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--signals", default="logs,spans,counters")
    ap.add_argument("--out", default=str(ROOT / "bench" / "out" / "run_python.txt"))
    ap.add_argument("--child", nargs=7, metavar=("SIGNAL", "IMPL", "THREADS", "N", "WARMUP",
                                                 "ENDPOINT", "CONTROL"), help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.child:
        sig, impl, th, n, wu, endpoint, control = args.child
        print("RESULT " + json.dumps(child(sig, impl, int(th), int(n), int(wu), endpoint,
                                            control)), flush=True)
        return 0

    sys.path.insert(0, str(ROOT / "tests" / "python"))
    import collector

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    raw = open(out, "w")
    threads_list = [int(t) for t in args.threads.split()]
    signals = [s.strip() for s in args.signals.split(",") if s.strip()]
    raw.write(f"# bench_python.py {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())} "
              f"records={args.records} warmup={args.warmup} repeat={args.repeat} "
              f"threads={args.threads!r}\n# python {sys.version.split()[0]}\n")
    for mod in ("opentelemetry.sdk.version",):
        try:
            m = __import__(mod, fromlist=["__version__"])
            raw.write(f"# opentelemetry-sdk {m.__version__}\n")
        except ImportError:
            pass
    import tempfile

    results: Dict[Tuple[str, str, int], Dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-python-rx-") as d:
        rx = collector.start(Path(d))
        try:
            for sig in signals:
                for th in threads_list:
                    for impl in SIGNAL_IMPLS[sig]:
                        runs = []
                        for _ in range(args.repeat):
                            env = {k: v for k, v in os.environ.items()
                                   if not k.startswith(("OTEL_", "OTELBRIDGE_"))}
                            env["OTEL_LOG_LEVEL"] = "error"
                            cmd = [sys.executable, __file__, "--child", sig, impl, str(th),
                                   str(args.records), str(args.warmup), rx.grpc_endpoint,
                                   rx.control]
                            p = subprocess.run(cmd, env=env, capture_output=True, text=True,
                                               timeout=600)
                            line = next((x for x in p.stdout.splitlines()
                                         if x.startswith("RESULT ")), None)
                            if p.returncode != 0 or line is None:
                                raw.write(f"RUN-FAILED {sig} {impl} threads={th} "
                                          f"rc={p.returncode}\n{p.stderr[-3000:]}\n")
                                print(f"== {sig} {impl} threads={th}: FAILED (see {out})",
                                      file=sys.stderr)
                                continue
                            raw.write(line + "\n")
                            r = json.loads(line[7:])
                            runs.append(r)
                            if "na" in r:
                                break
                        if not runs:
                            continue
                        if "na" in runs[0]:
                            results[(sig, impl, th)] = runs[0]
                        else:
                            runs.sort(key=lambda r: r["app_us"])
                            results[(sig, impl, th)] = runs[(len(runs) - 1) // 2]
                        r = results[(sig, impl, th)]
                        print(f"== {sig:8} {impl:14} threads={th}: "
                              + ("n/a" if "na" in r else
                                 f"{r['app_us']:.2f} us/op (cpu {r['cpu_us']:.2f})"
                                 + (f", e2e {r['e2e_per_s']:,.0f}/s, lost {r['lost']}"
                                    if "e2e_per_s" in r else "")),
                              file=sys.stderr, flush=True)
        finally:
            rx.stop()

    table = render(results, signals, threads_list)
    raw.write(table)
    raw.close()
    print(table)
    return 0


def render(results: Dict[Tuple[str, str, int], Dict[str, Any]], signals: List[str],
           threads_list: List[int]) -> str:
    lines: List[str] = []
    w = lines.append
    for sig in signals:
        w("")
        w(f"### {sig}")
        w("")
        w("| threads | implementation | app µs/op | app-thread CPU µs/op | e2e ops/s | lost |")
        w("|---|---|---:|---:|---:|---:|")
        for th in threads_list:
            for impl in SIGNAL_IMPLS[sig]:
                r = results.get((sig, impl, th))
                if r is None:
                    w(f"| {th} | {impl} | failed | | | |")
                elif "na" in r:
                    w(f"| {th} | {impl} | n/a | n/a | n/a | |")
                else:
                    e2e = _fmt(r["e2e_per_s"]) if "e2e_per_s" in r else "—"
                    lost = str(r.get("lost", "—"))
                    w(f"| {th} | {impl} | {r['app_us']:.2f} | {r['cpu_us']:.2f} | {e2e} | {lost} |")
        w("")
        # ratios
        for th in threads_list:
            def get(impl: str) -> Optional[Dict[str, Any]]:
                r = results.get((sig, impl, th))
                return None if r is None or "na" in r else r
            sdk, ours = get("sdk"), get("otelbridge")
            parts = []
            if sig == "logs":
                floor = get("floor")
                if floor and ours:
                    over = ours["app_us"] - floor["app_us"]
                    over_cpu = ours["cpu_us"] - floor["cpu_us"]
                    parts.append(f"otelbridge over the floor: {over:+.2f} µs wall, "
                                 f"{over_cpu:+.2f} µs app-thread CPU (target ≤ 1.5) "
                                 f"{'OK' if over_cpu <= 1.5 else 'MISSED'}")
                if floor and sdk:
                    parts.append(f"sdk over the floor: {sdk['app_us'] - floor['app_us']:+.2f} µs "
                                 f"wall, {sdk['cpu_us'] - floor['cpu_us']:+.2f} µs CPU")
                if sdk and ours and sdk.get("e2e_per_s") and ours.get("e2e_per_s"):
                    ratio = ours["e2e_per_s"] / sdk["e2e_per_s"]
                    parts.append(f"e2e otelbridge/sdk: {ratio:.1f}x (target ≥ 4) "
                                 f"{'OK' if ratio >= 4 else 'MISSED'}")
                if sdk and ours:
                    parts.append(f"app sdk/otelbridge: {sdk['app_us'] / ours['app_us']:.1f}x")
            else:
                for name in ("otelbridge", "otelbridge-api"):
                    o = get(name)
                    if sdk and o:
                        ratio = sdk["app_us"] / o["app_us"]
                        parts.append(f"app sdk/{name}: {ratio:.1f}x (target ≥ 10) "
                                     f"{'OK' if ratio >= 10 else 'MISSED'}")
                    if sdk and o and sdk.get("e2e_per_s") and o.get("e2e_per_s"):
                        parts.append(f"e2e {name}/sdk: {o['e2e_per_s'] / sdk['e2e_per_s']:.1f}x")
            if parts:
                w(f"- {th} thread{'s' if th > 1 else ''}: " + "; ".join(parts))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
