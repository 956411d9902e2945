"""The Python binding is typed (issue 6: py.typed, annotations): mypy --strict finds nothing in
bindings/python/otelbridge, with the stubs of its C extensions (_native.pyi, _speedups.pyi) and
py.typed shipped beside the code. Unused `type: ignore` comments are not errors here: whether an
ignore is needed can change with the versions of mypy and opentelemetry-api."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PKG = Path(__file__).resolve().parents[2] / "bindings" / "python" / "otelbridge"


def test_package_ships_its_type_information():
    for name in ("py.typed", "_native.pyi", "_speedups.pyi"):
        assert (PKG / name).is_file(), f"{name} missing from the package"


def test_mypy_strict_is_clean(tmp_path):
    r = subprocess.run([sys.executable, "-m", "mypy", "--strict", "--no-warn-unused-ignores",
                        "--cache-dir", str(tmp_path / "cache"), str(PKG)],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, f"mypy --strict:\n{r.stdout}{r.stderr}"
