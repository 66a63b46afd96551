"""The demo's worker processes (issue 13.2): one per model for the LLM stages, one per
script or human stage, in workflow order."""

from __future__ import annotations

import pytest
import yaml

from wavestream.demo import WORKFLOW, worker_groups

pytestmark = pytest.mark.unit


def test_default_workflow_runs_one_llm_worker_for_its_model():
    assert worker_groups(WORKFLOW) == [("validate_posting",), ("summarize", "extract_skills", "score"),
                                       ("error_handler",)]


def test_stages_group_by_model_and_script_and_human_stages_stay_alone(tmp_path):
    def llm(model):
        return {"actor": {"kind": "llm", "model": model}, "prompt": "{posting.title}",
                "branches": [{"when": "*", "next": "done"}]}

    stages = {"a": llm("small"), "b": {"actor": {"kind": "script", "callable": "echo"}, "branches": []},
              "c": llm("large"), "d": llm("small"), "e": {"actor": {"kind": "human"}, "branches": []},
              "f": {"actor": {"kind": "script", "callable": "echo"}, "branches": []}}
    doc = {"name": "mixed", "entry_points": [{"when": "*", "stage": "a"}], "stages": stages,
           "models": {"small": {"path": "small.gguf"}, "large": {"path": "large.gguf"}}}
    path = tmp_path / "mixed.yaml"
    path.write_text(yaml.safe_dump(doc))
    assert worker_groups(path) == [("a", "d"), ("b",), ("c",), ("e",), ("f",)]
