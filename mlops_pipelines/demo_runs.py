"""How the demo runs its jobs: one range run per block, around the partitions a block refused.

The base of `demo.Replay` (and through it of the stack's `StackReplay`, which runs the same jobs
on the deployed stack by overriding `run`): running a job and raising what failed, the daily
cycle of a block with its blocked partitions set aside, and the lines the replay prints.
"""

from __future__ import annotations

from typing import Any

import dagster as dg

from mlops_pipelines import names
from mlops_pipelines.demo_events import DemoError, failure
from mlops_pipelines.demo_inputs import spans_without
from mlops_pipelines.demo_progress import Progress
from mlops_pipelines.jobs import daily_job_name
from mlops_pipelines.runner import run_job
from mlops_pipelines.spec import ProjectSpec


class ReplayRuns:
    spec: ProjectSpec
    instance: dg.DagsterInstance
    defs: dg.Definitions
    keys: list[str]
    echo: Any
    progress: Progress
    summary: dict[str, Any]
    blocked: set[str]  # partitions whose batch was blocked: nothing downstream runs for them

    def say(self, text: str) -> None:
        if self.echo is not None:
            with self.progress.around():
                self.echo(text)

    def block_line(self, block: list[str], text: str) -> None:
        done = self.keys.index(block[-1]) + 1
        line = f"[{done:>4}/{len(self.keys)}] {block[0]}..{block[-1]}  {text}"
        if self.progress.stream is None:
            self.say(line)
        else:
            self.progress.block(done, line)

    def ingest(self, block: list[str]) -> list[str]:
        """The daily cycle of `block`, and its partitions without a batch (blocked, or with no row in
        the data: `step_over`). A blocked batch stops its own run (blocking checks), not the
        product: the run's checks name the partitions they refused, the rest of the block runs
        again without them, and only those are lost (a failure that names none loses its whole
        span). Each cause is recorded once with its partitions."""
        config, todo = self.drift_config("never"), spans_without(block, self.blocked)
        if not todo:
            self.block_line(block, "no row in the data")
        lost: dict[str, DemoError] = {}
        while todo:
            span = todo.pop(0)
            try:
                self.run(daily_job_name(self.spec), span[0], span[-1], run_config=config)
            except DemoError as err:
                named = [k for k in err.partitions if k in span]
                lost.update(dict.fromkeys(named or span, err))
                todo[:0] = spans_without(span, set(named)) if named else []
        for cause in dict.fromkeys(lost.values()):
            keys = [k for k, e in lost.items() if e is cause]
            where = f"{keys[0]}..{keys[-1]}" if keys == block and len(keys) > 1 else ", ".join(keys)
            entry = {"partitions": where, "count": len(keys), "reason": cause.reason, "error": str(cause)}
            self.summary.setdefault("blocked", []).append(entry)
            self.block_line(block, f"BLOCKED {where}: {cause}")
        self.blocked.update(lost)
        return [k for k in block if k in self.blocked]

    def step_over(self, empty: list[str]) -> None:
        """Partitions the data holds no row for: their runs would only fail for want of rows, so
        the replay steps over them, says so once, and they are no failure of the replay (under a
        schedule an empty partition fails its freshness and row-count checks: data that stopped)."""
        if not empty:
            return
        self.blocked.update(empty)
        self.summary["empty_partitions"] = empty
        shown = ", ".join(empty[:10]) + (f", ... ({len(empty) - 10} more)" if len(empty) > 10 else "")
        self.say(f"{len(empty)} partition(s) hold no row in the data, nothing to replay: {shown}")

    def run_spans(self, job: str, keys: list[str], **kwargs: Any) -> None:
        """`job` over `keys` as range runs, around the blocked partitions (they hold no batch)."""
        for span in spans_without(keys, self.blocked):
            self.run(job, span[0], span[-1], **kwargs)

    def run(self, job: str, first: str | None = None, last: str | None = None, **kwargs: Any) -> Any:
        span = first if last in (None, first) else f"{first}..{last}"
        self.progress.activity(f"{job.removeprefix(names.scoped(self.spec.name, ''))} {span or ''}")
        result = run_job(self.defs, job, self.instance, first, last, log_level="CRITICAL", **kwargs)
        self.summary["runs"] += 1
        if not result.success:
            raise failure(result, f"{job} {first or ''}..{last or ''} (run {result.run_id})")
        return result

    def drift_config(self, report: str) -> dict[str, Any]:
        return {"ops": {names.scoped(self.spec.name, names.DRIFT): {"config": {"report": report}}}}
