"""Rerun and decide after the stage topics' retention removed a posting's commands: the
command is rebuilt from ``events`` (kept for ever), so both still work (issue 8, item 10).
Retention is played by deleting every record of the stage topics (DeleteRecords up to
the high-water mark), which is what the log cleaner does to expired segments."""

from __future__ import annotations

import uuid

import pytest
from confluent_kafka import TopicPartition

from tests.integration.test_worker_commands import _of, _send
from tests.integration.test_worker_helpers import (
    EventLog, Procs, create_workflow_topics, posting, produce_postings, write_workflow,
)
from wavestream.clients import build_admin, build_consumer, high_watermarks

pytestmark = pytest.mark.integration


def _expire(settings, *stages: str) -> None:
    """Delete every record of the stages' topics, as retention would."""
    consumer = build_consumer(settings, f"expire-{uuid.uuid4().hex[:6]}")
    try:
        doomed = [TopicPartition(topic, p, high) for s in stages for topic in (f"stage.{s}", f"stage.{s}.retry")
                  for p, high in high_watermarks(consumer, topic).items() if high > 0]
    finally:
        consumer.close()
    if doomed:
        admin = build_admin(settings)  # kept referenced until every future resolved
        for future in admin.delete_records(doomed, request_timeout=30, operation_timeout=30).values():
            future.result(60)


def test_rerun_and_decide_rebuild_the_command_from_events_once_the_stage_topics_expired(
        kafka_settings, kafka_bootstrap, tmp_path):
    u = uuid.uuid4().hex[:8]
    intake, review, publish = f"i_{u}", f"r_{u}", f"p_{u}"
    done = [{"when": "[FAILED]", "next": "done"}]
    path = write_workflow(tmp_path, f"retention-{u}", {
        intake: {"actor": {"kind": "script", "callable": "echo"}, "prompt": "intake {posting.title}",
                 "branches": [*done, {"when": "*", "next": review}]},
        review: {"actor": {"kind": "human"}, "prompt": "Publish {outputs.%s}?" % intake,
                 "branches": [*done, {"when": "approve", "next": publish}, {"when": "reject", "next": "done"}]},
        publish: {"actor": {"kind": "script", "callable": "echo"}, "prompt": "published {outputs.%s}" % intake,
                  "branches": [*done, {"when": "*", "next": "done"}]},
    })
    create_workflow_topics(kafka_settings, path)
    decided, rerun = f"{u}-decided", f"{u}-rerun"
    procs = Procs(kafka_bootstrap, tmp_path)
    log = EventLog(kafka_settings, [decided, rerun])
    try:
        procs.start("router", "router", "--workflow", str(path), "--instance-id", "r", "--from", "earliest")
        procs.start("processor", "command-processor", "--workflow", str(path), "--instance-id", "1",
                    "--from", "earliest")
        for stage in (intake, review, publish):
            procs.start(stage, "worker", "--stage", stage, "--workflow", str(path), "--instance-id", "1")
        produce_postings(kafka_settings, [posting(decided), posting(rerun)])
        log.wait_for(lambda l: len(l.of("AwaitingDecision")) == 2, procs, what="two postings awaiting")
        _expire(kafka_settings, intake, review, publish)

        _send(kafka_settings, decided, "decide", stage=review, decision="approve")
        log.wait_for(lambda l: _of(l, decided, "PostingCompleted") or _of(l, decided, "CommandRejected"), procs,
                     what="the decide after retention")
        _send(kafka_settings, rerun, "rerun", stage=review)
        log.wait_for(lambda l: len(_of(l, rerun, "AwaitingDecision")) == 2 or _of(l, rerun, "CommandRejected"),
                     procs, what="the rerun after retention")
        _expire(kafka_settings, intake, review, publish)
        _send(kafka_settings, decided, "rerun", stage=publish)  # its publish command expired as well
        log.wait_for(lambda l: len(_of(l, decided, "PostingCompleted")) == 2 or _of(l, decided, "CommandRejected"),
                     procs, what="the second rerun after retention")
        log.settle(3)
        procs.terminate_all()
    finally:
        procs.kill_all()
        log.close()

    rejected = [e["payload"]["reason"] for e in log.of("CommandRejected")]
    assert not rejected, rejected
    (decision,) = _of(log, decided, "DecisionRecorded")
    assert decision["payload"]["decision"] == "approve"
    published = [e["payload"]["output"] for e in _of(log, decided, "InteractionCompleted") if e["stage"] == publish]
    assert published == [f"published intake Title {decided}"] * 2  # upstream output carried in the rebuilt command
    waits = _of(log, rerun, "AwaitingDecision")
    assert [w["payload"]["prompt"] for w in waits] == [f"Publish intake Title {rerun}?"] * 2
    assert len({w["correlation_id"] for w in waits}) == 1  # the same journey
