"""The Avro codec of every wavestream topic.

Wire formats (DESIGN.md section 3): Avro single-object encoding by default (``C3 01`` +
8-byte little-endian CRC-64-AVRO fingerprint of the writer schema's Parsing Canonical
Form + Avro binary body), readable by any Avro reader holding the ``.avsc`` files; the
Confluent Schema Registry format (``00`` + 4-byte big-endian schema id + body) when a
registry is configured.

Decoding accepts both formats whatever is configured, finds the writer schema among the
current schemas (``schemas/*.avsc``) and every historic version
(``schemas/history/v*/*.avsc``) or in the registry, and resolves it to the current reader
schema, so records written by older producers keep decoding. To evolve a schema, copy
the current files to ``schemas/history/v<N>/`` first, then change the current ones
BACKWARD compatibly (new fields with defaults).

Python-facing values are plain dicts. ``timestamp-millis`` fields decode to aware UTC
datetimes and encode from datetimes (naive ones are read as UTC) or int milliseconds.
An ``InteractionEvent``'s ``payload`` is the dict of the record named by its
``event_type``; the codec picks the union branch from ``event_type`` because several
payload records are structurally alike and a guess could pick the wrong one.

Every failure raises :class:`~wavestream.exceptions.CodecError` whose ``reason`` is one
of: ``truncated``, ``bad_magic``, ``unknown_schema``, ``incompatible_schema``,
``corrupt_body``, ``unexpected_type`` (decoding); ``unknown_record``, ``invalid_record``
(encoding); ``registry_error`` (transient: do not dead-letter on it); ``unknown_topic``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from io import BytesIO
from typing import Any, Mapping

import fastavro
from fastavro.read import SchemaResolutionError
from fastavro.validation import ValidationError, validate

from wavestream.config import KafkaSettings
from wavestream.exceptions import CodecError, SchemaError
from wavestream.schemas import NAMESPACE, SchemaSet, WriterSchema, fullname, load_schemas, writer_schema

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"
TRANSIENT_REASONS = frozenset({"registry_error"})

_SINGLE_OBJECT_HEADER = len(SINGLE_OBJECT_MAGIC) + 8
_CONFLUENT_HEADER = len(CONFLUENT_MAGIC) + 4
_TOPIC_RECORDS = {
    "postings": "Posting", "commands": "InteractionCommand", "events": "InteractionEvent"
}


def record_for_topic(topic: str) -> str:
    """The short record name carried by ``topic`` (``stage.*`` -> ``StageCommand``,
    ``commands.state.*`` -> ``PostingControl``).
    Raises CodecError(reason="unknown_topic") for a topic without records (deadletter)."""
    if topic in _TOPIC_RECORDS:
        return _TOPIC_RECORDS[topic]
    if topic.startswith("stage.") and len(topic) > len("stage."):
        return "StageCommand"
    if topic.startswith("commands.state.") and len(topic) > len("commands.state."):
        return "PostingControl"
    raise CodecError(f"topic {topic!r} carries no Avro record", reason="unknown_topic")


@dataclass(frozen=True)
class Decoded:
    """A record in the current schema's shape; ``schema_version`` is the writer's:
    ``current``, ``v1``, ... or ``registry:<id>`` for a registry schema matching no file."""

    name: str
    value: dict[str, Any]
    schema_version: str


class AvroCodec:
    """Encode and decode wavestream records (see the module docstring).

    ``registry`` is a ``confluent_kafka.schema_registry.SchemaRegistryClient`` or any
    object with ``register_schema(subject, Schema) -> int`` and
    ``get_schema(schema_id) -> Schema``; without one, encoding uses single-object
    encoding. Safe to share between threads.
    """

    def __init__(self, schemas: SchemaSet | None = None, registry: Any = None) -> None:
        self.schemas = schemas if schemas is not None else load_schemas()
        self.registry = registry
        self._ids: dict[str, int] = {}  # subject -> schema id, registered by us
        self._by_id: dict[int, WriterSchema] = {}

    @classmethod
    def from_settings(cls, settings: KafkaSettings, schemas: SchemaSet | None = None) -> "AvroCodec":
        """A codec using the registry at ``settings.schema_registry_url`` if set.
        Raises SchemaError if the schema files are invalid."""
        registry = None
        if settings.schema_registry_url:
            # Imported here: the registry client pulls optional dependencies.
            from confluent_kafka.schema_registry import SchemaRegistryClient

            registry = SchemaRegistryClient({"url": settings.schema_registry_url})
        return cls(schemas, registry)

    def encode(self, record_name: str, value: Mapping[str, Any], *, topic: str | None = None) -> bytes:
        """Encode ``value`` as the current ``record_name`` schema.

        With a registry, the schema is registered under subject ``<topic>-value`` (or the
        record's full name when ``topic`` is None) and the Confluent format is written.

        Raises:
            CodecError: ``unknown_record`` (no such record), ``invalid_record`` (the value
                does not match the schema, e.g. a missing or extra field, a wrong
                type, an event_type without a payload branch), ``registry_error``.
        """
        schema = self._current(record_name)
        header = (self._registry_header(schema, topic) if self.registry is not None
                  else SINGLE_OBJECT_MAGIC + schema.fingerprint)
        buf = BytesIO()
        buf.write(header)
        try:
            datum = _to_avro(record_name, value)
            # validate checks int ranges; strict_allow_default rejects extra keys (typos).
            validate(datum, schema.parsed, raise_errors=True)
            fastavro.schemaless_writer(buf, schema.parsed, datum, strict_allow_default=True)
        except (ValidationError, ValueError, TypeError, KeyError, AttributeError, OverflowError) as exc:
            raise CodecError(f"invalid {record_name}: {exc}", reason="invalid_record") from exc
        return buf.getvalue()

    def decode(self, data: bytes, expected: str | None = None) -> Decoded:
        """Decode a record in either wire format into the current schema's shape.

        Raises:
            CodecError: ``truncated``, ``bad_magic``, ``unknown_schema`` (fingerprint or
                registry id unknown), ``corrupt_body`` (the body does not decode, has
                trailing bytes, or an event's payload contradicts its event_type),
                ``unexpected_type`` (not the ``expected`` record), ``incompatible_schema``
                (the writer schema does not resolve to the current one), ``registry_error``.
        """
        if not isinstance(data, (bytes, bytearray, memoryview)):
            raise CodecError(f"expected bytes, got {type(data).__name__}", reason="truncated")
        data = bytes(data)
        writer, body = self._writer_for(data)
        if expected is not None and writer.name != expected:
            raise CodecError(f"expected {expected}, got {writer.name}", reason="unexpected_type")
        reader = self.schemas.current.get(writer.name)
        if reader is None:
            raise CodecError(f"{writer.name} has no current schema", reason="unknown_schema")
        value = _from_avro(writer.name, _read_body(body, writer, reader))
        return Decoded(writer.name, value, writer.version)

    def _current(self, record_name: str) -> WriterSchema:
        if record_name not in self.schemas.current:
            raise CodecError(f"no schema named {record_name!r}", reason="unknown_record")
        return self.schemas.current[record_name]

    def _writer_for(self, data: bytes) -> tuple[WriterSchema, bytes]:
        if SINGLE_OBJECT_MAGIC.startswith(data):  # b"" or b"\xc3"
            raise CodecError("record shorter than any header", reason="truncated")
        if data[:2] == SINGLE_OBJECT_MAGIC:
            if len(data) < _SINGLE_OBJECT_HEADER:
                raise CodecError("single-object header is truncated", reason="truncated")
            digest = data[2:_SINGLE_OBJECT_HEADER]
            writer = self.schemas.by_fingerprint.get(digest)
            if writer is None:
                raise CodecError(f"unknown schema fingerprint {digest.hex()}", reason="unknown_schema")
            return writer, data[_SINGLE_OBJECT_HEADER:]
        if data[:1] == CONFLUENT_MAGIC:
            if len(data) < _CONFLUENT_HEADER:
                raise CodecError("registry header is truncated", reason="truncated")
            schema_id = int.from_bytes(data[1:_CONFLUENT_HEADER], "big")
            return self._registry_writer(schema_id), data[_CONFLUENT_HEADER:]
        raise CodecError(f"unknown magic bytes {data[:2].hex()}", reason="bad_magic")

    def _registry_header(self, schema: WriterSchema, topic: str | None) -> bytes:
        subject = f"{topic}-value" if topic else f"{NAMESPACE}.{schema.name}"
        schema_id = self._ids.get(subject)
        if schema_id is None:
            from confluent_kafka.schema_registry import Schema

            try:
                schema_id = int(self.registry.register_schema(subject, Schema(schema.json, "AVRO")))
            except Exception as exc:  # the client raises many types (HTTP, JSON, network)
                raise CodecError(f"cannot register {subject}: {exc}", reason="registry_error") from exc
            self._ids[subject] = schema_id
            self._by_id[schema_id] = schema
        return CONFLUENT_MAGIC + schema_id.to_bytes(4, "big")

    def _registry_writer(self, schema_id: int) -> WriterSchema:
        if schema_id in self._by_id:
            return self._by_id[schema_id]
        if self.registry is None:
            raise CodecError(f"registry schema id {schema_id} but no registry", reason="unknown_schema")
        try:
            registered = self.registry.get_schema(schema_id)
        except Exception as exc:  # the client raises many types (HTTP, JSON, network)
            not_found = getattr(exc, "http_status_code", None) == 404
            reason = "unknown_schema" if not_found else "registry_error"
            raise CodecError(f"registry schema id {schema_id}: {exc}", reason=reason) from exc
        self._by_id[schema_id] = self._adopt(schema_id, getattr(registered, "schema_str", None))
        return self._by_id[schema_id]

    def _adopt(self, schema_id: int, schema_str: Any) -> WriterSchema:
        """A registry schema as a WriterSchema, if it is one of our records."""
        try:
            raw = json.loads(schema_str)
            name = fullname(raw["name"], raw.get("namespace"))
        except (TypeError, ValueError, KeyError) as exc:
            raise CodecError(f"registry schema id {schema_id} is unreadable", reason="unknown_schema") from exc
        namespace, _, short = name.rpartition(".")
        if namespace != NAMESPACE or short not in self.schemas.current:
            raise CodecError(f"registry schema id {schema_id} is {name}", reason="unknown_schema")
        try:
            writer = writer_schema(short, f"registry:{schema_id}", raw, f"registry id {schema_id}")
        except SchemaError as exc:
            raise CodecError(str(exc), reason="unknown_schema") from exc
        return self.schemas.by_fingerprint.get(writer.fingerprint, writer)


def _read_body(body: bytes, writer: WriterSchema, reader: WriterSchema) -> dict[str, Any]:
    buf = BytesIO(body)
    resolve = None if writer is reader else reader.parsed
    try:
        value = fastavro.schemaless_reader(buf, writer.parsed, resolve, return_record_name=True)
    except SchemaResolutionError as exc:  # e.g. an enum symbol the reader lacks, no default
        msg = f"{writer.name} {writer.version} does not resolve to current: {exc}"
        raise CodecError(msg, reason="incompatible_schema") from exc
    except Exception as exc:  # corrupt bytes raise anything from EOFError to OverflowError
        raise CodecError(f"corrupt {writer.name} body: {exc!r}", reason="corrupt_body") from exc
    if buf.tell() != len(body):
        raise CodecError(f"trailing bytes after {writer.name}", reason="corrupt_body")
    return value


def _to_avro(record_name: str, value: Mapping[str, Any]) -> Any:
    """The fastavro datum: an event's payload becomes (branch full name, record)."""
    if record_name != "InteractionEvent" or not isinstance(value, Mapping) or isinstance(
            value.get("payload"), tuple):
        return value
    event_type = value.get("event_type")
    if not isinstance(event_type, str):
        raise ValueError(f"event_type must be a string, got {event_type!r}")
    return {**value, "payload": (f"{NAMESPACE}.{event_type}", value.get("payload"))}


def _from_avro(record_name: str, value: dict[str, Any]) -> dict[str, Any]:
    if record_name != "InteractionEvent":
        return value
    branch, payload = value["payload"] if isinstance(value["payload"], tuple) else ("", None)
    if branch.rpartition(".")[2] != value["event_type"]:
        raise CodecError(f"{value['event_type']} with a {branch} payload", reason="corrupt_body")
    value["payload"] = payload
    return value
