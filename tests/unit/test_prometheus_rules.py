"""deploy/prometheus: the alert and recording rules pass `promtool check rules` and their
unit tests (`promtool test rules`), and name only metrics the code exports.

promtool comes with Debian's `prometheus` package; `make test` installs it when missing
(scripts/ci-tools.sh)."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
import yaml
from prometheus_client import REGISTRY

from projector.metrics import ProjectorMetrics
from wavestream import PROJECT_ROOT
from wavestream import metrics as _worker_metrics  # noqa: F401 - registers the shared metrics

pytestmark = pytest.mark.unit

RULES = PROJECT_ROOT / "deploy" / "prometheus"


def _promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is not installed: apt-get install prometheus (make test runs scripts/ci-tools.sh)"
    return path


def test_rules_are_valid():
    result = subprocess.run([_promtool(), "check", "rules", "alerts.yml"], cwd=RULES, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def test_rule_unit_tests_pass():
    result = subprocess.run([_promtool(), "test", "rules", "tests.yml"], cwd=RULES, capture_output=True,
                            text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout + result.stderr


def _exported() -> set[str]:
    names = set()
    for registry in (REGISTRY, ProjectorMetrics().registry):
        for family in registry.collect():
            suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}.get(family.type, [""])
            names.update(family.name + s for s in suffixes)
    return names


def test_rules_name_only_exported_metrics():
    groups = yaml.safe_load((RULES / "alerts.yml").read_text())["groups"]
    exprs = [rule["expr"] for group in groups for rule in group["rules"]]
    used = {name for expr in exprs for name in re.findall(r"\b(wavestream_[a-z_]+)\b", expr)}
    assert used, "no wavestream metric referenced"
    assert not used - _exported(), f"metrics the code does not export: {sorted(used - _exported())}"


def test_every_alert_of_the_issue_is_there():
    groups = yaml.safe_load((RULES / "alerts.yml").read_text())["groups"]
    alerts = {rule["alert"] for group in groups for rule in group["rules"] if "alert" in rule}
    assert {"WavestreamConsumerLagGrowing", "WavestreamPartitionStalled", "WavestreamCircuitOpen",
            "WavestreamDeadLetters", "WavestreamProjectorErrors", "WavestreamProcessDown"} <= alerts
    tested = set(re.findall(r"alertname: (\w+)", (RULES / "tests.yml").read_text()))
    assert alerts <= tested, f"alerts without a rule unit test: {sorted(alerts - tested)}"
