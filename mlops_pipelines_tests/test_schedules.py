"""The schedules evaluated for real (`evaluate_tick` on a real instance) on finished, live and
fresh projects: nothing requested past the data's end, a fallback with nothing to train on skips."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import dagster as dg
import pytest

from mlops_pipelines import names
from mlops_pipelines.definitions import build_definitions
from mlops_pipelines.jobs import retrain_job_name
from mlops_pipelines.spec import ProjectSpec


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dg.DagsterInstance]:
    """One instance for the schedules that only read the clock (each instance costs seconds)."""
    with dg.instance_for_test(temp_dir=str(tmp_path_factory.mktemp("schedules"))) as inst:
        yield inst


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as inst:
        yield inst


def live(spec: ProjectSpec) -> ProjectSpec:
    """The same project as a live source: no end, partitions run to today."""
    return spec.model_copy(update={"partitions": spec.partitions.model_copy(update={"end": None})})


_DEFINITIONS: dict[str, dg.Definitions] = {}


def _definitions(spec: ProjectSpec) -> dg.Definitions:
    """Each spec's code location, built once per module (a spec is not hashable: keyed by its JSON)."""
    key = spec.model_dump_json()
    if key not in _DEFINITIONS:
        _DEFINITIONS[key] = build_definitions({spec.name: spec})
    return _DEFINITIONS[key]


def evaluate(
    spec: ProjectSpec, schedule: str, at: datetime, instance: dg.DagsterInstance
) -> tuple[list[dg.RunRequest], str | None]:
    defs = _definitions(spec)
    definition = defs.resolve_schedule_def(names.scoped(spec.name, schedule))
    with dg.build_schedule_context(
        instance=instance, scheduled_execution_time=at, repository_def=defs.get_repository_def()
    ) as context:
        data = definition.evaluate_tick(context)
    return list(data.run_requests or []), data.skip_message


def at(day: str, hour: int = 0, minute: int = 30) -> datetime:
    return datetime.fromisoformat(day).replace(hour=hour, minute=minute, tzinfo=UTC)


@pytest.mark.parametrize(
    ("schedule", "when", "expected"),
    [
        (names.DAILY_SCHEDULE, at("2012-12-31"), "2012-12-30"),
        (names.DAILY_SCHEDULE, at("2013-01-01"), "2012-12-31"),  # the last partition, as it closes
        (names.LABELS_SCHEDULE, at("2013-01-02"), "2012-12-31"),  # its labels, a partition later
    ],
)
def test_a_finished_dataset_is_served_up_to_its_last_partition(
    specs: dict[str, ProjectSpec], shared: dg.DagsterInstance, schedule: str, when: datetime, expected: str
) -> None:
    requests, skipped = evaluate(specs["bike_sharing"], schedule, when, shared)
    assert [r.partition_key for r in requests] == [expected] and skipped is None


@pytest.mark.parametrize(
    ("schedule", "when"),
    [
        (names.DAILY_SCHEDULE, at("2013-01-02")),
        (names.LABELS_SCHEDULE, at("2013-01-03")),
        (names.DAILY_SCHEDULE, at("2026-12-04")),
    ],
)
def test_nothing_is_requested_past_the_data_end(
    specs: dict[str, ProjectSpec], shared: dg.DagsterInstance, schedule: str, when: datetime
) -> None:
    requests, skipped = evaluate(specs["bike_sharing"], schedule, when, shared)
    assert requests == []
    assert skipped == "the data ends at 2013-01-01 (partitions.end): no partition after 2012-12-31 to request"


def test_a_simulator_ends_where_its_simulation_does_and_names_that_setting(
    specs: dict[str, ProjectSpec], shared: dg.DagsterInstance
) -> None:
    requests, skipped = evaluate(live(specs["demand_sim"]), names.DAILY_SCHEDULE, at("2024-06-30"), shared)
    assert requests == [] and skipped is not None
    assert "2024-05-30 (simulator.start + simulator.days)" in skipped


def test_a_live_source_gets_the_partition_that_just_closed_today(
    specs: dict[str, ProjectSpec], shared: dg.DagsterInstance
) -> None:
    spec = live(specs["bike_sharing"])
    requests, _ = evaluate(spec, names.DAILY_SCHEDULE, at("2026-12-04"), shared)
    assert [(r.partition_key, r.run_key) for r in requests] == [("2026-12-03", "daily:2026-12-03")]
    early, skipped = evaluate(spec, names.LABELS_SCHEDULE, at("2011-01-02"), shared)
    assert early == [] and skipped is not None and "no partition is due yet" in skipped


def test_a_fallback_retrain_with_nothing_to_train_on_skips_saying_what_would_change_that(
    specs: dict[str, ProjectSpec], instance: dg.DagsterInstance
) -> None:
    spec = specs["wine_quality"]
    requests, skipped = evaluate(spec, names.FALLBACK_SCHEDULE, at("2024-02-04", 3, 0), instance)
    assert requests == []
    assert skipped == (
        "nothing to train on: wine_quality/features has no materialization yet; "
        "acts after wine_quality__data or wine_quality__daily builds features"
    )


def test_a_fallback_retrain_runs_when_features_are_newer_than_the_last_retrain(
    specs: dict[str, ProjectSpec], instance: dg.DagsterInstance
) -> None:
    spec = specs["wine_quality"]
    features = dg.AssetMaterialization(dg.AssetKey([spec.name, names.FEATURES]), partition="2024-01-01")
    instance.report_runless_asset_event(features)
    requests, _ = evaluate(spec, names.FALLBACK_SCHEDULE, at("2024-02-04", 3, 0), instance)
    assert [r.tags[names.KIND_TAG] for r in requests] == [names.KIND_SCHEDULED]

    @dg.op
    def trained() -> None:
        """Stands in for the retrain job: a successful run under its name, after the features."""

    dg.GraphDefinition(name="retrain", node_defs=[trained]).to_job(
        name=retrain_job_name(spec)
    ).execute_in_process(instance=instance)
    again, skipped = evaluate(spec, names.FALLBACK_SCHEDULE, at("2024-02-11", 3, 0), instance)
    assert again == []
    assert (
        skipped == "no new features since the last retrain; acts after wine_quality__daily adds a partition"
    )
