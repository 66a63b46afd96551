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


# --- hardening (issue 8 items 1, 6, 7) and batched handlers (issue 9) ----------------------


class BatchHandler:
    """A handler that takes every admitted record at once (like the stage handler)."""

    def __init__(self, result=lambda msg: Outcome((Out("events", b"k", b"e:%d" % msg.offset()),)), due=None):
        self.result, self.due, self.batches = result, due, []

    def not_before(self, value):
        return self.due

    def handle_batch(self, items):
        self.batches.append([m.offset() for m, _ in items])
        results = []
        for msg, _ in items:
            try:
                results.append(self.result(msg))
            except Exception as exc:  # noqa: BLE001 - the handler reports per record
                results.append(exc)
        return results


def _produced(producer):
    return [c for c in producer.calls if isinstance(c, tuple) and c[0] == "produce"]


def test_a_batch_handler_gets_every_admitted_record_at_once_and_outputs_keep_their_order():
    handler, producer = BatchHandler(), Producer()
    assert _loop(Consumer([[Msg(5), Msg(6), Msg(2, partition=1)]]), producer, handler).run_once() == 3
    assert handler.batches == [[5, 6, 2]]
    assert [c[2] for c in _produced(producer)] == [b"e:5", b"e:6", b"e:2"]
    assert ("offsets", [("stage.s", 0, 7), ("stage.s", 1, 3)]) in producer.calls


def test_a_record_not_due_defers_its_partition_before_the_handler_runs():
    handler, consumer = BatchHandler(due=150.0), Consumer([[Msg(5)]])
    assert _loop(consumer, Producer(), handler).run_once() == 0
    assert handler.batches == []
    assert consumer.calls == [("pause", [("stage.s", 0)]), ("seek", "stage.s", 0, 5)]


def test_an_unexpected_handler_exception_dead_letters_that_record_alone():
    def result(msg):
        if msg.offset() == 6:
            raise RecursionError("maximum recursion depth exceeded in a contract check")
        return Outcome((Out("events", b"k", b"e"),))

    for handler in (BatchHandler(result), Handler(result)):
        producer = Producer()
        assert _loop(Consumer([[Msg(5), Msg(6), Msg(7)]]), producer, handler).run_once() == 3
        produced = _produced(producer)
        assert [c[1] for c in produced] == ["events", "deadletter", "events"]
        assert dict(produced[1][3])["error.reason"] == b"handler_error"
        assert b"RecursionError" in dict(produced[1][3])["error.class"]
        assert producer.calls[-1] == "commit"


def test_a_batch_handler_that_raises_for_the_whole_batch_is_rerun_record_by_record():
    class Brittle(BatchHandler):
        def handle_batch(self, items):
            if any(m.offset() == 6 for m, _ in items):
                raise LookupError("client error of a lookup")
            return super().handle_batch(items)

    producer = Producer()
    assert _loop(Consumer([[Msg(5), Msg(6), Msg(7)]]), producer, Brittle()).run_once() == 3
    assert [c[1] for c in _produced(producer)] == ["events", "deadletter", "events"]


def test_an_output_over_message_max_bytes_dead_letters_its_record_instead_of_failing_every_commit():
    huge = Outcome((Out("events", b"k", b"x" * 2_000_000),))
    producer = Producer()
    loop = _loop(Consumer([[Msg(5), Msg(6)]]), producer, BatchHandler(lambda m: huge if m.offset() == 5 else
                                                                      Outcome((Out("events", b"k", b"e"),))))
    assert loop.run_once() == 2
    produced = _produced(producer)
    assert [c[1] for c in produced] == ["deadletter", "events"]
    assert dict(produced[0][3])["error.reason"] == b"output_too_large"


def test_partitions_the_loop_paused_are_resumed_when_revoked_and_when_assigned_again():
    now = [100.0]
    consumer = Consumer([[Msg(7, partition=1, topic="stage.s.retry")], [], []])
    loop = _loop(consumer, Producer(), BatchHandler(due=160.0), clock=lambda: now[0])
    loop.run_once()
    assert ("pause", [("stage.s.retry", 1)]) in consumer.calls
    # A second worker joins: the retry partition moves away, then comes back.
    loop._on_revoke(consumer, [TopicPartition("stage.s.retry", 1)])
    assert consumer.calls[-1] == ("resume", [("stage.s.retry", 1)])
    assert loop.pauses.deferred == {}
    consumer.calls.clear()
    consumer.assignment = lambda: [TopicPartition("stage.s", 0), TopicPartition("stage.s.retry", 1)]
    loop._on_assign(consumer, [TopicPartition("stage.s.retry", 1)])
    loop.run_once()
    assert consumer.calls[0] == ("resume", [("stage.s.retry", 1)])


def test_a_half_open_gate_admits_one_probe():
    class HalfOpen(Gate):
        def probing(self): return True

    handler = BatchHandler()
    consumer = Consumer([[Msg(5), Msg(6), Msg(1, partition=1)]])
    assert _loop(consumer, Producer(), handler, gate=HalfOpen()).run_once() == 1
    assert handler.batches == [[5]]
    assert consumer.calls == [("seek", "stage.s", 0, 6), ("seek", "stage.s", 1, 1)]


def test_a_one_by_one_handler_sees_the_previous_records_outputs_already_in_the_transaction():
    producer, seen = Producer(), []

    def outcome(msg):
        seen.append(len([c for c in producer.calls if isinstance(c, tuple) and c[0] == "produce"]))
        return Outcome((Out("events", b"k", b"e"),))

    _loop(Consumer([[Msg(1), Msg(2), Msg(3)]]), producer, Handler(outcome)).run_once()
    assert seen == [0, 1, 2]
