"""Scaling: three workers in one group split the partitions; the busiest one is stopped
(SIGTERM) mid-run and its partitions move to the others; every posting completes exactly
once.

The group consumes ``stage.<s>`` and ``stage.<s>.retry`` with the range assignor, which
balances each topic on its own: every one of the three workers does part of the work.
The test stops the worker that has done the most work so far."""

from __future__ import annotations

import re
import uuid
from collections import Counter

import pytest

from tests.integration.test_worker_helpers import (
    EventLog, Procs, counts, create_workflow_topics, posting, produce_commands, script_stage, wait_for_members,
    write_workflow,
)

pytestmark = pytest.mark.integration


def _assigned(log_text: str, topic: str) -> set[int]:
    """Partitions of ``topic`` a worker's log says it was assigned at some point."""
    found = set()
    for line in log_text.splitlines():
        if " assigned " in line:
            found |= {int(p) for p in re.findall(re.escape(topic) + r"\[(\d+)\]", line)}
    return found


def test_three_workers_split_the_partitions_and_survive_one_leaving(kafka_settings, kafka_bootstrap, tmp_path):
    u = uuid.uuid4().hex[:8]
    a = f"s_{u}"
    path = write_workflow(tmp_path, f"scale-{u}", {a: script_stage("sleep:30", "done", error="done")})
    create_workflow_topics(kafka_settings, path)
    ids = [f"{u}-{i:03d}" for i in range(120)]
    procs = Procs(kafka_bootstrap, tmp_path)
    log = EventLog(kafka_settings, ids)
    try:
        for n in ("1", "2", "3"):
            procs.start(f"w{n}", "worker", "--stage", a, "--workflow", str(path), "--instance-id", n, "--batch", "5")
        wait_for_members(kafka_settings, f"wavestream-stage-{a}", 3)
        produce_commands(kafka_settings, path, a, [posting(i) for i in ids])
        log.wait_for(lambda l: len(l.of("PostingCompleted")) >= 20, procs, what="the first completions")
        so_far = Counter(e["worker_id"].rsplit("-", 1)[1] for e in log.of("InteractionCompleted", a))
        victim = so_far.most_common(1)[0][0]
        assert procs.terminate(f"w{victim}") == 0, procs.log(f"w{victim}")[-3000:]
        stopped_at = len(log.of("PostingCompleted"))
        log.wait_for(lambda l: len(l.of("PostingCompleted")) >= len(ids), procs, what="all completions")
        log.settle()
        survivors = [n for n in ("1", "2", "3") if n != victim]
        for n in survivors:
            assert procs.terminate(f"w{n}") == 0, procs.log(f"w{n}")[-3000:]
    finally:
        procs.kill_all()
        log.close()

    seen = counts(log.events)
    assert all(n == 1 for n in seen.values()), [k for k, n in seen.items() if n != 1]
    assert sorted(e["posting_id"] for e in log.of("PostingCompleted", a)) == ids
    by_worker = Counter(e["worker_id"].rsplit("-", 1)[1] for e in log.of("InteractionCompleted", a))
    assert len(by_worker) == 3 and by_worker[victim] > 0, by_worker  # every worker took part
    assert stopped_at < len(ids)  # the victim left with work still pending
    topic = f"stage.{a}"
    victim_parts = _assigned(procs.log(f"w{victim}"), topic)
    taken_over = set().union(*(_assigned(procs.log(f"w{n}"), topic) for n in survivors))
    assert victim_parts and victim_parts <= taken_over, (victim_parts, taken_over)
    assert "revoked" in procs.log(f"w{victim}")
