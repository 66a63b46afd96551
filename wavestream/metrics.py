"""Prometheus metrics of workers and the projector, served on ``/metrics``, with the
health probes beside them.

``WAVESTREAM_METRICS_PORT``: unset or empty -> no endpoint; ``0`` -> a free port chosen
by the OS (logged, and returned by :func:`serve`); ``N`` -> port N.
``WAVESTREAM_METRICS_HOST``: the address it listens on, loopback (``127.0.0.1``) unless
set (``0.0.0.0`` for a scraper on another host or container). Metric names are shared by
every component; the ``component`` label tells them apart.

The same server answers ``/healthz`` (200 while the process's consumer loop polls: its
last poll is at most ``WAVESTREAM_HEALTH_MAX_POLL_AGE_S`` seconds old, default 300) and
``/readyz`` (200 once the loop has its partition assignment and is not held up, e.g.
by a PostgreSQL outage; 503 otherwise, with the reason). The loops report through the
process-wide :data:`health`: ``health.polled()`` at each poll,
``health.set_ready(True/False, reason)`` when that changes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Callable, Iterable, Mapping
from wsgiref.simple_server import WSGIRequestHandler, make_server

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, make_wsgi_app
from prometheus_client.exposition import ThreadingWSGIServer

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
CONSUMER_POSITION = Gauge(
    "wavestream_consumer_position", "Next offset to consume (moves as records are handled)",
    ["component", "topic", "partition"],
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


DEFAULT_MAX_POLL_AGE_S = 300.0


class Health:
    """Liveness and readiness of this process's consumer loop (thread-safe enough: the
    loop writes plain attributes, the HTTP thread reads them)."""

    def __init__(self, max_poll_age_s: float = DEFAULT_MAX_POLL_AGE_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.max_poll_age_s = max_poll_age_s
        self._clock = clock
        self._last_poll = clock()  # starting up counts as a poll: the probe waits for the first
        self._ready = False
        self._reason = "no partition assignment yet"

    def polled(self) -> None:
        """Called by a loop each time it polls Kafka."""
        self._last_poll = self._clock()

    def set_ready(self, ready: bool, reason: str = "") -> None:
        """Called by a loop when it got its assignment (True) or is held up (False, why)."""
        self._ready, self._reason = ready, reason

    def live(self) -> tuple[bool, str]:
        age = self._clock() - self._last_poll
        if age > self.max_poll_age_s:
            return False, f"last poll {age:.0f}s ago (limit {self.max_poll_age_s:.0f}s)"
        return True, f"last poll {age:.1f}s ago"

    def ready(self) -> tuple[bool, str]:
        live, why = self.live()
        if not live:
            return False, why
        return (True, "ready") if self._ready else (False, self._reason or "not ready")


#: The process-wide health state the probes report.
health = Health()


def max_poll_age_s(env: Mapping[str, str] | None = None) -> float:
    """``WAVESTREAM_HEALTH_MAX_POLL_AGE_S`` (default 300).

    Raises:
        ConfigError: the value is not a positive number.
    """
    env = os.environ if env is None else env
    raw = env.get(PREFIX + "HEALTH_MAX_POLL_AGE_S", "")
    if raw == "":
        return DEFAULT_MAX_POLL_AGE_S
    try:
        value = float(raw)
    except ValueError as exc:
        raise ConfigError(f"{PREFIX}HEALTH_MAX_POLL_AGE_S must be a number of seconds, got {raw!r}") from exc
    if value <= 0:
        raise ConfigError(f"{PREFIX}HEALTH_MAX_POLL_AGE_S must be > 0, got {value}")
    return value


def make_app(registry: CollectorRegistry = REGISTRY, state: Health | None = None) -> Callable:
    """The WSGI app: ``/healthz``, ``/readyz``, and the metrics on every other path."""
    metrics_app = make_wsgi_app(registry)

    def app(environ: dict, start_response: Callable) -> list[bytes]:
        probe = {"/healthz": "live", "/readyz": "ready"}.get(environ.get("PATH_INFO", ""))
        if probe is None:
            return metrics_app(environ, start_response)
        current = state or health
        ok, why = current.live() if probe == "live" else current.ready()
        body = f"{'ok' if ok else 'unavailable'}: {why}\n".encode()
        start_response("200 OK" if ok else "503 Service Unavailable",
                       [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
        return [body]

    return app


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        """Probes every few seconds would flood the log."""


def serve(port: int | None = None, *, addr: str | None = None,
          registry: CollectorRegistry = REGISTRY) -> int | None:
    """Start ``/metrics``, ``/healthz`` and ``/readyz`` in a daemon thread; returns the
    bound port.

    ``port`` defaults to :func:`metrics_port`; None means metrics are off. ``addr``
    defaults to :func:`metrics_host` (loopback unless configured).

    Raises:
        ConfigError: a setting is malformed. OSError: the port cannot be bound.
    """
    port = metrics_port() if port is None else port
    if port is None:
        return None
    addr = metrics_host() if addr is None else addr
    health.max_poll_age_s = max_poll_age_s()
    server = make_server(addr, port, make_app(registry), ThreadingWSGIServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics-http", daemon=True).start()
    bound = server.server_port
    log.info("metrics on http://%s:%d/metrics (probes /healthz /readyz)", addr, bound,
             extra={"metrics_port": bound})
    return bound


_REPORTED: dict[str, set[tuple[str, str]]] = {}  # component -> (topic, partition) with lag series


def record_lag(component: str, consumer: Any, partitions: Iterable[Any]) -> None:
    """Set the lag gauge (high-water mark minus position) and the position gauge of each
    assigned partition, and drop the series of partitions no longer assigned (their new
    owner reports them; a stale value would look like a stall).

    Uses the watermarks cached from fetch responses: asking the broker would block the
    consumer loop behind its own fetches. A partition without a position yet counts from
    its low-water mark, as ``auto.offset.reset=earliest`` will; one whose watermarks are
    not known yet is skipped until the next refresh.
    """
    partitions = list(partitions)
    assigned = {(tp.topic, str(tp.partition)) for tp in partitions}
    reported = _REPORTED.setdefault(component, set())
    for topic, partition in reported - assigned:
        for gauge in (CONSUMER_LAG, CONSUMER_POSITION):
            try:
                gauge.remove(component, topic, partition)
            except KeyError:
                pass
    reported &= assigned
    for tp in consumer.position(partitions):
        try:
            low, high = consumer.get_watermark_offsets(tp, cached=True)
        except Exception:  # noqa: BLE001 - lag is best effort; the records themselves are safe
            continue
        position = tp.offset if tp.offset >= 0 else low
        if high < 0 or position < 0:
            continue
        labels = (component, tp.topic, str(tp.partition))
        CONSUMER_LAG.labels(*labels).set(max(high - position, 0))
        CONSUMER_POSITION.labels(*labels).set(position)
        reported.add((tp.topic, str(tp.partition)))


def set_circuit(actor: str, state: str) -> None:
    CIRCUIT_STATE.labels(actor).set(CIRCUIT_STATES[state])
