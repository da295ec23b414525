"""Run the test suites side by side: ``python -m devtools.suites ::: CMD1 ::: CMD2 ...``.

``make test`` has two suites that share nothing (each gets its own ``var/`` folder from
``tests/testenv.py`` and its own servers on free ports): the whole suite on the embedded default
and the database tests again on PostgreSQL and Redis. Run one after the other they take the sum
of their times; side by side, on a machine with two cores, about the longer one's.

The first command's output streams live; the others' is kept and printed, whole and in order,
once each ends, so a failure is never interleaved with another suite's dots. Commands are separated by ``:::`` (as GNU parallel does), so a command may itself hold ``--``. The exit status is
the first non-zero status of any command, so one failing suite fails ``make test``.

Standard library only, like ``devtools.services``.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time

SEPARATOR = ":::"


def commands_split(argv: list[str]) -> list[list[str]]:
    """``[":::", "a", "b", ":::", "c"]`` -> ``[["a", "b"], ["c"]]``; empty commands are refused."""
    commands: list[list[str]] = []
    for word in argv:
        if word == SEPARATOR:
            commands.append([])
        elif not commands:
            raise SystemExit(f"usage: python -m devtools.suites ::: CMD [ARGS...] [::: CMD ...]; got {word!r} first")
        else:
            commands[-1].append(word)
    if not commands or any(not command for command in commands):
        raise SystemExit("usage: python -m devtools.suites ::: CMD [ARGS...] [::: CMD ...]; a command is empty")
    return commands


def suites_run(commands: list[list[str]]) -> int:
    started = time.monotonic()
    logs = [tempfile.TemporaryFile() for _ in commands[1:]]
    others = [
        subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)  # noqa: S603 - the developer's own commands
        for command, log in zip(commands[1:], logs, strict=True)
    ]
    statuses = [subprocess.call(commands[0])]  # noqa: S603
    for command, process, log in zip(commands[1:], others, logs, strict=True):
        statuses.append(process.wait())
        sys.stdout.flush()
        print(f"\n===== {' '.join(command)} =====", flush=True)
        log.seek(0)
        sys.stdout.buffer.write(log.read())
        sys.stdout.flush()
        log.close()
    minutes, seconds = divmod(int(time.monotonic() - started), 60)
    failed = [i + 1 for i, status in enumerate(statuses) if status]
    print(
        f"\n{len(commands)} suites side by side in {minutes} min {seconds} s: "
        + (f"suite(s) {failed} failed" if failed else "all passed"),
        flush=True,
    )
    return next((status for status in statuses if status), 0)


if __name__ == "__main__":
    sys.exit(suites_run(commands_split(sys.argv[1:])))
