"""The /healthz and /readyz probes beside /metrics (wavestream.metrics)."""

from __future__ import annotations

import urllib.error
import urllib.request

import pytest
from prometheus_client import CollectorRegistry, Counter

from wavestream import metrics
from wavestream.exceptions import ConfigError
from wavestream.metrics import Health, make_app, max_poll_age_s

pytestmark = pytest.mark.unit


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def call(app, path: str) -> tuple[str, str]:
    seen = {}

    def start_response(status, headers):
        seen["status"] = status

    body = b"".join(app({"PATH_INFO": path, "REQUEST_METHOD": "GET", "QUERY_STRING": ""}, start_response))
    return seen["status"], body.decode()


def test_live_until_the_last_poll_is_too_old():
    clock = Clock()
    health = Health(max_poll_age_s=60, clock=clock)
    assert health.live()[0]  # starting up counts as a poll
    clock.now += 61
    live, why = health.live()
    assert not live and "61s ago" in why
    health.polled()
    assert health.live()[0]


def test_ready_only_once_assigned_and_live():
    clock = Clock()
    health = Health(max_poll_age_s=60, clock=clock)
    assert health.ready() == (False, "no partition assignment yet")
    health.set_ready(True)
    assert health.ready() == (True, "ready")
    health.set_ready(False, "PostgreSQL unavailable")
    assert health.ready() == (False, "PostgreSQL unavailable")
    health.set_ready(True)
    clock.now += 120  # a hung loop is not ready either
    assert not health.ready()[0]


def test_app_answers_probes_and_metrics():
    clock = Clock()
    health = Health(max_poll_age_s=10, clock=clock)
    registry = CollectorRegistry()
    Counter("wavestream_test_total", "a counter", registry=registry).inc()
    app = make_app(registry, health)
    assert call(app, "/healthz")[0] == "200 OK"
    status, body = call(app, "/readyz")
    assert status.startswith("503") and "no partition assignment" in body
    health.set_ready(True)
    assert call(app, "/readyz") == ("200 OK", "ok: ready\n")
    clock.now += 11
    status, body = call(app, "/healthz")
    assert status.startswith("503") and body.startswith("unavailable: last poll 11s ago")
    assert "wavestream_test_total 1.0" in call(app, "/metrics")[1]


def test_max_poll_age_from_the_environment():
    assert max_poll_age_s({}) == 300
    assert max_poll_age_s({"WAVESTREAM_HEALTH_MAX_POLL_AGE_S": "45"}) == 45
    for bad in ("soon", "0", "-3"):
        with pytest.raises(ConfigError, match="HEALTH_MAX_POLL_AGE_S"):
            max_poll_age_s({"WAVESTREAM_HEALTH_MAX_POLL_AGE_S": bad})


def test_serve_binds_a_free_port_with_the_probes(monkeypatch):
    registry = CollectorRegistry()
    monkeypatch.setattr(metrics, "health", Health(max_poll_age_s=300))
    port = metrics.serve(0, addr="127.0.0.1", registry=registry)
    assert port
    with pytest.raises(urllib.error.HTTPError) as not_ready:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5)
    assert not_ready.value.code == 503
    metrics.health.set_ready(True)
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as resp:
        assert resp.status == 200
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as resp:
        assert resp.status == 200 and resp.read().startswith(b"ok: last poll")
