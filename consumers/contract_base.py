"""The output contract's interface, its violation, and the posting fields its checks read
(:mod:`consumers.contracts` builds the concrete contracts)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

from consumers.exceptions import PermanentActorError


class ContractViolation(PermanentActorError):
    """The actor's output does not satisfy the stage's output contract."""


@dataclass(frozen=True)
class Contract(ABC):
    """One stage's output contract."""

    kind = "text"

    @property
    def grammar(self) -> str | None:
        """GBNF the model is constrained by, or None for free text."""
        return None

    def grammar_for(self, grounding: str, refs: Mapping[str, str] | None = None) -> str | None:
        """The grammar for one command whose grounding text is ``grounding`` (and whose
        :attr:`refs` resolve to ``refs``); the same as :attr:`grammar` unless the
        contract restricts items to that text."""
        return self.grammar

    @property
    def grounded_in(self) -> tuple[str, ...]:
        """Placeholder references (``posting.description``) whose text grounds the output."""
        return ()

    @property
    def refs(self) -> tuple[str, ...]:
        """Other references the checks read (``posting.company``...): resolve them with
        :func:`ref_values` and pass them as ``refs``."""
        return ()

    @property
    def probe(self) -> tuple[str, ...]:
        """Continuations whose probabilities the actor must measure right after the
        generated text (tokenized with the model's tokenizer) and pass to
        :meth:`check` as ``probs``, in this order; empty when none."""
        return ()

    @abstractmethod
    def check(self, raw: str, *, grounding: str = "", truncated: bool = False,
              refs: Mapping[str, str] | None = None, probs: Sequence[float] | None = None) -> str:
        """The canonical output for the model's ``raw`` text; ``truncated`` says the model
        stopped at its token limit; ``refs`` are the resolved :attr:`refs`; ``probs``
        the probabilities of the :attr:`probe` continuations.

        Raises:
            ContractViolation: ``raw`` does not satisfy the contract.
        """


def ref_values(contract: Contract, command: Mapping[str, Any]) -> dict[str, str]:
    """The text of each of ``contract.refs`` in a StageCommand dict; a field the
    posting lacks is the empty string (an optional field such as ``company``)."""
    from consumers.prompt import PromptError, resolve

    values = {}
    for ref in contract.refs:
        try:
            values[ref] = resolve(ref, command)
        except PromptError:
            values[ref] = ""
    return values
