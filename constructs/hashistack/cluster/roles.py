"""The node roles as one table: for each role, the agents it runs, the packages and units, its
data volumes and lifecycle hooks. :func:`hashistack.cluster.boot.node_boots` builds every role's
boot from its row, and the node groups take their volumes and hooks from the boot; the secrets a
role reads are the column of :mod:`hashistack.cluster.secrets`' catalogue, and its Consul agent
token's policy is named after the role (``agent-<role>``, the bootstrap's ``CONSUL_POLICIES``).
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal, Mapping

from . import task_firewall
from .agents import CONSUL_DATA, NOMAD_DATA, VAULT_AUDIT_DIR, VAULT_DATA
from .ports import Role

__all__ = ["AUDIT_DEVICE", "DATA_DEVICE", "NODE_ROLES", "DataVolume", "NodeRole"]

DATA_DEVICE = "/dev/sdf"
AUDIT_DEVICE = "/dev/sdg"
CLIENT_OS_PACKAGES = ("docker.io", "containernetworking-plugins", "kmod", "nftables")


@dataclass(frozen=True, kw_only=True)
class DataVolume:
    """An EBS volume of the role's nodes: attached as ``device``, mounted at ``mount_point``."""

    device: str
    mount_point: str
    owner: str
    mode: str
    size_gib: int


@dataclass(frozen=True, kw_only=True)
class NodeRole:
    """One node role's row.

    :param role: the role.
    :param nomad: the Nomad agent it runs (``server``/``client``), or none.
    :param consul: the Consul agent: ``server`` on Consul servers, a ``client`` agent elsewhere.
    :param vault: it runs a Vault server.
    :param os_packages: Debian packages beyond every node's.
    :param services: the units it enables and starts, in order (every node adds
        systemd-resolved and the SSM agent).
    :param volumes: its data volumes.
    :param lifecycle_hooks: the Auto Scaling lifecycle hooks of its group (``terminate``: the node
        drains itself before it goes).
    :param mesh: it runs Connect sidecars: CNI plugins, bridge netfilter and the task firewall.
    :param swap_off: swap is turned off (Vault keeps secrets in memory).
    """

    role: Role
    nomad: Literal["server", "client"] | None
    consul: Literal["server", "client"]
    vault: bool = False
    os_packages: tuple[str, ...] = ()
    services: tuple[str, ...]
    volumes: tuple[DataVolume, ...]
    lifecycle_hooks: tuple[str, ...] = ("launch",)
    mesh: bool = False
    swap_off: bool = False

    @property
    def products(self) -> tuple[str, ...]:
        """The HashiCorp packages it installs, in install order."""
        return ("consul",) + (("nomad",) if self.nomad else ()) + (("vault",) if self.vault else ())


NODE_ROLES: Mapping[Role, NodeRole] = MappingProxyType({
    Role.NOMAD_SERVER: NodeRole(
        role=Role.NOMAD_SERVER, nomad="server", consul="client", services=("consul", "nomad"),
        volumes=(DataVolume(device=DATA_DEVICE, mount_point=NOMAD_DATA, owner="root", mode="0700", size_gib=50),)),
    Role.NOMAD_CLIENT: NodeRole(
        role=Role.NOMAD_CLIENT, nomad="client", consul="client", os_packages=CLIENT_OS_PACKAGES,
        services=(task_firewall.FIREWALL_UNIT.removesuffix(".service"), "docker", "consul", "nomad",
                  "hashistack-drain.timer"),
        volumes=(DataVolume(device=DATA_DEVICE, mount_point=NOMAD_DATA, owner="root", mode="0711", size_gib=100),),
        lifecycle_hooks=("launch", "terminate"), mesh=True),
    Role.CONSUL_SERVER: NodeRole(
        role=Role.CONSUL_SERVER, nomad=None, consul="server", services=("consul",),
        volumes=(DataVolume(device=DATA_DEVICE, mount_point=CONSUL_DATA, owner="consul", mode="0750", size_gib=50),)),
    # raft on the data volume, the file audit device on a volume of its own, so a flood of audit
    # entries can never fill raft's disk (Vault stops answering when it cannot write an audit
    # entry; it must not also lose its storage)
    Role.VAULT_SERVER: NodeRole(
        role=Role.VAULT_SERVER, nomad=None, consul="client", vault=True, os_packages=("logrotate",),
        services=("consul", "vault"),
        volumes=(DataVolume(device=DATA_DEVICE, mount_point=VAULT_DATA, owner="vault", mode="0750", size_gib=50),
                 DataVolume(device=AUDIT_DEVICE, mount_point=VAULT_AUDIT_DIR, owner="vault", mode="0750",
                            size_gib=20)),
        swap_off=True),
})
"""One row per node role, in bring-up order."""
