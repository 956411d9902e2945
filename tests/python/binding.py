"""Builds the Python binding (bindings/python) for tests, two ways.

build_in_place(out)  the cffi extension compiled into out/otelbridge next to a copy of the package
                     (no pip, no metadata): PYTHONPATH=out imports it.
pip_install(out)     `pip install --target out --no-deps --no-build-isolation bindings/python`: the
                     real package build (pyproject.toml), with its dist-info, so entry points
                     (opentelemetry_distro, opentelemetry_configurator) are visible to
                     importlib.metadata when PYTHONPATH=out.
Both build against this checkout: OTELBRIDGE_PREFIX=<repo>, the library from $OTELBRIDGE_LIBRARY's
build directory (otb.library_path()).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import otb

REPO = Path(__file__).resolve().parents[2]
BINDING = REPO / "bindings" / "python"


class BindingBuildError(AssertionError):
    pass


def _env() -> dict:
    lib_path = otb.library_path()
    if not lib_path.exists():
        raise BindingBuildError(f"libotelbridge not found at {lib_path}: build it first")
    return dict(os.environ, OTELBRIDGE_PREFIX=str(REPO),
                OTELBRIDGE_BUILD_DIR=str(lib_path.resolve().parent.parent))


def build_in_place(out: Path) -> Path:
    env = _env()
    shutil.copytree(BINDING / "otelbridge", out / "otelbridge")
    # The same builder setup.py uses (cffi_modules), compiled in place.
    code = ("import runpy; ns = runpy.run_path(%r); ns['ffibuilder'].compile(tmpdir=%r)"
            % (str(BINDING / "otelbridge_build.py"), str(out)))
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=180)
    if r.returncode != 0:
        raise BindingBuildError(f"building the binding failed:\n{r.stdout}\n{r.stderr}")
    if not list((out / "otelbridge").glob("_native*.so")):
        raise BindingBuildError("no extension module was built")
    return out


def pip_install(out: Path) -> Path:
    env = _env()
    # A copy of the source tree: pip/setuptools write build/ and *.egg-info next to it.
    src = out.parent / (out.name + "-src")
    shutil.copytree(BINDING, src, ignore=shutil.ignore_patterns("build", "*.egg-info",
                                                                "__pycache__", "*.so"))
    r = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps",
                        "--no-build-isolation", "--disable-pip-version-check",
                        "--target", str(out), str(src)],
                       env=env, capture_output=True, text=True, timeout=300)
    if r.returncode != 0:
        raise BindingBuildError(f"pip install of the binding failed:\n{r.stdout}\n{r.stderr}")
    if not list((out / "otelbridge").glob("_native*.so")):
        raise BindingBuildError("pip install produced no extension module")
    return out
