"""The ingest router (``wavestream router``): ``postings`` -> ``PostingReceived`` + the
first stage's command, chosen by the workflow's entry points (DESIGN §2).

Runs on the same exactly-once loop as the stage workers, in consumer group
``wavestream-router-<workflow name>``. A posting no entry point accepts gets a
``PostingRejected`` event, never a silent drop. Event ids derive from the workflow's
name, so two workflows routing the same ``postings`` never share one.

Where a group starts is an explicit choice (:func:`consumers.startpos.resolve_start`): a group with
committed offsets resumes from them; a group with none (a new workflow, or offsets that
expired after the broker's ``offsets.retention.minutes`` while no router ran) refuses to
start while ``postings`` holds records, unless ``--from earliest`` (route every posting
ever submitted) or ``--from latest`` (only postings submitted from now on) says which.
"""

from __future__ import annotations

import logging
import time
from typing import Any, Callable

from consumers.loop import LoopConfig, TransactionalLoop
from consumers.outcome import Outcome
from consumers.routing import Context, Emission, stage_command, to_outcome
from consumers.startpos import resolve_start
from consumers.workflow import Workflow
from wavestream.codec import AvroCodec
from wavestream.config import KafkaSettings
from wavestream.events import make_event, new_correlation_id
from wavestream.logs import bind
from wavestream.topics import DEADLETTER, EVENTS, POSTINGS, router_group, stage_topic

log = logging.getLogger(__name__)


def _millis(value: Any) -> int:
    return int(value.timestamp() * 1000) if hasattr(value, "timestamp") else int(value)


class RouterHandler:
    """Turns one Posting into its PostingReceived event and entry command."""

    def __init__(self, workflow: Workflow, codec: AvroCodec, worker_id: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.workflow, self.codec, self._clock = workflow, codec, clock
        self.ctx = Context(workflow, worker_id)

    def handle(self, msg: Any, posting: dict[str, Any]) -> Outcome:
        """Raises: CodecError: an output does not encode (the posting is dead-lettered)."""
        now_ms = int(self._clock() * 1000)
        posting_id = posting["posting_id"]
        # One journey per submission: a re-submitted posting (new submitted_at) starts anew,
        # a re-run of an aborted transaction reproduces the same ids.
        cause = f"posting:{posting_id}:{_millis(posting['submitted_at'])}"
        correlation_id = new_correlation_id()
        common = dict(posting_id=posting_id, attempt=0, correlation_id=correlation_id, worker_id=self.ctx.worker_id,
                      command_id=cause, occurred_at=now_ms, workflow_sha256=self.workflow.sha256,
                      workflow=self.workflow.name)
        received = make_event("PostingReceived", {"posting": posting}, stage=None, causation_id=cause, **common)
        events = [received]
        entry = self.workflow.entry_for(posting)
        commands = []
        if entry is None:
            events.append(make_event("PostingRejected", {
                "reason": f"no entry point of workflow {self.workflow.name} accepts the posting",
                "source_file": posting.get("source"), "line": None, "raw": None,
            }, stage=None, causation_id=received["event_id"], **common))
        else:
            seeded = entry.seeded(posting)
            events.append(make_event("PostingRouted", {
                "from_stage": None, "to_stage": entry.stage, "condition": entry.describe(),
            }, stage=None, causation_id=received["event_id"], **common))
            commands.append(stage_command(self.ctx, cause_id=received["event_id"], stage=entry.stage,
                                          posting=posting, correlation_id=correlation_id, outputs=seeded,
                                          now_ms=now_ms))
        emission = Emission(events, [(stage_topic(c["stage"]), c) for c in commands])
        return to_outcome(self.codec, emission, posting_id, log)


def build_router(settings: KafkaSettings, workflow: Workflow, *, instance: str, batch_size: int = 100,
                 batch_max_s: float = 10.0, poll_s: float = 0.2, start: str | None = None) -> TransactionalLoop:
    """The router's loop, checked before it runs; ``start`` is where a group without
    committed offsets begins (:func:`consumers.startpos.resolve_start`).

    Raises:
        TopicError: ``postings``, ``events``, ``deadletter`` or an entry stage's topic is missing.
        StartPositionError: the group has no offsets, ``postings`` holds records and no ``start``.
    """
    from wavestream.clients import build_admin
    from wavestream.topics import require_topics

    entries = sorted({stage_topic(e.stage) for e in workflow.entry_points})
    require_topics(build_admin(settings), [POSTINGS, EVENTS, DEADLETTER, *entries])
    worker_id = f"wavestream-router-{workflow.name}-{instance}"
    handler = RouterHandler(workflow, AvroCodec.from_settings(settings), worker_id)
    group_id = router_group(workflow.name)
    resolve_start(settings, group_id, POSTINGS, start, what="routes every posting ever submitted")
    config = LoopConfig(group_id=group_id, topics=[POSTINGS],
                        transactional_id=worker_id, batch_size=batch_size, batch_max_s=batch_max_s, poll_s=poll_s,
                        component="router", consumer_overrides={"auto.offset.reset": "earliest"})
    return TransactionalLoop(settings, config, handler, handler.codec, logger=bind(log, worker_id=worker_id))
