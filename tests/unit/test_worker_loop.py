"""The transactional loop's decisions with in-memory client doubles (unit level: the
broker behaviour itself is covered by tests/integration/test_worker_*.py).

Covers what a real broker rarely shows on demand: abortable and fatal transaction
errors, fencing, and the order of pause/seek calls."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

import consumers.loop as loop_module
from consumers.loop import LoopConfig, TransactionalLoop
from consumers.outcome import Out, Outcome, PoisonRecord, WorkerFenced
from wavestream.config import KafkaSettings

pytestmark = pytest.mark.unit


class Msg:
    def __init__(self, offset: int, value: bytes = b"ok", partition: int = 0, topic: str = "stage.s") -> None:
        self._offset, self._value, self._partition, self._topic = offset, value, partition, topic

    def topic(self): return self._topic
    def partition(self): return self._partition
    def offset(self): return self._offset
    def key(self): return b"k"
    def value(self): return self._value
    def headers(self): return None
    def timestamp(self): return (1, 0)
    def error(self): return None


class Consumer:
    def __init__(self, batches: list[list[Msg]], committed: int = 0) -> None:
        self.batches, self.committed_offset, self.calls = batches, committed, []

    def consume(self, n, timeout):
        return self.batches.pop(0) if self.batches else []

    def consumer_group_metadata(self): return "group-metadata"
    def assignment(self): return [TopicPartition("stage.s", 0), TopicPartition("stage.s.retry", 0)]
    def committed(self, tps, timeout): return [TopicPartition(t.topic, t.partition, self.committed_offset) for t in tps]
    def position(self, tps): return [TopicPartition(t.topic, t.partition, self.committed_offset) for t in tps]
    def get_watermark_offsets(self, tp, timeout=None, cached=False): return (0, self.committed_offset + 3)
    def seek(self, tp): self.calls.append(("seek", tp.topic, tp.partition, tp.offset))
    def pause(self, tps): self.calls.append(("pause", sorted((t.topic, t.partition) for t in tps)))
    def resume(self, tps): self.calls.append(("resume", sorted((t.topic, t.partition) for t in tps)))


class Producer:
    def __init__(self, fail_commit: KafkaError | None = None) -> None:
        self.fail_commit, self.calls = fail_commit, []

    def init_transactions(self, timeout): self.calls.append("init")
    def begin_transaction(self): self.calls.append("begin")
    def produce(self, topic, key=None, value=None, headers=None): self.calls.append(("produce", topic, value, headers))

    def send_offsets_to_transaction(self, offsets, metadata, timeout):
        self.calls.append(("offsets", [(o.topic, o.partition, o.offset) for o in offsets]))

    def commit_transaction(self, timeout):
        if self.fail_commit is not None:
            raise KafkaException(self.fail_commit)
        self.calls.append("commit")

    def abort_transaction(self, timeout): self.calls.append("abort")


class Codec:
    def decode(self, data, expected=None):
        if data == b"garbage":
            from wavestream.exceptions import CodecError

            raise CodecError("bad", reason="bad_magic")
        return type("Decoded", (), {"value": {"v": data}})()


class Handler:
    def __init__(self, outcome=lambda msg: Outcome((Out("events", b"k", b"e:" + msg.value()),))) -> None:
        self.outcome = outcome

    def handle(self, msg, value):
        return self.outcome(msg)


class Gate:
    def __init__(self) -> None:
        self.open_until = None

    def admits(self): return self.open_until is None
    def blocked_until(self): return self.open_until


def _loop(consumer, producer, handler=None, gate=None, clock=lambda: 100.0) -> TransactionalLoop:
    config = LoopConfig(group_id="g", topics=["stage.s", "stage.s.retry"], transactional_id="t")
    loop = TransactionalLoop(KafkaSettings({"bootstrap.servers": "x"}), config, handler or Handler(), Codec(),
                             gate=gate, clock=clock)
    loop.consumer, loop.producer = consumer, producer
    return loop


@pytest.fixture(autouse=True)
def no_backoff(monkeypatch):
    monkeypatch.setattr(loop_module.time, "sleep", lambda s: None)


def test_a_batch_is_one_transaction_with_its_offsets():
    producer = Producer()
    assert _loop(Consumer([[Msg(5), Msg(6)]]), producer).run_once() == 2
    assert producer.calls == ["begin", ("produce", "events", b"e:ok", None), ("produce", "events", b"e:ok", None),
                              ("offsets", [("stage.s", 0, 7)]), "commit"]


def test_abortable_error_aborts_and_rewinds_to_the_committed_offset():
    consumer = Consumer([[Msg(5), Msg(6)]], committed=5)
    producer = Producer(fail_commit=KafkaError(KafkaError._STATE, "x", txn_requires_abort=True))
    assert _loop(consumer, producer).run_once() == 0
    assert producer.calls[-1] == "abort"
    assert consumer.calls == [("seek", "stage.s", 0, 5)]


def test_fatal_error_recreates_the_producer_and_rewinds(monkeypatch):
    fresh = Producer()
    monkeypatch.setattr(loop_module, "build_producer", lambda settings, **kw: fresh)
    consumer = Consumer([[Msg(5)]], committed=5)
    loop = _loop(consumer, Producer(fail_commit=KafkaError(KafkaError._FATAL, "x", fatal=True)))
    assert loop.run_once() == 0
    assert loop.producer is fresh and fresh.calls == ["init"]
    assert consumer.calls == [("seek", "stage.s", 0, 5)]


def test_fenced_producer_stops_the_loop():
    loop = _loop(Consumer([[Msg(5)]]), Producer(fail_commit=KafkaError(KafkaError._FENCED, "x", fatal=True)))
    with pytest.raises(WorkerFenced, match="--instance-id"):
        loop.run_once()


def test_undecodable_and_poison_records_are_dead_lettered_in_the_same_transaction():
    def outcome(msg):
        if msg.offset() == 2:
            raise PoisonRecord("wrong stage")
        return Outcome((Out("events", b"k", b"e"),))

    producer = Producer()
    _loop(Consumer([[Msg(1, b"garbage"), Msg(2), Msg(3)]]), producer, Handler(outcome)).run_once()
    produced = [c for c in producer.calls if isinstance(c, tuple) and c[0] == "produce"]
    assert [c[1] for c in produced] == ["deadletter", "deadletter", "events"]
    assert dict(produced[0][3])["error.reason"] == b"bad_magic" and produced[0][2] == b"garbage"
    assert ("offsets", [("stage.s", 0, 4)]) in producer.calls


def test_a_retry_not_due_pauses_only_its_partition_then_resumes():
    now = [100.0]
    deferred = Msg(7, partition=1, topic="stage.s.retry")

    def outcome(msg):
        if msg.topic() == "stage.s.retry" and now[0] < 101:
            return Outcome(defer_until=101.0)
        return Outcome((Out("events", b"k", b"e"),))

    consumer = Consumer([[deferred, Msg(8, partition=1, topic="stage.s.retry"), Msg(3)], [], [deferred]])
    producer = Producer()
    loop = _loop(consumer, producer, Handler(outcome), clock=lambda: now[0])
    assert loop.run_once() == 1  # stage.s[0] flowed; the retry partition waits
    assert consumer.calls == [("pause", [("stage.s.retry", 1)]), ("seek", "stage.s.retry", 1, 7)]
    assert ("offsets", [("stage.s", 0, 4)]) in producer.calls
    loop.run_once()
    assert consumer.calls[-1] == ("seek", "stage.s.retry", 1, 7)  # not due: still paused
    now[0] = 101.0
    assert loop.run_once() == 1
    assert ("resume", [("stage.s.retry", 1)]) in consumer.calls


def test_a_closed_gate_holds_the_rest_and_pauses_every_partition():
    gate = Gate()

    def outcome(msg):
        gate.open_until = 130.0  # the first record opens the circuit
        return Outcome((Out("events", b"k", b"e"),))

    consumer = Consumer([[Msg(1), Msg(2), Msg(5, partition=2)]])
    loop = _loop(consumer, Producer(), Handler(outcome), gate=gate)
    assert loop.run_once() == 1
    assert consumer.calls == [("seek", "stage.s", 0, 2), ("seek", "stage.s", 2, 5),
                              ("pause", [("stage.s", 0), ("stage.s.retry", 0)])]
    gate.open_until = None
    loop.run_once()
    assert consumer.calls[-1] == ("resume", [("stage.s", 0), ("stage.s.retry", 0)])


def test_stop_finishes_the_record_in_hand_and_commits():
    holder = {}

    def outcome(msg):
        holder["loop"].stop()
        return Outcome((Out("events", b"k", b"e"),))

    consumer, producer = Consumer([[Msg(1), Msg(2)]]), Producer()
    holder["loop"] = _loop(consumer, producer, Handler(outcome))
    assert holder["loop"].run_once() == 1
    assert producer.calls[-2:] == [("offsets", [("stage.s", 0, 2)]), "commit"]
    assert consumer.calls == [("seek", "stage.s", 0, 2)]


def _sample(name: str, **labels: str) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_metrics_count_committed_batches_only():
    labels = {"component": "worker", "stage": ""}
    before = _sample("wavestream_records_processed_total", **labels)
    _loop(Consumer([[Msg(5), Msg(6)]]), Producer()).run_once()
    assert _sample("wavestream_records_processed_total", **labels) == before + 2
    aborting = Producer(fail_commit=KafkaError(KafkaError._STATE, "x", txn_requires_abort=True))
    _loop(Consumer([[Msg(7)]], committed=7), aborting).run_once()
    assert _sample("wavestream_records_processed_total", **labels) == before + 2
    # The lag gauge was refreshed from position and high-water mark (fake: 3 behind).
    assert _sample("wavestream_consumer_lag", component="worker", topic="stage.s", partition="0") == 3
