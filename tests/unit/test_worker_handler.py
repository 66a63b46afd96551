"""The stage handler and the ingest router without a broker: what one command emits."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone

import pytest
import yaml

from consumers.actors.script import ScriptActor
from consumers.circuit import CircuitBreaker
from consumers.outcome import PoisonRecord
from consumers.router import RouterHandler
from consumers.worker import StageHandler, required_topics
from consumers.workflow import RetryPolicy, load_workflow
from wavestream.codec import AvroCodec

pytestmark = pytest.mark.unit

CODEC = AvroCodec()
NOW = 1_700_000_000.0

WORKFLOW = {
    "name": "unit",
    "error_handler": "handler",
    "entry_points": [{"when": {"has": "summary"}, "stage": "second", "outputs": {"first": "summary"}},
                     {"when": "*", "stage": "first"}],
    "stages": {
        "first": {"actor": {"kind": "script", "callable": "fail:2"}, "prompt": "{posting.title}",
                  "retry": {"max_attempts": 3, "backoff_base_ms": 100, "backoff_cap_ms": 1000},
                  "circuit": {"threshold": 2, "open_timeout_s": 5},
                  "branches": [{"when": "[FAILED]", "next": "handler"}, {"when": "*", "next": "second"}]},
        "second": {"actor": {"kind": "script", "callable": "fail-permanent"},
                   "branches": [{"when": "[FAILED]", "next": "handler"}, {"when": "*", "next": "done"}]},
        "handler": {"actor": {"kind": "script", "callable": "consumers.actors.script:record_failure"},
                    "branches": [{"when": "*", "next": "done"}]},
    },
}


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def workflow(tmp_path):
    path = tmp_path / "unit.yaml"
    path.write_text(yaml.safe_dump(WORKFLOW))
    return load_workflow(path)


def _handler(workflow, stage: str, clock: Clock) -> StageHandler:
    s = workflow.stages[stage]
    circuit = CircuitBreaker(s.circuit.threshold, s.circuit.open_timeout_s, clock)
    return StageHandler(workflow, s, ScriptActor(s, workflow), CODEC, "w-1", circuit, clock=clock)


def _posting(pid: str = "p1", **extra) -> dict:
    return {"posting_id": pid, "title": "Dev", "description": "Write code", "company": None, "location": None,
            "url": None, "source": None, "submitted_at": datetime(2024, 1, 1, tzinfo=timezone.utc),
            "summary": None, "attributes": {}, **extra}


def _command(stage: str, attempt: int = 1, **kw) -> dict:
    base = {"command_id": f"c-{stage}", "posting_id": "p1", "stage": stage, "attempt": attempt,
            "correlation_id": "corr", "causation_id": "cause", "issued_at": int(NOW * 1000), "not_before": None,
            "workflow": "unit", "workflow_sha256": None, "posting": _posting(), "outputs": {}}
    return {**base, **kw}


def _decode(outcome) -> list[tuple[str, dict]]:
    return [(out.topic, CODEC.decode(out.value).value) for out in outcome.outputs]


def _types(decoded) -> list[str]:
    return [v["event_type"] if topic == "events" else f"cmd:{topic}" for topic, v in decoded]


def test_retryable_failure_schedules_a_retry_with_backoff_and_the_same_command_id(workflow):
    clock = Clock()
    decoded = _decode(_handler(workflow, "first", clock).handle(None, _command("first", attempt=2)))
    assert _types(decoded) == ["InteractionFailed", "cmd:stage.first.retry"]
    failed, retry = decoded[0][1], decoded[1][1]
    assert failed["payload"]["will_retry"] and failed["payload"]["error_class"] == "retryable"
    assert failed["workflow_sha256"] == workflow.sha256
    assert retry["command_id"] == "c-first" and retry["attempt"] == 3
    assert retry["not_before"].timestamp() == NOW + 0.2  # base 100 ms * 2**(2-1)


def test_success_on_the_last_attempt_routes_on_with_outputs(workflow):
    decoded = _decode(_handler(workflow, "first", Clock()).handle(None, _command("first", attempt=3)))
    assert _types(decoded) == ["InteractionCompleted", "PostingRouted", "cmd:stage.second"]
    done, nxt = decoded[0][1], decoded[2][1]
    assert done["payload"]["output"] == "Dev" and done["payload"]["actor_kind"] == "script"
    assert done["payload"]["model_sha256"] and done["payload"]["model_file"] == "fail:2"
    assert nxt["attempt"] == 1 and nxt["outputs"] == {"first": "Dev"} and nxt["causation_id"] == done["event_id"]


def test_permanent_failure_goes_to_the_error_branch_and_the_handler_completes_as_failed(workflow):
    clock = Clock()
    decoded = _decode(_handler(workflow, "second", clock).handle(None, _command("second")))
    assert _types(decoded) == ["InteractionFailed", "PostingRouted", "cmd:stage.handler"]
    to_handler = decoded[2][1]
    assert json.loads(to_handler["outputs"]["_failure"])["status"] == "[FAILED]"
    final = _decode(_handler(workflow, "handler", clock).handle(None, to_handler))
    assert _types(final) == ["InteractionCompleted", "PostingCompleted"]
    assert final[0][1]["payload"]["output"].startswith("second [FAILED]: PermanentActorError")
    assert final[1][1]["payload"] == {"final_stage": "handler", "status": "failed"}


def test_exhausted_retries_route_to_the_error_branch(workflow):
    handler = _handler(workflow, "first", Clock())
    handler.stage = replace(workflow.stages["first"], retry=RetryPolicy(max_attempts=2))  # fail:2 never succeeds
    decoded = _decode(handler.handle(None, _command("first", attempt=2)))
    assert _types(decoded) == ["InteractionFailed", "PostingRouted", "cmd:stage.handler"]
    assert decoded[0][1]["payload"]["will_retry"] is False


def test_a_retry_not_yet_due_is_deferred_and_produces_nothing(workflow):
    clock = Clock()
    outcome = _handler(workflow, "first", clock).handle(None, _command("first", not_before=int(NOW * 1000) + 500))
    assert outcome.outputs == () and outcome.defer_until == NOW + 0.5


def test_a_command_for_another_stage_is_poison(workflow):
    with pytest.raises(PoisonRecord):
        _handler(workflow, "first", Clock()).handle(None, _command("second"))


def test_same_command_twice_emits_identical_records(workflow):
    one = _handler(workflow, "first", Clock()).handle(None, _command("first", attempt=3))
    two = _handler(workflow, "first", Clock()).handle(None, _command("first", attempt=3))
    assert one.outputs == two.outputs


def test_circuit_opens_at_the_threshold_and_closes_after_a_good_probe(workflow):
    clock = Clock()
    handler = _handler(workflow, "first", clock)
    assert _types(_decode(handler.handle(None, _command("first"))))[-1] == "cmd:stage.first.retry"
    opened = _decode(handler.handle(None, _command("first", command_id="c2", posting_id="p2")))
    assert _types(opened) == ["InteractionFailed", "CircuitOpened", "cmd:stage.first.retry"]
    assert opened[1][1]["payload"]["failures"] == 2
    assert not handler.circuit.admits() and handler.circuit.blocked_until() == NOW + 5
    clock.now += 5
    assert handler.circuit.admits()  # half-open: one probe
    closed = _decode(handler.handle(None, _command("first", attempt=3)))
    assert _types(closed) == ["InteractionCompleted", "PostingRouted", "CircuitClosed", "cmd:stage.second"]


def test_router_picks_the_entry_point_and_seeds_outputs(workflow):
    router = RouterHandler(workflow, CODEC, "router-1", clock=Clock())
    plain = _decode(router.handle(None, _posting()))
    assert _types(plain) == ["PostingReceived", "PostingRouted", "cmd:stage.first"]
    summarized = _decode(router.handle(None, _posting(summary="Short.")))
    assert _types(summarized) == ["PostingReceived", "PostingRouted", "cmd:stage.second"]
    assert summarized[2][1]["outputs"] == {"first": "Short."}
    assert plain[0][1]["event_id"] == _decode(router.handle(None, _posting()))[0][1]["event_id"]


def test_required_topics_cover_reads_writes_and_the_error_handler(workflow):
    assert required_topics(workflow, workflow.stages["first"]) == [
        "stage.first", "stage.first.retry", "events", "deadletter", "commands.state.unit", "stage.handler",
        "stage.second"]


def test_two_workflows_routing_one_posting_emit_different_ids(workflow, tmp_path):
    other_path = tmp_path / "other.yaml"
    other_path.write_text(yaml.safe_dump({**WORKFLOW, "name": "other"}))
    other = load_workflow(other_path)
    ours = _decode(RouterHandler(workflow, CODEC, "r", clock=Clock()).handle(None, _posting()))
    theirs = _decode(RouterHandler(other, CODEC, "r", clock=Clock()).handle(None, _posting()))
    assert {v.get("event_id") or v["command_id"] for _, v in ours}.isdisjoint(
        {v.get("event_id") or v["command_id"] for _, v in theirs})


class _BreaksContract:
    """An actor whose every output breaks its contract (as an llm actor reports it)."""

    name, kind, awaits_decision = "breaker", "llm", False

    def run(self, command):
        from consumers.exceptions import ContractBreak
        raise ContractBreak("stage first: summary names Chipotle, which the posting does not")


def test_a_contract_break_is_retried_with_the_next_attempt_then_fails_and_never_opens_the_circuit(workflow):
    clock = Clock()
    s = workflow.stages["first"]  # threshold 2, max_attempts 3
    circuit = CircuitBreaker(s.circuit.threshold, s.circuit.open_timeout_s, clock)
    handler = StageHandler(workflow, s, _BreaksContract(), CODEC, "w-1", circuit, clock=clock)
    first = _decode(handler.handle(None, _command("first", attempt=1)))
    assert _types(first) == ["InteractionFailed", "cmd:stage.first.retry"]
    assert first[0][1]["payload"]["error_type"] == "ContractBreak" and first[1][1]["attempt"] == 2
    _decode(handler.handle(None, _command("first", attempt=2)))
    last = _decode(handler.handle(None, _command("first", attempt=3)))
    assert _types(last)[:2] == ["InteractionFailed", "PostingRouted"] and "cmd:stage.handler" in _types(last)
    assert not last[0][1]["payload"]["will_retry"]
    assert "CircuitOpened" not in _types(first) + _types(last) and circuit.admits()
