"""Regenerate the README's screenshots of the Dagster UI from a real run, in one command.

    .venv/bin/python docs/screenshots.py                      # the whole demand_sim replay (minutes)
    .venv/bin/python docs/screenshots.py --until 2024-03-31   # a shorter replay
    .venv/bin/python docs/screenshots.py --state DIR          # keep the run's MLOPS_HOME in DIR
    .venv/bin/python docs/screenshots.py --state DIR --no-replay   # shoot that run again

A fresh MLOPS_HOME; `mlops-pipelines demo --project demand_sim` replays the simulator through
the closed loop; `mlops-pipelines ui` (what `./dev ui` runs) serves that instance; Debian's
headless chromium (`./dev browser-setup`) opens each page. A page is checked as the browser test
checks it (mlops_pipelines_tests/browser.py: no error state, no console, page or GraphQL error,
the plot has points) and only then written to docs/img/<name>.png, so a screenshot never shows
a broken page. Exits 1 naming every page that failed; the others are still written.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))  # the test helpers are not part of the installed package

from mlops_pipelines_tests import browser  # noqa: E402
from mlops_pipelines_tests.dagster_dev import (  # noqa: E402
    free_loopback_port,
    isolated_env,
    start_ui,
)
from mlops_pipelines_tests.lineage import EXPECTED_DEPS  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Page

PROJECT = "demand_sim"
IMG_DIR = REPO_ROOT / "docs" / "img"
DATA_DIR = REPO_ROOT.parent / "shared" / "data"


def check_lineage(page: Page, base: str, watch: browser.Watch) -> str | None:
    shown = browser.open_asset_group(page, base, PROJECT, set(EXPECTED_DEPS))
    return None if shown == set(EXPECTED_DEPS) else f"graph shows {sorted(shown)}"


def check_drift_plot(page: Page, base: str, watch: browser.Watch) -> str | None:
    shares = browser.open_partition_plots(page, base, [PROJECT, "drift"], watch).get("drift_share", {})
    if len(shares) < 2:
        return f"the drift_share plot by partition has {len(shares)} point(s)"
    page.locator("canvas").first.scroll_into_view_if_needed()
    return None


def check_sensor(page: Page, base: str, watch: browser.Watch) -> str | None:
    view = browser.open_sensor(page, base, f"{PROJECT}__retrain_on_drift")
    failed = [s for s in view.tick_statuses if "fail" in s.lower()]
    return "no tick listed" if not view.tick_statuses else (f"failed ticks: {failed}" if failed else None)


SHOTS: dict[str, Callable[[Page, str, browser.Watch], str | None]] = {
    "ui-lineage": check_lineage,
    "ui-drift-plots": check_drift_plot,
    "ui-sensor": check_sensor,
}


def replay(env: dict[str, str], until: str | None) -> None:
    command = [str(Path(sys.executable).parent / "mlops-pipelines"), "demo", "--project", PROJECT]
    subprocess.run([*command, *(["--until", until] if until else [])], env=env, cwd=REPO_ROOT, check=True)


def shoot(base: str) -> list[str]:
    from playwright.sync_api import sync_playwright

    failures = []
    IMG_DIR.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(browser.DEBIAN_CHROMIUM), headless=True)
        for name, check in SHOTS.items():
            context = chromium.new_context(viewport=browser.VIEWPORT)
            page = context.new_page()
            watch = browser.Watch()
            watch.attach(page)
            try:
                problem = check(page, base, watch)
            except Exception as err:  # noqa: BLE001 - a page that never showed what we wait for is a finding
                problem = f"{type(err).__name__}: {str(err).splitlines()[0]}"
            problems = [p for p in [problem, *browser.error_texts(page), *watch.problems()] if p]
            if problems:
                failures.append(f"{name}: {'; '.join(problems)}")
            else:
                page.wait_for_timeout(1000)  # charts animate in
                page.screenshot(path=str(IMG_DIR / f"{name}.png"))
                print(f"wrote {(IMG_DIR / f'{name}.png').relative_to(REPO_ROOT)}")
            context.close()
        chromium.close()
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--until", help="replay up to this partition (default: the whole dataset)")
    parser.add_argument("--state", type=Path, help="keep the run's MLOPS_HOME here (default: a temp dir)")
    parser.add_argument("--no-replay", action="store_true", help="shoot the --state a previous call kept")
    args = parser.parse_args()
    if args.no_replay and args.state is None:
        parser.error("--no-replay needs --state")
    if not browser.DEBIAN_CHROMIUM.is_file():
        print(f"{browser.DEBIAN_CHROMIUM} missing: run ./dev browser-setup", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        home = (args.state or Path(tmp) / "mlops").resolve()
        env = isolated_env(home / "dagster", home, DATA_DIR)
        if not args.no_replay:
            replay(env, args.until)
        dev = start_ui(REPO_ROOT, env, free_loopback_port(), home / "ui.log")
        try:
            dev.wait_until_ready(300)
            browser.wait_for_tick(dev, f"{PROJECT}__retrain_on_drift", 120.0)
            dev.graphql("mutation { setNuxSeen }")  # the sign-up dialog a user dismisses once
            failures = shoot(dev.url)
        finally:
            dev.stop()
    for failure in failures:
        print(f"not written: {failure}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
