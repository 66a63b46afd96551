"""Reading a GGUF file's metadata in pure Python (no llama.cpp): enough to check which
model a file holds before anything loads it.

GGUF layout (v2 and v3; v1 used 32-bit counts): magic ``GGUF``, ``uint32`` version,
``uint64`` tensor count, ``uint64`` metadata count, then metadata key/value pairs: a
string key (``uint64`` length + UTF-8 bytes), a ``uint32`` value type and the value.
Arrays are a ``uint32`` element type, a ``uint64`` count and the elements. Everything
is little-endian.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

from consumers.exceptions import WorkflowError

MAGIC = b"GGUF"
#: value type -> struct format of the fixed-size scalars
_SCALARS = {0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?", 10: "<Q", 11: "<q", 12: "<d"}
STRING, ARRAY = 8, 9
#: a string longer than this is not metadata we read (guards against a corrupt length)
MAX_STRING = 1 << 24


class GgufError(WorkflowError):
    """The file is not a readable GGUF file."""


def _read(fh: BinaryIO, n: int) -> bytes:
    data = fh.read(n)
    if len(data) != n:
        raise GgufError("truncated GGUF header")
    return data


def _unpack(fh: BinaryIO, fmt: str) -> Any:
    return struct.unpack(fmt, _read(fh, struct.calcsize(fmt)))[0]


def _string(fh: BinaryIO) -> str:
    length = _unpack(fh, "<Q")
    if length > MAX_STRING:
        raise GgufError(f"GGUF string of {length} bytes: not a valid header")
    return _read(fh, length).decode("utf-8", errors="replace")


def _value(fh: BinaryIO, kind: int, keep: bool) -> Any:
    """One value of type ``kind``; arrays are skipped (None) unless ``keep``."""
    if kind in _SCALARS:
        return _unpack(fh, _SCALARS[kind])
    if kind == STRING:
        return _string(fh)
    if kind == ARRAY:
        item_kind, count = _unpack(fh, "<I"), _unpack(fh, "<Q")
        if item_kind in _SCALARS and not keep:
            fh.seek(struct.calcsize(_SCALARS[item_kind]) * count, 1)
            return None
        values = [_value(fh, item_kind, keep) for _ in range(count)]
        return values if keep else None
    raise GgufError(f"unknown GGUF value type {kind}")


def read_metadata(path: str | Path, *, stop_at: str | None = None) -> dict[str, Any]:
    """The metadata of the GGUF file at ``path`` (arrays are left out); reading stops
    once key ``stop_at`` has been read.

    Raises:
        GgufError: the file cannot be read, is not GGUF, or its header is corrupt.
    """
    try:
        with Path(path).open("rb") as fh:
            if fh.read(4) != MAGIC:
                raise GgufError("not a GGUF file (bad magic)")
            version = _unpack(fh, "<I")
            count_fmt = "<I" if version == 1 else "<Q"
            _unpack(fh, count_fmt)  # tensor count
            n_kv = _unpack(fh, count_fmt)
            metadata: dict[str, Any] = {"GGUF.version": version}
            for _ in range(n_kv):
                key = _string(fh)
                value = _value(fh, _unpack(fh, "<I"), keep=False)
                if value is not None:
                    metadata[key] = value
                if key == stop_at:
                    break
            return metadata
    except OSError as exc:
        raise GgufError(f"cannot read {path}: {exc}") from exc
    except GgufError as exc:
        raise GgufError(f"{path}: {exc}") from exc


def general_name(path: str | Path) -> str | None:
    """The ``general.name`` of a GGUF file; None when the header has none.

    Raises:
        GgufError: see :func:`read_metadata`.
    """
    value = read_metadata(path, stop_at="general.name").get("general.name")
    return value if isinstance(value, str) else None


def write_header(path: str | Path, metadata: dict[str, Any], *, version: int = 3) -> None:
    """A GGUF file holding only a header with string/int metadata (tests use it as a
    fake model file)."""
    out = bytearray(MAGIC + struct.pack("<IQQ", version, 0, len(metadata)))
    for key, value in metadata.items():
        raw_key = key.encode("utf-8")
        out += struct.pack("<Q", len(raw_key)) + raw_key
        if isinstance(value, str):
            raw = value.encode("utf-8")
            out += struct.pack("<IQ", STRING, len(raw)) + raw
        elif isinstance(value, list):
            out += struct.pack("<IIQ", ARRAY, 4, len(value)) + b"".join(struct.pack("<I", v) for v in value)
        else:
            out += struct.pack("<Iq", 11, int(value))
    Path(path).write_bytes(bytes(out))
