"""Every check of DESIGN §4, run by ``wavestream validate`` and by each worker at start.

Errors (the workflow must not run): unknown stages in entry points / error handler /
branch targets, actors that do not resolve (unknown model, unimportable script),
missing model files, placeholders that are not posting fields or not outputs of stages
upstream on *every* path. Warnings: self-loops, stages unreachable from an entry point,
stages without an error branch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from consumers.exceptions import WorkflowError
from consumers.prompt import DERIVED
from consumers.workflow import DONE, STATUSES, Stage, Workflow, load_workflow

ERROR = "error"
WARNING = "warning"


@dataclass(frozen=True)
class Problem:
    level: str  # "error" or "warning"
    where: str  # "stage <name>", "entry point <stage>", "model <name>" or "workflow"
    message: str

    def line(self) -> str:
        return f"{self.level}: {self.where}: {self.message}"


@dataclass
class Report:
    """The problems found, plus the sha256 of the workflow and of each model file."""

    workflow: Workflow | None
    problems: list[Problem] = field(default_factory=list)
    model_sha256: dict[str, str] = field(default_factory=dict)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == ERROR]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == WARNING]

    @property
    def ok(self) -> bool:
        return not self.errors

    def raise_for_errors(self) -> None:
        """Raises: WorkflowError listing every error line."""
        if self.errors:
            name = self.workflow.name if self.workflow else "workflow"
            raise WorkflowError(f"workflow {name} is invalid: " + "; ".join(p.line() for p in self.errors),
                                [p.line() for p in self.errors])


def validate_file(path: str | Path, *, check_models: bool = True) -> Report:
    """Parse and validate; shape problems of an unparsable file become error lines."""
    try:
        workflow = load_workflow(path)
    except WorkflowError as exc:
        return Report(None, [Problem(ERROR, _where_of(line), _message_of(line)) for line in exc.problems])
    return validate_workflow(workflow, check_models=check_models)


def _where_of(line: str) -> str:
    return line.split(":", 1)[0] if ":" in line else "workflow"


def _message_of(line: str) -> str:
    return line.split(":", 1)[1].strip() if ":" in line else line


def validate_workflow(workflow: Workflow, *, check_models: bool = True) -> Report:
    """Run every check on a parsed workflow (``check_models=False`` skips hashing)."""
    report = Report(workflow)
    checks = [check_stages_exist, check_actors, check_branch_targets, check_self_loops,
              check_reachable, check_error_branches, check_placeholders]
    for check in checks:
        report.problems.extend(check(workflow))
    if check_models:
        report.problems.extend(check_model_files(workflow, report.model_sha256))
    return report


def check_stages_exist(workflow: Workflow) -> list[Problem]:
    """Entry points, seeded outputs and the error handler name existing stages."""
    problems = []
    for entry in workflow.entry_points:
        if entry.stage not in workflow.stages:
            problems.append(Problem(ERROR, f"entry point {entry.stage}", "stage does not exist"))
        for seeded in entry.outputs:
            if seeded not in workflow.stages:
                problems.append(Problem(ERROR, f"entry point {entry.stage}", f"seeds outputs of unknown stage {seeded!r}"))
    if workflow.error_handler is not None and workflow.error_handler not in workflow.stages:
        problems.append(Problem(ERROR, "workflow", f"error_handler {workflow.error_handler!r} is not a stage"))
    return problems


def check_actors(workflow: Workflow) -> list[Problem]:
    """llm actors name a declared model; script callables import."""
    from consumers.actors.script import resolve_script

    problems = []
    for stage in workflow.stages.values():
        actor = stage.actor
        if actor.kind == "llm" and actor.model not in workflow.models:
            problems.append(Problem(ERROR, f"stage {stage.name}", f"llm actor uses unknown model {actor.model!r}"))
        if actor.kind == "script":
            try:
                resolve_script(actor.callable or "")
            except WorkflowError as exc:
                problems.append(Problem(ERROR, f"stage {stage.name}", str(exc)))
    return problems


def check_model_files(workflow: Workflow, sha256: dict[str, str]) -> list[Problem]:
    """Each model file exists; its sha256 is recorded into ``sha256``."""
    problems = []
    for name, spec in workflow.models.items():
        try:
            sha256[name] = spec.sha256(workflow.base_dir)
        except WorkflowError as exc:
            problems.append(Problem(ERROR, f"model {name}", str(exc).removeprefix(f"model {name}: ")))
    return problems


def check_branch_targets(workflow: Workflow) -> list[Problem]:
    return [
        Problem(ERROR, f"stage {stage.name}", f"branch {b.when!r} goes to unknown stage {b.next!r}")
        for stage in workflow.stages.values()
        for b in stage.branches
        if b.next != DONE and b.next not in workflow.stages
    ]


def check_self_loops(workflow: Workflow) -> list[Problem]:
    return [
        Problem(WARNING, f"stage {stage.name}", f"branch {b.when!r} loops back to the stage itself")
        for stage in workflow.stages.values()
        for b in stage.branches
        if b.next == stage.name
    ]


def check_error_branches(workflow: Workflow) -> list[Problem]:
    """Every stage but the error handler has a branch for a failure status."""
    return [
        Problem(WARNING, f"stage {stage.name}",
                f"no error branch ({'/'.join(STATUSES)}); failures go to the error handler"
                if workflow.error_handler else f"no error branch ({'/'.join(STATUSES)}) and no error_handler")
        for stage in workflow.stages.values()
        if stage.name != workflow.error_handler and not any(b.is_failure for b in stage.branches)
    ]


def edges(workflow: Workflow) -> list[tuple[str, str, bool]]:
    """(from, to, success) for every branch to a stage, plus the implicit failure edge
    to the error handler of each stage that lacks a `*` or a `[FAILED]` branch."""
    result = []
    handler = workflow.error_handler if workflow.error_handler in workflow.stages else None
    for stage in workflow.stages.values():
        for b in stage.branches:
            if b.next in workflow.stages:
                result.append((stage.name, b.next, not b.is_failure))
        whens = {b.when for b in stage.branches}
        if handler and stage.name != handler and not {"*", "[FAILED]"} <= whens:
            result.append((stage.name, handler, False))
    return result


def check_reachable(workflow: Workflow) -> list[Problem]:
    """Stages no path from an entry point reaches (warning)."""
    seen = _reachable(workflow)
    return [Problem(WARNING, f"stage {name}", "unreachable from every entry point")
            for name in workflow.stages if name not in seen]


def _reachable(workflow: Workflow) -> set[str]:
    graph: dict[str, list[str]] = {}
    for src, dst, _ in edges(workflow):
        graph.setdefault(src, []).append(dst)
    todo = [e.stage for e in workflow.entry_points if e.stage in workflow.stages]
    seen: set[str] = set()
    while todo:
        name = todo.pop()
        if name not in seen:
            seen.add(name)
            todo.extend(graph.get(name, ()))
    return seen


def guaranteed_outputs(workflow: Workflow) -> dict[str, set[str]]:
    """For each reachable stage, the stages whose outputs are present on *every* path
    to it: the intersection over entries (their seeded outputs) and incoming edges
    (the source's guaranteed set, plus the source itself on a success edge)."""
    reachable = _reachable(workflow)
    universe = set(workflow.stages)
    incoming: dict[str, list[tuple[str, bool]]] = {}
    for src, dst, success in edges(workflow):
        if src in reachable:
            incoming.setdefault(dst, []).append((src, success))
    seeds: dict[str, list[set[str]]] = {}
    for entry in workflow.entry_points:
        seeds.setdefault(entry.stage, []).append(set(entry.outputs))
    guaranteed = {name: set(universe) for name in reachable}
    changed = True
    while changed:  # monotone decreasing sets over a finite lattice: terminates
        changed = False
        for name in reachable:
            sources = list(seeds.get(name, []))
            sources += [guaranteed[src] | ({src} if success else set()) for src, success in incoming.get(name, [])]
            new = set.intersection(*sources) if sources else set()
            if new != guaranteed[name]:
                guaranteed[name], changed = new, True
    return guaranteed


def _posting_fields() -> set[str]:
    from wavestream.schemas import load_schemas

    return {f["name"] for f in load_schemas().current["Posting"].raw["fields"]}


def check_placeholders(workflow: Workflow) -> list[Problem]:
    """Prompt placeholders are posting fields or outputs guaranteed upstream; entry
    point conditions and seeds name posting fields (a prompt may also use the derived
    ``posting.language``)."""
    fields = _posting_fields()
    guaranteed = guaranteed_outputs(workflow)
    problems = [p for entry in workflow.entry_points for p in _entry_fields(entry, fields)]
    for stage in workflow.stages.values():
        for name in stage.placeholders():
            message = _placeholder_problem(name, stage, fields | set(DERIVED), guaranteed, workflow)
            if message:
                problems.append(Problem(ERROR, f"stage {stage.name}", message))
    return problems


def _entry_fields(entry, fields: set[str]) -> list[Problem]:
    used = list(entry.outputs.values())
    if isinstance(entry.when, dict):
        used += [entry.when["has"]] if "has" in entry.when else list(entry.when["equals"])
    return [Problem(ERROR, f"entry point {entry.stage}", f"{name!r} is not a posting field")
            for name in used if name.split(".")[0] not in fields]


def _placeholder_problem(name: str, stage: Stage, fields: set[str], guaranteed: dict[str, set[str]],
                         workflow: Workflow) -> str | None:
    root, _, rest = name.partition(".")
    if root == "posting":
        head = rest.split(".")[0]
        if head not in fields or (head == "attributes" and rest.count(".") != 1) or (
                head != "attributes" and "." in rest):
            return f"placeholder {{{name}}} is not a posting field"
        return None
    if root == "outputs" and rest and "." not in rest:
        if rest not in workflow.stages:
            return f"placeholder {{{name}}} names no stage"
        if stage.name in guaranteed and rest not in guaranteed[stage.name]:
            return f"placeholder {{{name}}}: stage {rest} is not upstream on every path"
        return None
    return f"placeholder {{{name}}} must be posting.<field> or outputs.<stage>"
