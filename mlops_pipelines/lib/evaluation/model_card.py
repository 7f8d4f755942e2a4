"""Model card: what a model is for, what it was trained on, how it scores and where it falls short."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from mlops_pipelines.lib.evaluation.holdout import check_kpis
from mlops_pipelines.lib.metrics import higher_is_better

if TYPE_CHECKING:
    from mlops_pipelines.lib.evaluation.holdout import Evaluation, KpiResult
    from mlops_pipelines.spec import ProjectSpec

MIN_SLICE_ROWS = 30  # below this a slice's metrics are anecdotes, and the card says so
TOP_FEATURES = 10


@dataclass(frozen=True)
class ModelCard:
    data: dict[str, Any]
    markdown: str

    @property
    def json(self) -> str:
        return json.dumps(self.data, indent=2, sort_keys=True, default=str)


def _kpi_text(kpi: KpiResult) -> str:
    bound = f">= {kpi.floor:g}" if kpi.floor is not None else f"<= {kpi.ceiling:g}"
    value = "undefined" if kpi.value is None else f"{kpi.value:.4g}"
    return f"{kpi.metric} {value} (required {bound})"


def limitations(
    spec: ProjectSpec, evaluation: Evaluation, kpis: list[KpiResult], min_slice_rows: int = MIN_SLICE_ROWS
) -> list[str]:
    """Plain-language caveats a reader must know before trusting the headline numbers."""
    out = [f"KPI missed: {_kpi_text(k)}" for k in kpis if not k.passed]
    small = [f"{s.column}={s.value} (n={s.n})" for s in evaluation.slices if s.n < min_slice_rows]
    if small:
        out.append(
            f"slices with fewer than {min_slice_rows} holdout rows, metrics unreliable: {', '.join(small)}"
        )
    out.extend(evaluation.notes)
    if evaluation.fairness is not None:
        for item in evaluation.fairness.attributes:
            if item.excluded_groups:
                out.append(
                    f"fairness of '{item.attribute}' leaves out groups too small to measure: "
                    f"{', '.join(item.excluded_groups)}"
                )
    grain = spec.partitions.grain.value
    out.append(
        f"trained on a window of {spec.training.window_partitions} {grain} partition(s) and scored on the "
        f"next {spec.training.holdout_partitions}: performance holds only while new data resembles that "
        f"window; feature drift is monitored ({spec.drift.numeric_method} > "
        f"{spec.drift.numeric_threshold:g}), "
        "but a shift in the target alone (e.g. demand growth) shows only once labels arrive"
    )
    return out


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines.extend("| " + " | ".join(row) + " |" for row in rows)
    return lines


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4g}"


def _markdown(
    spec: ProjectSpec,
    evaluation: Evaluation,
    lineage: dict[str, Any],
    kpis: list[KpiResult],
    caveats: list[str],
) -> str:
    metric = evaluation.primary_metric
    direction = "higher" if higher_is_better(metric) else "lower"
    lines = [
        f"# Model card: {spec.name}",
        "",
        "## Intended use",
        "",
        spec.description or "(no description)",
        "",
    ]
    lines += [
        f"- task: {spec.task.value}, target `{spec.target}`",
        f"- model family: {spec.training.family}, seed {spec.training.seed}",
        f"- primary metric: {metric} ({direction} is better)",
        "",
        "## Data lineage",
        "",
    ]
    lines += [f"- {key}: {value}" for key, value in lineage.items()] or ["- (none recorded)"]
    lines += ["", f"## Holdout metrics ({evaluation.n_rows} rows)", ""]
    lines += _table(["metric", "value"], [[k, _fmt(v)] for k, v in evaluation.metrics.items()])
    if kpis:
        lines += ["", "## KPIs", ""]
        lines += _table(["KPI", "passed"], [[_kpi_text(k), "yes" if k.passed else "NO"] for k in kpis])
    if evaluation.slices:
        lines += ["", f"## Slices ({metric})", ""]
        rows = [[s.column, s.value, str(s.n), _fmt(s.metrics.get(metric))] for s in evaluation.slices]
        lines += _table(["column", "value", "rows", metric], rows)
    if evaluation.fairness is not None:
        lines += ["", f"## Fairness (positive class '{evaluation.fairness.positive_label}')", ""]
        rows = [
            [
                a.attribute,
                _fmt(a.demographic_parity_difference),
                _fmt(a.equal_opportunity_difference),
                _fmt(a.equalized_odds_difference),
            ]
            for a in evaluation.fairness.attributes
        ]
        lines += _table(
            ["attribute", "demographic parity diff", "equal opportunity diff", "equalized odds diff"], rows
        )
    if evaluation.importance:
        lines += ["", "## Most important features (permutation)", ""]
        top = evaluation.importance[:TOP_FEATURES]
        lines += _table(["feature", "mean", "std"], [[i.feature, _fmt(i.mean), _fmt(i.std)] for i in top])
    lines += ["", "## Limitations", ""]
    lines += [f"- {item}" for item in caveats]
    return "\n".join(lines) + "\n"


def model_card(
    spec: ProjectSpec, evaluation: Evaluation, lineage: dict[str, Any], extra_caveats: list[str] | None = None
) -> ModelCard:
    """The card for a model evaluated as `evaluation`; `lineage` names its data and code versions."""
    kpis = check_kpis(evaluation, spec)
    caveats = limitations(spec, evaluation, kpis) + list(extra_caveats or [])
    data = {
        "project": spec.name,
        "intended_use": spec.description,
        "task": spec.task.value,
        "target": spec.target,
        "model_family": spec.training.family,
        "lineage": lineage,
        "evaluation": evaluation.to_dict(),
        "kpis": [asdict(k) for k in kpis],
        "limitations": caveats,
    }
    return ModelCard(data=data, markdown=_markdown(spec, evaluation, lineage, kpis, caveats))
