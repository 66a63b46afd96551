"""The JSON output contract (``{type: json, schema: ...}``, see :mod:`consumers.contracts`):
the grammar a JSON Schema gives (for a grounded list of strings: the phrases of the
grounding text, without the excluded ones), and the check after decoding (grounding,
exclusion, schema)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

import jsonschema

from consumers.contract_base import Contract, ContractViolation
from consumers.grammar import DEFAULT_MAX_ITEMS, DEFAULT_MAX_STRING, json_schema_grammar, trie_grammar
from consumers.grounding import ground, phrases
from consumers.quality import detect_language
from consumers.skill_filters import (conditions_reason, description_reason, everyday_reason, identity_reason,
                                     traits_reason)


@dataclass(frozen=True)
class JsonContract(Contract):
    schema: Mapping[str, Any] = field(default_factory=dict)
    grounded: tuple[str, ...] = ()
    exclude: Mapping[str, str] = field(default_factory=dict)  # employer|location|title -> reference
    exclude_conditions: bool = False  # exclude: {conditions: true}
    exclude_everyday: bool = False  # exclude: {everyday: true}
    exclude_traits: bool = False  # exclude: {traits: true}

    kind = "json"

    @property
    def refs(self) -> tuple[str, ...]:
        return tuple(self.exclude.values())

    @property
    def excludes(self) -> bool:
        return bool(self.exclude or self.exclude_conditions or self.exclude_everyday or self.exclude_traits)

    def _excluded(self, refs: Mapping[str, str] | None, grounding: str, *,
                  decoded: bool = True) -> Callable[[str], bool]:
        """Whether an item is excluded: the employer, the location, the title or a person
        (:func:`consumers.skill_filters.identity_reason`, which reads ``grounding`` for how the
        posting uses the title's words), with ``conditions`` a working condition
        (:func:`consumers.skill_filters.conditions_reason`), with ``traits`` a personal trait
        (:func:`consumers.skill_filters.traits_reason`). Only once ``decoded`` (the grammar
        still offers them), with ``traits`` an item of an English posting ending in an
        adjective or adverb (:func:`consumers.skill_filters.description_reason`) and with
        ``everyday`` an everyday word of ``grounding``'s language
        (:func:`consumers.skill_filters.everyday_reason`)."""
        identity = {kind: (refs or {}).get(ref, "") for kind, ref in self.exclude.items()}
        everyday = decoded and self.exclude_everyday
        description = decoded and self.exclude_traits
        language = detect_language(grounding) if everyday or description else None

        def excluded(item: str) -> bool:
            if identity and identity_reason(item, text=grounding, **identity) is not None:
                return True
            if self.exclude_conditions and conditions_reason(item) is not None:
                return True
            if self.exclude_traits and traits_reason(item) is not None:
                return True
            if description and description_reason(item, language) is not None:
                return True
            return everyday and everyday_reason(item, language, grounding) is not None
        return excluded

    def without_excluded(self, value: Any, refs: Mapping[str, str] | None, grounding: str = "") -> Any:
        """``value`` without the string items of arrays that ``exclude`` names
        (``grounding``: the text whose language decides what an everyday word is)."""
        if not self.excludes:
            return value
        return self._without(value, self._excluded(refs, grounding))

    def _without(self, value: Any, excluded: Callable[[str], bool]) -> Any:
        if isinstance(value, list):
            if all(isinstance(v, str) for v in value):
                return [v for v in value if not excluded(v)]
            return [self._without(v, excluded) for v in value]
        if isinstance(value, dict):
            return {k: self._without(v, excluded) for k, v in value.items()}
        return value

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

    def grammar_for(self, grounding: str, refs: Mapping[str, str] | None = None) -> str:
        items = self._grounded_list()
        if items is None:
            return self.grammar
        candidates = phrases(grounding, min_len=int(items.get("minLength", 1)),
                             max_len=int(items.get("maxLength", DEFAULT_MAX_STRING)))
        if self.excludes:
            # Everyday words stay offered: taken out of the grammar, the model writes a
            # phrase around them instead ("data" -> "data warehouse"); they are dropped
            # after decoding (bench/quality.py: precision 0.61 against 0.66).
            excluded = self._excluded(refs, grounding, decoded=False)
            candidates = [c for c in candidates if not excluded(c)]
        high = int(self.schema.get("maxItems", DEFAULT_MAX_ITEMS))
        if not candidates or high < 1:
            return 'root ::= "[]"\n'
        # At least one phrase, whatever minItems says: a small model offered "[]" writes it
        # for every posting. minItems is checked after grounding and exclusion, so with
        # minItems 0 a posting whose phrases are all dropped gets [].
        rest = f' (", " item){{0,{high - 1}}}' if high > 1 else ""
        return (f'root ::= "[" item{rest} "]"\n'
                f'item ::= "\\"" {trie_grammar(candidates)} "\\""\n')

    def check(self, raw: str, *, grounding: str = "", truncated: bool = False,
              refs: Mapping[str, str] | None = None, probs: Sequence[float] | None = None) -> str:
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            cut = " (cut at the token limit)" if truncated else ""
            raise ContractViolation(f"output is not JSON{cut}: {exc.msg} at {exc.pos}: {raw[:120]!r}") from exc
        if self.grounded:
            value = ground(value, grounding)
        value = self.without_excluded(value, refs, grounding)
        try:
            jsonschema.validate(value, self.schema)
        except jsonschema.ValidationError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "the output"
            grounded = " after grounding" if self.grounded else ""
            raise ContractViolation(f"JSON output breaks its schema{grounded} at {where}: {exc.message}") from exc
        return json.dumps(value, ensure_ascii=False)
