"""What the demo tells a person while it runs, on stderr whatever stdout carries (--json too).

On a terminal a one-line bar is redrawn in place (partitions done, what runs now, elapsed time)
and each finished block leaves its line above it; anywhere else (a pipe, a CI log, a file) the
bar would be carriage-return noise, so each block prints one plain line and nothing else.
Timeline lines written to the same terminal go through `around`, which lifts the bar first so
the two never share a line. The closing summary of blocked partitions is always written.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TextIO

BAR_WIDTH = 24


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s" if minutes else f"{secs}s"


class Progress:
    """Progress of a replay of `total` partitions on `stream` (None: silent)."""

    def __init__(
        self, total: int, stream: TextIO | None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.total, self.stream, self.clock = total, stream, clock
        self.tty = bool(stream is not None and stream.isatty())
        self.started = clock()
        self.done = 0
        self.now = ""
        self.drawn = False

    def _write(self, text: str) -> None:
        if self.stream is not None:
            self.stream.write(text)
            self.stream.flush()

    def _draw(self) -> None:
        if not self.tty:
            return
        filled = BAR_WIDTH * self.done // max(self.total, 1)
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        elapsed = _clock(self.clock() - self.started)
        self._write(f"\r\x1b[2K[{bar}] {self.done}/{self.total} partitions  {elapsed}  {self.now}")
        self.drawn = True

    def _lift(self) -> None:
        if self.drawn:
            self._write("\r\x1b[2K")
            self.drawn = False

    def activity(self, text: str) -> None:
        """What runs now (a terminal shows it on the bar; a log gets only block lines)."""
        self.now = text
        self._draw()

    def block(self, done: int, line: str) -> None:
        """A block finished (or was blocked): its one line, then the bar again."""
        self.done = done
        self._lift()
        self._write(f"{line}\n")
        self._draw()

    def note(self, line: str) -> None:
        """A line that must be seen whatever the stream (the blocked summary)."""
        self._lift()
        self._write(f"{line}\n")
        self._draw()

    @contextmanager
    def around(self) -> Iterator[None]:
        """Lift the bar while something else writes to the terminal, then redraw it."""
        self._lift()
        try:
            yield
        finally:
            self._draw()

    def close(self) -> None:
        """Lift the bar for good: lines written after this (the summary) stand alone."""
        self._lift()
        self.tty = False
