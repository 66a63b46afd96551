"""The actor interface the stage worker calls; each actor kind implements it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping, Protocol


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
