"""Fixtures for the otelbridge Python tests.

lib              the loaded libotelbridge (session); a missing library is a test ERROR, never a skip.
engine_factory   builds FileEngine objects writing into the test's tmp_path; closes leftovers.
module_engine_factory  the same, per module (for a corpus emitted once and checked by many tests).
rx               a receiver (collector.py) for the test; modules with other needs define their own.
pkg_dir          the Python binding (bindings/python) with its cffi extension built against this
                 checkout, once per session (pybinding.py); put it on PYTHONPATH of a subprocess.
installed_binding_dir  the binding pip-installed into a target directory (with its entry points),
                 once per session.
"""

from __future__ import annotations

import os

import pytest

import collector
import oracle
import otb
import pybinding

# Variables that would change what an engine does; the C library reads the environment at
# otel_engine_new(), so the test process must not inherit them.
_KEEP = {"OTELBRIDGE_LIBRARY"}


@pytest.fixture(scope="session", autouse=True)
def clean_otel_environment():
    saved = {k: v for k, v in os.environ.items()
             if (k.startswith("OTEL_") or k.startswith("OTELBRIDGE_")) and k not in _KEEP}
    for k in saved:
        del os.environ[k]
    yield
    os.environ.update(saved)


@pytest.fixture(scope="session")
def lib() -> otb.Lib:
    path = otb.library_path()
    if not path.exists():
        pytest.fail(f"libotelbridge not found at {path}: build it (ninja -C build otelbridge) "
                    "or point OTELBRIDGE_LIBRARY at it", pytrace=False)
    return otb.load()


class FileEngine:
    """An engine made with otel_engine_new whose logs go to a file exporter."""

    def __init__(self, lib: otb.Lib, path, fmt: str = "proto", config: dict | None = None,
                 sdk_language: str | None = None, resource_attrs=None):
        self.lib = lib
        self.path = path
        self.fmt = fmt
        self.engine = None
        settings = {
            "OTEL_LOGS_EXPORTER": "file",
            "OTELBRIDGE_FILE_PATH": str(path),
            "OTELBRIDGE_FILE_FORMAT": fmt,
            "OTEL_BLRP_SCHEDULE_DELAY": "50",
        }
        settings.update(config or {})
        self.settings = settings
        cfg = lib.config_new()
        try:
            for k, v in settings.items():
                st, err = lib.config_set(cfg, k, v)
                assert st == otb.OTEL_OK, (
                    f"otel_config_set({k}={v!r}) returned {otb.status_name(st)}: {err}")
            if sdk_language is not None:
                st = lib.config_set_sdk_language(cfg, sdk_language)
                assert st == otb.OTEL_OK, f"otel_config_set_sdk_language: {otb.status_name(st)}"
            if resource_attrs is not None:
                st, err = lib.config_add_resource_attrs(cfg, resource_attrs)
                assert st == otb.OTEL_OK, f"otel_config_add_resource_attrs: {otb.status_name(st)}: {err}"
            st, engine, err = lib.engine_new(cfg)
            assert st == otb.OTEL_OK and engine, f"otel_engine_new returned {otb.status_name(st)}: {err}"
            self.engine = engine
        finally:
            lib.config_free(cfg)

    # -- scopes and records
    def scope(self, name, version="", schema_url="", attrs=None) -> int:
        st, handle = self.lib.scope_get(self.engine, name, version, schema_url, attrs)
        assert st == otb.OTEL_OK and handle, f"otel_scope_get({name!r}) returned {otb.status_name(st)}"
        return handle

    def emit(self, scope, **kw) -> int:
        return self.lib.log_emit(scope, **kw)

    # -- lifecycle
    def stats(self) -> dict[str, int]:
        st, values = self.lib.engine_stats(self.engine, otb.OTEL_SIGNAL_LOGS)
        assert st == otb.OTEL_OK, f"otel_engine_stats returned {otb.status_name(st)}"
        return dict(zip(otb.STAT_NAMES, values))

    def shutdown(self, timeout_ms: int = 5000) -> int:
        return self.lib.engine_shutdown(self.engine, timeout_ms)

    def free(self) -> int:
        st = self.lib.engine_free(self.engine)
        self.engine = None
        return st

    def close(self) -> dict[str, int]:
        """shutdown(5000), stats after shutdown, then free. Returns the statuses and stats."""
        result = {"shutdown": self.shutdown(5000)}
        result["stats"] = self.stats()
        result["free"] = self.free()
        return result

    # -- output
    def read_bytes(self) -> bytes:
        return self.path.read_bytes() if self.path.exists() else b""

    def proto_frames(self) -> list[bytes]:
        return oracle.read_frames(self.read_bytes())

    def proto_requests(self):
        return [oracle.decode_frame(f) for f in self.proto_frames()]

    def json_lines(self) -> list[str]:
        text = self.read_bytes().decode("utf-8")
        assert text == "" or text.endswith("\n"), "the JSON file must end with a newline"
        # split on "\n" only: str.splitlines() would also split inside strings at U+2028 etc.
        return text.split("\n")[:-1] if text else []

    def json_requests(self):
        return [oracle.json_line_to_request(line) for line in self.json_lines()]

    def requests(self):
        return self.proto_requests() if self.fmt == "proto" else self.json_requests()


class EngineFactory:
    def __init__(self, lib: otb.Lib, directory):
        self.lib = lib
        self.dir = directory
        self.engines: list[FileEngine] = []

    def __call__(self, fmt: str = "proto", config: dict | None = None, name: str = "out",
                 **kw) -> FileEngine:
        path = self.dir / f"{name}-{len(self.engines)}.{'bin' if fmt == 'proto' else 'jsonl'}"
        e = FileEngine(self.lib, path, fmt, config, **kw)
        self.engines.append(e)
        return e

    def close_all(self):
        for e in self.engines:
            if e.engine:
                e.lib.engine_free(e.engine)
                e.engine = None


@pytest.fixture
def engine_factory(lib, tmp_path):
    f = EngineFactory(lib, tmp_path)
    yield f
    f.close_all()


@pytest.fixture(scope="module")
def module_engine_factory(lib, tmp_path_factory):
    f = EngineFactory(lib, tmp_path_factory.mktemp("engines"))
    yield f
    f.close_all()


@pytest.fixture
def rx(tmp_path):
    """A receiver for the test. List it BEFORE the engine fixture (engine_factory, otlp) in a
    test's arguments: fixtures are torn down in reverse order, so the engines are freed first. (An
    engine that is shut down but not freed keeps its gRPC connection, and the receiver's graceful
    stop then waits ~5 s for it.)"""
    r = collector.start(tmp_path / "rx")
    yield r
    if r.proc.poll() is None:
        r.stop()


@pytest.fixture(scope="session")
def pkg_dir(tmp_path_factory):
    return pybinding.build_package(tmp_path_factory.mktemp("otelbridge_py"))


@pytest.fixture(scope="session")
def installed_binding_dir(tmp_path_factory):
    try:
        return pybinding.pip_install(tmp_path_factory.mktemp("otelbridge_site") / "site")
    except AssertionError as e:
        pytest.fail(str(e), pytrace=False)
