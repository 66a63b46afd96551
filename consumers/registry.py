"""Build the actor of a stage from its ``actor.kind``.

The ``llm`` kind is imported lazily (llama_cpp is heavy and optional): it resolves to
``consumers.actors.llm.LlmActor(stage, workflow)``.
"""

from __future__ import annotations

import importlib

from consumers.actors.base import Actor
from consumers.exceptions import WorkflowError
from consumers.workflow import Stage, Workflow


def _llm(stage: Stage, workflow: Workflow) -> Actor:
    try:
        module = importlib.import_module("consumers.actors.llm")
    except ImportError as exc:
        raise WorkflowError(f"stage {stage.name}: the llm actor is unavailable: {exc}") from exc
    factory = getattr(module, "LlmActor", None)
    if factory is None:
        raise WorkflowError(f"stage {stage.name}: consumers.actors.llm defines no LlmActor")
    return factory(stage, workflow)


def _script(stage: Stage, workflow: Workflow) -> Actor:
    from consumers.actors.script import ScriptActor

    return ScriptActor(stage, workflow)


def _human(stage: Stage, workflow: Workflow) -> Actor:
    from consumers.actors.human import HumanActor

    return HumanActor(stage, workflow)


_FACTORIES = {"llm": _llm, "script": _script, "human": _human}


def build_actor(stage: Stage, workflow: Workflow) -> Actor:
    """The loaded actor for ``stage``.

    Raises:
        WorkflowError: unknown kind, unresolvable script, or the llm actor module is
            missing; whatever the llm actor raises while loading its model.
    """
    factory = _FACTORIES.get(stage.actor.kind)
    if factory is None:
        raise WorkflowError(f"stage {stage.name}: unknown actor kind {stage.actor.kind!r}")
    return factory(stage, workflow)
