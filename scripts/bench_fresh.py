#!/usr/bin/env python3
"""A newcomer's first hour, timed: the README's two commands on a fresh clone with empty caches,
then the daily loop.

    python3 scripts/bench_fresh.py [--json bench-fresh.json] [--keep]   (make bench-fresh)

In a temporary directory: `git clone` of this checkout's HEAD (commit what you want measured),
with every cache the project's commands use pointed at empty folders there (uv's, npm's, pip's,
the jsii runtime's package cache, and the project's own set-up cache, scripts/cache.py: the
sandbox root, mypy, checkov, the suite's synth). Then, each timed as a whole process:

1. ``make synth``   the first one: .venv, Node 22, the synth;
2. ``make test``    the first one: the rest of the installs, the sandbox root, every cache cold;
3. ``make test``    after an edit (one comment line added to stacks/environments.py): the suite's
                    synth is a new cache entry, everything else is warm;
4. ``make test``    again, on that unchanged tree.

What it cannot empty: the Debian packages ``make test`` installs with apt-get (they stay on the
machine once installed: the first run on a new machine also pays ``apt-get install``) and the
machine's own tools. Standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EDITED = "stacks/environments.py"


def timed(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> dict:
    start = time.monotonic()
    with log.open("w") as out:
        done = subprocess.run(command, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL)
    seconds = round(time.monotonic() - start, 1)
    tail = log.read_text(errors="replace").strip().splitlines()[-1:] or [""]
    return {"command": " ".join(command), "seconds": seconds, "exit": done.returncode, "last_line": tail[0],
            "log": str(log)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", type=Path, default=ROOT / "bench-fresh.json")
    parser.add_argument("--keep", action="store_true", help="keep the temporary clone and caches")
    args = parser.parse_args(argv)

    work = Path(tempfile.mkdtemp(prefix="hashistack-fresh-"))
    clone, caches = work / "clone", work / "caches"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=clone, capture_output=True,
                            text=True, check=True).stdout.strip()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "HASHISTACK_", "PYTEST_"))}
    env.update(UV_CACHE_DIR=str(caches / "uv"), npm_config_cache=str(caches / "npm"),
               PIP_CACHE_DIR=str(caches / "pip"), JSII_RUNTIME_PACKAGE_CACHE_ROOT=str(caches / "jsii"),
               HASHISTACK_CACHE=str(caches / "hashistack"))
    steps = {}
    try:
        steps["first make synth"] = timed(["make", "synth"], clone, env, work / "1-synth.log")
        steps["first make test"] = timed(["make", "test"], clone, env, work / "2-test-cold.log")
        edited = clone / EDITED
        edited.write_text(edited.read_text() + "# an edit\n")
        steps["make test after an edit"] = timed(["make", "test"], clone, env, work / "3-test-edit.log")
        steps["make test, unchanged tree"] = timed(["make", "test"], clone, env, work / "4-test-warm.log")
    finally:
        result = {"commit": commit, "machine": f"{os.cpu_count()} cores, {platform.machine()}, "
                  f"Python {platform.python_version()}", "date": time.strftime("%Y-%m-%d"), "steps": steps}
        args.json.write_text(json.dumps(result, indent=2) + "\n")
        for name, step in steps.items():
            print(f"{name:<28} {step['seconds']:>7.1f} s  exit {step['exit']}  {step['last_line'][:90]}")
        print(f"(commit {commit}; logs in {work}; figures in {args.json})")
        if not args.keep and all(s["exit"] == 0 for s in steps.values()):
            shutil.rmtree(work, ignore_errors=True)
    return 0 if all(s["exit"] == 0 for s in steps.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
