"""The codec with a Confluent Schema Registry: the registry's wire format, reading
single-object records too, an old producer's schema, and typed registry failures."""

from __future__ import annotations

import io
import json

import fastavro
import pytest
from confluent_kafka.schema_registry import Schema, SchemaRegistryClient
from fastavro.schema import to_parsing_canonical_form

from tests.unit.test_codec import POSTING, RECORDS, event, reason_of
from wavestream.codec import AvroCodec, Decoded
from wavestream.config import KafkaSettings
from wavestream.exceptions import CodecError

pytestmark = pytest.mark.unit


class RegistryDown(Exception):
    pass


class NotFound(Exception):
    http_status_code = 404


class FakeRegistry:
    """In-memory Schema Registry: same API subset as SchemaRegistryClient."""

    def __init__(self) -> None:
        self.schemas: dict[int, Schema] = {}
        self.subjects: dict[str, list[int]] = {}
        self.down = False

    def register_schema(self, subject: str, schema: Schema, normalize_schemas: bool = False) -> int:
        if self.down:
            raise RegistryDown("connection refused")
        ids = [i for i, s in self.schemas.items() if s.schema_str == schema.schema_str]
        schema_id = ids[0] if ids else len(self.schemas) + 100
        self.schemas[schema_id] = schema
        self.subjects.setdefault(subject, []).append(schema_id)
        return schema_id

    def get_schema(self, schema_id: int, subject_name=None, fmt=None) -> Schema:
        if self.down:
            raise RegistryDown("connection refused")
        if schema_id not in self.schemas:
            raise NotFound(f"schema {schema_id} not found")
        return self.schemas[schema_id]


def test_registry_wire_format_round_trip(schemas):
    registry = FakeRegistry()
    codec = AvroCodec(schemas, registry=registry)
    value = event("InteractionCompleted")
    data = codec.encode("InteractionEvent", value, topic="events")
    schema_id = registry.subjects["events-value"][0]
    assert data[0] == 0 and int.from_bytes(data[1:5], "big") == schema_id
    registered = registry.schemas[schema_id].schema_str
    assert to_parsing_canonical_form(json.loads(registered)) == to_parsing_canonical_form(
        schemas.current["InteractionEvent"].raw)
    fresh = AvroCodec(schemas, registry=registry)  # nothing cached: asks the registry
    assert fresh.decode(data, expected="InteractionEvent") == Decoded(
        "InteractionEvent", value, "current")
    assert codec.encode("Posting", POSTING)[0] == 0
    assert "wavestream.v1.Posting" in registry.subjects


def test_registry_codec_still_reads_single_object_records(codec, schemas):
    data = codec.encode("Posting", POSTING)
    assert AvroCodec(schemas, registry=FakeRegistry()).decode(data).value == POSTING


def test_registry_schema_of_an_old_producer_resolves_to_current(schemas):
    registry = FakeRegistry()
    v1 = schemas.history["v1"]["StageCommand"]
    schema_id = registry.register_schema("stage.skills-value", Schema(v1.json, "AVRO"))
    old = {k: v for k, v in RECORDS["StageCommand"].items() if k not in ("not_before", "workflow_sha256")}
    old["posting"] = {k: v for k, v in POSTING.items() if k not in ("summary", "attributes")}
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, v1.parsed, old)
    decoded = AvroCodec(schemas, registry=registry).decode(b"\x00" + schema_id.to_bytes(4, "big") + buf.getvalue())
    assert decoded.schema_version == "v1"
    assert decoded.value["workflow_sha256"] is None and decoded.value["posting"]["attributes"] == {}


def test_registry_failures_are_typed(schemas):
    registry = FakeRegistry()
    codec = AvroCodec(schemas, registry=registry)
    foreign = registry.register_schema("x-value", Schema('{"type":"record","name":"a.X","fields":[]}'))
    assert reason_of(codec, b"\x00" + foreign.to_bytes(4, "big")) == "unknown_schema"
    assert reason_of(codec, b"\x00" + (999).to_bytes(4, "big")) == "unknown_schema"
    registry.down = True
    assert reason_of(codec, b"\x00" + (555).to_bytes(4, "big")) == "registry_error"
    with pytest.raises(CodecError) as info:
        codec.encode("Posting", POSTING, topic="postings")
    assert info.value.reason == "registry_error" and isinstance(info.value.__cause__, RegistryDown)


def test_from_settings_builds_a_registry_client_only_with_a_url(schemas):
    plain = AvroCodec.from_settings(KafkaSettings(client={"bootstrap.servers": "x:1"}), schemas)
    assert plain.registry is None
    with_url = AvroCodec.from_settings(
        KafkaSettings(client={"bootstrap.servers": "x:1"}, schema_registry_url="http://127.0.0.1:1"), schemas)
    assert isinstance(with_url.registry, SchemaRegistryClient)
