"""`mlops-pipelines stack demo`: the demo's replay, executed by the running stack.

The blocks, runs and summary are the embedded demo's (`demo.Replay`), but nothing executes in
this process. Each run is launched through the webserver's GraphQL as a user clicking
Materialize would (a partition range rides on the same range tags), queued, dequeued by the
daemon and executed on the Celery workers. The retraining sensor is not ticked here either: the
demo turns it on in the daemon and, after each block, waits until the daemon has evaluated it
at least once after the block's last run finished and every run the sensor launched (found by
its `dagster/sensor_name` tag) has finished; those runs enter the summary as the embedded
demo's retrains do, and the block's tail is re-scored after them. The sensor is stopped at the
end; the champion is read from the tracking server.

Not rendered here: the Evidently report the embedded demo renders before each retrain (it
judges the champion about to be challenged, and the daemon launches the retrain at once).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any, TextIO, cast

import dagster as dg
import requests
from dagster._core.scheduler.instigation import InstigatorState, InstigatorType, TickStatus
from dagster_graphql import DagsterGraphQLClient, DagsterGraphQLClientError

from mlops_pipelines import names
from mlops_pipelines.demo import MAX_TICKS_PER_BLOCK, Echo, Replay, replay_all, replay_keys
from mlops_pipelines.demo_events import DemoError, failed_retrain, failure, note_skip
from mlops_pipelines.demo_inputs import check_coverage, project_spec
from mlops_pipelines.demo_progress import Progress
from mlops_pipelines.lib.registry.aliases import CHAMPION, get_alias
from mlops_pipelines.lib.registry.session import TrackingConfig
from mlops_pipelines.resources.environment import lakehouse_at
from mlops_pipelines.resources.lakehouse import Lakehouse
from mlops_pipelines.settings import load_settings
from mlops_pipelines.spec import ProjectSpec
from mlops_pipelines.stack.commands import status
from mlops_pipelines.stack.config import StackConfig, StackError
from mlops_pipelines.stack.files import LOCATION_NAME

SENSOR_NAME_TAG = "dagster/sensor_name"  # set by the daemon on every run a sensor launches
REPOSITORY = "__repository__"  # the repository a module-level Definitions becomes
POLL_SECONDS = 2.0
_START = """mutation($selector: SensorSelector!) { startSensor(sensorSelector: $selector) {
  __typename ... on Sensor { sensorState { status } }
  ... on SensorNotFoundError { message } ... on UnauthorizedError { message } ... on PythonError { message } } }"""
_STOP = """mutation($origin: String!, $selector: String!) {
  stopSensor(jobOriginId: $origin, jobSelectorId: $selector) {
  __typename ... on UnauthorizedError { message } ... on PythonError { message } } }"""


class LaunchedRun:
    """A finished run of the stack read back from its instance: what the demo reads of a result."""

    def __init__(self, instance: dg.DagsterInstance, run: dg.DagsterRun) -> None:
        self.instance, self.run = instance, run
        self._events: list[dg.DagsterEvent] | None = None

    @property
    def run_id(self) -> str:
        return self.run.run_id

    @property
    def success(self) -> bool:
        return self.run.status == dg.DagsterRunStatus.SUCCESS

    @property
    def all_events(self) -> Sequence[dg.DagsterEvent]:
        if self._events is None:
            logs = self.instance.all_logs(self.run_id)
            self._events = [e.dagster_event for e in logs if e.dagster_event is not None]
        return self._events

    def get_asset_materialization_events(self) -> Sequence[dg.DagsterEvent]:
        return [e for e in self.all_events if e.is_step_materialization]

    def get_asset_check_evaluations(self) -> Sequence[dg.AssetCheckEvaluation]:
        kind = dg.DagsterEventType.ASSET_CHECK_EVALUATION.value
        return [
            cast(dg.AssetCheckEvaluation, e.event_specific_data)
            for e in self.all_events
            if e.event_type_value == kind
        ]


class StackReplay(Replay):
    """The embedded replay with its runs launched on the stack and its ticks left to the daemon."""

    def __init__(
        self,
        spec: ProjectSpec,
        instance: dg.DagsterInstance,
        keys: list[str],
        echo: Echo,
        progress: Progress,
        config: StackConfig,
        timeout: float,
    ) -> None:
        super().__init__(spec, instance, keys, echo, progress)
        self.config, self.timeout = config, timeout
        self.client = DagsterGraphQLClient(config.host, port_number=config.webserver_port)
        self.sensor_name = names.scoped(self.spec.name, names.RETRAIN_SENSOR)
        self.seen = {r.run_id for r in self.sensor_runs()}  # earlier replays' retrains are not this one's
        self.settled_at = 0.0  # when the newest run the sensor must have seen finished (epoch s)
        self.ticks_read = time.time()  # the newest finished tick read (earlier ones are not this replay's)

    def tables(self) -> Lakehouse:
        return lakehouse_at(self.config.lake_root)  # the stack's lake, not this process's default

    def graphql(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.config.webserver_url}/graphql"
        try:
            response = requests.post(url, json={"query": query, "variables": variables}, timeout=60)
            response.raise_for_status()
            answer = response.json()
        except (requests.RequestException, ValueError) as err:
            raise DemoError(f"the webserver at {url} did not answer: {err}") from err
        if answer.get("errors"):
            raise DemoError(f"the webserver at {url} refused a request: {answer['errors'][0].get('message')}")
        return cast(dict[str, Any], answer["data"])

    def start_sensor(self) -> None:
        selector = {
            "repositoryName": REPOSITORY,
            "repositoryLocationName": LOCATION_NAME,
            "sensorName": self.sensor_name,
        }
        started = self.graphql(_START, {"selector": selector})["startSensor"]
        if started["__typename"] != "Sensor":
            raise DemoError(f"cannot start sensor {self.sensor_name} in the daemon: {started.get('message')}")

    def sensor_state(self) -> InstigatorState:
        states = self.instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        mine = [s for s in states if s.instigator_name == self.sensor_name]
        if not mine:
            raise DemoError(
                f"the instance at {self.config.dagster_home} has no state for sensor {self.sensor_name}"
            )
        return max(mine, key=lambda s: s.is_running)

    def sensor_running(self) -> bool:
        """Whether the daemon runs the sensor now: its stored state, else its default (running)."""
        states = self.instance.all_instigator_state(instigator_type=InstigatorType.SENSOR)
        mine = [s for s in states if s.instigator_name == self.sensor_name]
        return any(s.is_running for s in mine) if mine else True

    def stop_sensor(self) -> None:
        state = self.sensor_state()
        variables = {"origin": state.instigator_origin_id, "selector": state.selector_id}
        stopped = self.graphql(_STOP, variables)["stopSensor"]
        if stopped["__typename"] != "StopSensorMutationResult":
            raise DemoError(f"cannot stop sensor {self.sensor_name} in the daemon: {stopped.get('message')}")

    def sensor_runs(self) -> list[dg.DagsterRun]:
        """Every run the daemon launched for the sensor, oldest first."""
        return list(reversed(self.instance.get_runs(dg.RunsFilter(tags={SENSOR_NAME_TAG: self.sensor_name}))))

    def wait(self, run_id: str, what: str) -> LaunchedRun:
        deadline = time.monotonic() + self.timeout
        while True:
            record = self.instance.get_run_record_by_id(run_id)
            if record is not None and record.dagster_run.is_finished:
                self.settled_at = max(self.settled_at, record.end_time or time.time())
                return LaunchedRun(self.instance, record.dagster_run)
            if time.monotonic() > deadline:
                state = record.dagster_run.status.value if record else "missing"
                raise DemoError(
                    f"{what} (run {run_id}) is still {state} after {self.timeout:.0f} s (--timeout)"
                )
            time.sleep(POLL_SECONDS)

    def run(self, job: str, first: str | None = None, last: str | None = None, **kwargs: Any) -> Any:
        span = first if last in (None, first) else f"{first}..{last}"
        self.progress.activity(f"{job.removeprefix(names.scoped(self.spec.name, ''))} {span or ''}")
        tags = dict(kwargs.get("tags") or {})
        if first is not None and last in (None, first):
            tags[names.PARTITION_TAG] = first
        elif first is not None and last is not None:
            tags.update({names.RANGE_START_TAG: first, names.RANGE_END_TAG: last})
        try:
            run_id = self.client.submit_job_execution(
                job,
                repository_location_name=LOCATION_NAME,
                run_config=kwargs.get("run_config") or {},
                tags=tags,
                asset_selection=kwargs.get("asset_selection"),
            )
        except DagsterGraphQLClientError as err:
            raise DemoError(
                f"the webserver at {self.config.webserver_url} did not launch {job}: {err}"
            ) from err
        result = self.wait(run_id, f"{job} {span or ''}")
        self.summary["runs"] += 1
        if not result.success:
            raise failure(result, f"{job} {first or ''}..{last or ''} (run {run_id})")
        return result

    def ticked_since(self, since: float) -> bool:
        """Whether the daemon finished a tick of the sensor that started after `since`."""
        state = self.sensor_state()
        ticks = self.instance.get_ticks(state.instigator_origin_id, state.selector_id, after=self.ticks_read)
        done = sorted((t for t in ticks if t.status != TickStatus.STARTED), key=lambda t: t.timestamp)
        for tick in done:
            if tick.status == TickStatus.FAILURE:
                raise DemoError(f"the daemon's tick of {self.sensor_name} failed: {tick.error}")
            note_skip(self.summary, tick.skip_reason)
            self.ticks_read = max(self.ticks_read, tick.timestamp)
        return any(t.timestamp > since for t in done)

    def settle(self, block: list[str]) -> None:
        """Wait for a tick after the block's runs; record and re-score after each run it launched."""
        for _ in range(MAX_TICKS_PER_BLOCK):
            since, deadline = self.settled_at, time.monotonic() + self.timeout
            self.progress.activity(f"waiting for the daemon to tick {self.sensor_name}")
            while not self.ticked_since(since):
                if time.monotonic() > deadline:
                    raise DemoError(
                        f"the daemon did not tick {self.sensor_name} within {self.timeout:.0f} s (--timeout); "
                        f"see {self.config.logs_dir / 'daemon.log'}"
                    )
                time.sleep(POLL_SECONDS)
            launched = [r for r in self.sensor_runs() if r.run_id not in self.seen]
            if not launched:
                return
            self.pending_as_of = ""
            for run in launched:
                self.seen.add(run.run_id)
                self.progress.activity(f"retrain launched by the daemon ({run.run_id[:8]})")
                result = self.wait(run.run_id, "a retrain launched by the sensor")
                self.summary["runs"] += 1
                trigger, reason = (
                    run.tags.get(names.TRIGGER_TAG, ""),
                    run.tags.get(names.REASON_TAG, "sensor"),
                )
                as_of = run.tags.get(names.AS_OF_TAG, trigger)
                if not result.success:  # the daemon's sensor retries it; the champion serves on
                    error = failure(
                        result, f"{run.job_name} (run {run.run_id}, launched by {self.sensor_name})"
                    )
                    self.say(failed_retrain(self.summary, error, reason, trigger, as_of))
                    continue
                self.record(result, reason, trigger, as_of)
                self.pending_as_of = as_of
            if self.pending_as_of:
                self.rescore(self.pending_as_of, block[-1])
        raise DemoError(
            f"the sensor kept retraining in block {block[0]}..{block[-1]}: {MAX_TICKS_PER_BLOCK} ticks"
        )


def require_running(config: StackConfig) -> None:
    stopped = [state.name for state in status(config) if state.pid is None]
    if stopped:
        raise StackError(
            f"the stack at {config.state_dir} is not running ({', '.join(stopped)} stopped): start it with "
            f"`mlops-pipelines stack up` (`./dev stack up`) on the same state dir (--state-dir or MLOPS_STACK_DIR)"
        )


def run_stack_demo(
    config: StackConfig,
    project: str,
    until: str | None = None,
    timeout: float = 900.0,
    echo: Echo = None,
    progress: TextIO | None = None,
) -> dict[str, Any]:
    """Replay `project` on the running stack; the same summary as `demo.run_demo`."""
    spec = project_spec(project)
    require_running(config)
    keys, chunk = replay_keys(spec, until, None)
    empty = check_coverage(spec, keys, load_settings(config.process_env({})))
    started = time.monotonic()
    with dg.DagsterInstance.from_config(str(config.dagster_home)) as instance:
        replay = StackReplay(spec, instance, keys, echo, Progress(len(keys), progress), config, timeout)
        replay.say(
            f"{spec.name}: replaying {len(keys)} {spec.partitions.grain.value} partitions "
            f"({keys[0]}..{keys[-1]}) on the stack at {config.webserver_url}"
        )
        replay.step_over(empty)
        # Left as found: a sensor that was running (its default) keeps running afterwards.
        was_running = replay.sensor_running()
        replay.start_sensor()
        try:
            summary = replay_all(replay, chunk, started)
        finally:
            if not was_running:
                replay.stop_sensor()
    tracking = TrackingConfig(
        config.tracking_uri,
        None,
        "mlflow-artifacts:/mlops",
        username=config.username,
        password=config.password,
    )
    champion = get_alias(tracking, spec.name, CHAMPION)
    summary["champion_version"] = None if champion is None else champion.version
    return summary
