"""`wavestream plots` renders PNGs from a populated read model."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from projector.pgschema import connect_schema, migrate_schema
from projector.plots import render_plots
from wavestream.config import PostgresSettings

pytestmark = pytest.mark.integration

_INSERT = """
INSERT INTO execution_events (event_id, event_type, posting_id, stage, attempt, correlation_id,
    causation_id, worker_id, created_at, status, duration_ms, payload, schema_version,
    kafka_topic, kafka_partition, kafka_offset)
VALUES (%s, %s, %s, %s, 1, 'c', 'c', 'w', %s, %s, %s, %s, 'current', 'events', 0, %s)
"""


def test_plots_from_read_models(fresh_db, tmp_path):
    conn = connect_schema(PostgresSettings(dsn=fresh_db), "wavestream", create=True)
    try:
        migrate_schema(conn, "wavestream")
        t0 = datetime(2026, 1, 1, 12, 0, tzinfo=timezone.utc)
        with conn.cursor() as cur:
            for i in range(30):
                stage = ("summarize", "extract_skills", "score")[i % 3]
                kind = "InteractionCompleted" if i % 7 else "InteractionFailed"
                status = "completed" if kind == "InteractionCompleted" else "failed"
                cur.execute(_INSERT, (f"e{i}", kind, f"p{i // 3}", stage, t0 + timedelta(seconds=20 * i),
                                      status, 100 + 10 * i, json.dumps({}), i))
        conn.commit()
        paths = render_plots(conn, tmp_path / "out")
    finally:
        conn.close()
    assert sorted(p.name for p in paths) == ["stage_latency.png", "throughput.png"]
    for path in paths:
        data = path.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5000


def test_plots_on_an_empty_read_model_write_nothing(fresh_db, tmp_path):
    conn = connect_schema(PostgresSettings(dsn=fresh_db), "wavestream", create=True)
    try:
        migrate_schema(conn, "wavestream")
        assert render_plots(conn, tmp_path / "out") == []
    finally:
        conn.close()
