"""schemas/canonical/ (issue 13.5): the shipped Parsing Canonical Forms are up to date
with schemas/*.avsc, and each listed fingerprint is the CRC-64-AVRO of its file, computed
here by the spec's algorithm (not fastavro's) and equal to what the codec writes."""

from __future__ import annotations

import json

import pytest

from wavestream.canonical import CANONICAL_DIR, FINGERPRINTS, stale_files, write_canonical
from wavestream.codec import AvroCodec
from wavestream.schemas import load_schemas

pytestmark = pytest.mark.unit

_EMPTY = 0xC15D213AA4D7A795  # the Avro specification's CRC-64-AVRO seed


def _crc64_avro(text: str) -> bytes:
    """The Avro specification's reference algorithm, little-endian as on the wire."""
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (_EMPTY & -(fp & 1))
        table.append(fp)
    fp = _EMPTY
    for byte in text.encode("utf-8"):
        fp = (fp >> 8) ^ table[(fp ^ byte) & 0xFF]
    return fp.to_bytes(8, "little")


def _listed() -> dict[str, str]:
    lines = (CANONICAL_DIR / FINGERPRINTS).read_text().splitlines()
    return dict(line.split() for line in lines if line and not line.startswith("#"))


def test_shipped_files_are_up_to_date():
    stale = stale_files(load_schemas())
    assert not stale, f"run `wavestream schemas canonical`: stale {stale}"


def test_listed_fingerprints_are_the_crc64_of_the_files_and_what_the_codec_writes():
    schemas = load_schemas()
    listed = _listed()
    assert set(listed) == {s.hex() for s in schemas.by_fingerprint}
    for digest, name in listed.items():
        text = (CANONICAL_DIR / name).read_text().rstrip("\n")
        assert _crc64_avro(text).hex() == digest, name
    for record, schema in schemas.current.items():
        assert listed[schema.fingerprint.hex()] == f"{record}.json"
    header = AvroCodec(schemas).encode("Posting", {"posting_id": "p", "title": "t", "description": "d", "submitted_at": 0})[:10]
    assert listed[header[2:].hex()] == "Posting.json"


def test_posting_is_inlined_where_the_naive_form_would_not_match():
    """The trap a standalone reader fell into: a reference to Posting by name gives
    another fingerprint than the one on the wire."""
    listed = {name: digest for digest, name in _listed().items()}
    for record in ("InteractionEvent", "StageCommand"):
        text = (CANONICAL_DIR / f"{record}.json").read_text().rstrip("\n")
        assert '{"name":"wavestream.v1.Posting","type":"record"' in text
        naive = json.loads(text)
        naive_text = json.dumps(naive, separators=(",", ":")).replace(
            (CANONICAL_DIR / "Posting.json").read_text().rstrip("\n"), '"wavestream.v1.Posting"')
        assert naive_text != text
        assert _crc64_avro(naive_text).hex() != listed[f"{record}.json"]


def test_write_then_check_and_a_tampered_file_is_reported(tmp_path):
    schemas = load_schemas()
    written = write_canonical(schemas, tmp_path)
    assert FINGERPRINTS in written and "StageCommand.json" in written and "v1/Posting.json" in written
    assert stale_files(schemas, tmp_path) == []
    (tmp_path / "Posting.json").write_text("{}\n")
    (tmp_path / "Leftover.json").write_text("{}\n")
    assert stale_files(schemas, tmp_path) == ["Leftover.json", "Posting.json"]
    assert sorted(write_canonical(schemas, tmp_path)) == ["Leftover.json", "Posting.json"]
    assert not (tmp_path / "Leftover.json").exists() and stale_files(schemas, tmp_path) == []
