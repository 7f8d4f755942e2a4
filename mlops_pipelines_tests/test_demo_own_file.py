"""A file as a power-grid export ships it, from `init` through the demo's real Dagster runs.

Three things in it each broke a user's project before: timestamps whose offset changes with
daylight saving (`init` crashed on `.dt`), a True/False column (read back from the features table
as numpy bool, it failed the first retrain in SimpleImputer) and '-' for a missing reading
(a numeric column drafted as a category of every number).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlops_pipelines import cli
from mlops_pipelines.spec import load_spec


def write_grid_export(tmp_path: Path, days: int = 42) -> Path:
    rng = np.random.default_rng(8)
    local = pd.date_range("2021-03-01", periods=24 * days, freq="h", tz="Europe/Berlin")
    holiday = np.isin(local.day, [5, 19])
    temp = rng.normal(8, 4, len(local)).round(1).astype(object)
    temp[7::53] = "-"  # not the first row: alone in its UTC day, it would leave that partition all null
    load = 50 + 8 * np.sin(local.hour / 24 * 2 * np.pi) - 12 * holiday + rng.normal(0, 1.5, len(local))
    frame = pd.DataFrame(
        {
            "cet_cest_timestamp": [t.isoformat() for t in local],
            "holiday": np.where(holiday, "True", "False"),
            "temperature": temp,
            "load": load.round(2),
        }
    )
    data = tmp_path / "data"
    data.mkdir()
    path = data / "grid.csv"
    frame.to_csv(path, index=False)
    return path


@pytest.mark.slow
def test_a_grid_export_drafts_validates_and_retrains_through_daylight_saving(
    tmp_path: Path, own_data_home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = write_grid_export(tmp_path)
    spec_path = tmp_path / "grid.yaml"
    assert cli.main(["init", str(data), "--target", "load", "--out", str(spec_path)]) == 0
    spec = load_spec(spec_path)
    assert spec.time.column == "cet_cest_timestamp"
    assert spec.columns["holiday"].dtype == "bool" and spec.columns["temperature"].dtype == "float"
    assert spec.source.read_options["na_values"] == {"temperature": ["-"]}
    assert cli.main(["validate-spec", "--data", str(data.parent), str(spec_path)]) == 0
    assert "partitions: 43 non-empty of 43 daily partitions" in capsys.readouterr().out
    assert cli.main(["demo", "--project", str(spec_path), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["partitions"] == 43  # in UTC: local midnight of 1 March is 28 February 23:00
    assert "failed_retrains" not in summary
    assert summary["retrains"] and summary["champion_version"]  # the first retrain went live
