"""Real processes for integration tests: manage.py commands, a gunicorn server and a Celery worker.

Each runs with the production-shaped environment (PostgreSQL, Redis, DEBUG off)
that the fixtures in ``conftest.py`` build, so these tests exercise the same
code paths as a deployment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from devtools.services import free_port
from personalization.beat import QUEUES

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def production_env(database_url: str, redis_url: str, tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "TAILOR_", "CELERY_"))}
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "DEBUG": "0",
            "SECRET_KEY": "integration-test-secret-key-that-is-long-enough-0123456789abcdef",
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "SECURE_SSL_REDIRECT": "0",
            "STATIC_ROOT": str(tmp / "static"),
            "TAILOR_VAR_DIR": str(tmp / "var"),
            "LOG_LEVEL": "WARNING",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "PYTHONPATH": str(ROOT),
        }
    )
    return env


def manage(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != 0:
        raise AssertionError(f"manage.py {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def python(env: dict[str, str], code: str, timeout: float = 120, expect_exit: int = 0) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout
    )
    if result.returncode != expect_exit:
        raise AssertionError(f"script failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


class Process:
    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._log_file = log.open("wb")
        self.proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=self._log_file, stderr=subprocess.STDOUT)

    def output(self) -> str:
        self._log_file.flush()
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log_file.close()


class Server(Process):
    def __init__(self, env: dict[str, str], log: Path, workers: int = 1) -> None:
        self.port = free_port()
        super().__init__(
            [
                str(BIN / "gunicorn"),
                "config.wsgi",
                "-b",
                f"127.0.0.1:{self.port}",
                "-w",
                str(workers),
                "--timeout",
                "60",
            ],
            env,
            log,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited:\n{self.output()}")
            try:
                self.get("/")
                return
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer within 60 s:\n{self.output()}")

    def get(self, path: str, headers: dict[str, str] | None = None) -> tuple[int, str, dict[str, str]]:
        request = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", headers=headers or {})
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback only
                return response.status, response.read().decode(), dict(response.headers)
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace"), dict(error.headers)


class Worker(Process):
    def __init__(self, env: dict[str, str], log: Path) -> None:
        super().__init__(
            [
                str(BIN / "celery"),
                "-A",
                "config",
                "worker",
                "-Q",
                ",".join(QUEUES),
                "-P",
                "solo",
                "-l",
                "INFO",
                "--without-gossip",
                "--without-mingle",
            ],
            env,
            log,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"celery worker exited:\n{self.output()}")
            if "ready." in self.output():
                return
            time.sleep(0.2)
        raise RuntimeError(f"celery worker not ready within 60 s:\n{self.output()}")
