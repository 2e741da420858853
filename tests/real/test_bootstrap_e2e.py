"""Opt-in end-to-end run of the whole bootstrap (``make e2e``) against the real products on this
machine: ``consul agent -dev`` and ``nomad agent -dev`` with ACLs enabled, and an uninitialized
``vault server`` whose ``seal "transit"`` is served by a second ``vault server -dev`` (Vault's
open-source auto-unseal that needs no cloud). AWS is a moto server on loopback, as in the other
bootstrap tests. Deselected by default (marker ``e2e``); skipped, with the reason, when
``consul``, ``nomad`` or ``vault`` is not on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from stacks.environments import DEV
from tests.support.bootstrap_helpers import aws_env, free_port, moto_for_account, run_bootstrap
from tests.support.processes import stop_process

MISSING = [b for b in ("consul", "nomad", "vault") if shutil.which(b) is None]
pytestmark = [pytest.mark.e2e, pytest.mark.skipif(bool(MISSING), reason=f"not on PATH: {', '.join(MISSING)} "
                                                  "(install HashiCorp's consul, nomad and vault to run make e2e)")]
APPLY = Path(__file__).resolve().parents[1] / "support" / "bootstrap_vault_apply.py"


class Agents:
    def __init__(self, workdir: Path) -> None:
        self.workdir, self.procs = workdir, []

    def start(self, name: str, argv: list[str], ready_url: str, ok=(200,)) -> None:
        log = (self.workdir / f"{name}.log").open("wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "CONSUL_", "NOMAD_"))}
        self.procs.append(subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.workdir, env=env))
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(ready_url, timeout=2).status_code in ok:
                    return
            except requests.ConnectionError:
                pass
            assert self.procs[-1].poll() is None and time.monotonic() < deadline, \
                (self.workdir / f"{name}.log").read_text()[-3000:]
            time.sleep(0.3)

    def stop(self) -> None:
        for p in reversed(self.procs):
            stop_process(p, timeout=20)


def test_the_whole_bootstrap_against_local_agents(tmp_path, monkeypatch, synth):
    agents = Agents(tmp_path)
    try:
        c = {k: free_port() for k in ("http", "server", "serf_lan", "serf_wan")}
        consul = f"http://127.0.0.1:{c['http']}"
        agents.start("consul", ["consul", "agent", "-dev", "-bind=127.0.0.1", f"-http-port={c['http']}",
                                f"-server-port={c['server']}", f"-serf-lan-port={c['serf_lan']}",
                                f"-serf-wan-port={c['serf_wan']}", "-dns-port=-1", "-grpc-port=-1",
                                "-hcl", 'acl { enabled = true\n default_policy = "deny" }'],
                     f"{consul}/v1/status/leader")
        n = {k: free_port() for k in ("http", "rpc", "serf")}
        nomad = f"http://127.0.0.1:{n['http']}"
        (tmp_path / "nomad.hcl").write_text(f'ports {{\n http = {n["http"]}\n rpc = {n["rpc"]}\n serf = {n["serf"]}\n}}\n'
                                            f'data_dir = "{tmp_path / "nomad-data"}"\n')
        agents.start("nomad", ["nomad", "agent", "-dev", "-acl-enabled", "-bind=127.0.0.1",
                               f"-config={tmp_path / 'nomad.hcl'}"], f"{nomad}/v1/status/leader")
        # the transit provider for auto-unseal, then the Vault to initialize
        t = free_port()
        transit = f"http://127.0.0.1:{t}"
        agents.start("vault-transit", ["vault", "server", "-dev", "-dev-root-token-id=transit-root",
                                       f"-dev-listen-address=127.0.0.1:{t}"], f"{transit}/v1/sys/health")
        headers = {"X-Vault-Token": "transit-root"}
        requests.post(f"{transit}/v1/sys/mounts/transit", json={"type": "transit"}, headers=headers).raise_for_status()
        requests.post(f"{transit}/v1/transit/keys/unseal", json={}, headers=headers).raise_for_status()
        v, vc = free_port(), free_port()
        vault = f"http://127.0.0.1:{v}"
        (tmp_path / "raft").mkdir()
        (tmp_path / "vault.hcl").write_text(
            f'storage "raft" {{\n path = "{tmp_path / "raft"}"\n node_id = "e2e"\n}}\n'
            f'listener "tcp" {{\n address = "127.0.0.1:{v}"\n cluster_address = "127.0.0.1:{vc}"\n tls_disable = true\n}}\n'
            f'seal "transit" {{\n address = "{transit}"\n token = "transit-root"\n key_name = "unseal"\n'
            f' mount_path = "transit/"\n disable_renewal = "true"\n}}\n'
            f'api_addr = "{vault}"\ncluster_addr = "https://127.0.0.1:{vc}"\ndisable_mlock = true\n')
        agents.start("vault", ["vault", "server", f"-config={tmp_path / 'vault.hcl'}"], f"{vault}/v1/sys/health",
                     ok=(501,))

        with moto_for_account(DEV.account_id, tmp_path / "moto.log") as endpoint:
            env = {**aws_env(endpoint), "HASHISTACK_VAULT_OPERATOR_PASSWORD": "e2e operator password"}
            assert run_bootstrap("--env", "dev", "--phase", "secrets", env=env, monkeypatch=monkeypatch).code == 0
            stack = synth.outdir / "stacks" / "dev-vault" / "cdk.tf.json"
            args = ("--env", "dev", "--phase", "cluster", "--consul-addr", consul, "--nomad-addr", nomad,
                    "--vault-addr", vault, "--vault-apply", f"{sys.executable} {APPLY} {tmp_path / 'root'} {stack}",
                    "--vault-operator", "alice")
            first = run_bootstrap(*args, env=env, monkeypatch=monkeypatch)
            assert first.code == 0, first.output
            second = run_bootstrap(*args, env=env, monkeypatch=monkeypatch)
            assert second.code == 0 and "no changes" in second.stdout, second.output
        assert requests.get(f"{vault}/v1/auth/token/lookup-self",
                            headers={"X-Vault-Token": (tmp_path / "root").read_text()}).status_code == 403
        assert json.loads(requests.get(f"{vault}/v1/sys/health").text)["initialized"] is True
    finally:
        agents.stop()
