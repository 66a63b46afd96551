"""Every schema's records through a real topic, and corrupt bytes as a typed error."""

from __future__ import annotations

import pytest

from tests.unit.test_codec import PAYLOADS, RECORDS, event
from wavestream.clients import build_admin, build_consumer, build_producer
from wavestream.codec import AvroCodec
from wavestream.exceptions import CodecError
from wavestream.topics import TopicSpec, create_topics

pytestmark = pytest.mark.integration


def _read(settings, topic: str, group: str, count: int) -> list:
    consumer = build_consumer(settings, group)
    consumer.subscribe([topic])
    records = []
    try:
        for _ in range(240):
            msg = consumer.poll(0.5)
            if msg is not None and msg.error() is None:
                records.append(msg)
                if len(records) == count:
                    break
    finally:
        consumer.close()
    return records


def test_every_record_type_round_trips_through_a_topic(kafka_settings, unique):
    topic = f"codec-{unique}"
    create_topics(build_admin(kafka_settings), [TopicSpec(topic, 1, 1)])
    codec = AvroCodec.from_settings(kafka_settings)
    sent = [(name, value) for name, value in RECORDS.items()]
    sent += [("InteractionEvent", event(event_type)) for event_type in sorted(PAYLOADS)]

    producer = build_producer(kafka_settings)
    for name, value in sent:
        producer.produce(topic, key=b"p-1", value=codec.encode(name, value))
    producer.produce(topic, key=b"p-1", value=b"\xc3\x01garbage that is no record")
    assert producer.flush(30) == 0

    received = _read(kafka_settings, topic, f"g-{unique}", len(sent) + 1)
    assert len(received) == len(sent) + 1
    for (name, value), msg in zip(sent, received):
        decoded = codec.decode(msg.value(), expected=name)
        assert decoded.name == name and decoded.value == value
    with pytest.raises(CodecError) as info:
        codec.decode(received[-1].value())
    assert info.value.reason in {"unknown_schema", "corrupt_body", "bad_magic"}
