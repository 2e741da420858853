"""Vault building blocks.

Models (plain Python): :class:`Policy`/:class:`Rule` (HCL rendering and lint),
:class:`PkiHierarchy`/:class:`PkiRole`, :class:`WorkloadIdentityAuth`/:class:`JwtRole`,
:class:`LoginMethod`/:class:`LoginRole`.
Constructs (loaded on first use): :class:`KvV2`, :class:`VaultPki`, :class:`VaultPolicy`,
:class:`NomadWorkloadIdentityAuth`, :class:`VaultLogin`, :class:`AuditDevice`.
"""

from typing import Any

from .jwt import CLAIM_MAPPINGS, JWT_ALGORITHMS, WORKLOAD_AUDIENCE, JwtRole, WorkloadIdentityAuth
from .login import PLATFORM_POLICIES, LoginMethod, LoginRole
from .pki import PkiHierarchy, PkiRole
from .policy import CAPABILITIES, Policy, Rule

_CONSTRUCTS = ("AuditDevice", "KvV2", "NomadWorkloadIdentityAuth", "VaultLogin", "VaultPki", "VaultPolicy")

__all__ = [
    "CAPABILITIES",
    "CLAIM_MAPPINGS",
    "JWT_ALGORITHMS",
    "JwtRole",
    "LoginMethod",
    "LoginRole",
    "PLATFORM_POLICIES",
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
