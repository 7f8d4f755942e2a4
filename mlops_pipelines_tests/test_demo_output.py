"""What the demo prints while it runs: a bar on a terminal, plain lines elsewhere, and the
blocked summary (pure: fake streams and a fake clock, no Dagster run)."""

from __future__ import annotations

import io

from mlops_pipelines.demo_events import blocked_line, blocked_summary
from mlops_pipelines.demo_progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def replay(stream: io.StringIO) -> str:
    ticks = iter(range(0, 1000, 30))
    progress = Progress(4, stream, clock=lambda: float(next(ticks)))
    progress.activity("daily 2024-01-01..2024-01-02")
    progress.block(2, "[   2/4] 2024-01-01..2024-01-02  no drift")
    progress.activity("retrain 2024-01-02")
    with progress.around():
        stream.write("  retrain as of 2024-01-02: v1 PROMOTE\n")
    progress.block(4, "[   4/4] 2024-01-03..2024-01-04  no drift")
    progress.close()
    return stream.getvalue()


def test_a_terminal_gets_a_bar_redrawn_in_place_that_never_shares_a_line_with_text() -> None:
    text = replay(Terminal())
    assert "[############------------] 2/4 partitions  1m30s  retrain 2024-01-02" in text
    assert "[------------------------] 0/4 partitions  30s  daily 2024-01-01..2024-01-02" in text
    # Each line of text starts on a cleared line: the bar is lifted before it is written.
    assert "\r\x1b[2K  retrain as of 2024-01-02: v1 PROMOTE\n" in text
    assert "\r\x1b[2K[   4/4] 2024-01-03..2024-01-04  no drift\n" in text
    assert text.endswith("\r\x1b[2K")  # closed: no bar left behind


def test_after_close_lines_stand_alone_without_a_bar() -> None:
    stream = Terminal()
    progress = Progress(2, stream)
    progress.activity("daily")
    progress.close()
    with progress.around():
        stream.write("done in 5 s\n")
    progress.note("BLOCKED: 1 of 2 partitions")
    assert stream.getvalue().split("\r\x1b[2K")[-1] == "done in 5 s\nBLOCKED: 1 of 2 partitions\n"


def test_a_log_gets_one_plain_line_per_block_and_no_bar() -> None:
    text = replay(io.StringIO())
    assert text == (
        "[   2/4] 2024-01-01..2024-01-02  no drift\n"
        "  retrain as of 2024-01-02: v1 PROMOTE\n"
        "[   4/4] 2024-01-03..2024-01-04  no drift\n"
    )


def test_no_stream_prints_nothing() -> None:
    progress = Progress(2, None)
    progress.activity("daily")
    progress.block(2, "[   2/2] done")
    progress.note("BLOCKED: ...")
    progress.close()  # nothing to assert but that nothing raised with no stream


def test_blocked_summary_groups_blocks_by_reason_with_the_share() -> None:
    blocked = [
        {"count": 7, "reason": "check schema failed: column 'x' extra"},
        {"count": 7, "reason": "check schema failed: column 'x' extra"},
        {"count": 2, "reason": "check expectations failed: temp nulls 100%"},
    ]
    summary = blocked_summary(blocked, 32)
    assert summary["partitions"] == 16 and summary["share"] == 0.5
    assert summary["reasons"] == [
        {"reason": "check schema failed: column 'x' extra", "partitions": 14},
        {"reason": "check expectations failed: temp nulls 100%", "partitions": 2},
    ]
    assert blocked_line(summary) == (
        "BLOCKED: 16 of 32 partitions (50%) were not processed: check schema failed: column 'x' extra "
        "(14 partition(s)); check expectations failed: temp nulls 100% (2 partition(s))"
    )


def test_one_blocked_partition_of_many_is_still_a_visible_share() -> None:
    summary = blocked_summary([{"count": 1, "reason": "run failed"}], 400)
    assert summary["share"] == 0.0025
    assert blocked_line(summary).startswith("BLOCKED: 1 of 400 partitions (0%)")
