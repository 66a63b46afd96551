"""What a stage emits for one command: events, and the next command (pure functions).

Every id is deterministic (``wavestream.events``): a command re-run after an aborted
transaction emits the same event ids and the same next command id. A retry keeps the
command id and increments ``attempt``; the next stage's command id derives from the
event that caused it. Every event carries the workflow's sha256.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

from consumers.actors.base import ActorResult
from consumers.exceptions import ActorError
from consumers.outcome import Out, Outcome
from consumers.workflow import DONE, FAILURE_KEY, Branch, Stage, Workflow
from wavestream.codec import AvroCodec
from wavestream.events import command_id, make_event, sha256_hex
from wavestream.topics import EVENTS, retry_topic, stage_topic


@dataclass
class Emission:
    """Events for ``events`` and (topic, StageCommand) pairs, in production order."""

    events: list[dict[str, Any]] = field(default_factory=list)
    commands: list[tuple[str, dict[str, Any]]] = field(default_factory=list)


def to_outcome(codec: AvroCodec, emission: Emission, key: str,
               logger: logging.Logger | logging.LoggerAdapter) -> Outcome:
    """The records to produce for ``emission``, keyed by posting id; logs one JSON line
    per event (it becomes a fact only if the transaction commits).

    Raises:
        CodecError: an event or command does not encode (the loop dead-letters the input).
    """
    outs = []
    for e in emission.events:
        outs.append(Out(EVENTS, key, codec.encode("InteractionEvent", e, topic=EVENTS)))
        logger.info("emit %s", e["event_type"], extra={
            "posting_id": e["posting_id"], "stage": e["stage"], "correlation_id": e["correlation_id"],
            "event_id": e["event_id"], "event_type": e["event_type"], "attempt": e["attempt"]})
    outs += [Out(topic, key, codec.encode("StageCommand", c, topic=topic)) for topic, c in emission.commands]
    return Outcome(tuple(outs))


@dataclass(frozen=True)
class Context:
    workflow: Workflow
    worker_id: str


def event(ctx: Context, command: Mapping[str, Any], event_type: str, payload: Mapping[str, Any],
          *, causation_id: str | None = None, stage: str | None = None, now_ms: int | None = None) -> dict:
    """An event about ``command`` (its id, attempt, posting and correlation)."""
    return make_event(
        event_type, payload, posting_id=command["posting_id"], stage=stage or command["stage"],
        attempt=command["attempt"], correlation_id=command["correlation_id"],
        causation_id=causation_id or command["command_id"], worker_id=ctx.worker_id,
        command_id=command["command_id"], occurred_at=now_ms, workflow_sha256=ctx.workflow.sha256,
        workflow=ctx.workflow.name,
    )


def stage_command(ctx: Context, *, cause_id: str, stage: str, posting: Mapping[str, Any], correlation_id: str,
                  outputs: Mapping[str, str], now_ms: int, epoch: int = 0) -> dict[str, Any]:
    """Attempt 1 of ``stage`` for ``posting``, caused by event or command ``cause_id``, in
    cancel epoch ``epoch`` (:mod:`consumers.cancel`)."""
    return {
        "command_id": command_id(cause_id, stage), "posting_id": posting["posting_id"], "stage": stage,
        "attempt": 1, "correlation_id": correlation_id, "causation_id": cause_id, "issued_at": now_ms,
        "not_before": None, "workflow": ctx.workflow.name, "workflow_sha256": ctx.workflow.sha256,
        "posting": dict(posting), "outputs": dict(outputs), "epoch": int(epoch),
    }


def completed(ctx: Context, command: Mapping[str, Any], stage: Stage, actor: Any, result: ActorResult,
              duration_ms: int, now_ms: int) -> Emission:
    """InteractionCompleted, then the route the output's branch selects."""
    done = event(ctx, command, "InteractionCompleted", {
        "output": result.output, "output_sha256": sha256_hex(result.output), "duration_ms": duration_ms,
        "prompt_tokens": result.prompt_tokens, "completion_tokens": result.completion_tokens,
        "actor_name": actor.name, "actor_kind": actor.kind, "model_file": result.model_file,
        "model_sha256": result.model_sha256 or actor.sha256, "prompt_sha256": result.prompt_sha256,
    }, now_ms=now_ms)
    emission = Emission([done])
    outputs = {**command.get("outputs", {}), stage.name: result.output}
    branch = stage.route_success(result.output)
    if branch is None:
        failure = {"stage": stage.name, "status": "[FAILED]", "error_type": "NoBranchMatched",
                   "message": f"no branch of {stage.name} accepts the output"}
        _route_failure(ctx, command, stage, "[FAILED]", {**outputs, FAILURE_KEY: json.dumps(failure)},
                       done["event_id"], now_ms, emission)
        return emission
    _route(ctx, command, stage.name, branch, outputs, done["event_id"], now_ms, emission)
    return emission


def failed(ctx: Context, command: Mapping[str, Any], stage: Stage, actor: Any, error: ActorError,
           duration_ms: int, now_ms: int) -> tuple[Emission, bool]:
    """InteractionFailed, then a delayed retry or the error route. Returns the emission
    and whether a retry was scheduled."""
    attempt = int(command["attempt"])
    will_retry = bool(error.retryable) and attempt < stage.retry.max_attempts
    fail = event(ctx, command, "InteractionFailed", {
        "error_class": "retryable" if error.retryable else "permanent", "error_type": type(error).__name__,
        "message": str(error), "duration_ms": duration_ms, "actor_name": actor.name, "actor_kind": actor.kind,
        "will_retry": will_retry,
    }, now_ms=now_ms)
    emission = Emission([fail])
    if will_retry:
        retry = {**command, "attempt": attempt + 1, "causation_id": fail["event_id"], "issued_at": now_ms,
                 "not_before": now_ms + stage.retry.backoff_ms(attempt)}
        emission.commands.append((retry_topic(stage.name), retry))
        return emission, True
    failure = {"stage": stage.name, "status": error.status, "error_type": type(error).__name__,
               "message": str(error), "attempt": attempt}
    outputs = {**command.get("outputs", {}), FAILURE_KEY: json.dumps(failure)}
    _route_failure(ctx, command, stage, error.status, outputs, fail["event_id"], now_ms, emission)
    return emission, False


def _route_failure(ctx: Context, command: Mapping[str, Any], stage: Stage, status: str, outputs: dict,
                   cause_id: str, now_ms: int, emission: Emission) -> None:
    branch = stage.route_failure(status)
    handler = ctx.workflow.error_handler
    if branch is None and handler and handler != stage.name:
        branch = Branch(status, handler)
    if branch is None:  # the error handler itself failed, or there is none: the journey ends
        emission.events.append(event(ctx, command, "PostingCompleted", {"final_stage": stage.name, "status": "failed"},
                                     causation_id=cause_id, now_ms=now_ms))
        return
    _route(ctx, command, stage.name, branch, outputs, cause_id, now_ms, emission)


def _route(ctx: Context, command: Mapping[str, Any], from_stage: str, branch: Branch, outputs: dict,
           cause_id: str, now_ms: int, emission: Emission) -> None:
    if branch.next == DONE:
        status = "failed" if FAILURE_KEY in outputs else "completed"
        emission.events.append(event(ctx, command, "PostingCompleted", {"final_stage": from_stage, "status": status},
                                     causation_id=cause_id, now_ms=now_ms))
        return
    emission.events.append(event(ctx, command, "PostingRouted",
                                 {"from_stage": from_stage, "to_stage": branch.next, "condition": branch.when},
                                 causation_id=cause_id, now_ms=now_ms))
    nxt = stage_command(ctx, cause_id=cause_id, stage=branch.next, posting=command["posting"],
                        correlation_id=command["correlation_id"], outputs=outputs, now_ms=now_ms,
                        epoch=int(command.get("epoch") or 0))
    emission.commands.append((stage_topic(branch.next), nxt))


def route_decision(ctx: Context, command: Mapping[str, Any], stage: Stage, decision: str, decided_by: str | None,
                   cause_id: str, now_ms: int) -> Emission:
    """DecisionRecorded for a waiting human stage (``command``, the parked command), then
    the route its branches pick for the decision (the decision is the stage's output).
    Event ids derive from ``cause_id`` (the decide command), not from the parked command:
    two decisions never share an id."""
    command = {**command, "command_id": cause_id}
    recorded = event(ctx, command, "DecisionRecorded", {"decision": decision, "decided_by": decided_by},
                     causation_id=cause_id, now_ms=now_ms)
    emission = Emission([recorded])
    outputs = {**command.get("outputs", {}), stage.name: decision}
    branch = stage.route_success(decision)
    if branch is None:
        failure = {"stage": stage.name, "status": "[FAILED]", "error_type": "NoBranchMatched",
                   "message": f"no branch of {stage.name} accepts the decision {decision!r}"}
        _route_failure(ctx, command, stage, "[FAILED]", {**outputs, FAILURE_KEY: json.dumps(failure)},
                       recorded["event_id"], now_ms, emission)
    else:
        _route(ctx, command, stage.name, branch, outputs, recorded["event_id"], now_ms, emission)
    return emission
