"""lib/lake.py's partition writes: one atomic commit per write, and a frame with rows outside the
partitions it claims is refused before anything is written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlops_pipelines.lib import lake
from mlops_pipelines.lib.frames import PARTITION


def _frame(keys: list[str]) -> pd.DataFrame:
    return pd.DataFrame({PARTITION: keys, "x": range(len(keys))})


def test_a_write_replaces_exactly_its_partitions_in_one_commit(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    first = lake.write_partitions(uri, _frame(["a", "a", "b"]), PARTITION, ["a", "b"])
    second = lake.write_partitions(uri, _frame(["b"]), PARTITION, ["b"])
    assert second == first + 1
    rows = lake.read(uri).sort_values([PARTITION, "x"])
    assert rows[PARTITION].tolist() == ["a", "a", "b"] and rows["x"].tolist() == [0, 1, 0]


def test_rows_outside_the_claimed_partitions_are_refused_and_nothing_is_written(tmp_path: Path) -> None:
    uri = str(tmp_path / "t")
    lake.write_partitions(uri, _frame(["a"]), PARTITION, ["a"])
    version = lake.table_version(uri)
    with pytest.raises(lake.LakeError, match=r"rows for partitions \['c'\] outside the write \['b'\]"):
        lake.write_partitions(uri, _frame(["b", "c"]), PARTITION, ["b"])
    assert lake.table_version(uri) == version and lake.read(uri)[PARTITION].tolist() == ["a"]
