"""The operator's path to the cluster's APIs: Session Manager port forwards from a machine with
AWS credentials (the AWS CLI and its Session Manager plugin), nothing else.

``python -m hashistack.bootstrap --env prod --phase tunnel`` (``make tunnel ENV=prod``) finds one
running server of each product by its cloud auto-join tag and forwards, with the
``AWS-StartPortForwardingSession`` document, ``127.0.0.1:<port>`` on the operator's machine to
the same port on that server: Nomad 4646, Consul 8501, Vault 8200. The agents' certificates
name ``127.0.0.1``, so TLS is verified with the cluster CA as through the load balancers. It
prints what to export, then holds the sessions until interrupted.

To a server rather than to its internal load balancer (``...ToRemoteHost``): the SSM agent on
the server connects to its own loopback, which needs no security-group rule at all; and on day 0
every request of Vault's init and first apply must reach the same node (behind the load balancer
an uninitialized Vault answers from whichever server the balancer picks until the others have
joined the new raft cluster). Any server will do later: Nomad followers and Vault standbys
forward requests to their leader.

``--local-ports nomad=14646,consul=18501,vault=18200`` moves the local ends when those ports are
taken; phase ``cluster`` with ``--via-tunnel`` (``make bootstrap ... TUNNEL=1``) takes the same
option.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from ..cluster.ports import Role
from ..contracts import API_PRODUCTS, SERVER_API_PORTS, join_tag
from ..environment import Environment
from ..errors import HashistackError

__all__ = ["Tunnel", "local_ports", "plan", "run"]

SERVER_ROLES = {"nomad": Role.NOMAD_SERVER, "consul": Role.CONSUL_SERVER, "vault": Role.VAULT_SERVER}
DOCUMENT = "AWS-StartPortForwardingSession"


@dataclass(frozen=True)
class Tunnel:
    product: str
    instance_id: str
    remote_port: int
    local_port: int

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.local_port}"

    def command(self, region: str) -> list[str]:
        return ["aws", "ssm", "start-session", "--region", region, "--target", self.instance_id,
                "--document-name", DOCUMENT,
                "--parameters", f"portNumber={self.remote_port},localPortNumber={self.local_port}"]


def local_ports(spec: str | None) -> dict[str, int]:
    """``nomad=14646,consul=18501,vault=18200`` (any subset) over the default: each product's own port."""
    ports = dict(SERVER_API_PORTS)
    for part in (spec or "").split(","):
        if not part.strip():
            continue
        product, _, port = part.partition("=")
        product = product.strip()
        if product not in ports or not port.strip().isdigit() or not 1 <= int(port) <= 65535:
            raise HashistackError(f"--local-ports {spec!r}: use product=port pairs for {', '.join(API_PRODUCTS)} "
                                  "with ports 1-65535, e.g. vault=18200")
        ports[product] = int(port)
    if len(set(ports.values())) != len(ports):
        raise HashistackError(f"--local-ports {spec!r}: {ports}: give each API its own local port")
    return ports


def plan(env: Environment, ec2, ports: dict[str, int]) -> list[Tunnel]:
    """One tunnel per product, to its first running server (by instance id, so repeated runs pick
    the same one)."""
    tunnels = []
    for product in API_PRODUCTS:
        role = SERVER_ROLES[product]
        key, value = join_tag(env, role)
        reply = ec2.describe_instances(Filters=[{"Name": f"tag:{key}", "Values": [value]},
                                                {"Name": "instance-state-name", "Values": ["running"]}])
        ids = sorted(i["InstanceId"] for r in reply["Reservations"] for i in r["Instances"])
        if not ids:
            raise HashistackError(f'environment "{env.name}": no running {role.value} instance (tag {key}={value}); '
                                  f"deploy {env.name}-infra first (make deploy ENV={env.name}-infra)")
        tunnels.append(Tunnel(product=product, instance_id=ids[0], remote_port=SERVER_API_PORTS[product],
                              local_port=ports[product]))
    return tunnels


def exports(tunnels: list[Tunnel], ca_file: str) -> list[str]:
    """The shell lines that point the CLIs and the providers at the tunnel."""
    by = {t.product: t for t in tunnels}
    consul = by["consul"]
    return [f"export NOMAD_ADDR={by['nomad'].url} VAULT_ADDR={by['vault'].url} "
            f"CONSUL_HTTP_ADDR={consul.url}",
            f"export NOMAD_CACERT={ca_file} VAULT_CACERT={ca_file} CONSUL_CACERT={ca_file}",
            f"export TF_VAR_nomad_address={by['nomad'].url} TF_VAR_vault_address={by['vault'].url} "
            f"TF_VAR_consul_address=127.0.0.1:{consul.local_port}"]


def wait_open(ports: dict[str, int], timeout_s: float = 60) -> None:
    """Wait until something listens on each local port (the tunnel started in the background a
    moment ago), or say which one never opened."""
    import socket

    deadline = time.monotonic() + timeout_s
    for product, port in ports.items():
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise HashistackError(f"nothing listens on 127.0.0.1:{port} ({product}) after {timeout_s:.0f} s: "
                                          "start the tunnel first (make tunnel ENV=<env> &)") from None
                time.sleep(0.5)


def _cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "hashistack"


def env_file(env: Environment) -> Path:
    """Where the tunnel writes its exports for ``make deploy ... TUNNEL=1`` (and a shell to source)."""
    return _cache_dir() / f"{env.name}.tunnel.env"


def write_cluster_ca(env: Environment, store) -> str:
    """The cluster CA's public certificate from SSM, written where the tunnel's exports point
    (``$XDG_CACHE_HOME/hashistack/<env>-cluster-ca.pem``)."""
    from .catalogue import catalogue

    item = next(i for i in catalogue(env) if i.name == "ca_cert")
    found = store.read([item.parameter]).get(item.parameter)
    if not found:
        raise HashistackError(f"{item.parameter}: missing; run phase secrets first (make bootstrap ENV={env.name} "
                              "PHASE=secrets)")
    path = _cache_dir() / f"{env.name}-cluster-ca.pem"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(found.value if found.value.endswith("\n") else found.value + "\n")
    return str(path)


def run(env: Environment, session, ports: dict[str, int], *, ca_file: str, dry_run: bool = False) -> int:
    """Open the tunnels and hold them (or, with ``dry_run``, print the commands). The exports go
    to stdout and to :func:`env_file`; the first session to end closes the others and its exit
    status is the command's."""
    tunnels = plan(env, session.client("ec2"), ports)
    commands = [t.command(env.region) for t in tunnels]
    for t, cmd in zip(tunnels, commands):
        print(f"# {t.product}: 127.0.0.1:{t.local_port} -> {t.instance_id}:{t.remote_port}", file=sys.stderr)
        if dry_run:
            print(" ".join(cmd))
    lines = exports(tunnels, ca_file)
    for line in lines:
        print(line)
    path = env_file(env)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(f"{line}\n" for line in lines))
    if dry_run:
        return 0
    try:
        procs = {t.product: subprocess.Popen(cmd, stdin=subprocess.DEVNULL) for t, cmd in zip(tunnels, commands)}
    except FileNotFoundError:
        raise HashistackError("the AWS CLI is not on PATH: install it and its Session Manager plugin "
                              "(https://docs.aws.amazon.com/systems-manager/latest/userguide/"
                              "session-manager-working-with-install-plugin.html)") from None
    print(f"tunnels to {env.name} open; Ctrl-C closes them", file=sys.stderr)
    try:
        while True:
            ended = {product: p.returncode for product, p in procs.items() if p.poll() is not None}
            if ended:
                product, code = next(iter(ended.items()))
                print(f"the {product} session ended (exit {code}); closing the others", file=sys.stderr)
                return code or 1
            time.sleep(0.5)
    except KeyboardInterrupt:
        return 0
    finally:
        for p in procs.values():
            if p.poll() is None:
                p.terminate()
