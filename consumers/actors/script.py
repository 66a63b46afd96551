"""Script actors: a Python callable by dotted path, or a deterministic test actor.

``callable`` in the workflow is one of:

- ``echo``: the rendered prompt (or the posting title when the stage has no prompt);
- ``sleep:<ms>``: sleeps ``ms`` milliseconds, then echoes (``ActorTimeout`` when the
  stage's ``limits.timeout_s`` is shorter);
- ``fail:<n>``: attempts 1..n raise :class:`RetryableActorError`, later attempts echo.
  The attempt number comes from the command, so the outcome is the same in every process;
- ``fail-permanent``: always raises :class:`PermanentActorError`;
- ``package.module:function`` (or ``package.module.function``): ``function(command,
  stage) -> str | ActorResult``, raising ActorError subclasses for failures.

The actor's ``sha256`` is the sha256 of the source file defining the callable.
"""

from __future__ import annotations

import importlib
import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from consumers.actors.base import ActorResult
from consumers.exceptions import ActorError, ActorTimeout, PermanentActorError, RetryableActorError, WorkflowError
from consumers.modelfiles import file_sha256
from consumers.workflow import FAILURE_KEY, Stage, Workflow, render

ScriptFn = Callable[[Mapping[str, Any], Stage], "str | ActorResult"]
MAX_DESCRIPTION_CHARS = 50_000


@dataclass(frozen=True)
class Script:
    """A resolved callable plus what identifies it in events."""

    fn: ScriptFn
    label: str  # the spec as written
    source: Path  # file defining it


def _echo(command: Mapping[str, Any], stage: Stage) -> str:
    if stage.prompt:
        return render(stage.prompt, command)
    return str((command.get("posting") or {}).get("title") or "")


def _sleep(ms: int) -> ScriptFn:
    def sleep(command: Mapping[str, Any], stage: Stage) -> str:
        timeout_s = stage.limits.get("timeout_s")
        if timeout_s is not None and ms / 1000 > timeout_s:
            time.sleep(timeout_s)
            raise ActorTimeout(f"sleep:{ms} exceeded the stage timeout of {timeout_s}s")
        time.sleep(ms / 1000)
        return _echo(command, stage)

    return sleep


def _fail(n: int) -> ScriptFn:
    def fail(command: Mapping[str, Any], stage: Stage) -> str:
        attempt = int(command.get("attempt") or 1)
        if attempt <= n:
            raise RetryableActorError(f"fail:{n}: attempt {attempt} fails on purpose")
        return _echo(command, stage)

    return fail


def _fail_permanent(command: Mapping[str, Any], stage: Stage) -> str:
    raise PermanentActorError("fail-permanent: fails on purpose")


def _positive_int(text: str, spec: str) -> int:
    if not text.isdigit():
        raise WorkflowError(f"script {spec!r}: expected a non-negative integer after ':'")
    return int(text)


def resolve_script(spec: str) -> Script:
    """Resolve a ``callable`` spec (see the module docstring).

    Raises:
        WorkflowError: unknown test actor, bad argument, module or attribute not found,
            or the attribute is not callable.
    """
    here = Path(__file__)
    head, _, arg = spec.partition(":")
    if spec == "echo":
        return Script(_echo, spec, here)
    if spec == "fail-permanent":
        return Script(_fail_permanent, spec, here)
    if head == "sleep":
        return Script(_sleep(_positive_int(arg, spec)), spec, here)
    if head == "fail":
        return Script(_fail(_positive_int(arg, spec)), spec, here)
    return _import_callable(spec)


def _import_callable(spec: str) -> Script:
    module_name, sep, attr = spec.partition(":")
    if not sep:
        module_name, _, attr = spec.rpartition(".")
    if not module_name or not attr:
        raise WorkflowError(f"script {spec!r}: expected echo, sleep:<ms>, fail:<n>, fail-permanent or module:function")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise WorkflowError(f"script {spec!r}: cannot import {module_name}: {exc}") from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise WorkflowError(f"script {spec!r}: {module_name} has no callable {attr!r}")
    source = getattr(module, "__file__", None)
    if source is None:
        raise WorkflowError(f"script {spec!r}: {module_name} has no source file")
    return Script(fn, spec, Path(source))


class ScriptActor:
    """The :class:`~consumers.actors.base.Actor` of a ``script`` stage."""

    kind = "script"

    def __init__(self, stage: Stage, workflow: Workflow) -> None:
        """Raises: WorkflowError: the stage's callable does not resolve."""
        self.stage = stage
        self.script = resolve_script(stage.actor.callable or "")
        self.name = str(stage.actor.options.get("name") or self.script.label)
        self.sha256 = file_sha256(self.script.source)

    def run(self, command: Mapping[str, Any]) -> ActorResult:
        """Run the callable on one StageCommand dict.

        Raises:
            ActorError: what the callable raised, or PermanentActorError wrapping any
                other exception (a script bug fails the attempt, never the worker) or
                an output that is not a string.
        """
        try:
            result = self.script.fn(command, self.stage)
        except ActorError:
            raise
        except Exception as exc:  # noqa: BLE001 - a script bug is a failed attempt, routed on
            raise PermanentActorError(f"{self.script.label} raised {type(exc).__name__}: {exc}") from exc
        if isinstance(result, ActorResult):
            return result
        if not isinstance(result, str):
            raise PermanentActorError(f"{self.script.label} returned {type(result).__name__}, not a string")
        return ActorResult(output=result, model_file=self.script.label, model_sha256=self.sha256)


# --- callables used by workflows/default.yaml -------------------------------------------


def validate_posting(command: Mapping[str, Any], stage: Stage) -> str:
    """Check a posting has a title and a description of sane size.

    Raises:
        PermanentActorError: the title or description is empty, or the description is
            longer than ``output.max_input_chars`` (default 50000).
    """
    posting = command.get("posting") or {}
    title = str(posting.get("title") or "").strip()
    description = str(posting.get("description") or "").strip()
    limit = int(stage.output.get("max_input_chars", MAX_DESCRIPTION_CHARS))
    if not title:
        raise PermanentActorError("posting has an empty title")
    if not description:
        raise PermanentActorError("posting has an empty description")
    if len(description) > limit:
        raise PermanentActorError(f"description is {len(description)} chars, over the limit of {limit}")
    return f"valid: {len(title)} title chars, {len(description)} description chars"


def record_failure(command: Mapping[str, Any], stage: Stage) -> str:
    """The error handler's output: which stage failed, how, and why (one line)."""
    raw = (command.get("outputs") or {}).get(FAILURE_KEY)
    if not raw:
        return "no failure recorded"
    try:
        failure = json.loads(raw)
    except ValueError:
        return f"failure: {raw}"
    return f"{failure.get('stage')} {failure.get('status')}: {failure.get('error_type')}: {failure.get('message')}"
