"""Throughput of one stage group with 1, 2 and 4 workers on a ``sleep:50`` script actor.

For each worker count: a fresh single-stage workflow (its own topics and group), the
workers started and waited for until the group is stable, then N commands produced to
the stage topic; the clock runs from the first produce to the last
``InteractionCompleted`` read back (read_committed). Prints postings/s, the speed-up
over one worker, and how many postings each worker completed (an uneven split shows
the partition assignment, not the actor, limiting the group). No assertions.

    .venv/bin/python bench/bench_scaling.py [--postings 400] [--workers 1 2 4] [--batch 10]
"""

from __future__ import annotations

import argparse
import tempfile
import uuid
from collections import Counter
from pathlib import Path

from common import Events, Workers, create_workflow_topics, kafka, posting, produce_commands, write_workflow


def run(settings, bootstrap: str, workers: int, postings: int, batch: int, tmp: Path) -> tuple[float, list[int]]:
    """(seconds, completions per worker, most first)."""
    tag = uuid.uuid4().hex[:8]
    stage = f"sleepy_{tag}"
    workflow = write_workflow(tmp, f"scale-{tag}", {
        "error_handler": stage,
        "entry_points": [{"when": "*", "stage": stage}],
        "stages": {stage: {"actor": {"kind": "script", "callable": "sleep:50"}, "limits": {"timeout_s": 10},
                           "branches": [{"when": "[FAILED]", "next": "done"}, {"when": "*", "next": "done"}]}},
    })
    create_workflow_topics(settings, workflow)
    pool = Workers(bootstrap, tmp)
    events = Events(settings)
    try:
        for i in range(workers):
            pool.start(f"{stage}-{i}", "worker", "--stage", stage, "--workflow", str(workflow),
                       "--instance-id", str(i), "--batch", str(batch), "--batch-ms", "2000")
        pool.wait_members(settings, f"wavestream-stage-{stage}", workers)
        ids = [f"{tag}-{i:05d}" for i in range(postings)]
        produce_commands(settings, workflow, stage, (posting(i) for i in ids))
        seconds = events.wait_for("InteractionCompleted", set(ids), timeout_s=max(120.0, postings * 0.2))
        per_worker = Counter(e["worker_id"] for e in events.events if e["event_type"] == "InteractionCompleted")
        return seconds, sorted(per_worker.values(), reverse=True) + [0] * (workers - len(per_worker))
    finally:
        events.close()
        pool.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postings", type=int, default=400)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--batch", type=int, default=10, help="records per transaction")
    args = parser.parse_args()
    with kafka() as (settings, bootstrap), tempfile.TemporaryDirectory(prefix="wavestream-scale-") as tmp:
        print(f"{args.postings} postings, sleep:50 actor, {settings.partitions} partitions, batch {args.batch}")
        print(f"{'workers':>7} {'seconds':>8} {'postings/s':>10} {'speed-up':>8}  completions per worker")
        base = None
        for n in args.workers:
            try:
                seconds, per_worker = run(settings, bootstrap, n, args.postings, args.batch, Path(tmp))
            except TimeoutError as exc:
                print(f"{n:>7} timed out: {exc}", flush=True)
                continue
            rate = args.postings / seconds
            base = base or rate
            print(f"{n:>7} {seconds:>8.2f} {rate:>10.1f} {rate / base:>7.2f}x  {per_worker}", flush=True)
        print(f"ideal for sleep:50 is 20 postings/s per worker; speed-up = rate / rate with {args.workers[0]} worker(s)")


if __name__ == "__main__":
    main()
