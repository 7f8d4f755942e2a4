"""`validate-spec --data`: the spec against generated data; every problem names the column, exit 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mlops_pipelines import cli
from mlops_pipelines_tests.own_state import own_state

__all__ = ["own_state"]  # the fixture, imported to be used

pytestmark = pytest.mark.usefixtures("own_state")


def yearly_data(tmp_path: Path) -> Path:
    """Sales per store and year, upper-case headers, an integer YEAR time axis."""
    rng = np.random.default_rng(3)
    rows = [(year, store) for year in range(2000, 2024) for store in range(20)]
    frame = pd.DataFrame(rows, columns=["YEAR", "Store_ID"])
    frame["Price"] = rng.uniform(1, 10, len(frame)).round(2)
    frame["Sales"] = (100 - 5 * frame["Price"] + rng.normal(0, 3, len(frame))).round(1)
    data = tmp_path / "data"
    data.mkdir()
    frame.to_csv(data / "sales.csv", index=False)
    return data


def write_spec(tmp_path: Path, schema: dict[str, Any], **changes: Any) -> Path:
    spec = {
        "name": "sales",
        "task": "regression",
        "source": {"kind": "csv", "files": [{"path": "sales.csv"}]},
        "schema": schema,
        "target": "sales",
        "time": {"column": "year"},
        "partitions": {"grain": "yearly", "start": "2000-01-01", "end": "2024-01-01"},
        "training": {"window_partitions": 8, "holdout_partitions": 2, "primary_metric": "mae"},
        **changes,
    }
    path = tmp_path / "sales.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


SCHEMA = {
    "year": {"dtype": "int"},
    "store_id": {"dtype": "int", "min": 0},
    "price": {"dtype": "float", "min": 2},
    "sales": {"dtype": "float"},
}


def test_validate_spec_with_data_prints_what_the_project_will_see(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yearly_data(tmp_path)
    spec = write_spec(tmp_path, SCHEMA)
    code = cli.main(["validate-spec", "--data", str(data), str(spec)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "columns: 4 of 4 spec columns found" in out
    assert "ok       store_id: read as int64, spec int" in out
    assert "time: column 'year' (format auto) read as year" in out
    assert "partitions: 24 non-empty of 24 yearly partitions, first 2000-01-01, last 2023-01-01" in out
    assert "rows per partition min 20, median 20, max 20" in out
    assert "target: sales (regression): 480 values" in out
    # Prices below the spec's minimum of 2 would be quarantined, and the reason is shown.
    assert "rows would be quarantined" in out and "below minimum 2" in out
    assert f"{spec}: data ok" in out


def test_validate_spec_with_data_names_each_problem_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yearly_data(tmp_path)
    schema = {k: v for k, v in SCHEMA.items() if k != "price"} | {"unit_price": {"dtype": "float"}}
    spec = write_spec(tmp_path, schema)
    assert cli.main(["validate-spec", "--data", str(data), str(spec)]) == 1
    captured = capsys.readouterr()
    assert "MISSING  unit_price; did you mean 'price'?" in captured.out
    assert (
        "error: column 'unit_price': in the spec's schema but not in the data; did you mean 'price'?"
        in captured.err
    )
    assert "error: column 'price': in the data but not in the spec's schema" in captured.err


def test_validate_spec_with_data_refuses_a_time_axis_that_misses_every_partition(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yearly_data(tmp_path)
    spec = write_spec(
        tmp_path, SCHEMA, partitions={"grain": "daily", "start": "2024-01-01", "end": "2024-03-01"}
    )
    assert cli.main(["validate-spec", "--data", str(data), str(spec)]) == 1
    err = capsys.readouterr().err
    assert "no row falls in any of the 60 daily partitions 2024-01-01..2024-02-29" in err
    assert "reads 2000-01-01T00:00:00 .. 2023-01-01T00:00:00 (480 row(s) before the partitions" in err


def test_validate_spec_with_data_asks_for_enough_partitions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yearly_data(tmp_path)
    spec = write_spec(tmp_path, SCHEMA, training={"window_partitions": 90, "holdout_partitions": 14})
    assert cli.main(["validate-spec", "--data", str(data), str(spec)]) == 1
    assert "partitions: 24 partition(s) with rows; the first model needs 60 (" in capsys.readouterr().err


def first_years(tmp_path: Path, years: int) -> Path:
    """The sales spec over its first `years` yearly partitions, with a first model that needs 3 of
    them (window 2 // 2 + holdout 1 + label delay 1), as the backtest and the demo count."""
    return write_spec(
        tmp_path,
        SCHEMA,
        partitions={"grain": "yearly", "start": "2000-01-01", "end": f"{2000 + years}-01-01"},
        training={"window_partitions": 2, "holdout_partitions": 1, "primary_metric": "mae"},
    )


def test_validate_spec_with_data_refuses_partitions_that_leave_none_to_score(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exactly the partitions the first model needs: the backtest refuses to replay them, so
    validate-spec refuses them too, with the same counts."""
    data = yearly_data(tmp_path)
    spec = first_years(tmp_path, 3)
    assert cli.main(["validate-spec", "--data", str(data), str(spec)]) == 1
    captured = capsys.readouterr()
    assert (
        "error: partitions: 3 partition(s) with rows; the first model needs 3 (training.window_partitions"
        " // 2 + training.holdout_partitions + monitoring.label_delay_partitions) and at least one more "
        "partition must remain to score: lower them or choose a finer partitions.grain than yearly"
    ) in captured.err
    assert "data ok" not in captured.out
    assert cli.main(["backtest", "--project", str(spec), "--data-dir", str(data)]) == 1
    assert (
        "sales: 3 partition(s) with rows; the first model needs 3 and at least one more partition must "
        "remain to score" in capsys.readouterr().err
    )


def test_validate_spec_with_data_passes_one_partition_after_the_first_models_window(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yearly_data(tmp_path)
    spec = first_years(tmp_path, 4)
    assert cli.main(["validate-spec", "--data", str(data), str(spec)]) == 0
    captured = capsys.readouterr()
    assert "partitions: 4 non-empty of 4 yearly partitions, first 2000-01-01, last 2003-01-01" in captured.out
    assert f"{spec}: data ok" in captured.out
    assert "must remain to score" not in captured.out + captured.err
