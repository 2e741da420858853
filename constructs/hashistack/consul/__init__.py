"""Consul building blocks.

Models (plain Python): :class:`Upstream` (a service a service calls through Connect),
:func:`intentions_for` and :func:`mesh_intentions` (the service-to-service allow list derived
from declared upstreams and ingresses, default deny), :class:`NomadWorkloadsAuth` (the JWT auth
method for Nomad workload identities, its binding rules and the tasks' role).
Constructs (loaded on first use): :class:`ServiceIntentions`, :class:`NomadWorkloadsAuthMethod`.
"""

from typing import Any

from . import intentions, workload_identity
from .intentions import (
    DEFAULT_DENY,
    INGRESS_PROXY,
    Intentions,
    MeshService,
    Upstream,
    intentions_for,
    mesh_intentions,
    precedence,
)
from .workload_identity import (
    AUTH_METHOD,
    CLAIM_MAPPINGS,
    CONSUL_AUDIENCE,
    TASK_POLICY,
    TASK_POLICY_RULES,
    BindingRule,
    ConsulRole,
    MeshIdentity,
    NomadWorkloadsAuth,
)

_CONSTRUCTS = ("NomadWorkloadsAuthMethod", "ServiceIntentions")

# what each submodule exports, and the constructs
__all__ = [*intentions.__all__, *workload_identity.__all__, *_CONSTRUCTS]


def __getattr__(name: str) -> Any:
    if name in _CONSTRUCTS:
        from . import constructs

        return getattr(constructs, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
