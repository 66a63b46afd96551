"""The /metrics endpoint serves the named metrics (loopback HTTP, no other service)."""

from __future__ import annotations

import urllib.request

import pytest

from wavestream import metrics
from wavestream.exceptions import ConfigError

pytestmark = pytest.mark.unit


def test_metrics_port_parsing():
    assert metrics.metrics_port({}) is None
    assert metrics.metrics_port({"WAVESTREAM_METRICS_PORT": ""}) is None
    assert metrics.metrics_port({"WAVESTREAM_METRICS_PORT": "0"}) == 0
    assert metrics.metrics_port({"WAVESTREAM_METRICS_PORT": "9108"}) == 9108
    with pytest.raises(ConfigError, match="METRICS_PORT"):
        metrics.metrics_port({"WAVESTREAM_METRICS_PORT": "http"})


def test_endpoint_serves_every_named_metric():
    metrics.PROCESSED.labels("worker", "summarize").inc()
    metrics.FAILED.labels("worker", "summarize", "retryable").inc()
    metrics.RETRIED.labels("worker", "summarize").inc()
    metrics.DEADLETTERED.labels("worker", "corrupt_body").inc()
    metrics.STAGE_DURATION.labels("summarize", "smollm2").observe(0.3)
    metrics.CONSUMER_LAG.labels("worker", "stage.summarize", "0").set(7)
    metrics.set_circuit("smollm2", "open")
    port = metrics.serve(0, addr="127.0.0.1")
    body = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    for name in (
        'wavestream_records_processed_total{component="worker",stage="summarize"} 1.0',
        "wavestream_records_failed_total",
        "wavestream_records_retried_total",
        "wavestream_records_deadlettered_total",
        'wavestream_stage_duration_seconds_bucket{actor="smollm2",le="0.5",stage="summarize"} 1.0',
        'wavestream_consumer_lag{component="worker",partition="0",topic="stage.summarize"} 7.0',
        'wavestream_circuit_state{actor="smollm2"} 1.0',
    ):
        assert name in body
