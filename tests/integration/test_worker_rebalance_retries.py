"""Retries waiting while the group changes (issue 8 item 1): a stage whose every first
attempt fails (``fail:1``) with an 8 s backoff, 50 postings, one worker. While the retries
wait (their partitions paused), a second worker joins and then leaves (SIGTERM). Every
posting must still complete: a partition the loop paused is resumed when it is revoked
or assigned again (librdkafka keeps the pause flag across a rebalance), so no retry
partition stays paused for good."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.test_worker_helpers import (
    EventLog, Procs, counts, create_workflow_topics, posting, produce_commands, script_stage, wait_for_members,
    write_workflow,
)

pytestmark = pytest.mark.integration


def test_retries_pending_survive_a_worker_joining_and_leaving(kafka_settings, kafka_bootstrap, tmp_path):
    u = uuid.uuid4().hex[:8]
    a = f"r_{u}"
    stage = script_stage("fail:1", "done", error="done",
                         retry={"max_attempts": 3, "backoff_base_ms": 8000, "backoff_cap_ms": 8000},
                         circuit={"threshold": 1000, "open_timeout_s": 1})
    path = write_workflow(tmp_path, f"rebalance-{u}", {a: stage})
    create_workflow_topics(kafka_settings, path)
    ids = [f"{u}-{i:03d}" for i in range(50)]
    procs = Procs(kafka_bootstrap, tmp_path)
    log = EventLog(kafka_settings, ids)
    group = f"wavestream-stage-{a}"
    try:
        procs.start("w1", "worker", "--stage", a, "--workflow", str(path), "--instance-id", "1", "--batch", "10")
        wait_for_members(kafka_settings, group, 1)
        produce_commands(kafka_settings, path, a, [posting(i) for i in ids])
        log.wait_for(lambda l: len(l.of("InteractionFailed", a)) >= len(ids), procs, what="every first attempt")
        assert not log.of("PostingCompleted")  # every retry is still waiting
        procs.start("w2", "worker", "--stage", a, "--workflow", str(path), "--instance-id", "2", "--batch", "10")
        wait_for_members(kafka_settings, group, 2)
        assert procs.terminate("w2") == 0, procs.log("w2")[-3000:]
        log.wait_for(lambda l: len(l.of("PostingCompleted")) >= len(ids), procs, max_rounds=900,
                     what="every posting completed after the rebalances")
        log.settle()
        assert procs.terminate("w1") == 0, procs.log("w1")[-3000:]
    finally:
        procs.kill_all()
        log.close()
    assert sorted(e["posting_id"] for e in log.of("PostingCompleted")) == ids
    assert all(n == 1 for n in counts(log.events).values())
