"""The command processor (``wavestream command-processor``): interaction commands from
``commands``, on the same exactly-once loop as the stage workers (DESIGN §5).

- ``rerun`` (stage): a fresh attempt-1 ``StageCommand`` for the stage, built from the
  posting's latest command there (posting + upstream outputs; read from the stage topics,
  or rebuilt from ``events`` once their retention removed it: :mod:`consumers.lookup`),
  plus ``PostingRouted``
  (condition ``rerun``). A rerun lifts an earlier cancel: its command carries the next
  cancel epoch (:mod:`consumers.cancel`).
- ``decide`` (stage, decision): for a posting parked on a ``human`` stage and not yet
  decided: ``DecisionRecorded`` and the route the stage's branches pick for the decision.
  Its event ids derive from the decide command's id, so two decisions never share one.
- ``cancel``: ``PostingCancelled``; stage workers then skip the posting's pending
  commands of the cancelled epoch.

Each command writes the posting's ``PostingControl`` record (``commands.state.<workflow>``)
in the same transaction as its events: the cancel epoch and the ids of the commands
already handled. A command id seen before for the posting is handled once: the repeat
becomes a ``CommandRejected``. A command that cannot apply (unknown stage, nothing to
rerun, decide on a non-human stage, on a posting not awaiting a decision there, or on a
cancelled one; cancel of a cancelled posting) becomes a ``CommandRejected`` event saying
why, which changes no posting's status: never a silent drop. Ids derive from the
workflow's name and the command id, so a re-run of the transaction is identical.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from consumers.cancel import CancelRegistry, control_record
from consumers.loop import LoopConfig, TransactionalLoop
from consumers.outcome import Out, Outcome
from consumers.routing import Context, Emission, route_decision, stage_command, to_outcome
from consumers.startpos import resolve_start
from consumers.workflow import Workflow
from wavestream.codec import AvroCodec
from wavestream.config import KafkaSettings
from wavestream.events import make_event
from wavestream.logs import bind
from wavestream.topics import COMMANDS, DEADLETTER, EVENTS, commands_group, control_topic, retry_topic, stage_topic

log = logging.getLogger(__name__)


class CommandHandler:
    """Turns one InteractionCommand into events, stage commands and the posting's control record."""

    def __init__(self, workflow: Workflow, codec: AvroCodec, worker_id: str, lookup: Any, control: CancelRegistry,
                 clock: Callable[[], float] = time.time) -> None:
        self.workflow, self.codec, self.lookup, self.control, self._clock = workflow, codec, lookup, control, clock
        self.ctx = Context(workflow, worker_id)
        self._next_offset: dict[int, int] = {}  # commands partition -> offset expected next

    def handle(self, msg: Any, command: dict[str, Any]) -> Outcome:
        """Raises: KafkaException: a lookup could not read a stage topic; KafkaClientError:
        the control topic could not be read (either way the transaction aborts and the
        command is retried)."""
        self._sync(msg.partition(), msg.offset())
        posting_id, command_id = command["posting_id"], command["command_id"]
        control = self.control.get(posting_id) or control_record(posting_id)
        if command_id in control["handled"]:
            return self._reject(msg, command, control, f"command {command_id} was handled before: applied once")
        if command["action"] == "cancel":
            return self._cancel(msg, command, control)
        stage = self.workflow.stages.get(command.get("stage") or "")
        if stage is None:
            return self._reject(msg, command, control, f"{command['action']}: workflow {self.workflow.name} has "
                                                       f"no stage {command.get('stage')!r}")
        if command["action"] == "decide":
            problem = _decide_problem(command, stage)
            if problem:
                return self._reject(msg, command, control, problem)
        parked = self.lookup.latest(stage.name, posting_id, msg.partition())
        if parked is None:
            return self._reject(msg, command, control,
                                f"{command['action']}: no command of stage {stage.name} found for the posting")
        if command["action"] == "rerun":
            return self._rerun(msg, command, control, stage.name, parked)
        if parked["command_id"] in control["decided"]:
            return self._reject(msg, command, control, f"decide: the posting is not awaiting a decision at "
                                                       f"{stage.name} (already decided)")
        if control["cancelled"] and int(parked.get("epoch") or 0) <= control["epoch"]:
            return self._reject(msg, command, control, "decide: the posting was cancelled")
        emission = route_decision(self.ctx, parked, stage, command["decision"], command.get("issued_by"),
                                  command_id, self._now_ms())
        updated = {**control, "decided": [*control["decided"], parked["command_id"]]}
        return self._outcome(msg, emission, command, updated)

    def _cancel(self, msg: Any, command: dict[str, Any], control: dict[str, Any]) -> Outcome:
        if control["cancelled"]:
            return self._reject(msg, command, control, "cancel: the posting is already cancelled")
        reason = command.get("reason") or f"cancelled by {command.get('issued_by') or 'an operator'}"
        now = self._now_ms()
        updated = {**control, "cancelled": True, "cancelled_at": now}
        return self._outcome(msg, Emission([self._event(command, "PostingCancelled", {"reason": reason})]),
                             command, updated)

    def _rerun(self, msg: Any, command: dict[str, Any], control: dict[str, Any], stage: str,
               parked: dict[str, Any]) -> Outcome:
        # A rerun after a cancel opens the next epoch: its commands run, older ones stay skipped.
        epoch = control["epoch"] + 1 if control["cancelled"] else control["epoch"]
        fresh = stage_command(self.ctx, cause_id=command["command_id"], stage=stage, posting=parked["posting"],
                              correlation_id=parked["correlation_id"], outputs=parked.get("outputs") or {},
                              now_ms=self._now_ms(), epoch=epoch)
        routed = self._event(command, "PostingRouted", {"from_stage": None, "to_stage": stage, "condition": "rerun"},
                             parked["correlation_id"])
        updated = {**control, "epoch": epoch, "cancelled": False, "cancelled_at": None}
        return self._outcome(msg, Emission([routed], [(stage_topic(stage), fresh)]), command, updated)

    def _event(self, command: dict[str, Any], event_type: str, payload: dict[str, Any],
               correlation_id: str | None = None) -> dict[str, Any]:
        return make_event(event_type, payload, posting_id=command["posting_id"], stage=None, attempt=0,
                          correlation_id=correlation_id or command.get("correlation_id") or command["command_id"],
                          causation_id=command["command_id"], worker_id=self.ctx.worker_id,
                          command_id=command["command_id"], occurred_at=self._now_ms(),
                          workflow_sha256=self.workflow.sha256, workflow=self.workflow.name)

    def _reject(self, msg: Any, command: dict[str, Any], control: dict[str, Any], reason: str) -> Outcome:
        log.warning("command %s rejected: %s", command["command_id"], reason)
        rejected = self._event(command, "CommandRejected", {
            "reason": reason, "command_id": command["command_id"], "action": command["action"],
            "stage": command.get("stage"), "decision": command.get("decision"), "issued_by": command.get("issued_by")})
        return self._outcome(msg, Emission([rejected]), command, control)

    def _outcome(self, msg: Any, emission: Emission, command: dict[str, Any], control: dict[str, Any]) -> Outcome:
        """The emission's records plus the posting's control record, which now lists the
        command as handled; the registry learns the record at once (same-batch commands)."""
        handled = [c for c in control["handled"] if c != command["command_id"]] + [command["command_id"]]
        record = control_record(**{**control, "changed_by": command["command_id"], "changed_at": self._now_ms(),
                                   "handled": handled})
        self.control.put(msg.partition(), record)
        outcome = to_outcome(self.codec, emission, command["posting_id"], log)
        topic = control_topic(self.workflow.name)
        state = Out(topic, command["posting_id"], self.codec.encode("PostingControl", record, topic=topic))
        return Outcome((*outcome.outputs, state))

    def _sync(self, partition: int, offset: int) -> None:
        """Re-read the control partition when this command does not follow the last one
        handled on its partition (first command, a rebalance, or a rewind after an abort:
        what was remembered of an uncommitted transaction is dropped)."""
        if self._next_offset.get(partition) != offset:
            self.control.reload_partition(partition)
        self._next_offset[partition] = offset + 1

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)


def _decide_problem(command: dict[str, Any], stage: Any) -> str | None:
    """Why a decide cannot apply to ``stage`` whatever the posting's state, or None."""
    if stage.actor.kind != "human":
        return f"decide: stage {stage.name} is not a human stage"
    if not command.get("decision"):
        return "decide: no decision given"
    return None


def build_command_processor(settings: KafkaSettings, workflow: Workflow, *, instance: str, batch_size: int = 50,
                            poll_s: float = 0.2, start: str | None = None) -> TransactionalLoop:
    """The processor's loop, checked before it runs; where a group without committed
    offsets begins on ``commands`` is ``start`` (:func:`consumers.startpos.resolve_start`).

    Raises:
        StartPositionError: the group has no offsets, ``commands`` holds records and
            ``start`` is None.
        TopicError: ``commands``, ``events``, ``deadletter``, the workflow's control topic
            or a stage topic is missing, or the control topic's partition count differs
            from that of ``commands`` (a posting's control record must live in the
            partition of its commands).
        KafkaClientError: the topics' offsets cannot be read.
    """
    from consumers.lookup import CommandLookup
    from wavestream.clients import build_admin, high_watermarks
    from wavestream.exceptions import TopicError
    from wavestream.topics import require_topics

    stages = [t for s in workflow.stages for t in (stage_topic(s), retry_topic(s))]
    require_topics(build_admin(settings), [COMMANDS, EVENTS, DEADLETTER, control_topic(workflow.name), *stages])
    codec = AvroCodec.from_settings(settings)
    control = CancelRegistry(settings, codec, workflow.name)
    commands = len(high_watermarks(control.consumer, COMMANDS))
    if control.partitions() != commands:
        raise TopicError(f"{control_topic(workflow.name)} has {control.partitions()} partitions, {COMMANDS} has "
                         f"{commands}: they must be equal")
    resolve_start(settings, commands_group(workflow.name), COMMANDS, start,
                  what="applies every command ever sent (to this workflow's postings)")
    worker_id = f"wavestream-commands-{workflow.name}-{instance}"
    lookup = CommandLookup(settings, codec, seed=workflow.seeded_outputs)
    handler = CommandHandler(workflow, codec, worker_id, lookup, control)
    config = LoopConfig(group_id=commands_group(workflow.name), topics=[COMMANDS],
                        transactional_id=worker_id, batch_size=batch_size, poll_s=poll_s,
                        component="command-processor")
    return TransactionalLoop(settings, config, handler, codec, logger=bind(log, worker_id=worker_id))
