"""otelbridge.metrics: metric instruments over libotelbridge's engine (native API).

    import otelbridge, otelbridge.metrics
    meter = otelbridge.metrics.get_meter("shop", "1.2.0")
    orders = meter.create_counter("shop.orders", unit="{order}")
    latency = meter.create_histogram("shop.latency", unit="s",
                                     explicit_bucket_boundaries_advisory=[0.01, 0.1, 1])
    otelbridge.configure(service_name="shop", metrics_exporter="otlp")
    orders.add(1, {"region": "eu"})

The shape is the official opentelemetry-api's (create_counter, add(amount, attributes),
observable instruments whose callbacks take CallbackOptions and return Observations), so
otelbridge.api.metrics.MeterProvider can hand these same objects to opentelemetry-api callers.

Number types. The ABI fixes an instrument's number type (int64 or double) when it is created;
the official SDK instead follows the values (counter.add(1) exports as_int, add(1.5) as_double).
We pick the type the way the SDK's output would be for an instrument fed one type:
  - counters, up-down counters and gauges: the first measurement decides (an int gives an int
    instrument, a float a double one), unless value_type=int / value_type=float is given. An int
    later recorded on a double instrument is exact (up to 2**53); a float recorded on an int
    instrument is rounded to the nearest integer (the SDK would switch to double; the ABI cannot).
  - histograms: always double (OTLP histograms carry a double sum whatever the values).
  - observable instruments: value_type (default float: no observation is ever rounded; give
    value_type=int to export as_int).

Names follow the spec's syntax (a letter, then letters, digits, '_', '.', '-', '/'; at most 255)
and units are ASCII of at most 63 characters: anything else raises InstrumentError at creation.

The record path: once an instrument exists in the engine, its add() / record() / set() is an
instance attribute bound to otelbridge._speedups.metric_record (functools.partial): one C call
that converts the attributes on the stack and calls the library with the GIL held (the call never
blocks), with no Python frame and no Python lock. The library finds an existing series from the
attributes as given (no cache here: 1, 1.0 and True are different attribute values, and a dict
may change between calls). bind(attributes) returns an object whose add() / record() / set()
skips the attribute conversion and the series lookup as well.

Lifecycle. Meters and instruments may be created before otelbridge.configure(): synchronous ones
resolve on their first measurement after it (measurements before it are dropped), observable ones
are registered when configure() runs. After otelbridge.shutdown() every call is a silent no-op.

Observable callbacks run on the engine's collection thread (its worker, or the Prometheus server
thread), which takes the GIL only for them; every callback of every instrument runs, one at a
time. A callback that raises is skipped for that collection: its exception is written to
sys.stderr (the first time, with the traceback; never through `logging`, which could route it
back into the engine) and counted in callback_errors(). Non-finite observations are skipped, as
the SDK does. A slow callback delays the collection (the engine waits for it) but not the others.
"""

from __future__ import annotations

import functools
import math
import re
import sys
import threading
import traceback
from dataclasses import dataclass
from types import GeneratorType
from typing import (Any, Callable, Dict, Generator, Iterable, List, Mapping, Optional, Sequence,
                    Set, Tuple, Union)

from . import OtelBridgeError, _add_hooks
from ._native import ffi, lib
from ._attrs import LOGS, convert as _attrs_convert, scope_get as _scope_get, utf8 as _utf8
from ._speedups import bound_record as _bound_record, metric_record as _metric_record

__all__ = [
    "get_meter", "Meter", "Counter", "UpDownCounter", "Histogram", "Gauge", "ObservableCounter",
    "ObservableUpDownCounter", "ObservableGauge", "Observation", "CallbackOptions",
    "InstrumentError", "callback_errors",
]

Attributes = Optional[Mapping[str, Any]]
Number = Union[int, float]

_COUNTER = 1
_UP_DOWN_COUNTER = 2
_HISTOGRAM = 3
_GAUGE = 4
_OBS_COUNTER = 5
_OBS_UP_DOWN_COUNTER = 6
_OBS_GAUGE = 7
_INT = 1
_DOUBLE = 2

_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9_./\-]{0,254}")
_UNIT_RE = re.compile(r"[\x00-\x7F]{0,63}")

_E_INVALID_ARG = -1


class InstrumentError(OtelBridgeError, ValueError):
    """An instrument could not be created: an invalid name, unit or bucket boundaries."""

    def __init__(self, message: str) -> None:
        super().__init__(_E_INVALID_ARG, message)


@dataclass(frozen=True)
class CallbackOptions:
    """What an observable callback is given (the official API's CallbackOptions shape)."""

    timeout_millis: float = 10_000


class Observation:
    """One value reported by an observable callback (the official API's Observation shape; the
    callbacks may return opentelemetry.metrics.Observation objects as well)."""

    __slots__ = ("value", "attributes", "context")

    def __init__(self, value: Number, attributes: Attributes = None,
                 context: Any = None) -> None:
        self.value = value
        self.attributes = attributes
        self.context = context

    def __repr__(self) -> str:
        return f"Observation(value={self.value!r}, attributes={self.attributes!r})"

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Observation) and self.value == other.value
                and self.attributes == other.attributes)


CallbackResult = Iterable[Any]
Callback = Union[Callable[[Any], CallbackResult], Generator[CallbackResult, Any, None]]


# ---- engine state -------------------------------------------------------------------------------

def _engine_ready() -> bool:
    from . import is_configured
    return is_configured()


_pending: List["_Observable"] = []          # observables created before configure()
_pending_lock = threading.Lock()             # creation only, never the record path
_handles: List[Any] = []                     # ffi handles the engine holds (live with it)


def _on_configure() -> None:
    with _pending_lock:
        todo = list(_pending)
        _pending.clear()
    for inst in todo:
        try:
            inst._register()
        except Exception:
            pass


def _detach() -> None:
    # After otelbridge's own exit flush: from here on the collection thread never enters Python,
    # which is about to be finalized (the library's exit() flush runs after that).
    lib.otelbridge_py_detach()


_add_hooks(on_configure=_on_configure, at_exit=_detach)


def _ostr(b: bytes) -> Any:
    return (ffi.from_buffer(b), len(b)) if b else (ffi.NULL, 0)


def _check(name: str, unit: str) -> Tuple[bytes, bytes]:
    if not isinstance(name, str) or _NAME_RE.fullmatch(name) is None:
        raise InstrumentError(
            f"invalid instrument name {name!r}: it must start with a letter, continue with "
            "letters, digits, '_', '.', '-' or '/', and be at most 255 characters")
    if unit is None:
        unit = ""
    if not isinstance(unit, str) or _UNIT_RE.fullmatch(unit) is None:
        raise InstrumentError(f"invalid unit {unit!r} for instrument {name!r}: at most 63 ASCII "
                              "characters")
    return name.encode("ascii"), unit.encode("ascii")


def _value_type(value_type: Optional[type], name: str) -> Optional[int]:
    if value_type is None:
        return None
    if value_type is int:
        return _INT
    if value_type is float:
        return _DOUBLE
    raise InstrumentError(f"value_type of {name!r} must be int, float or None, "
                          f"not {value_type!r}")


# ---- meter --------------------------------------------------------------------------------------

class Meter:
    """Creates instruments in one instrumentation scope (name, version, schema_url, attributes).
    Instruments with the same name, kind and unit in one meter share their series."""

    # The classes the create_* methods instantiate (otelbridge.api.metrics substitutes its own).
    _Counter: Any = None
    _UpDownCounter: Any = None
    _Histogram: Any = None
    _Gauge: Any = None
    _ObservableCounter: Any = None
    _ObservableUpDownCounter: Any = None
    _ObservableGauge: Any = None
    _callback_options: Any = CallbackOptions()

    def __init__(self, name: str, version: Optional[str] = None,
                 schema_url: Optional[str] = None, attributes: Attributes = None) -> None:
        self._name = name
        self._version = version
        self._schema_url = schema_url
        self._attributes = dict(attributes) if attributes else None
        self._scope: Any = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def version(self) -> Optional[str]:
        return self._version

    @property
    def schema_url(self) -> Optional[str]:
        return self._schema_url

    def _scope_handle(self) -> Any:
        """The native scope, or None before configure() / after shutdown()."""
        scope = self._scope
        if scope is None:
            if not _engine_ready():
                return None
            scope = _scope_get(self._name or "", self._version, self._schema_url,
                               self._attributes)
            if scope is None:
                return None
            self._scope = scope
        return scope

    # -- synchronous
    def create_counter(self, name: str, unit: str = "", description: str = "", *,
                       value_type: Optional[type] = None) -> "Counter":
        return (self._Counter or Counter)(self, _COUNTER, name, unit, description, value_type)

    def create_up_down_counter(self, name: str, unit: str = "", description: str = "", *,
                               value_type: Optional[type] = None) -> "UpDownCounter":
        return (self._UpDownCounter or UpDownCounter)(self, _UP_DOWN_COUNTER, name, unit,
                                                      description, value_type)

    def create_histogram(self, name: str, unit: str = "", description: str = "", *,
                         explicit_bucket_boundaries_advisory: Optional[Sequence[float]] = None
                         ) -> "Histogram":
        return (self._Histogram or Histogram)(self, name, unit, description,
                                              explicit_bucket_boundaries_advisory)

    def create_gauge(self, name: str, unit: str = "", description: str = "", *,
                     value_type: Optional[type] = None) -> "Gauge":
        return (self._Gauge or Gauge)(self, _GAUGE, name, unit, description, value_type)

    # -- observable
    def create_observable_counter(self, name: str, callbacks: Optional[Sequence[Callback]] = None,
                                  unit: str = "", description: str = "", *,
                                  value_type: Optional[type] = float) -> "ObservableCounter":
        return (self._ObservableCounter or ObservableCounter)(
            self, _OBS_COUNTER, name, callbacks, unit, description, value_type)

    def create_observable_up_down_counter(
            self, name: str, callbacks: Optional[Sequence[Callback]] = None, unit: str = "",
            description: str = "", *,
            value_type: Optional[type] = float) -> "ObservableUpDownCounter":
        return (self._ObservableUpDownCounter or ObservableUpDownCounter)(
            self, _OBS_UP_DOWN_COUNTER, name, callbacks, unit, description, value_type)

    def create_observable_gauge(self, name: str, callbacks: Optional[Sequence[Callback]] = None,
                                unit: str = "", description: str = "", *,
                                value_type: Optional[type] = float) -> "ObservableGauge":
        return (self._ObservableGauge or ObservableGauge)(
            self, _OBS_GAUGE, name, callbacks, unit, description, value_type)


def get_meter(name: str, version: Optional[str] = None, schema_url: Optional[str] = None,
              attributes: Attributes = None) -> Meter:
    """A Meter for the instrumentation scope (name, version, schema_url, attributes)."""
    return Meter(name, version, schema_url, attributes)


class _Instrument:
    """What every instrument has: its checked name and unit (and their UTF-8), description and
    kind, and the meter (scope) it belongs to."""

    def __init__(self, meter: Meter, kind: int, name: str, unit: str, description: str) -> None:
        self._nb, self._ub = _check(name, unit)
        self.name = name
        self.unit = unit or ""
        self.description = description or ""
        self._db = _utf8(self.description)
        self._meter = meter
        self._kind = kind


# ---- synchronous instruments --------------------------------------------------------------------

class _Sync(_Instrument):
    """Common state of the synchronous instruments. _inst is the native instrument once known;
    from then on the instance's `_verb` method (add / record / set) is the C record path."""

    _verb = "add"

    def __init__(self, meter: Meter, kind: int, name: str, unit: str, description: str,
                 value_type: Optional[type]) -> None:
        _Instrument.__init__(self, meter, kind, name, unit, description)
        self._number = _value_type(value_type, name)
        self._bounds: Optional[List[float]] = None
        self._inst: Any = None
        self._addr = 0
        if self._number is not None:
            self._create(self._number)

    def _create(self, number: int) -> Any:
        scope = self._meter._scope_handle()
        if scope is None:
            return None
        out = ffi.new("otel_instrument **")
        bounds = self._bounds
        c_bounds = ffi.new("double[]", bounds) if bounds else ffi.NULL
        st = lib.otel_instrument_create(scope, self._kind, number, _ostr(self._nb),
                                        _ostr(self._ub), _ostr(self._db), c_bounds,
                                        len(bounds) if bounds else 0, ffi.NULL, ffi.NULL, out)
        if st != 0:
            if st == _E_INVALID_ARG:
                raise InstrumentError(f"otel_instrument_create({self.name!r}): "
                                      f"{ffi.string(lib.otel_status_str(st)).decode()}")
            return None  # shut down meanwhile: stay inert
        self._number = number
        self._inst = out[0]
        self._addr = int(ffi.cast("uintptr_t", out[0]))
        # The record path from now on: add/record/set(amount, attributes=None, context=None)
        # straight into C (the instance attribute hides the class's method).
        self.__dict__[self._verb] = functools.partial(_metric_record, self._addr,
                                                      number == _INT, self._slow)
        return self._inst

    def _resolve(self, amount: Any) -> Any:
        number = self._number
        if number is None:
            number = _DOUBLE if isinstance(amount, float) else _INT
        try:
            return self._create(number)
        except InstrumentError:
            return None

    def _slow(self, amount: Any, attributes: Attributes) -> None:
        # What the C path did not take: a float on an int instrument (rounded), a huge int, a
        # non-number, attributes that are not a mapping. Never raises from a measurement.
        try:
            amount = _coerce(amount, self._number == _INT)
            if amount is not None:
                _metric_record(self._addr, self._number == _INT, _drop, amount, attributes)
        except Exception:
            pass

    def _measure(self, amount: Number, attributes: Attributes = None,
                 context: Any = None) -> None:
        # Only until the instrument exists in the engine (then the instance's C path is used).
        if self._inst is None and self._resolve(amount) is None:
            return
        getattr(self, self._verb)(amount, attributes)

    def bind(self, attributes: Attributes = None) -> "BoundInstrument":
        """The series for one attribute set: its add()/record()/set() skips the attribute
        conversion and the series lookup."""
        return BoundInstrument(self, attributes)


def _drop(amount: Any, attributes: Any) -> None:
    pass


def _coerce(amount: Any, as_int: bool) -> Optional[Number]:
    """amount as the instrument's number type, or None when it is not one: a float on an int
    instrument is rounded, a non-finite one or an int beyond int64 dropped. Numbers of other
    types (Decimal, numpy) convert with float(); text is not a number."""
    if isinstance(amount, (str, bytes, bytearray)):
        return None
    if as_int:
        if not isinstance(amount, int):
            amount = float(amount)
            if not math.isfinite(amount):
                return None
            amount = int(round(amount))
        return amount if -(1 << 63) <= amount < (1 << 63) else None
    return float(amount)


class BoundInstrument:
    """An instrument bound to one attribute set (otel_instrument_bind). add(), record() and
    set() are the same operation; use the one that reads right for the instrument. Once bound,
    they are one C call (otelbridge._speedups.bound_record) with no conversion and no lookup."""

    def __init__(self, parent: _Sync, attributes: Attributes) -> None:
        self._parent = parent
        self._attributes = dict(attributes) if attributes else None
        self._addr = 0

    def _bind(self, amount: Any) -> bool:
        p = self._parent
        inst = p._inst
        if inst is None:
            inst = p._resolve(amount)
            if inst is None:
                return False
        c, n, keep = _attrs_convert(self._attributes, LOGS) if self._attributes else (
            ffi.NULL, 0, None)
        out = ffi.new("otel_bound **")
        if lib.otel_instrument_bind(inst, c, n, out) != 0:
            return False
        del keep
        self._addr = int(ffi.cast("uintptr_t", out[0]))
        fast = functools.partial(_bound_record, self._addr, p._number == _INT, self._slow)
        self.__dict__.update(add=fast, record=fast, set=fast)
        return True

    def _slow(self, amount: Any, attributes: Any) -> None:
        try:
            as_int = self._parent._number == _INT
            amount = _coerce(amount, as_int)
            if amount is not None:
                _bound_record(self._addr, as_int, _drop, amount)
        except Exception:
            pass

    def add(self, amount: Number) -> None:
        # Only until bound (then the instance's C path is used).
        if self._bind(amount):
            self.add(amount)

    record = add
    set = add


class Counter(_Sync):
    """A monotonic sum. add() with a negative amount is dropped (the engine refuses it)."""

    add = _Sync._measure


class UpDownCounter(_Sync):
    """A non-monotonic sum."""

    add = _Sync._measure


class Gauge(_Sync):
    """The last value set, per attribute set."""

    _verb = "set"

    set = _Sync._measure


class Histogram(_Sync):
    """A distribution (explicit buckets; OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION
    may make it exponential). Always a double instrument."""

    _verb = "record"

    def __init__(self, meter: Meter, name: str, unit: str, description: str,
                 boundaries: Optional[Sequence[float]]) -> None:
        bounds: Optional[List[float]] = None
        if boundaries is not None:
            try:
                bounds = [float(b) for b in boundaries]
            except (TypeError, ValueError):
                raise InstrumentError(f"explicit_bucket_boundaries_advisory of {name!r} must "
                                      f"be a sequence of numbers") from None
            if not all(math.isfinite(b) for b in bounds) or any(
                    b2 <= b1 for b1, b2 in zip(bounds, bounds[1:])):
                raise InstrumentError(f"explicit_bucket_boundaries_advisory of {name!r} must "
                                      f"be finite and strictly increasing: {bounds}")
        super().__init__(meter, _HISTOGRAM, name, unit, description, None)
        self._bounds = bounds
        self._number = _DOUBLE  # created now (with the boundaries) when the engine is up
        self._create(_DOUBLE)

    record = _Sync._measure


# ---- observable instruments ---------------------------------------------------------------------

_errors_lock = threading.Lock()
_errors: Dict[str, int] = {}


def callback_errors() -> Dict[str, int]:
    """How many times the callbacks of each observable instrument (by name) raised."""
    with _errors_lock:
        return dict(_errors)


def _report(name: str, first: bool) -> None:
    with _errors_lock:
        _errors[name] = _errors.get(name, 0) + 1
    try:
        err = sys.stderr
        if err is None:
            return
        if first:
            err.write(f"otelbridge: a callback of observable instrument {name!r} raised; its "
                      "observations are skipped for this collection (reported once per "
                      "callback, counted in otelbridge.metrics.callback_errors()):\n"
                      + traceback.format_exc())
            err.flush()
    except Exception:
        pass


def _generator_callback(gen: Generator[CallbackResult, Any, None]) -> Callable[[Any],
                                                                             CallbackResult]:
    next(gen)  # to its first yield, as the SDK does

    def call(options: Any) -> CallbackResult:
        try:
            return gen.send(options)
        except StopIteration:
            return ()

    return call


class _Observable(_Instrument):
    """Common state of the observable instruments: one native instrument whose one native
    callback runs every Python callback in turn."""

    def __init__(self, meter: Meter, kind: int, name: str,
                 callbacks: Optional[Sequence[Callback]], unit: str, description: str,
                 value_type: Optional[type]) -> None:
        _Instrument.__init__(self, meter, kind, name, unit, description)
        self._number = _value_type(value_type, name) or _DOUBLE
        self._callbacks: List[Callable[[Any], CallbackResult]] = []
        for cb in callbacks or ():
            if isinstance(cb, GeneratorType):
                self._callbacks.append(_generator_callback(cb))
            elif callable(cb):
                self._callbacks.append(cb)
            else:
                raise InstrumentError(f"callbacks of {name!r} must be callables or generators, "
                                      f"not {type(cb).__name__}")
        self._failed: Set[int] = set()  # indexes of callbacks already reported
        self._options = meter._callback_options
        self._inst: Any = None
        self._handle: Any = None
        if _engine_ready():
            self._register()
        else:
            with _pending_lock:
                _pending.append(self)
            if _engine_ready():  # configure() ran meanwhile (its hook may have missed us)
                with _pending_lock:
                    mine = self in _pending
                    if mine:
                        _pending.remove(self)
                if mine:
                    self._register()

    def _register(self) -> None:
        scope = self._meter._scope_handle()
        if scope is None or self._inst is not None:
            return
        handle = ffi.new_handle(self)
        out = ffi.new("otel_instrument **")
        st = lib.otel_instrument_create(scope, self._kind, self._number, _ostr(self._nb),
                                        _ostr(self._ub), _ostr(self._db), ffi.NULL, 0,
                                        ffi.addressof(lib, "otelbridge_observe_trampoline"),
                                        handle, out)
        if st != 0:
            if st == _E_INVALID_ARG:
                raise InstrumentError(f"otel_instrument_create({self.name!r}): "
                                      f"{ffi.string(lib.otel_status_str(st)).decode()}")
            return
        _handles.append(handle)  # the engine holds it for as long as it lives
        self._handle = handle
        self._inst = out[0]

    def _observe(self, observer: Any) -> None:
        observe = lib.otel_observe_i64 if self._number == _INT else lib.otel_observe_f64
        is_int = self._number == _INT
        options = self._options
        for i, cb in enumerate(self._callbacks):
            try:
                for obs in cb(options) or ():
                    value = obs.value
                    attributes = obs.attributes
                    if is_int:
                        if not isinstance(value, int):
                            value = float(value)
                            if not math.isfinite(value):
                                continue
                            value = int(round(value))
                        if not -(1 << 63) <= value < (1 << 63):
                            continue
                    else:
                        value = float(value)
                        if not math.isfinite(value):
                            continue
                    if attributes:
                        c, n, keep = _attrs_convert(attributes, LOGS)
                        observe(observer, value, c, n)
                    else:
                        observe(observer, value, ffi.NULL, 0)
            except Exception:
                first = i not in self._failed
                self._failed.add(i)
                _report(self.name, first)


class ObservableCounter(_Observable):
    """A monotonic sum reported by callbacks."""


class ObservableUpDownCounter(_Observable):
    """A non-monotonic sum reported by callbacks."""


class ObservableGauge(_Observable):
    """A value reported by callbacks."""


@ffi.def_extern()  # type: ignore[untyped-decorator]
def otelbridge_py_observe(observer: Any, user_data: Any) -> None:
    try:
        inst = ffi.from_handle(user_data)
        inst._observe(observer)
    except BaseException:
        pass  # never let an exception cross into the engine's thread
