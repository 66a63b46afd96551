"""``wavestream submit FILE``: job postings from JSONL or CSV onto the ``postings`` topic.

Every row is checked before it becomes a ``Posting`` (required fields, types, size
limits); a row that fails becomes a ``PostingRejected`` event on ``events`` carrying the
reason, the file and the 1-based line number (the first line of a multi-line CSV
record) - never a crash, never a silent drop. Blank lines are skipped.

Row format: ``posting_id`` (optional: derived from the content, so submitting the same
file twice yields the same ids), ``title`` and ``description`` (required, non-blank),
``company``, ``location``, ``url``, ``summary`` (optional strings; a posting with a
summary enters the workflow at the skills stage), ``attributes`` (an object of scalars)
and any other scalar field, which lands in ``attributes`` as a string.

Records are keyed by posting_id through an idempotent producer (``acks=all``), so a
broker retry never duplicates one. Ids are deterministic: a rejection's ``event_id``
derives from the file and line, so submitting the same file again re-emits the same
event, which the projector applies once.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import socket
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from wavestream.events import make_event, new_correlation_id
from wavestream.exceptions import WavestreamError

log = logging.getLogger(__name__)

#: Size limits, in characters.
LIMITS = {"posting_id": 128, "title": 300, "company": 200, "location": 200, "url": 2048, "summary": 2000,
          "description": 20_000}
MIN_DESCRIPTION = 20
MAX_ATTRIBUTES = 50
MAX_ATTRIBUTE_CHARS = 1000
MAX_ROW_BYTES = 64 * 1024
RAW_KEEP = 2000
OPTIONAL = ("company", "location", "url", "summary")
KNOWN = frozenset({"posting_id", "title", "description", "attributes", *OPTIONAL})
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-")


class IngestError(WavestreamError):
    """The input file cannot be read at all (missing, unknown format), or records could
    not be delivered to Kafka."""


class RowError(ValueError):
    """One row cannot become a posting; the message is the rejection reason."""


@dataclass(frozen=True)
class Row:
    """One input row: its 1-based first line, the parsed value (or the parse error) and
    the raw text."""

    line: int
    raw: str
    value: Any = None
    error: str | None = None


@dataclass
class IngestSummary:
    file: str
    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    reasons: Counter = field(default_factory=Counter)

    def lines(self) -> list[str]:
        out = [f"{self.file}: {self.rows} rows, {self.accepted} accepted, {self.rejected} rejected"]
        out += [f"  rejected {count}x: {reason}" for reason, count in self.reasons.most_common()]
        return out


def _text(value: Any, name: str, *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip() and not required):
        if required:
            raise RowError(f"missing required field {name!r}")
        return None
    if not isinstance(value, str):
        raise RowError(f"field {name!r} must be a string, got {type(value).__name__}")
    value = value.strip()
    if required and not value:
        raise RowError(f"field {name!r} is blank")
    if len(value) > LIMITS[name]:
        raise RowError(f"field {name!r} has {len(value)} characters, more than {LIMITS[name]}")
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        raise RowError(f"field {name!r} is not valid UTF-8")
    return value


def _scalar(value: Any, name: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        text = str(value)
        if len(text) > MAX_ATTRIBUTE_CHARS:
            raise RowError(f"attribute {name!r} has {len(text)} characters, more than {MAX_ATTRIBUTE_CHARS}")
        return text
    raise RowError(f"attribute {name!r} must be a string, number or boolean, got {type(value).__name__}")


def derived_posting_id(title: str, company: str | None, description: str) -> str:
    """A posting id from the content, for rows without one: the same posting submitted
    again gets the same id."""
    digest = hashlib.sha256(json.dumps([title, company, description]).encode("utf-8")).hexdigest()
    return f"p-{digest[:20]}"


def validate_row(value: Any, *, source: str, submitted_at_ms: int) -> dict[str, Any]:
    """The ``Posting`` dict for one parsed row.

    Raises:
        RowError: the row is not an object, misses ``title``/``description``, has a field
            of the wrong type, over its size limit, or an invalid posting_id/attribute.
    """
    if not isinstance(value, Mapping):
        raise RowError(f"row must be an object, got {type(value).__name__}")
    if None in value:  # csv.DictReader puts surplus cells under the key None
        raise RowError("row has more fields than the header")
    title = _text(value.get("title"), "title", required=True)
    description = _text(value.get("description"), "description", required=True)
    assert title is not None and description is not None
    if len(description) < MIN_DESCRIPTION:
        raise RowError(f"field 'description' has {len(description)} characters, fewer than {MIN_DESCRIPTION}")
    optional = {name: _text(value.get(name), name, required=False) for name in OPTIONAL}
    raw_id = value.get("posting_id")
    if raw_id is None or raw_id == "":
        posting_id = derived_posting_id(title, optional["company"], description)
    else:
        posting_id = _text(raw_id if not isinstance(raw_id, int) or isinstance(raw_id, bool) else str(raw_id),
                           "posting_id", required=True)
        if not set(posting_id) <= _ID_CHARS:  # type: ignore[arg-type]
            raise RowError(f"posting_id {posting_id!r} may only hold letters, digits and . _ : -")
    attributes = value.get("attributes") or {}
    if not isinstance(attributes, Mapping):
        raise RowError(f"field 'attributes' must be an object, got {type(attributes).__name__}")
    extra = {str(k): v for k, v in value.items() if k not in KNOWN and v is not None and v != ""}
    merged = {**{str(k): _scalar(v, str(k)) for k, v in attributes.items()},
              **{k: _scalar(v, k) for k, v in extra.items()}}
    if len(merged) > MAX_ATTRIBUTES:
        raise RowError(f"row has {len(merged)} attributes, more than {MAX_ATTRIBUTES}")
    return {"posting_id": posting_id, "title": title, "description": description, **optional,
            "source": source, "submitted_at": submitted_at_ms, "attributes": merged}


def _decode(data: bytes) -> str:
    return data.decode("utf-8", errors="surrogateescape")


def read_jsonl(fh: io.BufferedReader) -> Iterator[Row]:
    """Rows of a JSON-lines byte stream; a line that is not JSON is a Row with an error."""
    for number, data in enumerate(fh, start=1):
        raw = _decode(data).rstrip("\r\n")
        if not raw.strip():
            continue
        if len(data) > MAX_ROW_BYTES:
            yield Row(number, raw, error=f"row has {len(data)} bytes, more than {MAX_ROW_BYTES}")
            continue
        try:
            yield Row(number, raw, json.loads(raw))
        except ValueError as exc:
            yield Row(number, raw, error=f"invalid JSON: {exc}")


def read_csv(fh: io.BufferedReader) -> Iterator[Row]:
    """Rows of a CSV byte stream with a header line; empty cells read as missing."""
    text = io.TextIOWrapper(fh, encoding="utf-8-sig", errors="surrogateescape", newline="")
    reader = csv.reader(text)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise IngestError(f"cannot read the CSV header: {exc}") from exc
    header = [h.strip() for h in header]
    line = reader.line_num
    while True:
        start = line + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line = reader.line_num
            yield Row(start, "", error=f"invalid CSV: {exc}")
            continue
        line = reader.line_num
        if not any(c.strip() for c in cells):
            continue
        raw = ",".join(cells)
        value: dict[Any, Any] = {k: (c if c.strip() else None) for k, c in zip(header, cells)}
        if len(cells) > len(header):
            value[None] = cells[len(header):]
        yield Row(start, raw, value)


def detect_format(path: Path, fmt: str | None = None) -> str:
    """``jsonl`` or ``csv``, from ``fmt`` or the file extension.

    Raises:
        IngestError: the extension is not .jsonl/.ndjson/.json/.csv and no format is given.
    """
    if fmt:
        return fmt
    suffix = path.suffix.lower()
    if suffix in (".jsonl", ".ndjson", ".json"):
        return "jsonl"
    if suffix == ".csv":
        return "csv"
    raise IngestError(f"cannot tell the format of {path} (use --format jsonl|csv)")


def rejection_event(row: Row, reason: str, *, source_file: str, cause: str, worker_id: str,
                    posting_id: str | None = None) -> dict[str, Any]:
    """The ``PostingRejected`` event of a row; its id derives from ``cause`` (file:line)."""
    return make_event(
        "PostingRejected",
        {"reason": reason, "source_file": source_file, "line": row.line, "raw": row.raw[:RAW_KEEP]},
        posting_id=posting_id or cause, stage=None, attempt=0, correlation_id=new_correlation_id(),
        causation_id=cause, worker_id=worker_id,
    )


def producer_id() -> str:
    return f"submit@{socket.gethostname()}"


def _row_posting_id(row: Row) -> str | None:
    value = row.value if isinstance(row.value, Mapping) else {}
    pid = value.get("posting_id")
    return pid.strip()[:LIMITS["posting_id"]] if isinstance(pid, str) and pid.strip() else None


def plan(path: Path, rows: Iterator[Row], *, submitted_at_ms: int,
         worker_id: str) -> Iterator[tuple[Row, dict[str, Any] | None, dict[str, Any] | None]]:
    """For each row: (row, posting, None) when it is accepted or (row, None, event) with
    its ``PostingRejected`` event. A posting_id seen earlier in the file is rejected."""
    seen: dict[str, int] = {}
    absolute = str(path.resolve())
    for row in rows:
        source = f"{path.name}:{row.line}"
        try:
            if row.error:
                raise RowError(row.error)
            posting = validate_row(row.value, source=source, submitted_at_ms=submitted_at_ms)
            first = seen.setdefault(posting["posting_id"], row.line)
            if first != row.line:
                raise RowError(f"duplicate posting_id {posting['posting_id']!r} (first at line {first})")
            yield row, posting, None
        except RowError as exc:
            event = rejection_event(row, str(exc), source_file=str(path), cause=f"{absolute}:{row.line}",
                                    worker_id=worker_id, posting_id=_row_posting_id(row))
            yield row, None, event


def count_lines(path: Path) -> int:
    with path.open("rb") as fh:
        return sum(1 for _ in fh)


class _Deliveries:
    """Counts delivery reports; the first errors are kept for the message."""

    def __init__(self) -> None:
        self.failed: list[str] = []

    def __call__(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.failed.append(f"{msg.topic()} key={msg.key()!r}: {err}")


def submit_file(path: Path, settings: Any, *, fmt: str | None = None, progress: bool | None = None,
                codec: Any = None, postings_topic: str | None = None, events_topic: str | None = None,
                flush_timeout_s: float = 60.0) -> IngestSummary:
    """Validate every row of ``path`` and produce postings and rejections.

    ``progress`` None shows the bar only on a terminal. Topic names default to
    ``postings`` and ``events`` (tests pass their own).

    Raises:
        IngestError: the file is missing or of unknown format, its CSV header is
            unreadable, or a record was not delivered within ``flush_timeout_s``.
        CodecError: a record does not encode (a bug: rows are validated first).
    """
    from tqdm import tqdm

    from wavestream.clients import build_producer
    from wavestream.codec import AvroCodec
    from wavestream.events import utcnow
    from wavestream.topics import EVENTS, POSTINGS

    path = Path(path)
    if not path.is_file():
        raise IngestError(f"no such file: {path}")
    reader = {"jsonl": read_jsonl, "csv": read_csv}.get(detect_format(path, fmt))
    if reader is None:
        raise IngestError(f"unknown format {fmt!r} (jsonl or csv)")
    codec = codec or AvroCodec.from_settings(settings)
    postings_topic, events_topic = postings_topic or POSTINGS, events_topic or EVENTS
    producer = build_producer(settings, **{"linger.ms": 20})
    deliveries = _Deliveries()
    summary = IngestSummary(file=str(path))
    now_ms = int(utcnow().timestamp() * 1000)
    bar = tqdm(total=count_lines(path), unit="line", desc=f"submit {path.name}",
               disable=None if progress is None else not progress, leave=False)
    try:
        with path.open("rb") as fh:
            for row, posting, event in plan(path, reader(fh), submitted_at_ms=now_ms, worker_id=producer_id()):
                summary.rows += 1
                if posting is not None:
                    summary.accepted += 1
                    topic, key, value = postings_topic, posting["posting_id"], codec.encode("Posting", posting,
                                                                                        topic=postings_topic)
                else:
                    assert event is not None
                    summary.rejected += 1
                    summary.reasons[event["payload"]["reason"].split(":")[0]] += 1
                    log.info("row rejected", extra={"source_file": str(path), "line": row.line,
                                                    "reason": event["payload"]["reason"]})
                    topic, key = events_topic, event["posting_id"]
                    value = codec.encode("InteractionEvent", event, topic=events_topic)
                _produce(producer, topic, key, value, deliveries)
                bar.update(max(0, row.line - bar.n))
    finally:
        bar.close()
        remaining = producer.flush(flush_timeout_s)
    if remaining or deliveries.failed:
        shown = "; ".join(deliveries.failed[:3])
        raise IngestError(f"{remaining} records undelivered after {flush_timeout_s:g}s, "
                          f"{len(deliveries.failed)} failed{': ' + shown if shown else ''}")
    return summary


def _produce(producer: Any, topic: str, key: str, value: bytes, on_delivery: Any) -> None:
    """Produce, waiting for queue space when librdkafka's local queue is full."""
    while True:
        try:
            producer.produce(topic, key=key.encode("utf-8"), value=value, on_delivery=on_delivery)
            producer.poll(0)
            return
        except BufferError:
            producer.poll(0.5)
