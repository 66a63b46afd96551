"""The data-quality checks of ``wavestream status --check``, derived from the workflow.

A successful journey (a posting ``completed``, not ``failed``) only follows success
branches from an entry point to ``done``. From the workflow's graph:

- ``completed_ran_<stage>``: every completed posting has a checkpoint of each stage that
  lies on every successful path from every entry point (a stage an entry point seeds
  from the posting is not run, so it is not expected);
- ``completed_have_<column>``: the ``postings`` column a stage fills (summary, skills,
  score: see :mod:`projector.fold`) is set on every completed posting when that stage's
  output is on every successful path (a seeded summary counts: the fold copies it);
- ``score_in_range``: the score lies in the score stage's ``int`` contract range;
- ``skills_are_arrays``: the skills are a JSON array when the skills stage's contract
  says so;
- ``no_orphaned_events`` / ``no_orphaned_checkpoints``: whatever the workflow.

So a workflow without a ``summarize`` stage is not expected to produce summaries.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from projector.fold import SCORE_STAGES, SKILLS_STAGES, SUMMARY_STAGES


@dataclass(frozen=True)
class Check:
    name: str
    description: str
    #: A query giving (violations, up to 5 sample posting ids).
    query: str
    params: dict[str, Any] = field(default_factory=dict)


_SAMPLE = "SELECT count(*), (array_agg(p.posting_id ORDER BY p.posting_id))[1:5] FROM postings p"
#: postings column -> the stage names whose output fills it (projector.fold).
_COLUMNS = {"summary": SUMMARY_STAGES, "skills": SKILLS_STAGES, "score": SCORE_STAGES}

GENERIC_CHECKS = (
    Check("no_orphaned_events", "every posting event belongs to a posting row",
          "SELECT count(*), (array_agg(DISTINCT e.posting_id))[1:5] FROM execution_events e"
          " WHERE e.event_type NOT IN ('CircuitOpened', 'CircuitClosed')"
          " AND NOT EXISTS (SELECT 1 FROM postings p WHERE p.posting_id = e.posting_id)"),
    Check("no_orphaned_checkpoints", "every checkpoint belongs to a posting row",
          "SELECT count(*), (array_agg(DISTINCT c.posting_id))[1:5] FROM posting_state_checkpoints c"
          " WHERE NOT EXISTS (SELECT 1 FROM postings p WHERE p.posting_id = c.posting_id)"),
)


def workflow_checks(workflow: Any) -> list[Check]:
    """The checks a :class:`consumers.workflow.Workflow` implies, then the generic ones."""
    ran = completion_guarantees(workflow, seeded=lambda entry: set())
    filled = completion_guarantees(workflow, seeded=lambda entry: set(entry.outputs) & SUMMARY_STAGES)
    checks = [Check(f"completed_ran_{stage}", f"every completed posting ran stage {stage}",
                    f"{_SAMPLE} WHERE p.status = 'completed' AND NOT EXISTS (SELECT 1 FROM posting_state_checkpoints c"
                    " WHERE c.posting_id = p.posting_id AND c.stage = %(stage)s)", {"stage": stage})
              for stage in sorted(ran)]
    for column, stages in _COLUMNS.items():
        for stage in sorted(filled & stages):
            # column is one of the fixed names of _COLUMNS, never input
            checks.append(Check(f"completed_have_{column}", f"every completed posting has postings.{column} set"
                                f" (stage {stage})", f"{_SAMPLE} WHERE p.status = 'completed' AND p.{column} IS NULL"))
    for stage in (workflow.stages[s] for s in sorted(set(workflow.stages) & SCORE_STAGES)):
        low, high = stage.output.get("min"), stage.output.get("max")
        if stage.output.get("type") == "int" and low is not None and high is not None:
            checks.append(Check("score_in_range", f"postings.score is between {low} and {high} (stage {stage.name})",
                                f"{_SAMPLE} WHERE p.score IS NOT NULL AND p.score NOT BETWEEN %(low)s AND %(high)s",
                                {"low": low, "high": high}))
    for stage in (workflow.stages[s] for s in sorted(set(workflow.stages) & SKILLS_STAGES)):
        if stage.output.get("type") == "json" and (stage.output.get("schema") or {}).get("type") == "array":
            checks.append(Check("skills_are_arrays", f"postings.skills is a JSON array (stage {stage.name})",
                                f"{_SAMPLE} WHERE p.skills IS NOT NULL AND jsonb_typeof(p.skills) <> 'array'"))
    return [*_unique(checks), *GENERIC_CHECKS]


def _unique(checks: list[Check]) -> list[Check]:
    """The first check of each name (two stages filling one column: one check is enough)."""
    first: dict[str, Check] = {}
    for check in checks:
        first.setdefault(check.name, check)
    return list(first.values())


def completion_guarantees(workflow: Any, *, seeded: Callable[[Any], set[str]]) -> set[str]:
    """Stages whose output every successful journey has when it reaches ``done``: the
    intersection over success paths from each entry point (which provides
    ``seeded(entry)``) to each stage whose success branch ends the journey."""
    from consumers.validate import edges
    from consumers.workflow import DONE

    success = [(src, dst) for src, dst, ok in edges(workflow) if ok]
    reach = {e.stage for e in workflow.entry_points if e.stage in workflow.stages}
    todo = list(reach)
    while todo:
        name = todo.pop()
        for src, dst in success:
            if src == name and dst not in reach:
                reach.add(dst)
                todo.append(dst)
    have = {name: set(workflow.stages) for name in reach}
    changed = True
    while changed:  # monotone decreasing sets over a finite lattice: terminates
        changed = False
        for name in reach:
            sources = [seeded(e) for e in workflow.entry_points if e.stage == name]
            sources += [have[src] | {src} for src, dst in success if dst == name and src in reach]
            new = set.intersection(*sources) if sources else set()
            if new != have[name]:
                have[name], changed = new, True
    ends = [have[name] | {name} for name in reach
            if any(b.next == DONE and not b.is_failure for b in workflow.stages[name].branches)]
    return set.intersection(*ends) if ends else set()
