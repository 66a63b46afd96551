"""The score from the model's probabilities (consumers.scoring) and the probed int
contract that stores it."""

from __future__ import annotations

import json
import math

import pytest

from consumers.contracts import ContractViolation, build_contract
from consumers.exceptions import PermanentActorError, WorkflowError
from consumers.scoring import (
    ScoreError, candidates, distribution, expected_value, rescaled, round_half_up, score_of, score_output,
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


BARE = {"type": "int", "min": 1, "max": 10, "probe": True}


def test_probe_without_rationale_writes_score_and_stores_no_rationale():
    contract = build_contract(BARE)
    assert contract.grammar == 'root ::= "Score:"\n'
    out = json.loads(contract.check("Score:", probs=[0.0] * 7 + [0.2, 0.3, 0.5]))
    assert out == {"value": 9, "expected": 9.3, "distribution": {**{str(v): 0.0 for v in range(1, 8)},
                                                               "8": 0.2, "9": 0.3, "10": 0.5}}
    assert parse_score(json.dumps(out)) == (9, None)
    with pytest.raises(ContractViolation, match="'Score:'"):
        contract.check("Score: 7", probs=[0.1] * 10)


def test_rescaled_maps_the_span_onto_the_scale_and_keeps_the_order():
    assert rescaled(6.4, (6.4, 8.2), 1, 10) == pytest.approx(1.0)
    assert rescaled(8.2, (6.4, 8.2), 1, 10) == pytest.approx(10.0)
    assert rescaled(7.3, (6.4, 8.2), 1, 10) == pytest.approx(5.5)
    assert rescaled(5.0, (6.4, 8.2), 1, 10) == 1.0 and rescaled(9.9, (6.4, 8.2), 1, 10) == 10.0  # clamped
    # A narrow band of expected values (6.5 .. 8.1) rounds to 2 distinct scores; mapped
    # from the span it gives 6, in the same order.
    dists = [distribution(VALUES, [0.0] * 5 + [1 - f, f, 0, 0, 0]) for f in (0.5, 0.9)]  # expected 6.5, 6.9
    dists += [distribution(VALUES, [0.0] * 6 + [1 - f, f, 0, 0]) for f in (0.3, 0.7, 0.9)]  # 7.3, 7.7, 7.9
    dists += [distribution(VALUES, [0.0] * 7 + [0.9, 0.1, 0])]  # 8.1
    plain = [score_of(d) for d in dists]
    spread = [score_of(d, (6.4, 8.2)) for d in dists]
    assert plain == [7, 7, 7, 8, 8, 8]
    assert spread == sorted(spread) and len(set(spread)) == 6 and spread[0] <= 2 and spread[-1] == 10


def test_span_is_stored_raw_and_applied_to_the_value():
    contract = build_contract({**BARE, "span": [6, 9]})
    out = json.loads(contract.check("Score:", probs=[0.0] * 6 + [0.5, 0.5, 0.0, 0.0]))
    assert out["expected"] == 7.5 and out["value"] == 6  # 1 + 9 * 1.5 / 3 = 5.5, rounded half up


@pytest.mark.parametrize("spec, words", [
    ({"type": "int", "min": 1, "max": 10, "span": [6, 8]}, "probe"),
    ({**BARE, "span": [8, 6]}, "span"),
    ({**BARE, "span": [0, 8]}, "span"),
    ({**BARE, "span": "6-8"}, "span"),
])
def test_span_is_checked_when_the_workflow_loads(spec, words):
    with pytest.raises(WorkflowError, match=words):
        build_contract(spec)


def test_unprobed_contract_is_unchanged():
    contract = build_contract({"type": "int", "min": 1, "max": 10, "rationale": True})
    assert contract.probe == ()
    assert json.loads(contract.check("Score: 7/10. Reason: It names the duties.")) == {
        "value": 7, "rationale": "It names the duties."}
