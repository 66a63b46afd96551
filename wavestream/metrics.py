"""Prometheus metrics of workers and the projector, served on ``/metrics``.

``WAVESTREAM_METRICS_PORT``: unset or empty -> no endpoint; ``0`` -> a free port chosen
by the OS (logged, and returned by :func:`serve`); ``N`` -> port N.
``WAVESTREAM_METRICS_HOST``: the address it listens on, loopback (``127.0.0.1``) unless
set (``0.0.0.0`` for a scraper on another host or container). Metric names are shared by
every component; the ``component`` label tells them apart.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Iterable, Mapping

from prometheus_client import Counter, Gauge, Histogram, start_http_server

from wavestream.config import PREFIX
from wavestream.exceptions import ConfigError

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"

PROCESSED = Counter(
    "wavestream_records_processed_total", "Records handled and committed", ["component", "stage"]
)
FAILED = Counter(
    "wavestream_records_failed_total", "Actor attempts that failed", ["component", "stage", "error_class"]
)
RETRIED = Counter("wavestream_records_retried_total", "Commands sent to a retry topic", ["component", "stage"])
DEADLETTERED = Counter(
    "wavestream_records_deadlettered_total", "Records routed to the dead-letter topic", ["component", "reason"]
)
STAGE_DURATION = Histogram(
    "wavestream_stage_duration_seconds",
    "Actor run time per command",
    ["stage", "actor"],
    buckets=(0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120),
)
BATCH_DURATION = Histogram(
    "wavestream_batch_duration_seconds", "Time per committed transaction/batch", ["component"]
)
CONSUMER_LAG = Gauge(
    "wavestream_consumer_lag", "High-water mark minus position", ["component", "topic", "partition"]
)
CIRCUIT_STATE = Gauge(
    "wavestream_circuit_state", "Circuit breaker state: 0 closed, 1 open, 2 half-open", ["actor"]
)
CIRCUIT_STATES = {"closed": 0, "open": 1, "half_open": 2}


def metrics_port(env: Mapping[str, str] | None = None) -> int | None:
    """The configured port, or None when metrics are off.

    Raises:
        ConfigError: the value is not a port number.
    """
    env = os.environ if env is None else env
    raw = env.get(PREFIX + "METRICS_PORT", "")
    if raw == "":
        return None
    try:
        port = int(raw)
    except ValueError as exc:
        raise ConfigError(f"{PREFIX}METRICS_PORT must be a port number, got {raw!r}") from exc
    if not 0 <= port <= 65535:
        raise ConfigError(f"{PREFIX}METRICS_PORT must be 0..65535, got {port}")
    return port


def metrics_host(env: Mapping[str, str] | None = None) -> str:
    """The address the endpoint listens on: ``WAVESTREAM_METRICS_HOST``, else loopback."""
    env = os.environ if env is None else env
    return env.get(PREFIX + "METRICS_HOST", "").strip() or LOOPBACK


def serve(port: int | None = None, *, addr: str | None = None) -> int | None:
    """Start the ``/metrics`` endpoint in a daemon thread; returns the bound port.

    ``port`` defaults to :func:`metrics_port`; None means metrics are off. ``addr``
    defaults to :func:`metrics_host` (loopback unless configured).
    """
    port = metrics_port() if port is None else port
    if port is None:
        return None
    addr = metrics_host() if addr is None else addr
    server, _thread = start_http_server(port, addr=addr)
    bound = server.server_port
    log.info("metrics on http://%s:%d/metrics", addr, bound, extra={"metrics_port": bound})
    return bound


def record_lag(component: str, consumer: Any, partitions: Iterable[Any]) -> None:
    """Set the lag gauge of each assigned partition: high-water mark minus position.

    Uses the watermarks cached from fetch responses: asking the broker would block the
    consumer loop behind its own fetches. A partition without a position yet counts from
    its low-water mark, as ``auto.offset.reset=earliest`` will; one whose watermarks are
    not known yet is skipped until the next refresh.
    """
    for tp in consumer.position(list(partitions)):
        try:
            low, high = consumer.get_watermark_offsets(tp, cached=True)
        except Exception:  # noqa: BLE001 - lag is best effort; the records themselves are safe
            continue
        position = tp.offset if tp.offset >= 0 else low
        if high < 0 or position < 0:
            continue
        CONSUMER_LAG.labels(component, tp.topic, str(tp.partition)).set(max(high - position, 0))


def set_circuit(actor: str, state: str) -> None:
    CIRCUIT_STATE.labels(actor).set(CIRCUIT_STATES[state])
