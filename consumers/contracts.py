"""Output contracts of a stage: what an actor's output must look like, the llama.cpp
grammar that makes the model produce it, and the check applied after decoding.

A stage's ``output`` mapping (workflows/*.yaml) builds one contract:

- ``{type: text, max_chars: N, sentences: K}``: non-empty text of at most N characters;
  with ``sentences`` the model writes 1 to K plain sentences on one line (grammar).
  ``language_of: posting.description``: the text must be in that text's language;
  ``names_from: [posting.title, ...]``: every capitalised name the text uses must occur
  in those texts (``consumers.quality``), so an invented employer breaks the contract.
- ``{type: json, schema: {...}, grounded_in: posting.description}``: JSON matching the
  JSON Schema, generated under a bounded grammar (``consumers.grammar``). With
  ``grounded_in`` (one reference or a list), string items of arrays must occur in the
  named text (case-insensitive, on word boundaries): for a schema that is an array of
  strings the grammar itself offers only phrases of that text, and after decoding every
  item that does not occur is dropped and duplicates are removed before the schema
  check, so ``minItems`` counts grounded items only (the grammar asks for at least one
  phrase even with ``minItems: 0``; an empty list is what the check leaves).
  ``exclude: {employer: posting.company, location: posting.location, title:
  posting.title}`` drops items that are the employer, the location or words of the
  title alone and items that name a person, ``conditions: true`` in it working
  conditions (hours, shifts, days, contract, pay, perks: "Full-time") and ``traits:
  true`` personal traits and hype ("motivated", "kind and patient"), from the grammar's
  phrases and again after decoding; ``everyday: true`` drops one-word everyday words of
  the grounding text's language ("work", "data") after decoding only
  (:mod:`consumers.json_contract`, :mod:`consumers.skill_filters`).
- ``{type: int, min: A, max: B, rationale: true}``: an integer in [A, B]. With a
  rationale the model writes ``Score: <n>/<B>. Reason: <one sentence>`` and the stored
  output is the JSON object ``{"value": n, "rationale": "..."}``; without one it writes
  and stores the bare integer. With ``probe: true`` the model writes ``Score:`` (after
  ``Reason: <one sentence>`` with a rationale) and the actor probes the values (see
  :attr:`Contract.probe`): the score is the expected value over their probabilities
  (``consumers.scoring``), stored as ``{"value", "rationale" (with one), "expected",
  "distribution"}``; ``span: [a, b]`` maps expected values a..b onto A..B first.
- ``{type: enum, values: [...]}``: exactly one of the values.

Checks that need posting fields besides the grounding text name them as references
(:attr:`Contract.refs`); the actor resolves them per command with :func:`ref_values`
and passes them to ``grammar_for`` and ``check`` as ``refs``, and passes the probe's
probabilities as ``probs``.

The stored output (what :meth:`Contract.check` returns) is canonical: JSON is dumped
compactly, text is stripped. An output that breaks the contract raises
:class:`ContractViolation` (a :class:`PermanentActorError`), never a crash; the llm actor
reports it as a :class:`~consumers.exceptions.ContractBreak`, so the attempt fails and
the next one samples afresh. An invalid contract definition raises
:class:`WorkflowError` when the contract is built. The base class and
:func:`ref_values` live in :mod:`consumers.contract_base`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import jsonschema

from consumers.contract_base import Contract, ContractViolation, ref_values  # noqa: F401 - re-exported
from consumers.exceptions import WorkflowError
from consumers.grammar import gbnf_literal, int_grammar, json_schema_grammar
from consumers.grounding import ground, occurs  # noqa: F401 - re-exported
from consumers.json_contract import JsonContract
from consumers.quality import invented_names, respell_names, same_language
from consumers.scoring import ScoreError, candidates, distribution, score_output

#: Rationale sentence length bounds (characters after the first letter).
RATIONALE_CHARS = (12, 160)
#: A text sentence is at most this long (characters).
SENTENCE_CHARS = 240


def _joined(refs: Mapping[str, str] | None, names: Sequence[str]) -> str:
    return "\n".join((refs or {}).get(name, "") for name in names)


@dataclass(frozen=True)
class TextContract(Contract):
    max_chars: int = 2000
    min_chars: int = 1
    sentences: int | None = None
    language_of: tuple[str, ...] = ()
    names_from: tuple[str, ...] = ()

    kind = "text"

    @property
    def refs(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(self.language_of + self.names_from))

    @property
    def grammar(self) -> str | None:
        if not self.sentences:
            return None
        longest = max(12, min(SENTENCE_CHARS, self.max_chars // self.sentences - 2))
        more = f' (" " sentence){{0,{self.sentences - 1}}}' if self.sentences > 1 else ""
        return (f"root ::= sentence{more}\n"
                f'sentence ::= [A-Z0-9] [^.!?\\n]{{8,{longest}}} [.!?]\n')

    def check(self, raw: str, *, grounding: str = "", truncated: bool = False,
              refs: Mapping[str, str] | None = None, probs: Sequence[float] | None = None) -> str:
        text = raw.strip()
        if truncated:
            # Keep whole sentences when the token limit cut the last one.
            ends = [m.end() for m in re.finditer(r"[.!?](?=\s|$)", text)]
            if ends:
                text = text[: ends[-1]]
        if len(text) < self.min_chars:
            raise ContractViolation(f"text output is empty (need at least {self.min_chars} characters)")
        if len(text) > self.max_chars:
            raise ContractViolation(f"text output has {len(text)} characters, more than max_chars={self.max_chars}")
        if self.language_of:
            problem = same_language(text, _joined(refs, self.language_of))
            if problem:
                raise ContractViolation(f"text output is not in the posting's language: {problem}")
        if self.names_from:
            source = _joined(refs, self.names_from)
            text = respell_names(text, source)  # "Datawerk" for the posting's "Datenwerk"
            invented = invented_names(text, source)
            if invented:
                raise ContractViolation(f"text output names {', '.join(map(repr, invented))}, "
                                        "which the posting does not name")
        return text


_INT_RAW = re.compile(r"^\s*(?:score\s*:\s*)?(-?\d+)(?:\s*/\s*\d+)?\s*[.:,)-]?\s*(?:reason\s*:\s*)?(.*)$",
                      re.DOTALL | re.IGNORECASE)


_PROBED_RAW = re.compile(r"^\s*reason\s*:\s*(.+?[.!?])\s*score\s*:?\s*$", re.DOTALL | re.IGNORECASE)
_PROBED_BARE = re.compile(r"^\s*score\s*:\s*$", re.IGNORECASE)


@dataclass(frozen=True)
class IntContract(Contract):
    minimum: int = 0
    maximum: int = 100
    rationale: bool = False
    probed: bool = False
    span: tuple[float, float] | None = None  # with probed: the expected values mapped onto min..max

    kind = "int"

    @property
    def probe(self) -> tuple[str, ...]:
        if not self.probed:
            return ()
        return tuple(candidates(self.minimum, self.maximum, terminator=f"/{self.maximum}"))

    @property
    def grammar(self) -> str:
        value = int_grammar(self.minimum, self.maximum)
        if self.probed and not self.rationale:  # the values are probed right after "Score:"
            return 'root ::= "Score:"\n'
        if not self.rationale:
            return f"root ::= {value}\n"
        low, high = RATIONALE_CHARS
        if self.probed:  # stops right before the number: the actor probes the values
            return (f'root ::= "Reason: " sentence " Score:"\n'
                    f'sentence ::= [A-Z] [^.!?\\n"\\\\]{{{low},{high}}} "."\n')
        scale = f"/{self.maximum}" if self.minimum >= 0 else ""
        return (
            f'root ::= "Score: " {value} "{scale}. Reason: " sentence\n'
            f'sentence ::= [A-Z] [^.!?\\n"\\\\]{{{low},{high}}} "."\n'
        )

    def check(self, raw: str, *, grounding: str = "", truncated: bool = False,
              refs: Mapping[str, str] | None = None, probs: Sequence[float] | None = None) -> str:
        if self.probed:
            return self._check_probed(raw, truncated, probs)
        match = _INT_RAW.match(raw)
        if not match:
            raise ContractViolation(f"output does not start with an integer: {raw[:120]!r}")
        value = int(match.group(1))
        if not self.minimum <= value <= self.maximum:
            raise ContractViolation(f"integer {value} is outside [{self.minimum}, {self.maximum}]")
        if not self.rationale:
            if match.group(2).strip():
                raise ContractViolation(f"expected a bare integer, got {raw[:120]!r}")
            return str(value)
        sentence = " ".join(match.group(2).split())
        if truncated or len(sentence) < RATIONALE_CHARS[0] or not sentence.endswith((".", "!", "?")):
            raise ContractViolation(f"rationale is not one complete sentence: {sentence[:120]!r}")
        return json.dumps({"value": value, "rationale": sentence}, ensure_ascii=False)

    def _check_probed(self, raw: str, truncated: bool, probs: Sequence[float] | None) -> str:
        sentence: str | None = None
        if self.rationale:
            match = _PROBED_RAW.match(raw)
            sentence = " ".join(match.group(1).split()) if match else ""
            if truncated or not match or len(sentence) < RATIONALE_CHARS[0]:
                raise ContractViolation(f"rationale is not one complete sentence followed by 'Score:': {raw[:120]!r}")
        elif truncated or not _PROBED_BARE.match(raw):
            raise ContractViolation(f"expected 'Score:' before the probed values, got {raw[:120]!r}")
        try:
            dist = distribution(range(self.minimum, self.maximum + 1), probs)
        except ScoreError as exc:
            raise ContractViolation(f"score: {exc}") from exc
        return score_output(sentence, dist, self.span)


@dataclass(frozen=True)
class EnumContract(Contract):
    values: tuple[str, ...] = ()

    kind = "enum"

    @property
    def grammar(self) -> str:
        ordered = sorted(self.values, key=lambda v: -len(v))
        return "root ::= (" + " | ".join(gbnf_literal(v) for v in ordered) + ")\n"

    def check(self, raw: str, *, grounding: str = "", truncated: bool = False,
              refs: Mapping[str, str] | None = None, probs: Sequence[float] | None = None) -> str:
        text = raw.strip()
        for value in self.values:
            if text.lower() == value.lower():
                return value
        raise ContractViolation(f"output {text[:80]!r} is not one of {list(self.values)}")


def _refs(value: Any, what: str = "grounded_in") -> tuple[str, ...]:
    refs = [value] if isinstance(value, str) else list(value or [])
    out = tuple(str(r) for r in refs)
    for ref in out:
        if not re.fullmatch(r"(posting|outputs)\.[A-Za-z_][A-Za-z0-9_]*", ref):
            raise WorkflowError(f"{what} reference {ref!r} must be posting.<field> or outputs.<stage>")
    return out


EXCLUDE_KINDS = ("employer", "location", "title")


EXCLUDE_FLAGS = ("conditions", "everyday", "traits")


def _exclude(value: Any) -> tuple[dict[str, str], dict[str, bool]]:
    """(kind -> reference, flag -> whether it is set) of an ``exclude``; the flags are
    :data:`EXCLUDE_FLAGS` (working conditions, everyday words, personal traits)."""
    if value is None:
        return {}, {}
    if not isinstance(value, Mapping) or not set(value) <= {*EXCLUDE_KINDS, *EXCLUDE_FLAGS}:
        raise WorkflowError(f"json output exclude must map {', '.join(EXCLUDE_KINDS)} to references "
                            f"(and may set conditions, everyday, traits: true), got {value!r}")
    flags = {flag: value.get(flag, False) for flag in EXCLUDE_FLAGS}
    for flag, on in flags.items():
        if not isinstance(on, bool):
            raise WorkflowError(f"json output exclude {flag} must be true or false, got {on!r}")
    refs = {str(kind): _refs(ref, "exclude")[0] for kind, ref in value.items() if kind not in EXCLUDE_FLAGS}
    return refs, flags


def _span(value: Any, probed: bool, low: int, high: int) -> tuple[float, float] | None:
    """An int output's ``span: [a, b]``: numbers with low <= a < b <= high, only with probe."""
    if value is None:
        return None
    if not probed:
        raise WorkflowError("int output span needs probe: true (it rescales the probed expected value)")
    if (not isinstance(value, list) or len(value) != 2
            or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            or not low <= value[0] < value[1] <= high):
        raise WorkflowError(f"int output span must be [a, b] with {low} <= a < b <= {high}, got {value!r}")
    return float(value[0]), float(value[1])


def _int_field(spec: Mapping[str, Any], key: str, default: int | None) -> int:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise WorkflowError(f"output {key} must be an integer, got {value!r}")
    return value


def build_contract(spec: Mapping[str, Any] | None) -> Contract:
    """The contract of a stage's ``output`` mapping (None means free text).

    Raises:
        WorkflowError: unknown type, missing or ill-typed keys, an invalid JSON Schema,
            or a schema feature the grammar builder does not support.
    """
    spec = dict(spec or {"type": "text"})
    kind = spec.get("type", "text")
    if kind == "text":
        sentences = spec.get("sentences")
        if sentences is not None and (isinstance(sentences, bool) or not isinstance(sentences, int) or sentences < 1):
            raise WorkflowError(f"text output sentences must be a positive integer, got {sentences!r}")
        return TextContract(max_chars=_int_field(spec, "max_chars", 2000), min_chars=_int_field(spec, "min_chars", 1),
                            sentences=sentences, language_of=_refs(spec.get("language_of"), "language_of"),
                            names_from=_refs(spec.get("names_from"), "names_from"))
    if kind == "json":
        schema = spec.get("schema")
        if not isinstance(schema, Mapping):
            raise WorkflowError("json output needs a schema mapping")
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise WorkflowError(f"json output schema is invalid: {exc.message}") from exc
        exclude, flags = _exclude(spec.get("exclude"))
        contract = JsonContract(schema=schema, grounded=_refs(spec.get("grounded_in")), exclude=exclude,
                                exclude_conditions=flags.get("conditions", False),
                                exclude_everyday=flags.get("everyday", False),
                                exclude_traits=flags.get("traits", False))
        json_schema_grammar(schema)  # fail now, not on the first command
        return contract
    if kind == "int":
        low, high = _int_field(spec, "min", None), _int_field(spec, "max", None)
        if low > high:
            raise WorkflowError(f"int output needs min <= max, got {low} > {high}")
        probed = bool(spec.get("probe", False))
        return IntContract(minimum=low, maximum=high, rationale=bool(spec.get("rationale", False)), probed=probed,
                           span=_span(spec.get("span"), probed, low, high))
    if kind == "enum":
        values = spec.get("values")
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
            raise WorkflowError("enum output needs a non-empty list of non-empty strings as values")
        return EnumContract(values=tuple(values))
    raise WorkflowError(f"unknown output type {kind!r} (text, json, int or enum)")
