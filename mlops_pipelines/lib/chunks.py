"""Bounded memory over a range of partitions: judge or transform it in groups of partitions,
gather the results as Arrow pieces, write once, and hand freed memory back to the system.

A backfill runs as one range run (BackfillPolicy.single_run), so one step can see 10M rows.
Stages whose work is per partition (validation judges each partition alone, features are
row-wise) go group by group: their peak is one group's pandas frames plus the Arrow pieces
(strings stored once per value run, not as Python objects), not the whole range in pandas.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import gc
from collections.abc import Mapping, Sequence
from typing import Any

# Rows handled at once. GX holds several row-sized masks and copies per expectation (~1 KB a
# row in all): a 10M-row backfill validated at once peaked above 8 GB. A daily batch is one group.
CHUNK_ROWS = 1_000_000


def chunk_keys(keys: Sequence[str], rows: Mapping[str, int], chunk_rows: int = CHUNK_ROWS) -> list[list[str]]:
    """Consecutive groups of partitions of at most `chunk_rows` rows each (a larger partition is a
    group of its own). `rows` holds each partition's count (the table's log: `slice_rows`); a
    partition it does not know counts 0, so a table without counts is one group, as before."""
    groups: list[list[str]] = []
    size = 0
    for key in keys:
        n = max(0, rows.get(key, 0))
        if not groups or (size + n > chunk_rows and groups[-1]):
            groups.append([])
            size = 0
        groups[-1].append(key)
        size += n
    return groups or [[]]


def concat_arrow(pieces: Sequence[Any]) -> Any:
    """One Arrow table of `lake.to_arrow` pieces, without copying their buffers."""
    import pyarrow as pa

    # "default" promotes only a piece's all-null column to its type in the other pieces.
    return pieces[0] if len(pieces) == 1 else pa.concat_tables(pieces, promote_options="default")


@functools.cache
def _libc() -> Any:
    """glibc, for malloc_trim; None elsewhere (macOS's allocator returns memory by itself)."""
    name = ctypes.util.find_library("c")
    if name is None:
        return None
    libc = ctypes.CDLL(name)
    return libc if hasattr(libc, "malloc_trim") else None


def release_memory(rows: int) -> None:
    """Hand the memory a step that held `rows` rows freed back to the system.

    A Celery worker process runs step after step: without this, the heap the allocators keep
    after one large step (glibc arenas, Arrow's pool) stacks under the next step's peak. A step
    smaller than one group skips it: the collection costs ~0.1 s and frees little there.
    """
    if rows <= CHUNK_ROWS:
        return
    import pyarrow as pa

    gc.collect()
    pa.default_memory_pool().release_unused()
    libc = _libc()
    if libc is not None:
        libc.malloc_trim(0)
