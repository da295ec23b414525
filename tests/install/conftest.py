"""The wheel, built once per session the way a site owner would build it, from a copy of the checkout.

A copy, because setuptools builds in the source tree: a ``build/`` folder left by an earlier build
could carry a deleted module into the wheel, and two runs at once would share it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LEFT_OUT = shutil.ignore_patterns(".git", ".venv", "var", "build", "dist", "*.egg-info", "__pycache__", "*.pyc")


@pytest.fixture(scope="session")
def tailor_wheel(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("wheel")
    source = folder / "tailor"
    shutil.copytree(ROOT, source, ignore=LEFT_OUT)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--quiet",
            "-w",
            str(folder / "dist"),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    (wheel,) = (folder / "dist").glob("tailor-*.whl")
    return wheel
