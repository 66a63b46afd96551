"""The postings state machine and the per-actor totals (pure logic, no services)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from projector.fold import (POSTING_COLUMNS, ActorTotals, checkpoint_values, fold_event, parse_score, parse_skills,
                            posting_values)
from tests.unit.test_codec import PAYLOADS
from wavestream.events import make_event

pytestmark = pytest.mark.unit

T0 = datetime(2025, 3, 1, 12, 0, tzinfo=timezone.utc)


def ev(kind: str, stage: str | None = None, payload: dict | None = None, *, n: int = 0, attempt: int = 1,
       posting_id: str = "p-1", correlation_id: str = "corr-1") -> dict:
    return make_event(kind, PAYLOADS[kind] if payload is None else payload, posting_id=posting_id, stage=stage,
                      attempt=attempt, correlation_id=correlation_id, causation_id=f"c-{n}", worker_id="w",
                      occurred_at=T0 + timedelta(seconds=n))


def completed(stage: str, output: str, n: int, **extra) -> dict:
    return ev("InteractionCompleted", stage, {**PAYLOADS["InteractionCompleted"], "output": output, **extra}, n=n)


def run(events: list[dict], state: dict | None = None) -> tuple[dict | None, list[dict]]:
    checkpoints = []
    for offset, event in enumerate(events):
        state, checkpoint = fold_event(state, event, offset)
        if checkpoint is not None:
            checkpoints.append(checkpoint)
    return state, checkpoints


def test_a_full_journey_fills_every_column():
    state, checkpoints = run([
        ev("PostingReceived", n=0),
        ev("PostingRouted", "summarize", {"from_stage": None, "to_stage": "summarize", "condition": "*"}, n=1),
        completed("summarize", "A data job.", 2),
        completed("extract_skills", '["kafka", "sql"]', 3),
        completed("score", '{"score": 8, "rationale": "clear"}', 4),
        ev("PostingCompleted", "score", {"final_stage": "score", "status": "done"}, n=5),
    ])
    assert state["title"] == "Data Engineer" and state["attributes"] == {"salary": "100k", "remote": "yes"}
    assert state["summary"] == "A data job." and state["skills"] == ["kafka", "sql"]
    assert (state["score"], state["score_rationale"]) == (8, "clear")
    assert state["status"] == "completed" and state["current_stage"] == "score"
    assert state["execution_seq"] == 3 and state["event_count"] == 6 and state["last_offset"] == 5
    assert state["completed_at"] == T0 + timedelta(seconds=5) and state["received_at"] == T0
    assert [c["stage"] for c in checkpoints] == ["summarize", "extract_skills", "score", "score"]
    assert checkpoints[1]["outputs"] == {"summarize": "A data job.", "extract_skills": '["kafka", "sql"]'}
    assert checkpoints[-1]["terminal"] and not checkpoints[0]["terminal"]
    assert [c["execution_seq"] for c in checkpoints[:3]] == [1, 2, 3]
    assert len(posting_values(state)) == 30


def test_failures_count_and_the_error_path_ends_failed():
    failed = {**PAYLOADS["InteractionFailed"], "will_retry": False, "error_type": "ContractError",
              "message": "not JSON"}
    state, checkpoints = run([
        ev("PostingReceived", n=0),
        ev("InteractionFailed", "summarize", n=1),
        ev("InteractionFailed", "summarize", failed, n=2, attempt=2),
        ev("PostingCompleted", "error_handler", {"final_stage": "error_handler", "status": "failed"}, n=3),
    ])
    assert state["error_count"] == 2 and state["last_error"] == "ContractError: not JSON"
    assert state["status"] == "failed" and state["final_status"] == "failed"
    assert [c["status"] for c in checkpoints] == ["retrying", "failed", "failed"]


def test_cancelled_is_sticky_and_decisions_are_recorded():
    state, _ = run([
        ev("PostingReceived", n=0),
        ev("AwaitingDecision", "review", n=1),
    ])
    assert state["status"] == "awaiting_decision" and state["current_stage"] == "review"
    state, _ = run([ev("DecisionRecorded", "review", n=2), ev("PostingCancelled", None, n=3),
                    ev("PostingRouted", "score", {"from_stage": "review", "to_stage": "score", "condition": "*"}, n=4)],
                   state)
    assert state["decision"] == "approve" and state["status"] == "cancelled"


def test_a_rejection_without_a_posting_creates_a_rejected_row():
    state, checkpoints = run([ev("PostingRejected", None, n=0, attempt=0)])
    assert state["status"] == "rejected" and state["last_error"] == "no title" and state["title"] is None
    assert checkpoints[0]["terminal"] and checkpoints[0]["stage"] == "-"


def test_circuit_events_leave_postings_alone():
    assert fold_event(None, ev("CircuitOpened", posting_id=""), 0) == (None, None)


def test_nul_characters_are_cleaned():
    state, checkpoints = run([completed("summarize", "bad\x00byte", 0)])
    values = dict(zip(POSTING_COLUMNS, posting_values(state)))
    assert values["summary"] == "bad\ufffdbyte" and "\x00" not in str(values)
    assert "\x00" not in str(checkpoint_values(checkpoints[0]))


@pytest.mark.parametrize("text, expected", [
    ("7", (7, None)), ("7 - clear role", (7, "clear role")), ('{"score": 9, "rationale": "ok"}', (9, "ok")),
    ('{"value": 3}', (3, None)), ("no number", (None, None)), ("99999999999", (None, None)), ("8.0", (8, None)),
])
def test_parse_score(text, expected):
    assert parse_score(text) == expected


def test_parse_skills_keeps_invalid_json_as_text():
    assert parse_skills('["a"]') == ["a"] and parse_skills("a, b") == "a, b"


def test_actor_totals_are_additive():
    totals = ActorTotals()
    totals.add(completed("summarize", "x", 0, duration_ms=1000, completion_tokens=10, prompt_tokens=5))
    totals.add(completed("summarize", "y", 1, duration_ms=3000, completion_tokens=30, prompt_tokens=5,
                         model_sha256="ee" * 32))
    totals.add(ev("InteractionFailed", "summarize", n=2))
    row = totals.performance[("smollm2", "llm")]
    assert (row["calls"], row["successes"], row["failures"]) == (3, 2, 1)
    assert (row["duration_ms_min"], row["duration_ms_max"], row["completed_duration_ms"]) == (1000, 30000, 4000)
    assert row["completion_tokens"] == 40 and row["first_call_at"] == T0
    assert sorted(k[3] for k in totals.versions) == ["cd" * 32, "ee" * 32]  # drift: two versions


# --- statuses follow the journey (issue 8 item 3) ------------------------------------------

ROUTED = {"from_stage": None, "to_stage": "summarize", "condition": "*"}
RERUN = {"from_stage": None, "to_stage": "summarize", "condition": "rerun"}
DONE = {"final_stage": "score", "status": "done"}


def received(n: int, correlation_id: str = "corr-1", submitted_at: datetime = T0) -> dict:
    posting = {**PAYLOADS["PostingReceived"]["posting"], "submitted_at": submitted_at}
    return ev("PostingReceived", payload={"posting": posting}, n=n, correlation_id=correlation_id)


def test_a_rejected_command_changes_no_posting():
    done, _ = run([received(0), ev("PostingCompleted", "score", DONE, n=1)])
    rejected = ev("CommandRejected", None, n=2, attempt=0)
    assert fold_event(done, rejected, 2) == (done, None)
    assert fold_event(None, rejected, 2) == (None, None)  # nor creates one


def test_a_duplicate_rows_rejection_leaves_the_accepted_posting_completed():
    duplicate = ev("PostingRejected", None, n=1, attempt=0, correlation_id="random-at-ingest")
    # The rejection reaches `events` first (submit writes it directly), the journey after.
    state, _ = run([duplicate, received(2), ev("PostingRouted", payload=ROUTED, n=3),
                    ev("PostingCompleted", "score", DONE, n=4)])
    assert state["status"] == "completed" and state["last_error"] is None
    # ... or after: it does not touch the existing posting at all.
    state, checkpoints = run([received(0), ev("PostingCompleted", "score", DONE, n=1), duplicate])
    assert state["status"] == "completed" and state["last_event_type"] == "PostingCompleted"
    assert [c["status"] for c in checkpoints] == ["completed"]


def test_the_journeys_own_rejection_still_rejects():
    state, _ = run([received(0), ev("PostingRejected", None, n=1, attempt=0)])
    assert state["status"] == "rejected" and state["last_error"] == "no title"


def test_a_rerun_after_a_cancel_completes_and_clears_the_cancel_time():
    state, _ = run([received(0), ev("PostingRouted", payload=ROUTED, n=1), ev("PostingCancelled", None, n=2)])
    assert state["status"] == "cancelled" and state["completed_at"] == T0 + timedelta(seconds=2)
    state, _ = run([completed("summarize", "late output of the running stage", 3),
                    ev("PostingCancelled", "extract_skills", {"reason": "skipped"}, n=4)], state)
    assert state["status"] == "cancelled" and state["outputs"]["summarize"] == "late output of the running stage"
    state, _ = run([ev("PostingRouted", payload=RERUN, n=5)], state)
    assert state["status"] == "in_progress" and state["completed_at"] is None
    # a pending command of the cancelled epoch skipped after the rerun does not re-cancel
    state, _ = run([ev("PostingCancelled", "score", {"reason": "skipped"}, n=6),
                    completed("summarize", "again", 7), ev("PostingCompleted", "score", DONE, n=8)], state)
    assert state["status"] == "completed" and state["completed_at"] == T0 + timedelta(seconds=8)
    assert state["final_status"] == "done"


def test_a_resubmission_starts_a_new_journey_without_the_old_outputs_and_counts():
    first, _ = run([received(0), completed("summarize", "old summary", 1),
                    ev("InteractionFailed", "extract_skills", n=2), ev("PostingCancelled", None, n=3)])
    assert first["error_count"] == 1 and first["status"] == "cancelled"
    later = T0 + timedelta(days=1)
    state, _ = run([received(10, correlation_id="corr-2", submitted_at=later)], first)
    assert state["status"] == "received" and state["correlation_id"] == "corr-2"
    assert state["outputs"] == {} and state["summary"] is None and state["error_count"] == 0
    assert state["execution_seq"] == 0 and state["event_count"] == 1 and state["completed_at"] is None
    assert state["received_at"] == T0 + timedelta(seconds=10) and state["last_error"] is None


def test_a_second_workflow_routing_the_same_submission_joins_the_journey():
    state, _ = run([received(0), completed("summarize", "kept", 1), received(2, correlation_id="corr-other")])
    assert state["outputs"] == {"summarize": "kept"} and state["correlation_id"] == "corr-1"
