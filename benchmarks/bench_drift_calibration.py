"""Does a drift alarm carry information? Fixed vs calibrated thresholds on bike_sharing 2011-2012.

    python benchmarks/bench_drift_calibration.py            # default margin, then a margin sweep
    python benchmarks/bench_drift_calibration.py --quick    # default margin only

The loop's windows, day by day: the current window is the 7 partitions ending at the day; the
reference is the newest 28 partitions of the training window of a champion retrained every 60
partitions (lib/training/window.select_window; the first 28 partitions before the first one).
Each verdict is `compute_drift`, once with the spec's fixed thresholds, once with
`calibrate_drift`'s. Power: in a copy of every 5th week the calibrated check leaves calm, the
weather code is recoded (1->2, 2->3, 3->4) and the wind reads double; a second shift adds 0.3
to the humidity instead of doubling the wind. Quality, not speed: the ratios are shares of weeks.
"""

from __future__ import annotations

import argparse
import time

import pandas as pd
from harness import DATA_DIR, print_goals, print_table, save_results

from mlops_pipelines.lib.features import build_features, feature_kinds
from mlops_pipelines.lib.frames import PARTITION
from mlops_pipelines.lib.ingestion.source_files import read_file
from mlops_pipelines.lib.monitoring.calibration import DriftCalibration, calibrate_drift
from mlops_pipelines.lib.monitoring.drift import compute_drift
from mlops_pipelines.lib.training.window import select_window
from mlops_pipelines.spec import DriftSpec, ProjectSpec, load_specs

RETRAIN_EVERY = 60
GOAL_FLAGGED = 0.35  # calibrated / fixed share of flagged weeks
GOAL_MISSED = 0.15  # share of injected shifts (weather recode + wind x2) left unflagged
Windows = list[tuple[pd.DataFrame, pd.DataFrame, list[str]]]


def monitored(spec: ProjectSpec) -> tuple[pd.DataFrame, dict[str, str]]:
    source = spec.source.files[0]
    raw = read_file(DATA_DIR / source.path, "csv", {**spec.source.read_options, **source.read_options})
    kinds = {c: k for c, k in feature_kinds(spec).items() if c not in spec.drift.exclude}
    frame = build_features(raw, spec)[list(kinds)]
    return frame.assign(**{PARTITION: raw[spec.time.column].astype(str).to_numpy()}), dict(kinds)


def loop_windows(spec: ProjectSpec, frame: pd.DataFrame) -> Windows:
    """(reference rows with partitions, current rows, reference keys) per monitored day."""
    keys = sorted(frame[PARTITION].unique())
    parts = {k: rows for k, rows in frame.groupby(PARTITION)}
    size, refs = spec.drift.current_window_partitions, spec.drift_reference_partitions
    references: dict[str, pd.DataFrame] = {}
    out = []
    for index in range(size - 1, len(keys)):
        retrained = index // RETRAIN_EVERY * RETRAIN_EVERY
        ref_keys = (
            keys[:refs] if retrained == 0 else list(select_window(keys[: retrained + 1], spec).train[-refs:])
        )
        if ref_keys[0] not in references:
            references[ref_keys[0]] = pd.concat([parts[k] for k in ref_keys])
        current = pd.concat([parts[k] for k in keys[index - size + 1 : index + 1]])
        out.append((references[ref_keys[0]], current, ref_keys))
    return out


def run(windows: Windows, kinds: dict, drift: DriftSpec, quick: bool) -> dict[str, float]:
    started = time.perf_counter()
    calibrations: dict[str, DriftCalibration] = {}
    for reference, _, keys in windows:
        if keys[0] not in calibrations:
            calibrations[keys[0]] = calibrate_drift(reference, kinds, drift, drift.current_window_partitions)
    calibrate_s = (time.perf_counter() - started) / len(calibrations)
    flagged = calm = caught = caught_hum = 0
    for i, (reference, current, keys) in enumerate(windows):
        status = compute_drift(reference, current, kinds, drift, calibration=calibrations[keys[0]]).status
        flagged += status != "ok"
        if quick or i % 5 or status != "ok":
            continue
        recoded = current.assign(weathersit=current["weathersit"].map({1: 2, 2: 3, 3: 4, 4: 4}))
        calm += 1
        for shifted, hum in (
            (recoded.assign(windspeed=(current["windspeed"] * 2).clip(upper=1.0)), False),
            (recoded.assign(hum=(current["hum"] + 0.3).clip(upper=1.0)), True),
        ):
            hit = (
                compute_drift(reference, shifted, kinds, drift, calibration=calibrations[keys[0]]).status
                != "ok"
            )
            caught_hum, caught = (caught_hum + hit, caught) if hum else (caught_hum, caught + hit)
    return {
        "flagged": flagged / len(windows),
        "caught": caught / calm if calm else float("nan"),
        "caught_hum": caught_hum / calm if calm else float("nan"),
        "calm": calm,
        "calibrate_s": calibrate_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="default margin only, no power check or sweep")
    args = parser.parse_args()
    spec = load_specs()["bike_sharing"]
    frame, kinds = monitored(spec)
    windows = loop_windows(spec, frame)
    fixed = sum(compute_drift(r, c, kinds, spec.drift).status != "ok" for r, c, _ in windows) / len(windows)
    margins = [spec.drift.calibration_margin] if args.quick else [1.0, 1.25, 1.5, 1.75, 2.0]
    rows, results = [], {}
    for margin in margins:
        numbers = run(
            windows, kinds, spec.drift.model_copy(update={"calibration_margin": margin}), args.quick
        )
        results[margin] = numbers
        rows.append([f"calibrated, margin {margin:g}", numbers["flagged"], numbers["flagged"] / fixed])
        rows[-1] += (
            [None, None, None] if args.quick else [numbers["calm"], numbers["caught"], numbers["caught_hum"]]
        )
    print_table(
        f"bike_sharing 2011-2012: {len(windows)} weekly windows; share flagged (warn or error); power: "
        "share of every 5th week left calm, flagged once a shift is injected into a copy",
        ["thresholds", "flagged", "x fixed", "calm weeks", "caught: recode+wind", "caught: recode+hum"],
        [["fixed (spec)", fixed, 1.0, None, None, None], *rows],
    )
    default = results[spec.drift.calibration_margin]
    print(f"\ncalibration: {default['calibrate_s']:.2f} s per reference (once per champion)")
    missed = None if args.quick else 1 - default["caught"]
    goals = print_goals(
        [
            ("flagged weeks, calibrated / fixed", default["flagged"] / fixed, GOAL_FLAGGED),
            ("injected shifts missed (share, recode + wind x2)", missed, GOAL_MISSED),
        ]
    )
    save_results(
        "bench_drift_calibration",
        {"windows": len(windows), "fixed_flagged": fixed, "by_margin": results, "goals": goals},
    )


if __name__ == "__main__":
    main()
