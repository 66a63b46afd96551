"""Output contracts of a stage: what an actor's output must look like, the llama.cpp
grammar that makes the model produce it, and the check applied after decoding.

A stage's ``output`` mapping (workflows/*.yaml) builds one contract:

- ``{type: text, max_chars: N, sentences: K}``: non-empty text of at most N characters;
  with ``sentences`` the model writes 1 to K plain sentences on one line (grammar).
- ``{type: json, schema: {...}, grounded_in: posting.description}``: JSON matching the
  JSON Schema, generated under a bounded grammar (``consumers.grammar``). With
  ``grounded_in`` (one reference or a list), string items of arrays must occur in the
  named text (case-insensitive, on word boundaries): for a schema that is an array of
  strings the grammar itself offers only phrases of that text, and after decoding every
  item that does not occur is dropped and duplicates are removed before the schema
  check, so ``minItems`` counts grounded items only.
- ``{type: int, min: A, max: B, rationale: true}``: an integer in [A, B]. With a
  rationale the model writes ``Score: <n>/<B>. Reason: <one sentence>`` and the stored
  output is the JSON object ``{"value": n, "rationale": "..."}``; without one it writes
  and stores the bare integer.
- ``{type: enum, values: [...]}``: exactly one of the values.

The stored output (what :meth:`Contract.check` returns) is canonical: JSON is dumped
compactly, text is stripped. A model output that breaks the contract raises
:class:`ContractViolation` (a :class:`PermanentActorError`): the attempt fails and the
posting takes the error branch, the worker never crashes. An invalid contract
definition raises :class:`WorkflowError` when the contract is built.
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Mapping

import jsonschema

from consumers.exceptions import PermanentActorError, WorkflowError
from consumers.grammar import DEFAULT_MAX_ITEMS, DEFAULT_MAX_STRING, gbnf_literal, int_grammar, json_schema_grammar
from consumers.grammar import trie_grammar

#: Rationale sentence length bounds (characters after the first letter).
RATIONALE_CHARS = (12, 160)
#: A text sentence is at most this long (characters).
SENTENCE_CHARS = 240
MAX_PHRASE_WORDS = 3
MAX_PHRASES = 800

_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9+#./-]*[A-Za-z0-9+#]|[A-Za-z0-9]")
_STOPWORDS = frozenset(
    "a an and any are as at be been but by can do each for from has have if in into is it its least "
    "may more most must nice no not of on or our per plus so such than that the their them then there "
    "these they this those to up us was we were what when where which who will with within would you your "
    "able also etc other year years week weeks day days hour hours required requirements experience".split()
)


class ContractViolation(PermanentActorError):
    """The actor's output does not satisfy the stage's output contract."""


def occurs(item: str, text: str) -> bool:
    """Whether ``item`` occurs in ``text``: case-insensitive, on word boundaries, any
    run of whitespace matching any other ("Go" is not found in "good")."""
    words = [re.escape(w) for w in item.split()]
    if not words:
        return False
    pattern = r"(?<![A-Za-z0-9])" + r"\s+".join(words) + r"(?![A-Za-z0-9])"
    return re.search(pattern, text, flags=re.IGNORECASE) is not None


def ground(value: Any, text: str) -> Any:
    """``value`` with every string item of every array kept only when it
    :func:`occurs` in ``text``, duplicates (case-insensitive) removed."""
    if isinstance(value, list):
        if all(isinstance(v, str) for v in value):
            seen: set[str] = set()
            kept = []
            for item in (v.strip() for v in value):
                if item and item.lower() not in seen and occurs(item, text):
                    seen.add(item.lower())
                    kept.append(item)
            return kept
        return [ground(v, text) for v in value]
    if isinstance(value, dict):
        return {k: ground(v, text) for k, v in value.items()}
    return value


def phrases(text: str, *, min_len: int = 1, max_len: int = DEFAULT_MAX_STRING) -> list[str]:
    """Candidate items of a grounded list: runs of 1 to 3 words of ``text`` that neither
    start nor end with a stop word, hold a letter and :func:`occurs` in ``text`` as
    written, in order of first appearance, without duplicates."""
    words = _WORD.findall(text)
    seen: dict[str, None] = {}
    for n in range(1, MAX_PHRASE_WORDS + 1):
        for i in range(len(words) - n + 1):
            run = words[i:i + n]
            if run[0].lower() in _STOPWORDS or run[-1].lower() in _STOPWORDS:
                continue
            phrase = " ".join(run)
            if (min_len <= len(phrase) <= max_len and any(c.isalpha() for c in phrase) and phrase not in seen
                    and occurs(phrase, text)):  # "St. Mary's" gives words St, Mary, s: "Mary s" does not occur
                seen.setdefault(phrase, None)
    return list(seen)[:MAX_PHRASES]


@dataclass(frozen=True)
class Contract(ABC):
    """One stage's output contract."""

    kind = "text"

    @property
    def grammar(self) -> str | None:
        """GBNF the model is constrained by, or None for free text."""
        return None

    def grammar_for(self, grounding: str) -> str | None:
        """The grammar for one command whose grounding text is ``grounding``; the same as
        :attr:`grammar` unless the contract restricts items to that text."""
        return self.grammar

    @property
    def grounded_in(self) -> tuple[str, ...]:
        """Placeholder references (``posting.description``) whose text grounds the output."""
        return ()

    @abstractmethod
    def check(self, raw: str, *, grounding: str = "", truncated: bool = False) -> str:
        """The canonical output for the model's ``raw`` text; ``truncated`` says the model
        stopped at its token limit.

        Raises:
            ContractViolation: ``raw`` does not satisfy the contract.
        """


@dataclass(frozen=True)
class TextContract(Contract):
    max_chars: int = 2000
    min_chars: int = 1
    sentences: int | None = None

    kind = "text"

    @property
    def grammar(self) -> str | None:
        if not self.sentences:
            return None
        longest = max(12, min(SENTENCE_CHARS, self.max_chars // self.sentences - 2))
        more = f' (" " sentence){{0,{self.sentences - 1}}}' if self.sentences > 1 else ""
        return (f"root ::= sentence{more}\n"
                f'sentence ::= [A-Z0-9] [^.!?\\n]{{8,{longest}}} [.!?]\n')

    def check(self, raw: str, *, grounding: str = "", truncated: bool = False) -> str:
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
        return text


@dataclass(frozen=True)
class JsonContract(Contract):
    schema: Mapping[str, Any] = field(default_factory=dict)
    grounded: tuple[str, ...] = ()

    kind = "json"

    @property
    def grammar(self) -> str:
        return json_schema_grammar(self.schema)

    @property
    def grounded_in(self) -> tuple[str, ...]:
        return self.grounded

    def _grounded_list(self) -> Mapping[str, Any] | None:
        items = self.schema.get("items")
        if self.grounded and self.schema.get("type") == "array" and isinstance(items, Mapping):
            if items.get("type") == "string" and not ({"enum", "const", "pattern"} & set(items)):
                return items
        return None

    def grammar_for(self, grounding: str) -> str:
        items = self._grounded_list()
        if items is None:
            return self.grammar
        candidates = phrases(grounding, min_len=int(items.get("minLength", 1)),
                             max_len=int(items.get("maxLength", DEFAULT_MAX_STRING)))
        low, high = int(self.schema.get("minItems", 0)), int(self.schema.get("maxItems", DEFAULT_MAX_ITEMS))
        if not candidates:
            return 'root ::= "[]"\n'
        rest = f' (", " item){{0,{high - 1}}}' if high > 1 else ""
        root = f'"[" item{rest} "]"'
        return (f"root ::= {root if low else '(' + gbnf_literal('[]') + ' | ' + root + ')'}\n"
                f'item ::= "\\"" {trie_grammar(candidates)} "\\""\n')

    def check(self, raw: str, *, grounding: str = "", truncated: bool = False) -> str:
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            cut = " (cut at the token limit)" if truncated else ""
            raise ContractViolation(f"output is not JSON{cut}: {exc.msg} at {exc.pos}: {raw[:120]!r}") from exc
        if self.grounded:
            value = ground(value, grounding)
        try:
            jsonschema.validate(value, self.schema)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "the output"
            grounded = " after grounding" if self.grounded else ""
            raise ContractViolation(f"JSON output breaks its schema{grounded} at {where}: {exc.message}") from exc
        return json.dumps(value, ensure_ascii=False)


_INT_RAW = re.compile(r"^\s*(?:score\s*:\s*)?(-?\d+)(?:\s*/\s*\d+)?\s*[.:,)-]?\s*(?:reason\s*:\s*)?(.*)$",
                      re.DOTALL | re.IGNORECASE)


@dataclass(frozen=True)
class IntContract(Contract):
    minimum: int = 0
    maximum: int = 100
    rationale: bool = False

    kind = "int"

    @property
    def grammar(self) -> str:
        value = int_grammar(self.minimum, self.maximum)
        if not self.rationale:
            return f"root ::= {value}\n"
        low, high = RATIONALE_CHARS
        scale = f"/{self.maximum}" if self.minimum >= 0 else ""
        return (
            f'root ::= "Score: " {value} "{scale}. Reason: " sentence\n'
            f'sentence ::= [A-Z] [^.!?\\n"\\\\]{{{low},{high}}} "."\n'
        )

    def check(self, raw: str, *, grounding: str = "", truncated: bool = False) -> str:
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


@dataclass(frozen=True)
class EnumContract(Contract):
    values: tuple[str, ...] = ()

    kind = "enum"

    @property
    def grammar(self) -> str:
        ordered = sorted(self.values, key=lambda v: -len(v))
        return "root ::= (" + " | ".join(gbnf_literal(v) for v in ordered) + ")\n"

    def check(self, raw: str, *, grounding: str = "", truncated: bool = False) -> str:
        text = raw.strip()
        for value in self.values:
            if text.lower() == value.lower():
                return value
        raise ContractViolation(f"output {text[:80]!r} is not one of {list(self.values)}")


def _refs(value: Any) -> tuple[str, ...]:
    refs = [value] if isinstance(value, str) else list(value or [])
    out = tuple(str(r) for r in refs)
    for ref in out:
        if not re.fullmatch(r"(posting|outputs)\.[A-Za-z_][A-Za-z0-9_]*", ref):
            raise WorkflowError(f"grounded_in reference {ref!r} must be posting.<field> or outputs.<stage>")
    return out


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
                            sentences=sentences)
    if kind == "json":
        schema = spec.get("schema")
        if not isinstance(schema, Mapping):
            raise WorkflowError("json output needs a schema mapping")
        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise WorkflowError(f"json output schema is invalid: {exc.message}") from exc
        contract = JsonContract(schema=schema, grounded=_refs(spec.get("grounded_in")))
        json_schema_grammar(schema)  # fail now, not on the first command
        return contract
    if kind == "int":
        low, high = _int_field(spec, "min", None), _int_field(spec, "max", None)
        if low > high:
            raise WorkflowError(f"int output needs min <= max, got {low} > {high}")
        return IntContract(minimum=low, maximum=high, rationale=bool(spec.get("rationale", False)))
    if kind == "enum":
        values = spec.get("values")
        if not isinstance(values, list) or not values or not all(isinstance(v, str) and v for v in values):
            raise WorkflowError("enum output needs a non-empty list of non-empty strings as values")
        return EnumContract(values=tuple(values))
    raise WorkflowError(f"unknown output type {kind!r} (text, json, int or enum)")
