"""Throughput of one stage group with 1, 2 and 4 workers on a ``sleep:50`` script actor.

For each worker count: a fresh single-stage workflow (its own topics and group), the
workers started and waited for until the group is stable, then N commands produced to
the stage topic; the clock runs from the first produce to the last
``InteractionCompleted`` read back (read_committed). Prints postings/s, the speed-up
over one worker, and how many postings each worker completed (an uneven split shows
the partition assignment, not the actor, limiting the group).

Then the stall while a worker joins, side by side for the two group protocols (KIP-848
``consumer``, the default, and ``classic`` with its eager range assignor): one worker
runs a stream of postings, a second starts once a quarter is done; the figure is the
longest gap between two consecutive completions from the moment the second worker
starts until all are done (the first worker's own pace is one completion every 50 ms).
The last line is one JSON object. No assertions.

    .venv/bin/python bench/bench_scaling.py [--postings 400] [--workers 1 2 4] [--batch 10]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import uuid
from collections import Counter
from pathlib import Path

from common import Events, Workers, create_workflow_topics, kafka, posting, produce_commands, write_workflow


def _workflow(tmp: Path, tag: str, stage: str) -> Path:
    return write_workflow(tmp, f"scale-{tag}", {
        "error_handler": stage,
        "entry_points": [{"when": "*", "stage": stage}],
        "stages": {stage: {"actor": {"kind": "script", "callable": "sleep:50"}, "limits": {"timeout_s": 10},
                           "branches": [{"when": "[FAILED]", "next": "done"}, {"when": "*", "next": "done"}]}},
    })


def run(settings, bootstrap: str, workers: int, postings: int, batch: int, tmp: Path) -> tuple[float, list[int]]:
    """(seconds, completions per worker, most first)."""
    tag = uuid.uuid4().hex[:8]
    stage = f"sleepy_{tag}"
    workflow = _workflow(tmp, tag, stage)
    create_workflow_topics(settings, workflow)
    pool = Workers(bootstrap, tmp)
    events = Events(settings)
    try:
        for i in range(workers):
            pool.start(f"{stage}-{i}", "worker", "--stage", stage, "--workflow", str(workflow),
                       "--instance-id", str(i), "--batch", str(batch), "--batch-ms", "2000")
        pool.wait_members(settings, f"wavestream-stage-{stage}", workers)
        ids = [f"{tag}-{i:05d}" for i in range(postings)]
        wanted = set(ids)
        produce_commands(settings, workflow, stage, (posting(i) for i in ids))
        seconds = events.wait_for("InteractionCompleted", set(ids), timeout_s=max(120.0, postings * 0.2))
        per_worker = Counter(e["worker_id"] for e in events.events
                             if e["event_type"] == "InteractionCompleted" and e["posting_id"] in wanted)
        return seconds, sorted(per_worker.values(), reverse=True) + [0] * (workers - len(per_worker))
    finally:
        events.close()
        pool.stop_all()


def join_stall(settings, bootstrap: str, protocol: str, postings: int, batch: int,
               tmp: Path) -> tuple[float, list[int]]:
    """(longest gap (s) between consecutive completions after a second worker starts,
    completions per worker after that moment: the figure means something only when the
    second worker did some of the work)."""
    tag = uuid.uuid4().hex[:8]
    stage = f"join_{tag}"
    workflow = _workflow(tmp, tag, stage)
    create_workflow_topics(settings, workflow)
    pool = Workers(bootstrap, tmp)
    pool.env["WAVESTREAM_KAFKA_GROUP_PROTOCOL"] = protocol
    events = Events(settings)
    args = ["worker", "--stage", stage, "--workflow", str(workflow), "--batch", str(batch), "--batch-ms", "2000"]
    try:
        pool.start(f"{stage}-0", *args, "--instance-id", "0")
        pool.wait_members(settings, f"wavestream-stage-{stage}", 1)
        ids = [f"{tag}-{i:05d}" for i in range(postings)]
        wanted = set(ids)
        produce_commands(settings, workflow, stage, (posting(i) for i in ids))
        events.wait_for("InteractionCompleted", wanted, timeout_s=300, at_least=postings // 4)
        joined = time.time()
        pool.start(f"{stage}-1", *args, "--instance-id", "1")
        events.wait_for("InteractionCompleted", set(ids), timeout_s=max(120.0, postings * 0.2))
        done = [e for e in events.events if e["event_type"] == "InteractionCompleted" and e["posting_id"] in wanted]
        after = sorted(e["occurred_at"].timestamp() for e in done if e["occurred_at"].timestamp() >= joined)
        gaps = [b - a for a, b in zip([joined, *after], after)]
        per_worker = Counter(e["worker_id"] for e in done if e["occurred_at"].timestamp() >= joined)
        return (max(gaps) if gaps else float("nan")), sorted(per_worker.values(), reverse=True)
    finally:
        events.close()
        pool.stop_all()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postings", type=int, default=400)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--batch", type=int, default=10, help="records per transaction")
    parser.add_argument("--join-postings", type=int, default=1200,
                        help="postings of the join runs (one worker alone needs 60 s for 1200)")
    args = parser.parse_args()
    with kafka() as (settings, bootstrap), tempfile.TemporaryDirectory(prefix="wavestream-scale-") as tmp:
        print(f"{args.postings} postings, sleep:50 actor, {settings.partitions} partitions, batch {args.batch}")
        print(f"{'workers':>7} {'seconds':>8} {'postings/s':>10} {'speed-up':>8}  completions per worker")
        base, rates = None, {}
        for n in args.workers:
            try:
                seconds, per_worker = run(settings, bootstrap, n, args.postings, args.batch, Path(tmp))
            except TimeoutError as exc:
                print(f"{n:>7} timed out: {exc}", flush=True)
                continue
            rate = args.postings / seconds
            base = base or rate
            rates[n] = {"postings_per_s": round(rate, 2), "speedup": round(rate / base, 2), "per_worker": per_worker}
            print(f"{n:>7} {seconds:>8.2f} {rate:>10.1f} {rate / base:>7.2f}x  {per_worker}", flush=True)
        print(f"ideal for sleep:50 is 20 postings/s per worker; speed-up = rate / rate with {args.workers[0]} worker(s)")
        stalls = {}
        for protocol in ("consumer", "classic"):
            stalls[protocol], shares = join_stall(settings, bootstrap, protocol, args.join_postings, args.batch,
                                                  Path(tmp))
            print(f"longest stall while a worker joins ({protocol} protocol): {stalls[protocol]:.2f} s; "
                  f"completions per worker after the join started: {shares}", flush=True)
        print(json.dumps({"workers": rates, "join_stall_s": {k: round(v, 2) for k, v in stalls.items()},
                          "classic_stall_vs_consumer": round(stalls["classic"] / stalls["consumer"], 2)}))


if __name__ == "__main__":
    main()
