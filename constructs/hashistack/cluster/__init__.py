"""The cluster layer: the port matrix, agent-config models, boot secrets, each node role's boot and
cloud-init (plain Python), and
the AWS constructs (network, security groups, node groups, load balancers, unseal key), which
are loaded on first use."""

from typing import Any

from .agents import ConsulAgentConfig, NomadAgentConfig, VaultServerConfig
from .boot import NodeBoot, node_boots
from .cloud_init import CloudInit, SecretRef
from .secrets import ClusterSecrets, SecretSpec
from .ports import PORT_MATRIX, PortSpec, Role, SgRule, cidr_rules, peer_rules

_CONSTRUCTS = {
    "ClusterSecurityGroups": "security",
    "IngressLoadBalancer": "ingress",
    "InternalApiLoadBalancer": "load_balancer",
    "Network": "network",
    "NodeGroup": "node_group",
    "UnsealKey": "kms",
}

__all__ = [
    "CloudInit",
    "ClusterSecrets",
    "ConsulAgentConfig",
    "NodeBoot",
    "NomadAgentConfig",
    "PORT_MATRIX",
    "PortSpec",
    "Role",
    "SecretRef",
    "SecretSpec",
    "SgRule",
    "VaultServerConfig",
    "cidr_rules",
    "node_boots",
    "peer_rules",
    *_CONSTRUCTS,
]


def __getattr__(name: str) -> Any:
    if name in _CONSTRUCTS:
        import importlib

        return getattr(importlib.import_module(f".{_CONSTRUCTS[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
