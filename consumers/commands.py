"""The command processor (``wavestream command-processor``): interaction commands from
``commands``, on the same exactly-once loop as the stage workers (DESIGN §5).

- ``rerun`` (stage): a fresh attempt-1 ``StageCommand`` for the stage, built from the
  posting's latest command there (posting + upstream outputs), plus ``PostingRouted``
  (condition ``rerun``). A rerun also lifts an earlier cancel.
- ``decide`` (stage, decision): for a posting waiting on a ``human`` stage:
  ``DecisionRecorded`` and the route the stage's branches pick for the decision.
- ``cancel``: ``PostingCancelled``; stage workers then skip the posting's pending commands
  (:mod:`consumers.cancel`).

A command that cannot apply (unknown stage, nothing to rerun, decide on a non-human stage
or on a cancelled posting) becomes a ``PostingRejected`` event saying why: never a
silent drop. Ids derive from the command id, so a re-run of the transaction is identical.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Callable

from consumers.loop import LoopConfig, TransactionalLoop
from consumers.outcome import Outcome
from consumers.routing import Context, Emission, route_decision, stage_command, to_outcome
from consumers.workflow import Workflow
from wavestream.codec import AvroCodec
from wavestream.config import KafkaSettings
from wavestream.events import make_event
from wavestream.logs import bind
from wavestream.topics import COMMANDS, DEADLETTER, EVENTS, commands_group, retry_topic, stage_topic

log = logging.getLogger(__name__)


class CommandHandler:
    """Turns one InteractionCommand into events and stage commands."""

    def __init__(self, workflow: Workflow, codec: AvroCodec, worker_id: str, lookup: Any, cancels: Any,
                 clock: Callable[[], float] = time.time) -> None:
        self.workflow, self.codec, self.lookup, self.cancels, self._clock = workflow, codec, lookup, cancels, clock
        self.ctx = Context(workflow, worker_id)

    def handle(self, msg: Any, command: dict[str, Any]) -> Outcome:
        """Raises: KafkaException: a lookup could not read a stage topic (the
        transaction aborts and the command is retried)."""
        action = command["action"]
        if action == "cancel":
            reason = command.get("reason") or f"cancelled by {command.get('issued_by') or 'an operator'}"
            return self._outcome(Emission([self._event(command, "PostingCancelled", {"reason": reason})]),
                                 command["posting_id"])
        stage = self.workflow.stages.get(command.get("stage") or "")
        if stage is None:
            return self._reject(command, f"{action}: workflow {self.workflow.name} has no stage {command.get('stage')!r}")
        if action == "decide" and stage.actor.kind != "human":
            return self._reject(command, f"decide: stage {stage.name} is not a human stage")
        if action == "decide" and not command.get("decision"):
            return self._reject(command, "decide: no decision given")
        if action == "decide" and self.cancels.is_cancelled(command["posting_id"], (msg.partition(), msg.offset())):
            return self._reject(command, "decide: the posting was cancelled")
        parked = self.lookup.latest(stage.name, command["posting_id"], msg.partition())
        if parked is None:
            return self._reject(command, f"{action}: no command of stage {stage.name} found for the posting")
        now_ms = int(self._clock() * 1000)
        if action == "rerun":
            fresh = stage_command(self.ctx, cause_id=command["command_id"], stage=stage.name, posting=parked["posting"],
                                  correlation_id=parked["correlation_id"], outputs=parked.get("outputs") or {},
                                  now_ms=now_ms)
            routed = self._event(command, "PostingRouted", {"from_stage": None, "to_stage": stage.name,
                                                            "condition": "rerun"}, parked["correlation_id"])
            return self._outcome(Emission([routed], [(stage_topic(stage.name), fresh)]), command["posting_id"])
        emission = route_decision(self.ctx, parked, stage, command["decision"], command.get("issued_by"),
                                  command["command_id"], now_ms)
        return self._outcome(emission, command["posting_id"])

    def _event(self, command: dict[str, Any], event_type: str, payload: dict[str, Any],
               correlation_id: str | None = None) -> dict[str, Any]:
        return make_event(event_type, payload, posting_id=command["posting_id"], stage=None, attempt=0,
                          correlation_id=correlation_id or command.get("correlation_id") or command["command_id"],
                          causation_id=command["command_id"], worker_id=self.ctx.worker_id,
                          command_id=command["command_id"], occurred_at=int(self._clock() * 1000),
                          workflow_sha256=self.workflow.sha256)

    def _reject(self, command: dict[str, Any], reason: str) -> Outcome:
        log.warning("command %s rejected: %s", command["command_id"], reason)
        raw = json.dumps({k: command.get(k) for k in ("command_id", "action", "stage", "decision", "issued_by")})
        rejected = self._event(command, "PostingRejected",
                               {"reason": reason, "source_file": COMMANDS, "line": None, "raw": raw})
        return self._outcome(Emission([rejected]), command["posting_id"])

    def _outcome(self, emission: Emission, key: str) -> Outcome:
        return to_outcome(self.codec, emission, key, log)


def build_command_processor(settings: KafkaSettings, workflow: Workflow, *, instance: str, batch_size: int = 50,
                            poll_s: float = 0.2) -> TransactionalLoop:
    """The processor's loop, checked before it runs.

    Raises:
        TopicError: ``commands``, ``events``, ``deadletter`` or a stage topic is missing.
        KafkaException: the cancellations cannot be read.
    """
    from consumers.cancel import CancelRegistry
    from consumers.lookup import CommandLookup
    from wavestream.clients import build_admin
    from wavestream.topics import require_topics

    stages = [t for s in workflow.stages for t in (stage_topic(s), retry_topic(s))]
    require_topics(build_admin(settings), [COMMANDS, EVENTS, DEADLETTER, *stages])
    codec = AvroCodec.from_settings(settings)
    cancels = CancelRegistry(settings, codec)
    cancels.catch_up()
    worker_id = f"wavestream-commands-{workflow.name}-{instance}"
    handler = CommandHandler(workflow, codec, worker_id, CommandLookup(settings, codec), cancels)
    config = LoopConfig(group_id=commands_group(workflow.name), topics=[COMMANDS],
                        transactional_id=worker_id, batch_size=batch_size, poll_s=poll_s,
                        component="command-processor")
    return TransactionalLoop(settings, config, handler, codec, logger=bind(log, worker_id=worker_id))
