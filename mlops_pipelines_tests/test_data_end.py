"""The partitions a project shows end at its data's end: the spec's `partitions.end` for a
finished dataset (checked against the real data), the simulation's end, or today for a live source."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
import yaml

from mlops_pipelines.lib.data_end import DataEnd, data_end
from mlops_pipelines.lib.frames import EVENT_TIME
from mlops_pipelines.lib.ingestion.sources import read_source
from mlops_pipelines.partitions import partition_keys, partitions_for
from mlops_pipelines.spec import PACKAGED_PROJECTS, ProjectSpec, SpecError, parse_spec


def _day(key: str) -> date:
    return date.fromisoformat(key)


@pytest.mark.parametrize("project", ["bike_sharing", "adult_income", "wine_quality"])
def test_each_finished_example_ends_where_its_real_data_does(
    project: str, specs: dict[str, ProjectSpec], shared_data_dir: Path, tmp_path: Path
) -> None:
    spec = specs[project]
    last_time = read_source(spec, shared_data_dir, tmp_path)[EVENT_TIME].max()
    keys = partition_keys(spec)
    assert data_end(spec) == DataEnd(_day(keys[-1]) + timedelta(days=1), "partitions.end")
    # No partition past the data: the last one holds rows ...
    assert _day(keys[-1]) <= last_time.date()
    # ... and at most a partial last day is left out (wine_quality: 17 rows after midnight).
    assert last_time.date() <= _day(keys[-1]) + timedelta(days=1)


def test_a_simulator_without_an_end_ends_with_its_simulation(specs: dict[str, ProjectSpec]) -> None:
    base = specs["demand_sim"]
    spec = base.model_copy(update={"partitions": base.partitions.model_copy(update={"end": None})})
    assert data_end(spec) == DataEnd(date(2024, 5, 30), "simulator.start + simulator.days")
    assert partition_keys(spec)[-1] == "2024-05-29" == partition_keys(base)[-1]


def test_a_live_source_without_an_end_runs_to_today(specs: dict[str, ProjectSpec]) -> None:
    base = specs["bike_sharing"]
    spec = base.model_copy(update={"partitions": base.partitions.model_copy(update={"end": None})})
    assert data_end(spec) is None and partitions_for(spec).end is None
    assert partition_keys(spec)[-1] >= (date.today() - timedelta(days=1)).isoformat()


def test_partitions_past_a_simulation_are_a_spec_error_naming_both_settings() -> None:
    data = yaml.safe_load((PACKAGED_PROJECTS / "demand_sim.yaml").read_text(encoding="utf-8"))
    data["partitions"]["end"] = "2024-06-30"
    with pytest.raises(SpecError) as info:
        parse_spec(data, "demand_sim.yaml")
    message = str(info.value)
    assert "partitions.end (2024-06-30) is after the simulator's data ends (2024-05-30" in message
    assert "simulator.days" in message
    data["partitions"]["end"] = "2024-05-01"  # stopping earlier is allowed
    assert partition_keys(parse_spec(data))[-1] == "2024-04-30"


@pytest.mark.parametrize(
    ("grain", "last", "end"),
    [
        ("hourly", "2012-12-31T23:00", "2013-01-01"),
        ("daily", "2012-12-31T23:00", "2013-01-01"),
        ("weekly", "2024-01-03T10:00", "2024-01-08"),  # the week of Monday 2024-01-01 ends on the 8th
        ("monthly", "2024-12-15T00:00", "2025-01-01"),
        ("quarterly", "2024-05-31T00:00", "2024-07-01"),
        ("yearly", "2024-03-01T00:00", "2025-01-01"),
    ],
)
def test_the_suggested_end_is_the_start_of_the_period_after_the_last_row(
    grain: str, last: str, end: str
) -> None:
    from datetime import datetime

    from mlops_pipelines.lib.data_end import end_after

    assert end_after(datetime.fromisoformat(last), grain) == date.fromisoformat(end)


def test_validate_spec_data_suggests_an_end_only_for_a_file_source_without_one(
    specs: dict[str, ProjectSpec], shared_data_dir: Path, tmp_path: Path
) -> None:
    import pandas as pd

    from mlops_pipelines.lib.data_end import end_hint
    from mlops_pipelines.lib.ingestion.data_check import DataCheck, _time

    base = specs["bike_sharing"]
    open_ended = base.model_copy(update={"partitions": base.partitions.model_copy(update={"end": None})})
    frame = pd.read_csv(shared_data_dir / "bike_sharing" / "hour.csv")
    report = DataCheck()
    _time(frame, open_ended, partition_keys(open_ended), report)  # what `validate-spec --data` prints
    hints = [w for w in report.warnings if w.startswith("partitions.end is not set")]
    assert len(hints) == 1 and hints[0].endswith("set partitions.end: 2013-01-01")
    assert end_hint(base, "2012-12-31T23:00:00") is None  # the example sets its end
    assert end_hint(open_ended, None) is None  # no rows, no suggestion
