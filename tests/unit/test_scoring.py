"""The score from the model's probabilities (consumers.scoring) and the probed int
contract that stores it."""

from __future__ import annotations

import json
import math

import pytest

from consumers.contracts import ContractViolation, build_contract
from consumers.exceptions import PermanentActorError, WorkflowError
from consumers.scoring import (
    ScoreError, candidates, distribution, expected_value, round_half_up, score_of, score_output,
)
from projector.fold import parse_score

pytestmark = pytest.mark.unit

VALUES = range(1, 11)


def test_candidates_are_prefix_free_and_in_value_order():
    texts = candidates(1, 10, terminator="/10")
    assert texts[0] == " 1/10" and texts[1] == " 2" and texts[-1] == " 10"
    for a in texts:
        assert not any(b != a and b.startswith(a) for b in texts), a


def test_candidates_without_shared_prefix_get_no_terminator():
    assert candidates(1, 5) == [" 1", " 2", " 3", " 4", " 5"]


def test_distribution_renormalises():
    dist = distribution([1, 2, 3], [0.1, 0.1, 0.2])
    assert dist == pytest.approx({1: 0.25, 2: 0.25, 3: 0.5})
    assert math.fsum(dist.values()) == pytest.approx(1.0)


@pytest.mark.parametrize("probs, words", [
    (None, "no probabilities"),
    ([0.5, 0.5], "2 probabilities for 3"),
    ([0.0, 0.0, 0.0], "probability 0"),
    ([0.5, -0.1, 0.6], "invalid"),
    ([0.5, float("nan"), 0.6], "invalid"),
])
def test_distribution_refuses_bad_probabilities(probs, words):
    with pytest.raises(ScoreError, match=words):
        distribution([1, 2, 3], probs)
    assert issubclass(ScoreError, PermanentActorError)


def test_expected_value_and_rounding():
    dist = distribution(VALUES, [0] * 8 + [0.5, 0.5])  # 9 and 10, evenly
    assert expected_value(dist) == pytest.approx(9.5)
    assert score_of(dist) == 10  # half up, not banker's rounding (round(9.5) is 10, round(8.5) is 8)
    assert round_half_up(8.5) == 9 and round_half_up(8.49) == 8
    assert score_of(distribution(VALUES, [1] + [0] * 9)) == 1


def test_a_model_sure_of_ten_and_one_unsure_rank_apart():
    sure = distribution(VALUES, [0.001] * 7 + [0.05, 0.15, 0.8])
    unsure = distribution(VALUES, [0.02, 0.05, 0.08, 0.1, 0.12, 0.12, 0.12, 0.12, 0.12, 0.15])
    assert score_of(sure) > score_of(unsure)
    assert score_of(sure) == 10 and score_of(unsure) == 6


def test_score_output_is_read_by_the_projector():
    out = score_output("The posting names duties and pay.", distribution(VALUES, [0] * 6 + [1, 1, 0, 0]))
    data = json.loads(out)
    assert data["value"] == 8 and data["expected"] == 7.5
    assert data["distribution"]["7"] == 0.5 and set(data["distribution"]) == {str(v) for v in VALUES}
    assert parse_score(out) == (8, "The posting names duties and pay.")


PROBED = {"type": "int", "min": 1, "max": 10, "rationale": True, "probe": True}


def test_probed_contract_grammar_stops_before_the_number_and_lists_the_probe():
    contract = build_contract(PROBED)
    assert contract.grammar.startswith('root ::= "Reason: " sentence " Score:"\n')
    assert contract.probe == tuple(candidates(1, 10, terminator="/10"))


def test_probed_contract_check_stores_value_rationale_and_distribution():
    contract = build_contract(PROBED)
    probs = [0.0] * 7 + [0.2, 0.3, 0.5]
    out = json.loads(contract.check("Reason: It names duties, skills and pay. Score:", probs=probs))
    assert out["value"] == 9 and out["expected"] == 9.3
    assert out["rationale"] == "It names duties, skills and pay."


@pytest.mark.parametrize("raw, probs, words", [
    ("Reason: It names duties, skills and pay. Score:", None, "no probabilities"),
    ("Score: 7/10. Reason: fine.", [0.1] * 10, "rationale is not one complete sentence"),
    ("Reason: Short. Score:", [0.1] * 10, "rationale is not one complete sentence"),
])
def test_probed_contract_violations(raw, probs, words):
    with pytest.raises(ContractViolation, match=words):
        build_contract(PROBED).check(raw, probs=probs)


def test_probe_needs_a_rationale():
    with pytest.raises(WorkflowError, match="rationale"):
        build_contract({"type": "int", "min": 1, "max": 10, "probe": True})


def test_unprobed_contract_is_unchanged():
    contract = build_contract({"type": "int", "min": 1, "max": 10, "rationale": True})
    assert contract.probe == ()
    assert json.loads(contract.check("Score: 7/10. Reason: It names the duties.")) == {
        "value": 7, "rationale": "It names the duties."}
