"""Shared fixtures: the app is synthesized once per run (jsii start-up dominates), moto servers
are started once per session and emptied per test."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# The jsii runtime starts with the first cdktf import and runs the first `node` on PATH: make it
# the project's Node 22 (node_modules/.bin) when pytest is run directly rather than via make.
_NODE_BIN = ROOT / "node_modules" / ".bin"
if _NODE_BIN.is_dir() and not os.environ.get("PATH", "").startswith(str(_NODE_BIN)):
    os.environ["PATH"] = f"{_NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("JSII_RUNTIME_PACKAGE_CACHE", "enabled")

import pytest  # noqa: E402

from stacks.app import build_app, stack_names  # noqa: E402

from tests.support.processes import prefer, stop_process  # noqa: E402
from tests.support.terraform_tools import MotoServers  # noqa: E402

# how the modules are spread over the pytest-xdist workers (see tests/support/scheduling.py)
from tests.support.scheduling import pytest_collection_modifyitems, pytest_xdist_make_scheduler  # noqa: E402,F401

# seconds per test group after the run (see tests/support/timing.py)
from tests.support.timing import (  # noqa: E402,F401
    pytest_runtest_logreport,
    pytest_runtest_makereport,
    pytest_sessionstart,
    pytest_terminal_summary,
    record_session_setup,
)


@dataclass(frozen=True)
class Synth:
    """One synthesis of the whole app into ``outdir``."""

    outdir: Path

    def stack_names(self) -> list[str]:
        return sorted(p.name for p in (self.outdir / "stacks").iterdir())

    def stack(self, name: str) -> dict:
        return json.loads((self.outdir / "stacks" / name / "cdk.tf.json").read_text())


def synthesize(outdir: Path, stacks: str = "*") -> Synth:
    """Synthesizes the stacks selected by ``stacks`` (every stack by default, whatever
    ``HASHISTACK_STACKS`` says in the shell that runs the tests)."""
    build_app(outdir=str(outdir), stacks=stacks).synth()
    return Synth(outdir)


# --- the shared synth ---------------------------------------------------------------------------
#
# A run of the whole suite (pytest's testpaths, as `make test` runs it) starts the app's synth in a
# background process as soon as pytest is configured, before the workers have started, so no worker
# spends its time on it and the tests that need it wait for less. The process builds APPLY_STACK
# alone first and writes it out: the dev-infra apply against moto (tests/real/test_cluster_real.py, the
# run's longest chain of waits) starts from it, before the rest of the app is built (a stack built
# alone is byte-identical to the full synth's, tests/stacks/test_stack_selection.py). Its output is kept
# in the cache of scripts/cache.py, keyed like the plan report's synths by the source files (every
# file git tracks or would track: an edit anywhere, tests included, is a new key) and the
# toolchain, so a run on an unchanged tree starts from it at once. A run of chosen modules
# synthesizes in-process on first use instead, once for all workers (a file lock).

EARLY_SYNTH_VARIABLE = "HASHISTACK_TEST_EARLY_SYNTH"
"""The early synth's directory, for the workers (they inherit the controller's environment).
tests/support/project_copy.py drops it for the pytest runs a test starts in a copy of the project."""
APPLY_STACK = "dev-infra"
SYNTH_CACHE, SYNTH_CACHE_KEEP = "suite-synth", 4
EARLY_SYNTH = f"""
import json, pathlib, shutil, sys, traceback
from stacks.app import build_app, stack_names
out = pathlib.Path(sys.argv[1])
(out / "alone").mkdir()
try:
    for name, stacks in (("apply-stack", {APPLY_STACK!r}), ("app", "*")):
        build_app(outdir=str(out / name), stacks=stacks).synth()
        (out / f"{{name}}.done").touch()
    for name in stack_names():  # each stack built alone, for tests/stacks/test_stack_selection.py
        build_app(outdir=str(out / "alone" / name), stacks=name).synth()
    (out / "alone.done").touch()
except BaseException:
    (out / "failed").write_text(traceback.format_exc())
    raise
inputs = json.loads(sys.argv[2])
if inputs:
    from scripts.cache import cached_dir
    from scripts.plan_report import source_digest

    def keep(into):
        for name in ("apply-stack", "app", "alone"):
            shutil.copytree(out / name, into / name)
            (into / f"{{name}}.done").touch()

    if source_digest(pathlib.Path.cwd()) == inputs[0]:  # no file changed while it ran
        cached_dir({SYNTH_CACHE!r}, inputs=inputs, build=keep, keep={SYNTH_CACHE_KEEP})
"""


def _synth_cache_inputs() -> list[str] | None:
    """The early synth's cache key inputs: the source digest first; None outside a git checkout."""
    from scripts.plan_report import source_digest, toolchain

    try:
        return [source_digest(ROOT), EARLY_SYNTH, *toolchain()]
    except (RuntimeError, OSError):
        return None


def pytest_configure(config: pytest.Config) -> None:
    # Only with pytest-xdist workers: in one process, the in-process synth shares the AWS provider's
    # load with the other tests that build stacks in-process.
    workers = getattr(config.option, "numprocesses", None)
    if (hasattr(config, "workerinput") or not workers or workers == "0"
            or config.args_source is not pytest.Config.ArgsSource.TESTPATHS):
        return
    from scripts.cache import cache_key, cache_root

    inputs = _synth_cache_inputs()
    cached = cache_root() / f"{SYNTH_CACHE}-{cache_key(inputs)}" if inputs else None
    if cached is not None and cached.is_dir():
        os.utime(cached)  # used now (the cache keeps the ones used last)
        os.environ[EARLY_SYNTH_VARIABLE] = str(cached)
        return
    directory = Path(tempfile.mkdtemp(prefix="hashistack-synth-"))
    env = {k: v for k, v in os.environ.items() if k != "HASHISTACK_STACKS"}
    with open(directory / "synth.log", "w") as log:
        # at a higher priority where permitted (tests.support.processes.prefer): every worker waits for it
        process = subprocess.Popen([sys.executable, "-c", EARLY_SYNTH, str(directory), json.dumps(inputs or [])],
                                   cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=prefer)
    (directory / "pid").write_text(str(process.pid))
    config.stash[_EARLY] = (process, directory)
    os.environ[EARLY_SYNTH_VARIABLE] = str(directory)


def pytest_unconfigure(config: pytest.Config) -> None:
    early = config.stash.get(_EARLY, None)
    if early is not None:
        process, directory = early
        try:
            process.wait(timeout=60)  # it may still be storing its output in the cache
        except subprocess.TimeoutExpired:
            stop_process(process, timeout=5)
        shutil.rmtree(directory, ignore_errors=True)
        os.environ.pop(EARLY_SYNTH_VARIABLE, None)


_EARLY = pytest.StashKey[tuple[subprocess.Popen, Path]]()


def _early_output(name: str) -> Path | None:
    """The early synth's output ``name`` once it is written; None when this run has no early synth.
    Fails the test with the synth's traceback when it failed."""
    value = os.environ.get(EARLY_SYNTH_VARIABLE)
    if not value:
        return None
    directory = Path(value)
    if (directory / f"{name}.done").exists():  # from the cache, or written already
        return directory / name
    pid = int((directory / "pid").read_text())
    while not (directory / f"{name}.done").exists():
        failed = directory / "failed"
        if failed.exists() or not _alive(pid):
            time.sleep(0.2)  # the traceback may still be being written
            pytest.fail(f"the app's synth failed:\n{failed.read_text() if failed.exists() else '(no traceback)'}"
                        f"\n{(directory / 'synth.log').read_text()[-3000:]}", pytrace=False)
        time.sleep(0.1)
    return directory / name


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # a zombie (exited, not yet reaped by the controller) counts as gone
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][0] != "Z"
    except (OSError, IndexError):
        return True


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Synth:
    """The whole app, synthesized once per run: by the early synth (above), else by the first
    pytest-xdist worker that needs it, into the run's shared temporary directory while the others
    wait for it (a file lock), so the 2 cores do one synth instead of one per worker. The output is
    only read."""
    start = time.perf_counter()
    early = _early_output("app")
    if early is not None:
        record_session_setup("synth of the app", time.perf_counter() - start)
        return Synth(early)
    base = tmp_path_factory.getbasetemp()
    # only a pytest-xdist worker of this run shares (its temporary directory's parent is the run's);
    # a pytest started by a test inherits PYTEST_XDIST_WORKER but is no worker, and keeps its own
    shared = base.parent if hasattr(pytestconfig, "workerinput") and base.name.startswith("popen-") else base
    outdir, done = shared / "synth-app", shared / "synth-app.done"
    with open(shared / "synth-app.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not done.exists():
            shutil.rmtree(outdir, ignore_errors=True)  # a worker that failed half-way
            synthesize(outdir)
            done.touch()
    record_session_setup("synth of the app", time.perf_counter() - start)
    return Synth(outdir)


def synthesize_alone(name: str, outdir: Path) -> Synth:
    """Stack ``name`` synthesized alone: by the early synth where this run has one, else into ``outdir``."""
    early = _early_output("alone")
    return Synth(early / name) if early is not None else synthesize(outdir, stacks=name)


def apply_stack(request: pytest.FixtureRequest) -> dict:
    """APPLY_STACK's synthesized document: from the early synth as soon as it is written, else
    from the whole app's."""
    start = time.perf_counter()
    early = _early_output("apply-stack")
    if early is not None:
        record_session_setup("synth of " + APPLY_STACK, time.perf_counter() - start)
        return Synth(early).stack(APPLY_STACK)
    return request.getfixturevalue("synth").stack(APPLY_STACK)


@pytest.fixture(scope="session")
def moto_servers(tmp_path_factory: pytest.TempPathFactory):
    """The session's moto servers (one per configuration, per pytest-xdist worker): a test that
    talks to AWS calls ``moto_servers.fresh(account_id=..., managed_policies=..., amis=...)`` and
    gets the endpoint of an emptied server. See :class:`tests.support.terraform_tools.MotoServers`."""
    servers = MotoServers(tmp_path_factory.mktemp("moto"))
    yield servers
    servers.close()


ALL_STACKS = stack_names()
