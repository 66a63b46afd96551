"""The workflow model: routing, entry points, rendering, backoff."""

from __future__ import annotations

from pathlib import Path

import pytest

from consumers.workflow import Branch, EntryPoint, RetryPolicy, Stage, ActorSpec, load_workflow, render

pytestmark = pytest.mark.unit

ROOT = Path(__file__).resolve().parents[2]


def _stage(*branches: tuple[str, str]) -> Stage:
    return Stage("s", ActorSpec("script", callable="echo"), branches=tuple(Branch(w, n) for w, n in branches))


def test_success_routes_to_first_matching_branch_and_never_to_failure_branches():
    stage = _stage(("[FAILED]", "handler"), ("yes", "accept"), ("re:^no\\b", "reject"), ("*", "other"))
    assert stage.route_success(" yes ").next == "accept"
    assert stage.route_success("no way").next == "reject"
    assert stage.route_success("[FAILED]").next == "other"
    assert _stage(("yes", "a")).route_success("maybe") is None


def test_failure_routes_by_status_with_failed_as_fallback():
    stage = _stage(("[TIMEOUT]", "slow"), ("[FAILED]", "handler"), ("*", "next"))
    assert stage.route_failure("[TIMEOUT]").next == "slow"
    assert stage.route_failure("[ERROR]").next == "handler"
    assert _stage(("*", "next")).route_failure("[FAILED]") is None


def test_unquoted_yaml_status_is_read_as_a_status(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text(
        "name: w\nentry_points: [{when: '*', stage: a}]\n"
        "stages:\n  a:\n    actor: {kind: script, callable: echo}\n    branches:\n"
        "      - {when: [FAILED], next: done}\n      - {when: '*', next: done}\n"
    )
    assert load_workflow(path).stages["a"].branches[0].when == "[FAILED]"


def test_entry_points_choose_by_what_the_posting_carries():
    workflow = load_workflow(ROOT / "workflows" / "default.yaml")
    assert workflow.entry_for({"title": "t", "summary": "s"}).stage == "extract_skills"
    assert workflow.entry_for({"title": "t", "summary": None}).stage == "validate_posting"
    assert workflow.entry_for({"title": "t", "summary": ""}).stage == "validate_posting"
    equals = EntryPoint("x", {"equals": {"attributes.lang": "de"}})
    assert equals.matches({"attributes": {"lang": "de"}}) and not equals.matches({"attributes": {}})


def test_workflow_sha256_is_of_the_file_bytes(tmp_path):
    import hashlib

    text = (ROOT / "workflows" / "default.yaml").read_bytes()
    copy = tmp_path / "copy.yaml"
    copy.write_bytes(text + b"\n# changed\n")
    assert load_workflow(ROOT / "workflows" / "default.yaml").sha256 == hashlib.sha256(text).hexdigest()
    assert load_workflow(copy).sha256 != hashlib.sha256(text).hexdigest()


def test_render_fills_posting_fields_attributes_and_outputs_and_keeps_other_braces():
    command = {"posting": {"title": "Dev", "company": None, "attributes": {"team": "core"}},
               "outputs": {"summarize": "short"}}
    template = '{posting.title}|{posting.company}|{posting.attributes.team}|{outputs.summarize}|{"k": 1}'
    assert render(template, command) == 'Dev||core|short|{"k": 1}'


def test_backoff_is_exponential_and_capped():
    policy = RetryPolicy(max_attempts=5, backoff_base_ms=100, backoff_cap_ms=350)
    assert [policy.backoff_ms(a) for a in (1, 2, 3, 4)] == [100, 200, 350, 350]
