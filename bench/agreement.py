"""How well a second annotation of the evaluation sets agrees with their gold labels,
by the measures bench/quality.py scores a model with: skill precision and recall (a
skill matches a gold one when either contains the other, case-insensitive) and the
Spearman correlation of the clarity scores. It says what those figures can be asked to
reach: a model's skill precision of 0.9 is a fair goal when someone following
examples/eval/GUIDELINE.md reaches it. No model runs; the last line is one JSON object.

    .venv/bin/python bench/agreement.py [--labels examples/eval/second_annotation.jsonl]
        [--eval examples/eval/postings.jsonl --eval examples/eval/heldout.jsonl]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.quality import EVAL_SET, HELDOUT_SET, skill_match, spearman  # noqa: E402

SECOND_ANNOTATION = ROOT / "examples" / "eval" / "second_annotation.jsonl"


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def agreement(gold_rows: list[dict], labels: dict[str, dict]) -> dict:
    """Precision and recall of the labels' skills against the gold skills, the Spearman
    correlation of the clarity scores, over the gold rows the labels cover.

    Raises:
        KeyError: naming a posting the labels lack.
        ValueError: a label's clarity is not an integer 1-10, or a skill of it does not
            occur in its posting (the guideline asks for phrases of the posting).
    """
    predicted = matched_predicted = gold_total = matched_gold = 0
    hand, other = [], []
    for row in gold_rows:
        label = labels[row["posting_id"]]
        _check(label, row)
        gold, skills = row["gold"]["skills"], label["skills"]
        predicted += len(skills)
        gold_total += len(gold)
        matched_predicted += sum(1 for s in skills if any(skill_match(s, g) for g in gold))
        matched_gold += sum(1 for g in gold if any(skill_match(s, g) for s in skills))
        hand.append(row["gold"]["clarity"])
        other.append(label["clarity"])
    rho = spearman(hand, other)
    return {"postings": len(gold_rows),
            "skill_precision": round(matched_predicted / predicted, 3) if predicted else None,
            "skill_recall": round(matched_gold / gold_total, 3) if gold_total else None,
            "clarity_spearman": round(rho, 3) if rho is not None else None}


def _check(label: dict, row: dict) -> None:
    clarity = label["clarity"]
    if not isinstance(clarity, int) or not 1 <= clarity <= 10:
        raise ValueError(f"posting {row['posting_id']}: clarity {clarity!r} is not an integer 1-10")
    absent = [s for s in label["skills"] if s.lower() not in row["description"].lower()]
    if absent:
        raise ValueError(f"posting {row['posting_id']}: skills {absent} do not occur in the posting")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=SECOND_ANNOTATION)
    parser.add_argument("--eval", type=Path, action="append", default=None, help="a labelled set (repeatable)")
    args = parser.parse_args(argv)
    labels = {row["posting_id"]: row for row in read_jsonl(args.labels)}
    results = {}
    for path in args.eval or [EVAL_SET, HELDOUT_SET]:
        try:
            results[path.name] = figures = agreement(read_jsonl(path), labels)
        except KeyError as exc:
            parser.error(f"{args.labels} has no label for posting {exc.args[0]} of {path}")
        except ValueError as exc:
            parser.error(f"{args.labels}: {exc}")
        print(f"{path.name}: {figures}")
    print(json.dumps({"labels": args.labels.name, "sets": results}))


if __name__ == "__main__":
    main()
