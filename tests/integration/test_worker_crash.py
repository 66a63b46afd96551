"""Crash: a stage worker is SIGKILLed while a transaction is open; after a restart with
the same instance id (same transactional.id, which aborts the open transaction, and the
same static group member) a read_committed reader sees every completion exactly once."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.test_worker_helpers import (
    EventLog, Procs, create_workflow_topics, posting, produce_commands, script_stage, write_workflow,
)

pytestmark = pytest.mark.integration


def _completed(log: EventLog, stage: str) -> set[str]:
    return {e["posting_id"] for e in log.of("InteractionCompleted", stage)}


def test_sigkill_mid_transaction_then_restart_completes_each_posting_once(kafka_settings, kafka_bootstrap, tmp_path):
    u = uuid.uuid4().hex[:8]
    a, b = f"k_{u}", f"l_{u}"
    path = write_workflow(tmp_path, f"crash-{u}", {
        a: script_stage("sleep:60", b, error=b), b: script_stage("echo", "done", error="done"),
    })
    create_workflow_topics(kafka_settings, path)
    ids = [f"{u}-{i:02d}" for i in range(40)]
    args = ["worker", "--stage", a, "--workflow", str(path), "--instance-id", "1", "--static", "--batch", "8"]
    procs = Procs(kafka_bootstrap, tmp_path)
    committed = EventLog(kafka_settings, ids)
    dirty = EventLog(kafka_settings, ids, read_committed=False)
    try:
        procs.start("a", *args)
        procs.start("b", "worker", "--stage", b, "--workflow", str(path), "--instance-id", "1")
        produce_commands(kafka_settings, path, a, [posting(i) for i in ids])
        # Kill once a completion is visible uncommitted but not committed: its
        # transaction is open (the actor sleeps inside it, 8 records per transaction).
        def in_flight(_: EventLog) -> bool:
            committed.poll()
            return len(_completed(committed, a)) > 0 and bool(_completed(dirty, a) - _completed(committed, a))

        dirty.wait_for(in_flight, procs, what="an open transaction")
        procs.kill("a")
        procs.start("a-restarted", *args)
        committed.wait_for(lambda l: len(l.of("PostingCompleted")) == len(ids), procs, what="completions")
        committed.settle()
        dirty.settle()
        for name in ("a-restarted", "b"):
            assert procs.terminate(name) == 0, procs.log(name)[-3000:]
    finally:
        procs.kill_all()
        committed.close()
        dirty.close()

    for stage, kind in ((a, "InteractionCompleted"), (b, "InteractionCompleted"), (b, "PostingCompleted")):
        got = sorted(e["posting_id"] for e in committed.of(kind, stage))
        assert got == ids, (stage, kind)
    # The killed transaction really held records: the uncommitted view has them twice
    # (aborted copy + the re-run's committed copy, with the same deterministic event id).
    dirty_ids = [e["event_id"] for e in dirty.of("InteractionCompleted", a)]
    assert len(dirty_ids) > len(set(dirty_ids)) == len(ids)
