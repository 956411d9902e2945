"""An opentelemetry-api MeterProvider on the otelbridge engine.

    from opentelemetry import metrics
    import otelbridge
    from otelbridge.api import MeterProvider
    otelbridge.configure(service_name="shop", metrics_exporter="otlp")
    metrics.set_meter_provider(MeterProvider())
    metrics.get_meter("shop").create_counter("orders").add(1, {"region": "eu"})

The meters and instruments are otelbridge.metrics' own (the same record path: one call into the
library per measurement, no Python lock), made to also be the opentelemetry.metrics classes, so
isinstance checks and the API's proxies work. Behaviour follows otelbridge.metrics (number types,
callbacks, lifecycle), with these API-specific rules:
  - an invalid instrument name or unit raises at creation, as the official SDK does;
  - invalid explicit_bucket_boundaries_advisory is ignored with a warnings.warn (the SDK logs and
    ignores it): the instrument gets the default boundaries;
  - callbacks receive opentelemetry.metrics.CallbackOptions and may return or yield
    opentelemetry.metrics.Observation objects (any object with .value and .attributes works);
  - the context argument of add()/record()/set() is accepted and ignored (no exemplars yet).
force_flush() and shutdown() act on the process-wide engine (otelbridge.flush / shutdown).
"""

from __future__ import annotations

import warnings
from typing import Any, Optional, Sequence

from opentelemetry import metrics as _api

from .. import flush as _flush
from .. import shutdown as _shutdown
from .. import metrics as _native

__all__ = ["MeterProvider", "Meter"]


class Counter(_native.Counter, _api.Counter):
    pass


class UpDownCounter(_native.UpDownCounter, _api.UpDownCounter):
    pass


class Histogram(_native.Histogram, _api.Histogram):
    pass


# The API exports its synchronous gauge as _Gauge (still "experimental" in its namespace).
_ApiGauge: Any = getattr(_api, "Gauge", None) or getattr(_api, "_Gauge")


class Gauge(_native.Gauge, _ApiGauge):  # type: ignore[misc]
    pass


class ObservableCounter(_native.ObservableCounter, _api.ObservableCounter):
    pass


class ObservableUpDownCounter(_native.ObservableUpDownCounter, _api.ObservableUpDownCounter):
    pass


class ObservableGauge(_native.ObservableGauge, _api.ObservableGauge):
    pass


class Meter(_native.Meter, _api.Meter):
    """opentelemetry.metrics.Meter over otelbridge.metrics.Meter."""

    _Counter = Counter
    _UpDownCounter = UpDownCounter
    _Histogram = Histogram
    _Gauge = Gauge
    _ObservableCounter = ObservableCounter
    _ObservableUpDownCounter = ObservableUpDownCounter
    _ObservableGauge = ObservableGauge
    _callback_options = _api.CallbackOptions()

    def __init__(self, name: str, version: Optional[str] = None,
                 schema_url: Optional[str] = None, attributes: Any = None) -> None:
        _native.Meter.__init__(self, name, version, schema_url, attributes)

    # The API's signatures (no value_type keyword), the native implementation.
    def create_counter(self, name: str, unit: str = "",  # type: ignore[override]
                       description: str = "") -> Counter:
        return Counter(self, _native._COUNTER, name, unit, description, None)

    def create_up_down_counter(self, name: str, unit: str = "",  # type: ignore[override]
                               description: str = "") -> UpDownCounter:
        return UpDownCounter(self, _native._UP_DOWN_COUNTER, name, unit, description, None)

    def create_gauge(self, name: str, unit: str = "",  # type: ignore[override]
                     description: str = "") -> Gauge:
        return Gauge(self, _native._GAUGE, name, unit, description, None)

    def create_histogram(self, name: str, unit: str = "",
                         description: str = "", *,
                         explicit_bucket_boundaries_advisory: Optional[Sequence[float]] = None
                         ) -> Histogram:
        try:
            return Histogram(self, name, unit, description, explicit_bucket_boundaries_advisory)
        except _native.InstrumentError:
            if explicit_bucket_boundaries_advisory is None:
                raise
        # The name and unit are fine (checked first): the boundaries were not.
        warnings.warn(f"explicit_bucket_boundaries_advisory of {name!r} is invalid and ignored "
                      f"(it must be finite and strictly increasing)", stacklevel=2)
        return Histogram(self, name, unit, description, None)

    def create_observable_counter(self, name: str,  # type: ignore[override]
                                  callbacks: Optional[Sequence[Any]] = None, unit: str = "",
                                  description: str = "") -> ObservableCounter:
        return ObservableCounter(self, _native._OBS_COUNTER, name, callbacks, unit,
                                 description, float)

    def create_observable_up_down_counter(self, name: str,  # type: ignore[override]
                                          callbacks: Optional[Sequence[Any]] = None,
                                          unit: str = "",
                                          description: str = "") -> ObservableUpDownCounter:
        return ObservableUpDownCounter(self, _native._OBS_UP_DOWN_COUNTER, name, callbacks,
                                       unit, description, float)

    def create_observable_gauge(self, name: str,  # type: ignore[override]
                                callbacks: Optional[Sequence[Any]] = None, unit: str = "",
                                description: str = "") -> ObservableGauge:
        return ObservableGauge(self, _native._OBS_GAUGE, name, callbacks, unit, description,
                               float)


class MeterProvider(_api.MeterProvider):
    """opentelemetry.metrics.MeterProvider whose meters record into the otelbridge engine.

    Meters may be obtained before otelbridge.configure(): see otelbridge.metrics (synchronous
    instruments start recording at their first measurement after it, observable ones are
    registered by it)."""

    def get_meter(self, name: str, version: Optional[str] = None,
                  schema_url: Optional[str] = None, attributes: Any = None) -> Meter:
        return Meter(name, version, schema_url, attributes)

    def force_flush(self, timeout_millis: float = 30_000) -> bool:
        return _flush(timeout_millis / 1000.0)

    def shutdown(self, timeout_millis: float = 30_000) -> bool:
        return _shutdown(timeout_millis / 1000.0)
