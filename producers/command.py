"""``wavestream command rerun|decide|cancel``: interaction commands onto ``commands``.

A command is an ``InteractionCommand`` keyed by posting_id, so it is ordered with the
posting's other commands; the command processor in consumers/ acts on it. Each
invocation is a new command with a fresh ``command_id`` unless one is given: passing
the same ``--command-id`` again produces the same record, which the processor handles
once.
"""

from __future__ import annotations

import getpass
import uuid
from typing import Any

from wavestream.exceptions import WavestreamError

ACTIONS = ("rerun", "decide", "cancel")


class CommandError(WavestreamError):
    """A command is incomplete, or it was not delivered."""


def build_command(action: str, posting_id: str, *, stage: str | None = None, decision: str | None = None,
                  reason: str | None = None, issued_by: str | None = None, command_id: str | None = None,
                  correlation_id: str | None = None, issued_at_ms: int | None = None) -> dict[str, Any]:
    """The ``InteractionCommand`` dict for ``action``.

    ``rerun`` needs the stage to run again; ``decide`` needs the human stage the posting
    waits on and the decision; ``cancel`` takes an optional reason.

    Raises:
        CommandError: unknown action, blank posting id, or a required argument missing.
    """
    if action not in ACTIONS:
        raise CommandError(f"unknown action {action!r} ({', '.join(ACTIONS)})")
    if not posting_id or not posting_id.strip():
        raise CommandError("a posting id is required")
    if action == "rerun" and not stage:
        raise CommandError("rerun needs the stage to run again (--stage)")
    if action == "decide" and not stage:
        raise CommandError("decide needs the human stage the posting waits on (--stage)")
    if action == "decide" and not (decision and decision.strip()):
        raise CommandError("decide needs a decision")
    from wavestream.events import utcnow

    try:
        user = issued_by or getpass.getuser()
    except (KeyError, OSError):  # no passwd entry for the uid (containers)
        user = None
    return {
        "command_id": command_id or str(uuid.uuid4()),
        "posting_id": posting_id.strip(),
        "action": action,
        "stage": stage,
        "decision": decision.strip() if decision else None,
        "reason": reason,
        "issued_by": user,
        "issued_at": issued_at_ms if issued_at_ms is not None else int(utcnow().timestamp() * 1000),
        "correlation_id": correlation_id,
    }


def check_stage(action: str, stage: str, workflow_path: Any) -> None:
    """Refuse a ``rerun``/``decide`` whose stage the workflow does not have (and a
    ``decide`` on a stage that is not a ``human`` stage) before anything is sent.

    Raises:
        CommandError: the workflow cannot be read, or the stage does not fit.
    """
    from consumers.workflow import load_workflow

    try:
        workflow = load_workflow(workflow_path)
    except WavestreamError as exc:
        raise CommandError(f"cannot read workflow {workflow_path}: {exc}") from exc
    found = workflow.stages.get(stage)
    if found is None:
        raise CommandError(f"workflow {workflow.name} has no stage {stage!r} "
                           f"(stages: {', '.join(workflow.stages)})")
    if action == "decide" and found.actor.kind != "human":
        raise CommandError(f"stage {stage} of workflow {workflow.name} is not a human stage: nothing to decide")


def send_command(command: dict[str, Any], settings: Any, *, codec: Any = None, topic: str | None = None,
                 timeout_s: float = 30.0) -> None:
    """Produce ``command`` (idempotent producer, acks=all) and wait for its delivery.

    Raises:
        CommandError: the broker did not acknowledge it within ``timeout_s``.
        CodecError: the command does not match the schema.
    """
    from wavestream.clients import build_producer
    from wavestream.codec import AvroCodec
    from wavestream.topics import COMMANDS

    topic = topic or COMMANDS
    codec = codec or AvroCodec.from_settings(settings)
    value = codec.encode("InteractionCommand", command, topic=topic)
    errors: list[str] = []

    def delivered(err: Any, msg: Any) -> None:
        if err is not None:
            errors.append(str(err))

    producer = build_producer(settings)
    producer.produce(topic, key=command["posting_id"].encode("utf-8"), value=value, on_delivery=delivered)
    remaining = producer.flush(timeout_s)
    if remaining or errors:
        raise CommandError(f"command {command['command_id']} not delivered to {topic}: "
                           f"{errors[0] if errors else f'no acknowledgement within {timeout_s:g}s'}")
