"""The cluster's boot secrets: every SSM parameter a node reads at boot, in one typed place.

These names are an interface: the nodes' instance roles may read exactly these parameters, and
the day-0 bootstrap writes them (SecureString) before the first ``deploy <env>-infra``. Nothing
here holds a value; :meth:`ClusterSecrets.catalogue` lists each parameter, what it holds and which
node roles read it (the README's bring-up section prints the same table).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from .cloud_init import SecretRef, require_ref
from .ports import Role

__all__ = ["ClusterSecrets", "SecretSpec"]

NS, NC, CS, VS = Role.NOMAD_SERVER, Role.NOMAD_CLIENT, Role.CONSUL_SERVER, Role.VAULT_SERVER
ALL_NODES = (NS, NC, CS, VS)


@dataclass(frozen=True, kw_only=True)
class SecretSpec:
    """One boot secret: the field of :class:`ClusterSecrets`, its SSM parameter, what it holds
    and the node roles whose instance role may read it."""

    field: str
    parameter: str
    holds: str
    readers: tuple[Role, ...]


# field -> (what it holds, who reads it). The order is the catalogue's order.
_CATALOGUE: dict[str, tuple[str, tuple[Role, ...]]] = {
    "ca_cert": ("PEM certificate of the CA that signs every agent's TLS certificate", ALL_NODES),
    "consul_gossip_key": ("Consul gossip encryption key (32 random bytes, base64: `consul keygen`)", ALL_NODES),
    "nomad_gossip_key": ("Nomad server gossip encryption key (32 random bytes, base64: `nomad operator gossip "
                         "keyring generate`)", (NS,)),
    "nomad_server_cert": ("PEM certificate of the Nomad servers, SANs server.<region>.nomad, "
                          "nomad.<domain>, localhost, 127.0.0.1", (NS,)),
    "nomad_server_key": ("PEM private key of nomad_server_cert", (NS,)),
    "nomad_client_cert": ("PEM certificate of the Nomad clients, SANs client.<region>.nomad, localhost, "
                          "127.0.0.1", (NC,)),
    "nomad_client_key": ("PEM private key of nomad_client_cert", (NC,)),
    "consul_server_cert": ("PEM certificate of the Consul servers, SANs server.<datacenter>.consul, "
                           "consul.<domain>, localhost, 127.0.0.1", (CS,)),
    "consul_server_key": ("PEM private key of consul_server_cert", (CS,)),
    "consul_client_cert": ("PEM certificate of the Consul client agents (on Nomad servers, Nomad clients and Vault "
                           "servers), SANs client.<datacenter>.consul, localhost, 127.0.0.1: RPC to the servers, and "
                           "the HTTPS and gRPC-TLS listeners on loopback", (NS, NC, VS)),
    "consul_client_key": ("PEM private key of consul_client_cert", (NS, NC, VS)),
    "vault_cert": ("PEM certificate of the Vault servers, SANs vault.<domain>, localhost, 127.0.0.1", (VS,)),
    "vault_key": ("PEM private key of vault_cert", (VS,)),
    "consul_agent_token_nomad_server": ("Consul ACL token (secret id) of the Consul agent on Nomad servers: "
                                        "node:write for its own node, service:read", (NS,)),
    "consul_agent_token_nomad_client": ("Consul ACL token of the Consul agent on Nomad clients (node_prefix "
                                        "write on the clients' nodes, service_prefix read)", (NC,)),
    "consul_agent_token_consul_server": ("Consul ACL token of the Consul servers' agents (node:write, "
                                         "service:read)", (CS,)),
    "consul_agent_token_vault_server": ("Consul ACL token of the Consul agent on Vault servers", (VS,)),
    "consul_dns_token": ("Consul ACL token used as every agent's default token, for DNS: node_prefix and "
                         "service_prefix read", ALL_NODES),
    "nomad_server_consul_token": ("Consul ACL token of the Nomad servers (service:write for nomad, "
                                  "acl:write for Consul workload identities, agent:read)", (NS,)),
    "nomad_client_consul_token": ("Consul ACL token of the Nomad clients (service_prefix write to register "
                                  "tasks' services, node_prefix read, agent:read)", (NC,)),
}


@dataclass(frozen=True, kw_only=True)
class ClusterSecrets:
    """Where each node's boot secrets live (SSM SecureString parameters), by reference only.

    :meth:`under` names them below one prefix, e.g. ``/hashistack/prod/consul-gossip-key``.
    Every field is read at boot by the instance role of the roles :meth:`catalogue` names, and by
    no other; a parameter that is missing or empty stops the boot with a message naming it. No node
    holds a Nomad ACL token: a client drains itself with its own node secret.
    """

    ca_cert: SecretRef
    consul_gossip_key: SecretRef
    nomad_gossip_key: SecretRef
    nomad_server_cert: SecretRef
    nomad_server_key: SecretRef
    nomad_client_cert: SecretRef
    nomad_client_key: SecretRef
    consul_server_cert: SecretRef
    consul_server_key: SecretRef
    consul_client_cert: SecretRef
    consul_client_key: SecretRef
    vault_cert: SecretRef
    vault_key: SecretRef
    consul_agent_token_nomad_server: SecretRef
    consul_agent_token_nomad_client: SecretRef
    consul_agent_token_consul_server: SecretRef
    consul_agent_token_vault_server: SecretRef
    consul_dns_token: SecretRef
    nomad_server_consul_token: SecretRef
    nomad_client_consul_token: SecretRef

    @staticmethod
    def under(prefix: str) -> "ClusterSecrets":
        """Every parameter as ``<prefix>/<field with dashes>``."""
        prefix = prefix.rstrip("/")
        return ClusterSecrets(**{f.name: SecretRef.ssm(f"{prefix}/{f.name.replace('_', '-')}")
                                 for f in fields(ClusterSecrets)})

    def validate(self, where: str) -> "ClusterSecrets":
        for f in fields(self):
            require_ref(getattr(self, f.name), where=where, field_name=f"secrets.{f.name}")
        return self

    def catalogue(self) -> tuple[SecretSpec, ...]:
        """Every parameter, what it holds and which node roles read it."""
        return tuple(SecretSpec(field=name, parameter=getattr(self, name).parameter, holds=holds, readers=readers)
                     for name, (holds, readers) in _CATALOGUE.items())

    def read_by(self, role: Role) -> tuple[SecretSpec, ...]:
        return tuple(spec for spec in self.catalogue() if role in spec.readers)

    def agent_token(self, role: Role) -> SecretRef:
        """The Consul agent token of the Consul agent on ``role``'s nodes."""
        return getattr(self, f"consul_agent_token_{role.value.replace('-', '_')}")


assert set(_CATALOGUE) == {f.name for f in fields(ClusterSecrets)}, "every secret is catalogued"
