"""The arithmetic of bench/quality.py: ranks with ties, Spearman, skill matching, and
the evaluation set's shape (what the issue asks of it)."""

from __future__ import annotations

import json
import re
from collections import Counter

import pytest

from bench.quality import EVAL_SET, ranks, skill_match, spearman
from consumers.quality import detect_language
from producers.ingest import validate_row

pytestmark = pytest.mark.unit


def test_ranks_average_ties():
    assert ranks([10, 20, 20, 5]) == [2.0, 3.5, 3.5, 1.0]


def test_spearman():
    assert spearman([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 3, 4, 5], [2, 1, 4, 3, 5]) == pytest.approx(0.8)
    assert spearman([7, 7, 7], [1, 2, 3]) is None  # a constant score ranks nothing
    assert spearman([1, 2], [1, 2]) is None


def test_skill_match_either_contains_the_other():
    assert skill_match("Python", "python")
    assert skill_match("RN license", "active Oregon RN license")
    assert skill_match("Kubernetes clusters", "Kubernetes")
    assert skill_match("Java", "JavaScript")  # containment counts, as the issue defines a match
    assert not skill_match("Go", "Rust")
    assert not skill_match("", "Go")


def test_eval_set_has_what_the_issue_asks():
    rows = [json.loads(line) for line in EVAL_SET.read_text().splitlines()]
    assert len(rows) >= 40
    assert len({r["gold"]["occupation"] for r in rows}) >= 12
    clarity = Counter(r["gold"]["clarity"] for r in rows)
    assert set(clarity) == set(range(1, 11))  # the whole range
    languages = Counter(detect_language(r["description"]) for r in rows)
    assert languages["en"] < len(rows) - 2 and {"de", "es", "fr"} <= set(languages)
    for row in rows:
        posting = {k: v for k, v in row.items() if k != "gold"}
        validate_row(posting, source="eval", submitted_at_ms=0)  # submit accepts it without `gold`
        for skill in row["gold"]["skills"]:
            assert skill.lower() in row["description"].lower(), (row["posting_id"], skill)


def test_agreement_of_the_gold_with_itself_is_perfect_and_a_missing_label_is_named():
    from bench.agreement import agreement, read_jsonl

    rows = read_jsonl(EVAL_SET)
    itself = {row["posting_id"]: {"skills": row["gold"]["skills"], "clarity": row["gold"]["clarity"]} for row in rows}
    assert agreement(rows, itself) == {"postings": len(rows), "skill_precision": 1.0, "skill_recall": 1.0,
                                       "clarity_spearman": 1.0}
    half = {"eval-01": {"skills": ["Go", "settlement services"], "clarity": 10}}  # one of two in the gold
    assert agreement([r for r in rows if r["posting_id"] == "eval-01"], half)["skill_precision"] == 0.5
    with pytest.raises(KeyError):
        agreement(rows, half)


def test_the_second_annotation_labels_every_posting_of_both_sets_with_phrases_of_the_posting():
    from bench.agreement import SECOND_ANNOTATION, agreement, read_jsonl
    from bench.quality import HELDOUT_SET

    labels = {row["posting_id"]: row for row in read_jsonl(SECOND_ANNOTATION)}
    rows = read_jsonl(EVAL_SET) + read_jsonl(HELDOUT_SET)
    assert set(labels) == {row["posting_id"] for row in rows}
    assert agreement(rows, labels)["postings"] == len(rows)  # every label passes agreement's checks


@pytest.mark.parametrize("label, problem", [
    ({"skills": ["Go"], "clarity": 11}, "clarity 11 is not an integer 1-10"),
    ({"skills": ["Go"], "clarity": "9"}, "clarity '9' is not an integer 1-10"),
    ({"skills": ["Go", "Rust"], "clarity": 9}, "skills ['Rust'] do not occur in the posting"),
])
def test_agreement_refuses_a_label_the_guideline_does_not_allow(label, problem):
    from bench.agreement import agreement, read_jsonl

    row = next(r for r in read_jsonl(EVAL_SET) if r["posting_id"] == "eval-01")
    with pytest.raises(ValueError, match=re.escape(problem)):
        agreement([row], {"eval-01": label})


def test_the_blind_held_out_set_spans_sectors_languages_and_clarity():
    from bench.quality import HELDOUT2_SET

    rows = [json.loads(line) for line in HELDOUT2_SET.read_text().splitlines()]
    assert len(rows) == 20 and len({r["gold"]["occupation"] for r in rows}) >= 12
    assert set(Counter(r["gold"]["clarity"] for r in rows)) == set(range(1, 11))
    languages = Counter(detect_language(r["description"]) for r in rows)
    assert languages["en"] <= len(rows) - 2
    for row in rows:
        validate_row({k: v for k, v in row.items() if k != "gold"}, source="eval", submitted_at_ms=0)
