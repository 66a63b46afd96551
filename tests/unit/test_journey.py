"""A posting's latest command at a stage, rebuilt from its events (consumers.journey)."""

from __future__ import annotations

import pytest

from consumers.journey import JourneyFold
from wavestream.events import command_id

pytestmark = pytest.mark.unit

POSTING = {"posting_id": "p1", "title": "Nurse", "summary": "Given summary", "description": "ICU shifts"}


def _e(kind, corr="j1", stage=None, cause="c", at=1, posting_id="p1", **payload):
    return {"event_type": kind, "posting_id": posting_id, "stage": stage, "correlation_id": corr,
            "causation_id": cause, "occurred_at": at, "workflow_sha256": "w", "payload": payload}


def _journey(corr="j1", at=0):
    return [
        _e("PostingReceived", corr, cause="posting:p1", at=at, posting=POSTING),
        _e("PostingRouted", corr, cause=f"recv-{corr}", at=at + 1, from_stage=None, to_stage="summarize"),
        _e("InteractionCompleted", corr, stage="summarize", cause=f"cmd-s-{corr}", at=at + 2, output="A summary."),
        _e("PostingRouted", corr, cause=f"done-s-{corr}", at=at + 3, from_stage="summarize", to_stage="review"),
        _e("AwaitingDecision", corr, stage="review", at=at + 4, stage_name="review", prompt="ok?"),
    ]


def test_the_command_a_stage_was_given_is_rebuilt_with_its_id_posting_and_upstream_outputs():
    fold = JourneyFold("p1", "review", seed=lambda posting: {})
    fold.feed(_journey())
    cmd = fold.latest
    assert cmd["command_id"] == command_id("done-s-j1", "review")  # the id the router gave it
    assert cmd["posting"] == POSTING and cmd["correlation_id"] == "j1" and cmd["stage"] == "review"
    assert cmd["outputs"] == {"summarize": "A summary."} and cmd["attempt"] == 1
    assert cmd["epoch"] is None  # unknown: a cancelled posting stays cancelled


def test_outputs_are_those_known_when_the_stage_was_routed_and_the_entry_points_seed_counts():
    fold = JourneyFold("p1", "summarize", seed=lambda posting: {"intake": posting["summary"]})
    fold.feed(_journey())
    assert fold.latest["outputs"] == {"intake": "Given summary"}  # not the later summary output
    assert fold.latest["command_id"] == command_id("recv-j1", "summarize")


def test_the_latest_journey_wins_and_other_postings_and_orphans_are_ignored():
    events = [*_journey("j1", at=0), *_journey("j2", at=10)]
    events.insert(3, _e("PostingRouted", "j9", cause="orphan", to_stage="review"))  # no PostingReceived seen
    events.append(_e("PostingReceived", "j3", posting_id="p2", posting={**POSTING, "posting_id": "p2"}))
    events.append(_e("PostingRouted", "j3", posting_id="p2", cause="other", to_stage="review"))
    fold = JourneyFold("p1", "review", seed=lambda posting: {})
    fold.feed(events)
    assert fold.latest["correlation_id"] == "j2" and fold.latest["command_id"] == command_id("done-s-j2", "review")


def test_a_decision_is_an_output_of_its_stage_and_a_stage_never_routed_to_has_no_command():
    events = [*_journey(), _e("DecisionRecorded", stage="review", cause="decide-1", decision="approve"),
              _e("PostingRouted", cause="decide-1", from_stage="review", to_stage="publish")]
    fold = JourneyFold("p1", "publish", seed=lambda posting: {})
    fold.feed(events)
    assert fold.latest["outputs"] == {"summarize": "A summary.", "review": "approve"}
    none = JourneyFold("p1", "archive", seed=lambda posting: {})
    none.feed(events)
    assert none.latest is None
