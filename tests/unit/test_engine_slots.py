"""The engine's slot pool: which free slot a prompt takes and which KV cells it keeps."""

from __future__ import annotations

import pytest

from consumers.engine.slots import MIN_REUSE, SlotPool, common_prefix

pytestmark = pytest.mark.unit

HEAD = list(range(100, 100 + MIN_REUSE + 4))  # a prefix every prompt below shares


class Cells:
    """Stands in for llama_memory_seq_rm: records (slot, from, to) removals."""

    def __init__(self) -> None:
        self.removed: list[tuple[int, int, int]] = []

    def __call__(self, memory, slot, start, end):
        self.removed.append((slot, start, end))
        return True


def pool_of(n: int, cells: Cells) -> SlotPool:
    return SlotPool(None, n, remove=cells)


def test_common_prefix_is_bounded_by_the_limit():
    assert common_prefix([1, 2, 3], [1, 2, 4], limit=10) == 2
    assert common_prefix([1, 2, 3], [1, 2, 3], limit=2) == 2
    assert common_prefix([], [1], limit=5) == 0


def test_an_empty_pool_hands_out_the_lowest_slot_and_reuses_nothing():
    cells = Cells()
    pool = pool_of(3, cells)
    assert pool.take(HEAD + [1, 2])[:2] == (0, 0)
    assert pool.take(HEAD + [1, 2])[:2] == (1, 0)
    assert cells.removed == [] and len(pool) == 1


def test_a_finished_prompt_is_reused_by_the_next_request_sharing_its_prefix():
    cells = Cells()
    pool = pool_of(2, cells)
    first = HEAD + [7, 8, 9]
    slot = pool.take(first).slot
    pool.give_back(slot, first)
    assert cells.removed == [(slot, len(first), -1)]  # what it generated goes, the prompt stays
    assert pool.take(HEAD + [7, 5])[:2] == (slot, len(HEAD) + 1)
    assert cells.removed[-1] == (slot, len(HEAD) + 1, -1)  # cells past the shared prefix go


def test_the_slot_with_the_longest_common_prefix_wins_and_ties_go_to_the_lowest_slot():
    cells = Cells()
    pool = pool_of(3, cells)
    for prompt in (HEAD + [1, 1, 1], HEAD + [2, 2, 2], HEAD + [1, 1, 1]):
        pool.take(prompt)
    pool.give_back(0, HEAD + [1, 1, 1])
    pool.give_back(1, HEAD + [2, 2, 2])
    pool.give_back(2, HEAD + [1, 1, 1])
    assert pool.take(HEAD + [2, 2, 3])[:2] == (1, len(HEAD) + 2)
    assert pool.take(HEAD + [1, 1, 4])[:2] == (0, len(HEAD) + 2)


def test_at_least_one_prompt_token_is_left_to_process():
    pool = pool_of(1, Cells())
    prompt = HEAD + [5, 6]
    pool.give_back(*((pool.take(prompt)[0]), prompt))
    assert pool.take(prompt)[:2] == (0, len(prompt) - 1)


def test_a_short_common_prefix_is_not_reused_and_the_slot_is_emptied():
    cells = Cells()
    pool = pool_of(1, cells)
    pool.take([1, 2, 3])
    pool.give_back(0, [1, 2, 3, 4])
    assert pool.take([1, 2, 9, 9])[:2] == (0, 0)
    assert cells.removed[-1] == (0, -1, -1)


def test_a_failed_sequence_keeps_nothing_and_clear_forgets_every_prompt():
    cells = Cells()
    pool = pool_of(2, cells)
    pool.take(HEAD + [1])
    pool.take(HEAD + [2])
    pool.give_back(0, None)
    pool.give_back(1, HEAD + [2])
    assert cells.removed[0] == (0, -1, -1)
    pool.clear()
    assert pool.take(HEAD + [2, 3])[:2] == (0, 0)


def test_a_longer_prefix_of_an_active_sequence_is_shared_into_the_emptiest_free_slot():
    cells = Cells()
    pool = pool_of(3, cells)
    score = HEAD + [4, 4, 4]
    assert pool.take(score) == (0, 0, None)
    other = [7] * 20
    pool.take(other)
    pool.give_back(1, other)
    # Slot 0 is active with the same instructions: the request takes the free slot holding
    # the least (2, empty: slot 1's prompt stays cached) and waits for slot 0's cells.
    assert pool.take(HEAD + [4, 5], active={0: score}) == (2, 0, (0, len(HEAD) + 1))
    assert (2, -1, -1) not in cells.removed  # slot 2 held nothing to remove
    # The next one, with only slot 1 free, evicts slot 1's unrelated prompt.
    assert pool.take(HEAD + [4, 6], active={0: score}) == (1, 0, (0, len(HEAD) + 1))
    assert cells.removed[-1] == (1, -1, -1)


def test_a_free_slot_holding_at_least_as_much_is_taken_as_it_is():
    cells = Cells()
    pool = pool_of(2, cells)
    first = HEAD + [1, 1]
    pool.take(first)
    pool.give_back(0, first)
    assert pool.take(HEAD + [1, 2], active={1: HEAD + [1, 3]}) == (0, len(HEAD) + 1, None)


def test_no_reuse_evicts_the_emptiest_free_slot():
    cells = Cells()
    pool = pool_of(2, cells)
    pool.take(HEAD + [1])
    pool.give_back(0, HEAD + [1])
    assert pool.take([5] * 12) == (1, 0, None)  # slot 0's prompt stays for later


def test_a_short_prefix_is_never_shared():
    pool = pool_of(2, Cells())
    pool.take([1, 2, 3, 4])
    assert pool.take([1, 2, 3, 9, 9], active={0: [1, 2, 3, 4]}) == (1, 0, None)
