"""devtools.suites: commands side by side, output kept whole, the first failure's status returned."""

from __future__ import annotations

import sys

import pytest

from devtools.suites import commands_split, suites_run


def test_commands_are_split_on_the_separator_and_keep_their_own_double_dash():
    argv = [":::", "pytest", "-q", ":::", "services", "run", "--", "pytest"]
    assert commands_split(argv) == [["pytest", "-q"], ["services", "run", "--", "pytest"]]


@pytest.mark.parametrize("argv", [[], ["pytest"], [":::"], [":::", "a", ":::"]])
def test_a_missing_or_empty_command_is_a_usage_error(argv):
    with pytest.raises(SystemExit, match="usage"):
        commands_split(argv)


def _python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_every_output_is_printed_whole_and_the_first_failure_is_the_status(capfd):
    status = suites_run(
        [
            _python("print('first')"),
            _python("import sys, time; time.sleep(0.2); print('second a'); print('second b'); sys.exit(3)"),
            _python("import sys; print('third'); sys.exit(5)"),
        ]
    )
    out = capfd.readouterr().out
    assert status == 3
    assert "second a\nsecond b\n" in out
    assert out.index("first") < out.index("second a") < out.index("third")
    assert "suite(s) [2, 3] failed" in out


def test_all_passing_suites_give_zero(capfd):
    assert suites_run([_python("pass"), _python("pass")]) == 0
    assert "all passed" in capfd.readouterr().out
