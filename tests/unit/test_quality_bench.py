"""The arithmetic of bench/quality.py: ranks with ties, Spearman, skill matching, and
the evaluation set's shape (what the issue asks of it)."""

from __future__ import annotations

import json
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
