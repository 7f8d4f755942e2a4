"""build_features_slice without Dagster: a validated slice in real Delta tables -> the features table."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from mlops_pipelines import names
from mlops_pipelines.lib import lake
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
