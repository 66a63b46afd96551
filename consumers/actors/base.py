"""The actor interface the stage worker calls; each actor kind implements it."""

from __future__ import annotations

from dataclasses import dataclass
import logging
from typing import Any, Mapping, Protocol, Sequence

from consumers.exceptions import ActorError, PermanentActorError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActorResult:
    """What an actor produced for one command. ``output`` already satisfies the stage's
    output contract (validated after decoding); token counts are 0 for non-LLM actors."""

    output: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    model_file: str | None = None
    model_sha256: str | None = None
    prompt_sha256: str | None = None


class Actor(Protocol):
    """One loaded actor, reused for every command of its stage.

    ``run`` raises :class:`consumers.exceptions.ActorError` subclasses — never anything
    else for a bad input or a bad output — so the worker can route the command.
    """

    name: str
    kind: str  # "llm", "script" or "human"
    sha256: str | None  # model file or script source sha256

    def run(self, command: Mapping[str, Any]) -> ActorResult:
        """Run on one StageCommand dict (codec shape: posting, outputs, attempt, ...)."""
        ...


def run_actor(actor: Any, commands: Sequence[Mapping[str, Any]]) -> list[Any]:
    """The actor on ``commands`` together (``run_batch`` when the actor has it, else one
    ``run`` after another): one :class:`ActorResult` or :class:`ActorError` per command,
    in order. An exception the actor does not map (a chat-template error, a
    RecursionError in a contract check, a lookup's client error) becomes a
    :class:`PermanentActorError` of that command alone, so the worker routes it to the
    error branch instead of crashing and meeting the same command again on restart."""
    batch = getattr(actor, "run_batch", None)
    if batch is not None:
        try:
            results = list(batch(commands))
        except Exception as exc:  # noqa: BLE001 - isolate the command that breaks the batch
            if len(commands) == 1:
                return [_unexpected(actor, exc)]
            return [r for command in commands for r in run_actor(actor, [command])]
        return [r if isinstance(r, (ActorResult, ActorError)) or not isinstance(r, BaseException)
                else _unexpected(actor, r) for r in results]
    out: list[Any] = []
    for command in commands:
        try:
            out.append(actor.run(command))
        except ActorError as exc:
            out.append(exc)
        except Exception as exc:  # noqa: BLE001 - mapped to a permanent failure of this command
            out.append(_unexpected(actor, exc))
    return out


def _unexpected(actor: Any, exc: BaseException) -> PermanentActorError:
    log.error("actor %s failed unexpectedly: %s: %s", getattr(actor, "name", "?"), type(exc).__name__, exc,
              exc_info=exc)
    error = PermanentActorError(f"{getattr(actor, 'name', 'actor')} failed: {type(exc).__name__}: {exc}")
    error.__cause__ = exc
    return error
