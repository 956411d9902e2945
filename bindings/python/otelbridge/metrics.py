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

The record path is one call into the library, with no Python lock. The otel_attr array built for
an attributes dict is cached, keyed by the tuple of its items (and, when a value is not a str,
the tuple of the values' types, since 1, 1.0 and True are equal keys in Python but different
attribute values). The cache is bounded (it is cleared when it reaches _CACHE_MAX entries) and
shared by every instrument. Each instrument also binds the first _BOUND_MAX attribute sets it
sees (otel_instrument_bind, same key), so a repeated set goes straight to its series.
bind(attributes) does that explicitly and returns an object whose add() / record() / set()
skips the key as well.

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

import math
import re
import sys
import threading
import traceback
from dataclasses import dataclass
from types import GeneratorType
from typing import (Any, Callable, Dict, Generator, Iterable, List, Mapping, Optional, Sequence,
                    Tuple, Union)

from . import OtelBridgeError, _add_hooks
from ._native import ffi, lib
from ._attrs import LOGS, convert as _attrs_convert, utf8 as _utf8

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

_CACHE_MAX = 4096
_BOUND_MAX = 1024
_MANY = object()
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


# ---- attributes ---------------------------------------------------------------------------------

# key -> (otel_attr * or NULL, n, the conversion's owner, value types or None)
_cache: Dict[Any, Tuple[Any, int, Any, Optional[Tuple[type, ...]]]] = {}
_NULL = ffi.NULL


def _convert(attributes: Mapping[str, Any]) -> Tuple[Any, int, Any, Optional[Tuple[type, ...]]]:
    items = list(attributes.items())
    c_attrs, n, owner = _attrs_convert(items, LOGS)  # the attribute rules, in C (_speedups)
    types: Optional[Tuple[type, ...]] = None
    if not all(type(v) is str for _, v in items):
        types = tuple(type(v) for _, v in items)
    return (c_attrs, n, owner, types)


def _lookup(attributes: Mapping[str, Any]) -> Tuple[Any, int, Any, Optional[Tuple[type, ...]]]:
    """The cached conversion of attributes (the slow path of _attrs' inline lookup)."""
    try:
        key = tuple(attributes.items())
        e = _cache.get(key)
    except TypeError:  # an unhashable value (a list): convert every time
        return _convert(attributes)
    if e is not None:
        if e[3] is None or e[3] == tuple(map(type, attributes.values())):
            return e
        return _convert(attributes)  # 1 vs 1.0 vs True: equal keys, different attributes
    e = _convert(attributes)
    if len(_cache) >= _CACHE_MAX:
        _cache.clear()  # bounded; a thread using an old entry still holds it
    _cache[key] = e
    return e


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
            nb = _utf8(self._name or "")
            vb = _utf8(self._version or "")
            sb = _utf8(self._schema_url or "")
            c_attrs, n, keep, _ = _convert(self._attributes) if self._attributes else (
                ffi.NULL, 0, None, None)
            out = ffi.new("otel_scope **")
            st = lib.otel_scope_get(ffi.NULL, _ostr(nb), _ostr(vb), _ostr(sb), c_attrs, n, out)
            if st != 0:
                return None
            scope = self._scope = out[0]
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


# ---- synchronous instruments --------------------------------------------------------------------

class _Sync:
    """Common state of the synchronous instruments. _inst is the native instrument once known."""

    def __init__(self, meter: Meter, kind: int, name: str, unit: str, description: str,
                 value_type: Optional[type]) -> None:
        self._nb, self._ub = _check(name, unit)
        self.name = name
        self.unit = unit or ""
        self.description = description or ""
        self._db = _utf8(self.description)
        self._meter = meter
        self._kind = kind
        self._number = _value_type(value_type, name)
        self._bounds: Optional[List[float]] = None
        self._inst: Any = None
        self._rec: Any = lib.otel_metric_record_f64
        self._brec: Any = lib.otel_bound_record_f64
        # attribute items -> (bound series, type check): a hit skips the conversion and the
        # library's canonicalisation and series lookup
        self._bcache: Dict[Any, Tuple[Any, Any, Any]] = {}
        self._bget = self._bcache.get
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
        self._rec = lib.otel_metric_record_i64 if number == _INT else lib.otel_metric_record_f64
        self._brec = lib.otel_bound_record_i64 if number == _INT else lib.otel_bound_record_f64
        self._inst = out[0]
        return self._inst

    def _resolve(self, amount: Any) -> Any:
        number = self._number
        if number is None:
            number = _DOUBLE if isinstance(amount, float) else _INT
        try:
            return self._create(number)
        except InstrumentError:
            return None

    def _slow(self, inst: Any, amount: Any, attributes: Attributes) -> None:
        # The value did not convert (a float on an int instrument, a non-number) or the
        # attributes were not a mapping: never raise from a measurement.
        try:
            if self._number == _INT:
                if not isinstance(amount, int):
                    amount = float(amount)
                    if not math.isfinite(amount):
                        return
                    amount = int(round(amount))
                if not -(1 << 63) <= amount < (1 << 63):
                    return
            else:
                amount = float(amount)
            c, n = ffi.NULL, 0
            keep = None
            if attributes:
                c, n, keep, _ = _lookup(attributes)
            self._rec(inst, amount, c, n)
            del keep
        except Exception:
            pass

    def _measure(self, amount: Number, attributes: Attributes = None,
                 context: Any = None) -> None:
        # The record path (add/set/record of the subclasses are this very function).
        inst = self._inst
        if inst is None:
            inst = self._resolve(amount)
            if inst is None:
                return
        try:
            if attributes:
                e = self._bget(tuple(attributes.items()))
                # e = (bound, None, None) for str values only, (bound, key, type) for one
                # non-str value, (bound, _MANY, types) otherwise: equal keys, same value types
                if e is not None and (e[1] is None or (
                        type(attributes[e[1]]) is e[2] if e[1] is not _MANY
                        else e[2] == tuple(map(type, attributes.values())))):
                    self._brec(e[0], amount)
                else:
                    self._miss(inst, amount, attributes)
            else:
                self._rec(inst, amount, _NULL, 0)
        except (TypeError, OverflowError, AttributeError):
            self._slow(inst, amount, attributes)

    def _miss(self, inst: Any, amount: Any, attributes: Mapping[str, Any]) -> None:
        """Records through the attribute cache, then binds the set for the next time (at most
        _BOUND_MAX sets per instrument; a set equal to a cached one with other value types, like
        {"b": 2.0} after {"b": 2}, always takes this path)."""
        e = _lookup(attributes)
        self._rec(inst, amount, e[0], e[1])
        bc = self._bcache
        if len(bc) >= _BOUND_MAX:
            return
        try:
            key = tuple(attributes.items())
            if key in bc:
                return
        except TypeError:  # unhashable values
            return
        types = e[3]
        check: Tuple[Any, Any] = (None, None)
        if types is not None:
            odd = [i for i, t in enumerate(types) if t is not str]
            check = (key[odd[0]][0], types[odd[0]]) if len(odd) == 1 else (_MANY, types)
        out = ffi.new("otel_bound **")
        if lib.otel_instrument_bind(inst, e[0], e[1], out) == 0:
            bc[key] = (out[0],) + check

    def bind(self, attributes: Attributes = None) -> "BoundInstrument":
        """The series for one attribute set: its add()/record()/set() skips the attribute
        conversion and the series lookup."""
        return BoundInstrument(self, attributes)


class BoundInstrument:
    """An instrument bound to one attribute set (otel_instrument_bind). add(), record() and
    set() are the same operation; use the one that reads right for the instrument."""

    def __init__(self, parent: _Sync, attributes: Attributes) -> None:
        self._parent = parent
        self._attributes = dict(attributes) if attributes else None
        self._bound: Any = None
        self._rec: Any = None
        self._int = False

    def _bind(self, amount: Any) -> Any:
        p = self._parent
        inst = p._inst
        if inst is None:
            inst = p._resolve(amount)
            if inst is None:
                return None
        c, n, keep = ffi.NULL, 0, None
        if self._attributes:
            c, n, keep, _ = _convert(self._attributes)
        out = ffi.new("otel_bound **")
        if lib.otel_instrument_bind(inst, c, n, out) != 0:
            return None
        self._int = p._number == _INT
        self._rec = lib.otel_bound_record_i64 if self._int else lib.otel_bound_record_f64
        self._bound = out[0]
        return self._bound

    def add(self, amount: Number) -> None:
        b = self._bound
        if b is None:
            b = self._bind(amount)
            if b is None:
                return
        try:
            self._rec(b, amount)
        except (TypeError, OverflowError):
            try:
                v = float(amount)
                if self._int:
                    if not math.isfinite(v):
                        return
                    self._rec(b, int(round(v)))
                else:
                    self._rec(b, v)
            except Exception:
                pass

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

    set = _Sync._measure


class Histogram(_Sync):
    """A distribution (explicit buckets; OTEL_EXPORTER_OTLP_METRICS_DEFAULT_HISTOGRAM_AGGREGATION
    may make it exponential). Always a double instrument."""

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


class _Observable:
    """Common state of the observable instruments: one native instrument whose one native
    callback runs every Python callback in turn."""

    def __init__(self, meter: Meter, kind: int, name: str,
                 callbacks: Optional[Sequence[Callback]], unit: str, description: str,
                 value_type: Optional[type]) -> None:
        self._nb, self._ub = _check(name, unit)
        self.name = name
        self.unit = unit or ""
        self.description = description or ""
        self._db = _utf8(self.description)
        self._meter = meter
        self._kind = kind
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
        self._failed: set = set()  # indexes of callbacks already reported
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
                        c, n, keep, _ = _lookup(attributes)
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


@ffi.def_extern()
def otelbridge_py_observe(observer: Any, user_data: Any) -> None:
    try:
        inst = ffi.from_handle(user_data)
        inst._observe(observer)
    except BaseException:
        pass  # never let an exception cross into the engine's thread
