"""Shared fixtures: the app is synthesized once per session (jsii start-up dominates)."""

from __future__ import annotations

import json
import os
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
def synth(tmp_path_factory: pytest.TempPathFactory) -> Synth:
    start = time.perf_counter()
    result = synthesize(tmp_path_factory.mktemp("synth"))
    record_session_setup("synth of the app", time.perf_counter() - start)
    return result


@pytest.fixture(scope="session")
def moto_servers(tmp_path_factory: pytest.TempPathFactory):
    """The session's moto servers (one per configuration, per pytest-xdist worker): a test that
    talks to AWS calls ``moto_servers.fresh(account_id=..., managed_policies=..., amis=...)`` and
    gets the endpoint of an emptied server. See :class:`tests.terraform_tools.MotoServers`."""
    servers = MotoServers(tmp_path_factory.mktemp("moto"))
    yield servers
    servers.close()


ALL_STACKS = stack_names()
