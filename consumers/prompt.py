"""Prompt templates: ``{posting.<field>}`` and ``{outputs.<stage>}`` placeholders.

A placeholder is exactly ``{posting.<name>}``, ``{posting.attributes.<key>}`` or
``{outputs.<stage>}``; ``{posting.language}`` is derived: the English name of the
language the posting's title and description are written in ("German"), or "the
language of the posting" when it cannot be told (:data:`DERIVED`). Every other brace is
literal text (a prompt may show a JSON example). A posting field that is null renders as
an empty string; a field the posting record does not have, an attribute or an upstream
output that is missing, makes the command unprocessable: :class:`PromptError` (a
:class:`PermanentActorError`), because retrying the same command cannot make the value
appear. ``wavestream validate`` checks the same references statically with
:func:`placeholders`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Mapping

from consumers.exceptions import PermanentActorError
from consumers.quality import LANGUAGE_NAMES, detect_language

PLACEHOLDER = re.compile(r"\{(posting|outputs)\.([A-Za-z_][A-Za-z0-9_]*)(?:\.([A-Za-z0-9_\-]+))?\}")


def _language(posting: Mapping[str, Any]) -> str:
    code = detect_language(f"{_text(posting.get('title'))}\n{_text(posting.get('description'))}")
    return LANGUAGE_NAMES.get(code or "", "the language of the posting")


#: Posting placeholders computed from the posting, not fields of it.
DERIVED = {"language": _language}


class PromptError(PermanentActorError):
    """A placeholder names a value the command does not carry."""


@dataclass(frozen=True)
class Placeholder:
    """One reference in a template: ``root`` is ``posting`` or ``outputs``; ``name`` is
    the field or stage; ``key`` the attribute key of ``posting.attributes.<key>``."""

    root: str
    name: str
    key: str | None = None

    @property
    def ref(self) -> str:
        return f"{self.root}.{self.name}" + (f".{self.key}" if self.key else "")


def placeholders(template: str) -> list[Placeholder]:
    """Every placeholder of ``template``, in order of appearance (repeats included)."""
    return [Placeholder(m.group(1), m.group(2), m.group(3)) for m in PLACEHOLDER.finditer(template or "")]


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def resolve(ref: str | Placeholder, command: Mapping[str, Any]) -> str:
    """The text a reference (``posting.title``, ``outputs.summarize``,
    ``posting.attributes.team``) stands for in a StageCommand dict.

    Raises:
        PromptError: the reference is malformed or its value is missing.
    """
    if isinstance(ref, str):
        match = PLACEHOLDER.fullmatch("{" + ref + "}")
        if not match:
            raise PromptError(f"malformed reference {ref!r} (posting.<field> or outputs.<stage>)")
        ref = Placeholder(match.group(1), match.group(2), match.group(3))
    if ref.root == "outputs":
        outputs = command.get("outputs") or {}
        if ref.key is not None or ref.name not in outputs:
            raise PromptError(f"prompt needs {{{ref.ref}}} but the command carries no output of stage {ref.name!r}")
        return _text(outputs[ref.name])
    posting = command.get("posting") or {}
    if ref.name == "attributes" and ref.key is not None:
        attributes = posting.get("attributes") or {}
        if ref.key not in attributes:
            raise PromptError(f"prompt needs {{{ref.ref}}} but the posting has no attribute {ref.key!r}")
        return _text(attributes[ref.key])
    if ref.key is None and ref.name in DERIVED and ref.name not in posting:
        return DERIVED[ref.name](posting)
    if ref.key is not None or ref.name not in posting or isinstance(posting[ref.name], Mapping):
        raise PromptError(f"prompt needs {{{ref.ref}}} but the posting has no field {ref.name!r}")
    return _text(posting[ref.name])


def render(template: str, command: Mapping[str, Any]) -> str:
    """``template`` with every placeholder replaced by its value in ``command``.

    Raises:
        PromptError: a placeholder's value is missing from the command.
    """
    return PLACEHOLDER.sub(lambda m: resolve(Placeholder(m.group(1), m.group(2), m.group(3)), command), template)
