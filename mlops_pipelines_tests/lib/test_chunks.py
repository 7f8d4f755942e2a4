"""lib.chunks: grouping a range of partitions by the rows each holds, and handing freed memory back
only after a step large enough to be worth it."""

from __future__ import annotations

import gc

import pytest

from mlops_pipelines.lib import chunks
from mlops_pipelines.lib.chunks import CHUNK_ROWS, chunk_keys, release_memory


def test_chunk_keys_groups_consecutive_partitions_up_to_the_row_budget() -> None:
    keys = [f"k{i}" for i in range(6)]
    rows = dict.fromkeys(keys, 1_000)
    assert chunk_keys(keys, rows, 10_000) == [keys]  # fits: one group
    assert chunk_keys(keys, rows, 2_500) == [keys[0:2], keys[2:4], keys[4:6]]
    assert chunk_keys(keys, {**rows, "k1": 9_000}, 2_500) == [["k0"], ["k1"], ["k2", "k3"], ["k4", "k5"]]
    assert chunk_keys(keys, rows, 10) == [[k] for k in keys]  # never less than one partition
    assert chunk_keys(keys, {}, 10) == [keys]  # no counts in the log: one group, as before
    assert chunk_keys([], rows, 10) == [[]]


@pytest.fixture
def collections(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = gc.collect
    monkeypatch.setattr(chunks.gc, "collect", lambda *a: calls.append(1) or real(*a))
    return calls


def test_a_step_larger_than_one_group_hands_memory_back(collections: list[int]) -> None:
    release_memory(CHUNK_ROWS + 1)
    assert collections == [1]


def test_a_step_within_one_group_skips_the_collection(collections: list[int]) -> None:
    release_memory(CHUNK_ROWS)
    release_memory(-1)  # an unknown size is no reason to pay for it either
    assert collections == []
