"""otelbridge: the Python binding of libotelbridge, one native OpenTelemetry engine per process.

    import logging, otelbridge
    otelbridge.configure(service_name="checkout", logs_exporter="otlp")
    logging.getLogger(__name__).warning("card declined", extra={"order.id": 42})

configure(**settings) takes the library's configuration keys (docs/configuration.md) as keyword
arguments. The rule from keyword to key: upper-case it, then prefix OTEL_ unless it starts with
OTELBRIDGE_:

    service_name="x"            -> OTEL_SERVICE_NAME=x
    logs_exporter="file"        -> OTEL_LOGS_EXPORTER=file
    blrp_schedule_delay=50      -> OTEL_BLRP_SCHEDULE_DELAY=50
    otelbridge_file_path="/t"   -> OTELBRIDGE_FILE_PATH=/t

Values: str as given, bool as "true"/"false", int/float with str(); None is skipped. Values given
here win over the environment, which the library reads for every key not given. Keys of the form
OTEL_PYTHON_* are settings of this binding, not of the library:

    python_log_code_attributes=True  -> code.file.path / code.function.name / code.line.number
    python_log_correlation=True      -> otelTraceID/otelSpanID/otelTraceSampled/otelServiceName on
                                        every LogRecord, and logging.basicConfig() with
    python_log_format="..."             this format (default: the LoggingInstrumentor's) and
    python_log_level="info"             this level (debug, info, warning, error)
    python_flush_on_sigterm=True     (otelbridge's own key, OTEL_PYTHON_FLUSH_ON_SIGTERM) on
                                     SIGTERM, flush (bounded by OTELBRIDGE_EXIT_TIMEOUT), then
                                     die by SIGTERM as before; see _install_sigterm_flush

Where things go:
  - The engine's own diagnostics (export failures, bad environment values...) go to stderr, one
    line each, at OTEL_LOG_LEVEL (default info). They are deliberately NOT routed into `logging`:
    they can come from the engine's worker thread and from the library's exit handler after the
    interpreter is finalized, and a record of ours about a failing export would feed the same
    failing export (the recursion the official SDK keeps fixing).
  - multiprocessing children (fork/forkserver) flush before their os._exit (see below); spawn
    and forkserver children must call configure() themselves (they do not inherit the engine).

Keyword arguments that are not configuration keys:
    attach_handler=True   attach otelbridge.logging.Handler to the root logger (the root
                          logger's level is left alone: set it as you would for any handler)
"""

from __future__ import annotations

import atexit
import logging as _stdlib_logging
import os
import sys
import threading
from typing import Any, Callable, Dict, List, Optional, Union

from ._native import ffi, lib

__all__ = [
    "OtelBridgeError",
    "ConfigurationError",
    "configure",
    "flush",
    "shutdown",
    "setting_key",
    "version",
    "is_configured",
]

__version__ = "0.1.0"

SettingValue = Union[str, bool, int, float, None]

_ERR_LEN = 1024
_DEFAULT_EXIT_TIMEOUT_S = 5.0

_state_lock = threading.Lock()
_configured = False
_shut_down = False
_handler: Optional[_stdlib_logging.Handler] = None
_exit_timeout_s = _DEFAULT_EXIT_TIMEOUT_S
_python_settings: Dict[str, str] = {}
_configure_hooks: List[Callable[[], None]] = []
_exit_hooks: List[Callable[[], None]] = []
_native_settings: Dict[str, str] = {}


class OtelBridgeError(RuntimeError):
    """A call into libotelbridge failed. `status` is the OTEL_E_* code, `message` its text."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class ConfigurationError(OtelBridgeError, ValueError):
    """configure() was given a key the library does not know or a value that does not parse."""


def version() -> str:
    """The native library's version, "MAJOR.MINOR.PATCH"."""
    return str(ffi.string(lib.otel_version()).decode())


def _status_text(status: int) -> str:
    return str(ffi.string(lib.otel_status_str(status)).decode("utf-8", "replace"))


def _err_text(buf: Any, status: int) -> str:
    msg = ffi.string(buf).decode("utf-8", "replace")
    return msg or _status_text(status)


def _ostr(b: bytes) -> Any:
    """An otel_str tuple over b (the caller keeps b alive for the call)."""
    return (ffi.from_buffer(b), len(b))


def setting_key(name: str) -> str:
    """The configuration key for a configure() keyword: upper-cased, OTEL_-prefixed unless it
    starts with OTELBRIDGE_."""
    key = name.upper()
    return key if key.startswith("OTELBRIDGE_") else "OTEL_" + key


def _value_text(value: SettingValue) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, str):
        return value
    raise TypeError(f"expected str, bool, int or float, got {type(value).__name__}")


def _add_hooks(on_configure: Optional[Callable[[], None]] = None,
               at_exit: Optional[Callable[[], None]] = None) -> None:
    """For the binding's modules: on_configure runs once configure() succeeded (at once if it
    already did); at_exit runs at interpreter exit after the exit flush (and after shutdown())."""
    if at_exit is not None:
        _exit_hooks.append(at_exit)
    if on_configure is not None:
        with _state_lock:
            _configure_hooks.append(on_configure)
            now = _configured
        if now:
            on_configure()


def _run_hooks(hooks: List[Callable[[], None]]) -> None:
    for hook in list(hooks):
        try:
            hook()
        except Exception:
            pass


def python_setting(key: str, default: str = "") -> str:
    """An OTEL_PYTHON_* setting: the value given to configure(), else the environment."""
    if key in _python_settings:
        return _python_settings[key]
    return os.environ.get(key, default)


def is_configured() -> bool:
    """True once configure() succeeded (and until shutdown())."""
    return _configured and not _shut_down


def _timeout_ms(timeout_s: Optional[float]) -> int:
    # The ABI's 0 means "no limit": None asks for that; any other value is at least 1 ms.
    if timeout_s is None:
        return 0
    return max(1, min(int(round(timeout_s * 1000.0)), 0xFFFFFFFF))


def configure(*, attach_handler: bool = True, **settings: SettingValue) -> None:
    """Creates the process-wide engine. See the module docstring for the keyword rule.

    Raises ConfigurationError (with the library's message) for an unknown key or a bad value,
    OtelBridgeError if the engine cannot start or already exists.
    """
    global _configured, _handler, _exit_timeout_s
    with _state_lock:
        if _configured:
            raise OtelBridgeError(-10, "otelbridge.configure() was already called in this "
                                       "process")
        native: Dict[str, str] = {}
        python: Dict[str, str] = {}
        for name, value in settings.items():
            if value is None:
                continue
            key = setting_key(name)
            try:
                text = _value_text(value)
            except TypeError as e:
                raise ConfigurationError(-3, f"{name} ({key}): {e}") from None
            (python if key.startswith("OTEL_PYTHON_") else native)[key] = text
        for key in python:
            if key not in _KNOWN_PYTHON_KEYS:
                raise ConfigurationError(-2, f"unknown setting {key} (known binding settings: "
                                             f"{', '.join(sorted(_KNOWN_PYTHON_KEYS))})")

        cfg_p = ffi.new("otel_config **")
        st = lib.otel_config_new(cfg_p)
        if st != 0:
            raise OtelBridgeError(st, f"otel_config_new: {_status_text(st)}")
        cfg = cfg_p[0]
        err = ffi.new("char[]", _ERR_LEN)
        try:
            for key, text in native.items():
                kb, vb = key.encode(), text.encode("utf-8", "surrogatepass")
                st = lib.otel_config_set(cfg, _ostr(kb), _ostr(vb), err, _ERR_LEN)
                if st != 0:
                    raise ConfigurationError(st, f"{key}={text!r}: {_err_text(err, st)}")
            lang = b"python"
            st = lib.otel_config_set_sdk_language(cfg, _ostr(lang))
            if st != 0:
                raise OtelBridgeError(st, f"otel_config_set_sdk_language: {_status_text(st)}")
            err[0] = b"\0"
            st = lib.otel_init(cfg, err, _ERR_LEN)
            if st != 0:
                cls = ConfigurationError if st in (-2, -3) else OtelBridgeError
                raise cls(st, f"otel_init: {_err_text(err, st)}")
        finally:
            lib.otel_config_free(cfg)

        _python_settings.update(python)
        _native_settings.update(native)
        exit_ms = native.get("OTELBRIDGE_EXIT_TIMEOUT") or os.environ.get("OTELBRIDGE_EXIT_TIMEOUT")
        try:
            _exit_timeout_s = int(exit_ms) / 1000.0 if exit_ms else _DEFAULT_EXIT_TIMEOUT_S
        except ValueError:
            _exit_timeout_s = _DEFAULT_EXIT_TIMEOUT_S
        _configured = True

    from . import logging as _otel_logging

    _otel_logging.install_record_factory()
    if python_setting("OTEL_PYTHON_LOG_CORRELATION", "false").strip().lower() == "true":
        _otel_logging.configure_correlation(python_setting("OTEL_PYTHON_LOG_FORMAT"),
                                            python_setting("OTEL_PYTHON_LOG_LEVEL"))
    if attach_handler:
        _handler = _otel_logging.Handler()
        _stdlib_logging.getLogger().addHandler(_handler)
    _install_process_hooks()
    if python_setting("OTEL_PYTHON_FLUSH_ON_SIGTERM", "false").strip().lower() == "true":
        _install_sigterm_flush()
    _run_hooks(_configure_hooks)
    atexit.register(_at_exit)


_KNOWN_PYTHON_KEYS = frozenset({"OTEL_PYTHON_LOG_CODE_ATTRIBUTES", "OTEL_PYTHON_LOG_CORRELATION",
                                "OTEL_PYTHON_LOG_FORMAT", "OTEL_PYTHON_LOG_LEVEL",
                                "OTEL_PYTHON_FLUSH_ON_SIGTERM"})


def service_name() -> str:
    """The service.name the engine uses: OTEL_SERVICE_NAME (configure() or the environment), else
    service.name in OTEL_RESOURCE_ATTRIBUTES, else "unknown_service:<executable>"."""
    name = _native_settings.get("OTEL_SERVICE_NAME") or os.environ.get("OTEL_SERVICE_NAME")
    if name:
        return name
    ra = _native_settings.get("OTEL_RESOURCE_ATTRIBUTES") or os.environ.get(
        "OTEL_RESOURCE_ATTRIBUTES", "")
    for item in ra.split(","):
        k, sep, v = item.partition("=")
        if sep and k.strip() == "service.name":
            from urllib.parse import unquote
            return unquote(v.strip())
    try:
        exe = os.path.basename(os.readlink("/proc/self/exe"))
    except OSError:
        exe = os.path.basename(sys.executable)
    return "unknown_service:" + exe


def flush(timeout_s: Optional[float] = 5.0) -> bool:
    """Exports everything queued now. True when it all left, False on timeout.

    timeout_s=None waits without limit. Before configure() or after shutdown(): returns True
    (nothing to flush)."""
    if not is_configured():
        return True
    st = lib.otel_engine_flush(ffi.NULL, _timeout_ms(timeout_s))
    if st == 0:
        return True
    if st == -8:  # OTEL_E_TIMEOUT
        return False
    if st in (-7, -9):  # shut down / not initialised meanwhile
        return True
    raise OtelBridgeError(st, f"otel_engine_flush: {_status_text(st)}")


def shutdown(timeout_s: Optional[float] = 5.0) -> bool:
    """Flushes, then stops the engine; detaches the handler configure() attached.

    True when everything was exported, False on timeout (the rest is counted as dropped).
    Calling it again, or before configure(), returns True and does nothing."""
    global _shut_down, _handler
    with _state_lock:
        if not _configured or _shut_down:
            return True
        _shut_down = True
        h, _handler = _handler, None
    if h is not None:
        _stdlib_logging.getLogger().removeHandler(h)
    st = lib.otel_engine_shutdown(ffi.NULL, _timeout_ms(timeout_s))
    if st in (0, -7):
        return True
    if st == -8:
        return False
    raise OtelBridgeError(st, f"otel_engine_shutdown: {_status_text(st)}")


# ---- multiprocessing -------------------------------------------------------------------------
# A multiprocessing child (fork and forkserver start methods) ends with os._exit(), so neither
# atexit nor the library's C atexit runs there: what the child logged since the engine's last
# export would be lost. multiprocessing runs its own exit function (util._exit_function) before
# os._exit, and that runs the util.Finalize callbacks with an exit priority. We register one (at
# the lowest priority, so it runs after the other finalizers, which may still log) that flushes
# the engine, bounded by the exit timeout. multiprocessing clears the finalizer registry in every
# new child, so the registration is renewed there by a util.register_after_fork callback.
# Not covered: a child killed by a signal (Pool.terminate(), also Pool's `with` block, sends
# SIGTERM), and a bare os.fork() child that calls os._exit() itself: call otelbridge.flush()
# before those exits.

class _ForkToken:
    """register_after_fork keeps a weak reference to an object; this module-level one lives as
    long as the interpreter."""


_fork_token = _ForkToken()


def _install_process_hooks() -> None:
    try:
        import multiprocessing.util as mp_util
    except ImportError:  # pragma: no cover (a Python built without multiprocessing)
        return
    _register_mp_finalizer()
    mp_util.register_after_fork(_fork_token, _after_mp_fork)


def _after_mp_fork(_token: object) -> None:
    _register_mp_finalizer()


def _register_mp_finalizer() -> None:
    import multiprocessing.util as mp_util

    mp_util.Finalize(None, _mp_exit_flush, exitpriority=-(1 << 30))


def _mp_exit_flush() -> None:
    import multiprocessing

    if multiprocessing.parent_process() is None:
        return  # the main process: atexit (_at_exit) and the library's exit handler flush it
    try:
        flush(_exit_timeout_s)
    except Exception:
        pass


def _at_exit() -> None:
    # Bounded: never hang the interpreter's exit on an unreachable collector. The library also
    # flushes at exit(); this runs earlier, while Python objects are still alive.
    try:
        flush(_exit_timeout_s)
    except Exception:
        pass
    _run_hooks(_exit_hooks)


# ---- SIGTERM ------------------------------------------------------------------------------------
# SIGTERM's default action kills the process without atexit, so whatever is still queued is lost.
# Servers that handle SIGTERM themselves and then re-raise it with the default action restored
# (uvicorn: it captures the signal, shuts down gracefully, restores the handler it found and
# raises the signal again) end the same way. With OTEL_PYTHON_FLUSH_ON_SIGTERM=true, configure()
# installs a handler — only when SIGTERM's handler is the default, in the main thread, so it
# never displaces the application's or a server's own — that flushes (bounded by the exit
# timeout), restores the default action and re-raises: the process still dies by SIGTERM, with
# its telemetry exported. A server that saved the default before configure() ran (uvicorn's CLI
# imports the app after it took SIGTERM over) restores the default, not this handler: the
# setting cannot help there (run the server from code after configure(), or flush in its
# shutdown hook). Opt-in because it changes the process's signal disposition, which Python
# code, C extensions and process managers may rely on (a handler that is not SIG_DFL is
# inherited by fork() children, and Python runs it only between bytecodes, on the main thread:
# a main thread blocked in C code delays the exit by up to the timeout).

def _install_sigterm_flush() -> bool:
    import signal

    if threading.current_thread() is not threading.main_thread():
        return False
    try:
        if signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL:
            return False
        signal.signal(signal.SIGTERM, _on_sigterm)
    except (ValueError, OSError):
        return False
    return True


def _on_sigterm(signum: int, frame: Any) -> None:
    import signal

    try:
        flush(_exit_timeout_s)
    except Exception:
        pass
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGTERM)
