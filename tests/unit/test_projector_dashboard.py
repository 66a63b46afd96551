"""``wavestream status`` output: percentages, the stale threshold, lag labels, and the
checks a workflow implies (no services)."""

from __future__ import annotations

import hashlib

import pytest
import yaml

from consumers.workflow import load_workflow, parse_workflow
from projector.checks import completion_guarantees, workflow_checks
from projector.dashboard import percent, render
from wavestream import PROJECT_ROOT
from wavestream.config import DashboardSettings
from wavestream.exceptions import ConfigError

pytestmark = pytest.mark.unit


def report(**overrides) -> dict:
    base = {
        "workflow_summary": {"postings": 3, "by_status": {"completed": 3}, "completion_pct": 100.0,
                             "finished_pct": 100.0},
        "stage_completion": [{"stage": "score", "executions": 3, "completed": 3, "failed": 0, "postings": 3,
                              "completion_rate": 1.0, "avg_duration_ms": 12.5}],
        "actor_performance": [{"actor_name": "smollm2", "actor_kind": "llm", "calls": 40, "success_rate": 0.975,
                               "duration_ms_min": 1, "avg_duration_ms": 2.0, "p95_duration_ms": 3,
                               "duration_ms_max": 4, "tokens_per_s": 50.0}],
        "error_patterns": [], "projector_errors": [], "stale_after_minutes": 30, "stale_interactions": [],
        "throughput_per_hour": [],
        "consumer_lag": {"groups": [{"group": "wavestream-stage-score", "topic": "stage.score", "lag": 12,
                                     "partitions": 3, "uncommitted": 1, "behind": 2}], "projector": []},
    }
    base.update(overrides)
    return base


def _row(text: str, first: str) -> list[str]:
    (line,) = [ln for ln in text.splitlines() if ln.split()[:1] == [first]]
    return line.split()


def test_rates_print_as_percentages():
    text = render(report())
    assert _row(text, "score")[4] == "100%"  # completion rate of 1.0 (printed `1` before)
    assert _row(text, "smollm2")[3] == "97.5%"
    assert [percent(v) for v in (1, 0.9753, 0, 0.5, None)] == ["100%", "97.5%", "0%", "50%", "-"]


def test_the_stale_threshold_is_shown():
    assert "== stale interactions (no event for 45 min)" in render(report(stale_after_minutes=45))


def test_lag_rows_say_what_they_count():
    text = render(report())
    assert "records behind" in text and "transaction markers not counted" in text
    assert _row(text, "wavestream-stage-score")[2:] == ["3", "2", "1", "12"]


def test_the_stale_threshold_is_a_setting():
    assert DashboardSettings.from_env({}).stale_after_minutes == 30
    assert DashboardSettings.from_env({"WAVESTREAM_STALE_AFTER_MINUTES": "5"}).stale_after_minutes == 5
    with pytest.raises(ConfigError, match="STALE_AFTER_MINUTES"):
        DashboardSettings.from_env({"WAVESTREAM_STALE_AFTER_MINUTES": "0"})


def _flow(doc: dict):
    text = yaml.safe_dump(doc)
    return parse_workflow(yaml.safe_load(text), sha256=hashlib.sha256(text.encode()).hexdigest())


def _script(next_: str) -> dict:
    return {"actor": {"kind": "script", "callable": "echo"},
            "branches": [{"when": "[FAILED]", "next": "handler"}, {"when": "*", "next": next_}]}


HANDLER = {"actor": {"kind": "script", "callable": "echo"}, "branches": [{"when": "*", "next": "done"}]}


def test_checks_of_a_workflow_without_summarize():
    flow = _flow({"name": "t", "error_handler": "handler", "entry_points": [{"when": "*", "stage": "a"}],
                  "stages": {"a": _script("b"), "b": _script("done"), "handler": HANDLER}})
    names = [c.name for c in workflow_checks(flow)]
    assert names == ["completed_ran_a", "completed_ran_b", "no_orphaned_events", "no_orphaned_checkpoints"]


def test_only_stages_on_every_successful_path_are_expected():
    # a -> (x | y by value) -> z -> done: x and y are each on some path only.
    a = {"actor": {"kind": "script", "callable": "echo"},
         "branches": [{"when": "[FAILED]", "next": "handler"}, {"when": "left", "next": "x"}, {"when": "*", "next": "y"}]}
    flow = _flow({"name": "t", "error_handler": "handler", "entry_points": [{"when": "*", "stage": "a"}],
                  "stages": {"a": a, "x": _script("z"), "y": _script("z"), "z": _script("done"), "handler": HANDLER}})
    assert completion_guarantees(flow, seeded=lambda e: set()) == {"a", "z"}


def test_checks_of_the_default_workflow():
    checks = {c.name: c for c in workflow_checks(load_workflow(PROJECT_ROOT / "workflows" / "default.yaml"))}
    # A posting with a summary enters at extract_skills: validate and summarize may not run,
    # but the seeded summary still fills postings.summary.
    assert {"completed_ran_extract_skills", "completed_ran_score", "completed_have_summary",
            "completed_have_skills", "completed_have_score", "skills_are_arrays"} <= set(checks)
    assert "completed_ran_summarize" not in checks and "completed_ran_validate_posting" not in checks
    assert checks["score_in_range"].params == {"low": 1, "high": 10}
