"""The stage worker: one process serves one stage (``wavestream worker --stage S``).

:class:`StageHandler` turns one ``StageCommand`` into events and the next command
(:mod:`consumers.routing`); :class:`~consumers.loop.TransactionalLoop` makes that
exactly-once. The worker refuses to start when the workflow is invalid or a topic it
reads or writes is missing.
"""

from __future__ import annotations

import logging
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from consumers.circuit import CircuitBreaker
from consumers.exceptions import ActorError, WorkflowError
from consumers.loop import LoopConfig, TransactionalLoop
from consumers.outcome import Outcome, PoisonRecord
from consumers.routing import Context, Emission, completed, event, failed, to_outcome
from consumers.workflow import DONE, Stage, Workflow
from wavestream import metrics
from wavestream.codec import AvroCodec
from wavestream.config import KafkaSettings
from wavestream.logs import bind
from wavestream.topics import DEADLETTER, EVENTS, control_topic, retry_topic, stage_topic

log = logging.getLogger(__name__)


@dataclass
class WorkerOptions:
    stage: str
    instance_id: str | None = None
    batch_size: int = 50
    batch_max_s: float = 20.0
    poll_s: float = 0.2
    static_membership: bool = False

    @property
    def instance(self) -> str:
        return self.instance_id or socket.gethostname()

    @property
    def transactional_id(self) -> str:
        return f"wavestream-{self.stage}-{self.instance}"


class StageHandler:
    """Runs the stage's actor on one command and says what to produce."""

    def __init__(self, workflow: Workflow, stage: Stage, actor: Any, codec: AvroCodec, worker_id: str,
                 circuit: CircuitBreaker | None = None, is_cancelled: Callable[[str, int], bool] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.workflow, self.stage, self.actor, self.codec = workflow, stage, actor, codec
        self.ctx = Context(workflow, worker_id)
        self.circuit = circuit or CircuitBreaker(stage.circuit.threshold, stage.circuit.open_timeout_s, clock)
        self.is_cancelled = is_cancelled or (lambda posting_id, epoch: False)
        self._clock = clock
        self.log = bind(log, stage=stage.name, worker_id=worker_id)

    def handle(self, msg: Any, command: dict[str, Any]) -> Outcome:
        """Raises: PoisonRecord: the command is for another stage; CodecError: an output
        does not encode (both dead-letter the command)."""
        if command["stage"] != self.stage.name:
            raise PoisonRecord(f"command for stage {command['stage']!r} on the topic of {self.stage.name!r}")
        not_before = command.get("not_before")
        if not_before is not None and _epoch_s(not_before) > self._clock():
            return Outcome(defer_until=_epoch_s(not_before))
        now_ms = int(self._clock() * 1000)
        if self.is_cancelled(command["posting_id"], int(command.get("epoch") or 0)):
            reason = f"cancelled: pending {self.stage.name} command skipped"
            return self._outcome(Emission([event(self.ctx, command, "PostingCancelled", {"reason": reason},
                                                 now_ms=now_ms)]), command)
        return self._outcome(self._run(command), command)

    def _run(self, command: dict[str, Any]) -> Emission:
        started = time.monotonic()
        try:
            result = self.actor.run(command)
        except ActorError as exc:
            duration_ms = int((time.monotonic() - started) * 1000)
            emission, retrying = failed(self.ctx, command, self.stage, self.actor, exc, duration_ms, self._now_ms())
            self._count(emission, command, exc)
            # Attempt-level metrics: an aborted transaction's attempt is counted too.
            metrics.FAILED.labels("worker", self.stage.name, "retryable" if exc.retryable else "permanent").inc()
            if retrying:
                metrics.RETRIED.labels("worker", self.stage.name).inc()
            return emission
        duration_ms = int((time.monotonic() - started) * 1000)
        metrics.STAGE_DURATION.labels(self.stage.name, self.actor.name).observe(duration_ms / 1000)
        if getattr(self.actor, "awaits_decision", False):
            return Emission([event(self.ctx, command, "AwaitingDecision",
                                   {"stage": self.stage.name, "prompt": result.output}, now_ms=self._now_ms())])
        emission = completed(self.ctx, command, self.stage, self.actor, result, duration_ms, self._now_ms())
        self._count(emission, command, None)
        return emission

    def _count(self, emission: Emission, command: dict[str, Any], error: ActorError | None) -> None:
        """Feed the circuit breaker; add CircuitOpened/CircuitClosed to the emission."""
        now_ms = self._now_ms()
        if error is not None and error.retryable:
            if self.circuit.record_failure():
                metrics.set_circuit(self.actor.name, "open")
                self.log.warning("circuit opened after %d failures", self.circuit.failures)
                emission.events.append(event(self.ctx, command, "CircuitOpened", {
                    "actor_name": self.actor.name, "failures": self.circuit.failures,
                    "open_until": int(self.circuit.open_until * 1000)}, now_ms=now_ms))
        elif self.circuit.record_success():
            metrics.set_circuit(self.actor.name, "closed")
            self.log.info("circuit closed after a successful probe")
            emission.events.append(event(self.ctx, command, "CircuitClosed", {"actor_name": self.actor.name},
                                         now_ms=now_ms))

    def _outcome(self, emission: Emission, command: Mapping[str, Any]) -> Outcome:
        return to_outcome(self.codec, emission, command["posting_id"], self.log)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)


def _epoch_s(value: Any) -> float:
    """A decoded timestamp-millis (aware datetime) or int milliseconds as epoch seconds."""
    return value.timestamp() if hasattr(value, "timestamp") else int(value) / 1000


def required_topics(workflow: Workflow, stage: Stage) -> list[str]:
    """Every topic the stage's worker reads or writes."""
    targets = {b.next for b in stage.branches if b.next != DONE}
    if workflow.error_handler and workflow.error_handler != stage.name:
        targets.add(workflow.error_handler)
    return [stage_topic(stage.name), retry_topic(stage.name), EVENTS, DEADLETTER, control_topic(workflow.name),
            *sorted(stage_topic(t) for t in targets)]


def load_valid_workflow(path: Path) -> Workflow:
    """Parse and validate. Raises: WorkflowError listing every error line."""
    from consumers.validate import validate_file

    report = validate_file(path)
    report.raise_for_errors()
    assert report.workflow is not None
    return report.workflow


def install_stop_signals(loop: Any) -> None:
    """SIGTERM and SIGINT ask ``loop`` to finish its transaction and leave the group."""

    def _stop(signum: int, frame: Any) -> None:
        log.info("signal %d: finishing the transaction in hand, then leaving", signum)
        loop.stop()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)


def build_worker(settings: KafkaSettings, workflow_path: Path, options: WorkerOptions,
                 cancellations: Any = None) -> TransactionalLoop:
    """Everything a stage worker needs, checked before anything runs. Without
    ``cancellations`` a :class:`~consumers.cancel.CancelRegistry` is read up to date.

    Raises:
        WorkflowError: invalid workflow, unknown stage, or an actor that cannot load.
        TopicError: a topic the stage needs is missing.
        KafkaException: the cancellations cannot be read.
    """
    from consumers.cancel import CancelRegistry
    from consumers.registry import build_actor
    from wavestream.clients import build_admin
    from wavestream.topics import require_topics

    workflow = load_valid_workflow(workflow_path)
    if options.stage not in workflow.stages:
        raise WorkflowError(f"workflow {workflow.name} has no stage {options.stage!r}")
    stage = workflow.stages[options.stage]
    require_topics(build_admin(settings), required_topics(workflow, stage))
    actor = build_actor(stage, workflow)
    codec = AvroCodec.from_settings(settings)
    if cancellations is None:
        cancellations = CancelRegistry(settings, codec, workflow.name)
        cancellations.catch_up()
    worker_id = options.transactional_id
    circuit = CircuitBreaker(stage.circuit.threshold, stage.circuit.open_timeout_s)
    handler = StageHandler(workflow, stage, actor, codec, worker_id, circuit, is_cancelled=cancellations.is_cancelled)
    timeout_s = float(stage.limits.get("timeout_s", 60))
    config = LoopConfig(
        group_id=f"wavestream-stage-{stage.name}", topics=[stage_topic(stage.name), retry_topic(stage.name)],
        transactional_id=options.transactional_id, batch_size=options.batch_size, batch_max_s=options.batch_max_s,
        poll_s=options.poll_s, group_instance_id=options.transactional_id if options.static_membership else None,
        transaction_timeout_ms=int(max(60.0, options.batch_max_s + timeout_s + 30.0) * 1000),
        component="worker", stage=stage.name,
        # The group reads two topics. cooperative-sticky balances the partition count over
        # both together and can hand one member every stage.<s> partition and another
        # only the (mostly idle) retry partitions: measured 2 workers -> [400, 0] postings.
        # range balances each topic on its own; its rebalances are eager, which the loop
        # tolerates (no transaction is open inside consume()).
        consumer_overrides={"partition.assignment.strategy": "range"},
    )
    return TransactionalLoop(settings, config, handler, handler.codec, gate=circuit,
                             logger=bind(log, stage=stage.name, worker_id=worker_id))
