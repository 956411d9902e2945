"""Installing the Python binding (issue 6, item 1), and the ABI from plain ctypes.

  - `python -m build --sdist` (its file list checked), then pip install of that sdist into a
    fresh venv, the library BUILT FROM SOURCE AND BUNDLED (no pkg-config finds one;
    OTELBRIDGE_SOURCE_DIR names the tree, which the sdist does not carry; the existing build directory is reused through
    OTELBRIDGE_BUILD_DIR so the native build is incremental);
  - pip install into a fresh venv against an INSTALLED library found by pkg-config
    (cmake --install into a temporary prefix);
  - bindings/python/examples/ctypes_smoke.py: no cffi, no compiler, one record to the real
    receiver.
Each installed package imports, emits one record through the file exporter, and the record is
decoded with opentelemetry-proto; the process's memory map shows which libotelbridge it loaded.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import otb
from pybinding import BINDING, REPO, attrs_of, read_logs, rx_logs

USE = r'''
import logging, sys
import otelbridge
otelbridge.configure(service_name="installed", logs_exporter="file",
                     otelbridge_file_path=sys.argv[1], otelbridge_file_format="proto")
logging.getLogger("installed.app").warning("installed %s", "ok", extra={"n": 1})
assert otelbridge.shutdown(10)
maps = open("/proc/self/maps").read().split("\n")
print(otelbridge.__file__)
print(sorted({l.split()[-1] for l in maps if "libotelbridge" in l}))
'''


def _clean_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("OTEL_", "OTELBRIDGE_", "PKG_CONFIG", "PYTHON"))}
    env.update(extra)
    return env


# What the sdist must carry to build (MANIFEST.in); the C library's sources are not in it.
SDIST_NEEDS = {"setup.py", "pyproject.toml", "otelbridge_build.py", "README.md",
               "otelbridge/_speedups.c", "otelbridge/py.typed", "otelbridge/_native.pyi",
               "otelbridge/_speedups.pyi", "otelbridge/__init__.py", "otelbridge/api/trace.py",
               "examples/ctypes_smoke.py"}


def _sdist(tmp_path: Path) -> Path:
    """`python -m build --sdist` of a copy of bindings/python; checks its file list."""
    import tarfile

    src = tmp_path / "sdist-src"
    shutil.copytree(BINDING, src, ignore=shutil.ignore_patterns("build", "*.egg-info", "*.so*",
                                                                 "__pycache__"))
    r = subprocess.run([sys.executable, "-m", "build", "--sdist", "--no-isolation", "-o",
                        str(tmp_path / "dist"), str(src)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, f"build --sdist failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    [sdist] = (tmp_path / "dist").glob("otelbridge-*.tar.gz")
    with tarfile.open(sdist) as tf:
        names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    assert SDIST_NEEDS <= names, SDIST_NEEDS - names
    assert not [n for n in names if n.endswith(".so") or "__pycache__" in n], names
    return sdist


def _venv_install(tmp_path: Path, env: dict, from_sdist: bool = False) -> Path:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=60)
    if from_sdist:
        src = _sdist(tmp_path)
    else:
        src = tmp_path / "pkg-src"
        shutil.copytree(BINDING, src, ignore=shutil.ignore_patterns("build", "*.egg-info",
                                                                     "*.so*", "__pycache__"))
    r = subprocess.run([str(venv / "bin" / "pip"), "install", "--no-cache-dir", "-q", str(src)],
                       env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, f"pip install failed:\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return venv


def _use(venv: Path, tmp_path: Path):
    script = tmp_path / "use.py"
    script.write_text(USE)
    out = tmp_path / "out.bin"
    r = subprocess.run([str(venv / "bin" / "python"), str(script), str(out)], env=_clean_env(),
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    pkg_file, maps = r.stdout.strip().splitlines()[-2:]
    [(res, scope, rec)] = read_logs(out)
    assert res["service.name"] == "installed" and res["telemetry.sdk.language"] == "python"
    assert scope == "installed.app" and rec.body.string_value == "installed ok"
    assert rec.severity_number == 13 and attrs_of(rec) == {"n": 1}
    return Path(pkg_file), eval(maps)


def test_pip_install_builds_and_bundles(tmp_path):
    build_dir = otb.library_path().resolve().parent.parent
    empty = tmp_path / "no-pkgconfig"
    empty.mkdir()
    env = _clean_env(OTELBRIDGE_SOURCE_DIR=str(REPO), OTELBRIDGE_BUILD_DIR=str(build_dir),
                     PKG_CONFIG_LIBDIR=str(empty), PKG_CONFIG_PATH=str(empty))
    venv = _venv_install(tmp_path, env, from_sdist=True)  # the real sdist, built and installed
    pkg_file, maps = _use(venv, tmp_path)
    pkg = pkg_file.parent
    assert str(pkg).startswith(str(venv)), pkg
    assert list(pkg.glob("_speedups*.so")), "the sdist did not build otelbridge._speedups"
    bundled = pkg / "libotelbridge.so.0"
    assert bundled.is_file() and not bundled.is_symlink()
    assert maps == [str(bundled)], maps  # the bundled copy, not the build directory's
    dyn = subprocess.run(["readelf", "-d", str(next(pkg.glob("_native*.so")))],
                         capture_output=True, text=True, check=True).stdout
    assert "[libotelbridge.so.0]" in dyn and "$ORIGIN" in dyn, dyn
    soname = subprocess.run(["readelf", "-d", str(bundled)], capture_output=True, text=True,
                            check=True).stdout
    assert "Library soname: [libotelbridge.so.0]" in soname


def test_pip_install_against_pkg_config(tmp_path):
    build_dir = otb.library_path().resolve().parent.parent
    prefix = tmp_path / "prefix"
    # what `cmake --install` installs: the library, the header, pkg-config, the diagnose tool
    subprocess.run(["cmake", "--build", str(build_dir), "--target", "otelbridge",
                    "otelbridge-diagnose", "-j", "2"], check=True, capture_output=True,
                   timeout=600)
    subprocess.run(["cmake", "--install", str(build_dir), "--prefix", str(prefix)], check=True,
                   capture_output=True, timeout=120)
    [pc] = list(prefix.glob("lib*/pkgconfig/otelbridge.pc")) + \
        list(prefix.glob("lib/*/pkgconfig/otelbridge.pc"))
    env = _clean_env(PKG_CONFIG_PATH=str(pc.parent))
    venv = _venv_install(tmp_path, env)
    pkg_file, maps = _use(venv, tmp_path)
    assert not list(pkg_file.parent.glob("libotelbridge*")), "nothing bundled"
    assert len(maps) == 1 and maps[0].startswith(str(prefix)), maps


def test_ctypes_smoke_example(tmp_path, rx):
    script = BINDING / "examples" / "ctypes_smoke.py"
    env = _clean_env(OTEL_SERVICE_NAME="ctypes-smoke", OTEL_LOGS_EXPORTER="otlp",
                     OTEL_EXPORTER_OTLP_ENDPOINT=rx.http_endpoint)
    r = subprocess.run([sys.executable, "-S", str(script), str(otb.library_path())], env=env,
                       capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("ok "), r.stdout
    [(res, scope, rec)] = rx_logs(rx)
    assert res["service.name"] == "ctypes-smoke"
    assert scope == "ctypes.smoke"
    assert rec.body.string_value == "hello from ctypes"
    assert (rec.severity_number, rec.severity_text) == (9, "INFO")
    assert attrs_of(rec) == {"smoke.id": 1}
    assert rec.time_unix_nano > 0 and rec.trace_id == b""
