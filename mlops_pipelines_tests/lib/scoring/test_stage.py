"""score_partitions without Dagster: real bike_sharing features, a really trained version, real
MLflow and Delta tables; the champion is the value the lineage hands on, never looked up."""

from __future__ import annotations

import pytest

from mlops_pipelines import names
from mlops_pipelines.lib.promotion.champion import ChampionRef
from mlops_pipelines.lib.scoring.stage import BATCH_ROUTE, ModelVersionLoadError, score_partitions
from mlops_pipelines.lib.stores import DeltaTables
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines_tests.lib.scoring.champion_support import Served, features_slice

DAYS = ("2011-01-23", "2011-01-24")


def test_the_champion_scores_each_partition_into_the_log_with_its_version(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, served: Served
) -> None:
    features = features_slice(bike_spec, bike_tables, *DAYS)
    result = score_partitions(bike_spec, features, served.champion, bike_tables, served.tracking)
    expected_rows = len(bike_tables.read_slice(features))
    assert result.champion_version == served.champion.version is not None
    assert result.predictions.partitions == DAYS and result.rows == expected_rows > 0
    assert result.mean_prediction is not None and result.mean_prediction > 0
    assert result.mean_score is None  # regression: no class scores
    log = bike_tables.read_slice(result.predictions)
    assert set(log["route"]) == {BATCH_ROUTE} and set(log["model_version"]) == {served.champion.version}
    assert len(log) == expected_rows

    again = score_partitions(bike_spec, features, served.champion, bike_tables, served.tracking)
    rows = bike_tables.read(
        bike_spec.name, names.PREDICTIONS, keys=list(DAYS), version=again.predictions.version
    )
    assert len(rows) == expected_rows  # a re-run replaces its own batch rows, never appends
    assert again.mean_prediction == pytest.approx(result.mean_prediction)


@pytest.mark.parametrize("champion", [None, ChampionRef.absent("bike_sharing")], ids=["none", "no-version"])
def test_no_champion_scores_nothing_and_says_so(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, served: Served, champion: ChampionRef | None
) -> None:
    before = bike_tables.version(bike_spec.name, names.PREDICTIONS)
    result = score_partitions(
        bike_spec, features_slice(bike_spec, bike_tables, *DAYS), champion, bike_tables, served.tracking
    )
    assert result.champion_version is None and result.rows == 0
    assert result.predictions.version == -1 and result.predictions.partitions == ()
    assert (result.mean_prediction, result.mean_score) == (None, None)
    assert bike_tables.version(bike_spec.name, names.PREDICTIONS) == before  # nothing written


def test_a_champion_whose_version_no_longer_loads_fails_naming_the_version(
    bike_spec: ProjectSpec, bike_tables: DeltaTables, served: Served
) -> None:
    gone = ChampionRef(project=bike_spec.name, version="42", source="promotion")
    with pytest.raises(
        ModelVersionLoadError, match=r"bike_sharing: the champion \(version 42\).*does not exist"
    ):
        score_partitions(
            bike_spec, features_slice(bike_spec, bike_tables, *DAYS), gone, bike_tables, served.tracking
        )
