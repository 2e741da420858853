"""Environments as data: one typed, frozen, validated settings object per environment.

Everything that differs between dev, uat and prod at the platform level lives here (regions,
network, addresses, server counts, Vault mount paths, state backend, domain), so a change of
environment is a reviewed diff of data rather than an ``if env == "prod"`` in a stack.
Validation runs when the object is built; a bad value fails synth with a message naming the
environment, the field, the value and what is accepted.

One module per part: ``tiers`` (the tiers and their policy, one row each), ``network``,
``products`` (Nomad, Consul, Vault), ``clients``, ``images``, ``state``, ``ingress``,
``bootstrap`` (what day 0 creates) and ``environment`` (the whole, and the rules across
environments).
"""

from __future__ import annotations

from .bootstrap import BootstrapSettings
from .tiers import Tier, TIER_POLICY, TierPolicy
from .network import NetworkSettings
from .products import AUDIT_DEVICE_KINDS, ConsulSettings, NomadSettings, VaultSettings
from .clients import ClientHostVolume, ClientPool
from .images import DEBIAN_AMI_OWNER, HASHICORP_APT_FINGERPRINT, MachineImage, ProductPackages
from .state import LocalState, S3State, StateBackend
from .ingress import IngressSettings
from .environment import check_environments, Environment

__all__ = [
    "BootstrapSettings",
    "ClientHostVolume",
    "ClientPool",
    "ConsulSettings",
    "MachineImage",
    "ProductPackages",
    "Environment",
    "IngressSettings",
    "LocalState",
    "NetworkSettings",
    "NomadSettings",
    "S3State",
    "StateBackend",
    "check_environments",
    "TIER_POLICY",
    "Tier",
    "TierPolicy",
    "VaultSettings",
]
