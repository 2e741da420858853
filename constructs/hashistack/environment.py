"""Environments as data: one typed, frozen, validated settings object per environment.

Everything that differs between dev, uat and prod at the platform level lives here (regions,
network, addresses, server counts, Vault mount paths, state backend, domain), so a change of
environment is a reviewed diff of data rather than an ``if env == "prod"`` in a stack.
Validation runs when the object is built; a bad value fails synth with a message naming the
environment, the field, the value and what is accepted.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import unicodedata
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping, NoReturn, Union
from urllib.parse import urlsplit

from ._types import check_types
from ._validate import (
    MOUNT_HINT,
    RFC1123_HINT,
    is_dns_name,
    is_mount_path,
    is_rfc1123_label,
    is_world,
    parse_network,
    url_problem,
)
from .bootstrap.settings import BootstrapSettings
from .errors import Checker, HashistackError
from .nomad.rules import JobRules
from .vault.jwt import WorkloadIdentityAuth
from .vault.login import LoginMethod
from .vault.pki import HOURS_PER_YEAR, PkiHierarchy

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

_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_ACCOUNT = re.compile(r"^\d{12}$")
_INSTANCE_TYPE = re.compile(r"^[a-z][a-z0-9-]*\.[a-z0-9]+$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")


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


@dataclass(frozen=True, kw_only=True)
class NetworkSettings:
    """The environment's VPC.

    :param vpc_cidr: the VPC's private IPv4 range, /16 to /22.
    :param az_count: availability zones to spread over (1-6; production needs at least 3).
    :param operator_cidrs: where operators and CI reach the APIs from, through the internal load
        balancers only. Defaults to none: the APIs are reachable only from inside the VPC.
    :param aws_endpoints: VPC endpoints for the AWS APIs the nodes call (SSM, KMS, EC2, Auto
        Scaling, Session Manager; S3 as a gateway), so those calls never leave the VPC. Defaults
        to on outside development, off in development (interface endpoints cost per hour and
        zone).
    """

    vpc_cidr: str
    az_count: int
    operator_cidrs: tuple[str, ...] = ()
    availability_zones: tuple[str, ...] = ()
    private_subnet_cidrs: tuple[str, ...] = ()
    public_subnet_cidrs: tuple[str, ...] = ()
    aws_endpoints: bool | None = None

    def endpoints_enabled(self, tier: "Tier") -> bool:
        return tier.policy.aws_endpoints if self.aws_endpoints is None else self.aws_endpoints

    def zones(self, region: str) -> tuple[str, ...]:
        """The AZ names: as given, or ``<region>a``, ``<region>b``, ... for ``az_count`` zones."""
        return self.availability_zones or tuple(f"{region}{chr(ord('a') + i)}" for i in range(self.az_count))

    def subnet_plan(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(private, public) subnet CIDRs, one per AZ: as given, or carved from the VPC range
        (private from its first half, public from its second, each 1/16 of the VPC)."""
        if self.private_subnet_cidrs and self.public_subnet_cidrs:
            return self.private_subnet_cidrs, self.public_subnet_cidrs
        net = ipaddress.ip_network(self.vpc_cidr)
        blocks = list(net.subnets(new_prefix=net.prefixlen + 4))
        private = tuple(str(b) for b in blocks[: self.az_count])
        public = tuple(str(b) for b in blocks[8: 8 + self.az_count])
        return (self.private_subnet_cidrs or private, self.public_subnet_cidrs or public)

    def _validate(self, check: Checker, tier: Tier) -> None:
        net = parse_network(self.vpc_cidr)
        check.require(
            net is not None and net.version == 4 and net.is_private and 16 <= net.prefixlen <= 22,
            "vpc_cidr", self.vpc_cidr,
            "use a private IPv4 CIDR (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16) from /16 to /22, "
            "with no host bits set, e.g. '10.20.0.0/16'",
        )
        min_azs = tier.policy.min_azs
        check.require(
            isinstance(self.az_count, int) and not isinstance(self.az_count, bool)
            and min_azs <= self.az_count <= 6,
            "az_count", self.az_count,
            f"use {min_azs} to 6 availability zones"
            + (f" (a {tier.value} environment spans at least {min_azs})" if min_azs > 1 else ""),
        )
        for cidr in self.operator_cidrs:
            net = parse_network(cidr)
            if net is None:
                check.fail("operator_cidrs", cidr, "use a valid CIDR with no host bits set, e.g. '10.100.0.0/24'")
            check.require(not is_world(net), "operator_cidrs", cidr,
                          "the cluster APIs are never open to the world; list your VPN or CI ranges")
        check.require(len(set(self.operator_cidrs)) == len(self.operator_cidrs), "operator_cidrs",
                      self.operator_cidrs, "list each CIDR once")
        if self.availability_zones:
            check.require(len(self.availability_zones) == self.az_count
                          and len(set(self.availability_zones)) == self.az_count, "availability_zones",
                          self.availability_zones, f"list {self.az_count} distinct zones (az_count)")
        vpc = parse_network(self.vpc_cidr)
        seen: list[tuple[str, ipaddress.IPv4Network]] = []
        for name in ("private_subnet_cidrs", "public_subnet_cidrs"):
            cidrs = getattr(self, name)
            if cidrs:
                check.require(len(cidrs) == self.az_count, name, cidrs, f"give one CIDR per AZ ({self.az_count})")
            for cidr in cidrs:
                sub = parse_network(cidr)
                if not isinstance(sub, ipaddress.IPv4Network) or not isinstance(vpc, ipaddress.IPv4Network):
                    check.fail(name, cidr, "use a valid IPv4 CIDR with no host bits set")
                check.require(sub.subnet_of(vpc), name, cidr, f"a subnet must lie inside the VPC {self.vpc_cidr}")
                for other_name, other in seen:
                    check.require(not sub.overlaps(other), name, cidr, f"overlaps {other} ({other_name}); "
                                  "subnets must not overlap")
                seen.append((name, sub))


def _check_server_count(check: Checker, tier: Tier, value: object, what: str) -> None:
    allowed = tier.policy.server_counts
    why = ("1 (development only), 3 or 5" if 1 in allowed
           else "3 or 5 (an odd quorum that survives 1 or 2 failures)")
    check.require(
        isinstance(value, int) and not isinstance(value, bool) and value in allowed,
        "server_count", value, f"a {tier.value} environment runs {why} {what} servers",
    )


def _check_instance_type(check: Checker, value: object) -> None:
    check.require(isinstance(value, str) and bool(_INSTANCE_TYPE.fullmatch(value)), "instance_type", value,
                  "use an EC2 instance type such as 'm6i.large'")


def _check_address(check: Checker, tier: Tier, value: object) -> None:
    problem = url_problem(value, allow_http=tier.policy.plain_http)
    if problem:
        check.fail("address", value, problem + (
            "" if tier.policy.plain_http else f" (a {tier.value} environment talks TLS only)"))


@dataclass(frozen=True, kw_only=True)
class NomadSettings:
    """Where Nomad is and how big its server quorum is.

    :param address: the Nomad API as reached by Terraform, e.g. ``https://nomad.prod.example.internal:4646``.
    :param server_count: Nomad servers (production: 3 or 5; development may run 1).
    :param region: the Nomad region jobs are submitted to. Defaults to ``global``.
    :param datacenter: the Nomad datacenter jobs run in. Defaults to ``dc1``.
    :param instance_type: the servers' EC2 instance type. Defaults to ``t3.medium``.
    :param version: the Nomad minor version the cluster runs (``1.9``, ``1.10`` or ``1.11``); jobs
        are checked against that version's API structs. Defaults to ``1.10``.
    :param client_max_kill_timeout_s: the clients' ``max_kill_timeout``: a task's ``kill_timeout``
        above it is silently capped by the client. Defaults to 30, Nomad's default
        (command/agent/config.go, DefaultConfig, 1.9-1.11).
    :param memory_oversubscription: whether the scheduler configuration enables memory
        oversubscription, which ``memory_max_mib`` needs (Nomad ignores ``memory_max`` otherwise).
        ``make bootstrap PHASE=cluster`` sets it (operators, with the management token, so the
        identity that deploys jobs needs no ``operator:write``). Defaults to
        ``False`` (Nomad's default), and a service asking for ``memory_max_mib`` is refused.
    """

    address: str
    server_count: int
    region: str = "global"
    datacenter: str = "dc1"
    instance_type: str = "t3.medium"
    version: str = "1.10"
    client_max_kill_timeout_s: float = 30
    memory_oversubscription: bool = False

    def _validate(self, check: Checker, tier: Tier) -> None:
        from .nomad.api_fields import SUPPORTED_VERSIONS

        _check_address(check, tier, self.address)
        _check_server_count(check, tier, self.server_count, "Nomad")
        _check_instance_type(check, self.instance_type)
        check.require(self.version in SUPPORTED_VERSIONS, "version", self.version,
                      f"use a supported Nomad minor version: {list(SUPPORTED_VERSIONS)}")
        check.require(isinstance(self.client_max_kill_timeout_s, (int, float))
                      and not isinstance(self.client_max_kill_timeout_s, bool)
                      and self.client_max_kill_timeout_s > 0, "client_max_kill_timeout_s",
                      self.client_max_kill_timeout_s, "use the clients' max_kill_timeout in seconds (Nomad's default: 30)")
        check.require(is_rfc1123_label(self.region), "region", self.region, RFC1123_HINT)
        check.require(is_rfc1123_label(self.datacenter), "datacenter", self.datacenter, RFC1123_HINT)


@dataclass(frozen=True, kw_only=True)
class ConsulSettings:
    """Where Consul is and how big its server quorum is.

    :param address: the Consul HTTPS API, e.g. ``https://consul.prod.example.internal:8501``.
    :param server_count: Consul servers (production: 3 or 5; development may run 1).
    :param datacenter: the Consul datacenter. Defaults to ``dc1``.
    :param instance_type: the servers' EC2 instance type. Defaults to ``t3.small``.
    """

    address: str
    server_count: int
    datacenter: str = "dc1"
    instance_type: str = "t3.small"

    def _validate(self, check: Checker, tier: Tier) -> None:
        _check_address(check, tier, self.address)
        _check_server_count(check, tier, self.server_count, "Consul")
        _check_instance_type(check, self.instance_type)
        check.require(is_rfc1123_label(self.datacenter), "datacenter", self.datacenter, RFC1123_HINT)


AUDIT_DEVICE_KINDS = ("file", "syslog", "socket")


@dataclass(frozen=True, kw_only=True)
class VaultSettings:
    """Where Vault is and where the platform's mounts live. The service layer finds the KV
    store, the PKI intermediate and the workload-identity auth backend by these names.

    :param address: the Vault API, e.g. ``https://vault.prod.example.internal:8200``.
    :param server_count: Vault servers (production: 3 or 5; development may run 1).
    :param namespace: Vault Enterprise namespace. Defaults to none (the root namespace).
    :param kv_mount: the KV v2 mount holding service secrets. Defaults to ``secret``.
    :param kv_max_versions: versions kept per secret. Defaults to 10.
    :param kv_delete_version_after_s: seconds after which old versions are deleted; 0 keeps them.
        Defaults to 0.
    :param pki_root_mount: the root CA mount. Defaults to ``pki-root``.
    :param pki_intermediate_mount: the issuing intermediate CA mount. Defaults to ``pki-int``.
    :param pki_root_ttl_h: root CA lifetime. Defaults to 10 years.
    :param pki_intermediate_ttl_h: intermediate CA lifetime. Defaults to 5 years.
    :param pki_leaf_max_ttl_h: the longest certificate a service may ask for. Defaults to 30 days.
    :param pki_ca_common_name: the CA subject's common name stem (``<name> Root CA``,
        ``<name> Intermediate CA``). Defaults to the environment's domain. Changing it (or the
        organisation) replaces both CAs, which ``pki_prevent_destroy`` refuses.
    :param pki_ca_organization: the CA subject's organisation. Defaults to none.
    :param pki_permitted_domains: names the intermediate may issue for, besides the environment's
        domain, Consul's service names and the public ingress domain
        (:func:`hashistack.contracts.certifiable_domains`; a name constraint in the intermediate's
        certificate).
        Defaults to none.
    :param pki_prevent_destroy: refuse plans that destroy or replace the root or intermediate CA.
        Defaults to on.
    :param jwt_auth_path: the JWT auth backend trusting Nomad workload identities.
        Defaults to ``jwt-nomad``.
    :param jwt_supported_algs: the signing algorithms accepted from Nomad. Defaults to RS256
        (Nomad >= 1.7) and EdDSA (keys from older versions).
    :param nomad_ca_pem_path: PEM file of the CA behind Nomad's HTTPS certificate, so Vault can
        fetch Nomad's JWKS (relative to the project root). Required outside development when
        Nomad's address is https; in development it defaults to the system trust store.
    :param login_methods: how operators and CI log in (:class:`~hashistack.vault.LoginMethod`):
        OIDC for people, JWT for CI systems, userpass in development only. Outside development
        at least one role must grant ``platform-operator``, so that the initial root token can be
        revoked after the first apply. Defaults to none.
    :param audit_devices: audit device kinds (file, syslog, socket). Defaults to a file device;
        production needs at least two, so losing one never blocks Vault.
    :param instance_type: the servers' EC2 instance type. Defaults to ``t3.medium``.
    """

    address: str
    server_count: int
    namespace: str | None = None
    kv_mount: str = "secret"
    kv_max_versions: int = 10
    kv_delete_version_after_s: int = 0
    pki_root_mount: str = "pki-root"
    pki_intermediate_mount: str = "pki-int"
    pki_root_ttl_h: int = 10 * HOURS_PER_YEAR
    pki_intermediate_ttl_h: int = 5 * HOURS_PER_YEAR
    pki_leaf_max_ttl_h: int = 30 * 24
    pki_ca_common_name: str | None = None
    pki_ca_organization: str | None = None
    pki_permitted_domains: tuple[str, ...] = ()
    pki_prevent_destroy: bool = True
    jwt_auth_path: str = "jwt-nomad"
    jwt_supported_algs: tuple[str, ...] = ("RS256", "EdDSA")
    nomad_ca_pem_path: str | None = None
    login_methods: tuple[LoginMethod, ...] = ()
    audit_devices: tuple[str, ...] = ("file",)
    instance_type: str = "t3.medium"

    @property
    def pki(self) -> PkiHierarchy:
        return PkiHierarchy(root_mount=self.pki_root_mount, intermediate_mount=self.pki_intermediate_mount,
                            root_ttl_h=self.pki_root_ttl_h, intermediate_ttl_h=self.pki_intermediate_ttl_h,
                            leaf_max_ttl_h=self.pki_leaf_max_ttl_h)

    def _validate(self, check: Checker, tier: Tier) -> None:
        _check_address(check, tier, self.address)
        _check_server_count(check, tier, self.server_count, "Vault")
        _check_instance_type(check, self.instance_type)
        if self.namespace is not None:
            check.require(is_mount_path(self.namespace), "namespace", self.namespace, MOUNT_HINT)
        for name in ("kv_mount", "jwt_auth_path"):
            check.require(is_mount_path(getattr(self, name)), name, getattr(self, name), MOUNT_HINT)
        self.pki.validate(_PkiFieldChecker(check))
        mounts = [self.kv_mount, self.pki_root_mount, self.pki_intermediate_mount]
        check.require(len(set(mounts)) == 3, "pki_intermediate_mount", self.pki_intermediate_mount,
                      "the KV mount, the root CA and the intermediate CA need three distinct mounts")
        check.require(isinstance(self.kv_max_versions, int) and 1 <= self.kv_max_versions <= 100,
                      "kv_max_versions", self.kv_max_versions, "keep 1 to 100 versions per secret")
        check.require(isinstance(self.kv_delete_version_after_s, int) and self.kv_delete_version_after_s >= 0,
                      "kv_delete_version_after_s", self.kv_delete_version_after_s, "use 0 (keep) or more seconds")
        check.require(isinstance(self.audit_devices, tuple) and len(set(self.audit_devices)) == len(self.audit_devices)
                      and all(k in AUDIT_DEVICE_KINDS for k in self.audit_devices), "audit_devices",
                      self.audit_devices, f"list distinct kinds from {AUDIT_DEVICE_KINDS}")
        for name in self.pki_permitted_domains:
            check.require(is_dns_name(name), "pki_permitted_domains", name, "use lowercase DNS names")
        if self.pki_ca_common_name is not None:
            check.require(isinstance(self.pki_ca_common_name, str) and 0 < len(self.pki_ca_common_name) <= 48,
                          "pki_ca_common_name", self.pki_ca_common_name, "use 1 to 48 characters")
        WorkloadIdentityAuth(path=self.jwt_auth_path, nomad_address="https://nomad", supported_algs=(
            self.jwt_supported_algs)).validate(where=check.where)
        paths = [m.path for m in self.login_methods] + [self.jwt_auth_path]
        check.require(len(set(paths)) == len(paths), "login_methods", paths,
                      "give each login method its own path, distinct from jwt_auth_path")
        for method in self.login_methods:
            method.validate(check.child(f"login_methods[{method.path}]"), development=tier.policy.userpass_login)
        if tier.policy.operator_login_required:
            check.require(any("platform-operator" in r.policies for m in self.login_methods for r in m.roles),
                          "login_methods", tuple(m.path for m in self.login_methods),
                          f"a {tier.value} environment needs an operator login (LoginMethod.oidc(...) with a role "
                          "granting platform-operator), so that the initial root token can be revoked after the "
                          "first apply")
        need = tier.policy.min_audit_devices
        check.require(len(self.audit_devices) >= need, "audit_devices", self.audit_devices,
                      f"a {tier.value} environment runs at least {need} audit device(s)"
                      + (", so that one failing device never blocks Vault" if need > 1 else ""))


class _PkiFieldChecker(Checker):
    """Reports PkiHierarchy fields under their VaultSettings names (root_ttl_h -> pki_root_ttl_h)."""

    def __init__(self, parent: Checker) -> None:
        super().__init__(parent.where, parent.prefix)

    def fail(self, field: str, value: object, fix: str) -> NoReturn:
        super().fail(f"pki_{field}", value, fix)


_HOST_VOLUME_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
_OWNER = re.compile(r"(\d{1,10}):(\d{1,10})")
_MAX_ID = 4294967294  # the largest uid/gid Linux assigns (2^32 - 2; 2^32 - 1 means "none")
_MODE = re.compile(r"0[0-7]{3}")  # as the boot writes modes (cluster/cloud_init.py)


@dataclass(frozen=True, kw_only=True)
class ClientHostVolume:
    """A directory every Nomad client offers to jobs as a host volume (``client { host_volume }``),
    which a service mounts with :class:`~hashistack.service.Volume`. It lives on the client's root
    disk, created at boot with this owner and mode: node-local data (a cache, a spool, scratch
    space) that outlives a task's restarts and a job's updates on that node, not the node.

    :param name: the volume's name, which a service's ``Volume.host(name)`` requests.
    :param owner: the numeric ``uid:gid`` owning the directory: the user of the services that
        write to it (``ServiceSpec.user``). Defaults to ``0:0`` (root).
    :param mode: the directory's permissions. Defaults to ``0750``; never writable by others.
    :param read_only: offered read-only: every mount of it is read-only. Defaults to off.
    """

    name: str
    owner: str = "0:0"
    mode: str = "0750"
    read_only: bool = False

    @property
    def ids(self) -> tuple[int, int]:
        uid, gid = self.owner.split(":")
        return int(uid), int(gid)

    def writable_by(self, uid: int, gid: int) -> bool:
        """Whether a process of ``uid:gid`` may write into the directory (root always may)."""
        owner_uid, owner_gid = self.ids
        mode = int(self.mode, 8)
        if uid == 0:
            return True
        if uid == owner_uid:
            return bool(mode & 0o200)
        return gid == owner_gid and bool(mode & 0o020)

    def _validate(self, check: Checker) -> None:
        check.require(bool(_HOST_VOLUME_NAME.fullmatch(self.name)), "name", self.name,
                      "use lowercase letters, digits, '_' and '-' (at most 63), e.g. 'cache'")
        check.require(bool(_OWNER.fullmatch(self.owner)) and max(self.ids) <= _MAX_ID, "owner", self.owner,
                      "use the numeric 'uid:gid' of the services that write to it, e.g. '65532:65532'")
        check.require(bool(_MODE.fullmatch(self.mode)) and not int(self.mode, 8) & 0o002, "mode", self.mode,
                      "use octal permissions that others cannot write, e.g. '0750' or '0770'")


@dataclass(frozen=True, kw_only=True)
class ClientPool:
    """The Nomad client nodes that run the workloads.

    :param instance_type: EC2 instance type, e.g. ``m6i.large``.
    :param min_size: fewest clients (production: at least 2, so one node can fail).
    :param max_size: most clients the autoscaling group may run.
    :param desired_size: clients to start with. Defaults to ``min_size``.
    :param host_volumes: directories every client offers as host volumes
        (:class:`ClientHostVolume`). Defaults to none.
    """

    instance_type: str
    min_size: int
    max_size: int
    desired_size: int | None = None
    host_volumes: tuple[ClientHostVolume, ...] = ()

    def host_volume(self, name: str) -> ClientHostVolume | None:
        return next((v for v in self.host_volumes if v.name == name), None)

    @property
    def desired(self) -> int:
        return self.min_size if self.desired_size is None else self.desired_size

    def _validate(self, check: Checker, tier: Tier) -> None:
        check.require(isinstance(self.instance_type, str) and bool(_INSTANCE_TYPE.fullmatch(self.instance_type)),
                      "instance_type", self.instance_type, "use an EC2 instance type such as 'm6i.large'")
        floor = tier.policy.min_clients
        check.require(isinstance(self.min_size, int) and self.min_size >= floor, "min_size", self.min_size,
                      f"run at least {floor} client(s) in a {tier.value} environment")
        check.require(isinstance(self.max_size, int) and self.max_size >= self.min_size, "max_size",
                      self.max_size, f"must be >= min_size ({self.min_size})")
        check.require(self.min_size <= self.desired <= self.max_size, "desired_size", self.desired_size,
                      f"must lie between min_size ({self.min_size}) and max_size ({self.max_size})")
        names = [v.name for v in self.host_volumes]
        for volume in self.host_volumes:
            volume._validate(check.child(f"host_volumes[{volume.name}]"))
            check.require(names.count(volume.name) == 1, "host_volumes", volume.name, "declare each volume once")


HASHICORP_APT_FINGERPRINT = "D55C0D1AC78A8D8126CB631CFC9CA96ACA026560"
"""The primary fingerprint of HashiCorp's Linux package signing key, as published in HashiCorp's
official packaging guide (https://www.hashicorp.com/en/official-packaging-guide). It replaced
798AEC654E5C15428C8E42EEAA16FCBCA621E701 on 2026-09-10. The boot trusts exactly this key from
https://apt.releases.hashicorp.com/gpg (which may hold others), or stops."""

_APT_VERSION = re.compile(r"^[0-9][A-Za-z0-9.+~-]*$")
_FINGERPRINT = re.compile(r"^[0-9A-F]{40}$")


@dataclass(frozen=True, kw_only=True)
class ProductPackages:
    """Where the nodes install Consul, Nomad and Vault from, and which versions.

    The boot adds the apt repository only after the signing key it downloads shows exactly
    ``key_fingerprint``, then installs each product at its pinned apt version (``apt-get install
    consul=<version>``) and holds it, so a node never picks up a release nobody reviewed.

    :param consul_version: Consul's apt package version. Defaults to ``1.21.2-1``.
    :param nomad_version: Nomad's apt package version (1.7 or later: workload identities are
        RS256). Defaults to ``1.10.2-1``.
    :param vault_version: Vault's apt package version. Defaults to ``1.20.0-1``.
    :param repository_url: the apt repository. Defaults to ``https://apt.releases.hashicorp.com``.
    :param key_url: the repository's signing key. Defaults to ``<repository_url>/gpg``.
    :param key_fingerprint: the signing key's full fingerprint (40 hex digits). Defaults to
        HashiCorp's published one.
    """

    consul_version: str = "1.21.2-1"
    nomad_version: str = "1.10.2-1"
    vault_version: str = "1.20.0-1"
    repository_url: str = "https://apt.releases.hashicorp.com"
    key_url: str | None = None
    key_fingerprint: str = HASHICORP_APT_FINGERPRINT

    @property
    def signing_key_url(self) -> str:
        return self.key_url or f"{self.repository_url.rstrip('/')}/gpg"

    def version_of(self, product: str) -> str:
        return {"consul": self.consul_version, "nomad": self.nomad_version, "vault": self.vault_version}[product]

    def _validate(self, check: Checker, tier: Tier) -> None:
        for name in ("consul_version", "nomad_version", "vault_version"):
            value = getattr(self, name)
            check.require(isinstance(value, str) and bool(_APT_VERSION.fullmatch(value)), name, value,
                          "pin an exact apt package version such as '1.21.2-1' (see `apt-cache madison <product>`)")
        nomad_minor = tuple(int(x) for x in re.findall(r"\d+", self.nomad_version)[:2])
        check.require(nomad_minor >= (1, 7), "nomad_version", self.nomad_version,
                      "use Nomad 1.7 or later: Vault trusts Nomad workload identities (RS256), added in 1.7")
        schemes = ("https", "http") if tier.policy.plain_http else ("https",)
        for name, value in (("repository_url", self.repository_url), ("key_url", self.signing_key_url)):
            parts = urlsplit(value) if isinstance(value, str) else None
            check.require(parts is not None and parts.scheme in schemes and bool(parts.hostname)
                          and not parts.query and not parts.fragment, name, value,
                          f"use an {' or '.join(schemes)}:// URL naming a host, e.g. https://apt.releases.hashicorp.com"
                          + ("" if tier.policy.plain_http else f" (a {tier.value} environment fetches over TLS)"))
        check.require(isinstance(self.key_fingerprint, str) and bool(_FINGERPRINT.fullmatch(self.key_fingerprint)),
                      "key_fingerprint", self.key_fingerprint,
                      "give the signing key's full fingerprint: 40 uppercase hex digits, no spaces")


DEBIAN_AMI_OWNER = "136693071363"
"""The AWS account that publishes Debian's official AMIs (https://wiki.debian.org/Cloud/AmazonEC2Image)."""


@dataclass(frozen=True, kw_only=True)
class MachineImage:
    """The nodes' machine image, looked up by Terraform (an ``aws_ami`` data source, most recent
    match) so that the image is the publisher's and never a literal placeholder.

    The boot targets Debian 13 (trixie): it installs with apt, reads ``/etc/os-release`` for the
    release name and uses systemd-resolved and amazon-ec2-utils from Debian's archive.

    :param owners: AWS accounts allowed to own the image. Defaults to Debian's.
    :param name: the image name. Defaults to the filter ``debian-13-amd64-*`` (the newest match),
        which development environments may use; outside development it must name one release
        (``debian-13-amd64-20251117-2299``), so that a new Debian image rolls the node groups
        only when this name is changed on purpose, never on an unrelated deploy.
    :param architecture: Defaults to ``x86_64``.
    """

    owners: tuple[str, ...] = (DEBIAN_AMI_OWNER,)
    name: str = "debian-13-amd64-*"
    architecture: str = "x86_64"

    def _validate(self, check: Checker, tier: Tier) -> None:
        check.require(isinstance(self.owners, tuple) and bool(self.owners)
                      and all(isinstance(o, str) and bool(_ACCOUNT.fullmatch(o)) for o in self.owners),
                      "owners", self.owners, "list the 12-digit AWS accounts that publish the image, e.g. "
                      f"('{DEBIAN_AMI_OWNER}',) for Debian; never 'self' alone or an empty tuple")
        check.require(isinstance(self.name, str) and bool(self.name.strip()) and self.name != "*", "name",
                      self.name, "filter on an image name such as 'debian-13-amd64-*'")
        check.require(self.architecture in ("x86_64", "arm64"), "architecture", self.architecture,
                      "use 'x86_64' or 'arm64'")
        if tier.policy.pinned_machine_image and isinstance(self.name, str):
            check.require(not any(c in self.name for c in "*?"), "name", self.name,
                          f"pin one image release in a {tier.value} environment, e.g. 'debian-13-amd64-20251117-2299' "
                          "(a wildcard takes the newest match at every plan and rolls every node group on an "
                          "unrelated deploy); change the name to roll the nodes on purpose, or set ami_id")


@dataclass(frozen=True, kw_only=True)
class LocalState:
    """Terraform state in a local file below ``state_dir`` (relative to the project root).
    Development only: shared environments need locking and durability."""

    state_dir: str = ".terraform-state"

    def _validate(self, check: Checker, tier: Tier) -> None:
        check.require(tier.policy.local_state, "state", self,
                      f"a {tier.value} environment keeps its state remotely: use S3State(bucket=..., lock_table=...)")
        check.require(isinstance(self.state_dir, str) and bool(self.state_dir) and not self.state_dir.startswith("/")
                      and ".." not in self.state_dir.split("/"),
                      "state.state_dir", self.state_dir, "use a relative folder inside the project, e.g. '.terraform-state'")


@dataclass(frozen=True, kw_only=True)
class S3State:
    """Terraform state in S3, encrypted, with a DynamoDB lock table.

    :param bucket: the state bucket (versioning on, created outside this project).
    :param lock_table: the DynamoDB table used for state locking.
    :param region: the bucket's region. Defaults to the environment's region.
    :param key_prefix: prefix of each stack's state key. Defaults to ``hashistack``;
        a stack's key is ``<key_prefix>/<stack>.tfstate``.
    :param kms_key_id: the KMS key (ARN) that encrypts each state object. Required outside
        development: state holds the provider's reads of secrets (the OIDC client secret of
        ``<env>-vault``, resource attributes), and a key of its own lets the key policy decide who
        may decrypt it, beyond the bucket policy. Defaults to none (SSE-S3) in development.
    """

    bucket: str
    lock_table: str
    region: str | None = None
    key_prefix: str = "hashistack"
    kms_key_id: str | None = None

    def state_key(self, stack: str) -> str:
        """The S3 key of ``stack``'s state: the backend writes it, CI's state policy names it."""
        return f"{self.key_prefix}/{stack}.tfstate"

    def _validate(self, check: Checker, tier: Tier) -> None:
        check = check.child("state")
        check.require(isinstance(self.bucket, str) and bool(_BUCKET.fullmatch(self.bucket)) and ".." not in self.bucket,
                      "bucket", self.bucket, "use a valid S3 bucket name (3-63 lowercase letters, digits, '.', '-')")
        check.require(isinstance(self.lock_table, str) and bool(_TABLE.fullmatch(self.lock_table)), "lock_table",
                      self.lock_table, "use a DynamoDB table name (3-255 letters, digits, '_', '-', '.')")
        if self.region is not None:
            check.require(bool(_REGION.fullmatch(self.region)), "region", self.region, "use an AWS region such as 'eu-west-1'")
        check.require(is_mount_path(self.key_prefix), "key_prefix", self.key_prefix, MOUNT_HINT)
        if self.kms_key_id is not None or tier.policy.state_key_required:
            needed = f" (required in a {tier.value} environment)" if tier.policy.state_key_required else ""
            check.require(isinstance(self.kms_key_id, str) and bool(_KMS_ARN.fullmatch(self.kms_key_id)), "kms_key_id",
                          self.kms_key_id, f"give the ARN of the KMS key that encrypts the state{needed}, e.g. "
                          "'arn:aws:kms:eu-west-1:222222222222:alias/hashistack-tfstate'")


_KMS_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key/[0-9a-f-]{36}|alias/[A-Za-z0-9/_-]+)$")

StateBackend = Union[LocalState, S3State]


_CERT_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$")
# Ports the cluster's agents use (see ports.PORT_MATRIX) and Nomad's default dynamic range: the
# proxy's port must be none of them, so the rule that admits the load balancer opens nothing else.
_CLUSTER_PORTS = {4646, 4647, 4648, 8200, 8201, 8300, 8301, 8302, 8500, 8501, 8502, 8503, 8600}
_DYNAMIC_PORTS = range(20000, 32001)


@dataclass(frozen=True, kw_only=True)
class IngressSettings:
    """Where users' traffic enters the environment.

    :param public_domain: the domain services are published under (``payments.<public_domain>``).
    :param certificate_arn: the ACM certificate for ``*.<public_domain>`` (issued and validated
        where the public zone lives).
    :param internet_facing: an internet-facing load balancer in the public subnets (default), or
        an internal one for environments reached only through the company network.
    :param allowed_cidrs: who may connect to 443/80. Defaults to everyone for an internet-facing
        load balancer; an internal one needs the company's ranges.
    :param proxy_port: the port the ingress proxy listens on, on every Nomad client (HTTPS).
        Defaults to 8443.
    :param ssl_policy: the listener's TLS policy. Defaults to TLS 1.3 with TLS 1.2 fallback.
    :param access_log_days: days the load balancers' access logs are kept (the ingress load
        balancer's and the API load balancers'). Defaults to 90.
    :param web_firewall: AWS WAF in front of the load balancer (managed rule groups and a rate
        limit per client address). Defaults to on for an internet-facing load balancer, off for an
        internal one.
    :param rate_limit_per_address: requests one client address may send in five minutes before
        the firewall blocks it. Defaults to 2000.
    """

    public_domain: str
    certificate_arn: str
    internet_facing: bool = True
    allowed_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    proxy_port: int = 8443
    ssl_policy: str = "ELBSecurityPolicy-TLS13-1-2-2021-06"
    access_log_days: int = 90
    web_firewall: bool | None = None
    rate_limit_per_address: int = 2000

    @property
    def firewall_enabled(self) -> bool:
        return self.internet_facing if self.web_firewall is None else self.web_firewall

    def validate(self, check: Checker) -> "IngressSettings":
        check.require(is_dns_name(self.public_domain), "public_domain", self.public_domain,
                      "use a lowercase DNS name such as 'example.com'")
        check.require(isinstance(self.certificate_arn, str) and bool(_CERT_ARN.fullmatch(self.certificate_arn)),
                      "certificate_arn", self.certificate_arn,
                      "use the ARN of an ACM certificate, arn:aws:acm:<region>:<account>:certificate/<id>")
        check.require(isinstance(self.proxy_port, int) and 1024 <= self.proxy_port <= 65535
                      and self.proxy_port not in _CLUSTER_PORTS and self.proxy_port not in _DYNAMIC_PORTS,
                      "proxy_port", self.proxy_port,
                      "use a port from 1024 to 65535 outside the agents' ports and Nomad's dynamic range "
                      "(20000-32000), e.g. 8443")
        check.require(bool(self.allowed_cidrs), "allowed_cidrs", self.allowed_cidrs, "list at least one CIDR")
        for cidr in self.allowed_cidrs:
            net = parse_network(cidr)
            if net is None:
                check.fail("allowed_cidrs", cidr, "use a valid CIDR with no host bits set")
            check.require(self.internet_facing or not is_world(net), "allowed_cidrs", cidr,
                          "an internal load balancer admits the company's ranges, not the world")
        check.require(self.ssl_policy.startswith("ELBSecurityPolicy-TLS13-"), "ssl_policy", self.ssl_policy,
                      "use a TLS 1.3 policy such as 'ELBSecurityPolicy-TLS13-1-2-2021-06'")
        check.require(isinstance(self.access_log_days, int) and 1 <= self.access_log_days <= 3650,
                      "access_log_days", self.access_log_days, "keep access logs 1 to 3650 days")
        check.require(type(self.rate_limit_per_address) is int and 100 <= self.rate_limit_per_address <= 2_000_000_000,
                      "rate_limit_per_address", self.rate_limit_per_address,
                      "use a number of requests per five minutes from 100 to 2000000000 (AWS WAF's range)")
        return self

    def _validate(self, check: Checker, tier: Tier) -> None:
        self.validate(check)
        check.require(not tier.policy.web_firewall_required or not self.internet_facing or self.firewall_enabled,
                      "web_firewall", self.web_firewall,
                      "keep the web application firewall on for an internet-facing production load balancer")




_TAG_CHARACTERS = "AWS allows letters, digits, spaces and _ . : / = + - @ in tags"


def _tag_text(text: str) -> bool:
    """AWS's tag character set (letters, digits and spaces of any script, and ``_.:/=+-@``): a
    newline or control character is refused by every tagging API at apply."""
    return all(ch.isalnum() or ch in "_.:/=+-@" or unicodedata.category(ch) == "Zs" for ch in text)


def _partition(region: str) -> str:
    """The AWS partition of ``region``, the second field of every ARN in it."""
    for prefix, partition in (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"), ("us-isob-", "aws-iso-b"),
                              ("us-iso-", "aws-iso")):
        if region.startswith(prefix):
            return partition
    return "aws"


@dataclass(frozen=True, kw_only=True)
class Environment:
    """One environment of the platform (dev, uat, prod, ...), validated when built.

    :param name: short RFC 1123 label used in stack names (``<name>``, ``<name>-infra``,
        ``<name>-vault``) and resource names; at most 20 characters.
    :param tier: how strict the platform is (see :class:`Tier`).
    :param region: the AWS region.
    :param account_id: the AWS account the environment lives in; the AWS provider refuses any other.
    :param domain: the environment's DNS domain, e.g. ``prod.example.internal``.
    :param ami_id: a pinned machine image for every node (an image baked from Debian 13).
        Defaults to none: the image is looked up from ``machine_image``.
    :param machine_image: the image filter used when ``ami_id`` is not given. Defaults to
        Debian's official Debian 13 images.
    :param packages: Consul, Nomad and Vault versions and their signed apt repository.
        Defaults to the pinned versions of :class:`ProductPackages`.
    :param tags: tags applied to every AWS resource. ``environment`` is always added.
    :param bootstrap: what ``make bootstrap`` creates (CA, certificate lifetimes, the SSM key,
        Vault's recovery keyholders). Defaults to :class:`BootstrapSettings`' defaults.
    :param ingress: where users' traffic enters (:class:`IngressSettings`: the public domain, its
        certificate, the load balancer). Defaults to none: no service of the environment can
        declare an ``ingress``.
    :param deletion_protection: the load balancers refuse deletion, and ``<env>-infra``'s destroy keeps
        the access-log bucket while it holds logs. Defaults to on, in every tier: a shared
        environment is not lost to one mistaken ``destroy``. To tear an environment down, set it to
        ``False``, deploy ``<env>-infra``, then destroy (the README's "Tearing an environment
        down"). Production refuses ``False``.
    """

    name: str
    tier: Tier
    region: str
    account_id: str
    domain: str
    network: NetworkSettings
    nomad: NomadSettings
    consul: ConsulSettings
    vault: VaultSettings
    clients: ClientPool
    state: StateBackend
    tags: Mapping[str, str] = field(default_factory=dict)
    ami_id: str | None = None
    machine_image: MachineImage = field(default_factory=MachineImage)
    packages: ProductPackages = field(default_factory=ProductPackages)
    bootstrap: BootstrapSettings = field(default_factory=BootstrapSettings)
    ingress: IngressSettings | None = None
    deletion_protection: bool = True

    def __post_init__(self) -> None:
        where = f"environment {self.name!r}".replace("'", '"')
        # Every field, and every field of the settings nested in it, against its annotation first:
        # a wrong type is one line naming its path, never a traceback from a rule below.
        check_types(self, where, construct="Environment")
        check = Checker(where)
        check.require(is_rfc1123_label(self.name) and len(self.name) <= 20, "name", self.name,
                      "use at most 20 lowercase letters, digits and '-', starting and ending with a letter or digit "
                      "(it prefixes stack and resource names)" + (
                          f", e.g. {self.name.lower()!r}" if is_rfc1123_label(str(self.name).lower()) else ""))
        check.require(isinstance(self.tier, Tier), "tier", self.tier,
                      "use Tier.DEVELOPMENT, Tier.STAGING or Tier.PRODUCTION")
        check.require(isinstance(self.region, str) and bool(_REGION.fullmatch(self.region)), "region", self.region,
                      "use an AWS region such as 'eu-west-1'")
        check.require(isinstance(self.account_id, str) and bool(_ACCOUNT.fullmatch(self.account_id)), "account_id",
                      self.account_id, "use the 12-digit AWS account id as a string")
        check.require(is_dns_name(self.domain), "domain", self.domain,
                      "use a lowercase DNS name such as 'prod.example.internal'")
        if self.ami_id is not None:
            check.require(isinstance(self.ami_id, str) and bool(re.fullmatch(r"ami-[0-9a-f]{8,17}", self.ami_id)),
                          "ami_id", self.ami_id, "use an AMI id such as 'ami-0123456789abcdef0', or leave it unset "
                          "to look the image up from machine_image")
        for name in ("network", "nomad", "consul", "vault", "clients", "state", "bootstrap", "machine_image", "packages"):
            getattr(self, name)._validate(check if name == "state" else check.child(name), self.tier)
        if self.ingress is not None:
            self.ingress._validate(check.child("ingress"), self.tier)
            self._check_certificate_home(check)
        check.require(self.deletion_protection or not self.tier.policy.deletion_protection_required, "deletion_protection",
                      self.deletion_protection, "production keeps deletion protection on; move the environment to "
                      "another tier first to tear it down")
        if self.tier.policy.nomad_ca_required and self.nomad.address.startswith("https://"):
            check.require(self.vault.nomad_ca_pem_path is not None, "vault.nomad_ca_pem_path", None,
                          "give the PEM file of the CA behind Nomad's HTTPS certificate: Vault fetches Nomad's JWKS "
                          f"from {self.nomad.address} when <env>-vault is applied and must trust it")
        tags = dict(self.tags)
        for key, value in tags.items():
            check.require(0 < len(key) <= 128 and not key.lower().startswith("aws:") and _tag_text(key),
                          "tags", key, f"tag keys are 1-128 characters and may not start with 'aws:'; {_TAG_CHARACTERS}")
            check.require(len(value) <= 256 and _tag_text(value), f"tags[{key!r}]", value,
                          f"tag values are strings of at most 256 characters; {_TAG_CHARACTERS}")
        tags.setdefault("environment", self.name)
        object.__setattr__(self, "tags", MappingProxyType(dict(sorted(tags.items()))))

    def _check_certificate_home(self, check: Checker) -> None:
        """The ingress certificate lives where the load balancer does: an ALB listener takes an ACM
        certificate of its own account and region only (ACM certificates are regional and are not
        shared across accounts), so any other ARN fails at apply, after the network is built."""
        assert self.ingress is not None
        arn = self.ingress.certificate_arn
        partition, region, account = arn.split(":")[1], arn.split(":")[3], arn.split(":")[4]
        for part, value, own, fix in (
                ("partition", partition, _partition(self.region),
                 f"the region {self.region} is in the {_partition(self.region)!r} partition"),
                ("region", region, self.region, f"request or import the certificate in ACM in {self.region}, the "
                 "environment's region (a load balancer uses certificates of its own region only)"),
                ("account", account, self.account_id, f"use a certificate of account {self.account_id}, the "
                 "environment's (ACM certificates are not shared across accounts)")):
            check.require(value == own, "ingress.certificate_arn", arn,
                          f"the certificate's {part} is {value}, the environment's is {own}: {fix}")

    @property
    def is_production(self) -> bool:
        return self.tier is Tier.PRODUCTION

    @property
    def awaits_deployments(self) -> bool:
        """True where ``terraform apply`` waits for each Nomad deployment and fails with it."""
        return self.tier.policy.awaits_deployments

    @property
    def stack_names(self) -> tuple[str, str, str]:
        """The environment's stacks in bring-up order: infra, vault, services."""
        return (f"{self.name}-infra", f"{self.name}-vault", self.name)


def check_environments(environments: "tuple[Environment, ...]") -> None:
    """Rules across an app's environments, checked once when the app loads them: each name once
    (two environments of one name would share their stacks and state), and each VPC range disjoint
    from every other environment's and from every environment's operator networks (overlapping
    ranges cannot be peered or routed from the operators' network)."""
    seen: dict[str, int] = {}
    for i, env in enumerate(environments):
        if not isinstance(env, Environment):
            raise HashistackError(f"ENVIRONMENTS[{i}] = {env!r}: not an Environment; list Environment(...) objects")
        if env.name in seen:
            raise HashistackError(
                f"ENVIRONMENTS[{i}]: name = {env.name!r}: environment {seen[env.name]} has this name too; "
                "give each environment its own name (it names its stacks, resources and state)")
        seen[env.name] = i
    networks = [(env, ipaddress.ip_network(env.network.vpc_cidr)) for env in environments]
    for i, (env, net) in enumerate(networks):
        for other, other_net in networks[i + 1:]:
            if net.overlaps(other_net):
                raise HashistackError(
                    f'environment "{other.name}": network.vpc_cidr = {other.network.vpc_cidr!r}: overlaps environment '
                    f'"{env.name}"\'s {env.network.vpc_cidr}; give each environment a VPC range of its own')
        for other in environments:
            for cidr in other.network.operator_cidrs:
                if net.overlaps(ipaddress.ip_network(cidr)):
                    raise HashistackError(
                        f'environment "{env.name}": network.vpc_cidr = {env.network.vpc_cidr!r}: overlaps the '
                        f'operators\' network {cidr} (environment "{other.name}"); the operators could not route '
                        "to it: choose a VPC range outside every operator network")
