"""The features asset materialized for real: what reaches the features table, and which rows."""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.lib import lake
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines_tests.assets.data_job import metadata, run_days, table_uri


def test_bike_sharing_leakage_columns_never_reach_features(
    specs: dict[str, ProjectSpec], mlops_home: Path, instance: dg.DagsterInstance
) -> None:
    result = run_days(specs["bike_sharing"], instance, "2011-01-01", "2011-01-01")
    assert result.success
    features = lake.read(table_uri(mlops_home, "bike_sharing", "features"))
    assert {"casual", "registered", "instant"}.isdisjoint(features.columns)
    assert len(features) == 24  # 2011-01-01 has all 24 hours
    recorded = metadata(result, names.FEATURES)
    assert {"casual", "registered", "instant", "cnt"}.isdisjoint(recorded[names.META_FEATURE_COLUMNS])
    assert (
        recorded[names.META_VALIDATED_VERSION] == metadata(result, names.VALIDATED)[names.META_TABLE_VERSION]
    )


def test_a_single_partition_run_after_a_range_reads_only_its_own_rows(
    specs: dict[str, ProjectSpec], mlops_home: Path, instance: dg.DagsterInstance
) -> None:
    spec = specs["bike_sharing"]
    assert run_days(spec, instance, "2011-01-01", "2011-01-03").success
    # Only `features` for the middle day: its input is narrowed from the range's stored handle.
    result = run_days(
        spec,
        instance,
        "2011-01-02",
        "2011-01-02",
        asset_selection=[dg.AssetKey(["bike_sharing", "features"])],
    )
    assert result.success
    [event] = result.get_asset_materialization_events()
    assert event.materialization.metadata["first_partition"].value == "2011-01-02"
    assert event.materialization.metadata["last_partition"].value == "2011-01-02"


def test_features_without_a_validated_input_do_not_run(
    specs: dict[str, ProjectSpec], mlops_home: Path, instance: dg.DagsterInstance
) -> None:
    # Failure twin: features alone, before validated exists, fails naming its input and writes nothing.
    result = run_days(
        specs["bike_sharing"],
        instance,
        "2011-01-01",
        "2011-01-01",
        asset_selection=[dg.AssetKey(["bike_sharing", "features"])],
    )
    assert not result.success
    [failure] = [e for e in result.all_events if e.is_step_failure]
    assert "bike_sharing/validated partition 2011-01-01 has not been materialized yet" in str(
        failure.event_specific_data
    )
    assert not lake.table_exists(table_uri(mlops_home, "bike_sharing", "features"))
