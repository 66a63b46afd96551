"""``wavestream status``: dashboard, ``--json`` fields, ``--posting`` timeline, ``--check``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest

from projector.loop import Projector, ProjectorOptions
from projector.pgschema import connect_schema, migrate_schema
from projector.synthetic import encode_events, produce, synthetic_events
from wavestream import PROJECT_ROOT
from wavestream.clients import build_admin
from wavestream.codec import AvroCodec
from wavestream.config import PostgresSettings
from wavestream.db import connect
from wavestream.topics import TopicSpec, create_topics

pytestmark = pytest.mark.integration

SECTIONS = ("workflow summary", "stage completion rates", "actor performance", "recent errors by pattern",
            "stale interactions", "throughput per hour", "consumer lag")


@pytest.fixture
def populated(kafka_settings, fresh_db, unique) -> dict:
    topic = f"events-{unique}"
    group = f"g-{unique}"
    create_topics(build_admin(kafka_settings), [TopicSpec(topic, 3, 1)])
    now = datetime.now(timezone.utc).replace(microsecond=0)
    produce(kafka_settings, topic, encode_events(AvroCodec(), synthetic_events(2000, seed=8,
                                                                              start=now - timedelta(hours=2))))
    conn = connect(PostgresSettings(fresh_db))
    try:
        migrate_schema(conn, "wavestream")
    finally:
        conn.close()
    Projector(kafka_settings, PostgresSettings(fresh_db), ProjectorOptions(
        topic=topic, group_id=group, until_caught_up=True, batch_timeout_s=0.2)).run()
    env = {**os.environ, "WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
           "WAVESTREAM_PG_DSN": fresh_db}
    return {"topic": topic, "group": group, "env": env, "dsn": fresh_db}


def status(populated: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wavestream.cli", "status", *args], cwd=PROJECT_ROOT,
                          env=populated["env"], capture_output=True, text=True, timeout=120)


def sql(dsn: str, statement: str) -> list[tuple]:
    conn = connect_schema(PostgresSettings(dsn), "wavestream")
    try:
        with conn.cursor() as cur:
            cur.execute(statement)
            rows = cur.fetchall() if cur.description else []
        conn.commit()
        return rows
    finally:
        conn.close()


def test_status_json_has_every_view_with_its_fields(populated):
    done = status(populated, "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout)
    summary = report["workflow_summary"]
    assert summary["postings"] == sum(summary["by_status"].values()) > 0
    assert {"completed", "in_progress"} <= set(summary["by_status"]) and 0 < summary["completion_pct"] < 100
    stages = {row["stage"]: row for row in report["stage_completion"]}
    assert {"validate_posting", "summarize", "extract_skills", "score"} <= set(stages)
    assert set(stages["summarize"]) == {"stage", "executions", "completed", "failed", "postings",
                                        "completion_rate", "avg_duration_ms"}
    actors = {row["actor_name"]: row for row in report["actor_performance"]}
    assert set(actors["smollm2"]) >= {"calls", "success_rate", "duration_ms_min", "avg_duration_ms",
                                      "p95_duration_ms", "duration_ms_max", "tokens_per_s"}
    assert actors["smollm2"]["tokens_per_s"] > 0
    patterns = {row["pattern"] for row in report["error_patterns"]}
    assert "timed out after Ns" in patterns  # numbers folded into one pattern
    assert all(set(row) >= {"posting_id", "current_stage", "age_s"} for row in report["stale_interactions"])
    assert report["stale_interactions"]  # journeys cut at the end of the stream are stale
    assert sum(row["events"] for row in report["throughput_per_hour"]) == 2000
    lag = report["consumer_lag"]
    assert "error" not in lag, lag
    assert [(r["topic"], r["lag"]) for r in lag["projector"]] == [(populated["topic"], 0)] * 3
    ours = [g for g in lag["groups"] if g["group"] == populated["group"]]
    assert ours and ours[0]["topic"] == populated["topic"] and ours[0]["lag"] >= 0


def test_status_renders_the_dashboard_and_a_timeline(populated):
    done = status(populated)
    assert done.returncode == 0, done.stderr[-2000:]
    for title in SECTIONS:
        assert f"== {title}" in done.stdout
    (posting_id,) = sql(populated["dsn"], "SELECT min(posting_id) FROM postings WHERE status = 'completed'")[0]
    timeline = json.loads(status(populated, "--posting", posting_id, "--json").stdout)
    kinds = [e["event_type"] for e in timeline["events"]]
    assert timeline["posting"]["status"] == "completed"
    assert kinds[0] == "PostingReceived" and kinds[-1] == "PostingCompleted"
    text = status(populated, "--posting", posting_id)
    assert text.returncode == 0 and "PostingCompleted" in text.stdout
    assert status(populated, "--posting", "no-such-posting").returncode == 3


def test_status_check_exits_non_zero_on_a_violation(populated):
    ok = status(populated, "--check", "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr[-2000:]
    assert {r["check"] for r in json.loads(ok.stdout)} >= {"score_in_range", "completed_have_summary",
                                                           "no_orphaned_events"}
    sql(populated["dsn"], "UPDATE postings SET score = 42 WHERE posting_id = (SELECT min(posting_id) FROM postings"
                          " WHERE score IS NOT NULL)")
    sql(populated["dsn"], "DELETE FROM postings WHERE posting_id = (SELECT max(posting_id) FROM postings"
                          " WHERE status = 'completed')")
    bad = status(populated, "--check")
    assert bad.returncode == 2
    failed = {line.split()[1] for line in bad.stdout.splitlines() if line.startswith("FAIL")}
    assert failed == {"score_in_range", "no_orphaned_events", "no_orphaned_checkpoints"}
