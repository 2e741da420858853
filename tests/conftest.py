"""Shared fixtures: the app is synthesized once per run (jsii start-up dominates), moto servers
are started once per session and emptied per test."""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# The jsii runtime starts with the first cdktf import and runs the first `node` on PATH: make it
# the project's Node 22 (node_modules/.bin) when pytest is run directly rather than via make.
_NODE_BIN = ROOT / "node_modules" / ".bin"
if _NODE_BIN.is_dir() and not os.environ.get("PATH", "").startswith(str(_NODE_BIN)):
    os.environ["PATH"] = f"{_NODE_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
os.environ.setdefault("JSII_RUNTIME_PACKAGE_CACHE", "enabled")

import pytest  # noqa: E402

from stacks.app import build_app, stack_names  # noqa: E402

from .terraform_tools import MotoServers  # noqa: E402

# seconds per test group after the run (see tests/timing.py)
from .timing import (  # noqa: E402,F401
    MODULE_SECONDS_KEY,
    group_of,
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


@pytest.fixture(scope="session")
def synth(tmp_path_factory: pytest.TempPathFactory, pytestconfig: pytest.Config) -> Synth:
    """The whole app, synthesized once per run: under pytest-xdist the first worker that needs it
    synthesizes into the run's shared temporary directory while the others wait for it (a file
    lock), so the 2 cores do one synth instead of one per worker. The output is only read."""
    start = time.perf_counter()
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


@pytest.fixture(scope="session")
def moto_servers(tmp_path_factory: pytest.TempPathFactory):
    """The session's moto servers (one per configuration, per pytest-xdist worker): a test that
    talks to AWS calls ``moto_servers.fresh(account_id=..., managed_policies=..., amis=...)`` and
    gets the endpoint of an emptied server. See :class:`tests.terraform_tools.MotoServers`."""
    servers = MotoServers(tmp_path_factory.mktemp("moto"))
    yield servers
    servers.close()


# The test modules that take longest in `make test` (real engines and tools, copies of the project
# run end to end), longest first, as tests/timing.py reported them. pytest-xdist hands whole modules
# to its workers in collection order (`make test` passes --no-loadscope-reorder), so the slow ones
# start first and the short modules fill the workers up around them. Once a run has measured them,
# the seconds per module that tests/timing.py keeps in pytest's cache decide the order; this list
# stands in for modules not measured yet (a fresh clone).
SLOW_MODULES = (
    "test_cluster_real.py", "test_extending.py", "test_boot_sandbox.py", "test_plan_report.py",
    "test_bootstrap_vault.py", "test_bootstrap_secrets.py", "test_errors.py", "test_vault_real.py",
    "test_bootstrap_cluster.py", "test_types.py", "test_cluster_boot.py", "test_go_service.py",
    "test_checkov.py", "test_stack_selection.py", "test_ingress.py", "test_boot_tools.py",
)


def pytest_collection_modifyitems(session, config, items) -> None:
    cache = getattr(config, "cache", None)
    measured = cache.get(MODULE_SECONDS_KEY, {}) if cache is not None else {}
    # a module not measured yet: a listed one counts as a minute (in the list's order), another as 0
    listed = {name: 60.0 - i / 100 for i, name in enumerate(SLOW_MODULES)}

    def seconds(item) -> float:
        name = group_of(item.nodeid)
        return measured[name] if name in measured else listed.get(item.path.name, 0.0)

    items.sort(key=lambda item: -seconds(item))  # stable: a module's tests stay together, in order


ALL_STACKS = stack_names()
