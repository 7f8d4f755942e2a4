"""The retraining sensor evaluated for real (`build_sensor_context` on a real instance)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from mlops_pipelines.jobs import retrain_job_name
from mlops_pipelines.names import DRIFT, KIND_TAG, TRIGGER_TAG
from mlops_pipelines.resources.alerts import FileAlertSink
from mlops_pipelines.sensor_state import read_state
from mlops_pipelines.sensors import SensorCursor, build_retrain_sensor
from mlops_pipelines.spec import ProjectSpec

DAYS = [f"2011-03-{d:02d}" for d in range(1, 31)]


@pytest.fixture
def spec(specs: dict[str, ProjectSpec]) -> ProjectSpec:
    base = specs["bike_sharing"]
    policy = base.retraining.model_copy(
        update={"consecutive_drift": 2, "cooldown_partitions": 5, "max_retrains": 5}
    )
    return base.model_copy(update={"retraining": policy})


@pytest.fixture
def instance(tmp_path: Path) -> Iterator[dg.DagsterInstance]:
    with dg.instance_for_test(temp_dir=str(tmp_path)) as inst:
        yield inst


def observe(
    instance: dg.DagsterInstance, spec: ProjectSpec, partition: str, status: str, breach: bool = False
) -> None:
    instance.report_runless_asset_event(
        dg.AssetObservation(
            [spec.name, "drift"],
            partition=partition,
            metadata={"status": status, "drift_share": 0.6 if status in ("warn", "error") else 0.0},
        )
    )
    instance.report_runless_asset_event(
        dg.AssetObservation([spec.name, "performance"], partition=partition, metadata={"kpi_breach": breach})
    )


def record_run(
    instance: dg.DagsterInstance, spec: ProjectSpec, request: dg.RunRequest, status: dg.DagsterRunStatus
) -> None:
    """What the daemon would store after launching the requested run."""
    tags = {**request.tags, "dagster/run_key": request.run_key or ""}
    instance.add_run(
        dg.DagsterRun(job_name=retrain_job_name(spec), run_id=str(uuid.uuid4()), tags=tags, status=status)
    )


def tick(
    instance: dg.DagsterInstance, spec: ProjectSpec, cursor: str | None, tmp_path: Path
) -> dg.SensorResult:
    sensor = build_retrain_sensor(spec)
    context = dg.build_sensor_context(
        instance=instance,
        cursor=cursor,
        resources={"alerts": FileAlertSink(path=str(tmp_path / "alerts.jsonl"))},
    )
    data = sensor.evaluate_tick(context)
    return dg.SensorResult(run_requests=data.run_requests, skip_reason=data.skip_message, cursor=data.cursor)


def state_of(instance: dg.DagsterInstance, spec: ProjectSpec, cursor: str | None) -> SensorCursor:
    return read_state(instance, f"{spec.name}__retrain_on_drift", cursor)


def test_case_8_a_burst_of_drift_between_ticks_gives_exactly_one_retrain(
    spec: ProjectSpec, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    for day in DAYS[:6]:
        observe(instance, spec, day, "warn")
    first = tick(instance, spec, None, tmp_path)
    assert len(first.run_requests or []) == 1
    request = (first.run_requests or [])[0]
    # The trigger is where the streak first reached 2 partitions, not the newest result.
    assert request.run_key == f"retrain:{DAYS[1]}:1"
    assert request.tags[TRIGGER_TAG] == DAYS[1] and request.tags[KIND_TAG] == "retrain"
    assert "drift" in request.tags["mlops/reason"]
    assert (tmp_path / "alerts.jsonl").read_text().count("retraining") == 1

    record_run(instance, spec, request, dg.DagsterRunStatus.STARTED)
    assert not tick(instance, spec, first.cursor, tmp_path).run_requests  # still running: nothing new
    record_run(instance, spec, request, dg.DagsterRunStatus.SUCCESS)
    # Restart from the stored cursor: the same answer, no second retrain for the same episode.
    again = tick(instance, spec, first.cursor, tmp_path)
    assert not again.run_requests


def test_a_failed_retrain_is_retried_with_a_new_run_key(
    spec: ProjectSpec, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    for day in DAYS[:3]:
        observe(instance, spec, day, "error")
    first = tick(instance, spec, None, tmp_path)
    request = (first.run_requests or [])[0]
    record_run(instance, spec, request, dg.DagsterRunStatus.FAILURE)
    retry = tick(instance, spec, first.cursor, tmp_path)
    assert [r.run_key for r in retry.run_requests or []] == [f"retrain:{DAYS[1]}:2"]


def _started_long_ago(instance: dg.DagsterInstance, spec: ProjectSpec, request: dg.RunRequest) -> str:
    """A retrain run whose process died after it started (what a killed `dagster dev` leaves)."""
    from dagster._core.events import DagsterEvent, DagsterEventType

    from mlops_pipelines.jobs import build_project_jobs

    run_id = str(uuid.uuid4())
    [job] = [j for j in build_project_jobs(spec) if j.name == retrain_job_name(spec)]
    tags = {**job.tags, **request.tags, "dagster/run_key": request.run_key or ""}
    instance.add_run(dg.DagsterRun(job_name=retrain_job_name(spec), run_id=run_id, tags=tags))
    start = DagsterEvent(DagsterEventType.RUN_START.value, job_name=retrain_job_name(spec))
    instance.report_dagster_event(start, run_id)
    return run_id


def test_a_retrain_left_started_by_a_dead_process_is_failed_and_retried_after_its_limit(
    spec: ProjectSpec, instance: dg.DagsterInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    for day in DAYS[:3]:
        observe(instance, spec, day, "error")
    first = tick(instance, spec, None, tmp_path)
    request = (first.run_requests or [])[0]
    run_id = _started_long_ago(instance, spec, request)
    run = instance.get_run_by_id(run_id)
    assert run is not None and run.status == dg.DagsterRunStatus.STARTED
    assert run.tags["dagster/max_runtime"] == str(spec.retraining.max_runtime_minutes * 60)
    # Within its limit it still blocks: it may be alive.
    assert not tick(instance, spec, first.cursor, tmp_path).run_requests
    assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.STARTED  # type: ignore[union-attr]
    later = time.time() + spec.retraining.max_runtime_minutes * 60 + 601
    monkeypatch.setattr("mlops_pipelines.sensors.time.time", lambda: later)
    retry = tick(instance, spec, first.cursor, tmp_path)
    assert [r.run_key for r in retry.run_requests or []] == [f"retrain:{DAYS[1]}:2"]
    failed = instance.get_run_by_id(run_id)
    assert failed is not None and failed.status == dg.DagsterRunStatus.FAILURE
    [message] = [e.message for e in instance.all_logs(run_id, of_type=dg.DagsterEventType.RUN_FAILURE)]
    assert "failed by the retraining sensor" in message and "maximum runtime" in message


def test_case_7_a_backlog_is_read_over_several_ticks_and_decides_as_one_read_would(
    spec: ProjectSpec, instance: dg.DagsterInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Thousands of results waiting (here 30 partitions x 2 streams against a budget of 7 per
    stream and tick): each tick reads a page, stores its cursor and requests nothing until it has
    caught up; then it decides as one unbounded read decides."""
    import mlops_pipelines.sensor_reading as reading

    for day in DAYS:
        observe(instance, spec, day, "error")
    whole = tick(instance, spec, None, tmp_path)
    assert [r.run_key for r in whole.run_requests or []] == [f"retrain:{DAYS[1]}:1"]

    monkeypatch.setattr(reading, "MAX_EVENTS_PER_TICK", 7)
    cursor, ticks = None, 0
    while True:
        result = tick(instance, spec, cursor, tmp_path)
        ticks += 1
        assert result.cursor != cursor, "a backlog tick must advance its cursor"
        cursor = result.cursor
        skipped = result.skip_reason.skip_message if result.skip_reason else None
        if not (skipped or "").startswith("catching up on a backlog"):
            break
        assert not result.run_requests
    assert ticks == 5  # 30 results per stream, 7 per tick: 4 ticks of backlog, then the decision
    assert [r.run_key for r in result.run_requests or []] == [f"retrain:{DAYS[1]}:1"]
    assert len(state_of(instance, spec, cursor).results) == len(DAYS)


def test_cooldown_then_persistent_drift_retrains_again(
    spec: ProjectSpec, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    for day in DAYS[:2]:
        observe(instance, spec, day, "warn")
    first = tick(instance, spec, None, tmp_path)
    record_run(instance, spec, (first.run_requests or [])[0], dg.DagsterRunStatus.SUCCESS)
    for day in DAYS[2:6]:  # inside the 5-partition cooldown after the trigger at DAYS[1]
        observe(instance, spec, day, "warn")
    during = tick(instance, spec, first.cursor, tmp_path)
    assert (
        not during.run_requests
        and during.skip_reason
        and "cooldown" in (during.skip_reason.skip_message or "")
    )
    for day in DAYS[6:9]:
        observe(instance, spec, day, "warn")
    after = tick(instance, spec, during.cursor, tmp_path)
    assert [r.tags[TRIGGER_TAG] for r in after.run_requests or []] == [DAYS[7]]


def _finished_retrain(
    instance: dg.DagsterInstance, spec: ProjectSpec, request: dg.RunRequest, verdict: str
) -> None:
    """The requested retrain run, finished, whose champion step recorded the gate's `verdict`."""
    from mlops_pipelines import names
    from mlops_pipelines.assets.common import asset_key

    metadata = {names.META_VERDICT: verdict, names.META_IMPROVEMENT: -0.5}

    @dg.op
    def champion(context) -> None:  # unannotated: dagster cannot resolve a deferred annotation here
        context.log_event(
            dg.AssetMaterialization(asset_key=asset_key(spec, names.CHAMPION), metadata=metadata)
        )

    @dg.job(name=retrain_job_name(spec))
    def retrain() -> None:
        champion()

    tags = {**request.tags, "dagster/run_key": request.run_key or ""}
    assert retrain.execute_in_process(instance=instance, tags=tags).success


@pytest.mark.parametrize(("verdict", "retrains"), [("reject", True), ("promote", False)])
def test_a_retrain_the_gate_turned_down_starts_no_cooldown(
    spec: ProjectSpec, instance: dg.DagsterInstance, tmp_path: Path, verdict: str, retrains: bool
) -> None:
    for day in DAYS[:2]:
        observe(instance, spec, day, "warn")
    first = tick(instance, spec, None, tmp_path)
    _finished_retrain(instance, spec, (first.run_requests or [])[0], verdict)
    observe(instance, spec, DAYS[2], "ok")  # the episode ends; a new one starts inside the cooldown
    for day in DAYS[3:5]:
        observe(instance, spec, day, "warn")
    second = tick(instance, spec, first.cursor, tmp_path)
    if retrains:  # the champion was kept: fresh evidence against it need not wait
        assert [r.tags[TRIGGER_TAG] for r in second.run_requests or []] == [DAYS[4]]
    else:  # a new champion is observed for the 5-partition cooldown first
        assert not second.run_requests
        assert "inside the 5-partition cooldown" in (
            (second.skip_reason and second.skip_reason.skip_message) or ""
        )


def test_a_kpi_breach_triggers_on_its_own(
    spec: ProjectSpec, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    observe(instance, spec, DAYS[0], "ok")
    observe(instance, spec, DAYS[1], "ok", breach=True)
    result = tick(instance, spec, None, tmp_path)
    assert [r.run_key for r in result.run_requests or []] == [f"retrain:{DAYS[1]}:1"]
    assert "KPI" in (result.run_requests or [])[0].tags["mlops/reason"]


@pytest.mark.parametrize("status", ["ok", "insufficient_data", "invalid"])
def test_no_verdict_or_no_drift_never_retrains(
    status: str, spec: ProjectSpec, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    for day in DAYS[:10]:
        observe(instance, spec, day, status)
    result = tick(instance, spec, None, tmp_path)
    assert not result.run_requests
    assert result.skip_reason


# --- The cursor: an old stored cursor, a corrupt one, and "no verdict" kept as None ---

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def test_the_unversioned_cursor_of_the_old_code_loads_and_decides_the_same(
    spec: ProjectSpec, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    # Written by the sensor before the v1 cursor (drift on 03-02..03-03, a KPI breach on 03-05);
    # that code decided "retrain:2011-03-03:1", then, after that retrain succeeded, "cooldown".
    old = (FIXTURES / "sensor_cursor_unversioned.json").read_text(encoding="utf-8")
    loaded = SensorCursor.from_json(old)
    assert (loaded.drift_after, loaded.performance_after) == (9, 10)
    assert [(r.partition, r.status, r.drift_share) for r in loaded.results][1:4] == [
        (DAYS[1], "warn", 0.4),
        (DAYS[2], "error", 0.75),
        (DAYS[3], "insufficient_data", None),  # the old writer's 0.0 meant "no share"
    ]
    first = tick(instance, spec, old, tmp_path)
    request = (first.run_requests or [])[0]
    assert request.run_key == f"retrain:{DAYS[2]}:1"
    assert first.cursor is not None and first.cursor.startswith('{"v":3,')
    assert state_of(instance, spec, first.cursor) == loaded  # nothing new read: the same record

    record_run(instance, spec, request, dg.DagsterRunStatus.SUCCESS)
    after = tick(instance, spec, old, tmp_path)
    assert not after.run_requests and after.skip_reason
    message = after.skip_reason.skip_message or ""
    assert f"KPI breach at '{DAYS[4]}'" in message and "inside the 5-partition cooldown" in message


@pytest.mark.parametrize("corrupt", ["{not json", '{"v": 7, "results": []}', '["a list"]'])
def test_a_corrupt_cursor_starts_afresh_from_the_event_log_with_a_warning(
    corrupt: str,
    spec: ProjectSpec,
    instance: dg.DagsterInstance,
    tmp_path: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    for day in DAYS[:3]:
        observe(instance, spec, day, "warn")
    result = tick(instance, spec, corrupt, tmp_path)
    # The same decision as a first tick: every observation is re-read from the event log.
    assert [r.run_key for r in result.run_requests or []] == [f"retrain:{DAYS[1]}:1"]
    # The tick's own logger (shown with the tick in the UI) writes to stderr here.
    warning = [line for line in capfd.readouterr().err.splitlines() if "unreadable sensor cursor" in line]
    assert len(warning) == 1 and "WARNING" in warning[0] and "sensor cursor" in warning[0]
    assert len(state_of(instance, spec, result.cursor).results) == 3


def test_a_readable_cursor_gives_no_warning(
    spec: ProjectSpec, instance: dg.DagsterInstance, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    observe(instance, spec, DAYS[0], "ok")
    first = tick(instance, spec, None, tmp_path)
    again = tick(instance, spec, first.cursor, tmp_path)
    assert "unreadable sensor cursor" not in capfd.readouterr().err
    assert again.cursor == first.cursor


def _report_drift(
    instance: dg.DagsterInstance, spec: ProjectSpec, day: str, metadata: dict[str, Any]
) -> None:
    instance.report_runless_asset_event(
        dg.AssetObservation([spec.name, DRIFT], partition=day, metadata=metadata)
    )


def test_a_drift_result_without_a_verdict_keeps_its_share_as_none(
    spec: ProjectSpec, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    _report_drift(instance, spec, DAYS[0], {"status": "invalid", "drift_share": None})  # a null value
    _report_drift(instance, spec, DAYS[1], {"status": "insufficient_data"})  # the key left out
    _report_drift(instance, spec, DAYS[2], {"status": "warn", "drift_share": 0.5})
    result = tick(instance, spec, None, tmp_path)
    shares = {r.partition: r.drift_share for r in state_of(instance, spec, result.cursor).results}
    assert shares == {DAYS[0]: None, DAYS[1]: None, DAYS[2]: 0.5}


def test_a_drift_result_without_a_status_is_invalid_not_a_verdict(
    spec: ProjectSpec, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    for day in DAYS[:4]:
        _report_drift(instance, spec, day, {"drift_share": 0.9})
    result = tick(instance, spec, None, tmp_path)
    assert not result.run_requests
    assert {r.status for r in state_of(instance, spec, result.cursor).results} == {"invalid"}


def _champion_run(instance: dg.DagsterInstance, spec: ProjectSpec, metadata: dict[str, Any]) -> str:
    """A finished run that materialized the project's champion with the gate's metadata."""
    from mlops_pipelines import names
    from mlops_pipelines.assets.common import asset_key

    @dg.op
    def gate(context) -> None:  # unannotated: dagster cannot resolve a deferred (string) annotation here
        context.log_event(
            dg.AssetMaterialization(asset_key=asset_key(spec, names.CHAMPION), metadata=metadata)
        )

    @dg.job(name=f"gate_{uuid.uuid4().hex[:8]}")
    def gate_job() -> None:
        gate()

    return gate_job.execute_in_process(instance=instance).run_id


@pytest.mark.parametrize(
    ("metadata", "expected"),
    [
        ({"verdict": "promote", "improvement": 2.5}, (True, True)),  # promoted and better: pays off
        # How much better, relative to the champion's score (a large gain brings the follow-up sooner).
        ({"verdict": "promote", "improvement": 2.5, "champion_score": 25.0}, (True, True, None, 0.1)),
        ({"verdict": "promote", "improvement": -0.4}, (True, False)),  # non-inferior but not better
        ({"verdict": "reject", "improvement": -3.0}, (False, False)),
        ({"verdict": "insufficient_evidence"}, (False, None, 0.0)),  # kept the champion, could not judge
        # Worse on too few rows is no miss (as the backtest replays it), and says how short it was.
        (
            {"verdict": "insufficient_evidence", "improvement": -0.4, "compared_rows": 150},
            (False, None, 0.75),
        ),
        ({"verdict": "promote"}, (True, None)),  # the first model: no champion to be better than
    ],
)
def test_a_retrain_run_pays_off_only_when_its_gate_promoted_a_better_model(
    instance: dg.DagsterInstance,
    spec: ProjectSpec,
    metadata: dict[str, Any],
    expected: tuple[bool | None, ...],
) -> None:
    from mlops_pipelines import names
    from mlops_pipelines.lib.monitoring.policy_records import GateOutcome
    from mlops_pipelines.sensors import gate_outcome

    keys = {
        "verdict": names.META_VERDICT,
        "improvement": names.META_IMPROVEMENT,
        "compared_rows": names.META_COMPARED_ROWS,
        "champion_score": names.META_CHAMPION_SCORE,
    }
    run_id = _champion_run(instance, spec, {keys[k]: v for k, v in metadata.items()})
    assert spec.promotion.min_rows == 200
    assert gate_outcome(spec, instance, run_id) == GateOutcome(*expected)


def test_a_run_without_a_champion_materialization_has_no_verdict(
    instance: dg.DagsterInstance, spec: ProjectSpec
) -> None:
    from mlops_pipelines.sensors import gate_outcome

    other = dg.AssetKey([spec.name, "not_the_champion"])

    @dg.op
    def elsewhere(context) -> None:
        context.log_event(dg.AssetMaterialization(asset_key=other, metadata={"verdict": "promote"}))

    @dg.job
    def other_job() -> None:
        elsewhere()

    from mlops_pipelines.lib.monitoring.policy_records import GateOutcome

    run_id = other_job.execute_in_process(instance=instance).run_id
    assert gate_outcome(spec, instance, run_id) == GateOutcome(None, None)


def test_case_4_several_signals_in_one_tick_request_one_run(
    spec: ProjectSpec, instance: dg.DagsterInstance, tmp_path: Path
) -> None:
    # A drift streak and a KPI breach on the same partitions: one request, one run key; the same
    # tick re-evaluated (a daemon restart) asks for the same key, which the instance runs once.
    for day in DAYS[:4]:
        observe(instance, spec, day, "error", breach=True)
    first = tick(instance, spec, None, tmp_path)
    again = tick(instance, spec, None, tmp_path)
    assert len(first.run_requests or []) == 1 and len(again.run_requests or []) == 1
    assert (first.run_requests or [])[0].run_key == (again.run_requests or [])[0].run_key


def test_case_6_a_sensor_body_that_raises_keeps_its_cursor_and_the_next_tick_acts(
    spec: ProjectSpec, instance: dg.DagsterInstance, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for day in DAYS[:2]:
        observe(instance, spec, day, "ok")
    calm = tick(instance, spec, None, tmp_path)
    assert not calm.run_requests
    for day in DAYS[2:5]:
        observe(instance, spec, day, "error")

    def broken(*_args: Any, **_kwargs: Any) -> Any:
        raise RuntimeError("policy exploded")

    with monkeypatch.context() as patched:
        patched.setattr("mlops_pipelines.sensors.should_retrain", broken)
        # The daemon records this tick as FAILURE (visible on the sensor page) and keeps the cursor.
        with pytest.raises(Exception, match="policy exploded"):
            tick(instance, spec, calm.cursor, tmp_path)
    # The next tick starts from the same cursor and re-reads the same events: nothing was lost.
    recovered = tick(instance, spec, calm.cursor, tmp_path)
    assert [r.run_key for r in recovered.run_requests or []] == [f"retrain:{DAYS[3]}:1"]
