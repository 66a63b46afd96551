"""The ``human`` actor: the posting waits for an operator's ``decide`` command.

The stage worker sees ``awaits_decision`` and, instead of routing, emits an
``AwaitingDecision`` event carrying the rendered prompt (the question for the human).
The command processor routes the posting on when the decision arrives; the decision
is then the stage's output, matched against the stage's branches.
"""

from __future__ import annotations

from typing import Any, Mapping

from consumers.actors.base import ActorResult
from consumers.workflow import Stage, Workflow, render


class HumanActor:
    """The :class:`~consumers.actors.base.Actor` of a ``human`` stage."""

    kind = "human"
    awaits_decision = True
    sha256 = None

    def __init__(self, stage: Stage, workflow: Workflow) -> None:
        self.stage = stage
        self.name = str(stage.actor.options.get("name") or "human")

    def run(self, command: Mapping[str, Any]) -> ActorResult:
        """The question to show: the rendered prompt (empty without one). Never raises."""
        return ActorResult(output=render(self.stage.prompt or "", command))
