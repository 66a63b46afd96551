"""The Avro schemas of the wavestream topics as files: ``schemas/*.avsc`` (current) and
``schemas/history/v<N>/*.avsc`` (every earlier version), each record made standalone
(named types defined inline), parsed by fastavro and fingerprinted (CRC-64-AVRO of its
Parsing Canonical Form). :mod:`wavestream.codec` encodes and decodes with them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

from fastavro.schema import fingerprint, parse_schema, to_parsing_canonical_form

from wavestream.exceptions import SchemaError
from wavestream.resources import resource_dir

NAMESPACE = "wavestream.v1"
RECORD_NAMES = ("Posting", "StageCommand", "InteractionCommand", "InteractionEvent", "PostingControl")
DEFAULT_SCHEMA_DIR = resource_dir("schemas")
CURRENT = "current"

_PRIMITIVES = frozenset({"null", "boolean", "int", "long", "float", "double", "bytes", "string"})
_NAMED = frozenset({"record", "error", "enum", "fixed"})


@dataclass(frozen=True)
class WriterSchema:
    """One record schema of one version, standalone (named types defined inline):
    ``raw`` JSON (what a registry gets), fastavro's ``parsed`` form, and the 8-byte
    little-endian CRC-64-AVRO ``fingerprint`` of its canonical form."""

    name: str
    version: str
    raw: Mapping[str, Any] = field(repr=False)
    parsed: Any = field(repr=False)
    fingerprint: bytes

    @property
    def json(self) -> str:
        return json.dumps(self.raw, separators=(",", ":"))


@dataclass(frozen=True)
class SchemaSet:
    """The current schemas by short name, plus every historic version found on disk."""

    current: Mapping[str, WriterSchema]
    history: Mapping[str, Mapping[str, WriterSchema]]  # "v1", "v2", ... oldest first
    by_fingerprint: Mapping[bytes, WriterSchema] = field(repr=False)


def load_schemas(schema_dir: Path = DEFAULT_SCHEMA_DIR) -> SchemaSet:
    """Load ``schema_dir/*.avsc`` and every ``schema_dir/history/v<N>/*.avsc``. A file holds
    one record named like the file; other files of its directory may use its named types.

    Raises:
        SchemaError: a file is unreadable or invalid, names a type that no file
            defines, defines a type twice, or a current record is missing.
    """
    current = _load_version(Path(schema_dir), CURRENT)
    missing = sorted(set(RECORD_NAMES) - set(current))
    if missing:
        raise SchemaError(f"{schema_dir}: missing schema files for {', '.join(missing)}")
    found = [d for d in Path(schema_dir, "history").glob("v*") if d.name[1:].isdigit() and d.is_dir()]
    history = {d.name: _load_version(d, d.name) for d in sorted(found, key=lambda d: int(d.name[1:]))}
    by_fingerprint: dict[bytes, WriterSchema] = {}
    # Newest last, so a record unchanged since an old version reports the newest one.
    for version in [*history.values(), current]:
        by_fingerprint.update({s.fingerprint: s for s in version.values()})
    return SchemaSet(current=current, history=history, by_fingerprint=by_fingerprint)


def _load_version(directory: Path, version: str) -> dict[str, WriterSchema]:
    raws: dict[str, Any] = {}
    for path in sorted(directory.glob("*.avsc")):
        try:
            raws[path.stem] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SchemaError(f"{path}: cannot read schema: {exc}") from exc
    definitions: dict[str, dict] = {}
    try:
        normalized = {stem: _normalize(raw, None, definitions, stem) for stem, raw in raws.items()}
    except (TypeError, AttributeError) as exc:  # e.g. a field that is not an object
        raise SchemaError(f"{directory}: malformed schema: {exc}") from exc
    result = {}
    for stem, schema in normalized.items():
        if not isinstance(schema, dict) or schema.get("type") != "record" or (
                schema["name"].rpartition(".")[2] != stem):
            raise SchemaError(f"{directory / stem}.avsc: must hold one record named {stem}")
        standalone = _inline(schema, definitions, set(), stem)
        result[stem] = writer_schema(stem, version, standalone, f"{directory / stem}.avsc")
    return result


def writer_schema(name: str, version: str, standalone: dict, origin: str) -> WriterSchema:
    """``standalone`` parsed and fingerprinted.

    Raises:
        SchemaError: fastavro rejects it (``origin`` names where it came from).
    """
    try:
        parsed = parse_schema(standalone)
        canonical = to_parsing_canonical_form(parsed)
    except Exception as exc:  # fastavro raises several types for a bad schema
        raise SchemaError(f"{origin}: invalid Avro schema: {exc}") from exc
    digest = bytes.fromhex(fingerprint(canonical, "CRC-64-AVRO"))
    return WriterSchema(name, version, standalone, parsed, digest)


def fullname(name: str, namespace: str | None) -> str:
    """``name`` qualified by ``namespace`` unless it is qualified already."""
    return name if "." in name or not namespace else f"{namespace}.{name}"


def _is_named(schema: dict) -> bool:
    return isinstance(schema["type"], str) and schema["type"] in _NAMED


def _map_children(out: dict, fn: Callable[[Any], Any]) -> dict:
    """Replace each sub-schema of the schema object ``out`` by ``fn(sub-schema)``."""
    kind = out["type"]
    if kind in ("record", "error"):
        out["fields"] = [{**f, "type": fn(f.get("type"))} for f in out.get("fields", [])]
    elif kind == "array":
        out["items"] = fn(out.get("items"))
    elif kind == "map":
        out["values"] = fn(out.get("values"))
    elif not isinstance(kind, str) or kind not in _PRIMITIVES | _NAMED:
        out["type"] = fn(kind)  # {"type": <a name, union or nested schema>}
    return out


def _normalize(schema: Any, namespace: str | None, found: dict[str, dict], origin: str) -> Any:
    """Copy ``schema`` with full names, collecting named definitions into ``found``.
    Full names let a definition be inlined into another file without changing meaning."""
    if isinstance(schema, list):
        return [_normalize(item, namespace, found, origin) for item in schema]
    if isinstance(schema, str):
        return schema if schema in _PRIMITIVES else fullname(schema, namespace)
    if not isinstance(schema, dict) or "type" not in schema:
        raise SchemaError(f"{origin}.avsc: not an Avro schema: {schema!r:.80}")
    out = dict(schema)
    if _is_named(out):
        if not isinstance(out.get("name"), str):
            raise SchemaError(f"{origin}.avsc: a {out['type']} has no name")
        full = fullname(out["name"], out.pop("namespace", namespace))
        if full in found:
            raise SchemaError(f"{origin}.avsc: type {full} is defined twice")
        out["name"] = full
        found[full] = out  # _map_children fills its fields in place
        namespace = full.rpartition(".")[0] or None
    return _map_children(out, lambda sub: _normalize(sub, namespace, found, origin))


def _inline(schema: Any, definitions: Mapping[str, dict], defined: set[str], origin: str) -> Any:
    """Make a normalized schema standalone: the first use of a named type defines it,
    as Avro's own parsers print it, so other implementations get the same fingerprint."""
    if isinstance(schema, list):
        return [_inline(item, definitions, defined, origin) for item in schema]
    if isinstance(schema, str):
        if schema in _PRIMITIVES or schema in defined:
            return schema
        if schema not in definitions:
            raise SchemaError(f"{origin}.avsc: unknown type {schema}")
        return _inline(definitions[schema], definitions, defined, origin)
    out = dict(schema)
    if _is_named(out):
        if out["name"] in defined:
            return out["name"]
        defined.add(out["name"])
    return _map_children(out, lambda sub: _inline(sub, definitions, defined, origin))
