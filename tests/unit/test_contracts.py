"""Output contracts: building, grammars, and the checks applied after decoding."""

from __future__ import annotations

import json

import pytest

from consumers.contracts import (
    ContractViolation, EnumContract, IntContract, JsonContract, TextContract, build_contract, ground, occurs,
)
from consumers.grounding import phrases
from consumers.exceptions import PermanentActorError, WorkflowError

pytestmark = pytest.mark.unit

SKILLS = {"type": "json", "grounded_in": "posting.description",
          "schema": {"type": "array", "minItems": 1, "maxItems": 8,
                     "items": {"type": "string", "minLength": 2, "maxLength": 40}}}
POSTING = "We need Python, PostgreSQL and Apache Kafka. C++ is a plus; good English required."


def test_violation_is_permanent():
    assert issubclass(ContractViolation, PermanentActorError)
    assert not ContractViolation.retryable


@pytest.mark.parametrize("spec, kind", [
    (None, TextContract), ({"type": "text", "max_chars": 10}, TextContract), (SKILLS, JsonContract),
    ({"type": "int", "min": 1, "max": 10, "rationale": True}, IntContract),
    ({"type": "enum", "values": ["yes", "no"]}, EnumContract),
])
def test_build_contract_kinds(spec, kind):
    assert isinstance(build_contract(spec), kind)


@pytest.mark.parametrize("spec, words", [
    ({"type": "xml"}, "unknown output type"),
    ({"type": "json"}, "needs a schema"),
    ({"type": "json", "schema": {"type": "array", "minItems": "x"}}, "schema is invalid"),
    ({"type": "json", "schema": {"anyOf": [{"type": "string"}]}}, "unsupported type"),
    ({"type": "json", "schema": {"type": "string", "pattern": "^(a|b)$"}}, "not supported"),
    ({"type": "json", "schema": {"type": "array"}, "grounded_in": "description"}, "grounded_in"),
    ({"type": "int", "min": 5, "max": 1}, "min <= max"),
    ({"type": "int", "max": 3}, "min must be an integer"),
    ({"type": "enum", "values": []}, "non-empty list"),
    ({"type": "text", "sentences": 0}, "positive integer"),
])
def test_invalid_specs_raise_workflow_error(spec, words):
    with pytest.raises(WorkflowError, match=words):
        build_contract(spec)


# --- text ---------------------------------------------------------------------------------

def test_text_strips_and_bounds():
    contract = build_contract({"type": "text", "max_chars": 20})
    assert contract.check("  Hello there.  ") == "Hello there."
    assert contract.grammar is None
    with pytest.raises(ContractViolation, match="empty"):
        contract.check("   \n")
    with pytest.raises(ContractViolation, match="max_chars=20"):
        contract.check("x" * 21)


def test_text_truncated_keeps_whole_sentences():
    contract = TextContract(max_chars=100)
    assert contract.check("One sentence. Two sentences. And a cut", truncated=True) == "One sentence. Two sentences."
    assert contract.check("No sentence end at all", truncated=True) == "No sentence end at all"


def test_text_sentences_grammar_is_bounded():
    grammar = build_contract({"type": "text", "max_chars": 600, "sentences": 2}).grammar
    assert 'root ::= sentence (" " sentence){0,1}' in grammar
    assert "{8,240}" in grammar and "\\n" in grammar


# --- json ---------------------------------------------------------------------------------

def test_json_grounding_keeps_items_found_in_text():
    contract = build_contract(SKILLS)
    raw = json.dumps(["Python", "postgresql", "Go", "Rust", "apache  kafka", "Python", "C++"])
    assert json.loads(contract.check(raw, grounding=POSTING)) == ["Python", "postgresql", "apache  kafka", "C++"]


def test_json_grounding_counts_min_items_after_filtering():
    with pytest.raises(ContractViolation, match="after grounding"):
        build_contract(SKILLS).check('["Rust", "Go"]', grounding=POSTING)


@pytest.mark.parametrize("raw, words", [
    ('["Python"', "not JSON"), ('{"a": 1}', "breaks its schema"), ('["' + "Python " * 10 + '"]', "breaks"),
])
def test_json_violations(raw, words):
    contract = build_contract({"type": "json", "schema": SKILLS["schema"]})
    with pytest.raises(ContractViolation, match=words):
        contract.check(raw, grounding=POSTING)


def test_json_output_is_canonical():
    contract = build_contract({"type": "json", "schema": {"type": "object", "properties": {"a": {"type": "integer"}}}})
    assert contract.check('{"a":   1}') == '{"a": 1}'


def test_occurs_uses_word_boundaries():
    assert occurs("Go", "We write Go daily")
    assert not occurs("Go", "good engineers")
    assert occurs("c++", "C++ and Rust")
    assert occurs("machine learning", "Machine\nlearning at scale")
    assert not occurs("", "anything")


def test_ground_recurses_into_objects():
    value = {"must": ["Python", "Cobol"], "score": 3}
    assert ground(value, POSTING) == {"must": ["Python"], "score": 3}


def test_phrases_skip_stopword_edges_and_bound_length():
    found = phrases("We need Python and Apache Kafka skills.", min_len=2, max_len=20)
    assert "Python" in found and "Apache Kafka" in found and "Apache Kafka skills" in found
    assert "We" not in found and "Python and" not in found
    assert all(2 <= len(p) <= 20 for p in found)


def test_grounded_list_grammar_offers_only_posting_phrases():
    contract = build_contract(SKILLS)
    grammar = contract.grammar_for(POSTING)
    assert grammar.startswith('root ::= "[" item (", " item){0,7} "]"')
    assert '"Python"' in grammar or '"P"' in grammar
    assert "Rust" not in grammar
    assert contract.grammar_for("") == 'root ::= "[]"\n'


def test_ungrounded_json_grammar_is_static():
    contract = build_contract({"type": "json", "schema": SKILLS["schema"]})
    assert contract.grammar_for(POSTING) == contract.grammar


# --- int ----------------------------------------------------------------------------------

def test_int_with_rationale():
    contract = build_contract({"type": "int", "min": 1, "max": 10, "rationale": True})
    out = json.loads(contract.check("Score: 7/10. Reason: The duties and skills are listed clearly."))
    assert out == {"value": 7, "rationale": "The duties and skills are listed clearly."}
    assert json.loads(contract.check("8. Clear duties and pay are stated."))["value"] == 8
    assert contract.grammar.startswith('root ::= "Score: " ("10" | "1" |')
    assert '"/10. Reason: "' in contract.grammar


@pytest.mark.parametrize("raw, words", [
    ("Score: 11/10. Reason: Too high a score here.", "outside"),
    ("Score: 0/10. Reason: Too low a score here.", "outside"),
    ("Great posting. 9", "does not start"),
    ("Score: 7/10. Reason: cut off in the midd", "one complete sentence"),
    ("Score: 7/10. Reason: Ok.", "one complete sentence"),
])
def test_int_violations(raw, words):
    contract = build_contract({"type": "int", "min": 1, "max": 10, "rationale": True})
    with pytest.raises(ContractViolation, match=words):
        contract.check(raw)


def test_int_without_rationale_is_bare():
    contract = build_contract({"type": "int", "min": -5, "max": 5})
    assert contract.check(" -3 ") == "-3"
    assert contract.grammar == 'root ::= ("-5" | "-4" | "-3" | "-2" | "-1" | "0" | "1" | "2" | "3" | "4" | "5")\n'
    with pytest.raises(ContractViolation, match="bare integer"):
        contract.check("3 because")


def test_int_rationale_cut_by_token_limit_is_a_violation():
    contract = IntContract(minimum=1, maximum=10, rationale=True)
    with pytest.raises(ContractViolation):
        contract.check("Score: 5/10. Reason: A complete looking sentence.", truncated=True)


# --- enum ---------------------------------------------------------------------------------

def test_enum():
    contract = build_contract({"type": "enum", "values": ["junior", "senior", "sen"]})
    assert contract.check(" Senior\n") == "senior"
    assert contract.grammar == 'root ::= ("junior" | "senior" | "sen")\n'
    with pytest.raises(ContractViolation, match="not one of"):
        contract.check("mid")


def test_phrases_occur_in_the_text_as_written():
    # "St. Mary's" splits into the words St, Mary, s: "Mary s" and "St Mary" are not in the text.
    text = "Nurse at St. Mary's hospital, Node.js welcome."
    found = phrases(text)
    assert "Mary s" not in found and "St Mary" not in found and "St Mary s" not in found
    assert "Nurse" in found and "Node.js" in found
    assert all(occurs(p, text) for p in found)
