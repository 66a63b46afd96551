"""consumers.probe: the probability of each candidate token sequence after a context,
as the product of its tokens' probabilities, with the evaluated prefix reused. A tiny
deterministic stand-in for llama_cpp.Llama supplies the logits (unit test: no model)."""

from __future__ import annotations

import ctypes
import math

import numpy as np
import pytest

from consumers.probe import probe_llama
from consumers.scoring import distribution

pytestmark = pytest.mark.unit

VOCAB = 4  # tokens 0..3


class FakeLlama:
    """Next-token probabilities depend on the last token: TABLE[last]."""

    TABLE = {0: [0.1, 0.2, 0.3, 0.4], 1: [0.5, 0.25, 0.125, 0.125], 2: [0.25, 0.25, 0.25, 0.25],
             3: [0.7, 0.1, 0.1, 0.1]}

    def __init__(self):
        self.input_ids = np.zeros(64, dtype=np.intc)
        self.n_tokens = 0
        self.evaluated = 0
        self._logits = (ctypes.c_float * VOCAB)()
        self._ctx = self

    def n_vocab(self):
        return VOCAB

    def eval(self, tokens):
        for token in tokens:
            self.input_ids[self.n_tokens] = token
            self.n_tokens += 1
            self.evaluated += 1
        for i, p in enumerate(self.TABLE[int(tokens[-1])]):
            self._logits[i] = math.log(p) + 3.0  # logits, not probabilities: softmax recovers p

    def get_logits(self):
        return self._logits


def test_probabilities_are_products_over_the_tokens():
    llama = FakeLlama()
    probs = probe_llama(llama, [0, 3], [[1], [2], [0, 1], [0, 2, 3]])
    assert probs == pytest.approx([0.1, 0.1, 0.7 * 0.2, 0.7 * 0.3 * 0.25])


def test_shared_prefixes_are_evaluated_once():
    llama = FakeLlama()
    probe_llama(llama, [0, 3], [[1, 1], [1, 2], [1, 3], [2]])
    # context (2 tokens) once, then the prefix [1] once: 3 evaluated tokens in all
    assert llama.evaluated == 3


def test_renormalised_over_the_candidates():
    llama = FakeLlama()
    dist = distribution([1, 2], probe_llama(llama, [2], [[0], [1]]))
    assert dist == pytest.approx({1: 0.5, 2: 0.5})
