"""Where Nomad, Consul and Vault are, how big their quorums are, and Vault's mounts."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NoReturn

from .._validate import MOUNT_HINT, RFC1123_HINT, is_dns_name, is_mount_path, is_rfc1123_label, url_problem
from ..errors import Checker
from ..vault.jwt import WorkloadIdentityAuth
from ..vault.login import LoginMethod
from ..vault.pki import HOURS_PER_YEAR, PkiHierarchy
from ._base import _check_instance_type
from .tiers import Tier

__all__ = ["AUDIT_DEVICE_KINDS", "ConsulSettings", "NomadSettings", "VaultSettings"]


def _check_server_count(check: Checker, tier: Tier, value: object, what: str) -> None:
    allowed = tier.policy.server_counts
    why = ("1 (development only), 3 or 5" if 1 in allowed
           else "3 or 5 (an odd quorum that survives 1 or 2 failures)")
    check.require(
        isinstance(value, int) and not isinstance(value, bool) and value in allowed,
        "server_count", value, f"a {tier.value} environment runs {why} {what} servers",
    )


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
        from ..nomad.api_fields import SUPPORTED_VERSIONS

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
