"""Every parameter the bootstrap manages: the nodes' boot secrets plus its own few.

The node-read parameters (names, what they hold, which roles read them) come from the cluster's
secret catalogue, ``hashistack.cluster.secrets.ClusterSecrets.catalogue()`` (plain Python: it
loads no provider bindings). What the bootstrap *generates* for each field is :data:`KINDS`, the
one table to extend when the cluster adds a secret (a field without a kind stops the bootstrap
with a message naming it).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from ..cluster.ports import Role
from ..contracts import PARAMETER_PREFIX, parameter_prefix
from ..environment import Environment
from ..errors import HashistackError

from ..cluster.secrets import ClusterSecrets

__all__ = ["Agent", "Item", "Kind", "KINDS", "PARAMETER_PREFIX", "catalogue", "parameter_prefix"]

NS, NC, CS, VS = Role.NOMAD_SERVER, Role.NOMAD_CLIENT, Role.CONSUL_SERVER, Role.VAULT_SERVER
ALL_NODES = (NS, NC, CS, VS)




class Kind(enum.Enum):
    """What a parameter holds, which decides how it is generated and checked."""

    GOSSIP_KEY = "gossip key (32 random bytes, base64)"
    CA_CERT = "CA certificate (PEM)"
    CA_KEY = "CA private key (PEM)"
    AGENT_CERT = "agent certificate (PEM)"
    AGENT_KEY = "agent private key (PEM)"
    CONSUL_TOKEN = "Consul ACL token secret id (UUID)"
    NOMAD_TOKEN = "Nomad ACL token secret id (UUID)"
    VAULT_RECOVERY = "Vault recovery keys (JSON)"
    VAULT_ROOT_TOKEN = "Vault's initial root token, until the first apply succeeded"


class Agent(enum.Enum):
    """An agent certificate's owner; decides the names it carries."""

    NOMAD_SERVER = "nomad-server"
    NOMAD_CLIENT = "nomad-client"
    CONSUL_SERVER = "consul-server"
    CONSUL_CLIENT = "consul-client"
    VAULT = "vault"


@dataclass(frozen=True, kw_only=True)
class Kinds:
    kind: Kind
    agent: Agent | None = None
    phase: str = "secrets"
    """``secrets``: generated before the infrastructure exists; ``cluster``: only the running
    product can make it (a Nomad token's secret id is chosen by Nomad)."""


KINDS: dict[str, Kinds] = {
    "ca_cert": Kinds(kind=Kind.CA_CERT),
    "nomad_gossip_key": Kinds(kind=Kind.GOSSIP_KEY),
    "consul_gossip_key": Kinds(kind=Kind.GOSSIP_KEY),
    "nomad_server_cert": Kinds(kind=Kind.AGENT_CERT, agent=Agent.NOMAD_SERVER),
    "nomad_server_key": Kinds(kind=Kind.AGENT_KEY, agent=Agent.NOMAD_SERVER),
    "nomad_client_cert": Kinds(kind=Kind.AGENT_CERT, agent=Agent.NOMAD_CLIENT),
    "nomad_client_key": Kinds(kind=Kind.AGENT_KEY, agent=Agent.NOMAD_CLIENT),
    "consul_server_cert": Kinds(kind=Kind.AGENT_CERT, agent=Agent.CONSUL_SERVER),
    "consul_server_key": Kinds(kind=Kind.AGENT_KEY, agent=Agent.CONSUL_SERVER),
    "consul_client_cert": Kinds(kind=Kind.AGENT_CERT, agent=Agent.CONSUL_CLIENT),
    "consul_client_key": Kinds(kind=Kind.AGENT_KEY, agent=Agent.CONSUL_CLIENT),
    "vault_cert": Kinds(kind=Kind.AGENT_CERT, agent=Agent.VAULT),
    "vault_key": Kinds(kind=Kind.AGENT_KEY, agent=Agent.VAULT),
    "consul_agent_token_nomad_server": Kinds(kind=Kind.CONSUL_TOKEN),
    "consul_agent_token_nomad_client": Kinds(kind=Kind.CONSUL_TOKEN),
    "consul_agent_token_consul_server": Kinds(kind=Kind.CONSUL_TOKEN),
    "consul_agent_token_vault_server": Kinds(kind=Kind.CONSUL_TOKEN),
    "consul_dns_token": Kinds(kind=Kind.CONSUL_TOKEN),
    "nomad_server_consul_token": Kinds(kind=Kind.CONSUL_TOKEN),
    "nomad_client_consul_token": Kinds(kind=Kind.CONSUL_TOKEN),
    # read by no node: the bootstrap's own
    "ca_key": Kinds(kind=Kind.CA_KEY),
    "consul_management_token": Kinds(kind=Kind.CONSUL_TOKEN),
    "nomad_management_token": Kinds(kind=Kind.NOMAD_TOKEN, phase="cluster"),
    "vault_recovery_keys": Kinds(kind=Kind.VAULT_RECOVERY, phase="cluster"),
    "vault_initial_root_token": Kinds(kind=Kind.VAULT_ROOT_TOKEN, phase="cluster"),
}
"""Field -> what the bootstrap generates for it. Extend it when the cluster adds a secret."""

_OWN: dict[str, str] = {
    "ca_key": "PEM private key of ca_cert; read by no node, kept so the bootstrap can reissue agent certificates",
    "consul_management_token": "Consul's initial management token (the ACL bootstrap secret)",
    "nomad_management_token": "Nomad's management token (the ACL bootstrap secret)",
    "vault_recovery_keys": "Vault's recovery keys from operator init: PGP-encrypted to the keyholders, "
                           "or in development (no keyholders listed) the keys themselves",
    "vault_initial_root_token": "Vault's initial root token from operator init, kept only until the first apply of "
                                "<env>-vault succeeded (then revoked and this parameter deleted), so that a failed "
                                "apply can be run again; read by no node",
}


@dataclass(frozen=True, kw_only=True)
class Item:
    """One managed parameter."""

    name: str
    parameter: str
    holds: str
    readers: tuple[Role, ...]
    kind: Kind
    agent: Agent | None
    phase: str


def _node_specs(prefix: str) -> list[tuple[str, str, str, tuple[Role, ...]]]:
    return [(s.field, s.parameter, s.holds, tuple(s.readers)) for s in ClusterSecrets.under(prefix).catalogue()]


def catalogue(env: Environment) -> tuple[Item, ...]:
    """Every parameter the bootstrap manages for ``env``: the nodes' (in the cluster's order),
    then its own. Raises if a node secret has no entry in :data:`KINDS`."""
    prefix = parameter_prefix(env)
    items: list[Item] = []
    for name, parameter, holds, readers in _node_specs(prefix):
        spec = KINDS.get(name)
        if spec is None:
            raise HashistackError(
                f"bootstrap catalogue: {name} = {parameter}: the nodes read this parameter but the bootstrap does not "
                "know what to generate for it; add it to hashistack.bootstrap.catalogue.KINDS")
        items.append(Item(name=name, parameter=parameter, holds=holds, readers=readers, kind=spec.kind,
                          agent=spec.agent, phase=spec.phase))
    for name, holds in _OWN.items():
        spec = KINDS[name]
        items.append(Item(name=name, parameter=f"{prefix}/{name.replace('_', '-')}", holds=holds, readers=(),
                          kind=spec.kind, agent=spec.agent, phase=spec.phase))
    assert len({i.name for i in items}) == len(items), "no field is both a node secret and the bootstrap's own"
    return tuple(items)
