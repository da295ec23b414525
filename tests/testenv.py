"""Loaded by pytest before Django is set up (``-p tests.testenv`` in pyproject.toml).

The suite gets a throwaway ``var/`` folder, so running the tests never touches the
demo's: its uploads, its SQLite file, or the catalog version a running ``make demo``
server reads (a test invalidating the catalog would make that server rebuild).
Subprocesses the tests start inherit the same folder.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile

if "TAILOR_VAR_DIR" not in os.environ:
    _var_dir = tempfile.mkdtemp(prefix="tailor-tests-var-")
    os.environ["TAILOR_VAR_DIR"] = _var_dir
    atexit.register(shutil.rmtree, _var_dir, True)
