"""Vault building blocks.

Models (plain Python): :class:`Policy`/:class:`Rule` (HCL rendering and lint),
:class:`PkiHierarchy`/:class:`PkiRole`, :class:`WorkloadIdentityAuth`/:class:`JwtRole`.
Constructs (loaded on first use): :class:`KvV2`, :class:`VaultPki`, :class:`VaultPolicy`,
:class:`NomadWorkloadIdentityAuth`, :class:`AuditDevice`.
"""

from typing import Any

from .jwt import CLAIM_MAPPINGS, WORKLOAD_AUDIENCE, JwtRole, WorkloadIdentityAuth
from .pki import PkiHierarchy, PkiRole
from .policy import CAPABILITIES, Policy, Rule

_CONSTRUCTS = ("AuditDevice", "KvV2", "NomadWorkloadIdentityAuth", "VaultPki", "VaultPolicy")

__all__ = [
    "CAPABILITIES",
    "CLAIM_MAPPINGS",
    "JwtRole",
    "PkiHierarchy",
    "PkiRole",
    "Policy",
    "Rule",
    "WORKLOAD_AUDIENCE",
    "WorkloadIdentityAuth",
    *_CONSTRUCTS,
]


def __getattr__(name: str) -> Any:
    if name in _CONSTRUCTS:
        from . import constructs

        return getattr(constructs, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
