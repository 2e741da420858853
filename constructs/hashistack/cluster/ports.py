"""The HashiCorp port matrix as data: the single source of truth for security groups.

Each :class:`PortSpec` says which roles may reach which role on a port. Security-group rules
are generated from it as group-to-group references (never CIDRs for peer traffic); the only
CIDR rules are operator ranges reaching the internal load balancers' API ports.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Iterable

from .._validate import is_world, parse_network
from ..contracts import CONSUL_GRPC_TLS_PORT, SERVER_API_PORTS
from ..errors import HashistackError

__all__ = ["PORT_MATRIX", "PortSpec", "Role", "SgRule", "cidr_rules", "peer_rules"]


class Role(enum.Enum):
    """A security group of the cluster."""

    NOMAD_SERVER = "nomad-server"
    NOMAD_CLIENT = "nomad-client"
    CONSUL_SERVER = "consul-server"
    VAULT_SERVER = "vault-server"
    LOAD_BALANCER = "lb"


NS, NC, CS, VS, LB = Role.NOMAD_SERVER, Role.NOMAD_CLIENT, Role.CONSUL_SERVER, Role.VAULT_SERVER, Role.LOAD_BALANCER
AGENTS = (NS, NC, CS, VS)  # every node runs a Consul agent


@dataclass(frozen=True, kw_only=True)
class PortSpec:
    """One port (or range) of one product, and who may reach whom on it.

    ``peers`` are (source, target) role pairs; an empty tuple means loopback only (no rule).
    """

    product: str
    name: str
    from_port: int
    to_port: int
    protocols: tuple[str, ...]
    peers: tuple[tuple[Role, Role], ...]
    lb_listener: bool = False

    @property
    def port_text(self) -> str:
        return str(self.from_port) if self.from_port == self.to_port else f"{self.from_port}-{self.to_port}"


def _pairs(sources: Iterable[Role], targets: Iterable[Role]) -> tuple[tuple[Role, Role], ...]:
    return tuple((s, t) for t in targets for s in sources)


PORT_MATRIX: tuple[PortSpec, ...] = (
    # Vault and Consul servers -> Nomad 4646: Vault's JWT auth and Consul's `nomad-workloads` JWT
    # auth method fetch Nomad's JWKS (https://nomad.<domain>:4646/.well-known/jwks.json) through
    # the load balancer, which must therefore admit them. (Consul validates a login on its
    # servers: the auth method's JWKS is fetched there, never on client agents.)
    PortSpec(product="nomad", name="http api and ui", from_port=SERVER_API_PORTS["nomad"],
             to_port=SERVER_API_PORTS["nomad"], protocols=("tcp",),
             peers=_pairs((LB,), (NS,)) + _pairs((VS, CS), (LB,)), lb_listener=True),
    PortSpec(product="nomad", name="rpc", from_port=4647, to_port=4647, protocols=("tcp",),
             peers=_pairs((NC, NS), (NS,))),
    PortSpec(product="nomad", name="serf", from_port=4648, to_port=4648, protocols=("tcp", "udp"),
             peers=_pairs((NS,), (NS,))),
    # Task ports and Connect sidecars' public listeners: Nomad gives each sidecar a dynamic port
    # (min_dynamic_port..max_dynamic_port, 20000-32000 by default: nomad/structs/network.go, v1.10.2), and a
    # service's upstreams (the ingress proxy's too) dial the sidecars of other clients there.
    PortSpec(product="nomad", name="dynamic task ports and connect sidecars", from_port=20000, to_port=32000,
             protocols=("tcp",), peers=_pairs((NC,), (NC,))),
    PortSpec(product="consul", name="server rpc", from_port=8300, to_port=8300, protocols=("tcp",),
             peers=_pairs(AGENTS, (CS,))),
    PortSpec(product="consul", name="lan serf", from_port=8301, to_port=8301, protocols=("tcp", "udp"),
             peers=_pairs(AGENTS, AGENTS)),
    PortSpec(product="consul", name="wan serf (federation only)", from_port=8302, to_port=8302,
             protocols=("tcp", "udp"), peers=()),
    PortSpec(product="consul", name="https api", from_port=SERVER_API_PORTS["consul"],
             to_port=SERVER_API_PORTS["consul"], protocols=("tcp",),
             peers=_pairs((LB,), (CS,)), lb_listener=True),
    # Envoy sidecars reach their own node's agent (through Nomad's alloc socket to 127.0.0.1:8503):
    # loopback, no rule.
    PortSpec(product="consul", name="grpc tls (local envoy sidecars)", from_port=CONSUL_GRPC_TLS_PORT,
             to_port=CONSUL_GRPC_TLS_PORT,
             protocols=("tcp",), peers=()),
    PortSpec(product="consul", name="dns (local resolver)", from_port=8600, to_port=8600, protocols=("tcp", "udp"),
             peers=()),
    # Nomad servers and clients reach Vault as vault.<domain>, the load balancer (and directly).
    PortSpec(product="vault", name="api", from_port=SERVER_API_PORTS["vault"],
             to_port=SERVER_API_PORTS["vault"], protocols=("tcp",),
             peers=_pairs((LB, NS, NC, VS), (VS,)) + _pairs((NS, NC), (LB,)), lb_listener=True),
    PortSpec(product="vault", name="cluster (raft, forwarding)", from_port=8201, to_port=8201, protocols=("tcp",),
             peers=_pairs((VS,), (VS,))),
)


@dataclass(frozen=True, kw_only=True)
class SgRule:
    """One generated ingress rule: ``source`` (a role or a CIDR) reaches ``target`` on a port."""

    target: Role
    protocol: str
    from_port: int
    to_port: int
    description: str
    source: Role | None = None
    cidr: str | None = None

    @property
    def key(self) -> str:
        src = self.source.value if self.source else str(self.cidr).replace("/", "_").replace(".", "-").replace(":", "-")
        return f"{self.target.value}-from-{src}-{self.protocol}-{self.from_port}"


def peer_rules(matrix: tuple[PortSpec, ...] = PORT_MATRIX) -> list[SgRule]:
    """Group-to-group ingress rules of the matrix, one per (port, protocol, source, target)."""
    rules = []
    for spec in matrix:
        for source, target in spec.peers:
            for proto in spec.protocols:
                rules.append(SgRule(target=target, source=source, protocol=proto, from_port=spec.from_port,
                                    to_port=spec.to_port,
                                    description=f"{spec.product} {spec.name} {spec.port_text}/{proto} "
                                                f"from {source.value}"))
    return rules


def cidr_rules(operator_cidrs: Iterable[str], matrix: tuple[PortSpec, ...] = PORT_MATRIX) -> list[SgRule]:
    """Operator CIDRs reach the load balancers' API listeners, and nothing else."""
    rules = []
    for cidr in operator_cidrs:
        net = parse_network(cidr)
        if net is None or is_world(net):
            raise HashistackError(
                f"port matrix: operator cidr = {cidr!r}: agent and API ports are never open to the world or to an "
                "invalid range; list your VPN or CI CIDRs")
        for spec in matrix:
            if spec.lb_listener:
                for proto in spec.protocols:
                    rules.append(SgRule(target=LB, cidr=cidr, protocol=proto, from_port=spec.from_port,
                                        to_port=spec.to_port,
                                        description=f"{spec.product} {spec.name} {spec.port_text}/{proto} from "
                                                    f"operators {cidr}"))
    return rules
