"""shop-api: a FastAPI service on otelbridge — stdlib logging with `extra`, custom spans, a counter
and a histogram, exported over OTLP to a Collector (see README.md).

    pip install ./bindings/python fastapi uvicorn
    OTEL_SERVICE_NAME=shop-api OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 \
    OTEL_EXPORTER_OTLP_PROTOCOL=grpc uvicorn app:app --port 8000

It replaces the usual hand-written `setup_observability()` (LoggerProvider, TracerProvider,
MeterProvider, three batch processors and exporters, a LoggingHandler) with one configure() call;
every setting comes from the standard OTEL_* environment variables.
"""

from __future__ import annotations

import logging
import random
import time
from contextlib import asynccontextmanager
from typing import AsyncIterator, Dict

from fastapi import FastAPI, HTTPException

import otelbridge
from otelbridge import metrics, trace

# Console output as usual; configure() adds the OTLP handler to the root logger next to it.
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
otelbridge.configure()

log = logging.getLogger("shop.api")
tracer = trace.get_tracer("shop.api")
meter = metrics.get_meter("shop.api")
orders_placed = meter.create_counter("shop.orders.placed", unit="{order}",
                                     description="Orders accepted, by SKU and payment method")
checkout_duration = meter.create_histogram("shop.checkout.duration", unit="s",
                                           description="Time to price, reserve and charge an order")

PRICES: Dict[str, float] = {"tea": 4.5, "coffee": 3.2, "cake": 6.0}
STOCK: Dict[str, int] = {"tea": 1_000_000, "coffee": 1_000_000, "cake": 0}



@asynccontextmanager
async def lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield
    # uvicorn ends a SIGTERM'd process by re-raising SIGTERM after its graceful shutdown, so
    # Python's atexit flush never runs: export what is still queued here.
    otelbridge.shutdown(5.0)


app = FastAPI(title="shop-api", lifespan=lifespan)


@app.get("/health")
def health() -> Dict[str, str]:
    return {"status": "ok"}


@app.post("/orders/{sku}")
def place_order(sku: str, quantity: int = 1, payment: str = "card") -> Dict[str, object]:
    start = time.perf_counter()
    with tracer.start_as_current_span("place_order", attributes={"shop.sku": sku,
                                                                 "shop.quantity": quantity}):
        price = PRICES.get(sku)
        if price is None:
            log.warning("unknown sku", extra={"shop.sku": sku})
            raise HTTPException(status_code=404, detail=f"no such sku: {sku}")
        with tracer.start_as_current_span("reserve_stock", attributes={"shop.sku": sku}):
            if STOCK[sku] < quantity:
                log.error("out of stock", extra={"shop.sku": sku, "shop.quantity": quantity})
                raise HTTPException(status_code=409, detail=f"{sku} is out of stock")
            STOCK[sku] -= quantity
        with tracer.start_as_current_span("charge", attributes={"shop.payment": payment}):
            time.sleep(random.uniform(0.001, 0.003))  # the payment provider
        total = round(price * quantity, 2)
        log.info("order placed", extra={"shop.sku": sku, "shop.quantity": quantity,
                                        "shop.total": total, "shop.payment": payment})
        orders_placed.add(1, {"shop.sku": sku, "shop.payment": payment})
    checkout_duration.record(time.perf_counter() - start, {"shop.sku": sku})
    return {"sku": sku, "quantity": quantity, "total": total}
