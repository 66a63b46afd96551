"""Chaos (issue 8): 300 postings flow through script actors while stage workers, the
router, the command processor and the projector are SIGKILLed at random and restarted,
and the broker itself is restarted in the middle. Every posting completes exactly once
(one PostingCompleted per posting for a read_committed reader) and its read-model row
equals the row of the same posting in a clean run before the chaos (ids aside).

The test runs its own broker (the session's must not be restarted under other tests)."""

from __future__ import annotations

import json
import random
import shutil
import time
import uuid
from collections import Counter
from dataclasses import replace

import psycopg2
import pytest

from tests.conftest import traversable_tmp
from tests.integration.test_worker_helpers import (
    CODEC, Procs, create_workflow_topics, posting, produce_postings, script_stage, write_workflow,
)
from wavestream.config import KafkaSettings, StackSettings

pytestmark = pytest.mark.integration

COLUMNS = ("status", "current_stage", "final_status", "outputs", "summary", "error_count", "execution_seq",
           "event_count", "last_event_type")


@pytest.fixture
def own_broker():
    from wavestream.stack.kafka import EmbeddedKafka
    from wavestream.stack.process import free_port

    root = traversable_tmp("chaos")
    broker = EmbeddedKafka(replace(StackSettings.from_env({}), data_dir=root, kafka_port=free_port(),
                                   controller_port=free_port(), pg_port=free_port()))
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()
        shutil.rmtree(root, ignore_errors=True)


class Pipeline(Procs):
    """The processes of one pipeline, each restartable under its name."""

    def __init__(self, bootstrap, log_dir, args_by_name):
        super().__init__(bootstrap, log_dir)
        self.args = args_by_name

    def start_all(self):
        for name in self.args:
            self.start(name, *self.args[name])

    def restart(self, name):
        self.kill(name)
        self.stopped.discard(name)
        self.start(name, *self.args[name])


def _rows(dsn, ids):
    with psycopg2.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT posting_id, {', '.join(COLUMNS)} FROM wavestream.postings WHERE posting_id = ANY(%s)",
                    (list(ids),))
        return {row[0]: dict(zip(COLUMNS, row[1:])) for row in cur.fetchall()}


def _wait_completed(dsn, ids, procs, rounds=900):
    for i in range(rounds):
        try:
            rows = _rows(dsn, ids)
        except psycopg2.Error:  # the projector has not created the read models yet
            rows = {}
        if len(rows) == len(ids) and all(r["status"] == "completed" for r in rows.values()):
            return rows
        if i % 25 == 0:
            procs.assert_alive()
        time.sleep(0.5)
    raise AssertionError(f"not all completed: {Counter(r['status'] for r in _rows(dsn, ids).values())}")


def _normalized(row, posting_id):
    return json.loads(json.dumps({k: v for k, v in row.items()}, default=str).replace(posting_id, "<ID>"))


def _completions(settings):
    from confluent_kafka import OFFSET_BEGINNING, TopicPartition

    from wavestream.clients import build_consumer, high_watermarks

    consumer = build_consumer(settings, f"count-{uuid.uuid4().hex[:6]}", read_committed=True)
    ends = high_watermarks(consumer, "events")
    consumer.assign([TopicPartition("events", p, OFFSET_BEGINNING) for p in ends])
    seen, quiet = Counter(), 0
    while quiet < 20:
        msgs = [m for m in consumer.consume(500, 0.3) if m.error() is None]
        quiet = 0 if msgs else quiet + 1
        for m in msgs:
            event = CODEC.decode(m.value()).value
            if event["event_type"] == "PostingCompleted":
                seen[event["posting_id"]] += 1
    consumer.close()
    return seen


def test_random_sigkills_and_a_broker_restart_complete_every_posting_exactly_once(
        own_broker, fresh_db, tmp_path, monkeypatch):
    u = uuid.uuid4().hex[:6]
    settings = KafkaSettings(client={"bootstrap.servers": own_broker.bootstrap_servers}, partitions=6)
    monkeypatch.setenv("WAVESTREAM_PG_DSN", fresh_db)
    monkeypatch.setenv("WAVESTREAM_TOPIC_PARTITIONS", "6")
    path = write_workflow(tmp_path, f"chaos-{u}", {
        "check": script_stage("sleep:5", "echo_it", error="done"),
        "echo_it": script_stage("echo", "done", error="done"),
    })
    create_workflow_topics(settings, path)
    wf = ["--workflow", str(path)]
    args = {"router": ["router", *wf, "--instance-id", "r", "--from", "earliest"],
            "commands": ["command-processor", *wf, "--instance-id", "c", "--from", "earliest"],
            "projector": ["projector"]}
    for stage in ("check", "echo_it"):
        for n in ("1", "2"):
            args[f"{stage}{n}"] = ["worker", "--stage", stage, *wf, "--instance-id", n, "--batch", "20"]
    procs = Pipeline(own_broker.bootstrap_servers, tmp_path, args)
    clean = [f"clean-{u}-{i:03d}" for i in range(20)]
    chaos = [f"chaos-{u}-{i:03d}" for i in range(300)]
    rng = random.Random(7)
    kills = Counter()
    try:
        procs.start_all()
        produce_postings(settings, [posting(i) for i in clean])
        template = _wait_completed(fresh_db, clean, procs)
        for start in range(0, len(chaos), 30):
            produce_postings(settings, [posting(i) for i in chaos[start:start + 30]])
            victim = rng.choice(sorted(args))
            procs.restart(victim)
            kills[victim] += 1
            if start == 150:
                own_broker.stop()
                own_broker.start()
            time.sleep(rng.uniform(0.5, 3.0))
        rows = _wait_completed(fresh_db, chaos, procs)
    finally:
        procs.kill_all()
    expected = _normalized(template[clean[0]], clean[0])
    assert all(_normalized(template[i], i) == expected for i in clean)
    different = {i: _normalized(r, i) for i, r in rows.items() if _normalized(r, i) != expected}
    assert not different, (expected, list(different.items())[:3])
    completions = _completions(settings)
    assert {i: completions[i] for i in chaos if completions[i] != 1} == {}
    assert sum(kills.values()) == 10 and len(kills) >= 4, kills
