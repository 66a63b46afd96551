"""Deterministic ids and ``InteractionEvent`` construction.

Exactly-once processing means a stage may run a command again after an aborted
transaction; every id a run produces is derived from its inputs (uuid5 over a fixed
namespace), so the re-run emits byte-identical ids and the projector's unique
``event_id`` makes the duplicate a no-op. Only a correlation id (one per posting's
journey, minted once at ingest) is random.

An event is a plain dict that :class:`wavestream.codec.AvroCodec` encodes as
``InteractionEvent``; see :func:`make_event` for its shape.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import datetime, timezone
from typing import Any, Mapping

from wavestream.exceptions import CodecError

#: Fixed forever: every derived id depends on it.
WAVESTREAM_NAMESPACE = uuid.UUID("a2a9e317-3994-409d-9d47-daafff2afc5e")

#: The InteractionEvent types, in schema order (the schema's enum adds ``Unknown``, the
#: resolution default for symbols a reader does not know; it is never written).
EVENT_TYPES = (
    "PostingReceived",
    "InteractionCompleted",
    "InteractionFailed",
    "PostingRouted",
    "AwaitingDecision",
    "DecisionRecorded",
    "PostingCompleted",
    "PostingRejected",
    "PostingCancelled",
    "CircuitOpened",
    "CircuitClosed",
    "CommandRejected",
)


def _derived_id(*parts: str | int) -> str:
    # JSON of the parts is unambiguous where joining with a separator is not
    # ("a:b" + "c" vs "a" + "b:c").
    return str(uuid.uuid5(WAVESTREAM_NAMESPACE, json.dumps(parts, separators=(",", ":"))))


def _check_event_type(event_type: str) -> None:
    if event_type not in EVENT_TYPES:
        raise CodecError(f"unknown event type {event_type!r}", reason="invalid_record")


def event_id(command_id: str, attempt: int, event_type: str, workflow: str | None = None) -> str:
    """The id of the ``event_type`` event emitted by workflow ``workflow`` for attempt
    ``attempt`` of ``command_id`` (or of another unique cause, e.g. ``file.jsonl:12`` for
    a rejection). Two workflows handling the same posting or command never share an id;
    ``workflow`` None is for events no workflow emits (``submit``'s rejections).

    Raises:
        CodecError: (reason ``invalid_record``) ``event_type`` is not in EVENT_TYPES.
    """
    _check_event_type(event_type)
    if workflow is None:
        return _derived_id("event", command_id, int(attempt), event_type)
    return _derived_id("event", workflow, command_id, int(attempt), event_type)


def command_id(cause_id: str, stage: str, attempt: int = 1) -> str:
    """The id of the ``StageCommand`` for ``stage`` (attempt ``attempt``) caused by the
    event or command ``cause_id``; the same cause always yields the same command."""
    return _derived_id("command", cause_id, stage, int(attempt))


def new_correlation_id() -> str:
    """A fresh random correlation id, minted once when a posting enters the system."""
    return str(uuid.uuid4())


def sha256_hex(text: str) -> str:
    """Hex sha256 of ``text`` encoded as UTF-8 (``output_sha256``, ``prompt_sha256``)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def utcnow() -> datetime:
    """Now, UTC, truncated to milliseconds: what a timestamp-millis field keeps, so a
    value survives an encode/decode round trip unchanged."""
    now = datetime.now(timezone.utc)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def make_event(
    event_type: str,
    payload: Mapping[str, Any],
    *,
    posting_id: str,
    stage: str | None,
    attempt: int,
    correlation_id: str,
    causation_id: str,
    worker_id: str,
    command_id: str | None = None,
    occurred_at: datetime | int | None = None,
    workflow_sha256: str | None = None,
    workflow: str | None = None,
) -> dict[str, Any]:
    """An ``InteractionEvent`` dict, ready for ``AvroCodec.encode("InteractionEvent", ...)``::

        {"event_id": str, "event_type": str, "posting_id": str, "stage": str | None,
         "attempt": int, "correlation_id": str, "causation_id": str,
         "occurred_at": datetime | int, "worker_id": str,
         "workflow_sha256": str | None, "payload": {...fields of event_type's record}}

    ``event_id`` derives from ``workflow`` (the emitting workflow's name; None only for
    events outside any workflow), ``command_id`` (the command being handled) or, when
    there is none, from ``causation_id``, plus ``attempt`` and ``event_type``. ``occurred_at``
    defaults to :func:`utcnow`; an int is milliseconds since the epoch. The payload is
    checked against the schema only when encoded.

    Raises:
        CodecError: (reason ``invalid_record``) ``event_type`` is not in EVENT_TYPES.
    """
    _check_event_type(event_type)
    return {
        "event_id": event_id(command_id if command_id is not None else causation_id, attempt, event_type, workflow),
        "event_type": event_type,
        "posting_id": posting_id,
        "stage": stage,
        "attempt": attempt,
        "correlation_id": correlation_id,
        "causation_id": causation_id,
        "occurred_at": utcnow() if occurred_at is None else occurred_at,
        "worker_id": worker_id,
        "workflow_sha256": workflow_sha256,
        "payload": dict(payload),
    }
