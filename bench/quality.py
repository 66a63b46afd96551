"""Output quality of a workflow's llm stages per model, on the labelled evaluation set
(examples/eval/postings.jsonl: postings with gold skills and a hand-given clarity score;
``--eval examples/eval/heldout.jsonl``: 16 more, written after the skill filters were
tuned on the first set; ``--eval examples/eval/heldout2.jsonl``: 20 more, by an annotator
blind to the filters and to every model output; examples/eval/GUIDELINE.md says who
labelled what, bench/agreement.py how far a second annotation agrees with the gold).

Runs summarize -> extract_skills -> score in process through the llm actor (no Kafka),
each stage retried like the worker does (attempt n samples with seed + n - 1, up to the
stage's retry.max_attempts), and prints per model: the contract rate, skill precision and
recall (a skill matches a gold one when either contains the other, case-insensitive),
the share of skills occurring in the posting, skills that are the employer / location /
title, summaries naming a company or person absent from the posting, summaries not in
the posting's language, refused attempts by reason, the number of distinct scores and
their Spearman correlation with the hand scores, the span of the expected scores (5th to
95th percentile: what a score stage's ``span`` should be for that model), and seconds
per call. The last line is one JSON object with those figures. A measurement: no
assertions.

    .venv/bin/python bench/quality.py [--model smollm2-135m --model qwen2.5-coder-0.5b]
        [--limit N] [--threads 2] [--show]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Sequence

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from consumers.exceptions import ActorError  # noqa: E402
from consumers.grounding import occurs  # noqa: E402
from consumers.quality import invented_names, same_language  # noqa: E402
from consumers.skill_filters import IDENTITY_REASONS, identity_skills  # noqa: E402

STAGES = ("summarize", "extract_skills", "score")
EVAL_SET = ROOT / "examples" / "eval" / "postings.jsonl"
#: Written after the skill filters were tuned on EVAL_SET (examples/eval/GUIDELINE.md).
HELDOUT_SET = ROOT / "examples" / "eval" / "heldout.jsonl"
#: Written blind to the filters and to every model output (examples/eval/GUIDELINE.md).
HELDOUT2_SET = ROOT / "examples" / "eval" / "heldout2.jsonl"


def sample_postings(path: Path, limit: int) -> list[dict]:
    """Well-formed postings without a summary (those enter at summarize), in StageCommand
    shape; a ``gold`` object stays on the row (the actor ignores it)."""
    rows = []
    for line in path.read_text().splitlines():
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if (isinstance(row, dict) and isinstance(row.get("description"), str) and str(row.get("title", "")).strip()
                and not row.get("summary")):
            rows.append({"company": None, "location": None, "url": None, "source": None, "summary": None,
                         "attributes": {}, "submitted_at": 0, **row})
    return rows[:limit]


def ranks(values: Sequence[float]) -> list[float]:
    """1-based ranks, ties given their average rank."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    out = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            out[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return out


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rank correlation (Pearson on average ranks); None when fewer than 3
    pairs or either side is constant."""
    if len(xs) != len(ys) or len(xs) < 3:
        return None
    rx, ry = ranks(xs), ranks(ys)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx, syy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    if sxx == 0 or syy == 0:
        return None
    return sxy / math.sqrt(sxx * syy)


def skill_match(skill: str, gold: str) -> bool:
    a, b = skill.strip().lower(), gold.strip().lower()
    return bool(a and b) and (a in b or b in a)


def refusal_kind(message: str) -> str:
    for key, kind in (("names", "invented_name"), ("language", "wrong_language"), ("grounding", "ungrounded"),
                      ("rationale", "rationale"), ("Reason:", "rationale"), ("timeout", "timeout")):
        if key in message:
            return kind
    return "other"


def actors_for(workflow: Any, model: str | None, threads: int | None, timeout_s: float | None) -> dict[str, Any]:
    """The llm actor of each stage, on catalogue model ``model`` (None: the workflow's own)."""
    from consumers.actors.llm import LlmActor, config_from_stage

    if model is not None:
        models = {k: dataclasses.replace(v, path=None, package=None, catalogue=model) for k, v in workflow.models.items()}
        workflow = dataclasses.replace(workflow, models=models)
    overrides = {"threads": threads} if threads else None
    actors = {}
    for stage in STAGES:
        config = config_from_stage(workflow.stages[stage], workflow, overrides)
        if timeout_s:
            config = dataclasses.replace(config, timeout_s=timeout_s)
        actors[stage] = LlmActor(config=config)
    return actors


def run_stage(actor: Any, command: dict, attempts: int, tally: dict) -> tuple[str | None, list[float]]:
    """(output or None, seconds of each attempt), retrying like the worker."""
    seconds = []
    for attempt in range(1, attempts + 1):
        started = time.perf_counter()
        try:
            output = actor.run({**command, "attempt": attempt}).output
            seconds.append(time.perf_counter() - started)
            return output, seconds
        except ActorError as exc:
            seconds.append(time.perf_counter() - started)
            kind = refusal_kind(str(exc))
            tally[kind] = tally.get(kind, 0) + 1
    return None, seconds


def evaluate(workflow: Any, model: str | None, postings: list[dict], args: argparse.Namespace) -> dict:
    actors = actors_for(workflow, model, args.threads, args.timeout_s)
    ok = {s: 0 for s in STAGES}
    seconds: dict[str, list[float]] = {s: [] for s in STAGES}
    refused: dict[str, int] = {}
    predicted = matched_pred = gold_total = matched_gold = grounded = 0
    identity: list[str] = []
    invented = wrong_language = 0
    scores, expected, hand = [], [], []
    deadline = time.monotonic() + args.deadline_s if args.deadline_s else None
    done = 0
    for n, posting in enumerate(postings, 1):
        if deadline is not None and time.monotonic() > deadline:
            print(f"  {model}: deadline reached after {done} postings", file=sys.stderr, flush=True)
            break
        done = n
        outputs: dict[str, str] = {}
        for stage in STAGES:
            attempts = workflow.stages[stage].retry.max_attempts
            out, took = run_stage(actors[stage], {"posting": posting, "outputs": dict(outputs)}, attempts, refused)
            seconds[stage] += took
            ok[stage] += out is not None
            outputs[stage] = out if out is not None else ("[]" if stage == "extract_skills" else "")
            if args.show:
                print(f"[{posting['posting_id']}] {stage}: {outputs[stage]}", flush=True)
        gold = posting.get("gold") or {}
        source = "\n".join(str(posting.get(k) or "") for k in ("title", "company", "location", "description"))
        summary = outputs["summarize"]
        if summary:
            invented += bool(invented_names(summary, source))
            wrong_language += same_language(summary, posting["description"]) is not None
        skills = json.loads(outputs["extract_skills"])
        gold_skills = gold.get("skills", [])
        predicted += len(skills)
        matched_pred += sum(any(skill_match(s, g) for g in gold_skills) for s in skills)
        gold_total += len(gold_skills)
        matched_gold += sum(any(skill_match(s, g) for s in skills) for g in gold_skills)
        grounded += sum(occurs(s, posting["description"]) for s in skills)
        identity += [f"{posting['posting_id']}: {s!r} is {reason}" for s, reason in identity_skills(
            skills, employer=posting.get("company") or "", location=posting.get("location") or "",
            title=posting["title"], text=posting["description"]) if reason in IDENTITY_REASONS]
        if outputs["score"]:
            value = json.loads(outputs["score"])
            scores.append(value["value"])
            expected.append(value.get("expected", value["value"]))
            hand.append(gold.get("clarity"))
        print(f"  {model or 'workflow'} {n}/{len(postings)} {posting['posting_id']}", file=sys.stderr, flush=True)
    calls = sum(len(t) for t in seconds.values())
    n = max(done, 1)
    return {
        "model": model or "workflow", "model_file": actors["summarize"].model.file_name, "postings": done,
        "contract_rate": round(sum(ok.values()) / (3 * n), 3),
        "contract_rate_by_stage": {s: round(ok[s] / n, 3) for s in STAGES},
        "refused_attempts": refused,
        "skill_precision": round(matched_pred / predicted, 3) if predicted else None,
        "skill_recall": round(matched_gold / gold_total, 3) if gold_total else None,
        "skills_in_posting": round(grounded / predicted, 3) if predicted else None,
        "skills_predicted": predicted,
        "identity_skills": len(identity), "identity_examples": identity[:5],
        "summaries_invented_name": invented, "summaries_wrong_language": wrong_language,
        "distinct_scores": len(set(scores)), "scores": sorted(set(scores)),
        "spearman": _round(spearman(scores, hand)), "spearman_expected": _round(spearman(expected, hand)),
        "expected_span": expected_span(expected),
        "seconds_per_call": round(sum(map(sum, seconds.values())) / calls, 2) if calls else None,
        "seconds_per_call_by_stage": {s: round(statistics.fmean(t), 2) for s, t in seconds.items() if t},
    }


def expected_span(expected: Sequence[float]) -> list[float] | None:
    """The 5th and 95th percentile of the expected scores: a score stage's ``span`` for
    this model and prompt (it uses no hand score, only the model's own spread)."""
    if len(expected) < 2:
        return None
    cuts = statistics.quantiles(expected, n=20, method="inclusive")
    return [round(cuts[0], 2), round(cuts[-1], 2)]


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workflow", type=Path, default=ROOT / "workflows" / "default.yaml")
    parser.add_argument("--model", action="append", default=None,
                        help="catalogue model to run every llm stage on (repeat; default: the workflow's models)")
    parser.add_argument("--eval", type=Path, default=EVAL_SET, help="labelled postings (JSONL with `gold`)")
    parser.add_argument("--limit", type=int, default=1000, help="postings at most")
    parser.add_argument("--threads", type=int, default=2, help="llama.cpp threads (0: its default)")
    parser.add_argument("--timeout-s", type=float, default=None, help="override the stages' timeout_s")
    parser.add_argument("--deadline-s", type=float, default=None,
                        help="per model: take no new posting after this many seconds (report what is done)")
    parser.add_argument("--show", action="store_true", help="print every output")
    args = parser.parse_args(argv)

    from consumers.workflow import load_workflow

    workflow = load_workflow(args.workflow)
    postings = sample_postings(args.eval, args.limit)
    results = [evaluate(workflow, model, postings, args) for model in (args.model or [None])]
    print(f"\n{len(postings)} postings from {args.eval.name}, workflow {workflow.name}, threads={args.threads}")
    keys = ("contract_rate", "skill_precision", "skill_recall", "skills_in_posting", "identity_skills",
            "summaries_invented_name", "summaries_wrong_language", "distinct_scores", "spearman",
            "spearman_expected", "seconds_per_call")
    print(f"{'':26}" + "".join(f"{r['model']:>22}" for r in results))
    for key in keys:
        print(f"{key:26}" + "".join(f"{str(r[key]):>22}" for r in results))
    for r in results:
        print(f"{r['model']}: refused attempts {r['refused_attempts']}; scores {r['scores']} "
              f"(expected span {r['expected_span']}); "
              f"per stage {r['seconds_per_call_by_stage']}; identity {r['identity_examples']}")
    print(json.dumps({"workflow": workflow.name, "eval_set": args.eval.name, "results": results}))


if __name__ == "__main__":
    main()
