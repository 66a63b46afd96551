"""How usable the default workflow's llm stages are with the real model, and how long a
call takes: runs summarize -> extract_skills -> score with the llm actor (no Kafka) on
the sample postings and prints, per stage, the share of calls whose output satisfied the
contract and seconds per call. No assertions: a measurement.

    .venv/bin/python bench/llm_quality.py [--postings N] [--threads T] [--show]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from consumers.exceptions import ActorError  # noqa: E402

STAGES = ("summarize", "extract_skills", "score")


def sample_postings(path: Path, limit: int) -> list[dict]:
    """Well-formed postings without a summary (those enter at summarize), in StageCommand shape."""
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workflow", type=Path, default=ROOT / "workflows" / "default.yaml")
    parser.add_argument("--postings", type=int, default=10)
    parser.add_argument("--threads", type=int, default=0, help="llama.cpp threads (0: its default)")
    parser.add_argument("--n-gpu-layers", type=int, default=None)
    parser.add_argument("--show", action="store_true", help="print every output")
    args = parser.parse_args(argv)

    from consumers.actors.llm import LlmActor
    from consumers.workflow import load_workflow

    workflow = load_workflow(args.workflow)
    overrides = {k: v for k, v in (("threads", args.threads or None), ("n_gpu_layers", args.n_gpu_layers)) if v}
    actors = {s: LlmActor(workflow.stages[s], workflow, overrides=overrides or None) for s in STAGES}
    seconds: dict[str, list[float]] = {s: [] for s in STAGES}
    usable = {s: 0 for s in STAGES}
    failures: dict[str, list[str]] = {s: [] for s in STAGES}
    scores = []
    postings = sample_postings(ROOT / "examples" / "postings.jsonl", args.postings)
    for posting in postings:
        outputs: dict[str, str] = {}
        for stage in STAGES:
            command = {"posting": posting, "outputs": dict(outputs), "attempt": 1}
            started = time.perf_counter()
            try:
                outputs[stage] = actors[stage].run(command).output
                usable[stage] += 1
            except ActorError as exc:
                failures[stage].append(f"{posting['posting_id']}: {type(exc).__name__}: {exc}")
                outputs[stage] = "" if stage != "extract_skills" else "[]"
            seconds[stage].append(time.perf_counter() - started)
            if args.show:
                print(f"[{posting['posting_id']}] {stage}: {outputs[stage]}")
        if outputs.get("score"):
            scores.append(json.loads(outputs["score"])["value"])
    n = len(postings)
    print(f"\n{n} postings, model {actors['summarize'].model.file_name}, threads={args.threads or 'default'}")
    print(f"{'stage':16} {'usable':>8} {'rate':>6} {'s/call mean':>12} {'median':>7} {'max':>6}")
    for stage in STAGES:
        t = seconds[stage]
        print(f"{stage:16} {usable[stage]:>4}/{n:<3} {usable[stage] / n:>6.0%} {statistics.mean(t):>12.2f} "
              f"{statistics.median(t):>7.2f} {max(t):>6.2f}")
    all_ok = sum(usable.values())
    print(f"all stages: {all_ok}/{3 * n} usable ({all_ok / (3 * n):.0%}); score values seen: {sorted(set(scores))}")
    for stage in STAGES:
        for line in failures[stage]:
            print(f"  {stage} failed: {line}")


if __name__ == "__main__":
    main()
