"""The service's column path builds exactly the features the DataFrame path (training) builds."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlops_pipelines.lib.features import build_feature_arrays, build_features
from mlops_pipelines.serving.columns import RequestRows
from mlops_pipelines.serving.schemas import build_request_schema
from mlops_pipelines.spec import ProjectSpec

# Every dtype, nulls, and derived time features: what no shipped project combines in one spec.
SYNTHETIC = ProjectSpec.model_validate(
    {
        "name": "synthetic",
        "task": "regression",
        "source": {"kind": "csv", "files": [{"path": "unused.csv"}]},
        "schema": {
            "day": {"dtype": "date"},
            "hr": {"dtype": "int", "min": 0, "max": 23},
            "count": {"dtype": "int", "nullable": True, "min": 0},
            "ratio": {"dtype": "float", "nullable": True},
            "flag": {"dtype": "bool", "nullable": True},
            "kind": {"dtype": "str", "nullable": True, "categories": ["a", "b"]},
            "stamp": {"dtype": "datetime", "nullable": True},
            "y": {"dtype": "float"},
        },
        "target": "y",
        "time": {"column": "day", "hour_column": "hr"},
        "partitions": {"grain": "daily", "start": "2020-01-01", "end": "2021-01-01"},
        "features": {"time_features": ["hour", "dayofweek", "month"]},
    }
)

row = st.fixed_dictionaries(
    {
        "day": st.dates(date(2000, 1, 1), date(2030, 12, 31)).map(str),
        "hr": st.integers(0, 23),
        "count": st.none() | st.integers(0, 10**12),
        "ratio": st.none() | st.floats(-1e9, 1e9, allow_nan=False),
        "flag": st.none() | st.booleans(),
        "kind": st.none() | st.sampled_from(["a", "b"]),
        "stamp": st.none() | st.datetimes(datetime(2000, 1, 1), datetime(2030, 1, 1)).map(datetime.isoformat),
    }
)


def _same(service: dict[str, np.ndarray], training: pd.DataFrame) -> None:
    """Same model input: the frame scikit-learn gets, and the raw columns ONNX gets."""
    pd.testing.assert_frame_equal(pd.DataFrame(service), training.reset_index(drop=True))
    for name, values in service.items():
        if values.dtype != object:
            assert values.dtype == np.float64, name
            np.testing.assert_array_equal(values, training[name].to_numpy(), err_msg=name)


@settings(max_examples=60, deadline=None)
@given(rows=st.lists(row, min_size=1, max_size=6))
def test_request_columns_match_the_dataframe_path(rows: list[dict[str, Any]]) -> None:
    validated = build_request_schema(SYNTHETIC).parse(json.dumps({"rows": rows}).encode())
    request = RequestRows.from_rows(SYNTHETIC, validated, datetime.now(UTC).replace(tzinfo=None))
    _same(request.features(SYNTHETIC), build_features(request.frame(SYNTHETIC), SYNTHETIC))


def test_every_shipped_project_builds_the_same_features_both_ways(specs: dict[str, ProjectSpec]) -> None:
    for spec in specs.values():
        rows = [{name: _example(spec, name) for name in spec.columns} for _ in range(3)]
        rows[1] = {k: (None if spec.columns[k].nullable else v) for k, v in rows[1].items()}
        validated = build_request_schema(spec).parse(json.dumps({"rows": rows}).encode())
        request = RequestRows.from_rows(spec, validated, datetime(2024, 5, 6, 7))
        _same(request.features(spec), build_features(request.frame(spec), spec))


def _example(spec: ProjectSpec, name: str) -> Any:
    column = spec.columns[name]
    if column.categories:
        return column.categories[0]
    return {
        "int": int(column.min or 0),
        "float": float(column.min or 0.5),
        "str": "text",
        "bool": True,
        "date": "2024-05-06",
        "datetime": "2024-05-06T07:08:09",
    }[column.dtype]


def test_a_non_numeric_value_in_a_numeric_column_is_named() -> None:
    with pytest.raises(ValueError, match="feature column 'count': Unable to parse string \"many\""):
        build_feature_arrays(
            {"count": np.array([1, "many"], dtype=object), "ratio": [0.5, None], "hr": [1, 2], "day": [0, 0]}
            | {"flag": [None, True], "kind": ["a", None], "stamp": [None, None]},
            SYNTHETIC,
            np.array(["2020-01-01", "2020-01-02"], dtype="datetime64[ns]"),
        )


def test_time_features_without_event_times_are_refused() -> None:
    columns = {name: [None] for name in SYNTHETIC.feature_columns}
    with pytest.raises(KeyError, match="time features need the rows' event times"):
        build_feature_arrays(columns, SYNTHETIC)
