"""Fixtures that start real PostgreSQL, Redis, gunicorn and Celery processes (and stop them)."""

from __future__ import annotations

import tempfile
from pathlib import Path

import psycopg
import pytest
import redis as redis_lib

from devtools.services import start_postgres, start_redis

from .stack import Server, Worker, manage, production_env


@pytest.fixture(scope="session")
def postgres():
    server = start_postgres()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def redis_server():
    server = start_redis()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def stack_dir():
    with tempfile.TemporaryDirectory(prefix="tailor-stack-") as folder:
        yield Path(folder)


@pytest.fixture(scope="session")
def stack_env(postgres, redis_server, stack_dir):
    env = production_env(postgres.url, redis_server.url, stack_dir)
    manage(env, "migrate", "--noinput")
    manage(env, "collectstatic", "--noinput")
    manage(env, "seed_demo")
    return env


@pytest.fixture(scope="session")
def server(stack_env, stack_dir):
    process = Server(stack_env, stack_dir / "gunicorn.log")
    yield process
    process.stop()


@pytest.fixture
def worker(stack_env, tmp_path):
    process = Worker(stack_env, tmp_path / "celery.log")
    yield process
    process.stop()


@pytest.fixture
def pg(postgres):
    with psycopg.connect(postgres.url, autocommit=True) as connection:
        yield connection


@pytest.fixture
def redis_client(redis_server):
    return redis_lib.Redis.from_url(redis_server.url)


def decision_count(pg) -> int:
    return pg.execute("select count(*) from tracking_decisionlog").fetchone()[0]
