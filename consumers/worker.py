"""The stage worker: one stage's loop (``wavestream worker --stage S``; several stages
in one process are :mod:`consumers.process`).

:class:`StageHandler` turns ``StageCommand`` records into events and next commands
(:mod:`consumers.routing`), an llm actor's batch at once; :class:`~consumers.loop.TransactionalLoop`
makes that exactly-once. :func:`batch_limits` derives the batch size and the
transaction and poll limits from the stage's ``timeout_s``. The worker refuses to start when the workflow is invalid or a topic it
reads or writes is missing.
"""

from __future__ import annotations

import logging
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from consumers.circuit import CircuitBreaker
from consumers.actors.base import run_actor
from consumers.exceptions import ActorError, WorkflowError
from consumers.loop import LoopConfig, TransactionalLoop
from consumers.outcome import Outcome, PoisonRecord
from consumers.routing import Context, Emission, completed, event, failed, to_outcome
from consumers.workflow import DONE, Stage, Workflow
from wavestream import metrics
from wavestream.codec import AvroCodec
from wavestream.exceptions import CodecError
from wavestream.config import KafkaSettings
from wavestream.logs import bind
from wavestream.topics import DEADLETTER, EVENTS, control_topic, retry_topic, stage_group, stage_topic

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

    @property
    def batched(self) -> bool:
        """Whether the loop hands this handler whole batches: an LLM actor decodes them
        together; script and human actors run one command at a time (the loop checks the
        batch deadline between them)."""
        return getattr(self.actor, "kind", None) == "llm"

    def not_before(self, command: dict[str, Any]) -> float | None:
        """When a retry command is due (epoch seconds), or None: asked before it runs."""
        value = command.get("not_before")
        return None if value is None else _epoch_s(value)

    def handle(self, msg: Any, command: dict[str, Any]) -> Outcome:
        """One command (see :meth:`handle_batch`).

        Raises: PoisonRecord: the command is for another stage; CodecError: an output
        does not encode (both dead-letter the command)."""
        result = self.handle_batch([(msg, command)])[0]
        if isinstance(result, BaseException):
            raise result
        return result

    def handle_batch(self, items: Sequence[tuple[Any, dict[str, Any]]]) -> list[Outcome | Exception]:
        """Outcomes for the commands of one batch, in order: the actor runs on every
        runnable command at once (an LLM engine decodes them together). A command for
        another stage is a PoisonRecord and an output that does not encode a CodecError
        in its place; a command not yet due is deferred; a cancelled posting's command
        is skipped with a PostingCancelled event."""
        results: list[Outcome | Exception | None] = [None] * len(items)
        runnable: list[int] = []
        now_ms = self._now_ms()
        for i, (_, command) in enumerate(items):
            if command["stage"] != self.stage.name:
                results[i] = PoisonRecord(f"command for stage {command['stage']!r} on the topic of {self.stage.name!r}")
            elif (self.not_before(command) or 0) > self._clock():
                results[i] = Outcome(defer_until=self.not_before(command))
            elif self.is_cancelled(command["posting_id"], int(command.get("epoch") or 0)):
                reason = f"cancelled: pending {self.stage.name} command skipped"
                results[i] = self._outcome(Emission([event(self.ctx, command, "PostingCancelled",
                                                           {"reason": reason}, now_ms=now_ms)]), command)
            else:
                runnable.append(i)
        commands = [items[i][1] for i in runnable]
        for i, emission in zip(runnable, self._run(commands)):
            try:
                results[i] = self._outcome(emission, items[i][1])
            except CodecError as exc:
                results[i] = exc
        return results  # type: ignore[return-value]

    def _run(self, commands: list[dict[str, Any]]) -> list[Emission]:
        """The actor on every command together; one emission per command."""
        if not commands:
            return []
        started = time.monotonic()
        raw = run_actor(self.actor, commands)
        duration_ms = int((time.monotonic() - started) * 1000)
        emissions = []
        for command, result in zip(commands, raw):
            took = int(getattr(result, "duration_ms", 0) or duration_ms)
            if isinstance(result, ActorError):
                emissions.append(self._failed(command, result, took))
            else:
                emissions.append(self._completed(command, result, took))
        return emissions

    def _failed(self, command: dict[str, Any], exc: ActorError, duration_ms: int) -> Emission:
        emission, retrying = failed(self.ctx, command, self.stage, self.actor, exc, duration_ms, self._now_ms())
        self._count(emission, command, exc)
        # Attempt-level metrics: an aborted transaction's attempt is counted too.
        metrics.FAILED.labels("worker", self.stage.name, "retryable" if exc.retryable else "permanent").inc()
        if retrying:
            metrics.RETRIED.labels("worker", self.stage.name).inc()
        return emission

    def _completed(self, command: dict[str, Any], result: Any, duration_ms: int) -> Emission:
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
        if error is not None and error.counts_toward_circuit:
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
    return stage_loop(settings, workflow, stage, actor, options, cancellations, codec)


def stage_loop(settings: KafkaSettings, workflow: Workflow, stage: Stage, actor: Any, options: WorkerOptions,
               cancellations: Any, codec: AvroCodec, sharing: int = 1) -> TransactionalLoop:
    """The transactional loop of one stage around a loaded ``actor`` (``sharing``: how
    many stage loops feed the actor's engine, for the batch limits)."""
    worker_id = options.transactional_id
    circuit = CircuitBreaker(stage.circuit.threshold, stage.circuit.open_timeout_s)
    handler = StageHandler(workflow, stage, actor, codec, worker_id, circuit, is_cancelled=cancellations.is_cancelled)
    concurrency = max(1, actor_concurrency(actor) // max(1, sharing)) if handler.batched else None
    limits = batch_limits(options.batch_size, options.batch_max_s, float(stage.limits.get("timeout_s", 60)),
                          concurrency=concurrency)
    if limits.batch_size < options.batch_size:
        log.info("stage %s: batch of %d records at most (timeout_s and the actor's concurrency keep a transaction "
                 "under %d ms)", stage.name, limits.batch_size, limits.transaction_timeout_ms)
    config = LoopConfig(
        group_id=stage_group(stage.name), topics=[stage_topic(stage.name), retry_topic(stage.name)],
        transactional_id=options.transactional_id, batch_size=limits.batch_size, batch_max_s=options.batch_max_s,
        poll_s=options.poll_s, group_instance_id=options.transactional_id if options.static_membership else None,
        transaction_timeout_ms=limits.transaction_timeout_ms, max_poll_interval_ms=limits.max_poll_interval_ms,
        component="worker", stage=stage.name,
        # The group reads two topics: range balances each topic on its own (see consumers.groups).
        assignor="range",
    )
    return TransactionalLoop(settings, config, handler, handler.codec, gate=circuit,
                             logger=bind(log, stage=stage.name, worker_id=worker_id))


#: The broker's default transaction.max.timeout.ms: a transaction may not be longer.
MAX_TRANSACTION_S = 900.0
#: Slack for producing, sending offsets and committing after the records are handled.
_COMMIT_SLACK_S = 30.0


@dataclass(frozen=True)
class BatchLimits:
    batch_size: int
    transaction_timeout_ms: int
    max_poll_interval_ms: int


def batch_limits(batch_size: int, batch_max_s: float, timeout_s: float,
                 concurrency: int | None = None) -> BatchLimits:
    """Limits that keep one batch's transaction shorter than ``transaction.timeout.ms``
    and the poll interval (DESIGN §5.7). ``max.poll.interval.ms`` outlasts the
    transaction, so a slow model is never thrown out of its group.

    - A batched actor (``concurrency`` commands at once) runs a batch of ``batch_size``
      in ``ceil(batch_size / concurrency)`` waves of at most ``timeout_s`` each; the
      batch is made smaller when that would pass :data:`MAX_TRANSACTION_S`.
    - Other actors (``concurrency`` None) run one command after another and the loop
      stops taking records after ``batch_max_s``: one more command of ``timeout_s`` at most.
    """
    if concurrency is None:
        txn_s = min(MAX_TRANSACTION_S, max(60.0, batch_max_s + timeout_s + _COMMIT_SLACK_S))
        return BatchLimits(batch_size, int(txn_s * 1000), int(txn_s * 1000) + 60_000)
    concurrency = max(1, concurrency)
    budget = MAX_TRANSACTION_S - _COMMIT_SLACK_S - batch_max_s
    waves_allowed = max(1, int(budget // max(timeout_s, 0.001)))
    size = max(1, min(batch_size, waves_allowed * concurrency))
    waves = -(-size // concurrency)
    txn_s = min(MAX_TRANSACTION_S, max(60.0, batch_max_s + waves * timeout_s + _COMMIT_SLACK_S))
    return BatchLimits(size, int(txn_s * 1000), int(txn_s * 1000) + 60_000)


def actor_concurrency(actor: Any) -> int:
    """How many commands the actor runs at once (an LLM engine's sequence slots)."""
    for name in ("concurrency", "max_sequences"):
        value = getattr(actor, name, None)
        if isinstance(value, int) and value > 0:
            return value
    config = getattr(actor, "config", None)
    value = getattr(config, "max_sequences", None)
    return value if isinstance(value, int) and value > 0 else 1
