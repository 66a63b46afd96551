"""One way to put a workflow's llm stages on one model: the tests and benches keep the
fast SmolLM2 (``smollm2``) where the default workflow runs qwen (README "Models and
output quality")."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

from wavestream.events import sha256_hex
from wavestream.resources import default_workflow

DEFAULT_WORKFLOW = default_workflow()

#: Text checks the default workflow's qwen summaries meet and SmolLM2's mostly do not (it
#: names someone the posting does not on 42 of 43 first attempts, bench/quality.py):
#: off on the fast model; tests/unit/test_quality_checks.py covers them.
QWEN_ONLY_CHECKS = ("language_of", "names_from")


def on_model(doc: dict[str, Any], model: str) -> dict[str, Any]:
    """A copy of the workflow document ``doc`` (parsed YAML) with every llm stage on its
    model key ``model``; on ``smollm2`` without :data:`QWEN_ONLY_CHECKS`."""
    doc = copy.deepcopy(doc)
    for stage in doc["stages"].values():
        if stage["actor"].get("kind") == "llm":
            stage["actor"]["model"] = model
            if model == "smollm2":
                stage["output"] = {k: v for k, v in stage["output"].items() if k not in QWEN_ONLY_CHECKS}
    return doc


def default_doc() -> dict[str, Any]:
    """workflows/default.yaml, parsed."""
    return yaml.safe_load(DEFAULT_WORKFLOW.read_text())


def fast_workflow():
    """The default workflow, loaded, with every llm stage on SmolLM2."""
    from consumers.workflow import parse_workflow

    doc = on_model(default_doc(), "smollm2")
    return parse_workflow(doc, sha256=sha256_hex(yaml.safe_dump(doc)), path=DEFAULT_WORKFLOW)


def write_on_model(path: Path, model: str | None, tmp: Path) -> Path:
    """The workflow file ``path`` with every llm stage on ``model``, written under ``tmp``
    (None: ``path`` itself, every stage on its own model)."""
    if model is None:
        return path
    out = tmp / f"{path.stem}-{model}.yaml"
    out.write_text(yaml.safe_dump(on_model(yaml.safe_load(path.read_text()), model), sort_keys=False))
    return out
