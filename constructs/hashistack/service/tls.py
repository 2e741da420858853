"""The service's own certificate, from the environment's Vault PKI intermediate."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import nomad as n
from .._validate import is_container_path, is_dns_name
from ..contracts import service_tls_names
from ..vault.pki import PkiRole
from ..vault.policy import Rule
from ._render import quote
from .context import Contribution
from .on_change import OnChange

if TYPE_CHECKING:
    from .context import ServiceContext

__all__ = ["Tls"]


@dataclass(frozen=True, kw_only=True)
class Tls:
    """A certificate from the environment's Vault PKI intermediate, issued by one ``pkiCert``
    call so cert, key and CA always match, rendered to one PEM bundle (key, certificate, CA)
    under ``secrets/`` and mounted at ``mount_dir/<bundle_name>``. Go reads it with
    ``tls.LoadX509KeyPair(p, p)``: the same file for both arguments.

    :param common_name: defaults to ``<service>.service.consul``.
    :param alt_names: more DNS names; the service's PKI role allows exactly these names. Names
        derive from the service's identity: ``<service>.service.consul``,
        ``<service>.service.<datacenter>.consul`` and ``<service>.<environment domain>``; any
        other name (another service's, another domain) is refused with the allowed list.
    :param ttl_h: certificate lifetime; Vault re-issues before expiry. Defaults to 72 hours.
    :param on_change: defaults to the service's ``reloads_on``: a restart, unless the service
        declares it reloads on a signal (Go exits on SIGHUP without a handler).
    """

    common_name: str | None = None
    alt_names: tuple[str, ...] = ()
    ttl_h: int = 72
    mount_dir: str = "/app/tls"
    bundle_name: str = "bundle.pem"
    on_change: OnChange | None = None

    def contribute(self, ctx: "ServiceContext") -> Contribution:
        """One ``pkiCert`` issuance for the service's own names only, its bundle's directory
        mounted, and the PKI role that allows exactly those names."""
        check, vault, spec = ctx.check, ctx.env.vault, ctx.spec
        common_name = ctx.common_name
        names = ctx.cert_names
        for name in names:
            check.require(is_dns_name(name) and "*" not in name, "tls.common_name/alt_names", name,
                          "use lowercase DNS names; wildcard certificates are not issued")
        check.require(len(set(names)) == len(names), "tls.alt_names", self.alt_names, "list each name once")
        allowed = service_tls_names(ctx.service_name, ctx.env, ctx.ingress_host)
        for name in names:
            # The PKI role allows exactly these names: a name outside the service's own identity
            # would let this service obtain a certificate for another service or domain.
            check.require(name in allowed, "tls.common_name" if name == common_name else "tls.alt_names", name,
                          f"a service's certificate carries only its own names: {list(allowed)}")
        leaf_max = vault.pki_leaf_max_ttl_h
        check.require(isinstance(self.ttl_h, int) and 1 <= self.ttl_h <= leaf_max, "tls.ttl_h", self.ttl_h,
                      f"use 1 to {leaf_max} hours (the environment's pki_leaf_max_ttl_h); short-lived certificates "
                      "are re-issued automatically")
        check.require(is_container_path(self.mount_dir) and posixpath.normpath(self.mount_dir) == self.mount_dir
                      and self.mount_dir != "/", "tls.mount_dir", self.mount_dir,
                      "use an absolute container directory, e.g. '/app/tls'")
        issue = f"{vault.pki_intermediate_mount}/issue/{spec.name}"
        args = [f"common_name={common_name}", f"ttl={self.ttl_h}h"]
        if self.alt_names:
            args.append("alt_names=" + ",".join(self.alt_names))
        call = " ".join(quote(a) for a in (issue, *args))
        template = n.Template(
            destination=f"secrets/tls/{self.bundle_name}", perms="0400", sensitive=True,
            data=f"{{{{ with pkiCert {call} }}}}\n{{{{ .Key }}}}\n{{{{ .Cert }}}}\n{{{{ .CA }}}}\n{{{{ end }}}}\n",
            **ctx.owner(), **ctx.on_change(self.on_change).template_fields())
        return Contribution(
            templates=(template,), mounts=(("tls.mount_dir", n.Mount(source="secrets/tls", target=self.mount_dir)),),
            grants=(Rule(path=issue, capabilities=("update",), comment="TLS certificate for the service"),),
            pki_role=PkiRole(mount=vault.pki_intermediate_mount, name=spec.name, allowed_domains=names,
                             max_ttl_h=self.ttl_h).lint(vault.pki, where=check.where))
