"""Records logged in multiprocessing children arrive, exactly once, at the real receiver
(issue 6, item 2).

fork and forkserver children end with os._exit() (no atexit, no C exit handler): otelbridge
registers a multiprocessing finalizer that flushes the engine first (otelbridge/__init__.py).
spawn and forkserver children do not inherit the engine and call configure() themselves (in the
Process target or the Pool initializer, as a user must). The schedule delay is 10 minutes and the
batches are larger than what a child logs, so nothing leaves a child unless that exit-time flush
runs: without it, this test receives no child record at all.
"""

from __future__ import annotations

import json
import time
from collections import Counter

import pytest

from pybinding import attrs_of, run_child, rx_logs

SCRIPT = r'''
import json, logging, multiprocessing as mp, os, sys
import otelbridge

METHOD, ENDPOINT = sys.argv[1], sys.argv[2]

def setup():
    otelbridge.configure(service_name="mp-test", logs_exporter="otlp",
                         exporter_otlp_protocol="grpc",
                         exporter_otlp_endpoint=ENDPOINT, blrp_schedule_delay=600000,
                         blrp_max_export_batch_size=512)
    logging.getLogger().setLevel(logging.INFO)

def child(k, n):
    if not otelbridge.is_configured():
        setup()
    log = logging.getLogger("child")
    for i in range(n):
        log.info("child record", extra={"k": k, "i": i})

def pool_init():
    if not otelbridge.is_configured():
        setup()

def pool_task(x):
    logging.getLogger("pool").info("pool record", extra={"x": x})
    return x * 2

if __name__ == "__main__":
    mp.set_start_method(METHOD)
    setup()
    logging.getLogger("parent").info("before")
    procs = [mp.Process(target=child, args=(k, 100)) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
    codes = [p.exitcode for p in procs]
    pool = mp.Pool(2, initializer=pool_init)
    results = pool.map(pool_task, range(50), chunksize=5)
    pool.close()
    pool.join()
    assert results == [x * 2 for x in range(50)]
    logging.getLogger("parent").info("after")
    assert otelbridge.shutdown(10)
    print(json.dumps({"parent_pid": os.getpid(), "codes": codes,
                      "child_pids": [p.pid for p in procs]}))
'''


@pytest.mark.parametrize("method", ["fork", "forkserver", "spawn"])
def test_multiprocessing_children_records_arrive_once(pkg_dir, tmp_path, rx, method):
    r = run_child(pkg_dir, SCRIPT, tmp_path, args=[method, rx.grpc_endpoint], timeout=120)
    info = json.loads(r.stdout.strip().splitlines()[-1])
    assert info["codes"] == [0, 0, 0, 0], r.stderr
    expected = 2 + 4 * 100 + 50
    rx.wait_for(lambda s: s["logs"]["items"] >= expected, timeout=10)
    time.sleep(0.2)
    logs = rx_logs(rx)
    assert len(logs) == expected, Counter(s for _, s, _ in logs)

    parent_pid = info["parent_pid"]
    parent = [(res["process.pid"], rec.body.string_value) for res, s, rec in logs
              if s == "parent"]
    assert sorted(parent) == [(parent_pid, "after"), (parent_pid, "before")]

    child = Counter((attrs_of(rec)["k"], attrs_of(rec)["i"], res["process.pid"])
                    for res, s, rec in logs if s == "child")
    assert set(child.values()) == {1}
    assert {(k, i) for k, i, _ in child} == {(k, i) for k in range(4) for i in range(100)}
    # each child's records under its own process.pid
    assert {k: {p for kk, _, p in child if kk == k} for k in range(4)} == \
        {k: {pid} for k, pid in enumerate(info["child_pids"])}
    for res, s, rec in logs:
        assert res["service.name"] == "mp-test"
        assert res["telemetry.sdk.language"] == "python"

    pool = Counter(attrs_of(rec)["x"] for _, s, rec in logs if s == "pool")
    assert pool == Counter(range(50))
    pool_pids = {res["process.pid"] for res, s, _ in logs if s == "pool"}
    assert parent_pid not in pool_pids and 1 <= len(pool_pids) <= 2
