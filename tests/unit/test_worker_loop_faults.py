"""The transactional loop when Kafka misbehaves, with the in-memory client doubles of
test_worker_loop.py: a committed() that times out during recovery, a transaction the
broker timed out, a fatal consumer error, a transactional call that hangs, a static
member whose instance id is still held."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException

import consumers.loop as loop_module
from tests.unit.test_worker_loop import Consumer, Msg, Producer, _loop, no_backoff  # noqa: F401 - fixture

pytestmark = pytest.mark.unit


def test_committed_timing_out_during_recovery_rewinds_to_the_batch_start():
    class SlowCommitted(Consumer):
        def committed(self, tps, timeout):
            raise KafkaException(KafkaError(KafkaError._TIMED_OUT, "committed timed out"))

    consumer = SlowCommitted([[Msg(5), Msg(6)]])
    producer = Producer(fail_commit=KafkaError(KafkaError._STATE, "x", txn_requires_abort=True))
    assert _loop(consumer, producer).run_once() == 0
    assert consumer.calls == [("seek", "stage.s", 0, 5)]



def test_a_transaction_the_broker_timed_out_is_redone_with_a_new_producer_not_reported_as_fencing(monkeypatch):
    fresh = Producer()
    monkeypatch.setattr(loop_module, "build_producer", lambda settings, **kw: fresh)
    ticks = iter([0.0, 0.0, 90.0, 90.0, 90.0])  # monotonic: begin at 0, commit fails at 90 s
    monkeypatch.setattr(loop_module.time, "monotonic", lambda: next(ticks, 90.0))
    consumer = Consumer([[Msg(5)]], committed=5)
    loop = _loop(consumer, Producer(fail_commit=KafkaError(KafkaError.INVALID_PRODUCER_EPOCH, "x", fatal=True)))
    assert loop.config.transaction_timeout_ms == 60_000
    assert loop.run_once() == 0
    assert loop.producer is fresh and fresh.calls == ["init"]
    assert consumer.calls == [("seek", "stage.s", 0, 5)]



def test_a_fatal_consumer_error_stops_the_loop_with_a_clear_message():
    from consumers.outcome import ConsumerFatal

    class FatalMsg(Msg):
        def error(self):
            return KafkaError(KafkaError.FENCED_INSTANCE_ID, "fenced instance", fatal=True)

    with pytest.raises(ConsumerFatal, match="group.instance.id"):
        _loop(Consumer([[FatalMsg(1)]]), Producer()).run_once()



def test_a_transactional_call_that_hangs_past_its_timeout_recreates_the_producer(monkeypatch):
    import threading

    import consumers.kafkacalls as kafkacalls

    monkeypatch.setattr(kafkacalls, "OP_TIMEOUT_S", 0.05)
    monkeypatch.setattr(kafkacalls, "HANG_GRACE_S", 0.05)
    release = threading.Event()

    class Hanging(Producer):
        def send_offsets_to_transaction(self, offsets, metadata, timeout):
            release.wait(10)  # librdkafka stuck after a coordinator restart

    fresh = Producer()
    monkeypatch.setattr(loop_module, "build_producer", lambda settings, **kw: fresh)
    consumer = Consumer([[Msg(5)]], committed=5)
    loop = _loop(consumer, Hanging())
    try:
        assert loop.run_once() == 0
    finally:
        release.set()
    assert loop.producer is fresh and fresh.calls == ["init"]
    assert consumer.calls == [("seek", "stage.s", 0, 5)]



def test_a_restarted_static_member_whose_instance_id_is_still_held_joins_again(monkeypatch):
    class Unreleased(Msg):
        def error(self):
            return KafkaError(KafkaError._FATAL, "Fatal error: Broker: The instance ID is still used by another "
                              "member in the consumer group", fatal=True)

    class Fresh(Consumer):
        def __init__(self):
            super().__init__([[Msg(5)]])
            self.subscribed = None

        def subscribe(self, topics, **callbacks):
            self.subscribed = topics

    fresh, stale = Fresh(), Consumer([[Unreleased(1)]])
    stale.close = lambda: stale.calls.append("close")
    monkeypatch.setattr(loop_module, "build_consumer", lambda settings, group, **kw: fresh)
    producer = Producer()
    loop = _loop(stale, producer)
    assert loop.run_once() == 0
    assert stale.calls == ["close"] and loop.consumer is fresh and fresh.subscribed == ["stage.s", "stage.s.retry"]
    assert loop.run_once() == 1 and producer.calls[-1] == "commit"
