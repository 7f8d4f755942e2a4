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
