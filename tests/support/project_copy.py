"""A copy of the project in a temporary directory, for tests that change the app and run it as a
user would (synth, make, pytest) without touching the checkout. The copy shares this checkout's
installs (.venv, node_modules) through symlinks."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

COPIED = ("stacks", "constructs", "services", "scripts", "tests", "main.py", "cdktf.json", "pytest.ini",
          "Makefile", "README.md", "SECURITY.md", "requirements.txt", "requirements-checkov.txt", "package.json",
          "package-lock.json")


def copy_project(dest: Path) -> Path:
    """The project's sources in ``dest``, with .venv and node_modules linked to this checkout's.

    Files keep their modification times, so make sees the shared installs as current; the check
    below refuses to go on when they are not (make would then reinstall the checkout's .venv with
    the copy's library)."""
    if shutil.which("make") and subprocess.run(["make", "-q", "setup"], cwd=ROOT,
                                               capture_output=True).returncode != 0:
        raise AssertionError("the installs are out of date: run `make setup` (the copy shares them)")
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns(
                "__pycache__", "*.egg-info", "__snapshots__", ".pytest_cache"))
        else:
            shutil.copy2(src, dest / name)  # copy2 keeps mtimes: make sees the shared installs as current
    for name in (".venv", ".venv-checkov", "node_modules"):
        if (ROOT / name).exists():
            (dest / name).symlink_to(ROOT / name)
    return dest


def run(args: list[str], cwd: Path, **env: str) -> subprocess.CompletedProcess:
    """``args`` in the copy ``cwd``, with the copy's library and app on the path and none of this
    run's shared synth (a pytest run in the copy synthesizes the copy)."""
    from tests.conftest import EARLY_SYNTH_VARIABLE

    environ = {k: v for k, v in os.environ.items() if k != EARLY_SYNTH_VARIABLE}
    environ.update(PYTHONPATH=os.pathsep.join([str(cwd / "constructs"), str(cwd)]), **env)
    return subprocess.run(args, cwd=cwd, env=environ, capture_output=True, text=True)
