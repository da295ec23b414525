"""A progress bar for long management commands, on stderr so ``--json`` output stays clean.

On a terminal it redraws one line (``label [#####.....] 45% 4,500/10,000 rows``);
in a log (CI, cron, ``2>file``) it writes a line at each tenth instead, so the
log shows progress without thousands of carriage returns.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

WIDTH = 30


class ProgressBar:
    def __init__(
        self, label: str, total: int | None = None, *, unit: str = "", stream: TextIO | None = None, quiet: bool = False
    ) -> None:
        self.label = label
        self.total = total
        self.unit = unit
        self.done = 0
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self._tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._drawn_tenth = -1
        self._drawn_at = 0.0
        self._open_line = False

    def advance(self, n: int = 1) -> None:
        self.done += n
        self._draw()

    def update(self, done: int, total: int | None = None) -> None:
        """Set the position (and total) outright: the ``progress(done, total)`` callback services take."""
        if total is not None:
            self.total = total
        self.done = done
        self._draw()

    def close(self) -> None:
        """End the bar's line (a terminal's bar is left showing its final state)."""
        if self.quiet or (not self.done and not self._open_line):
            return
        self._draw(force=True)
        if self._open_line:
            self.stream.write("\n")
            self.stream.flush()
            self._open_line = False

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _text(self) -> str:
        unit = f" {self.unit}" if self.unit else ""
        if not self.total:
            return f"{self.label} {self.done:,}{unit}"
        fraction = min(1.0, self.done / self.total)
        filled = int(WIDTH * fraction)
        return (
            f"{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] {fraction:4.0%} {self.done:,}/{self.total:,}{unit}"
        )

    def _draw(self, force: bool = False) -> None:
        if self.quiet:
            return
        if self._tty:
            now = time.monotonic()
            if not force and now - self._drawn_at < 0.1:
                return  # redrawing faster than the eye reads only costs time
            self._drawn_at = now
            self.stream.write("\r" + self._text())
            self._open_line = True
        else:
            tenth = int(10 * self.done / self.total) if self.total else -1
            # A new tenth is written; closing writes a bar without a total (its count) once.
            if not (tenth > self._drawn_tenth or (force and tenth < 0)):
                return
            self._drawn_tenth = tenth
            self.stream.write(self._text() + "\n")
        self.stream.flush()
