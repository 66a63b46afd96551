"""How events change the read models (pure, no I/O).

:func:`fold_event` is the ``postings`` state machine: the new row of a posting from its
previous row and one event, plus the ``posting_state_checkpoints`` row the event
writes, if any. The repository applies every *new* event of a batch (first time its
``event_id`` is seen) in partition-offset order, which is the posting's order since
events are keyed by posting_id; so the rows are a deterministic function of the
topic, equal for a live run and a replay.

:class:`ActorTotals` accumulates the additive ``actor_performance`` / ``actors`` deltas
of a batch (sums, counts, min/max: order does not matter).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from projector.records import clean, clean_str, int32, to_json

#: Which stage's output fills which postings column (the default workflow's names).
SUMMARY_STAGES = frozenset({"summarize", "summary"})
SKILLS_STAGES = frozenset({"extract_skills", "skills"})
SCORE_STAGES = frozenset({"score", "scoring"})

#: PostingCompleted statuses that mean the workflow ended on its error path.
FAILED_STATUSES = frozenset({"failed", "failure", "error", "errored", "timeout"})
#: Statuses the journey's own progress does not leave: only a rerun (a ``PostingRouted``
#: with condition ``rerun``) or a new journey (a re-submission) lifts them. Outputs of
#: work that was already running still land.
STICKY = frozenset({"cancelled", "rejected"})
#: The ``PostingRouted`` condition the command processor writes for a rerun.
RERUN = "rerun"

POSTING_COLUMNS = (
    "posting_id", "correlation_id", "title", "company", "location", "description", "url",
    "source", "submitted_at", "attributes", "summary", "skills", "score", "score_rationale",
    "outputs", "status", "current_stage", "final_status", "decision", "last_error",
    "error_count", "execution_seq", "event_count", "received_at", "stage_since",
    "updated_at", "completed_at", "last_event_id", "last_event_type", "last_offset",
)
#: Columns holding JSON: dicts/lists in a state, jsonb in the table.
JSON_COLUMNS = frozenset({"attributes", "skills", "outputs"})

CHECKPOINT_COLUMNS = (
    "posting_id", "stage", "execution_seq", "attempt", "status", "outputs", "terminal",
    "event_id", "created_at",
)

#: Events that are about an actor, not a posting.
ACTOR_ONLY = frozenset({"CircuitOpened", "CircuitClosed"})
#: Events that change no posting row: actor events and rejected operator commands.
NO_POSTING_CHANGE = ACTOR_ONLY | {"CommandRejected"}

_POSTING_FIELDS = ("title", "company", "location", "description", "url", "source", "submitted_at")
_LEADING_INT = re.compile(r"\s*(-?\d{1,12})\b\s*[-:.,;)]*\s*(.*)", re.S)


def new_state(posting_id: str) -> dict[str, Any]:
    state: dict[str, Any] = {c: None for c in POSTING_COLUMNS}
    state.update(posting_id=posting_id, attributes={}, outputs={}, status="received",
                 error_count=0, execution_seq=0, event_count=0)
    return state


def _starts_journey(state: dict[str, Any] | None, event: dict[str, Any]) -> bool:
    """Whether a ``PostingReceived`` begins a new journey: the posting has none yet (no
    row, or only a rejected row), or it is a re-submission (another ``submitted_at``).
    A second workflow routing the same submission joins the journey instead."""
    if state is None or state["received_at"] is None:
        return True
    return event["payload"]["posting"].get("submitted_at") != state["submitted_at"]


def _belongs(state: dict[str, Any] | None, event: dict[str, Any]) -> bool:
    """Whether a ``PostingRejected`` is about this posting's journey: a rejection of a
    row that never became a posting (no journey yet) or one the journey itself emitted
    (same correlation id, e.g. no entry point accepted it). A rejected duplicate or
    invalid re-submission of an existing posting is not."""
    return state is None or state["received_at"] is None or event["correlation_id"] == state["correlation_id"]


def parse_score(output: str) -> tuple[int | None, str | None]:
    """(score, rationale) from a score stage's output: ``7``, ``{"score": 7, "rationale":
    ...}``, or ``7 - rationale``; (None, None) when there is no integer."""
    text = output.strip()
    try:
        value: Any = json.loads(text)
    except ValueError:
        value = None
    if isinstance(value, dict):
        score = value.get("score", value.get("value"))
        rationale = value.get("rationale")
        score = int(score) if isinstance(score, (int, float)) and not isinstance(score, bool) else None
        return int32(score), rationale if isinstance(rationale, str) else None
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return int32(int(value)), None
    match = _LEADING_INT.match(text)
    if match is None:
        return None, None
    return int32(int(match.group(1))), match.group(2).strip() or None


def parse_skills(output: str) -> Any:
    """The skills output as JSON (a list normally); invalid JSON is kept as a string."""
    try:
        return json.loads(output)
    except ValueError:
        return output


def fold_event(state: dict[str, Any] | None, event: dict[str, Any],
               offset: int) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(new posting row, checkpoint row or None) after ``event`` at Kafka ``offset``.

    ``state`` is the posting's current row (None when it has none yet). Returns
    ``(state, None)`` unchanged for events that change no posting: actor events, a
    ``CommandRejected``, and a ``PostingRejected`` that is not about the posting's
    journey (:func:`_belongs`). A ``PostingReceived`` that starts a new journey
    (:func:`_starts_journey`) clears the previous journey's outputs, counts and status.
    """
    kind = event["event_type"]
    if kind in NO_POSTING_CHANGE or (kind == "PostingRejected" and not _belongs(state, event)):
        return state, None
    if kind == "PostingReceived" and _starts_journey(state, event):
        state = {**new_state(event["posting_id"]), "correlation_id": event["correlation_id"]}
    s = dict(state) if state is not None else new_state(event["posting_id"])
    s["outputs"] = dict(s["outputs"] or {})
    p = event["payload"]
    at: datetime = event["occurred_at"]
    sticky = s["status"] in STICKY
    checkpoint: tuple[str, str, bool] | None = None  # (stage, status, terminal)

    if kind == "PostingReceived":
        posting = p["posting"]
        for name in _POSTING_FIELDS:
            s[name] = posting.get(name)
        s["attributes"] = dict(posting.get("attributes") or {})
        if posting.get("summary"):
            s["summary"] = posting["summary"]
        s["received_at"] = s["received_at"] or at
    elif kind == "PostingRouted":
        s["current_stage"], s["stage_since"] = p["to_stage"], at
        if p.get("condition") == RERUN:  # a rerun lifts a cancel or a rejection
            sticky = False
            s["completed_at"] = s["final_status"] = None
        if not sticky:
            s["status"] = "in_progress"
    elif kind in ("InteractionCompleted", "InteractionFailed"):
        stage = event.get("stage") or s["current_stage"] or "-"
        s["execution_seq"] += 1
        if s["current_stage"] != stage:
            s["current_stage"], s["stage_since"] = stage, at
        if not sticky:
            s["status"] = "in_progress"
        if kind == "InteractionCompleted":
            _record_output(s, stage, p["output"])
            checkpoint = (stage, "completed", False)
        else:
            s["error_count"] += 1
            s["last_error"] = f"{p['error_type']}: {p['message']}"
            checkpoint = (stage, "retrying" if p.get("will_retry") else "failed", False)
    elif kind == "AwaitingDecision":
        s["current_stage"], s["stage_since"] = p["stage"], at
        if not sticky:
            s["status"] = "awaiting_decision"
        checkpoint = (p["stage"], "awaiting_decision", False)
    elif kind == "DecisionRecorded":
        s["decision"] = p["decision"]
        if not sticky:
            s["status"] = "in_progress"
        checkpoint = (event.get("stage") or s["current_stage"] or "-", "decided", False)
    elif kind == "PostingCompleted":
        s["final_status"], s["current_stage"] = p["status"], p["final_stage"]
        if not sticky:
            s["status"] = "failed" if str(p["status"]).lower() in FAILED_STATUSES else "completed"
            s["completed_at"] = at
        checkpoint = (p["final_stage"], s["status"], True)
    elif kind == "PostingCancelled" and event.get("stage"):
        # A worker skipping a pending command of a cancelled posting: it confirms the
        # cancel and never re-cancels a posting whose cancel a rerun lifted since.
        checkpoint = (event["stage"], "skipped", True)
    elif kind in ("PostingRejected", "PostingCancelled"):
        s["status"] = "rejected" if kind == "PostingRejected" else "cancelled"
        if p.get("reason"):
            s["last_error"] = p["reason"]
        s["completed_at"] = s["completed_at"] if sticky else at
        checkpoint = (event.get("stage") or s["current_stage"] or "-", s["status"], True)

    s["correlation_id"] = s["correlation_id"] or event["correlation_id"]
    s["event_count"] += 1
    s["updated_at"] = at
    s["last_event_id"], s["last_event_type"], s["last_offset"] = event["event_id"], kind, offset
    if checkpoint is None:
        return s, None
    stage, status, terminal = checkpoint
    return s, {
        "posting_id": s["posting_id"], "stage": stage, "execution_seq": s["execution_seq"],
        "attempt": event["attempt"], "status": status, "outputs": dict(s["outputs"]),
        "terminal": terminal, "event_id": event["event_id"], "created_at": at,
    }


def _record_output(s: dict[str, Any], stage: str, output: str) -> None:
    s["outputs"][stage] = output
    if stage in SUMMARY_STAGES:
        s["summary"] = output
    elif stage in SKILLS_STAGES:
        s["skills"] = parse_skills(output)
    elif stage in SCORE_STAGES:
        s["score"], s["score_rationale"] = parse_score(output)


def posting_values(state: dict[str, Any]) -> tuple:
    """A posting row in :data:`POSTING_COLUMNS` order, JSON columns as JSON text,
    strings NUL-free (PostgreSQL refuses NUL characters)."""
    return tuple(to_json(state[c]) if c in JSON_COLUMNS and state[c] is not None else clean_str(state[c])
                 for c in POSTING_COLUMNS)


def checkpoint_values(checkpoint: dict[str, Any]) -> tuple:
    return tuple(to_json(checkpoint[c]) if c == "outputs" else clean_str(checkpoint[c])
                 for c in CHECKPOINT_COLUMNS)


@dataclass
class ActorTotals:
    """Additive per-actor deltas of one batch's new interaction events."""

    performance: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    versions: dict[tuple[str, str, str, str], dict[str, Any]] = field(default_factory=dict)

    def add(self, event: dict[str, Any]) -> None:
        kind = event["event_type"]
        if kind not in ("InteractionCompleted", "InteractionFailed"):
            return
        p, at = event["payload"], event["occurred_at"]
        key = (clean(p["actor_name"]), clean(p["actor_kind"]))
        completed = kind == "InteractionCompleted"
        duration = int(p["duration_ms"])
        row = self.performance.get(key)
        if row is None:
            row = self.performance[key] = {
                "calls": 0, "successes": 0, "failures": 0, "duration_ms_total": 0,
                "duration_ms_min": duration, "duration_ms_max": duration, "completed_duration_ms": 0,
                "prompt_tokens": 0, "completion_tokens": 0, "first_call_at": at, "last_call_at": at,
            }
        row["calls"] += 1
        row["successes" if completed else "failures"] += 1
        row["duration_ms_total"] += duration
        row["duration_ms_min"] = min(row["duration_ms_min"], duration)
        row["duration_ms_max"] = max(row["duration_ms_max"], duration)
        row["first_call_at"] = min(row["first_call_at"], at)
        row["last_call_at"] = max(row["last_call_at"], at)
        if not completed:
            return
        row["completed_duration_ms"] += duration
        row["prompt_tokens"] += int(p["prompt_tokens"])
        row["completion_tokens"] += int(p["completion_tokens"])
        vkey = (*key, clean(p.get("model_file") or ""), clean(p.get("model_sha256") or ""))
        version = self.versions.get(vkey)
        if version is None:
            version = self.versions[vkey] = {"calls": 0, "first_seen_at": at, "last_seen_at": at}
        version["calls"] += 1
        version["first_seen_at"] = min(version["first_seen_at"], at)
        version["last_seen_at"] = max(version["last_seen_at"], at)
