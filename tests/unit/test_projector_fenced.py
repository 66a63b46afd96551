"""A fatal consumer error in the projector (a static member fenced after its session
timed out while a broker was down) gets a new consumer instead of a warning forever."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError

import projector.loop as loop
from projector.exceptions import ConsumerFenced, ProjectorError
from projector.loop import Projector, ProjectorOptions
from wavestream.codec import AvroCodec
from wavestream.config import KafkaSettings, PostgresSettings

pytestmark = pytest.mark.unit

FENCED = KafkaError(KafkaError._FATAL, "Static consumer fenced by other consumer with same group.instance.id",
                    fatal=True)


class Msg:
    def __init__(self, err):
        self._err = err

    def error(self):
        return self._err


class FakeConsumer:
    """Returns each of ``batches`` once, then stops the projector."""

    def __init__(self, projector, batches):
        self.projector, self.batches, self.closed = projector, list(batches), False

    def subscribe(self, *args, **kwargs):
        pass

    def consume(self, num_messages, timeout):
        if not self.batches:
            self.projector.request_stop()
            return []
        return self.batches.pop(0)

    def close(self):
        self.closed = True


def _projector(monkeypatch, batches_per_consumer):
    projector = Projector(KafkaSettings(client={"bootstrap.servers": "127.0.0.1:1"}),
                          PostgresSettings(dsn="postgresql://nobody@127.0.0.1:1/x"),
                          ProjectorOptions(instance_id="p1"), codec=AvroCodec())
    built = []

    def build_consumer(settings, group_id, **overrides):
        built.append(FakeConsumer(projector, batches_per_consumer[len(built)]))
        return built[-1]

    monkeypatch.setattr(loop, "build_consumer", build_consumer)
    monkeypatch.setattr(loop, "require_topics", lambda admin, topics: None)
    monkeypatch.setattr(loop, "build_admin", lambda settings: None)
    monkeypatch.setattr(loop, "_REJOIN_WAIT_S", 0.0)
    monkeypatch.setattr(projector, "_close_db", lambda: None)
    return projector, built


def test_a_fatal_consumer_error_is_raised_not_logged():
    projector = Projector(KafkaSettings(client={"bootstrap.servers": "127.0.0.1:1"}),
                          PostgresSettings(dsn="postgresql://nobody@127.0.0.1:1/x"), codec=AvroCodec())
    with pytest.raises(ConsumerFenced, match="fenced"):
        projector._handle([Msg(FENCED)])


def test_a_fenced_consumer_is_replaced_by_a_new_one_that_joins_again(monkeypatch):
    # Old code: "consumer error" logged every poll while the dead consumer returned
    # nothing more (the broker-loss test's read models stayed 274 postings behind).
    projector, built = _projector(monkeypatch, [[[Msg(FENCED)]], []])
    projector.run()
    assert len(built) == 2 and built[0].closed and built[1].closed


def test_a_consumer_fenced_again_and_again_stops_the_projector_with_a_clear_error(monkeypatch):
    projector, built = _projector(monkeypatch, [[[Msg(FENCED)]] for _ in range(loop._MAX_REJOINS + 1)])
    with pytest.raises(ProjectorError, match="another projector running with --instance-id p1"):
        projector.run()
    assert len(built) == loop._MAX_REJOINS + 1
