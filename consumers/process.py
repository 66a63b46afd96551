"""A model-first worker process: several stages, one loop each, one engine per model
(DESIGN §5).

``wavestream worker --stage A --stage B`` (or ``--model M``: every stage whose actor is
the llm model ``M``) builds one :class:`~consumers.loop.TransactionalLoop` per stage —
each with its own consumer group and ``transactional.id`` — and runs them in threads of
one process. LLM stages of the same model share that model's inference engine (loaded
once per process), so their sequences are decoded together. One cancel registry serves
every loop.

A loop that stops with an error (fenced, fatal consumer error) stops the others; the
process then exits with that error.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

from consumers.exceptions import WorkflowError
from consumers.loop import TransactionalLoop
from consumers.worker import WorkerOptions, load_valid_workflow, required_topics, stage_loop
from consumers.workflow import Workflow
from wavestream.codec import AvroCodec
from wavestream.config import KafkaSettings

log = logging.getLogger(__name__)


def select_stages(workflow: Workflow, stages: Sequence[str], models: Sequence[str]) -> list[str]:
    """The stages named, plus every llm stage of each model named, in workflow order.

    Raises:
        WorkflowError: an unknown stage or model, or nothing selected.
    """
    unknown = [s for s in stages if s not in workflow.stages]
    if unknown:
        raise WorkflowError(f"workflow {workflow.name} has no stage {', '.join(map(repr, unknown))}")
    missing = [m for m in models if m not in workflow.models]
    if missing:
        raise WorkflowError(f"workflow {workflow.name} defines no model {', '.join(map(repr, missing))}")
    chosen = [name for name, stage in workflow.stages.items()
              if name in stages or (stage.actor.kind == "llm" and stage.actor.model in models)]
    if not chosen:
        raise WorkflowError("name at least one --stage or a --model that an llm stage uses")
    return chosen


class LockedCancels:
    """A cancel registry shared by the loops of one process (its consumer is not thread-safe)."""

    def __init__(self, registry: Any) -> None:
        self._registry, self._lock = registry, threading.Lock()

    def is_cancelled(self, posting_id: str, *args: Any) -> bool:
        with self._lock:
            return self._registry.is_cancelled(posting_id, *args)


def build_workers(settings: KafkaSettings, workflow_path: Path, stages: Sequence[str], models: Sequence[str],
                  options: WorkerOptions, cancellations: Any = None) -> list[TransactionalLoop]:
    """One loop per selected stage, every actor loaded before any loop starts.

    Raises:
        WorkflowError: invalid workflow, unknown stage or model, or an actor that cannot load.
        TopicError: a topic a stage needs is missing.
    """
    from consumers.cancel import CancelRegistry
    from consumers.registry import build_actor
    from wavestream.clients import build_admin
    from wavestream.topics import require_topics

    workflow = load_valid_workflow(workflow_path)
    names = select_stages(workflow, stages, models)
    admin = build_admin(settings)
    for name in names:
        require_topics(admin, required_topics(workflow, workflow.stages[name]))
    actors = {name: build_actor(workflow.stages[name], workflow) for name in names}
    sharing = _engine_sharing(workflow, names)
    codec = AvroCodec.from_settings(settings)
    if cancellations is None:
        registry = CancelRegistry(settings, codec, workflow.name)
        registry.catch_up()
        cancellations = LockedCancels(registry)
    for model, users in _by_model(workflow, names).items():
        log.info("model %s loaded once for stages %s", model, ", ".join(users))
    return [stage_loop(settings, workflow, workflow.stages[name], actors[name], replace(options, stage=name),
                       cancellations, codec, sharing=sharing.get(name, 1)) for name in names]


def _by_model(workflow: Workflow, names: Sequence[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for name in names:
        actor = workflow.stages[name].actor
        if actor.kind == "llm":
            groups.setdefault(str(actor.model), []).append(name)
    return groups


def _engine_sharing(workflow: Workflow, names: Sequence[str]) -> dict[str, int]:
    """stage -> how many selected stages share its model's engine."""
    return {name: len(users) for users in _by_model(workflow, names).values() for name in users}


class LoopGroup:
    """Runs loops in threads until :meth:`stop` or until one of them fails."""

    def __init__(self, loops: Sequence[TransactionalLoop]) -> None:
        self.loops = list(loops)
        self._errors: list[BaseException] = []
        self._done = threading.Event()

    def stop(self) -> None:
        """Ask every loop to finish its batch, commit and leave (signal-safe)."""
        for loop in self.loops:
            loop.stop()
        self._done.set()

    def run(self) -> None:
        """Run every loop; return when all stopped.

        Raises:
            BaseException: the first error a loop stopped with (the others are stopped).
        """
        threads = [threading.Thread(target=self._run_one, args=(loop,), name=f"loop-{loop.config.stage or i}",
                                    daemon=True) for i, loop in enumerate(self.loops)]
        for thread in threads:
            thread.start()
        while any(t.is_alive() for t in threads):
            self._done.wait(0.5)
            if self._done.is_set():
                for loop in self.loops:
                    loop.stop()
            for thread in threads:
                thread.join(0.01)
        if self._errors:
            raise self._errors[0]

    def _run_one(self, loop: TransactionalLoop) -> None:
        try:
            loop.run()
        except BaseException as exc:  # noqa: BLE001 - reported by run() after the others stopped
            log.error("stage loop %s stopped: %s", loop.config.stage, exc)
            self._errors.append(exc)
            self._done.set()
