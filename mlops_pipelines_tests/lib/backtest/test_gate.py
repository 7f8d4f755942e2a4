"""The replay's gate is the loop's `decide_promotion` on the same rows: a fresh model after a
concept change is promoted, a broken one rejected, too few rows is insufficient evidence unless
the challenger is at least as good (clearly, or by the point estimate and not confidently worse)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from mlops_pipelines.lib.backtest.gate import judge
from mlops_pipelines.lib.backtest.models import ModelBank
from mlops_pipelines.lib.backtest.scoring import concat


def _after_change(bank: ModelBank) -> list[int]:
    keys = bank.history.keys
    start = keys.index("2024-03-15")
    return list(range(start, start + 7))


def test_a_fresh_model_beats_a_stale_champion_after_the_change(short_bank: tuple[ModelBank, int]) -> None:
    bank, boot = short_bank
    parts = _after_change(bank)
    fresh = concat([bank.predict(parts[0], p) for p in parts])  # labels up to the day before the fold
    stale = concat([bank.predict(boot, p) for p in parts])
    verdict = judge(bank, parts, fresh, parts, fresh, stale, ("2", "1"))
    assert verdict.verdict == "promote" and verdict.improved
    assert "not worse than the champion" in verdict.reason


def test_a_broken_challenger_is_rejected(short_bank: tuple[ModelBank, int]) -> None:
    bank = short_bank[0]
    parts = _after_change(bank)
    champion = concat([bank.predict(parts[0], p) for p in parts])
    broken = replace(champion, y_pred=np.full_like(champion.y_pred, float(np.mean(champion.y_true))))
    verdict = judge(bank, parts, broken, parts, broken, champion, ("3", "2"))
    assert verdict.verdict == "reject" and verdict.improved is False
    assert "worse than the champion" in verdict.reason


def test_too_few_rows_promote_only_a_model_at_least_as_good(short_bank: tuple[ModelBank, int]) -> None:
    bank, boot = short_bank
    parts = _after_change(bank)[:2]  # 2 partitions x 48 rows < min_rows 200
    fresh = concat([bank.predict(parts[0], p) for p in parts])
    stale = concat([bank.predict(boot, p) for p in parts])
    # Clearly better than the stale champion after the change: promoted on 96 rows.
    verdict = judge(bank, parts, fresh, parts, fresh, stale, ("2", "1"))
    assert verdict.verdict == "promote" and verdict.improved
    assert "clearly better than the champion (fewer than 200 rows" in verdict.reason
    assert verdict.gain is not None and verdict.gain > 0  # relative to the champion's score
    # The failure twin: the same model against itself is no better, and 96 rows are too few to
    # judge non-inferiority: insufficient evidence, never a promotion.
    twin = judge(bank, parts, fresh, parts, fresh, fresh, ("2", "1"))
    assert twin.verdict == "insufficient_evidence" and twin.improved is None
    assert "96 comparable rows, 200 needed" in twin.reason
    # The policy reads how short the evidence was (96 of 200) to space its next follow-up.
    assert twin.evidence_share == 0.48 and verdict.evidence_share is None
