"""Script actors: deterministic test actors and callables by dotted path."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from consumers.actors.base import ActorResult
from consumers.actors.human import HumanActor
from consumers.actors.script import ScriptActor, resolve_script
from consumers.exceptions import ActorTimeout, PermanentActorError, RetryableActorError, WorkflowError
from consumers.registry import build_actor
from consumers.workflow import ActorSpec, Stage, Workflow, load_workflow

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = load_workflow(ROOT / "workflows" / "default.yaml")


def _actor(spec: str, **stage_kw) -> ScriptActor:
    return ScriptActor(Stage("s", ActorSpec("script", callable=spec), **stage_kw), WORKFLOW)


def _command(attempt: int = 1, **posting) -> dict:
    return {"attempt": attempt, "posting": {"title": "Engineer", "description": "Build things", **posting},
            "outputs": {}}


def test_echo_returns_the_rendered_prompt_or_the_title():
    assert _actor("echo").run(_command()).output == "Engineer"
    assert _actor("echo", prompt="T={posting.title}").run(_command()).output == "T=Engineer"


def test_events_can_name_the_script_and_its_source_hash():
    result = _actor("echo").run(_command())
    actor = _actor("echo")
    assert result.model_file == "echo" and result.model_sha256 == actor.sha256 and len(actor.sha256) == 64


def test_fail_n_fails_attempts_up_to_n_then_succeeds_in_any_process():
    actor = _actor("fail:2")
    for attempt in (1, 2):
        with pytest.raises(RetryableActorError):
            actor.run(_command(attempt))
    assert _actor("fail:2").run(_command(3)).output == "Engineer"  # a fresh actor: no memory needed


def test_fail_permanent_always_fails_permanently():
    with pytest.raises(PermanentActorError):
        _actor("fail-permanent").run(_command(5))


def test_sleep_echoes_and_times_out_past_the_stage_limit():
    assert _actor("sleep:1").run(_command()).output == "Engineer"
    with pytest.raises(ActorTimeout):
        _actor("sleep:5000", limits={"timeout_s": 0.01}).run(_command())


def test_bad_specs_are_workflow_errors():
    for spec in ("sleep:x", "fail:", "nomodule_xyz:fn", "consumers.actors.script:nothing_here", "justaword"):
        with pytest.raises(WorkflowError):
            resolve_script(spec)


def test_dotted_callables_resolve_in_both_spellings():
    assert resolve_script("consumers.actors.script:record_failure").fn is resolve_script(
        "consumers.actors.script.record_failure").fn


def test_validate_posting_rejects_empty_fields_permanently():
    actor = _actor("consumers.actors.script:validate_posting")
    assert actor.run(_command()).output.startswith("valid:")
    with pytest.raises(PermanentActorError, match="empty description"):
        actor.run(_command(description="  "))


def test_record_failure_describes_the_routed_failure():
    failure = {"stage": "summarize", "status": "[ERROR]", "error_type": "RetryableActorError", "message": "boom"}
    command = {**_command(), "outputs": {"_failure": json.dumps(failure)}}
    assert _actor("consumers.actors.script:record_failure").run(command).output == (
        "summarize [ERROR]: RetryableActorError: boom")


def test_a_script_bug_is_a_permanent_failure_not_a_crash(monkeypatch):
    import consumers.actors.script as script

    def broken(command, stage):
        raise KeyError("oops")

    monkeypatch.setattr(script, "validate_posting", broken)
    with pytest.raises(PermanentActorError, match="KeyError"):
        _actor("consumers.actors.script:validate_posting").run(_command())


def test_registry_builds_script_and_human_actors_and_explains_a_missing_llm(monkeypatch):
    human = build_actor(Stage("review", ActorSpec("human"), prompt="Approve {posting.title}?"), WORKFLOW)
    assert isinstance(human, HumanActor) and human.run(_command()) == ActorResult(output="Approve Engineer?")
    assert isinstance(build_actor(WORKFLOW.stages["validate_posting"], WORKFLOW), ScriptActor)
    import sys

    monkeypatch.setitem(sys.modules, "consumers.actors.llm", None)  # import fails
    with pytest.raises(WorkflowError, match="llm actor is unavailable"):
        build_actor(WORKFLOW.stages["summarize"], WORKFLOW)
    assert isinstance(WORKFLOW, Workflow)
