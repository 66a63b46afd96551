"""Statuses that stay true and commands that apply once (issue 8 items 3, 4, 9, 10), on a
real broker and a real PostgreSQL read model: the pipeline runs in subprocesses, then
the projector folds `events` into a fresh database."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from datetime import datetime, timezone

import pytest

from projector.loop import Projector, ProjectorOptions
from projector.pgschema import connect_schema, migrate_schema
from tests.integration.test_worker_helpers import (
    CODEC, ROOT, EventLog, Procs, create_workflow_topics, posting, produce_commands, produce_postings,
    script_stage, wait_for_members, worker_env, write_workflow,
)
from wavestream.clients import build_producer
from wavestream.config import PostgresSettings
from wavestream.db import connect

pytestmark = pytest.mark.integration


def _send(settings, posting_id: str, action: str, command_id: str | None = None, **fields) -> str:
    command_id = command_id or f"cmd-{uuid.uuid4().hex[:8]}"
    value = {"command_id": command_id, "posting_id": posting_id, "action": action, "stage": None, "decision": None,
             "reason": None, "issued_by": "tester", "issued_at": datetime.now(timezone.utc), "correlation_id": None,
             **fields}
    producer = build_producer(settings)
    producer.produce("commands", key=posting_id, value=CODEC.encode("InteractionCommand", value))
    assert producer.flush(30) == 0
    return command_id


def _of(log: EventLog, posting_id: str, *types: str) -> list[dict]:
    return [e for e in log.events if e["posting_id"] == posting_id and e["event_type"] in types]


def _project(kafka_settings, dsn: str) -> None:
    setup = connect(PostgresSettings(dsn))
    try:
        migrate_schema(setup, "wavestream")
    finally:
        setup.close()
    Projector(kafka_settings, PostgresSettings(dsn), ProjectorOptions(
        group_id=f"proj-{uuid.uuid4().hex[:8]}", until_caught_up=True, batch_timeout_s=0.2)).run()


def _rows(dsn: str, sql: str, *args) -> list[tuple]:
    conn = connect_schema(PostgresSettings(dsn), "wavestream")
    try:
        with conn.cursor() as cur:
            cur.execute(sql, args)
            return cur.fetchall()
    finally:
        conn.close()


def _stop(procs: Procs) -> None:
    procs.terminate_all()


def _two_stage(tmp_path, u: str, name: str = "st") -> tuple:
    a, b = f"{name}a_{u}", f"{name}b_{u}"
    path = write_workflow(tmp_path, f"{name}-{u}", {a: script_stage("echo", b), b: script_stage("echo", "done")})
    return path, a, b


def test_rerun_of_an_unknown_stage_is_refused_by_the_cli(kafka_bootstrap, kafka_settings, tmp_path):
    path, a, _ = _two_stage(tmp_path, uuid.uuid4().hex[:8])
    create_workflow_topics(kafka_settings, path)
    run = subprocess.run([sys.executable, "-m", "wavestream.cli", "command", "rerun", "p-1", "--stage",
                          "no_such_stage", "--workflow", str(path)], cwd=ROOT, env=worker_env(kafka_bootstrap),
                         capture_output=True, text=True, timeout=120)
    assert run.returncode != 0, run.stdout
    assert "no stage 'no_such_stage'" in run.stderr
    ok = subprocess.run([sys.executable, "-m", "wavestream.cli", "command", "rerun", "p-1", "--stage", a,
                         "--workflow", str(path)], cwd=ROOT, env=worker_env(kafka_bootstrap),
                        capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0, ok.stderr


def test_cancel_then_rerun_ends_completed_and_a_rejected_command_changes_nothing(
        kafka_settings, kafka_bootstrap, fresh_db, tmp_path):
    u = uuid.uuid4().hex[:8]
    path, a, b = _two_stage(tmp_path, u)
    create_workflow_topics(kafka_settings, path)
    pid = f"{u}-p"
    procs = Procs(kafka_bootstrap, tmp_path)
    log = EventLog(kafka_settings, [pid])
    try:
        procs.start("processor", "command-processor", "--workflow", str(path), "--instance-id", "1",
                    "--from", "earliest")
        for stage in (a, b):
            procs.start(stage, "worker", "--stage", stage, "--workflow", str(path), "--instance-id", "1")
        produce_commands(kafka_settings, path, a, [posting(pid)])
        log.wait_for(lambda l: _of(l, pid, "PostingCompleted"), procs, what="the first run")
        _send(kafka_settings, pid, "rerun", stage="no_such_stage")
        log.wait_for(lambda l: _of(l, pid, "CommandRejected", "PostingRejected"), procs, what="the bad rerun")
        _send(kafka_settings, pid, "cancel", reason="operator")
        log.wait_for(lambda l: _of(l, pid, "PostingCancelled"), procs, what="the cancel")
        _send(kafka_settings, pid, "rerun", stage=a)
        log.wait_for(lambda l: len(_of(l, pid, "PostingCompleted")) == 2, procs, what="the rerun's completion")
        log.settle(5)
        _stop(procs)
    finally:
        procs.kill_all()
        log.close()
    assert [e["event_type"] for e in _of(log, pid, "CommandRejected", "PostingRejected")] == ["CommandRejected"]
    _project(kafka_settings, fresh_db)
    ((status, completed_at, final),) = _rows(fresh_db, "SELECT status, completed_at, final_status FROM postings"
                                                       " WHERE posting_id = %s", pid)
    last = _of(log, pid, "PostingCompleted")[-1]
    assert (status, final) == ("completed", "completed")
    assert completed_at == last["occurred_at"]  # the cancel time is gone


def test_a_duplicate_row_leaves_the_accepted_posting_completed(kafka_settings, kafka_bootstrap, fresh_db, tmp_path):
    u = uuid.uuid4().hex[:8]
    path, a, b = _two_stage(tmp_path, u)
    create_workflow_topics(kafka_settings, path)
    pid = f"{u}-dup"
    rows = tmp_path / "rows.jsonl"
    row = {"posting_id": pid, "title": "Engineer", "description": "Builds data pipelines with Kafka and SQL."}
    rows.write_text(json.dumps(row) + "\n" + json.dumps({**row, "title": "Engineer again"}) + "\n")
    procs = Procs(kafka_bootstrap, tmp_path)
    log = EventLog(kafka_settings, [pid])
    try:
        procs.start("router", "router", "--workflow", str(path), "--instance-id", "r1", "--from", "latest")
        for stage in (a, b):
            procs.start(stage, "worker", "--stage", stage, "--workflow", str(path), "--instance-id", "1")
        wait_for_members(kafka_settings, f"wavestream-router-{path.stem}", 1)
        submitted = subprocess.run([sys.executable, "-m", "wavestream.cli", "submit", str(rows), "--no-progress"],
                                   cwd=ROOT, env=worker_env(kafka_bootstrap), capture_output=True, text=True,
                                   timeout=120)
        assert submitted.returncode == 0, submitted.stderr
        log.wait_for(lambda l: _of(l, pid, "PostingCompleted") and _of(l, pid, "PostingRejected"), procs,
                     what="the posting completed and its duplicate rejected")
        log.settle(5)
        _stop(procs)
    finally:
        procs.kill_all()
        log.close()
    _project(kafka_settings, fresh_db)
    assert _rows(fresh_db, "SELECT status, title FROM postings WHERE posting_id = %s", pid) == [
        ("completed", "Engineer")]
    ((reason,),) = _rows(fresh_db, "SELECT payload->>'reason' FROM execution_events WHERE posting_id = %s"
                                   " AND event_type = 'PostingRejected'", pid)
    assert "duplicate posting_id" in reason  # recorded in the event store all the same


def test_two_workflows_on_one_postings_topic_lose_no_event(kafka_settings, kafka_bootstrap, fresh_db, tmp_path):
    u = uuid.uuid4().hex[:8]
    first, second = _two_stage(tmp_path, u, "w1"), _two_stage(tmp_path, u, "w2")
    ids = [f"{u}-two-{i}" for i in range(10)]
    procs = Procs(kafka_bootstrap, tmp_path)
    log = EventLog(kafka_settings, ids)
    try:
        for n, (path, a, b) in enumerate((first, second)):
            create_workflow_topics(kafka_settings, path)
            procs.start(f"router{n}", "router", "--workflow", str(path), "--instance-id", "r", "--from", "latest")
            for stage in (a, b):
                procs.start(stage, "worker", "--stage", stage, "--workflow", str(path), "--instance-id", "1")
        for path, _, _ in (first, second):  # both routers decided where they start before postings arrive
            wait_for_members(kafka_settings, f"wavestream-router-{path.stem}", 1)
        produce_postings(kafka_settings, [posting(i) for i in ids])
        log.wait_for(lambda l: len(l.of("PostingCompleted")) == 2 * len(ids), procs, what="both workflows done")
        log.settle(5)
        _stop(procs)
    finally:
        procs.kill_all()
        log.close()
    seen = {e["event_id"] for e in log.events}
    assert len(seen) == len(log.events)  # no two events share an id
    assert len(log.of("PostingReceived")) == 2 * len(ids)
    _project(kafka_settings, fresh_db)
    ((stored,),) = _rows(fresh_db, "SELECT count(*) FROM execution_events WHERE posting_id = ANY(%s)", ids)
    assert stored == len(log.events)


def test_decide_applies_once_and_only_while_awaiting(kafka_settings, kafka_bootstrap, fresh_db, tmp_path):
    u = uuid.uuid4().hex[:8]
    review, publish = f"r_{u}", f"p_{u}"
    path = write_workflow(tmp_path, f"decide-{u}", {
        review: {"actor": {"kind": "human"}, "prompt": "Publish {posting.title}?",
                 "branches": [{"when": "approve", "next": publish}, {"when": "*", "next": "done"}]},
        publish: script_stage("echo", "done"),
    })
    create_workflow_topics(kafka_settings, path)
    pid = f"{u}-d"
    procs = Procs(kafka_bootstrap, tmp_path)
    log = EventLog(kafka_settings, [pid])
    try:
        procs.start("processor", "command-processor", "--workflow", str(path), "--instance-id", "1",
                    "--from", "earliest")
        for stage in (review, publish):
            procs.start(stage, "worker", "--stage", stage, "--workflow", str(path), "--instance-id", "1")
        produce_commands(kafka_settings, path, review, [posting(pid)])
        log.wait_for(lambda l: _of(l, pid, "AwaitingDecision"), procs, what="the posting awaiting")
        same = _send(kafka_settings, pid, "decide", stage=review, decision="approve")
        _send(kafka_settings, pid, "decide", command_id=same, stage=review, decision="approve")  # re-sent
        _send(kafka_settings, pid, "decide", stage=review, decision="reject")  # no longer awaiting
        ghost = f"{u}-ghost"
        log.ids.add(ghost)
        _send(kafka_settings, ghost, "decide", stage=review, decision="approve")  # no such posting
        log.wait_for(lambda l: _of(l, pid, "PostingCompleted") and len(_of(l, pid, "CommandRejected")) >= 2
                     and _of(l, ghost, "CommandRejected"), procs, max_rounds=150,
                     what="the decision applied, the others rejected")
        log.settle(5)
        _stop(procs)
    finally:
        procs.kill_all()
        log.close()
    decisions = _of(log, pid, "DecisionRecorded")
    assert [e["payload"]["decision"] for e in decisions] == ["approve"]
    assert len(_of(log, pid, "InteractionCompleted")) == 1  # publish ran once
    reasons = sorted(e["payload"]["reason"] for e in _of(log, pid, "CommandRejected"))
    assert "handled before" in reasons[0] and "not awaiting a decision" in reasons[1], reasons
    _project(kafka_settings, fresh_db)
    assert _rows(fresh_db, "SELECT status, decision FROM postings WHERE posting_id = %s", pid) == [
        ("completed", "approve")]
    assert _rows(fresh_db, "SELECT count(*) FROM postings WHERE posting_id = %s", ghost) == [(0,)]
    assert _rows(fresh_db, "SELECT count(*) FROM projector_errors") == [(0,)]


def test_a_new_router_group_never_replays_postings_silently(kafka_settings, kafka_bootstrap, tmp_path):
    u = uuid.uuid4().hex[:8]
    path, _, _ = _two_stage(tmp_path, u, "nr")
    create_workflow_topics(kafka_settings, path)
    produce_postings(kafka_settings, [posting(f"{u}-history")])  # `postings` holds records
    refused = subprocess.run([sys.executable, "-m", "wavestream.cli", "router", "--workflow", str(path)],
                             cwd=ROOT, env=worker_env(kafka_bootstrap), capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1, refused.stderr[-2000:]
    assert "has no committed offsets on postings" in refused.stderr and "--from earliest" in refused.stderr


def test_a_new_command_processor_group_never_reapplies_commands_silently(kafka_settings, kafka_bootstrap, tmp_path):
    u = uuid.uuid4().hex[:8]
    path, _, _ = _two_stage(tmp_path, u, "nc")
    create_workflow_topics(kafka_settings, path)
    _send(kafka_settings, f"{u}-old", "cancel")  # `commands` holds records
    refused = subprocess.run([sys.executable, "-m", "wavestream.cli", "command-processor", "--workflow", str(path)],
                             cwd=ROOT, env=worker_env(kafka_bootstrap), capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1, refused.stderr[-2000:]
    assert "has no committed offsets on commands" in refused.stderr and "--from earliest" in refused.stderr
    # --from latest: the old cancel is skipped, a new one applies.
    log = EventLog(kafka_settings, [f"{u}-old", f"{u}-new"])
    procs = Procs(kafka_bootstrap, tmp_path)
    try:
        procs.start("processor", "command-processor", "--workflow", str(path), "--instance-id", "1", "--from", "latest")
        wait_for_members(kafka_settings, f"wavestream-commands-{path.stem}", 1)
        _send(kafka_settings, f"{u}-new", "cancel")
        log.wait_for(lambda l: l.of("PostingCancelled"), procs, what="the new cancel")
        log.settle(3)
        assert procs.terminate("processor") == 0, procs.log("processor")[-3000:]
    finally:
        procs.kill_all()
        log.close()
    assert [e["posting_id"] for e in log.of("PostingCancelled")] == [f"{u}-new"]


def test_a_lone_rejected_command_for_an_unknown_posting_projects(kafka_settings, fresh_db, unique):
    """A batch holding only a CommandRejected for a posting that does not exist: recorded
    in the event store, no posting row, and the projector catches up."""
    from projector.synthetic import encode_events, produce
    from wavestream.clients import build_admin
    from wavestream.codec import AvroCodec
    from wavestream.events import make_event
    from wavestream.topics import TopicSpec, create_topics

    topic = f"events-{unique}"
    create_topics(build_admin(kafka_settings), [TopicSpec(topic, 1, 1)])
    rejected = make_event("CommandRejected", {"reason": "rerun: no such posting", "command_id": "cmd-1",
                                              "action": "rerun", "stage": "s", "decision": None, "issued_by": None},
                          posting_id=f"{unique}-ghost", stage=None, attempt=0, correlation_id="cmd-1",
                          causation_id="cmd-1", worker_id="w", workflow="wf")
    produce(kafka_settings, topic, encode_events(AvroCodec(), [rejected]))
    setup = connect(PostgresSettings(fresh_db))
    try:
        migrate_schema(setup, "wavestream")
    finally:
        setup.close()
    env = {**worker_env(kafka_settings.bootstrap_servers), "WAVESTREAM_PG_DSN": fresh_db}
    run = subprocess.run([sys.executable, "-m", "wavestream.cli", "projector", "--topic", topic, "--group",
                          f"g-{unique}", "--until-caught-up", "--no-migrate", "--batch-timeout", "0.2"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert _rows(fresh_db, "SELECT event_type FROM execution_events") == [("CommandRejected",)]
    assert _rows(fresh_db, "SELECT count(*) FROM postings") == [(0,)]
    assert _rows(fresh_db, "SELECT count(*) FROM projector_errors") == [(0,)]
