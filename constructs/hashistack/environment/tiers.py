"""How strict the platform is with an environment: the tiers and their one-row-each policy."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from types import MappingProxyType
from typing import Mapping

from ..nomad.rules import JobRules

__all__ = ["TIER_POLICY", "Tier", "TierPolicy"]


class Tier(enum.Enum):
    """How strict the platform is with an environment.

    ``DEVELOPMENT`` allows single servers, plain-http addresses and local state.
    ``STAGING`` and ``PRODUCTION`` need remote state, TLS addresses and odd quorums, and their
    Nomad deployments are awaited by ``terraform apply``. ``PRODUCTION`` adds the strictest rules
    (3 or 5 servers, 3 or more availability zones, redundant services).
    """

    DEVELOPMENT = "development"
    STAGING = "staging"
    PRODUCTION = "production"

    @property
    def policy(self) -> "TierPolicy":
        """The tier's row of :data:`TIER_POLICY`."""
        return TIER_POLICY[self]


@dataclass(frozen=True, kw_only=True)
class TierPolicy:
    """What a tier allows and requires: every rule that differs between development, staging and
    production, as data (:data:`TIER_POLICY`, one row per tier). Each rule reads its row; no other
    code asks which tier it is.

    Services:

    :param default_count: a service's allocations when it declares no ``count``.
    :param default_canary: the rollout of a service that declares none is an auto-promoted
        canary (else a rolling update).
    :param job: the job rules the tier adds to Nomad's own (allocation floor, a health check,
        spread across zones, auto-revert).
    :param pinned_images: images must carry a version tag or a digest (no ``:latest``).
    :param awaits_deployments: ``terraform apply`` waits for each Nomad deployment and fails with
        it (so a canary waiting for manual promotion is refused).
    :param plain_http: plain-http addresses, package repositories and ``Ingress.http`` are allowed.

    The platform:

    :param server_counts: the server quorum sizes allowed for Nomad, Consul and Vault.
    :param min_azs: the fewest availability zones.
    :param min_clients: the fewest Nomad clients.
    :param local_state: Terraform state may stay on the machine (``LocalState``).
    :param state_key_required: remote state needs a KMS key of its own.
    :param min_audit_devices: Vault audit devices, so that one failing never blocks Vault.
    :param operator_login_required: a Vault login method grants ``platform-operator`` (so the
        root token can be revoked after the first apply).
    :param userpass_login: Vault's userpass login (and the bootstrap's operator password) allowed.
    :param pinned_machine_image: the machine image filter names one release (no wildcard).
    :param nat_per_zone: one NAT gateway per zone (else one for the VPC).
    :param aws_endpoints: VPC endpoints for the AWS APIs by default.
    :param web_firewall_required: an internet-facing load balancer keeps its web firewall.
    :param deletion_protection_required: deletion protection cannot be turned off.
    :param nomad_ca_required: Vault is given the CA of Nomad's HTTPS certificate (no system trust store).
    :param recovery_keyholders_required: Vault's recovery keys are encrypted to keyholders' PGP keys.
    """

    default_count: int
    default_canary: bool
    job: "JobRules"
    pinned_images: bool
    awaits_deployments: bool
    plain_http: bool
    server_counts: tuple[int, ...]
    min_azs: int
    min_clients: int
    local_state: bool
    state_key_required: bool
    min_audit_devices: int
    operator_login_required: bool
    userpass_login: bool
    pinned_machine_image: bool
    nat_per_zone: bool
    aws_endpoints: bool
    web_firewall_required: bool
    deletion_protection_required: bool
    nomad_ca_required: bool
    recovery_keyholders_required: bool


_SHARED = dict(pinned_images=True, awaits_deployments=True, plain_http=False, server_counts=(3, 5), local_state=False,
               state_key_required=True, operator_login_required=True, userpass_login=False, pinned_machine_image=True,
               nat_per_zone=True, aws_endpoints=True, nomad_ca_required=True, recovery_keyholders_required=True)


TIER_POLICY: Mapping[Tier, TierPolicy] = MappingProxyType({
    Tier.DEVELOPMENT: TierPolicy(
        default_count=1, default_canary=False, job=JobRules(tier="development"), pinned_images=False,
        awaits_deployments=False, plain_http=True, server_counts=(1, 3, 5), min_azs=1, min_clients=1, local_state=True,
        state_key_required=False, min_audit_devices=1, operator_login_required=False, userpass_login=True,
        pinned_machine_image=False, nat_per_zone=False, aws_endpoints=False, web_firewall_required=False,
        deletion_protection_required=False, nomad_ca_required=False, recovery_keyholders_required=False),
    Tier.STAGING: TierPolicy(
        default_count=1, default_canary=False, job=JobRules(tier="staging"), min_azs=1, min_clients=1,
        min_audit_devices=1, web_firewall_required=False, deletion_protection_required=False,
        **_SHARED),  # type: ignore[arg-type]
    Tier.PRODUCTION: TierPolicy(
        default_count=2, default_canary=True,
        job=JobRules(tier="production", min_count=2, checks_required=True, spread_required=True,
                     auto_revert_required=True),
        min_azs=3, min_clients=2, min_audit_devices=2, web_firewall_required=True, deletion_protection_required=True,
        **_SHARED),  # type: ignore[arg-type]
})
"""One row per tier: the only place the tiers differ."""
