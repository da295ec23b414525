"""The commands' progress bar: one redrawn line on a terminal, a line per tenth in a log."""

from __future__ import annotations

import io

from personalization.management.progress import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_in_a_log_it_writes_a_line_at_each_tenth_and_ends_at_the_total():
    log = io.StringIO()
    with ProgressBar("reading", unit="decisions", stream=log) as bar:
        for done in range(0, 1001, 50):
            bar.update(done, 1000)
    lines = log.getvalue().splitlines()
    assert len(lines) == 11  # 0 %, 10 %, ... 100 %, each once
    assert lines[-1] == "reading [##############################] 100% 1,000/1,000 decisions"
    assert "\r" not in log.getvalue()


def test_on_a_terminal_it_redraws_one_line_and_closes_it():
    screen = Terminal()
    bar = ProgressBar("scoring", total=4, unit="visitors", stream=screen)
    bar.advance(2)
    bar.close()
    assert screen.getvalue().startswith("\rscoring [###############...............]  50% 2/4 visitors")
    assert screen.getvalue().endswith("\n")
    assert screen.getvalue().count("\n") == 1


def test_without_a_total_it_counts_and_quiet_writes_nothing():
    log = io.StringIO()
    with ProgressBar("reading", stream=Terminal()) as counting:
        counting.advance(7)
    quiet = ProgressBar("reading", total=10, stream=log, quiet=True)
    quiet.update(10)
    quiet.close()
    assert log.getvalue() == ""
    assert counting._text() == "reading 7"
