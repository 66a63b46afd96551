"""Probabilities of candidate continuations with llama-cpp-python's ``Llama`` (the
actor before the batched engine; the engine's ``GenerationRequest(probe=...)`` does
the same in its own decode loop).

:func:`probe_llama` evaluates the context (prompt tokens + the generated text), then
for every candidate token sequence the product of its tokens' probabilities, walking
shared prefixes once; the result is renormalised over the candidates by
:func:`consumers.scoring.distribution`. Candidates must be prefix-free (see
:func:`consumers.scoring.candidates`). Call it with the model's lock held.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

from consumers.exceptions import RetryableActorError


def _log_softmax(logits: Any) -> Any:
    import numpy as np

    row = np.asarray(logits, dtype=np.float64)
    top = row.max()
    return row - top - math.log(float(np.exp(row - top).sum()))


def _logits_after(llama: Any, tokens: list[int]) -> Any:
    """Log-probabilities of the next token after ``tokens``, reusing the evaluated
    prefix llama already holds."""
    import numpy as np

    held = llama.input_ids[: llama.n_tokens].tolist()
    same = 0
    for a, b in zip(held, tokens):
        if a != b:
            break
        same += 1
    same = min(same, len(tokens) - 1)  # evaluate at least one token to get its logits
    llama.n_tokens = same
    llama.eval(tokens[same:])
    logits = np.ctypeslib.as_array(llama._ctx.get_logits(), shape=(llama.n_vocab(),)).copy()
    return _log_softmax(logits)


def probe_llama(llama: Any, context: Sequence[int], candidates: Sequence[Sequence[int]]) -> list[float]:
    """P(candidate | context) for each token sequence in ``candidates`` (not
    renormalised).

    Raises:
        RetryableActorError: llama.cpp fails to evaluate.
    """
    base = list(context)
    memo: dict[tuple[int, ...], Any] = {}
    probs = []
    try:
        for cand in candidates:
            logp = 0.0
            for i, token in enumerate(cand):
                prefix = tuple(cand[:i])
                if prefix not in memo:
                    memo[prefix] = _logits_after(llama, base + list(prefix))
                logp += float(memo[prefix][token])
            probs.append(math.exp(logp))
    except RuntimeError as exc:
        raise RetryableActorError(f"llama.cpp failed while probing: {exc}") from exc
    return probs


def probe_text(llama: Any, prompt_tokens: Sequence[int], generated: str, candidates: Sequence[str]) -> list[float]:
    """:func:`probe_llama` after ``prompt_tokens`` + ``generated`` (tokenized again),
    for candidate strings tokenized with the model's tokenizer."""
    context = list(prompt_tokens) + llama.tokenize(generated.encode("utf-8"), add_bos=False, special=False)
    cands = [llama.tokenize(c.encode("utf-8"), add_bos=False, special=False) for c in candidates]
    return probe_llama(llama, context, cands)
