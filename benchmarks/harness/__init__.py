"""The benchmarks' harness: fresh-process measurements, their medians, tables and results.

    probe    the small process around each measured command (wall, peak RSS, CPU of its tree)
    measure  run a command under the probe, samples and their medians
    report   a measured process's own numbers (`report`), tables with ratios to a baseline,
             GOAL lines (PASS / MISS), results/<name>.json
    state    paths, the environment of a measured process, instances, cached setups

Standard library only. The benchmarks import everything from here (`from harness import ...`);
the names below are the harness's public surface. `report` is the function: importing it
from `harness.report` after that module has loaded binds the name over the submodule.
"""

from harness.measure import (
    PROCESS_STARTED,
    RESULT_PREFIX,
    BenchError,
    Sample,
    Summary,
    interleaved,
    measure,
    median,
    self_peak_mb,
    step_medians,
    step_seconds,
)
from harness.probe import PROBE_PREFIX
from harness.report import (
    COLUMNS_LEGEND,
    fmt,
    print_comparison,
    print_goals,
    print_table,
    ratio,
    report,
    save_results,
    verdict,
)
from harness.state import (
    BENCH_DIR,
    DATA_DIR,
    REPO,
    RESULTS_DIR,
    cached_setup,
    clean_env,
    fresh_dir,
    instance_template,
    note,
    python,
    remove,
    source_fingerprint,
    state_env,
    working_copy,
)

__all__ = [
    "BENCH_DIR",
    "COLUMNS_LEGEND",
    "DATA_DIR",
    "PROBE_PREFIX",
    "PROCESS_STARTED",
    "REPO",
    "RESULTS_DIR",
    "RESULT_PREFIX",
    "BenchError",
    "Sample",
    "Summary",
    "cached_setup",
    "clean_env",
    "fmt",
    "fresh_dir",
    "instance_template",
    "interleaved",
    "measure",
    "median",
    "note",
    "print_comparison",
    "print_goals",
    "print_table",
    "python",
    "ratio",
    "remove",
    "report",
    "save_results",
    "self_peak_mb",
    "source_fingerprint",
    "state_env",
    "step_medians",
    "step_seconds",
    "verdict",
    "working_copy",
]
