"""champion_ref_of: a registry version's tags -> the ChampionRef fields, and None where a tag is absent."""

from __future__ import annotations

import json

import pytest

from mlops_pipelines import names
from mlops_pipelines.lib.promotion.refs import champion_ref_of
from mlops_pipelines.lib.registry.lookup import ModelVersionRef

TAGS = {
    names.ML_FEATURES_VERSION: "7",
    names.ML_TRAIN_PARTITIONS: "2011-01-06..2011-01-17",
    names.ML_AS_OF: "2011-01-24",
    names.ML_PROMOTION_DECISION: json.dumps(
        {"metric": "mae", "challenger_score": 41.5, "n_rows": 336, "verdict": "promote"}
    ),
}


def test_every_field_comes_from_the_version_tags() -> None:
    ref = champion_ref_of(
        "bike", ModelVersionRef("bike", "3", "run-3", "sha", TAGS), "kept", "2026-01-01T00:00:00"
    )
    assert (ref.project, ref.version, ref.run_id, ref.source) == ("bike", "3", "run-3", "kept")
    assert ref.features_version == 7 and ref.train_range == ("2011-01-06", "2011-01-17")
    assert ref.as_of == "2011-01-24" and ref.metric == "mae" and ref.evaluated_score == 41.5
    assert ref.evaluated_rows == 336 and ref.evaluated_noise is None  # noise: not measured here
    assert ref.decided_at == "2026-01-01T00:00:00" and ref.label == "v3"


def test_a_truncated_decision_summary_still_names_metric_and_score() -> None:
    summary = {
        "truncated": True,
        "artifact": "runs:/r/decisions/x.json",
        "metric": "mae",
        "challenger_score": 2.0,
    }
    tags = {**TAGS, names.ML_PROMOTION_DECISION: json.dumps(summary)}
    ref = champion_ref_of("bike", ModelVersionRef("bike", "3", "r", "sha", tags), "promotion", None)
    assert (ref.metric, ref.evaluated_score) == ("mae", 2.0)


def test_a_version_without_lineage_tags_gives_none_never_a_guess() -> None:
    ref = champion_ref_of("bike", ModelVersionRef("bike", "1", None, None, {}), "rollback", None)
    assert ref.version == "1" and ref.exists
    fields = (ref.run_id, ref.features_version, ref.train_range, ref.as_of, ref.metric, ref.evaluated_score)
    assert fields == (None, None, None, None, None, None) and ref.evaluated_rows is None


def test_a_decision_tag_that_is_not_json_names_the_version() -> None:
    tags = {names.ML_PROMOTION_DECISION: "{not json"}
    with pytest.raises(ValueError, match="bike version 4: tag promotion_decision is not JSON"):
        champion_ref_of("bike", ModelVersionRef("bike", "4", None, None, tags), "kept", None)
