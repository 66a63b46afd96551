"""Probing: the probability of each of several candidate continuations at one position.

After a sequence ends, the engine can score candidate token sequences (e.g. the
tokenized scores "1" .. "10") by teacher forcing: the candidates form a trie; at every
trie node with children the engine decodes the node's path on the sequence and reads the
logits there, then rolls the KV cache back. This module holds the pure part: the trie,
the order its nodes are evaluated in, and the arithmetic.

Probabilities come from the softmax of the raw logits at temperature 1:

- at a node that no candidate ends at, the children's probabilities are renormalised
  over the children (a restricted softmax);
- at a node where a candidate ends and longer ones continue ("1" and "10"), a child gets
  its full-vocabulary probability and the candidate ending there gets the rest,
  ``1 - sum(children)``: P("1") = P(1 | root) * (1 - P("0" | "1")).

The candidates' probabilities therefore sum to 1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import numpy as np


@dataclass
class TrieNode:
    """One node: ``path`` (tokens from the root), children by token, and the index of
    the candidate that ends here (None if none does)."""

    path: tuple[int, ...] = ()
    children: dict[int, "TrieNode"] = field(default_factory=dict)
    candidate: int | None = None


@dataclass(frozen=True)
class NodeLogits:
    """What a node's distribution needs: its children's raw logits and the log of the
    full vocabulary's softmax denominator (logsumexp of every logit)."""

    logits: Mapping[int, float]
    logsumexp: float


def build_trie(candidates: Sequence[Sequence[int]]) -> TrieNode:
    """The trie of ``candidates`` (token id sequences).

    Raises:
        ValueError: a candidate is empty or two candidates are the same tokens.
    """
    root = TrieNode()
    for index, tokens in enumerate(candidates):
        if not tokens:
            raise ValueError(f"probe candidate {index} has no tokens")
        node = root
        for token in tokens:
            node = node.children.setdefault(int(token), TrieNode(node.path + (int(token),)))
        if node.candidate is not None:
            raise ValueError(f"probe candidates {node.candidate} and {index} are the same tokens {list(tokens)}")
        node.candidate = index
    return root


def inner_nodes(root: TrieNode) -> list[TrieNode]:
    """The nodes with children, parents before children (the order the engine decodes
    them in, so each extends or branches off the KV it left)."""
    order, stack = [], [root]
    while stack:
        node = stack.pop()
        if node.children:
            order.append(node)
            stack.extend(reversed(list(node.children.values())))
    return order


def depth(root: TrieNode) -> int:
    """Tokens of the longest candidate."""
    return max((depth(child) + 1 for child in root.children.values()), default=0)


def node_logits(logits: np.ndarray, node: TrieNode) -> NodeLogits:
    """The :class:`NodeLogits` of ``node`` from the vocabulary's raw ``logits`` there."""
    row = logits.astype(np.float64, copy=False)
    top = float(row.max())
    lse = top + math.log(float(np.exp(row - top).sum()))
    return NodeLogits({t: float(row[t]) for t in node.children}, lse)


def probabilities(root: TrieNode, stats: Mapping[tuple[int, ...], NodeLogits], n_candidates: int) -> list[float]:
    """Each candidate's probability (by candidate index) from the logits of every inner
    node (``stats`` keyed by node path). They sum to 1."""
    out = [0.0] * n_candidates
    stack: list[tuple[TrieNode, float]] = [(root, 1.0)]
    while stack:
        node, mass = stack.pop()
        if not node.children:
            out[node.candidate] = mass  # type: ignore[index]
            continue
        info = stats[node.path]
        if node.candidate is None:
            top = max(info.logits.values())
            weights = {t: math.exp(v - top) for t, v in info.logits.items()}
            total = sum(weights.values())
            shares = {t: w / total for t, w in weights.items()}
        else:
            shares = {t: math.exp(v - info.logsumexp) for t, v in info.logits.items()}
            rest = max(0.0, 1.0 - sum(shares.values()))
            out[node.candidate] = mass * rest
        for token, child in node.children.items():
            stack.append((child, mass * shares[token]))
    return out


class ProbeWalk:
    """The engine's walk over a trie for one sequence: which tokens to decode next (on
    top of the KV the sequence had when it ended), and the collected node logits.

    ``pending`` are tokens the sequence generated but never decoded (its last one):
    they come first on every path.
    """

    def __init__(self, candidates: Sequence[Sequence[int]], pending: Sequence[int]) -> None:
        self.n = len(candidates)
        self.root = build_trie(candidates)
        self.pending = tuple(int(t) for t in pending)
        self.nodes = inner_nodes(self.root)
        self.stats: dict[tuple[int, ...], NodeLogits] = {}
        self.next = 0
        self.in_kv: tuple[int, ...] = ()  # tokens beyond the base position now in the KV

    @property
    def done(self) -> bool:
        return self.next >= len(self.nodes)

    def needs_decode(self) -> bool:
        """Whether the next node's logits need a decode (the root's do not when nothing
        is pending: they are the logits the sequence ended on)."""
        return bool(self.pending + self.nodes[self.next].path)

    def plan(self) -> tuple[int, list[int]]:
        """(keep, tokens): keep the first ``keep`` probe tokens in the KV, drop the rest,
        then decode ``tokens`` (logits wanted on the last) for the next node."""
        target = self.pending + self.nodes[self.next].path
        keep = 0
        while keep < min(len(target), len(self.in_kv)) and target[keep] == self.in_kv[keep]:
            keep += 1
        if keep == len(target):  # never happens in preorder; decode the last token again
            keep -= 1
        return keep, list(target[keep:])

    def decoded(self, keep: int, tokens: Sequence[int]) -> None:
        self.in_kv = self.in_kv[:keep] + tuple(tokens)

    def record(self, logits: np.ndarray) -> None:
        """The logits at the next node; moves on to the node after it."""
        node = self.nodes[self.next]
        self.stats[node.path] = node_logits(logits, node)
        self.next += 1

    def result(self) -> list[float]:
        return probabilities(self.root, self.stats, self.n)
