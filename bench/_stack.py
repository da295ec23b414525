"""The server stack the HTTP benchmarks (``bench/render.py``, ``bench/ingest.py``) run on, and how they measure it.

Both start a throwaway PostgreSQL and Redis from ``devtools.services``, migrate and seed the
demo site, serve it with gunicorn (``config.wsgi``, 2 sync workers) in its own process
group, load it with ``wrk`` from a second process on loopback, count CPU time from /proc and
stop everything at the end. This module holds those shared parts:

- ``Stack``: the services, long-running processes, open connections and scratch folder of
  one run, used as ``with Stack.create(name) as stack:``; leaving the block (also on
  SIGTERM) stops them all. ``Stack.gunicorn`` starts a server and waits until it answers.
- ``Process``: a child in its own process group, logging to a file.
- ``server_env``: the environment gunicorn and the management commands run with.
- ``wrk``: one wrk run whose Lua script prints a ``WRKJSON {...}`` line.
- ``CpuMeter`` and ``wait_quiet``: CPU seconds per component, and the share of the machine
  that other work took (a pair of rounds counts only if it stayed <= ``BUSY_CORES``).
- ``run_python``, ``run_child``, ``child_result``, ``django_setup``, ``django_client``:
  subprocesses with the server's environment, reporting one ``CHILDJSON {...}`` line.
- ``profile_top``, ``profile_table_print``: a cProfile reduced to our code and a few landmarks.
- ``log_problems``, ``command_line``, ``verdict``, ``wrk_missing``: report helpers.

Standard library only at import time; Django, redis and ``devtools.services`` are imported
where they are used.
"""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from bench._common import ROOT, yes_no

DESKTOP_UA = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/140.0 Safari/537.36"
# A pair of rounds counts only if other processes took at most this much CPU during both halves.
BUSY_CORES = 0.3
TICKS = os.sysconf("SC_CLK_TCK")

T = TypeVar("T")


# --------------------------------------------------------------------------- children


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()


def django_client() -> Any:
    """Set Django up and return a test client that looks like a desktop browser on loopback."""
    django_setup()
    from django.test import Client

    return Client(HTTP_HOST="127.0.0.1", HTTP_USER_AGENT=DESKTOP_UA)


def child_result(out: Any) -> None:
    """Print a child's result as the one line ``run_child`` reads."""
    print("CHILDJSON " + json.dumps(out))


def _child_json(stdout: str) -> Any:
    for line in reversed(stdout.splitlines()):
        if line.startswith("CHILDJSON "):
            return json.loads(line.removeprefix("CHILDJSON "))
    raise RuntimeError(f"child printed no result:\n{stdout[-2000:]}")


def run_python(env: dict[str, str], args: list[str], timeout: float) -> str:
    result = subprocess.run(
        [sys.executable, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(args)} failed ({result.returncode}):\n{result.stdout[-3000:]}{result.stderr[-3000:]}"
        )
    return result.stdout


def run_child(script: str | Path, env: dict[str, str], name: str, *extra: str, timeout: float = 180) -> Any:
    """Run ``script --child NAME EXTRA...`` with ``env`` (so it sees what gunicorn sees); its ``CHILDJSON``."""
    return _child_json(run_python(env, [str(Path(script).resolve()), "--child", name, *extra], timeout))


def profile_top(profiler: Any, requests: int, landmarks: Sequence[tuple[str, str]], top: int) -> dict[str, Any]:
    """ms per request under ``profiler``, and its ``top`` functions by cumulative time.

    Rows are [cumulative ms, own ms, calls] per request and ``file:line(function)``, for our
    code (not .venv, not bench/) and the third-party ``landmarks`` (file suffix, function).
    """
    import pstats

    stats = pstats.Stats(profiler).stats  # type: ignore[attr-defined]
    root = str(ROOT) + "/"
    total = sum(own for (_, _, own, _, _) in stats.values())
    rows = []
    for (filename, line, name), (_, calls, own, cumulative, _) in stats.items():
        ours = filename.startswith(root) and "/.venv/" not in filename and "/bench/" not in filename
        landmark = any(filename.endswith(f) and name == n for f, n in landmarks)
        if ours or landmark:
            where = filename.removeprefix(root) if ours else filename.split("site-packages/")[-1]
            rows.append(
                [cumulative / requests * 1000, own / requests * 1000, calls / requests, f"{where}:{line}({name})"]
            )
    rows.sort(reverse=True)
    return {"profiled_ms_per_request": total / requests * 1000, "top": rows[:top]}


def profile_table_print(rows: list[list[Any]]) -> None:
    print("    cum ms/req  own ms/req  calls/req  function")
    for cumulative, own, calls, name in rows:
        print(f"    {cumulative:10.3f} {own:11.3f} {calls:10.1f}  {name}")


# --------------------------------------------------------------------------- processes


def server_env(database_url: str, redis_url: str, var_dir: Path, label: str, **extra: str) -> dict[str, str]:
    """This process's environment without any app setting, then the bench's (``extra`` last)."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAILOR_", "DJANGO_", "CELERY_"))
        and k not in ("DATABASE_URL", "REDIS_URL", "DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "STATIC_ROOT", "MEDIA_ROOT")
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        DEBUG="0",
        SECRET_KEY=f"bench-{label}-not-secret-0123456789-abcdefghijklmnopqrstuvwxyz",
        ALLOWED_HOSTS="127.0.0.1,localhost",
        SECURE_SSL_REDIRECT="0",
        LOG_LEVEL="WARNING",
        TAILOR_VAR_DIR=str(var_dir),
        STATIC_ROOT=str(var_dir / "static"),
        MEDIA_ROOT=str(var_dir / "media"),
        PYTHONUNBUFFERED="1",
        **extra,
    )
    return env


@dataclass
class Process:
    """A long-running child (gunicorn, a writer) in its own process group, so stop() reaches its workers
    and nothing else; its output goes to a log file."""

    name: str
    args: list[str]  # after the Python executable
    env: dict[str, str]
    log_file: Path
    port: int = 0  # gunicorn's
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._log = open(self.log_file, "ab")  # closed in stop()
        self.process = subprocess.Popen(
            [sys.executable, *self.args],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    @property
    def pgid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, sig)
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
            except ProcessLookupError:
                pass
        self._log.close()
        self.process = None

    def log_text(self) -> str:
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""


@dataclass
class Stack:
    """PostgreSQL, Redis, the processes and connections of one run and its scratch folder.

    Leaving ``with Stack.create(...) as stack:`` stops the processes (last started first),
    closes the connections (last opened first), stops Redis and PostgreSQL and removes the folder.
    """

    var_dir: Path
    pg: Any = None  # devtools.services.Postgres
    rd: Any = None  # devtools.services.Redis
    processes: list[Process] = field(default_factory=list)
    clients: list[Any] = field(default_factory=list)

    @classmethod
    def create(cls, name: str) -> Stack:
        # A plain `kill` must still leave the `with` block, which stops everything started.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
        return cls(Path(tempfile.mkdtemp(prefix=f"tailor-bench-{name}-")))

    def __enter__(self) -> Stack:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        for client in reversed(self.clients):
            client.close()
        for service in (self.rd, self.pg):
            if service is not None:
                service.stop()
        shutil.rmtree(self.var_dir, ignore_errors=True)

    def services_start(self, durable_redis: bool = False) -> None:
        from devtools.services import start_postgres, start_redis

        self.pg = start_postgres()
        self.rd = start_redis(durable=durable_redis)

    def site_prepare(self, env: dict[str, str], hero_strategy: str = "rules") -> None:
        """Migrate, seed the demo site and collect static files, with the server's ``env``."""
        print(f"PostgreSQL {self.pg.url}, Redis {self.rd.url}; migrating and seeding ...", flush=True)
        run_python(env, ["manage.py", "migrate", "--noinput"], timeout=300)
        run_python(env, ["manage.py", "seed_demo", "--hero-strategy", hero_strategy], timeout=120)
        run_python(env, ["manage.py", "collectstatic", "--noinput"], timeout=120)

    def client(self, client: T) -> T:
        """Close ``client`` (a Redis or database connection) at the end."""
        self.clients.append(client)
        return client

    def start(self, process: Process) -> Process:
        self.processes.append(process)
        process.start()
        return process

    def gunicorn(self, env: dict[str, str], name: str, ready: Callable[[str], bool], timeout: float = 60) -> Process:
        """gunicorn ``config.wsgi`` with 2 sync workers on a free port, once ``ready(base URL)`` is true."""
        from devtools.services import free_port

        port = free_port()
        args = ["-m", "gunicorn", "config.wsgi", "--workers", "2", "--bind", f"127.0.0.1:{port}"]
        args += ["--log-level", "warning", "--timeout", "60"]
        server = self.start(Process(name, args, env, self.var_dir / f"gunicorn-{name}.log", port))
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not server.alive():
                raise RuntimeError(f"gunicorn ({name}) exited:\n{server.log_text()[-3000:]}")
            try:
                if ready(server.base):
                    return server
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn ({name}) did not answer within {timeout:.0f} s:\n{server.log_text()[-3000:]}")

    def meter(self, groups: dict[int, str], postgres: str = "postgres", redis: str = "redis") -> CpuMeter:
        return CpuMeter(
            groups,
            postmaster_pid=int((self.pg.data_dir / "postmaster.pid").read_text().split()[0]),
            redis_pid=self.rd.process.pid,
            postgres=postgres,
            redis=redis,
        )


# wrk script: counts non-200 responses and bodies missing a required marker (or holding a forbidden one) in
# each thread, then prints one JSON line with the totals and percentiles (``wrk`` reads it).
WRK_MARKERS_LUA = r"""
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  required = args[1] or ""
  forbidden = args[2] or ""
  responses, non200, missing, unexpected = 0, 0, 0, 0
end
function response(status, headers, body)
  responses = responses + 1
  if status ~= 200 then non200 = non200 + 1 end
  if required ~= "" and not string.find(body, required, 1, true) then missing = missing + 1 end
  if forbidden ~= "" and string.find(body, forbidden, 1, true) then unexpected = unexpected + 1 end
end
function done(summary, latency, requests)
  local r, n, m, u = 0, 0, 0, 0
  for _, t in ipairs(threads) do
    r = r + t:get("responses"); n = n + t:get("non200"); m = m + t:get("missing"); u = u + t:get("unexpected")
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"responses":%d,"non200":%d,"missing":%d,"unexpected":%d,' ..
    '"errors":%d,"p50_us":%d,"p90_us":%d,"p99_us":%d,"max_us":%d}\n',
    summary.requests, summary.duration, r, n, m, u,
    e.connect + e.read + e.write + e.status + e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
"""


def wrk_missing(script: str) -> bool:
    if shutil.which("wrk") is not None:
        return False
    print(f"{script} needs wrk as the load generator: apt-get install -y wrk", file=sys.stderr)
    return True


def wrk(
    url: str,
    seconds: float,
    connections: int,
    script: Path,
    script_args: Sequence[str],
    *,
    timeout: float,
    headers: Sequence[str] = (),
) -> dict[str, Any]:
    """One thread of wrk for ``seconds``; the JSON of the ``WRKJSON`` line the Lua ``script`` prints."""
    cmd = ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s"]
    for header in headers:
        cmd += ["-H", header]
    cmd += ["-s", str(script), url, "--", *script_args]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False)
    for line in result.stdout.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line.removeprefix("WRKJSON "))
    raise RuntimeError(f"wrk gave no result ({result.returncode}):\n{result.stdout}\n{result.stderr}")


# --------------------------------------------------------------------------- CPU accounting


def _proc_stat(pid: str) -> tuple[int, int, float]:
    """(parent pid, process group, CPU seconds used) of a live process."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[1]), int(fields[2]), (int(fields[11]) + int(fields[12])) / TICKS


def _machine_busy_seconds() -> float:
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    return (sum(values) - values[3] - values[4]) / TICKS  # all but idle and iowait


@dataclass
class CpuSample:
    wall: float
    machine: float
    own: float  # this script
    children: float  # its waited-for children: wrk
    processes: dict[int, tuple[str, float]]  # pid -> (component, CPU seconds)


@dataclass
class CpuMeter:
    """CPU time per component, and of everything else on the machine.

    Components: the process groups in ``groups``, PostgreSQL's postmaster and its children
    (``postgres``), Redis (``redis``; both may be one name), "wrk" (this script's waited-for
    children) and "bench" (this script). On a shared machine throughput follows whatever else
    runs: the CPU that other processes took during a round says whether the round was fair,
    and CPU time per request is a second measure of cost that depends less on them.
    """

    groups: dict[int, str]  # process group -> component
    postmaster_pid: int
    redis_pid: int
    postgres: str = "postgres"
    redis: str = "redis"

    def sample(self) -> CpuSample:
        processes: dict[int, tuple[str, float]] = {}
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                ppid, pgrp, cpu = _proc_stat(entry.name)
            except (OSError, ValueError, IndexError):
                continue  # exited meanwhile
            pid = int(entry.name)
            if pgrp in self.groups:
                processes[pid] = (self.groups[pgrp], cpu)
            elif pid == self.postmaster_pid or ppid == self.postmaster_pid:
                processes[pid] = (self.postgres, cpu)
            elif pid == self.redis_pid:
                processes[pid] = (self.redis, cpu)
        own = resource.getrusage(resource.RUSAGE_SELF)
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        return CpuSample(
            time.monotonic(),
            _machine_busy_seconds(),
            own.ru_utime + own.ru_stime,
            children.ru_utime + children.ru_stime,
            processes,
        )

    def delta(self, before: CpuSample, after: CpuSample) -> dict[str, float]:
        """CPU seconds per component between two samples, other work's share in cores, and the wall time."""
        used = dict.fromkeys([*self.groups.values(), self.postgres, self.redis], 0.0)
        for pid, (group, cpu) in after.processes.items():
            # Per process, so a backend that PostgreSQL replaced meanwhile (CONN_MAX_AGE) cannot
            # make the sum go down; the CPU of one that exited during the round is lost (small).
            used[group] += cpu - before.processes.get(pid, (group, 0.0))[1]
        used["wrk"] = after.children - before.children
        used["bench"] = after.own - before.own
        wall = after.wall - before.wall
        other = after.machine - before.machine - sum(used.values())
        return {**used, "other_cores": max(0.0, other) / wall, "wall": wall}


def wait_quiet(meter: CpuMeter, deadline: float) -> float:
    """Wait (until ``deadline`` at most) for a half second in which other work takes few CPUs."""
    while True:
        before = meter.sample()
        time.sleep(0.5)
        other = meter.delta(before, meter.sample())["other_cores"]
        if other <= BUSY_CORES or time.monotonic() >= deadline:
            return other


# --------------------------------------------------------------------------- report


def log_problems(text: str) -> list[str]:
    """Lines of a server log that hold a traceback, an error or a warning."""
    return [
        line for line in text.splitlines() if "Traceback" in line or re.search(r"\b(ERROR|CRITICAL|WARNING)\b", line)
    ]


def command_line(script: str, args: Any, defaults: dict[str, Any], flags: Sequence[str] = ()) -> str:
    """How to repeat a run: ``script`` with the ``flags`` that are set and the options not at their default."""
    return (
        f".venv/bin/python {script}"
        + "".join(f" --{flag.replace('_', '-')}" for flag in flags if getattr(args, flag))
        + "".join(
            f" --{name.replace('_', '-')} {getattr(args, name)}"
            for name, value in defaults.items()
            if getattr(args, name) != value
        )
    )


def verdict(met: bool, conclusive: bool) -> str:
    return yes_no(met) if conclusive else f"inconclusive ({'yes' if met else 'no'} on a busy machine)"
