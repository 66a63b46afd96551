"""Reading input rows for ``wavestream submit``: JSON lines or CSV, in bounded memory.

A physical line is read with a length limit: a line longer than :data:`MAX_ROW_BYTES`
is skipped in chunks up to its newline (never held whole) and becomes a bad row. A line
that is not valid UTF-8, JSON nested too deeply for the parser or any other line that
cannot be read becomes a :class:`Row` with an ``error`` (the rejection reason), and
reading goes on with the next line. A UTF-8 byte order mark before the first line is
dropped. Row text is always valid UTF-8 (undecodable bytes read as U+FFFD), so a
rejection carrying it always encodes.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from typing import Any, BinaryIO, Iterator

from producers.exceptions import IngestError

#: A line (with its newline) longer than this is rejected without being parsed.
MAX_ROW_BYTES = 64 * 1024
#: How much of a bad row's text its rejection keeps.
RAW_KEEP = 2000
_BOM = b"\xef\xbb\xbf"
_SKIP_CHUNK = 256 * 1024


@dataclass(frozen=True)
class Row:
    """One input row: its 1-based first line, the parsed value (or the parse error) and
    the raw text."""

    line: int
    raw: str
    value: Any = None
    error: str | None = None


class BadLine(Exception):
    """A physical line that cannot be a row (too long, not UTF-8); ``reason`` says why.
    Internal to the readers: it becomes a :class:`Row` with an error."""

    def __init__(self, number: int, reason: str, raw: str) -> None:
        super().__init__(reason)
        self.number, self.reason, self.raw = number, reason, raw


def safe_text(text: str) -> str:
    """``text`` with every lone surrogate (undecodable input bytes, ``\\ud800`` JSON
    escapes, odd file names) and NUL (which PostgreSQL text and jsonb refuse) replaced by
    U+FFFD: always encodes as UTF-8 and stores in the read models."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace").replace("\x00", "\ufffd")


class Lines:
    """The physical lines of a byte stream, decoded, each at most ``limit`` bytes held.

    Iterating yields ``str`` lines (newline kept); a line over ``limit`` bytes or one
    that is not UTF-8 raises :class:`BadLine` from ``__next__`` once, and the next call
    continues after it. ``number`` is the count of lines consumed so far.
    """

    def __init__(self, fh: BinaryIO, limit: int = MAX_ROW_BYTES) -> None:
        self.fh, self.limit, self.number = fh, limit, 0

    def __iter__(self) -> "Lines":
        return self

    def __next__(self) -> str:
        data = self.fh.readline(self.limit + 1)
        if not data:
            raise StopIteration
        self.number += 1
        if self.number == 1 and data.startswith(_BOM):
            data = data[len(_BOM):]
        if len(data) > self.limit:
            total = len(data) + self._skip_rest(data)
            raise BadLine(self.number, f"row has {total} bytes, more than {self.limit}",
                          data[:RAW_KEEP].decode("utf-8", "replace"))
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raw = data.decode("utf-8", "replace").rstrip("\r\n")
            raise BadLine(self.number, f"line is not valid UTF-8 (byte {exc.start + 1} of the line)", raw) from None

    def _skip_rest(self, data: bytes) -> int:
        """Read to the end of the current line in chunks; the number of bytes skipped."""
        skipped = 0
        while not data.endswith(b"\n"):
            data = self.fh.readline(_SKIP_CHUNK)
            if not data:
                break
            skipped += len(data)
        return skipped


def read_jsonl(fh: BinaryIO) -> Iterator[Row]:
    """Rows of a JSON-lines byte stream; a line that cannot be a JSON value is a Row
    with an error. Blank lines are skipped."""
    lines = Lines(fh)
    while True:
        try:
            text = next(lines)
        except StopIteration:
            return
        except BadLine as bad:
            yield Row(bad.number, bad.raw, error=bad.reason)
            continue
        raw = text.rstrip("\r\n")
        if not raw.strip():
            continue
        yield _parse_json(lines.number, raw)


def _parse_json(number: int, raw: str) -> Row:
    try:
        return Row(number, raw, json.loads(raw))
    except RecursionError:
        return Row(number, raw[:RAW_KEEP], error="invalid JSON: nested too deeply")
    except ValueError as exc:  # JSONDecodeError, and ints over Python's digit limit
        return Row(number, raw, error=f"invalid JSON: {safe_text(str(exc))}")


def read_csv(fh: BinaryIO) -> Iterator[Row]:
    """Rows of a CSV byte stream with a header line; empty cells read as missing.

    Raises:
        IngestError: the header line cannot be read (not CSV, not UTF-8, too long).
    """
    lines = Lines(fh)
    reader = csv.reader(lines)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return
    except (csv.Error, BadLine) as exc:
        raise IngestError(f"cannot read the CSV header: {exc}") from exc
    while True:
        start = lines.number + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except BadLine as bad:  # the csv reader starts a fresh record on the next call
            yield Row(start, bad.raw, error=bad.reason)
            continue
        except csv.Error as exc:
            yield Row(start, "", error=f"invalid CSV: {exc}")
            continue
        if not any(c.strip() for c in cells):
            continue
        yield _csv_row(start, header, cells)


def _csv_row(start: int, header: list[str], cells: list[str]) -> Row:
    raw = ",".join(cells)
    size = len(raw.encode("utf-8"))
    if size > MAX_ROW_BYTES:  # a record over several lines, each under the limit
        return Row(start, raw[:RAW_KEEP], error=f"row has {size} bytes, more than {MAX_ROW_BYTES}")
    value: dict[Any, Any] = {k: (c if c.strip() else None) for k, c in zip(header, cells)}
    if len(cells) > len(header):
        value[None] = cells[len(header):]
    return Row(start, raw, value)


def count_lines(fh: BinaryIO) -> int:
    """The number of lines of a byte stream, read in fixed-size chunks."""
    count, last = 0, b"\n"
    for chunk in iter(lambda: fh.read(_SKIP_CHUNK), b""):
        count += chunk.count(b"\n")
        last = chunk[-1:]
    return count + (last != b"\n")

