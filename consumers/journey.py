"""A posting's latest command at a stage, rebuilt from its events.

``rerun`` and ``decide`` need the command a stage was given (the posting and the outputs
of the stages before it). It is read from ``stage.<s>`` first (:mod:`consumers.lookup`);
once that topic's retention removed it, this fold rebuilds it from ``events``, which is
kept for ever: every command a stage is given is announced by a ``PostingRouted`` event
(``to_stage``) whose ``causation_id`` is the cause the command's id derives from, in the
same transaction as the events before it of the same journey:

- ``PostingReceived`` opens a journey (its ``correlation_id``) with the posting, and the
  outputs its entry point seeds from posting fields;
- ``InteractionCompleted`` adds a stage's output, ``DecisionRecorded`` a human decision;
- ``PostingRouted`` to the stage: the command, with the outputs known at that moment.

The rebuilt command has the original's id, posting, correlation id and outputs; its
cancel epoch is unknown (None), so a cancelled posting is treated as cancelled.
Events of a workflow with another sha256 (another workflow, or an earlier version of
this one) count as well: a stage is known by its name.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from wavestream.events import command_id


class JourneyFold:
    """Folds one posting's events, in partition order, into its latest command at ``stage``."""

    def __init__(self, posting_id: str, stage: str, seed: Any) -> None:
        """``seed(posting) -> {stage: output}``: the outputs an entry point seeds."""
        self.posting_id, self.stage, self._seed = posting_id, stage, seed
        self._journeys: dict[str, dict[str, Any]] = {}  # correlation id -> posting, outputs
        self.latest: dict[str, Any] | None = None

    def feed(self, events: Iterable[Mapping[str, Any]]) -> None:
        for e in events:
            if e["posting_id"] == self.posting_id:
                self._apply(e)

    def _apply(self, e: Mapping[str, Any]) -> None:
        kind, payload, corr = e["event_type"], e.get("payload") or {}, e["correlation_id"]
        if kind == "PostingReceived":
            posting = dict(payload["posting"])
            self._journeys[corr] = {"posting": posting, "outputs": dict(self._seed(posting))}
            return
        journey = self._journeys.get(corr)
        if journey is None:
            return  # its PostingReceived is gone or belongs to no journey seen
        if kind == "InteractionCompleted" and e.get("stage"):
            journey["outputs"][e["stage"]] = payload["output"]
        elif kind == "DecisionRecorded" and e.get("stage"):
            journey["outputs"][e["stage"]] = payload["decision"]
        elif kind == "PostingRouted" and payload.get("to_stage") == self.stage:
            self.latest = {
                "command_id": command_id(e["causation_id"], self.stage), "posting_id": self.posting_id,
                "stage": self.stage, "attempt": 1, "correlation_id": corr, "causation_id": e["causation_id"],
                "issued_at": e["occurred_at"], "not_before": None, "workflow_sha256": e.get("workflow_sha256"),
                "posting": dict(journey["posting"]), "outputs": dict(journey["outputs"]), "epoch": None,
            }
