"""Real tools on the synthesized output: terraform with the offline AWS provider mirror, and a
moto server on loopback standing in for AWS.

Where the tools are looked for: :mod:`scripts.tools` (shared with `make doctor`).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from scripts.tools import AWS_PROVIDER_VERSION, provider_mirror, terraform_binary  # noqa: F401 (re-exported)
from tests.support.processes import prefer, stop_process

MOTO_ACCOUNT = "123456789012"


def require_terraform() -> tuple[str, Path]:
    """terraform and the mirror, or a visible skip saying which is missing."""
    terraform, mirror = terraform_binary(), provider_mirror()
    if not terraform:
        pytest.skip("terraform not found (set TERRAFORM or put terraform on PATH)")
    if not mirror:
        pytest.skip(f"no hashicorp/aws {AWS_PROVIDER_VERSION} provider mirror (set TF_PROVIDER_MIRROR to a "
                    "filesystem mirror holding registry.terraform.io/hashicorp/aws)")
    return terraform, mirror


class Terraform:
    """terraform in one working directory, offline, with the mirror as its only provider source."""

    def __init__(self, workdir: Path, binary: str, mirror: Path) -> None:
        self.workdir, self.binary = workdir, binary
        rc = workdir / "terraformrc"
        rc.write_text(
            "provider_installation {\n"
            f'  filesystem_mirror {{\n    path    = "{mirror}"\n'
            '    include = ["registry.terraform.io/hashicorp/aws"]\n  }\n'
            '  direct {\n    exclude = ["registry.terraform.io/hashicorp/aws"]\n  }\n}\n')
        self.env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(workdir),
                    "TF_CLI_CONFIG_FILE": str(rc), "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1",
                    "TF_INPUT": "0"}

    def run(self, *args: str, timeout: float = 900, preferred: bool = False) -> subprocess.CompletedProcess:
        """``terraform <args>``; ``preferred`` runs it at a higher priority (tests.support.processes.prefer)."""
        # preferred: set in the child before exec (a nice value is per thread: every thread terraform
        # starts, and the provider it runs, inherits it from the one exec'd)
        result = subprocess.run([self.binary, *args, "-no-color"], cwd=self.workdir, env=self.env,
                                capture_output=True, text=True, timeout=timeout,
                                preexec_fn=prefer if preferred else None)
        if result.returncode != 0:
            raise AssertionError(f"terraform {' '.join(args)} failed ({result.returncode}):\n"
                                 f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        return result


def write_stack(stack: dict, workdir: Path) -> Path:
    workdir.mkdir(parents=True, exist_ok=True)
    (workdir / "cdk.tf.json").write_text(json.dumps(stack, indent=2))
    return workdir


def teardown_stack(stack: dict) -> dict:
    """``stack`` as the library synthesizes it for the same environment with
    ``deletion_protection=False`` (the README's teardown step): load balancers unprotected, the
    log bucket deletable with the logs in it
    (``tests/stacks/test_ingress.py::test_the_teardown_step_changes_deletion_protection_and_nothing_else``
    holds the two equal)."""
    out = json.loads(json.dumps(stack))
    resources = out["resource"]
    for lb in resources.get("aws_lb", {}).values():
        lb["enable_deletion_protection"] = False
    for bucket in resources.get("aws_s3_bucket", {}).values():
        bucket["force_destroy"] = True
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def moto_server(log: Path, amis: list[dict] | None = None, *, account_id: str | None = None,
                managed_policies: bool = True, preferred: bool = False) -> Iterator[str]:
    """A moto server on 127.0.0.1 for the duration of the block; yields its endpoint URL.
    ``amis`` replaces moto's built-in image list (moto's ``MOTO_AMIS_PATH``); ``account_id``
    is the account it answers as (``MOTO_ACCOUNT_ID``); ``managed_policies`` loads AWS's managed
    IAM policies (AmazonSSMManagedInstanceCore, ...), which exist in moto only when loaded;
    ``preferred`` runs the server at a higher priority (tests.support.processes.prefer)."""
    port = free_port()
    env = dict(os.environ)
    if managed_policies:
        env["MOTO_IAM_LOAD_MANAGED_POLICIES"] = "true"
    if account_id is not None:
        env["MOTO_ACCOUNT_ID"] = account_id
    if amis is not None:
        path = log.with_suffix(".amis.json")
        path.write_text(json.dumps(amis))
        env["MOTO_AMIS_PATH"] = str(path)
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                                stdout=out, stderr=subprocess.STDOUT, env=env, preexec_fn=prefer if preferred else None)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    urllib.request.urlopen(f"{url}/moto-api/", timeout=2)
                    break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(f"moto server did not start; see {log}")
                    time.sleep(0.3)
            yield url
        finally:
            stop_process(proc, timeout=20)


class MotoServers:
    """Moto servers shared by a test session: one ``python -m moto.server`` per configuration
    (account, managed policies, image list), started on first use and reset to an empty account
    (moto's ``POST /moto-api/reset``) each time a test asks for it, so every test still starts
    from nothing while the server's start-up (3-10 s of imports and first-request warm-up per
    server on these machines) is paid once per pytest-xdist worker instead of once per test.

    Every test that talks to AWS through moto takes the session fixture ``moto_servers``
    (tests/conftest.py) and calls :meth:`fresh`::

        def test_something(moto_servers):
            url = moto_servers.fresh(account_id=DEV.account_id, managed_policies=False)

    A reset empties every service of every account and region the server holds, and puts back
    what moto loads on its own (the image list, the managed IAM policies when asked for), so
    data set up before ``fresh`` (an imported certificate, a seeded parameter) must be set up
    after it. One test at a time uses a server: pytest-xdist workers each have their own."""

    def __init__(self, logdir: Path) -> None:
        self.logdir = logdir
        self._stack = contextlib.ExitStack()
        self._servers: dict[tuple, str] = {}

    def fresh(self, *, account_id: str | None = None, managed_policies: bool = True,
              amis: list[dict] | None = None) -> str:
        """The endpoint URL of a server answering as ``account_id``, with nothing in it but
        what moto loads itself (see :func:`moto_server` for the options)."""
        images = json.dumps(amis, sort_keys=True) if amis is not None else None
        key = (account_id, managed_policies, images)
        url = self._servers.get(key)
        if url is None:
            self.logdir.mkdir(parents=True, exist_ok=True)
            log = self.logdir / f"moto-{len(self._servers)}.log"
            url = self._stack.enter_context(moto_server(log, amis, account_id=account_id,
                                                        managed_policies=managed_policies))
            self._servers[key] = url
        else:
            request = urllib.request.Request(f"{url}/moto-api/reset", method="POST")
            with urllib.request.urlopen(request, timeout=60) as reply:
                if reply.status != 200:
                    raise RuntimeError(f"moto reset at {url} answered {reply.status}")
        return url

    def close(self) -> None:
        self._stack.close()
        self._servers.clear()


AWS_SERVICES = ("acm", "autoscaling", "cloudwatchlogs", "ec2", "elbv2", "iam", "kms", "route53", "s3", "ssm", "sts")


def against_moto(stack: dict, endpoint: str) -> dict:
    """A copy of a synthesized AWS stack that talks to moto: local state, dummy credentials,
    every service endpoint on the moto server, moto's account allowed."""
    local = copy.deepcopy(stack)
    local["terraform"]["backend"] = {"local": {"path": "terraform.tfstate"}}
    for provider in local["provider"]["aws"]:
        provider.update({
            "access_key": "testing", "secret_key": "testing",
            "skip_credentials_validation": True, "skip_metadata_api_check": True,
            "skip_requesting_account_id": False, "skip_region_validation": True,
            "allowed_account_ids": [MOTO_ACCOUNT],
            # bucket names in the path: moto answers on one host, not per-bucket hostnames
            "s3_use_path_style": True,
            "endpoints": [{service: endpoint for service in AWS_SERVICES}],
        })
    return local
