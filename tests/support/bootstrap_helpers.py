"""What the bootstrap tests share: a moto server on loopback that answers as the environment's
account (the session's, emptied per test, or one of its own for the opt-in end-to-end test), and a
way to run the bootstrap's entry point in-process with its output captured."""

from __future__ import annotations

import contextlib
import io
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.terraform_tools import MotoServers, free_port, moto_server  # free_port: for the bootstrap tests


def fresh_account(moto_servers: MotoServers, account_id: str) -> str:
    """The endpoint of the session's moto server answering as ``account_id``, emptied for the
    calling test (no managed IAM policies: the bootstrap uses none)."""
    return moto_servers.fresh(account_id=account_id, managed_policies=False)


def moto_for_account(account_id: str, log: Path) -> contextlib.AbstractContextManager[str]:
    """``python -m moto.server`` on 127.0.0.1 answering as ``account_id``; yields the endpoint URL."""
    return moto_server(log, account_id=account_id, managed_policies=False)


def aws_env(endpoint: str) -> dict[str, str]:
    """The standard AWS_* variables pointing boto3 at ``endpoint`` with dummy credentials."""
    return {"AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "eu-west-1"}


@dataclass(frozen=True)
class Run:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def run_bootstrap(*args: str, env: dict[str, str], monkeypatch) -> Run:
    """``python -m hashistack.bootstrap ARGS`` in-process with ``env`` set; stdout and stderr
    captured."""
    from hashistack.bootstrap.__main__ import main

    for key, value in env.items():
        monkeypatch.setenv(key, value)
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return Run(code, out.getvalue(), err.getvalue())


@pytest.fixture
def aws(moto_servers, monkeypatch):
    """The AWS environment of a bootstrap test: an emptied moto account of dev, its endpoint and dummy
    credentials exported for the test. Imported by the bootstrap test modules as ``aws``."""
    from stacks.environments import DEV

    env = aws_env(fresh_account(moto_servers, DEV.account_id))
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    return env


def ssm():
    """A boto3 SSM client for dev's region (on the moto endpoint that ``aws`` exported)."""
    import boto3

    from stacks.environments import DEV

    return boto3.client("ssm", region_name=DEV.region)
