"""Helpers for the Python binding's tests (bindings/python): build the cffi extension once per
session (the `pkg_dir` fixture in conftest.py calls build_package), run a scenario in a
subprocess, and read what the file exporter wrote, decoded with the official opentelemetry-proto.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Dict, Optional

import oracle
import otb

REPO = Path(__file__).resolve().parents[2]
BINDING = REPO / "bindings" / "python"


def build_package(out: Path, python: str = sys.executable,
                  env_extra: Optional[Dict[str, str]] = None) -> Path:
    """Copies the otelbridge package into `out` and compiles its cffi extension there, against
    this checkout (OTELBRIDGE_PREFIX=<repo>, the library of $OTELBRIDGE_LIBRARY's build dir),
    with `python` (another interpreter builds extensions for its own version)."""
    lib_path = otb.library_path()
    if not lib_path.exists():
        raise AssertionError(f"libotelbridge not found at {lib_path}")
    shutil.copytree(BINDING / "otelbridge", out / "otelbridge")
    env = dict(os.environ, OTELBRIDGE_PREFIX=str(REPO),
               OTELBRIDGE_BUILD_DIR=str(lib_path.resolve().parent.parent), **(env_extra or {}))
    # The same builder setup.py uses (cffi_modules), compiled in place: no wheel/pip needed.
    # Then otelbridge._speedups (the hot paths in C), as setup.py's build_ext builds it.
    code = ("import runpy; ns = runpy.run_path(%r); ns['ffibuilder'].compile(tmpdir=%r); "
            "ns['build_speedups'](%r, %r)"
            % (str(BINDING / "otelbridge_build.py"), str(out), str(out), str(out / "build-speedups")))
    r = subprocess.run([python, "-c", code], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, f"building the binding failed:\n{r.stdout}\n{r.stderr}"
    assert list((out / "otelbridge").glob("_native*.so")), "no extension module was built"
    assert list((out / "otelbridge").glob("_speedups*.so")), "otelbridge._speedups was not built"
    return out


def pip_install(out: Path) -> Path:
    """`pip install --target out --no-deps --no-build-isolation bindings/python`: the real package
    build (pyproject.toml) with its dist-info, so its entry points (opentelemetry_distro,
    opentelemetry_configurator) are visible to importlib.metadata when PYTHONPATH=out."""
    env = dict(os.environ, OTELBRIDGE_PREFIX=str(REPO),
               OTELBRIDGE_BUILD_DIR=str(otb.library_path().resolve().parent.parent))
    # A copy of the source tree: pip/setuptools write build/ and *.egg-info next to it.
    src = out.parent / (out.name + "-src")
    shutil.copytree(BINDING, src, ignore=shutil.ignore_patterns("build", "*.egg-info",
                                                                "__pycache__", "*.so"))
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--no-build-isolation", "--disable-pip-version-check",
                        "--target", str(out), str(src)],
                       env=env, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise AssertionError(f"pip install of the binding failed:\n{r.stdout}\n{r.stderr}")
    if not list((out / "otelbridge").glob("_native*.so")):
        raise AssertionError("pip install produced no extension module")
    if not list((out / "otelbridge").glob("_speedups*.so")):
        raise AssertionError("pip install did not build otelbridge._speedups")
    return out


def child_env(pkg_dir: Path, extra: Optional[Dict[str, str]] = None) -> Dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith("OTEL_") or k.startswith("OTELBRIDGE_"))}
    env["PYTHONPATH"] = str(pkg_dir)
    env.update(extra or {})
    return env


def run_child(pkg_dir: Path, body: str, tmp_path: Path, check: bool = True,
              env: Optional[Dict[str, str]] = None, timeout: float = 30,
              args: Optional[list] = None):
    """Runs `body` (dedented) as tmp_path/child.py with argv[1] = tmp_path/out.bin (or `args`),
    the package on PYTHONPATH and no inherited OTEL_*/OTELBRIDGE_* variables."""
    script = tmp_path / "child.py"
    script.write_text(textwrap.dedent(body))
    argv = [str(a) for a in (args if args is not None else [tmp_path / "out.bin"])]
    r = subprocess.run([sys.executable, str(script), *argv], env=child_env(pkg_dir, env),
                       capture_output=True, text=True, timeout=timeout, cwd=tmp_path)
    if check:
        assert r.returncode == 0, f"child failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r


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


def read_logs(path: Path):
    """[(resource attrs, scope name, LogRecord)] in export order."""
    out = []
    data = path.read_bytes() if path.exists() else b""
    for frame in oracle.read_frames(data):
        req = oracle.decode_frame(frame)
        assert not oracle.has_unknown_fields(req)
        for rl in req.resource_logs:
            for sl in rl.scope_logs:
                for rec in sl.log_records:
                    out.append((attrs_of(rl.resource), sl.scope.name, rec))
    return out


def rx_logs(rx):
    """[(resource attrs, scope name, LogRecord)] the real receiver got, in arrival order, each
    request parsed with the official opentelemetry-proto (from the receiver's OTLP/JSON)."""
    out = []
    path = rx.out / "logs.jsonl"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    for line in text.split("\n"):
        if not line:
            continue
        req = oracle.json_line_to_request(line)
        for rl in req.resource_logs:
            for sl in rl.scope_logs:
                for rec in sl.log_records:
                    out.append((attrs_of(rl.resource), sl.scope.name, rec))
    return out


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http_ready(url: str, proc: subprocess.Popen, log_path: Path, timeout: float = 30) -> None:
    """Polls GET url until it answers 200; fails with the server's log if the process exits or
    the timeout passes (httpx, as the server tests use)."""
    import time

    import httpx

    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert proc.poll() is None, log_path.read_text(errors="replace")
        assert time.monotonic() < deadline, f"{url} did not answer within {timeout} s"
        time.sleep(0.1)
