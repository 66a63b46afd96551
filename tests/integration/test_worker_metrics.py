"""A running worker serves Prometheus /metrics with the named metrics."""

from __future__ import annotations

import subprocess
import sys
import urllib.error
import urllib.request
import uuid

import pytest

from tests.integration.test_worker_helpers import (
    ROOT, EventLog, create_workflow_topics, posting, produce_commands, script_stage, worker_env, write_workflow,
)
from wavestream.stack.process import free_port

pytestmark = pytest.mark.integration


def _scrape(port: int) -> str | None:
    try:
        return urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except (urllib.error.URLError, ConnectionError):
        return None  # not listening yet


def test_worker_serves_metrics(kafka_settings, kafka_bootstrap, tmp_path):
    u = uuid.uuid4().hex[:8]
    stage = f"m_{u}"
    path = write_workflow(tmp_path, f"metrics-{u}", {stage: script_stage("echo", "done")})
    create_workflow_topics(kafka_settings, path)
    port = free_port()
    env = {**worker_env(kafka_bootstrap), "WAVESTREAM_METRICS_PORT": str(port)}
    with open(tmp_path / "worker.log", "ab") as log_file:
        proc = subprocess.Popen([sys.executable, "-m", "wavestream.cli", "worker", "--stage", stage,
                                 "--workflow", str(path), "--instance-id", "1", "--batch-ms", "1000"],
                                cwd=ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    ids = [f"{u}-{i}" for i in range(5)]
    events = EventLog(kafka_settings, ids)
    try:
        produce_commands(kafka_settings, path, stage, [posting(i) for i in ids])
        events.wait_for(lambda log: len(log.of("PostingCompleted")) == 5, what="5 completions")
        processed = f'wavestream_records_processed_total{{component="worker",stage="{stage}"}} 5.0'
        lag = f'wavestream_consumer_lag{{component="worker",partition="0",topic="stage.{stage}"}}'
        body = None
        # The counter moves after the commit the events came with; the lag gauge is
        # refreshed every few seconds once partitions have positions.
        for _ in range(300):
            body = _scrape(port)
            if body and processed in body and f"{lag} 0.0" in body:
                break
            assert proc.poll() is None, (tmp_path / "worker.log").read_text()[-3000:]
            events.poll()
    finally:
        events.close()
        proc.terminate()
        proc.wait(60)
    assert body is not None
    assert processed in body
    assert f'wavestream_stage_duration_seconds_count{{actor="echo",stage="{stage}"}} 5.0' in body
    assert 'wavestream_batch_duration_seconds_count{component="worker"}' in body
    assert f"{lag} 0.0" in body  # everything consumed
    for name in ("wavestream_records_failed_total", "wavestream_records_retried_total",
                 "wavestream_records_deadlettered_total", "wavestream_circuit_state"):
        assert f"# TYPE {name.removesuffix('_total')}" in body
