"""Compaction and vacuum keep every pinned version readable, and only those (real Delta tables)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlops_pipelines.lib import lake
from mlops_pipelines.lib.maintenance.lake_upkeep import upkeep_table


def _table(tmp_path: Path) -> str:
    """Partition 'a' rewritten three times (versions 0, 1, 2), then 'b' appended twice (3, 4)."""
    uri = str(tmp_path / "features")
    for value in (1.0, 2.0, 3.0):
        lake.write_partitions(uri, pd.DataFrame({"_partition": ["a"], "x": [value]}), "_partition", ["a"])
    for value in (4.0, 5.0):
        lake.append(uri, pd.DataFrame({"_partition": ["b"], "x": [value]}))
    return uri


def _x(uri: str, version: int) -> list[float]:
    return sorted(lake.read(uri, version)["x"].tolist())


def test_a_pinned_version_survives_vacuum_and_compaction(tmp_path: Path) -> None:
    uri = _table(tmp_path)
    result = upkeep_table(uri, pinned={0}, min_retention_hours=0)
    assert result.kept_versions == (0,)
    assert result.compacted_files == 2  # 'b' had two appended files; 'a' one file: left alone
    assert _x(uri, 0) == [1.0]  # the version a model trained on still reads
    assert _x(uri, lake.table_version(uri)) == [3.0, 4.0, 5.0]
    assert result.files_after < result.files_before and result.bytes_after < result.bytes_before


def test_an_unpinned_old_version_is_vacuumed(tmp_path: Path) -> None:
    uri = _table(tmp_path)
    upkeep_table(uri, pinned={0}, min_retention_hours=0)
    with pytest.raises(FileNotFoundError, match="not found"):
        _x(uri, 1)  # version 1's file of 'a' was replaced at version 2 and nothing pins it


def test_the_retention_floor_keeps_recent_files_without_pins(tmp_path: Path) -> None:
    uri = _table(tmp_path)
    result = upkeep_table(uri, pinned=set(), min_retention_hours=168)
    assert result.vacuumed_files == 0
    assert _x(uri, 1) == [2.0]


def test_a_negative_retention_is_refused_naming_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="min_retention_hours must be >= 0"):
        upkeep_table(_table(tmp_path), pinned=set(), min_retention_hours=-1)
