"""Parsing a workflow YAML file into the model of :mod:`consumers.workflow`.

Only *shape* is checked here (types, required keys); semantic checks live in
:mod:`consumers.validate`.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import yaml

from consumers.exceptions import WorkflowError
from consumers.workflow import (
    ACTOR_KINDS, ANY, DONE, OUTPUT_TYPES, ActorSpec, Branch, CircuitPolicy, EntryPoint, ModelSpec, RetryPolicy,
    Stage, Workflow,
)

_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


def load_workflow(path: str | Path) -> Workflow:
    """Read and parse a workflow file.

    Raises:
        WorkflowError: the file cannot be read, is not YAML, or has shape problems
            (``problems`` lists each one, naming the stage).
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
        doc = yaml.safe_load(raw)
    except (OSError, yaml.YAMLError) as exc:
        raise WorkflowError(f"cannot read workflow {path}: {exc}") from exc
    return parse_workflow(doc, sha256=hashlib.sha256(raw).hexdigest(), path=path)


def parse_workflow(doc: Any, *, sha256: str, path: Path | None = None) -> Workflow:
    """Build a :class:`Workflow` from a loaded YAML document.

    Raises:
        WorkflowError: with one problem per shape error.
    """
    problems: list[str] = []
    if not isinstance(doc, dict):
        raise WorkflowError("workflow: the document must be a mapping")
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        problems.append("workflow: `name` must be a non-empty string")
    stages_doc = doc.get("stages")
    if not isinstance(stages_doc, dict) or not stages_doc:
        problems.append("workflow: `stages` must be a non-empty mapping")
        stages_doc = {}
    stages = {}
    for stage_name, stage_doc in stages_doc.items():
        stage = _parse_stage(str(stage_name), stage_doc, problems)
        if stage is not None:
            stages[stage.name] = stage
    entries = _parse_entry_points(doc.get("entry_points"), problems)
    models = _parse_models(doc.get("models") or {}, problems)
    handler = doc.get("error_handler")
    if handler is not None and not isinstance(handler, str):
        problems.append("workflow: `error_handler` must be a stage name")
    if problems:
        raise WorkflowError(f"workflow {path or name} is malformed", problems)
    return Workflow(name=name, stages=stages, entry_points=entries, error_handler=handler, models=models,
                    sha256=sha256, path=path, version=doc.get("version"))


def _mapping(value: Any, where: str, problems: list[str]) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        problems.append(f"{where} must be a mapping")
        return {}
    return value


def _parse_stage(name: str, doc: Any, problems: list[str]) -> Stage | None:
    where = f"stage {name}"
    if not _NAME.match(name) or name == DONE:
        problems.append(f"{where}: name must match [a-z][a-z0-9_]* and not be `{DONE}`")
    if not isinstance(doc, dict):
        problems.append(f"{where}: must be a mapping")
        return None
    actor = _parse_actor(doc.get("actor"), where, problems)
    prompt = doc.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        problems.append(f"{where}: `prompt` must be a string")
        prompt = None
    output = _mapping(doc.get("output"), f"{where}: `output`", problems) or {"type": "text"}
    if output.get("type", "text") not in OUTPUT_TYPES:
        problems.append(f"{where}: output type must be one of {', '.join(OUTPUT_TYPES)}")
    limits = _mapping(doc.get("limits"), f"{where}: `limits`", problems)
    retry = _parse_policy(RetryPolicy, doc.get("retry"), f"{where}: `retry`", problems)
    circuit = _parse_policy(CircuitPolicy, doc.get("circuit"), f"{where}: `circuit`", problems)
    branches = _parse_branches(doc.get("branches"), where, problems)
    if actor is None or retry is None or circuit is None:
        return None
    return Stage(name, actor, prompt, output, limits, retry, circuit, branches)


def _parse_actor(doc: Any, where: str, problems: list[str]) -> ActorSpec | None:
    if not isinstance(doc, dict) or doc.get("kind") not in ACTOR_KINDS:
        problems.append(f"{where}: `actor` must be a mapping with kind {' | '.join(ACTOR_KINDS)}")
        return None
    options = {k: v for k, v in doc.items() if k not in ("kind", "model", "callable")}
    spec = ActorSpec(doc["kind"], doc.get("model"), doc.get("callable"), options)
    if spec.kind == "llm" and not isinstance(spec.model, str):
        problems.append(f"{where}: an llm actor needs `model` (a key of `models`)")
    if spec.kind == "script" and not isinstance(spec.callable, str):
        problems.append(f"{where}: a script actor needs `callable`")
    return spec


def _parse_policy(kind: type, doc: Any, where: str, problems: list[str]) -> Any:
    doc = _mapping(doc, where, problems)
    known = set(kind.__dataclass_fields__)
    unknown = sorted(set(doc) - known)
    if unknown:
        problems.append(f"{where}: unknown keys {', '.join(unknown)}")
        return None
    if any(not isinstance(v, (int, float)) or isinstance(v, bool) or v <= 0 for v in doc.values()):
        problems.append(f"{where}: values must be positive numbers")
        return None
    if "max_attempts" in doc and int(doc["max_attempts"]) != doc["max_attempts"]:
        problems.append(f"{where}: max_attempts must be an integer")
        return None
    return kind(**doc)


def _parse_branches(doc: Any, where: str, problems: list[str]) -> tuple[Branch, ...]:
    if doc is None:
        return ()
    if not isinstance(doc, list):
        problems.append(f"{where}: `branches` must be a list")
        return ()
    branches = []
    for item in doc:
        if not isinstance(item, dict) or not isinstance(item.get("next"), str) or "when" not in item:
            problems.append(f"{where}: each branch needs `when` and `next`, got {item!r}")
            continue
        when = item["when"]
        if isinstance(when, list) and len(when) == 1 and isinstance(when[0], str):
            when = f"[{when[0]}]"  # unquoted YAML `when: [FAILED]` is a one-item list
        branches.append(Branch(str(when), item["next"]))
    return tuple(branches)


def _parse_entry_points(doc: Any, problems: list[str]) -> tuple[EntryPoint, ...]:
    if not isinstance(doc, list) or not doc:
        problems.append("workflow: `entry_points` must be a non-empty list")
        return ()
    entries = []
    for item in doc:
        if not isinstance(item, dict) or not isinstance(item.get("stage"), str):
            problems.append(f"workflow: each entry point needs `stage`, got {item!r}")
            continue
        when = item.get("when", ANY)
        if not (when == ANY or _valid_when(when)):
            problems.append(f"entry point {item['stage']}: `when` must be \"*\", {{has: field}} or {{equals: {{...}}}}")
            continue
        outputs = item.get("outputs") or {}
        if not isinstance(outputs, dict) or not all(isinstance(v, str) for v in outputs.values()):
            problems.append(f"entry point {item['stage']}: `outputs` must map stage names to posting fields")
            continue
        entries.append(EntryPoint(item["stage"], when, {str(k): v for k, v in outputs.items()}))
    return tuple(entries)


def _valid_when(when: Any) -> bool:
    if not isinstance(when, dict) or len(when) != 1:
        return False
    if "has" in when:
        return isinstance(when["has"], str)
    return isinstance(when.get("equals"), dict)


def _parse_models(doc: Any, problems: list[str]) -> dict[str, ModelSpec]:
    models = {}
    for name, spec in _mapping(doc, "workflow: `models`", problems).items():
        sources = [k for k in ("path", "package", "catalogue") if isinstance(spec, dict) and spec.get(k)]
        if len(sources) != 1:
            problems.append(f"model {name}: needs one of `path`, `package` or `catalogue`")
            continue
        options = {k: v for k, v in spec.items() if k not in ("path", "package", "file", "catalogue")}
        models[str(name)] = ModelSpec(str(name), spec.get("path"), spec.get("package"), spec.get("file"), options,
                                      catalogue=spec.get("catalogue"))
    return models
