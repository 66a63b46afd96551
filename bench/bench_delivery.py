"""Exactly-once (the worker's transactional loop) vs at-least-once on the same workload.

Both modes run the same :class:`consumers.worker.StageHandler` (an ``echo`` script
stage, so the actor costs nothing and the delivery protocol is what is measured) over N
pre-produced StageCommands in a fresh stage topic of their own:

- exactly-once: :class:`consumers.loop.TransactionalLoop` - per batch
  ``begin_transaction`` -> produce events -> ``send_offsets_to_transaction`` ->
  ``commit_transaction``, read_committed input (its consumer-lag gauge is switched off,
  so only the delivery protocol is measured);
- at-least-once: a plain loop written here (the worker has no such mode) - per batch an
  idempotent producer's ``flush()`` then a synchronous offset ``commit()``; a crash
  between the two would re-emit the batch.

The clock starts at the first record handed to the handler and stops when N records are
handled and committed. Prints records/s of each mode and the ratio, for each batch
size, measured in this run. No assertions.

    .venv/bin/python bench/bench_delivery.py [--records 3000] [--batch 1 10 100]
"""

from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from pathlib import Path

from common import create_workflow_topics, kafka, posting, produce_commands, write_workflow

from consumers.loop import LoopConfig, TransactionalLoop
from consumers.registry import build_actor
from consumers.worker import StageHandler
from consumers.workflow import load_workflow
from wavestream.clients import build_consumer, build_producer
from wavestream.codec import AvroCodec
from wavestream.topics import retry_topic, stage_topic


def _stage(settings, tmp: Path, records: int):
    tag = uuid.uuid4().hex[:8]
    stage = f"echo_{tag}"
    path = write_workflow(tmp, f"delivery-{tag}", {
        "error_handler": stage,
        "entry_points": [{"when": "*", "stage": stage}],
        "stages": {stage: {"actor": {"kind": "script", "callable": "echo"},
                           "branches": [{"when": "[FAILED]", "next": "done"}, {"when": "*", "next": "done"}]}},
    })
    create_workflow_topics(settings, path)
    produce_commands(settings, path, stage, (posting(f"{tag}-{i:06d}") for i in range(records)))
    workflow = load_workflow(path)
    codec = AvroCodec.from_settings(settings)
    handler = StageHandler(workflow, workflow.stages[stage], build_actor(workflow.stages[stage], workflow), codec,
                           worker_id=f"bench-{tag}")
    return stage, handler, codec


class _Clocked:
    """Wraps a handler: the clock starts at its first call (group join excluded)."""

    def __init__(self, handler: StageHandler) -> None:
        self.handler, self.started = handler, None

    def handle(self, msg, value):
        if self.started is None:
            self.started = time.monotonic()
        return self.handler.handle(msg, value)


def exactly_once(settings, tmp: Path, records: int, batch: int) -> float:
    stage, handler, codec = _stage(settings, tmp, records)
    clocked = _Clocked(handler)
    loop = TransactionalLoop(settings, LoopConfig(
        group_id=f"bench-eos-{stage}", topics=[stage_topic(stage), retry_topic(stage)],
        transactional_id=f"bench-eos-{stage}", batch_size=batch, batch_max_s=20.0,
        lag_interval_s=1e9), clocked, codec)  # lag metrics off: the delivery protocol alone is measured
    loop.start()
    try:
        while loop.stats["records"] < records:
            loop.run_once()
        return time.monotonic() - clocked.started
    finally:
        loop.close()


def at_least_once(settings, tmp: Path, records: int, batch: int) -> float:
    stage, handler, codec = _stage(settings, tmp, records)
    consumer = build_consumer(settings, f"bench-alo-{stage}", read_committed=True,
                              **{"partition.assignment.strategy": "cooperative-sticky"})
    producer = build_producer(settings)
    consumer.subscribe([stage_topic(stage), retry_topic(stage)])
    handled, started = 0, None
    try:
        while handled < records:
            msgs = [m for m in consumer.consume(batch, 0.2) if m.error() is None]
            if not msgs:
                continue
            started = started or time.monotonic()
            for msg in msgs:
                outcome = handler.handle(msg, codec.decode(msg.value(), "StageCommand").value)
                for out in outcome.outputs:
                    producer.produce(out.topic, key=out.key, value=out.value, headers=out.headers)
                    producer.poll(0)
            producer.flush(30)
            consumer.commit(asynchronous=False)
            handled += len(msgs)
        return time.monotonic() - started
    finally:
        consumer.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=3000)
    parser.add_argument("--batch", type=int, nargs="+", default=[1, 10, 100])
    args = parser.parse_args()
    with kafka() as (settings, _), tempfile.TemporaryDirectory(prefix="wavestream-delivery-") as tmp:
        print(f"{args.records} StageCommands, echo actor, {settings.partitions} partitions, one process per mode")
        print(f"{'batch':>5} {'EOS rec/s':>10} {'ALO rec/s':>10} {'EOS/ALO throughput':>19}")
        for batch in args.batch:
            records = min(args.records, 300 * batch)  # batch 1 is slow: keep its run short
            eos = records / exactly_once(settings, Path(tmp), records, batch)
            alo = records / at_least_once(settings, Path(tmp), records, batch)
            print(f"{batch:>5} {eos:>10.0f} {alo:>10.0f} {eos / alo:>18.2f}x", flush=True)


if __name__ == "__main__":
    main()
