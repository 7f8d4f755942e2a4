"""Drive the Dagster UI of a live `dagster dev` in Debian's headless chromium (playwright).

Shared by the browser test and `docs/screenshots.py`, so a screenshot is only taken of a page
that passed the same checks. Playwright drives `/usr/bin/chromium` (the `chromium` Debian
package, which `./dev setup` installs); it never downloads browsers of its own.

What a page did wrong is collected by `Watch`: console errors, uncaught page errors, and
GraphQL answers carrying `errors` or a `PythonError` anywhere in their data. The UI swallows
many of those into an empty panel, so reading what the page loaded catches what a screenshot
would only show as a blank.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mlops_pipelines_tests.dagster_dev import DagsterDev, DagsterDevError

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page, Response, ViewportSize

DEBIAN_CHROMIUM = Path("/usr/bin/chromium")
# workspace.yaml loads a python_module without a location_name: Dagster names the location after it.
LOCATION = "mlops_pipelines.definitions"
VIEWPORT: ViewportSize = {"width": 1600, "height": 1000}
# Texts of the UI's error states (a failed query, a missing definition, a crashed view).
ERROR_TEXTS = ("Something went wrong", "Unexpected GraphQL error", "Could not find", "PythonError")
LOAD_TIMEOUT_MS = 30_000
SENSOR_TICKS_QUERY = """
query Ticks($selector: SensorSelector!) { sensorOrError(sensorSelector: $selector) { __typename
    ... on Sensor { sensorState { ticks(limit: 5) { status } } } } }
"""


@dataclass
class Watch:
    """Everything that went wrong on a page, and the data of each GraphQL operation it ran."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    graphql_errors: list[str] = field(default_factory=list)
    operations: dict[str, list[Any]] = field(default_factory=dict)

    def attach(self, page: Page) -> None:
        page.on("console", lambda m: self.console_errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.page_errors.append(str(e)))
        page.on("response", self._on_response)

    def problems(self) -> list[str]:
        return [
            *(f"console: {m}" for m in self.console_errors),
            *(f"page error: {m}" for m in self.page_errors),
            *(f"graphql: {m}" for m in self.graphql_errors),
        ]

    def _on_response(self, response: Response) -> None:
        request = response.request
        # The UI posts to /graphql?op=<operation>.
        if request.method != "POST" or urlsplit(response.url).path != "/graphql":
            return
        operation = str((request.post_data_json or {}).get("operationName") or "?")
        try:
            body = response.json()
        except Exception as err:  # noqa: BLE001 - a body that is not JSON is itself the finding
            self.graphql_errors.append(f"{operation}: HTTP {response.status}, not JSON: {err}")
            return
        for error in body.get("errors") or []:
            self.graphql_errors.append(f"{operation}: {error.get('message')}")
        self.graphql_errors.extend(f"{operation}: {m}" for m in python_errors(body.get("data")))
        self.operations.setdefault(operation, []).append(body.get("data"))


def wait_for_tick(dev: DagsterDev, sensor: str, timeout: float) -> list[str]:
    """The statuses of a sensor's ticks once the daemon has evaluated it (it does soon after start)."""
    selector = {"repositoryLocationName": LOCATION, "repositoryName": "__repository__", "sensorName": sensor}
    deadline = time.monotonic() + timeout
    while True:
        found = dev.graphql(SENSOR_TICKS_QUERY, {"selector": selector})["sensorOrError"]
        if found["__typename"] != "Sensor":
            raise DagsterDevError(f"sensor {sensor}: {found}")
        statuses = [t["status"] for t in found["sensorState"]["ticks"] if t["status"] != "STARTED"]
        if statuses:
            return statuses
        if time.monotonic() > deadline:
            raise DagsterDevError(f"no tick of {sensor} in {timeout:.0f} s:\n{dev.log_tail()}")
        time.sleep(1.0)


def python_errors(data: Any) -> list[str]:
    """The message of every `PythonError` object anywhere in a GraphQL answer."""
    if isinstance(data, list):
        return [m for item in data for m in python_errors(item)]
    if not isinstance(data, dict):
        return []
    found = [str(data.get("message"))] if data.get("__typename") == "PythonError" else []
    return found + [m for value in data.values() for m in python_errors(value)]


def error_texts(page: Page) -> list[str]:
    """The error-state texts the page shows."""
    body = page.inner_text("body")
    return [text for text in ERROR_TEXTS if text in body]


def button(page: Page, label: str) -> Locator:
    """The button whose text is exactly `label` (its accessible name also holds its icon's name)."""
    return page.get_by_role("button").filter(has_text=re.compile(f"^{re.escape(label)}$"))


def open_asset_group(page: Page, base_url: str, group: str, expected: set[str]) -> set[str]:
    """The group's lineage graph: the asset names its nodes show, once all of `expected` render."""
    page.goto(f"{base_url}/locations/{LOCATION}/asset-groups/{group}", wait_until="networkidle")
    nodes = page.locator("svg foreignObject")
    page.wait_for_function(
        "n => document.querySelectorAll('svg foreignObject').length >= n",
        arg=len(expected),
        timeout=LOAD_TIMEOUT_MS,
    )
    return {text.strip() for text in nodes.all_text_contents()}


def graph_edges(page: Page) -> int:
    """Edges drawn between asset nodes (svg paths outside the nodes)."""
    return int(page.evaluate("document.querySelectorAll('svg path:not(foreignObject *)').length"))


def open_partition_plots(
    page: Page, base_url: str, asset: list[str], watch: Watch
) -> dict[str, dict[str, float]]:
    """An asset's metadata plots by partition; what they plot: label -> partition -> value.

    The values come from the answer the page itself loaded for the plot, so an empty answer
    and a chart drawn from nothing are told apart from a plot with points.
    """
    page.goto(f"{base_url}/assets/{'/'.join(asset)}", wait_until="networkidle")
    button(page, "Plots").click()
    button(page, "Partitions").click()  # the x axis; already chosen for a partitioned asset
    waited = 0
    while "AssetPartitionEventsQuery" not in watch.operations and waited < LOAD_TIMEOUT_MS:
        page.wait_for_timeout(250)  # lets playwright deliver the page's responses meanwhile
        waited += 250
    page.wait_for_load_state("networkidle")
    answers = watch.operations.get("AssetPartitionEventsQuery") or [{}]
    node = (answers[-1] or {}).get("assetNodeOrError") or {}
    return plotted(node.get("latestMaterializationByPartition") or [])


def plotted(events: list[Any]) -> dict[str, dict[str, float]]:
    """Numeric metadata per label and partition, as the UI's partition plot reads it."""
    values: dict[str, dict[str, float]] = {}
    for event in events:
        if not event:
            continue
        for entry in event.get("metadataEntries") or []:
            number = entry.get("floatValue", entry.get("intValue"))
            if entry.get("__typename") in ("FloatMetadataEntry", "IntMetadataEntry") and number is not None:
                values.setdefault(entry["label"], {})[str(event.get("partition"))] = float(number)
    return values


def plot_canvases(page: Page) -> int:
    """Charts drawn on the page (the UI draws each metadata plot on a canvas)."""
    return int(page.evaluate("document.querySelectorAll('canvas').length"))


@dataclass(frozen=True)
class SensorView:
    cursor_height: float  # pixels the cursor row takes
    cursor_chars: int
    tick_statuses: list[str]


def open_sensor(page: Page, base_url: str, sensor: str) -> SensorView:
    """A sensor's page: how much room its cursor takes, and the statuses of its listed ticks."""
    page.goto(f"{base_url}/locations/{LOCATION}/sensors/{sensor}", wait_until="networkidle")
    page.get_by_text("Latest tick", exact=True).wait_for(timeout=LOAD_TIMEOUT_MS)
    row = page.locator("xpath=//tr[td[1][normalize-space()='Cursor']]").first
    cursor_cell = row.locator("td").nth(1)
    box = row.bounding_box() or {"height": 0.0}
    ticks = page.locator("table[class*='TickHistory'] tbody tr")
    # The tick history is its own query and may render after "Latest tick" (seen under CI load):
    # wait for its first row; a sensor with no listed tick then fails here, naming the table.
    ticks.first.wait_for(timeout=LOAD_TIMEOUT_MS)
    statuses = [ticks.nth(i).locator("td").nth(1).inner_text().strip() for i in range(ticks.count())]
    return SensorView(float(box["height"]), len(cursor_cell.inner_text().strip()), statuses)
