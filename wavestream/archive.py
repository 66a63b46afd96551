"""The on-disk format of ``wavestream export`` (read by ``wavestream import``).

An export directory holds::

    manifest.json                       written last: its presence marks a complete export
    topics/<topic>/<partition>.wsr      the records of one partition, in offset order
    read_models.dump                    pg_dump --format=custom of the read-model schema (optional)

A ``.wsr`` file is the magic line ``WSREC1\\n`` followed by one entry per record, all
integers big-endian::

    int64 offset | int64 timestamp ms | int8 timestamp type | int32 key length (-1: null)
    | int32 value length (-1: null) | int32 header count | key bytes | value bytes
    | per header: int32 name length | int32 value length (-1: null) | name (UTF-8) | value

Why this and not JSONL or Avro containers: it keeps every byte of keys, values and
headers exactly (no base64 inflation, no schema for raw bytes), streams in both
directions with one struct per record, and anyone can read it with ten lines of code.
The manifest (JSON) lists per topic its partition count, replication factor and
non-default settings, and per partition its file, record count, first and last offset,
byte size and sha256; plus the committed offsets of every consumer group on those
topics and the read-model dump's sha256.
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterator

from wavestream.exceptions import BackupError

MAGIC = b"WSREC1\n"
MANIFEST = "manifest.json"
FORMAT = "wavestream-export"
VERSION = 1
_HEAD = struct.Struct(">qqbiii")
_HEADER = struct.Struct(">ii")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Entry:
    """One Kafka record as exported."""

    offset: int
    timestamp: int
    timestamp_type: int
    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes | None]] | None


def partition_path(topic: str, partition: int) -> str:
    """The file of one partition, relative to the export directory."""
    return f"topics/{topic}/{partition}.wsr"


class PartitionWriter:
    """Appends entries to one partition file, counting and hashing as it goes."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._file: BinaryIO = open(path, "wb")
        self._sha = hashlib.sha256()
        self.records = 0
        self.bytes = 0
        self.first_offset: int | None = None
        self.last_offset: int | None = None
        self._write(MAGIC)

    def _write(self, data: bytes) -> None:
        self._file.write(data)
        self._sha.update(data)
        self.bytes += len(data)

    def append(self, e: Entry) -> None:
        headers = e.headers or []
        parts = [_HEAD.pack(e.offset, e.timestamp, e.timestamp_type, -1 if e.key is None else len(e.key),
                            -1 if e.value is None else len(e.value), len(headers)),
                 e.key or b"", e.value or b""]
        for name, value in headers:
            raw = name.encode()
            parts += [_HEADER.pack(len(raw), -1 if value is None else len(value)), raw, value or b""]
        self._write(b"".join(parts))
        self.records += 1
        if self.first_offset is None:
            self.first_offset = e.offset
        self.last_offset = e.offset

    def close(self) -> dict[str, Any]:
        """Close the file; its manifest entry (without the partition number)."""
        self._file.close()
        return {"records": self.records, "first_offset": self.first_offset, "last_offset": self.last_offset,
                "bytes": self.bytes, "sha256": self._sha.hexdigest()}


def read_entries(path: Path) -> Iterator[Entry]:
    """The entries of a partition file, in order.

    Raises:
        BackupError: the file is missing, not a ``.wsr`` file, or truncated.
    """
    try:
        with open(path, "rb") as f:
            if f.read(len(MAGIC)) != MAGIC:
                raise BackupError(f"{path} is not a wavestream export file")
            while True:
                head = f.read(_HEAD.size)
                if not head:
                    return
                if len(head) != _HEAD.size:
                    raise BackupError(f"{path} is truncated")
                offset, ts, ts_type, klen, vlen, count = _HEAD.unpack(head)
                key = _read(f, klen, path)
                value = _read(f, vlen, path)
                headers = None
                if count:
                    headers = []
                    for _ in range(count):
                        nlen, hlen = _HEADER.unpack(_exact(f, _HEADER.size, path))
                        headers.append((_exact(f, nlen, path).decode(), _read(f, hlen, path)))
                yield Entry(offset, ts, ts_type, key, value, headers)
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc}") from exc


def _read(f: BinaryIO, length: int, path: Path) -> bytes | None:
    return None if length < 0 else _exact(f, length, path)


def _exact(f: BinaryIO, length: int, path: Path) -> bytes:
    data = f.read(length)
    if len(data) != length:
        raise BackupError(f"{path} is truncated")
    return data


def file_sha256(path: Path) -> str:
    """sha256 of a file, read in chunks. Raises BackupError when it cannot be read."""
    sha = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(_CHUNK), b""):
                sha.update(chunk)
    except OSError as exc:
        raise BackupError(f"cannot read {path}: {exc}") from exc
    return sha.hexdigest()


def write_manifest(directory: Path, manifest: dict[str, Any]) -> Path:
    """Write ``manifest.json`` atomically (a temp file renamed)."""
    path = directory / MANIFEST
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps({"format": FORMAT, "version": VERSION, **manifest}, indent=2, sort_keys=True))
    tmp.replace(path)
    return path


def read_manifest(directory: Path) -> dict[str, Any]:
    """The manifest of an export directory.

    Raises:
        BackupError: there is none (an incomplete export), or it is not ours.
    """
    path = directory / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise BackupError(f"{path} is missing: not a complete wavestream export") from exc
    except (OSError, ValueError) as exc:
        raise BackupError(f"cannot read {path}: {exc}") from exc
    if manifest.get("format") != FORMAT or manifest.get("version") != VERSION:
        raise BackupError(f"{path} is not a {FORMAT} v{VERSION} manifest")
    return manifest


def verify(directory: Path, manifest: dict[str, Any]) -> int:
    """Check every file of ``manifest`` against its size and sha256; returns the
    number of records the manifest lists.

    Raises:
        BackupError: naming every file that is missing or differs.
    """
    problems = []
    records = 0
    for topic in manifest["topics"]:
        for part in topic["files"]:
            records += part["records"]
            path = directory / part["file"]
            if not path.is_file():
                problems.append(f"{part['file']} is missing")
            elif path.stat().st_size != part["bytes"] or file_sha256(path) != part["sha256"]:
                problems.append(f"{part['file']} differs from the manifest (size or sha256)")
    dump = manifest.get("read_models")
    if dump:
        path = directory / dump["file"]
        if not path.is_file() or file_sha256(path) != dump["sha256"]:
            problems.append(f"{dump['file']} is missing or differs from the manifest")
    if problems:
        raise BackupError(f"export {directory} fails verification: {'; '.join(problems)}")
    return records
