"""The Dagster UI in a real browser: Debian's chromium, headless, on a live `./dev ui`.

A small real run first: the demo replays a cut-down `demand_sim` (24 daily partitions, a quick
training section, a finished dataset) into a fresh MLOPS_HOME; then `mlops-pipelines ui` (what
`./dev ui` runs) serves that instance and chromium opens the lineage graph, the drift asset's
plots by partition and the retraining sensor's page. Every page must load without an error
state, console error, page error or GraphQL error; the plot must have a point for every
partition the run monitored.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
import yaml

from mlops_pipelines.spec import PACKAGED_PROJECTS, PROJECTS_DIR_ENV
from mlops_pipelines_tests import browser
from mlops_pipelines_tests.dagster_dev import DagsterDev, free_loopback_port, isolated_env, start_ui
from mlops_pipelines_tests.lineage import EXPECTED_DEPS

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

REPO_ROOT = Path(__file__).resolve().parents[1]
DATA_DIR = REPO_ROOT.parent / "shared" / "data"
PROJECT = "demand_sim"
SENSOR = f"{PROJECT}__retrain_on_drift"
PARTITIONS = 24
# Every partition but the first has a drift verdict: before the first model the reference is the
# first partitions, after it the champion's training window.
MIN_PLOTTED = PARTITIONS - 1
READY_TIMEOUT_S = 180.0
TICK_TIMEOUT_S = 90.0
# At 1600x1000 the cursor may take a few lines, never the screen above the tick history.
MAX_CURSOR_HEIGHT_PX = 150

LINKS_QUERY = """
query Links($path: [String!]!) { assetOrError(assetKey: {path: $path}) { __typename
    ... on Asset { assetMaterializations(limit: 1000) { partition
        metadataEntries { label ... on UrlMetadataEntry { url } ... on TextMetadataEntry { text } } } } } }
"""
OBSERVATIONS_QUERY = """
query Observations($path: [String!]!) { assetOrError(assetKey: {path: $path}) { __typename
    ... on Asset { assetObservations(limit: 1000) { partition timestamp
        metadataEntries { label ... on FloatMetadataEntry { floatValue } } } } } }
"""


def small_project(directory: Path) -> Path:
    """demand_sim cut down for a test: 24 days ending in a concept change, a one-candidate
    search on 12 partitions, and no retrain beyond the first model (a retrain costs seconds)."""
    spec = yaml.safe_load((PACKAGED_PROJECTS / f"{PROJECT}.yaml").read_text(encoding="utf-8"))
    spec["source"]["simulator"].update(days=PARTITIONS, rows_per_hour=4, concept_change="2024-01-18")
    spec["partitions"].pop("end")  # the simulation's end is the data's end
    spec["training"].update(
        window_partitions=12,
        holdout_partitions=6,
        cv_folds=3,
        search_iterations=1,
        search_space={"model__max_iter": [60], "model__learning_rate": [0.1]},
    )
    spec["drift"].update(reference_partitions=6)
    spec["kpis"] = [{"metric": "r2", "floor": 0.0}]
    spec["retraining"].update(consecutive_drift=PARTITIONS, performance_consecutive=PARTITIONS)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{PROJECT}.yaml"
    path.write_text(yaml.safe_dump(spec), encoding="utf-8")
    return path


def replay(env: dict[str, str]) -> None:
    """The demo over the whole small project, as `./dev demo --project demand_sim` runs it."""
    cli = Path(sys.executable).parent / "mlops-pipelines"
    done = subprocess.run(
        [str(cli), "demo", "--project", PROJECT, "--chunk", str(PARTITIONS)],
        env=env,
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, (
        f"demo failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    )


@pytest.fixture(scope="module")
def live_ui(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DagsterDev]:
    if not browser.DEBIAN_CHROMIUM.is_file():
        pytest.fail(f"{browser.DEBIAN_CHROMIUM} missing: `./dev setup` installs Debian's chromium")
    tmp = tmp_path_factory.mktemp("browser")
    env = isolated_env(tmp / "mlops" / "dagster", tmp / "mlops", DATA_DIR)
    env[PROJECTS_DIR_ENV] = str(small_project(tmp / "projects").parent)
    replay(env)
    dev = start_ui(REPO_ROOT, env, free_loopback_port(), tmp / "ui.log")
    try:
        dev.wait_until_ready(READY_TIMEOUT_S)
        browser.wait_for_tick(dev, SENSOR, TICK_TIMEOUT_S)
        # The community sign-up dialog covers the page on a fresh instance; a user dismisses it once.
        dev.graphql("mutation { setNuxSeen }")
        yield dev
    finally:
        dev.stop()


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(browser.DEBIAN_CHROMIUM), headless=True)
        yield launched
        launched.close()


@pytest.fixture
def page(chromium: Browser, live_ui: DagsterDev) -> Iterator[tuple[Page, browser.Watch]]:
    context = chromium.new_context(viewport=browser.VIEWPORT)
    opened = context.new_page()
    watch = browser.Watch()
    watch.attach(opened)
    yield opened, watch
    context.close()


def assert_clean(opened: Page, watch: browser.Watch) -> None:
    assert browser.error_texts(opened) == [], opened.inner_text("body")[:2000]
    assert watch.problems() == []


def test_asset_graph_renders_every_stage_of_the_project(
    page: tuple[Page, browser.Watch], live_ui: DagsterDev
) -> None:
    opened, watch = page
    shown = browser.open_asset_group(opened, live_ui.url, PROJECT, set(EXPECTED_DEPS))
    assert shown == set(EXPECTED_DEPS)
    edges = sum(len(upstream) for upstream in EXPECTED_DEPS.values())
    assert browser.graph_edges(opened) >= edges
    assert_clean(opened, watch)


def observed_drift_shares(dev: DagsterDev) -> dict[str, float]:
    """Each partition's newest drift observation (what the retraining sensor acts on): its share."""
    asset = dev.graphql(OBSERVATIONS_QUERY, {"path": [PROJECT, "drift"]})["assetOrError"]
    shares: dict[str, float] = {}
    for event in sorted(asset["assetObservations"], key=lambda e: int(e["timestamp"])):
        entry = next((e for e in event["metadataEntries"] if e["label"] == "drift_share"), None)
        if entry is not None and entry.get("floatValue") is not None:
            shares[event["partition"]] = float(entry["floatValue"])
    return shares


def test_drift_plot_by_partition_shows_each_partitions_own_share(
    page: tuple[Page, browser.Watch], live_ui: DagsterDev
) -> None:
    opened, watch = page
    plotted = browser.open_partition_plots(opened, live_ui.url, [PROJECT, "drift"], watch).get(
        "drift_share", {}
    )
    observed = observed_drift_shares(live_ui)
    assert len(observed) >= MIN_PLOTTED, observed
    # A point for every partition with a verdict, at that partition's own value (not its run's last).
    assert plotted == pytest.approx(observed), (plotted, observed)
    assert len(set(observed.values())) > 1  # the run crossed the concept change: the shares differ
    assert browser.plot_canvases(opened) >= 1
    assert_clean(opened, watch)


def test_sensor_page_shows_its_ticks_below_a_compact_cursor(
    page: tuple[Page, browser.Watch], live_ui: DagsterDev
) -> None:
    opened, watch = page
    view = browser.open_sensor(opened, live_ui.url, SENSOR)
    assert view.tick_statuses, "no tick listed"
    assert not [s for s in view.tick_statuses if "fail" in s.lower()], view.tick_statuses
    assert view.cursor_chars > 0  # the sensor has read the run's results
    assert view.cursor_height <= MAX_CURSOR_HEIGHT_PX, view
    assert_clean(opened, watch)


def metadata_links(dev: DagsterDev, asset: str) -> list[str]:
    """Every URL or text metadata value of `asset`'s materializations that names a report file."""
    found = dev.graphql(LINKS_QUERY, {"path": [PROJECT, asset]})["assetOrError"]
    values = [
        entry.get("url") or entry.get("text") or ""
        for event in found["assetMaterializations"]
        for entry in event["metadataEntries"]
    ]
    return [v for v in values if v.startswith(("http://", "file:")) or v.endswith((".html", ".json", ".md"))]


def test_report_links_open_over_http_from_the_ui(
    page: tuple[Page, browser.Watch], live_ui: DagsterDev
) -> None:
    """Evidently reports, decision records and model cards: http links under the reports URL,
    served beside the UI (a browser opens no file:// link from an http page)."""
    opened, _watch = page
    links = {asset: metadata_links(live_ui, asset) for asset in ("drift", "evaluation", "champion")}
    assert all(links.values()), links
    every = [link for found in links.values() for link in found]
    assert not [link for link in every if not link.startswith("http://127.0.0.1:")], every
    for asset, found in links.items():
        answer = opened.goto(found[-1])
        assert answer is not None and answer.status == 200, (asset, found[-1])
        assert opened.content().strip(), (asset, found[-1])
