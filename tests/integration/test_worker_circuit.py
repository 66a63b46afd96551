"""The circuit breaker on a real broker: it opens after the threshold, the worker's
partitions pause (nothing runs but one half-open probe per open period), and it
closes after a successful probe; every posting still completes exactly once."""

from __future__ import annotations

import uuid

import pytest

from tests.integration.test_worker_helpers import (
    EventLog, Procs, counts, create_workflow_topics, posting, produce_commands, write_workflow,
)

pytestmark = pytest.mark.integration

OUTCOMES = ("InteractionCompleted", "InteractionFailed")


def test_circuit_opens_pauses_and_closes_after_a_good_probe(kafka_settings, kafka_bootstrap, tmp_path):
    u = uuid.uuid4().hex[:8]
    a = f"c_{u}"
    path = write_workflow(tmp_path, f"circuit-{u}", {a: {
        "actor": {"kind": "script", "callable": "fail:1"},
        "retry": {"max_attempts": 3, "backoff_base_ms": 100, "backoff_cap_ms": 1000},
        "circuit": {"threshold": 2, "open_timeout_s": 1},
        "branches": [{"when": "[FAILED]", "next": "done"}, {"when": "*", "next": "done"}],
    }})
    create_workflow_topics(kafka_settings, path)
    ids = [f"{u}-{i}" for i in range(4)]
    procs = Procs(kafka_bootstrap, tmp_path)
    log = EventLog(kafka_settings, ids)
    try:
        procs.start("a", "worker", "--stage", a, "--workflow", str(path), "--instance-id", "1", "--batch-ms", "2000")
        produce_commands(kafka_settings, path, a, [posting(i) for i in ids])
        log.wait_for(lambda l: len(l.of("PostingCompleted")) == len(ids), procs, what="completions")
        log.settle(5)
        assert procs.terminate("a") == 0
        worker_log = procs.log("a")
    finally:
        procs.kill_all()
        log.close()

    assert all(n == 1 for (_, _, kind), n in counts(log.events).items() if kind == "PostingCompleted")
    assert {e["posting_id"] for e in log.of("PostingCompleted")} == set(ids)
    assert all(e["payload"]["status"] == "completed" for e in log.of("PostingCompleted"))
    circuit = sorted((e for e in log.events if e["event_type"] in ("CircuitOpened", "CircuitClosed")),
                     key=lambda e: e["occurred_at"])
    assert circuit and circuit[0]["event_type"] == "CircuitOpened" and circuit[-1]["event_type"] == "CircuitClosed"
    assert circuit[0]["payload"]["failures"] == 2
    outcomes = [e for e in log.events if e["event_type"] in OUTCOMES]
    for opened, after in zip(circuit, circuit[1:]):
        assert opened["event_type"] == "CircuitOpened"
        # While open nothing ran: the only outcome after it is the half-open probe that
        # caused the next circuit event (same posting and attempt).
        probe = [e for e in outcomes if (e["posting_id"], e["attempt"]) == (after["posting_id"], after["attempt"])]
        assert len(probe) == 1 and opened["occurred_at"] < probe[0]["occurred_at"] <= after["occurred_at"]
        between = [e for e in outcomes if opened["occurred_at"] < e["occurred_at"] < after["occurred_at"]]
        assert [e for e in between if e not in probe] == [], between
    assert "gate closed: paused" in worker_log and "gate open again: resumed" in worker_log
