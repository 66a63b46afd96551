"""The command processor on a real broker: decide routes a posting waiting on a human
stage, cancel stops a posting (workers skip its pending commands, a later decide is
rejected with CommandRejected), rerun re-issues a stage's command."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone

import pytest

from tests.integration.test_worker_helpers import (
    CODEC, EventLog, Procs, create_workflow_topics, posting, produce_commands, write_workflow,
)
from wavestream.clients import build_producer

pytestmark = pytest.mark.integration


def _send(settings, posting_id: str, action: str, **fields) -> str:
    command_id = f"cmd-{uuid.uuid4().hex[:8]}"
    value = {"command_id": command_id, "posting_id": posting_id, "action": action, "stage": None, "decision": None,
             "reason": None, "issued_by": "tester", "issued_at": datetime.now(timezone.utc), "correlation_id": None,
             **fields}
    producer = build_producer(settings)
    producer.produce("commands", key=posting_id, value=CODEC.encode("InteractionCommand", value))
    assert producer.flush(30) == 0
    return command_id


def _of(log: EventLog, posting_id: str, event_type: str) -> list[dict]:
    return [e for e in log.of(event_type) if e["posting_id"] == posting_id]


def test_decide_cancel_and_rerun(kafka_settings, kafka_bootstrap, tmp_path):
    u = uuid.uuid4().hex[:8]
    review, publish = f"r_{u}", f"p_{u}"
    path = write_workflow(tmp_path, f"human-{u}", {
        review: {"actor": {"kind": "human"}, "prompt": "Publish {posting.title}?",
                 "branches": [{"when": "[FAILED]", "next": "done"}, {"when": "approve", "next": publish},
                              {"when": "reject", "next": "done"}]},
        publish: {"actor": {"kind": "script", "callable": "echo"},
                  "branches": [{"when": "[FAILED]", "next": "done"}, {"when": "*", "next": "done"}]},
    })
    create_workflow_topics(kafka_settings, path)
    approved, cancelled, early = (f"{u}-approved", f"{u}-cancelled", f"{u}-early")
    procs = Procs(kafka_bootstrap, tmp_path)
    log = EventLog(kafka_settings, [approved, cancelled, early])
    try:
        procs.start("processor", "command-processor", "--workflow", str(path), "--instance-id", "1",
                    "--from", "earliest")
        for stage in (review, publish):
            procs.start(stage, "worker", "--stage", stage, "--workflow", str(path), "--instance-id", "1")
        produce_commands(kafka_settings, path, review, [posting(approved), posting(cancelled)])
        log.wait_for(lambda l: len(l.of("AwaitingDecision")) == 2, procs, what="two postings awaiting")
        (waiting,) = _of(log, approved, "AwaitingDecision")
        assert waiting["payload"]["prompt"] == f"Publish Title {approved}?"

        _send(kafka_settings, approved, "decide", stage=review, decision="approve")
        log.wait_for(lambda l: _of(l, approved, "PostingCompleted"), procs, what="the approved posting")

        _send(kafka_settings, cancelled, "cancel", reason="duplicate")
        log.wait_for(lambda l: _of(l, cancelled, "PostingCancelled"), procs, what="the cancel")
        _send(kafka_settings, cancelled, "decide", stage=review, decision="approve")
        log.wait_for(lambda l: _of(l, cancelled, "CommandRejected"), procs, what="the late decide rejected")

        _send(kafka_settings, early, "cancel")  # cancelled before its command is even issued
        log.wait_for(lambda l: _of(l, early, "PostingCancelled"), procs, what="the early cancel")
        produce_commands(kafka_settings, path, review, [posting(early)])
        log.wait_for(lambda l: len(_of(l, early, "PostingCancelled")) == 2, procs, what="the skipped command")

        _send(kafka_settings, approved, "rerun", stage=publish)
        log.wait_for(lambda l: len(_of(l, approved, "PostingCompleted")) == 2, procs, what="the rerun")
        log.settle(5)
        procs.terminate_all()
    finally:
        procs.kill_all()
        log.close()

    (decision,) = _of(log, approved, "DecisionRecorded")
    assert decision["payload"] == {"decision": "approve", "decided_by": "tester"}
    routed = [e["payload"]["to_stage"] for e in _of(log, approved, "PostingRouted")]
    assert routed == [publish, publish]  # the decision, then the rerun
    runs = _of(log, approved, "InteractionCompleted")
    assert len(runs) == 2 and len({e["event_id"] for e in runs}) == 2
    assert all(e["payload"]["output"] == f"Title {approved}" for e in runs)
    (rejected,) = _of(log, cancelled, "CommandRejected")
    assert rejected["payload"]["reason"] == "decide: the posting was cancelled"
    assert not _of(log, cancelled, "DecisionRecorded") and not _of(log, cancelled, "PostingCompleted")
    skipped = [e for e in _of(log, early, "PostingCancelled") if e["stage"] == review]
    assert len(skipped) == 1 and "skipped" in skipped[0]["payload"]["reason"]
    assert not _of(log, early, "AwaitingDecision")
