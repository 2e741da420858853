"""The two-tier PKI as a model: a root CA mount, a separate issuing intermediate, and the
certificate roles that live only on the intermediate.

Plain Python: :class:`PkiHierarchy` checks its TTLs (leaf max <= intermediate <= root) and
:class:`PkiRole` lints a role against its hierarchy.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._validate import MOUNT_HINT, is_dns_name, is_mount_path
from ..errors import Checker

__all__ = ["PkiHierarchy", "PkiRole"]

HOURS_PER_YEAR = 8760


@dataclass(frozen=True, kw_only=True)
class PkiHierarchy:
    """Root and intermediate CA mounts and their lifetimes.

    :param root_mount: the root CA's mount. Defaults to ``pki-root``.
    :param intermediate_mount: the issuing intermediate's mount. Defaults to ``pki-int``.
    :param root_ttl_h: root CA lifetime. Defaults to 10 years.
    :param intermediate_ttl_h: intermediate CA lifetime. Defaults to 5 years.
    :param leaf_max_ttl_h: the longest certificate a service may ask for. Defaults to 30 days.
    """

    root_mount: str = "pki-root"
    intermediate_mount: str = "pki-int"
    root_ttl_h: int = 10 * HOURS_PER_YEAR
    intermediate_ttl_h: int = 5 * HOURS_PER_YEAR
    leaf_max_ttl_h: int = 30 * 24

    def validate(self, check: Checker) -> "PkiHierarchy":
        for name in ("root_mount", "intermediate_mount"):
            check.require(is_mount_path(getattr(self, name)), name, getattr(self, name), MOUNT_HINT)
        check.require(self.root_mount != self.intermediate_mount, "intermediate_mount", self.intermediate_mount,
                      "the root CA and the intermediate live on separate mounts")
        for name in ("root_ttl_h", "intermediate_ttl_h", "leaf_max_ttl_h"):
            value = getattr(self, name)
            check.require(isinstance(value, int) and not isinstance(value, bool) and value > 0, name, value,
                          "use a whole number of hours above 0")
        check.require(self.intermediate_ttl_h <= self.root_ttl_h, "intermediate_ttl_h", self.intermediate_ttl_h,
                      f"an intermediate cannot outlive its root (root_ttl_h = {self.root_ttl_h})")
        check.require(self.leaf_max_ttl_h <= self.intermediate_ttl_h, "leaf_max_ttl_h", self.leaf_max_ttl_h,
                      f"a leaf certificate cannot outlive its issuer (intermediate_ttl_h = {self.intermediate_ttl_h})")
        return self


@dataclass(frozen=True, kw_only=True)
class PkiRole:
    """A certificate role: which names a service may get certificates for, and for how long."""

    mount: str
    name: str
    allowed_domains: tuple[str, ...]
    max_ttl_h: int
    allow_any_name: bool = False
    allow_wildcard_certificates: bool = False
    allow_subdomains: bool = False
    enforce_hostnames: bool = True

    def lint(self, hierarchy: PkiHierarchy, *, where: str = "") -> "PkiRole":
        check = Checker(f"{where + ': ' if where else ''}pki role \"{self.name}\"")
        check.require(self.mount != hierarchy.root_mount, "mount", self.mount,
                      f"certificate roles live on the intermediate ({hierarchy.intermediate_mount}), never on the "
                      "root CA's mount")
        check.require(self.mount == hierarchy.intermediate_mount, "mount", self.mount,
                      f"use the intermediate mount {hierarchy.intermediate_mount!r}")
        check.require(not self.allow_any_name, "allow_any_name", self.allow_any_name,
                      "list the names the service may use in allowed_domains")
        check.require(not self.allow_wildcard_certificates, "allow_wildcard_certificates",
                      self.allow_wildcard_certificates, "wildcard certificates are not issued; list exact names")
        check.require(self.enforce_hostnames, "enforce_hostnames", self.enforce_hostnames,
                      "certificates are for valid host names only")
        check.require(bool(self.allowed_domains), "allowed_domains", self.allowed_domains,
                      "list at least one DNS name")
        for domain in self.allowed_domains:
            check.require(is_dns_name(domain) and "*" not in domain, "allowed_domains", domain,
                          "use exact lowercase DNS names (no wildcards or globs)")
        check.require(isinstance(self.max_ttl_h, int) and 0 < self.max_ttl_h <= hierarchy.leaf_max_ttl_h,
                      "max_ttl_h", self.max_ttl_h,
                      f"a leaf certificate lives at most leaf_max_ttl_h = {hierarchy.leaf_max_ttl_h} hours, within "
                      f"the intermediate's {hierarchy.intermediate_ttl_h}")
        return self
