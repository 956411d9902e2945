"""Prefork servers: a C program emits, forks 4 children that emit and exit normally, and the file
exporter's output must hold exactly 5*N distinct records — the parent's queued records exported
once, by the parent, and each child's records under the child's own process.pid."""
import json
import os
import subprocess
from collections import Counter
from pathlib import Path

import pytest

BUILD = Path(os.environ.get("OTELBRIDGE_BUILD_DIR", Path(__file__).resolve().parents[2] / "build"))
EMITTER = BUILD / "tests" / "fork_emitter"


def _records(path):
    out = []
    for line in Path(path).read_text().split("\n"):
        if not line:
            continue
        req = json.loads(line)
        for rl in req["resourceLogs"]:
            pid = next(int(a["value"]["intValue"]) for a in rl["resource"]["attributes"] if a["key"] == "process.pid")
            for sl in rl["scopeLogs"]:
                for rec in sl["logRecords"]:
                    out.append((pid, rec["body"]["stringValue"]))
    return out


@pytest.mark.parametrize("n", [1, 500])
def test_prefork_exports_every_record_exactly_once(tmp_path, n):
    if not EMITTER.exists():
        pytest.fail(f"{EMITTER} not built")
    path = tmp_path / "logs.jsonl"
    proc = subprocess.run([str(EMITTER), str(path), str(n)], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    parent_pid = int(proc.stdout.split("parent_pid=")[1])
    recs = _records(path)
    bodies = Counter(body for _, body in recs)
    assert len(recs) == 5 * n, f"expected {5 * n} records, got {len(recs)}"
    assert all(c == 1 for c in bodies.values()), "a record was exported twice"
    expected = {f"{who}-{i}" for who in ["parent", "child0", "child1", "child2", "child3"] for i in range(n)}
    assert set(bodies) == expected
    pids = {}
    for pid, body in recs:
        pids.setdefault(body.rsplit("-", 1)[0], set()).add(pid)
    assert pids["parent"] == {parent_pid}, "the parent's queued records are exported by the parent"
    child_pids = [pids[f"child{k}"] for k in range(4)]
    assert all(len(p) == 1 for p in child_pids)
    assert len(set().union(*child_pids) | {parent_pid}) == 5, "each child reports its own process.pid"
