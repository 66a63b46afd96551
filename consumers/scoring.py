"""A score from the model's probabilities, not from one sampled token (pure arithmetic).

The score stage writes ``Score:`` under a grammar (after a one-sentence rationale,
``Reason: <sentence> Score:``, when the stage asks for one); the engine then gives, for
each allowed value, the probability that the model continues with it (the *probe*). The
score is the expected value over that distribution, rounded half up, so a model that
would always write "10" still ranks postings by how sure it is; the distribution is
stored with the output. A small model's expected values crowd into a narrow band (about
6.5 to 8.2 for qwen2.5-coder-0.5b on the evaluation set); a stage's ``span`` maps that band onto
the whole scale before rounding (:func:`rescaled`), which keeps the ranking and spreads it.

Candidates are strings the tokenizer turns into token sequences: each value with a
leading space (``" 7"``: how both SmolLM2 and Qwen tokenizers write a number after
"Score:"), and with the terminator appended when another candidate extends it (``" 1/"``
against ``" 10"``), so that no candidate is a prefix of another and their probabilities
add up.
"""

from __future__ import annotations

import json
import math
from typing import Mapping, Sequence

from consumers.exceptions import PermanentActorError


class ScoreError(PermanentActorError):
    """The probabilities cannot give a score (missing, wrong count, all zero, negative)."""


def candidates(minimum: int, maximum: int, *, lead: str = " ", terminator: str = "/") -> list[str]:
    """Prefix-free probe strings for the values ``minimum..maximum``, in value order."""
    texts = [f"{lead}{v}" for v in range(minimum, maximum + 1)]
    return [t + terminator if any(o != t and o.startswith(t) for o in texts) else t for t in texts]


def distribution(values: Sequence[int], probs: Sequence[float] | None) -> dict[int, float]:
    """``{value: probability}`` renormalised to sum 1.

    Raises:
        ScoreError: ``probs`` is None, has another length than ``values``, holds a
            negative or non-finite number, or sums to zero.
    """
    if probs is None:
        raise ScoreError("the actor returned no probabilities at the score position")
    if len(probs) != len(values):
        raise ScoreError(f"{len(probs)} probabilities for {len(values)} score values")
    if any(not math.isfinite(p) or p < 0 for p in probs):
        raise ScoreError(f"invalid probabilities at the score position: {list(probs)}")
    total = math.fsum(probs)
    if total <= 0:
        raise ScoreError("every score value has probability 0")
    return {v: p / total for v, p in zip(values, probs)}


def expected_value(dist: Mapping[int, float]) -> float:
    """Sum of value x probability (``dist`` sums to 1)."""
    return math.fsum(v * p for v, p in dist.items())


def round_half_up(x: float) -> int:
    """6.5 -> 7, 6.49 -> 6 (Python's round() would give 6 for 6.5)."""
    return math.floor(x + 0.5)


def rescaled(expected: float, span: tuple[float, float], low: int, high: int) -> float:
    """``expected`` mapped linearly from the model's observed ``span`` (the expected
    values it gives, e.g. 6.4 to 8.2) onto ``low..high``, clamped to that range: a
    monotone map, so the ranking is the model's own; it only spreads it over the scale."""
    lo, hi = span
    return max(float(low), min(float(high), low + (high - low) * (expected - lo) / (hi - lo)))


def score_of(dist: Mapping[int, float], span: tuple[float, float] | None = None) -> int:
    """The expected value (rescaled from ``span`` when given, see :func:`rescaled`)
    rounded half up, clamped to the values' range."""
    low, high = min(dist), max(dist)
    expected = expected_value(dist)
    if span is not None:
        expected = rescaled(expected, span, low, high)
    return max(low, min(high, round_half_up(expected)))


def score_output(rationale: str | None, dist: Mapping[int, float], span: tuple[float, float] | None = None) -> str:
    """The stored output: ``{"value": n, "rationale": ..., "expected": e,
    "distribution": {"1": p1, ...}}`` (compact JSON; ``value`` is what the projector
    reads as the score; no ``rationale`` key when ``rationale`` is None; ``expected`` is
    the raw expected value, before any ``span`` rescaling)."""
    out: dict = {"value": score_of(dist, span)}
    if rationale is not None:
        out["rationale"] = rationale
    out["expected"] = round(expected_value(dist), 3)
    out["distribution"] = {str(v): round(p, 4) for v, p in dist.items()}
    return json.dumps(out, ensure_ascii=False, separators=(",", ":"))
