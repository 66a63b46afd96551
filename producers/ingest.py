"""``wavestream submit FILE``: job postings from JSONL or CSV onto the ``postings`` topic.

Every row is checked before it becomes a ``Posting`` (required fields, types, size
limits); a row that fails becomes a ``PostingRejected`` event on ``events`` carrying the
reason, the file and the 1-based line number (the first line of a multi-line CSV
record) - never a crash, never a silent drop: a line that is not UTF-8, JSON nested
too deeply, a line over the size limit (read in chunks, never held whole) are bad rows
like any other (see :mod:`producers.rows`). Blank lines are skipped; a UTF-8 byte order
mark is ignored.

Row format: ``posting_id`` (optional: derived from the content, so submitting the same
file twice yields the same ids), ``title`` and ``description`` (required, non-blank),
``company``, ``location``, ``url``, ``summary`` (optional strings; a posting with a
summary enters the workflow at the skills stage), ``attributes`` (an object of scalars)
and any other scalar field, which lands in ``attributes`` as a string.

Records are keyed by posting_id through an idempotent producer (``acks=all``), so a
broker retry never duplicates one. Ids are deterministic: a rejection's ``event_id``
derives from the file and line, so submitting the same file again re-emits the same
event, which the projector applies once. Postings already delivered (same id, same
content) are skipped unless ``resubmit`` is set (see :mod:`producers.ledger`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import socket
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator, Mapping

from producers.exceptions import IngestError, RowError
from producers.ledger import Ledger, idempotency_key, ledger_scope
from producers.rows import MAX_ROW_BYTES, RAW_KEEP, Row, count_lines, read_csv, read_jsonl, safe_text
from wavestream.events import make_event, new_correlation_id
from wavestream.exceptions import CodecError

log = logging.getLogger(__name__)

#: Size limits, in characters.
LIMITS = {"posting_id": 128, "title": 300, "company": 200, "location": 200, "url": 2048, "summary": 2000,
          "description": 20_000}
MIN_DESCRIPTION = 20
MAX_ATTRIBUTES = 50
MAX_ATTRIBUTE_CHARS = 1000
OPTIONAL = ("company", "location", "url", "summary")
KNOWN = frozenset({"posting_id", "title", "description", "attributes", *OPTIONAL})
_ID_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._:-")


@dataclass
class IngestSummary:
    file: str
    rows: int = 0
    accepted: int = 0
    rejected: int = 0
    skipped: int = 0
    reasons: Counter = field(default_factory=Counter)

    def lines(self) -> list[str]:
        head = f"{self.file}: {self.rows} rows, {self.accepted} accepted, {self.rejected} rejected"
        out = [head + (f", {self.skipped} already submitted" if self.skipped else "")]
        out += [f"  rejected {count}x: {reason}" for reason, count in self.reasons.most_common()]
        if self.skipped:
            out.append(f"  skipped {self.skipped} postings delivered before (same id and content); "
                       "--resubmit submits them again")
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
    _utf8(value, f"field {name!r}")
    return value


def _utf8(value: str, what: str) -> None:
    """Raises: RowError: ``value`` holds a lone surrogate (e.g. a ``\\ud800`` JSON escape)
    or a NUL character (``\\u0000``: PostgreSQL cannot store it)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RowError(f"{what} is not valid UTF-8 (a lone surrogate at character {exc.start + 1})") from None
    if "\x00" in value:
        raise RowError(f"{what} contains a NUL character (at character {value.index(chr(0)) + 1})")


def _scalar(value: Any, name: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (str, int, float)):
        text = str(value)
        if len(text) > MAX_ATTRIBUTE_CHARS:
            raise RowError(f"attribute {name!r} has {len(text)} characters, more than {MAX_ATTRIBUTE_CHARS}")
        _utf8(text, f"attribute {name!r}")
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
    for key in merged:
        _utf8(key, "an attribute name")
    if len(merged) > MAX_ATTRIBUTES:
        raise RowError(f"row has {len(merged)} attributes, more than {MAX_ATTRIBUTES}")
    return {"posting_id": posting_id, "title": title, "description": description, **optional,
            "source": source, "submitted_at": submitted_at_ms, "attributes": merged}


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
    """The ``PostingRejected`` event of a row; its id derives from ``cause`` (file:line).
    Every text is made valid UTF-8 (lone surrogates read as U+FFFD), so it always encodes."""
    return make_event(
        "PostingRejected",
        {"reason": safe_text(reason), "source_file": safe_text(source_file), "line": row.line,
         "raw": safe_text(row.raw[:RAW_KEEP])},
        posting_id=safe_text(posting_id or cause), stage=None, attempt=0, correlation_id=new_correlation_id(),
        causation_id=safe_text(cause), worker_id=worker_id,
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


class _Deliveries:
    """Delivery reports: the first errors are kept for the message; a delivered
    posting's idempotency key goes to the ledger."""

    def __init__(self, ledger: Ledger | None) -> None:
        self.failed: list[str] = []
        self.ledger = ledger

    def __call__(self, err: Any, msg: Any) -> None:
        if err is not None:
            self.failed.append(f"{msg.topic()} key={msg.key()!r}: {err}")

    def for_posting(self, key: str) -> Any:
        """The delivery callback of a posting with idempotency key ``key``."""
        def delivered(err: Any, msg: Any) -> None:
            self(err, msg)
            if err is None and self.ledger is not None:
                self.ledger.record(key)
        return delivered


@dataclass
class _Target:
    """Where and how a submission's records go."""

    producer: Any
    codec: Any
    postings_topic: str
    events_topic: str
    deliveries: _Deliveries
    resubmit: bool


def submit_file(path: Path, settings: Any, *, fmt: str | None = None, progress: bool | None = None,
                codec: Any = None, postings_topic: str | None = None, events_topic: str | None = None,
                flush_timeout_s: float = 60.0, ledger_dir: Path | None = None,
                resubmit: bool = False) -> IngestSummary:
    """Validate every row of ``path`` and produce postings and rejections.

    ``progress`` None shows the bar only on a terminal. Topic names default to
    ``postings`` and ``events`` (tests pass their own). With ``ledger_dir``, a posting
    already delivered to this cluster's postings topic (same id and content, see
    :mod:`producers.ledger`) is skipped and counted as ``skipped``, unless ``resubmit``;
    every delivered posting is recorded there. Without it nothing is skipped.

    Raises:
        IngestError: the file is missing or of unknown format, its CSV header is
            unreadable, the ledger cannot be used, or a record was not delivered
            within ``flush_timeout_s``.
    """
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
    postings_topic = postings_topic or POSTINGS
    ledger = (Ledger.open(ledger_dir, ledger_scope(settings.bootstrap_servers, postings_topic))
              if ledger_dir is not None else None)
    target = _Target(build_producer(settings, **{"linger.ms": 20}), codec or AvroCodec.from_settings(settings),
                     postings_topic, events_topic or EVENTS, _Deliveries(ledger), resubmit)
    summary = IngestSummary(file=str(path))
    try:
        _submit_rows(path, reader, target, summary, int(utcnow().timestamp() * 1000), progress)
    finally:
        remaining = target.producer.flush(flush_timeout_s)
        if ledger is not None:
            ledger.close()
    failed = target.deliveries.failed
    if remaining or failed:
        shown = "; ".join(failed[:3])
        raise IngestError(f"{remaining} records undelivered after {flush_timeout_s:g}s, "
                          f"{len(failed)} failed{': ' + shown if shown else ''}")
    return summary


def _submit_rows(path: Path, reader: Any, target: _Target, summary: IngestSummary, now_ms: int,
                 progress: bool | None) -> None:
    """Plan and produce every row of ``path``, counting into ``summary``."""
    from tqdm import tqdm

    with path.open("rb") as fh:
        total = count_lines(fh)
    bar = tqdm(total=total, unit="line", desc=f"submit {path.name}",
               disable=None if progress is None else not progress, leave=False)
    try:
        with path.open("rb") as fh:
            for row, posting, event in plan(path, reader(fh), submitted_at_ms=now_ms, worker_id=producer_id()):
                summary.rows += 1
                if posting is not None:
                    event = _submit_posting(path, row, posting, target, summary)
                if event is not None:
                    _submit_rejection(path, row, event, target, summary)
                bar.update(max(0, row.line - bar.n))
    finally:
        bar.close()


def _submit_posting(path: Path, row: Row, posting: dict[str, Any], target: _Target,
                    summary: IngestSummary) -> dict[str, Any] | None:
    """Produce an accepted posting, or skip it when the ledger has it; the rejection
    event when it does not encode (a validation gap: the row is rejected, not the run)."""
    key = idempotency_key(posting)
    ledger = target.deliveries.ledger
    if ledger is not None and not target.resubmit and key in ledger:
        summary.skipped += 1
        log.info("posting already submitted", extra={"source_file": str(path), "line": row.line,
                                                      "posting_id": posting["posting_id"]})
        return None
    try:
        value = target.codec.encode("Posting", posting, topic=target.postings_topic)
    except CodecError as exc:
        return rejection_event(row, f"cannot encode the posting: {exc}", source_file=str(path),
                               cause=f"{path.resolve()}:{row.line}", worker_id=producer_id(),
                               posting_id=posting["posting_id"])
    summary.accepted += 1
    _produce(target.producer, target.postings_topic, posting["posting_id"], value,
             target.deliveries.for_posting(key))
    return None


def _submit_rejection(path: Path, row: Row, event: dict[str, Any], target: _Target,
                      summary: IngestSummary) -> None:
    summary.rejected += 1
    reason = event["payload"]["reason"]
    summary.reasons[reason.split(":")[0]] += 1
    log.info("row rejected", extra={"source_file": str(path), "line": row.line, "reason": reason})
    value = target.codec.encode("InteractionEvent", event, topic=target.events_topic)
    _produce(target.producer, target.events_topic, event["posting_id"], value, target.deliveries)


def _produce(producer: Any, topic: str, key: str, value: bytes, on_delivery: Any) -> None:
    """Produce, waiting for queue space when librdkafka's local queue is full."""
    while True:
        try:
            producer.produce(topic, key=key.encode("utf-8"), value=value, on_delivery=on_delivery)
            producer.poll(0)
            return
        except BufferError:
            producer.poll(0.5)
