"""build_features_slice without Dagster: a validated slice in real Delta tables -> the features table."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pandas as pd
import pytest

from mlops_pipelines import names
from mlops_pipelines.lib import features, lake
from mlops_pipelines.lib.features import build_features_slice, feature_kinds
from mlops_pipelines.lib.frames import EVENT_TIME, PARTITION, ROW_ID, TableSlice
from mlops_pipelines.lib.ingestion.stage import ingest_partitions
from mlops_pipelines.lib.stores import DeltaTables, SourceFiles
from mlops_pipelines.spec import ProjectSpec

DAYS = {
    "2024-01-01": (datetime(2024, 1, 1), datetime(2024, 1, 2)),
    "2024-01-02": (datetime(2024, 1, 2), datetime(2024, 1, 3)),
}


@pytest.fixture
def tables(tmp_path: Path) -> DeltaTables:
    return DeltaTables(str(tmp_path / "lake"))


def stored_rows(spec: ProjectSpec, tables: DeltaTables, tmp_path: Path) -> TableSlice:
    """Typed rows as the validated table holds them (ingestion's raw slice: same columns and dtypes)."""
    result = ingest_partitions(spec, DAYS, SourceFiles(None, tmp_path / "cache"), tables)
    assert result.passed, result.issues
    return result.raw


def test_features_are_built_from_exactly_the_pinned_rows(
    specs: dict[str, ProjectSpec], tables: DeltaTables, tmp_path: Path
) -> None:
    spec = specs["demand_sim"]
    rows = stored_rows(spec, tables, tmp_path)
    result = build_features_slice(spec, rows, tables)
    assert result.validated_version == rows.version
    assert result.features.partitions == rows.partitions and result.features.rows == rows.rows
    # The model's input columns in model order (the slice column 'weather' is one of them);
    # neither the label nor a system column.
    assert result.feature_columns == tuple(feature_kinds(spec))
    assert spec.target not in result.feature_columns
    table = lake.read(result.features.uri, result.features.version)
    assert len(table) == rows.rows
    assert {spec.target, EVENT_TIME, PARTITION, ROW_ID} <= set(table.columns)
    assert set(table[PARTITION]) == set(DAYS)


def test_only_the_slice_partitions_are_replaced(
    specs: dict[str, ProjectSpec], tables: DeltaTables, tmp_path: Path
) -> None:
    spec = specs["demand_sim"]
    rows = stored_rows(spec, tables, tmp_path)
    first = build_features_slice(spec, rows, tables)
    one_day = TableSlice(rows.table, rows.uri, rows.version, ("2024-01-02",), -1)
    again = build_features_slice(spec, one_day, tables)
    assert again.features.version == first.features.version + 1
    assert again.features.partitions == ("2024-01-02",) and again.features.rows == 24 * 8
    assert len(lake.read(again.features.uri)) == first.features.rows  # replaced, not appended


def test_a_slice_missing_a_feature_column_fails_naming_it(
    specs: dict[str, ProjectSpec], tables: DeltaTables, tmp_path: Path
) -> None:
    spec = specs["demand_sim"]
    rows = stored_rows(spec, tables, tmp_path)
    frame = lake.read(rows.uri, rows.version).drop(columns=["temp"])
    thin = tables.write_partitions(spec.name, names.VALIDATED, frame, list(rows.partitions))
    with pytest.raises(KeyError, match=r"feature column\(s\) \['temp'\] missing"):
        build_features_slice(spec, thin, tables)


def test_a_slice_built_in_groups_of_partitions_is_the_table_built_at_once(
    specs: dict[str, ProjectSpec], tmp_path: Path
) -> None:
    spec = specs["demand_sim"]
    at_once_tables, grouped_tables = DeltaTables(str(tmp_path / "a")), DeltaTables(str(tmp_path / "b"))
    at_once = build_features_slice(spec, stored_rows(spec, at_once_tables, tmp_path), at_once_tables, 10**9)
    grouped = build_features_slice(spec, stored_rows(spec, grouped_tables, tmp_path), grouped_tables, 1)
    assert grouped.feature_columns == at_once.feature_columns
    assert grouped.features.partitions == tuple(DAYS) and grouped.features.rows == at_once.features.rows
    a, b = (
        lake.read(r.features.uri, r.features.version).sort_values([PARTITION, ROW_ID])
        for r in (at_once, grouped)
    )
    pd.testing.assert_frame_equal(a.reset_index(drop=True), b.reset_index(drop=True))
    assert grouped.features.version == 0  # one commit for the whole slice, not one per group


def test_a_group_failing_half_way_writes_nothing(
    specs: dict[str, ProjectSpec], tables: DeltaTables, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec = specs["demand_sim"]
    rows = stored_rows(spec, tables, tmp_path)
    built: list[int] = []
    real = features.feature_table

    def second_group_fails(validated: pd.DataFrame, spec: ProjectSpec) -> pd.DataFrame:
        built.append(len(validated))
        if len(built) == 2:
            raise MemoryError("the second group did not fit")
        return real(validated, spec)

    monkeypatch.setattr(features, "feature_table", second_group_fails)
    with pytest.raises(MemoryError, match="second group"):
        build_features_slice(spec, replace(rows, rows=-1), tables, chunk_rows=1)  # as a range's input
    assert built == [24 * 8, 24 * 8]  # one day per group
    assert not lake.table_exists(tables.uri(spec.name, names.FEATURES))
