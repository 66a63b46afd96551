"""The score stage with the real model: the score comes from the model's probabilities
over 1..10 right after "Score:", so two clearly different postings get different scores,
each stored with its distribution. No mock: llama.cpp runs the workflow's own model (the
catalogue model the default workflow names: qwen2.5-coder-0.5b)."""

from __future__ import annotations

import json
import math

import pytest

from consumers.scoring import rescaled
from wavestream import PROJECT_ROOT

pytestmark = pytest.mark.e2e

pytest.importorskip("llama_cpp")

EVAL = PROJECT_ROOT / "examples" / "eval" / "postings.jsonl"
PRECISE, VAGUE = "eval-01", "eval-25"  # backend engineer: stack, duties, place, pay / "Finance Guru": "money stuff"


def _posting(posting_id: str) -> dict:
    for line in EVAL.read_text().splitlines():
        row = json.loads(line)
        if row["posting_id"] == posting_id:
            return {"company": None, "location": None, "url": None, "source": None, "summary": None,
                    "attributes": {}, "submitted_at": 0, **row}
    raise LookupError(posting_id)


def test_a_precise_and_a_vague_posting_score_apart():
    from consumers.actors.llm import LlmActor
    from consumers.workflow import load_workflow

    workflow = load_workflow(PROJECT_ROOT / "workflows" / "default.yaml")
    actor = LlmActor(workflow.stages["score"], workflow, overrides={"threads": 2})
    outputs = {}
    for posting_id in (PRECISE, VAGUE):
        posting = _posting(posting_id)
        # What the upstream stages hand the score stage: a summary and the skills (the
        # posting's own first sentences and its labelled skills, so only the score runs).
        summary = " ".join(posting["description"].split(". ")[:2])
        command = {"posting": posting, "attempt": 1,
                   "outputs": {"summarize": summary, "extract_skills": json.dumps(posting["gold"]["skills"])}}
        outputs[posting_id] = json.loads(actor.run(command).output)
    span = actor.contract.span
    for out in outputs.values():
        assert set(out["distribution"]) == {str(v) for v in range(1, 11)}
        assert math.isclose(sum(out["distribution"].values()), 1.0, abs_tol=0.01)
        # the expected value, rescaled from span, rounded (stored figures are rounded: 0.01 slack)
        assert abs(out["value"] - rescaled(out["expected"], span, 1, 10)) <= 0.51, out
        assert "rationale" not in out
    # Two clearly different postings get different scores, the precise one the higher.
    assert outputs[PRECISE]["value"] > outputs[VAGUE]["value"], outputs
    assert outputs[PRECISE]["expected"] > outputs[VAGUE]["expected"], outputs
