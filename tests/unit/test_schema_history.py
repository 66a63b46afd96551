"""BACKWARD compatibility: a record written with any schema version kept under
schemas/history/ (found on disk, so a new version is covered without editing this
file) decodes with the current reader schema, new fields taking their defaults."""

from __future__ import annotations

import io
import json
import shutil
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import fastavro
import pytest
from fastavro.schema import UnknownType, parse_schema

from wavestream import PROJECT_ROOT
from wavestream.codec import AvroCodec
from wavestream.schemas import load_schemas
from wavestream.exceptions import CodecError, SchemaError

pytestmark = pytest.mark.unit

SCHEMA_DIR = PROJECT_ROOT / "schemas"
HISTORY_DIRS = sorted(
    (d for d in (SCHEMA_DIR / "history").glob("v*") if d.is_dir()), key=lambda d: int(d.name[1:])
)
VERSION_DIRS = [*HISTORY_DIRS, SCHEMA_DIR]
NEXT_VERSION = f"v{int(HISTORY_DIRS[-1].name[1:]) + 1}"
T0 = datetime(2024, 5, 6, 7, 8, 9, 123000, tzinfo=timezone.utc)


def parse_directory(directory: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Parse a version's .avsc files with plain fastavro, as a third party would:
    retry files whose named types another file defines until all parse. Returns the
    records by file stem and every named type by full name."""
    pending = {p.stem: json.loads(p.read_text()) for p in directory.glob("*.avsc")}
    named: dict = {}
    parsed: dict[str, Any] = {}
    while pending:
        progressed = False
        for stem, raw in list(pending.items()):
            try:
                parsed[stem] = parse_schema(raw, dict(named))
            except UnknownType:
                continue
            parse_schema(raw, named)
            del pending[stem]
            progressed = True
        assert progressed, f"unresolvable types in {directory}: {sorted(pending)}"
    return parsed, named


def named_types(schema: Any, named: dict) -> dict:
    """Every named definition in a parsed schema, by full name."""
    if isinstance(schema, list):
        for branch in schema:
            named_types(branch, named)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed"):
            named[schema["name"]] = schema
        for child in [f["type"] for f in schema.get("fields", [])] + [
                schema.get("items"), schema.get("values")]:
            named_types(child, named)
    return named


def sample(schema: Any, named: dict, label: str, prefer_null: bool) -> Any:
    """A value for ``schema``: strings name their field, unions of records use fastavro's
    tuple notation, nullable unions pick null when ``prefer_null``."""
    if isinstance(schema, str):
        if schema in named:
            return sample(named[schema], named, label, prefer_null)
        return {"null": None, "boolean": True, "int": 7, "long": 7000, "float": 1.5,
                "double": 2.5, "bytes": b"\x01", "string": f"{label}-value"}[schema]
    if isinstance(schema, list):
        branch = None if prefer_null and "null" in schema else next(b for b in schema if b != "null")
        if branch is None:
            return None
        value = sample(branch, named, label, prefer_null)
        record = named.get(branch) if isinstance(branch, str) else branch
        is_record = isinstance(record, dict) and record["type"] == "record"
        return (record["name"], value) if is_record else value
    kind = schema["type"]
    if kind == "record":
        return {f["name"]: sample(f["type"], named, f["name"], prefer_null) for f in schema["fields"]}
    if kind == "enum":
        return schema["symbols"][0]
    if kind == "map":
        return {"key": sample(schema["values"], named, label, prefer_null)}
    if kind == "array":
        return [sample(schema["items"], named, label, prefer_null)]
    if schema.get("logicalType") == "timestamp-millis":
        return T0
    return sample(kind, named, label, prefer_null)


def resolved(value: Any, schema: Any, named: dict) -> Any:
    """What the current reader ``schema`` must make of a written ``value``: reader
    fields absent from the value take their default; a record union yields the record."""
    if isinstance(schema, str):
        return resolved(value, named[schema], named) if schema in named else value
    if isinstance(schema, list):
        if not isinstance(value, tuple):
            return value
        branch = next(b for b in schema if (b if isinstance(b, str) else b["name"]) == value[0])
        return resolved(value[1], branch, named)
    kind = schema["type"]
    if kind == "record":
        return {f["name"]: resolved(value[f["name"]], f["type"], named) if f["name"] in value
                else f["default"] for f in schema["fields"]}
    if kind == "enum":
        return value if value in schema["symbols"] else schema["default"]
    if kind == "map":
        return {k: resolved(v, schema["values"], named) for k, v in value.items()}
    return value


def cases():
    """(version dir, record, event branch or None, prefer_null) for every version on disk."""
    for directory in VERSION_DIRS:
        for name, parsed in sorted(parse_directory(directory)[0].items()):
            branches = [None]
            if name == "InteractionEvent":
                payload = next(f["type"] for f in parsed["fields"] if f["name"] == "payload")
                branches = [b if isinstance(b, str) else b["name"] for b in payload]
            for branch in branches:
                for prefer_null in (False, True):
                    version = directory.name if directory != SCHEMA_DIR else "current"
                    yield pytest.param(directory, name, branch, prefer_null,
                                       id=f"{version}-{name}-{branch}-{'nulls' if prefer_null else 'values'}")


@pytest.fixture(scope="module")
def schemas():
    return load_schemas()


def test_history_versions_on_disk_are_the_ones_loaded(schemas):
    assert HISTORY_DIRS, "schemas/history/ must keep at least one earlier version"
    assert list(schemas.history) == [d.name for d in HISTORY_DIRS]
    for version in schemas.history.values():
        assert set(version) <= set(schemas.current)


@pytest.mark.parametrize(("directory", "name", "branch", "prefer_null"), list(cases()))
def test_written_with_any_version_decodes_with_current_reader(schemas, directory, name, branch, prefer_null):
    version = "current" if directory == SCHEMA_DIR else directory.name
    records, named = parse_directory(directory)
    writer = records[name]
    value = sample(writer, named, name, prefer_null)
    if branch is not None:
        value["payload"] = (branch, sample(named[branch], named, branch, prefer_null))
        value["event_type"] = branch.rpartition(".")[2]
    body = io.BytesIO()
    fastavro.schemaless_writer(body, writer, value)
    data = b"\xc3\x01" + schemas.history.get(version, schemas.current)[name].fingerprint + body.getvalue()

    decoded = AvroCodec(schemas).decode(data, expected=name)

    reader = schemas.current[name].parsed
    unchanged = schemas.history.get(version, schemas.current)[name].fingerprint == schemas.current[name].fingerprint
    assert decoded.schema_version == ("current" if unchanged else version)  # a record that did not change is current
    assert decoded.value == resolved(value, reader, named_types(reader, {}))


def test_v1_to_current_is_a_genuine_evolution(schemas):
    """The current schemas add defaulted fields that v1 lacks, so the test above really
    exercises schema resolution rather than identical schemas."""
    v1, current = schemas.history["v1"], schemas.current
    assert all(v1[name].fingerprint != current[name].fingerprint for name in v1)
    for name in ("StageCommand", "InteractionEvent"):
        old = {f["name"] for f in v1[name].raw["fields"]}
        new = {f["name"]: f for f in current[name].raw["fields"]}
        assert "workflow_sha256" not in old
        assert new["workflow_sha256"]["type"] == ["null", "string"]
        assert new["workflow_sha256"]["default"] is None
        assert all("default" in new[field] for field in set(new) - old)


def test_v2_to_current_adds_command_rejected_and_the_cancel_epoch(schemas):
    """A v2 StageCommand (no epoch) reads as epoch 0; v2 readers lack CommandRejected,
    which the current enum adds before its ``Unknown`` default."""
    v2, current = schemas.history["v2"], schemas.current
    epoch = {f["name"]: f for f in current["StageCommand"].raw["fields"]}["epoch"]
    assert epoch["default"] == 0 and "epoch" not in {f["name"] for f in v2["StageCommand"].raw["fields"]}
    symbols = {f["name"]: f for f in current["InteractionEvent"].raw["fields"]}["event_type"]["type"]["symbols"]
    assert symbols[-2:] == ["CommandRejected", "Unknown"]


def test_codec_output_is_plain_avro_readable_from_the_avsc_files(schemas):
    """A third party holding only the .avsc files and fastavro reads any record: after
    the 10-byte header comes plain Avro binary of the file's schema."""
    records, named = parse_directory(SCHEMA_DIR)
    for name, writer in records.items():
        value = sample(writer, named, name, prefer_null=False)
        data = AvroCodec(schemas).encode(name, value)
        assert fastavro.schemaless_reader(io.BytesIO(data[10:]), writer, return_record_name=True) == value


@pytest.fixture
def schema_copy(tmp_path):
    target = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, target)
    return target


def test_new_history_versions_are_found_on_disk(schema_copy):
    shutil.copytree(schema_copy, schema_copy / "history" / NEXT_VERSION, ignore=shutil.ignore_patterns("history"))
    loaded = load_schemas(schema_copy)
    assert list(loaded.history) == [d.name for d in HISTORY_DIRS] + [NEXT_VERSION]
    # the new version equals current: its fingerprints report the newest version, "current".
    fp = loaded.history[NEXT_VERSION]["Posting"].fingerprint
    assert loaded.by_fingerprint[fp].version == "current"


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: (d / "Posting.avsc").unlink(),  # StageCommand names an undefined type
        lambda d: (d / "InteractionCommand.avsc").unlink(),  # a record is missing
        lambda d: (d / "Posting.avsc").write_text("{not json"),
        lambda d: (d / "Extra.avsc").write_text('{"type":"record","name":"Other","fields":[]}'),
        lambda d: (d / "Dup.avsc").write_text(
            '{"type":"record","name":"Dup","namespace":"wavestream.v1","fields":['
            '{"name":"p","type":{"type":"record","name":"Posting","fields":[]}}]}'),
        lambda d: (d / "Bad.avsc").write_text('{"type":"record","name":"Bad","fields":[{"name":"x","type":"nope"}]}'),
        lambda d: (d / "Bad.avsc").write_text('{"type":"record","name":"Bad","fields":[{"name":"x"}]}'),
    ],
)
def test_broken_schema_files_raise_schema_error(schema_copy, damage):
    damage(schema_copy)
    with pytest.raises(SchemaError):
        load_schemas(schema_copy)


def test_a_writer_that_does_not_resolve_raises_incompatible_schema(schema_copy):
    """A version whose enum has a symbol the current reader lacks (and InteractionAction
    has no enum default) cannot be read: a typed error, not a crash or a guess."""
    future = schema_copy / "history" / NEXT_VERSION
    future.mkdir()
    for path in schema_copy.glob("*.avsc"):
        shutil.copy(path, future)
    raw = json.loads((future / "InteractionCommand.avsc").read_text())
    raw["fields"][2]["type"]["symbols"].append("pause")
    (future / "InteractionCommand.avsc").write_text(json.dumps(raw))
    schemas = load_schemas(schema_copy)
    writer = schemas.history[NEXT_VERSION]["InteractionCommand"]
    value = {"command_id": "c", "posting_id": "p", "action": "pause", "issued_at": T0}
    body = io.BytesIO()
    fastavro.schemaless_writer(body, writer.parsed, value)
    codec = AvroCodec(schemas)
    with pytest.raises(CodecError) as info:
        codec.decode(b"\xc3\x01" + writer.fingerprint + body.getvalue())
    assert info.value.reason == "incompatible_schema" and info.value.__cause__ is not None
    value["action"] = "rerun"  # the same writer schema reads fine for a known symbol
    body = io.BytesIO()
    fastavro.schemaless_writer(body, writer.parsed, value)
    assert codec.decode(b"\xc3\x01" + writer.fingerprint + body.getvalue()).schema_version == NEXT_VERSION
