"""GBNF grammars for llama.cpp: JSON Schema (a bounded subset), integer ranges, and
prefix trees of allowed items.

Every repetition is bounded: a tiny model under an unbounded rule keeps going
(``"1.1.1..."``) until its token limit. Separators are fixed (``", "``, ``": "``) and no
free whitespace is allowed, so the model cannot wander into newlines either. Supported
JSON Schema: ``object`` (every property, in order), ``array`` (``items``, ``minItems``,
``maxItems`` - default cap 16), ``string`` (``minLength``, ``maxLength`` - default cap
200, ``pattern`` of one character class with a quantifier), ``integer`` (``minimum``,
``maximum``), ``number``, ``boolean``, ``null``, ``enum``, ``const``. Strings never
contain quotes, backslashes or control characters, so no escape sequences are needed.

Anything else raises :class:`consumers.exceptions.WorkflowError` when the grammar is built.
"""

from __future__ import annotations

import json
import re
from typing import Any, Iterable, Mapping

from consumers.exceptions import WorkflowError

#: Bounds applied when a JSON Schema leaves a length open.
DEFAULT_MAX_STRING = 200
DEFAULT_MAX_ITEMS = 16
MAX_INT_DIGITS = 15
#: Ranges up to this size become an alternation of literals in the grammar.
MAX_LITERAL_RANGE = 1000

_STRING_CHAR = r'[^"\\\x00-\x1f]'
_STRING_FIRST = r'[^"\\\x00-\x20]'
_PATTERN = re.compile(r"^\^(\[(?:\\.|[^\]\\])+\])(\*|\+|\{(\d+)(?:,(\d*))?\})?\$$")


def gbnf_literal(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n").replace("\r", "\\r")
    return f'"{escaped}"'


def _repeat(item: str, low: int, high: int | None) -> str:
    if high is None:
        return f"{item}{{{low},}}"
    if low == high:
        return "" if low == 0 else (item if low == 1 else f"{item}{{{low}}}")
    return f"{item}{{{low},{high}}}"


class _GrammarBuilder:
    """JSON Schema (a bounded subset) -> GBNF with fixed separators and no free space."""

    def __init__(self) -> None:
        self.rules: dict[str, str] = {}

    def build(self, schema: Mapping[str, Any]) -> str:
        self.rules["root"] = ""  # keeps root first in the output
        self.rules["root"] = self.visit(schema, "root")
        return "\n".join(f"{name} ::= {body}" for name, body in self.rules.items()) + "\n"

    def _rule(self, name: str, body: str) -> str:
        base, n = re.sub(r"[^a-zA-Z0-9-]", "-", name), 1
        candidate = base
        while candidate in self.rules and self.rules[candidate] != body:
            n += 1
            candidate = f"{base}-{n}"
        self.rules[candidate] = body
        return candidate

    def visit(self, schema: Mapping[str, Any], name: str) -> str:
        if not isinstance(schema, Mapping):
            raise WorkflowError(f"json schema at {name}: expected a mapping, got {schema!r}")
        if "const" in schema:
            return gbnf_literal(json.dumps(schema["const"], ensure_ascii=False))
        if "enum" in schema:
            values = schema["enum"]
            if not isinstance(values, list) or not values:
                raise WorkflowError(f"json schema at {name}: enum needs a non-empty list")
            return "(" + " | ".join(gbnf_literal(json.dumps(v, ensure_ascii=False)) for v in values) + ")"
        kind = schema.get("type")
        visit = {
            "object": self._object, "array": self._array, "string": self._string,
            "integer": self._integer, "number": self._number,
        }.get(kind)  # type: ignore[arg-type]
        if visit is not None:
            return visit(schema, name)
        if kind == "boolean":
            return '("true" | "false")'
        if kind == "null":
            return '"null"'
        raise WorkflowError(f"json schema at {name}: unsupported type {kind!r} (use object, array, "
                            "string, integer, number, boolean, null, enum or const)")

    def _object(self, schema: Mapping[str, Any], name: str) -> str:
        props = schema.get("properties") or {}
        if not isinstance(props, Mapping) or not props:
            raise WorkflowError(f"json schema at {name}: an object needs properties")
        parts = []
        for i, (key, sub) in enumerate(props.items()):
            rule = self._rule(f"{name}-{key}", self.visit(sub, f"{name}-{key}"))
            parts.append(gbnf_literal(("{" if i == 0 else ", ") + json.dumps(key) + ": ") + " " + rule)
        return " ".join(parts) + ' "}"'

    def _array(self, schema: Mapping[str, Any], name: str) -> str:
        low = int(schema.get("minItems", 0))
        high = int(schema.get("maxItems", DEFAULT_MAX_ITEMS))
        if low < 0 or high < max(low, 1):
            raise WorkflowError(f"json schema at {name}: need 0 <= minItems <= maxItems, maxItems >= 1")
        item = self._rule(f"{name}-item", self.visit(schema.get("items", {"type": "string"}), f"{name}-item"))
        rest = _repeat(f'(", " {item})', max(low - 1, 0), high - 1)
        body = f'"[" {item} {rest} "]"'.replace("  ", " ")
        return f'("[]" | {body})' if low == 0 else body

    def _string(self, schema: Mapping[str, Any], name: str) -> str:
        low = int(schema.get("minLength", 0))
        high = int(schema.get("maxLength", DEFAULT_MAX_STRING))
        if low < 0 or high < max(low, 1):
            raise WorkflowError(f"json schema at {name}: need 0 <= minLength <= maxLength, maxLength >= 1")
        char, first = _STRING_CHAR, _STRING_FIRST
        if "pattern" in schema:
            match = _PATTERN.match(str(schema["pattern"]))
            if not match:
                raise WorkflowError(
                    f"json schema at {name}: pattern {schema['pattern']!r} is not supported in a grammar; "
                    "use one character class with a quantifier, e.g. ^[A-Za-z0-9+#. -]{2,40}$"
                )
            if '"' in match.group(1) or "\\\\" in match.group(1):
                raise WorkflowError(f"json schema at {name}: pattern class may not contain quotes or backslashes")
            char = first = match.group(1)
            quant = match.group(2) or "{1}"
            if quant.startswith("{"):
                p_low = int(match.group(3))
                p_high = p_low if match.group(4) is None else (int(match.group(4)) if match.group(4) else high)
            else:
                p_low, p_high = (0 if quant == "*" else 1), high
            low, high = max(low, p_low), min(high, p_high)
            if high < max(low, 1):
                raise WorkflowError(f"json schema at {name}: pattern and length bounds leave no string")
        if low == 0:
            body = f'"\\"" ({first} {_repeat(char, 0, high - 1)})? "\\""'
        else:
            body = f'"\\"" {first} {_repeat(char, low - 1, high - 1)} "\\""'
        return body.replace("  ", " ")

    def _integer(self, schema: Mapping[str, Any], name: str) -> str:
        return int_grammar(schema.get("minimum"), schema.get("maximum"))

    def _number(self, schema: Mapping[str, Any], name: str) -> str:
        return f'"-"? [0-9]{{1,{MAX_INT_DIGITS}}} ("." [0-9]{{1,6}})?'


def int_grammar(low: int | None, high: int | None) -> str:
    """A GBNF expression for an integer in [low, high]: the literals themselves when the
    range is small (longest first, so "10" is not cut to "1"), bounded digits otherwise."""
    if low is not None and high is not None and 0 <= high - low <= MAX_LITERAL_RANGE:
        values = sorted(range(int(low), int(high) + 1), key=lambda v: (-len(str(v)), v))
        return "(" + " | ".join(gbnf_literal(str(v)) for v in values) + ")"
    sign = '"-"? ' if low is None or low < 0 else ""
    return f'{sign}("0" | [1-9] [0-9]{{0,{MAX_INT_DIGITS - 1}}})'


def json_schema_grammar(schema: Mapping[str, Any]) -> str:
    """The GBNF grammar (root rule ``root``) of a JSON Schema.

    Raises:
        WorkflowError: the schema uses a feature outside the supported subset.
    """
    return _GrammarBuilder().build(schema)


def trie_grammar(items: Iterable[str]) -> str:
    """A GBNF expression matching exactly one of ``items``, as a prefix tree: shared
    prefixes are one path, which keeps llama.cpp's grammar matching fast."""
    root: dict[str, dict] = {}
    for item in items:
        node = root
        for ch in item:
            node = node.setdefault(ch, {})
        node[""] = {}

    def emit(node: dict[str, dict]) -> str:
        alts, optional = [], False
        for ch, child in sorted(node.items()):
            if ch == "":
                optional = True
                continue
            text = ch
            while len(child) == 1 and "" not in child:
                (nxt, child), = child.items()
                text += nxt
            literal = gbnf_literal(text)
            alts.append(literal if child == {"": {}} else f"{literal} {emit(child)}")
        if not alts:
            return '""'
        body = alts[0] if len(alts) == 1 else "(" + " | ".join(alts) + ")"
        return f"({body})?" if optional else body

    return emit(root) if root else '""'
