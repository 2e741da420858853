"""Cloud-init for a cluster node, as a model: install the agents, write their configs, fetch
their secrets at boot with the instance role, start them.

No secret ever appears in ``user_data``: gossip keys and TLS material are named by
:class:`SecretRef` (SSM parameters under the environment's prefix) and fetched on the instance;
passing a literal where a reference is expected is an error.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

from ..errors import HashistackError
from .agents import PRIVATE_IP

__all__ = ["CloudInit", "ConfigFile", "SecretFile", "SecretRef"]

_PARAM = re.compile(r"^/[A-Za-z0-9_.\-/]+$")


@dataclass(frozen=True)
class SecretRef:
    """A reference to a secret held in SSM Parameter Store (SecureString), never the value."""

    parameter: str

    @staticmethod
    def ssm(parameter: str) -> "SecretRef":
        return SecretRef(parameter)


def require_ref(value: object, *, where: str, field_name: str) -> SecretRef:
    """``value`` as a SecretRef, or an error saying a literal secret was passed."""
    if isinstance(value, SecretRef) and _PARAM.match(value.parameter):
        return value
    shown = "<redacted literal>" if isinstance(value, str) else repr(value)
    raise HashistackError(
        f"{where}: {field_name} = {shown}: secrets are passed by reference, never as literals (they would land in "
        "user_data and Terraform state); use SecretRef.ssm('/hashistack/<env>/...') and store the value in SSM")


SERVICE_USERS = {"/etc/consul.d/": "consul", "/etc/vault.d/": "vault", "/etc/nomad.d/": "root"}
"""The user each agent's package runs it as: its secrets belong to that user."""


def service_user_of(path: str) -> str:
    return next((user for prefix, user in SERVICE_USERS.items() if path.startswith(prefix)), "root")


@dataclass(frozen=True, kw_only=True)
class ConfigFile:
    """A config file (never a secret): world-readable so the agent's service user can read it."""

    path: str
    content: str
    mode: str = "0644"


@dataclass(frozen=True, kw_only=True)
class SecretFile:
    """A secret fetched at boot into ``path`` (mode 0600 by default)."""

    ref: SecretRef
    path: str
    mode: str = "0600"
    owner: str = "root"


@dataclass(frozen=True, kw_only=True)
class CloudInit:
    """One node's boot: packages, config files, secrets, gossip configs, services."""

    aws_region: str
    packages: tuple[str, ...]
    services: tuple[str, ...]
    files: tuple[ConfigFile, ...] = ()
    secrets: tuple[SecretFile, ...] = ()
    gossip: tuple[tuple[str, str, SecretRef], ...] = field(default_factory=tuple)
    """(config file, HCL block or '' for top level, key reference): written as ``encrypt = "<key>"``."""
    substitute_private_ip: tuple[str, ...] = ()
    swap_off: bool = False

    def render(self) -> str:
        """``#cloud-config`` user data (JSON is valid YAML), deterministic."""
        region = shlex.quote(self.aws_region)
        fetch = f"aws ssm get-parameter --region {region} --with-decryption --query Parameter.Value --output text"
        cmds: list[str] = [
            "set -euo pipefail",
            "install -d -m 0755 /usr/share/keyrings",
            "curl -fsSL https://apt.releases.hashicorp.com/gpg | gpg --dearmor -o /usr/share/keyrings/hashicorp.gpg",
            'echo "deb [signed-by=/usr/share/keyrings/hashicorp.gpg] https://apt.releases.hashicorp.com '
            '$(lsb_release -cs) main" > /etc/apt/sources.list.d/hashicorp.list',
            "apt-get update",
            "DEBIAN_FRONTEND=noninteractive apt-get install -y " + " ".join(self.packages),
            "snap install aws-cli --classic",
        ]
        if self.swap_off:
            cmds += ["swapoff -a", "sed -i '/ swap / s/^/#/' /etc/fstab"]
        for secret in self.secrets:
            path = shlex.quote(secret.path)
            cmds += [f"install -d -m 0750 $(dirname {path})",
                     f"umask 077; {fetch} --name {shlex.quote(secret.ref.parameter)} > {path}",
                     f"chown {shlex.quote(secret.owner)} {path}", f"chmod {secret.mode} {path}"]
        for path, block, ref in self.gossip:
            key = f"$({fetch} --name {shlex.quote(ref.parameter)})"
            if block:
                body = f'{block} {{\\n  encrypt = \\"%s\\"\\n}}\\n'
            else:
                body = 'encrypt = \\"%s\\"\\n'
            owner = service_user_of(path)
            cmds += [f'umask 077; printf "{body}" "{key}" > {shlex.quote(path)}',
                     f"chown {owner} {shlex.quote(path)}"]
        if self.substitute_private_ip:
            token = ('TOKEN=$(curl -fsS -X PUT http://169.254.169.254/latest/api/token '
                     '-H "X-aws-ec2-metadata-token-ttl-seconds: 60")')
            ip = ('IP=$(curl -fsS -H "X-aws-ec2-metadata-token: $TOKEN" '
                  'http://169.254.169.254/latest/meta-data/local-ipv4)')
            cmds += [token, ip]
            cmds += [f"sed -i \"s/{PRIVATE_IP}/$IP/g\" {shlex.quote(p)}" for p in self.substitute_private_ip]
        cmds += [f"systemctl enable --now {shlex.quote(s)}" for s in self.services]
        doc = {
            "write_files": [{"path": f.path, "content": f.content, "permissions": f.mode, "owner": "root:root"}
                            for f in self.files],
            "runcmd": [["bash", "-c", "\n".join(cmds)]],
        }
        return "#cloud-config\n" + json.dumps(doc, indent=2, sort_keys=True) + "\n"
