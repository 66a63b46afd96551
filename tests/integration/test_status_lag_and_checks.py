"""``wavestream status`` never hides stuck work, reads lag as records, and checks what
the workflow expects (issue 8 items 1 and 11, issue 13 item 4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from confluent_kafka import KafkaException, TopicPartition

from projector.loop import Projector, ProjectorOptions
from projector.pgschema import migrate_schema
from projector.synthetic import T0, produce
from wavestream import PROJECT_ROOT
from wavestream.clients import build_admin, build_consumer, watermark_offsets
from wavestream.codec import AvroCodec
from wavestream.config import PostgresSettings
from wavestream.db import connect
from wavestream.events import make_event
from wavestream.topics import TopicSpec, create_topics

pytestmark = pytest.mark.integration

RECORDS = 30


@pytest.fixture
def env(kafka_settings, fresh_db) -> dict:
    conn = connect(PostgresSettings(fresh_db))
    try:
        migrate_schema(conn, "wavestream")
    finally:
        conn.close()
    return {**os.environ, "WAVESTREAM_KAFKA_BOOTSTRAP_SERVERS": kafka_settings.bootstrap_servers,
            "WAVESTREAM_PG_DSN": fresh_db}


def status(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "wavestream.cli", "status", *args], cwd=PROJECT_ROOT,
                          env=env, capture_output=True, text=True, timeout=300)


def workflow_file(tmp_path: Path, stages: list[str]) -> Path:
    """A workflow of script stages ``stages[0] -> ... -> done`` (no summarize stage)."""
    lines = ["name: lag-test", "error_handler: on_error", "entry_points:", f"  - {{when: '*', stage: {stages[0]}}}",
             "stages:"]
    for name, nxt in zip(stages, [*stages[1:], "done"]):
        lines += [f"  {name}:", "    actor: {kind: script, callable: 'consumers.actors.script:validate_posting'}",
                  "    output: {type: text}", "    branches:", "      - {when: '[FAILED]', next: on_error}",
                  f"      - {{when: '*', next: {nxt}}}"]
    lines += ["  on_error:", "    actor: {kind: script, callable: 'consumers.actors.script:record_failure'}",
              "    output: {type: text}", "    branches:", "      - {when: '*', next: done}"]
    path = tmp_path / "flow.yaml"
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_stage_group_that_never_committed_shows_its_records_as_lag(kafka_settings, env, unique, tmp_path):
    stage = f"lag_{unique}"
    topic = f"stage.{stage}"
    create_topics(build_admin(kafka_settings), [TopicSpec(topic, 3, 1), TopicSpec(f"{topic}.retry", 3, 1)])
    produce(kafka_settings, topic, [(f"p-{i}".encode(), b"x") for i in range(RECORDS)])
    flow = workflow_file(tmp_path, [stage])
    # A second group holds the partitions (as a stalled worker would) and never commits.
    member = build_consumer(kafka_settings, f"held-{unique}")
    member.subscribe([topic])
    stop, holding = threading.Event(), threading.Event()

    def hold() -> None:
        while not stop.is_set():
            member.consume(num_messages=100, timeout=0.2)
            if member.assignment():
                holding.set()

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    try:
        assert holding.wait(120), "the member never got its partitions"
        done = status(env, "--json", "--workflow", str(flow))
    finally:
        stop.set()
        thread.join(60)
        member.close()
    assert done.returncode == 0, done.stderr[-2000:]
    groups = {(g["group"], g["topic"]): g for g in json.loads(done.stdout)["consumer_lag"]["groups"]}
    # No worker of the stage ever ran: its group is expected by the workflow all the same.
    expected = groups[(f"wavestream-stage-{stage}", topic)]
    assert expected["lag"] == RECORDS and expected["uncommitted"] == 3 and expected["behind"] == 3
    assert groups[(f"wavestream-stage-{stage}", f"{topic}.retry")]["lag"] == 0
    held = groups[(f"held-{unique}", topic)]
    assert held["lag"] == RECORDS and held["uncommitted"] == 3


def commit(consumer, offsets: list) -> None:
    """Commit ``offsets``, retrying while a fresh broker's group coordinator settles."""
    for attempt in range(60):
        try:
            consumer.commit(offsets=offsets, asynchronous=False)
            return
        except KafkaException as exc:
            if attempt == 59 or not exc.args[0].retriable():
                raise
            time.sleep(0.5)


def test_an_idle_transactional_partition_shows_no_lag(kafka_settings, env, unique):
    """Each transaction's commit marker takes an offset after the last record: a group
    that consumed everything sits at hwm - 1 and is behind by no record."""
    topic, group = f"tx-{unique}", f"g-{unique}"
    create_topics(build_admin(kafka_settings), [TopicSpec(topic, 3, 1)])
    produce(kafka_settings, topic, [(f"p-{i}".encode(), b"x") for i in range(RECORDS)],
            transactional_id=f"tx-{unique}")
    probe = build_consumer(kafka_settings, group)
    try:
        ends = {p: watermark_offsets(probe, TopicPartition(topic, p))[1] for p in range(3)}
        written = {p: end for p, end in ends.items() if end > 0}
        assert sum(written.values()) == RECORDS + len(written)  # one marker per partition written to
        # What a read_committed consumer commits after the last record: the marker's offset.
        commit(probe, [TopicPartition(topic, p, end - 1) for p, end in written.items()])
    finally:
        probe.close()
    done = status(env, "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    (row,) = [g for g in json.loads(done.stdout)["consumer_lag"]["groups"] if g["group"] == group]
    assert row["lag"] == 0 and row["behind"] == 0


def test_check_follows_the_workflow(kafka_settings, env, unique, tmp_path):
    """A workflow without a summarize stage: its completed postings pass --check with
    it, and fail the default workflow's completed_have_summary."""
    topic = f"events-{unique}"
    create_topics(build_admin(kafka_settings), [TopicSpec(topic, 1, 1)])
    flow = workflow_file(tmp_path, ["triage", "label"])
    events = []
    for i in range(5):
        pid = f"q-{i}"
        common = {"posting_id": pid, "attempt": 1, "correlation_id": f"c-{pid}", "worker_id": "w-0"}
        posting = {"posting_id": pid, "title": "t", "company": "c", "location": None, "description": "d",
                   "url": None, "source": None, "submitted_at": T0, "summary": None, "attributes": {}}
        events.append(make_event("PostingReceived", {"posting": posting}, stage=None, causation_id=f"r-{pid}", **common))
        for stage in ("triage", "label"):
            events.append(make_event("InteractionCompleted", {
                "output": "ok", "output_sha256": "0" * 64, "duration_ms": 3, "prompt_tokens": 0,
                "completion_tokens": 0, "actor_name": stage, "actor_kind": "script", "model_file": None,
                "model_sha256": None, "prompt_sha256": None}, stage=stage, causation_id=f"{stage}-{pid}", **common))
        events.append(make_event("PostingCompleted", {"final_stage": "label", "status": "completed"}, stage="label",
                                 causation_id=f"done-{pid}", **common))
    codec = AvroCodec()
    produce(kafka_settings, topic, [(e["posting_id"].encode(), codec.encode("InteractionEvent", e)) for e in events])
    Projector(kafka_settings, PostgresSettings(env["WAVESTREAM_PG_DSN"]), ProjectorOptions(
        topic=topic, group_id=f"g-{unique}", until_caught_up=True, batch_timeout_s=0.2)).run()

    ok = status(env, "--check", "--json", "--workflow", str(flow))
    assert ok.returncode == 0, ok.stdout + ok.stderr[-2000:]
    names = {r["check"] for r in json.loads(ok.stdout)}
    assert {"completed_ran_triage", "completed_ran_label", "no_orphaned_events"} <= names
    assert not any(n.startswith("completed_have_") or n == "score_in_range" for n in names)

    default = status(env, "--check")  # the default workflow expects a summary
    assert default.returncode == 2
    failed = {line.split()[1] for line in default.stdout.splitlines() if line.startswith("FAIL")}
    assert "completed_have_summary" in failed

    missing = status(env, "--check", "--workflow", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2 and "--check needs the workflow" in missing.stderr


def test_the_dashboard_shows_percentages_and_the_stale_threshold(env):
    done = status(env, "--no-kafka", "--stale-after", "7")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "== stale interactions (no event for 7 min)" in done.stdout
    configured = status({**env, "WAVESTREAM_STALE_AFTER_MINUTES": "45"}, "--no-kafka", "--json")
    assert json.loads(configured.stdout)["stale_after_minutes"] == 45
