"""Pure parts of the inference engine: probe arithmetic over a candidate trie, the walk
the engine decodes it in, and llama.cpp threads divided among engines."""

from __future__ import annotations

import math

import numpy as np
import pytest

from consumers.engine.probe import NodeLogits, ProbeWalk, build_trie, depth, inner_nodes, node_logits, probabilities
from consumers.engine.threads import available_cores, divide_threads

pytestmark = pytest.mark.unit


def softmax(row):
    e = np.exp(row - row.max())
    return e / e.sum()


def test_trie_rejects_empty_and_duplicate_candidates():
    with pytest.raises(ValueError, match="no tokens"):
        build_trie([[1], []])
    with pytest.raises(ValueError, match="same tokens"):
        build_trie([[1, 2], [3], [1, 2]])


def test_inner_nodes_parents_first_and_depth():
    root = build_trie([[1], [1, 0], [2], [3, 4, 5]])
    assert [n.path for n in inner_nodes(root)] == [(), (1,), (3,), (3, 4)]
    assert depth(root) == 3


def test_restricted_softmax_at_a_node_without_an_ending_candidate():
    root = build_trie([[5], [7], [9]])
    logits = np.log(np.array([0.1, 0.0, 0.0, 0.0, 0.0, 0.2, 0.0, 0.3, 0.0, 0.4]) + 1e-30)
    probs = probabilities(root, {(): node_logits(logits, root)}, 3)
    assert probs == pytest.approx([0.2 / 0.9, 0.3 / 0.9, 0.4 / 0.9])


def test_prefix_candidate_gets_the_rest_of_its_nodes_mass():
    # "1" = [1], "10" = [1, 0], "2" = [2]
    root = build_trie([[1], [1, 0], [2]])
    at_root = np.log(np.array([0.5, 0.3, 0.1, 0.1]))  # restricted over {1, 2}: 0.75 / 0.25
    after_one = np.log(np.array([0.2, 0.3, 0.4, 0.1]))  # P(0 | 1) = 0.2 of the whole vocabulary
    stats = {(): node_logits(at_root, root), (1,): node_logits(after_one, root.children[1])}
    p1, p10, p2 = probabilities(root, stats, 3)
    assert p10 == pytest.approx(0.75 * 0.2)
    assert p1 == pytest.approx(0.75 * 0.8)
    assert p2 == pytest.approx(0.25)
    assert p1 + p10 + p2 == pytest.approx(1.0)


def test_probabilities_sum_to_one_on_random_logits():
    rng = np.random.default_rng(7)
    candidates = [[d] for d in range(1, 10)] + [[1, 0]]  # "1" .. "9", "10"
    root = build_trie(candidates)
    stats = {n.path: node_logits(rng.normal(0, 4, 16).astype(np.float32), n) for n in inner_nodes(root)}
    probs = probabilities(root, stats, len(candidates))
    assert sum(probs) == pytest.approx(1.0)
    assert all(p >= 0 for p in probs)


def test_node_logits_is_a_stable_logsumexp():
    row = np.array([1000.0, 999.0, -5.0], dtype=np.float32)
    info = node_logits(row, build_trie([[0], [1]]))
    assert info.logsumexp == pytest.approx(1000.0 + math.log(1 + math.exp(-1) + math.exp(-1005)))
    assert math.exp(info.logits[0] - info.logsumexp) == pytest.approx(softmax(row.astype(np.float64))[0])
    assert isinstance(info, NodeLogits)


def test_walk_decodes_pending_tokens_first_and_reuses_the_kv_it_left():
    walk = ProbeWalk([[1], [1, 0], [2], [3, 4]], pending=[42])
    assert walk.needs_decode()
    keep, tokens = walk.plan()  # the root: the pending token
    assert (keep, tokens) == (0, [42])
    walk.decoded(keep, tokens)
    walk.record(np.zeros(50, dtype=np.float32))
    keep, tokens = walk.plan()  # node "1": extends the KV by one token
    assert (keep, tokens) == (1, [1])
    walk.decoded(keep, tokens)
    walk.record(np.zeros(50, dtype=np.float32))
    keep, tokens = walk.plan()  # node "3": branches off after the pending token
    assert (keep, tokens) == (1, [3])
    walk.decoded(keep, tokens)
    walk.record(np.zeros(50, dtype=np.float32))
    assert walk.done
    assert sum(walk.result()) == pytest.approx(1.0)


def test_walk_without_pending_tokens_takes_the_root_from_the_last_logits():
    walk = ProbeWalk([[1], [2]], pending=[])
    assert not walk.needs_decode()
    row = np.log(np.array([0.1, 0.6, 0.3]))
    walk.record(row)
    assert walk.done
    assert walk.result() == pytest.approx([2 / 3, 1 / 3])


@pytest.mark.parametrize("cores, engines, threads", [(2, 1, 2), (2, 2, 1), (2, 3, 1), (16, 3, 5), (8, 0, 8)])
def test_threads_divided_among_engines_at_least_one(cores, engines, threads):
    assert divide_threads(cores, engines) == threads


def test_available_cores_follow_the_affinity_mask():
    import os

    assert available_cores() == len(os.sched_getaffinity(0))


def test_llm_threads_setting_from_the_environment():
    from wavestream.config import LlmSettings
    from wavestream.exceptions import ConfigError

    assert LlmSettings.from_env({}).threads is None
    assert LlmSettings.from_env({"WAVESTREAM_LLM_THREADS": "3"}).threads == 3
    with pytest.raises(ConfigError):
        LlmSettings.from_env({"WAVESTREAM_LLM_THREADS": "many"})
