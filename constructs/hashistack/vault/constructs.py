"""Vault constructs: thin adapters from the models in this package to provider resources.

Each is usable on its own in any cdktf stack with a Vault provider.
"""

from __future__ import annotations

from typing import Mapping

from cdktf import Fn, TerraformResourceLifecycle
from cdktf_cdktf_provider_vault.audit import Audit
from cdktf_cdktf_provider_vault.auth_backend import AuthBackend
from cdktf_cdktf_provider_vault.jwt_auth_backend import JwtAuthBackend
from cdktf_cdktf_provider_vault.jwt_auth_backend_role import JwtAuthBackendRole
from cdktf_cdktf_provider_vault.kv_secret_backend_v2 import KvSecretBackendV2
from cdktf_cdktf_provider_vault.mount import Mount
from cdktf_cdktf_provider_vault.pki_secret_backend_config_auto_tidy import PkiSecretBackendConfigAutoTidy
from cdktf_cdktf_provider_vault.pki_secret_backend_config_issuers import PkiSecretBackendConfigIssuers
from cdktf_cdktf_provider_vault.pki_secret_backend_config_urls import PkiSecretBackendConfigUrls
from cdktf_cdktf_provider_vault.pki_secret_backend_crl_config import PkiSecretBackendCrlConfig
from cdktf_cdktf_provider_vault.pki_secret_backend_intermediate_cert_request import (
    PkiSecretBackendIntermediateCertRequest,
)
from cdktf_cdktf_provider_vault.pki_secret_backend_intermediate_set_signed import (
    PkiSecretBackendIntermediateSetSigned,
)
from cdktf_cdktf_provider_vault.pki_secret_backend_issuer import PkiSecretBackendIssuer
from cdktf_cdktf_provider_vault.pki_secret_backend_role import PkiSecretBackendRole
from cdktf_cdktf_provider_vault.pki_secret_backend_root_cert import PkiSecretBackendRootCert
from cdktf_cdktf_provider_vault.pki_secret_backend_root_sign_intermediate import (
    PkiSecretBackendRootSignIntermediate,
)
from cdktf_cdktf_provider_vault.policy import Policy as PolicyResource
from constructs import Construct

from ..errors import Checker, HashistackError
from ..terraform_escape import escape
from .jwt import CLAIM_MAPPINGS, JwtRole, WorkloadIdentityAuth
from .login import LoginMethod
from ..paths import child_path
from .pki import PkiHierarchy, PkiRole
from .policy import Policy

__all__ = ["AuditDevice", "JwtAuthRole", "KvV2", "NomadWorkloadIdentityAuth", "PkiCertRole", "VaultLogin",
           "VaultPki", "VaultPolicy"]

_H = 3600


class VaultPolicy(Construct):
    """A linted :class:`~hashistack.vault.Policy` as a ``vault_policy``."""

    def __init__(self, scope: Construct, id: str, *, policy: Policy) -> None:
        super().__init__(scope, id)
        self.model = policy.lint(where=child_path(scope, id, self))
        self.resource = PolicyResource(self, "policy", name=policy.name, policy=escape(policy.render()))


class JwtAuthRole(Construct):
    """A linted :class:`~hashistack.vault.JwtRole` as a ``vault_jwt_auth_backend_role``."""

    def __init__(self, scope: Construct, id: str, *, role: JwtRole, backend_ref: str | None = None) -> None:
        """:param backend_ref: a reference to the backend's path when it is made in the same stack
        (so Terraform orders them); defaults to ``role.backend``."""
        super().__init__(scope, id)
        self.model = role.lint(where=child_path(scope, id, self))
        self.resource = JwtAuthBackendRole(
            self, "role",
            backend=backend_ref or role.backend, role_name=role.name, role_type="jwt",
            bound_audiences=list(role.bound_audiences),
            bound_claims=dict(sorted(role.bound_claims.items())) or None,
            user_claim=role.user_claim, user_claim_json_pointer=role.user_claim.startswith("/"),
            claim_mappings=dict(CLAIM_MAPPINGS),
            token_type=role.token_type, token_policies=list(role.policies), token_period=role.token_period_s,
            token_explicit_max_ttl=0,
        )


class PkiCertRole(Construct):
    """A linted :class:`~hashistack.vault.PkiRole` on the intermediate: exact names only, EC keys,
    server and client usage, leaf certificates not stored in Vault."""

    def __init__(self, scope: Construct, id: str, *, role: PkiRole, hierarchy: PkiHierarchy,
                 mount_ref: str | None = None) -> None:
        """:param mount_ref: a reference to the intermediate's mount path when it is made in the
        same stack (so Terraform orders them); defaults to ``role.mount``."""
        super().__init__(scope, id)
        self.model = role.lint(hierarchy, where=child_path(scope, id, self))
        ttl = str(role.max_ttl_h * _H)
        self.resource = PkiSecretBackendRole(
            self, "role",
            backend=mount_ref or role.mount, name=role.name, allowed_domains=list(role.allowed_domains),
            allow_bare_domains=True, allow_subdomains=role.allow_subdomains, allow_glob_domains=False,
            allow_any_name=role.allow_any_name, allow_wildcard_certificates=role.allow_wildcard_certificates,
            allow_ip_sans=False, allow_localhost=False, enforce_hostnames=role.enforce_hostnames,
            server_flag=True, client_flag=True, key_type="ec", key_bits=256,
            ttl=ttl, max_ttl=ttl, no_store=True, generate_lease=False,
        )


class KvV2(Construct):
    """A KV version 2 mount with its version and deletion settings."""

    def __init__(self, scope: Construct, id: str, *, path: str, max_versions: int = 10,
                 delete_version_after_s: int = 0, cas_required: bool = False,
                 description: str | None = None) -> None:
        super().__init__(scope, id)
        self.path = path
        self.mount = Mount(self, "mount", path=path, type="kv", options={"version": "2"},
                           description=description or "Service secrets (KV v2), one folder per environment")
        self.config = KvSecretBackendV2(self, "config", mount=self.mount.path, max_versions=max_versions,
                                        delete_version_after=delete_version_after_s, cas_required=cas_required)


class VaultPki(Construct):
    """A two-tier PKI: a root CA on its own mount signs an intermediate on another; the
    intermediate's key never leaves Vault (CSR, signature, signed certificate set, named issuer,
    default issuer). Both mounts publish issuing-certificate and CRL URLs, the root's before it
    signs (so the intermediate carries both extensions); the intermediate may only issue names
    under ``permitted_dns_domains`` (a name constraint), rebuilds its CRL automatically, keeps
    delta CRLs and tidies expired certificates.

    TTLs are checked at synth: leaf max <= intermediate <= root. With ``prevent_destroy`` (the
    default) Terraform refuses any plan that would destroy or replace the root or the
    intermediate: a new CA invalidates every certificate and trust store that holds the old one.

    :param common_name: the CA subject's common name stem (``<common_name> Root CA`` and
        ``<common_name> Intermediate CA``). Changing it replaces both CAs.
    :param organization: the CA subject's organisation. Changing it replaces both CAs.
    """

    def __init__(self, scope: Construct, id: str, *, hierarchy: PkiHierarchy, vault_address: str,
                 common_name: str, organization: str | None = None,
                 permitted_dns_domains: tuple[str, ...] = (), prevent_destroy: bool = True) -> None:
        super().__init__(scope, id)
        self.hierarchy = h = hierarchy.validate(Checker(self.node.path, "pki."))
        base = vault_address.rstrip("/")
        org = organization
        keep = TerraformResourceLifecycle(prevent_destroy=True) if prevent_destroy else None

        self.root_mount = Mount(self, "root-mount", path=h.root_mount, type="pki",
                                description=f"Root CA of {common_name} (signs the intermediate only)",
                                default_lease_ttl_seconds=h.root_ttl_h * _H, max_lease_ttl_seconds=h.root_ttl_h * _H,
                                lifecycle=keep)
        self.root = PkiSecretBackendRootCert(
            self, "root-ca", backend=self.root_mount.path, type="internal",
            common_name=f"{common_name} Root CA", organization=org, ttl=str(h.root_ttl_h * _H),
            key_type="ec", key_bits=384, issuer_name="root", exclude_cn_from_sans=True, max_path_length=1,
            lifecycle=keep,
        )
        self.intermediate_mount = Mount(
            self, "intermediate-mount", path=h.intermediate_mount, type="pki",
            description=f"Issuing intermediate CA of {common_name} (service certificates)",
            default_lease_ttl_seconds=h.leaf_max_ttl_h * _H, max_lease_ttl_seconds=h.intermediate_ttl_h * _H,
            lifecycle=keep)
        urls = {}
        for name, mount, crl_expiry in (("root", self.root_mount, "168h"),
                                        ("intermediate", self.intermediate_mount, "72h")):
            urls[name] = [
                PkiSecretBackendConfigUrls(
                    self, f"{name}-urls", backend=mount.path,
                    issuing_certificates=[f"{base}/v1/{mount.path}/ca"],
                    crl_distribution_points=[f"{base}/v1/{mount.path}/crl"]),
                PkiSecretBackendCrlConfig(self, f"{name}-crl", backend=mount.path, expiry=crl_expiry,
                                          auto_rebuild=True, enable_delta=name == "intermediate"),
            ]
        csr = PkiSecretBackendIntermediateCertRequest(
            self, "intermediate-csr", backend=self.intermediate_mount.path, type="internal",
            common_name=f"{common_name} Intermediate CA", organization=org, key_type="ec", key_bits=256,
        )
        # The root writes its issuing-certificate and CRL URLs into what it signs only if they
        # are configured before it signs.
        signed = PkiSecretBackendRootSignIntermediate(
            self, "intermediate-signature", backend=self.root_mount.path, csr=csr.csr,
            common_name=f"{common_name} Intermediate CA", organization=org, ttl=str(h.intermediate_ttl_h * _H),
            issuer_ref=self.root.issuer_id, exclude_cn_from_sans=True, max_path_length=0,
            permitted_dns_domains=list(permitted_dns_domains) or None,
            depends_on=urls["root"], lifecycle=keep,
        )
        self.intermediate = PkiSecretBackendIntermediateSetSigned(
            self, "intermediate-ca", backend=self.intermediate_mount.path, certificate=signed.certificate,
            lifecycle=keep)
        self.issuer = PkiSecretBackendIssuer(
            self, "intermediate-issuer", backend=self.intermediate_mount.path,
            issuer_ref=Fn.element(self.intermediate.imported_issuers, 0), issuer_name="intermediate")
        PkiSecretBackendConfigIssuers(self, "intermediate-default-issuer", backend=self.intermediate_mount.path,
                                      default=self.issuer.issuer_id)
        PkiSecretBackendConfigAutoTidy(
            self, "intermediate-auto-tidy", backend=self.intermediate_mount.path, enabled=True,
            interval_duration="12h", safety_buffer="72h", tidy_cert_store=True, tidy_revoked_certs=True,
            tidy_revoked_cert_issuer_associations=True, tidy_expired_issuers=True)


class NomadWorkloadIdentityAuth(Construct):
    """The JWT auth backend trusting Nomad's workload identities (JWKS at
    ``<nomad>/.well-known/jwks.json``, RS256 and EdDSA, Nomad's CA as ``jwks_ca_pem``), with a default role bound to the ``vault.io``
    audience that grants only ``default_policies``."""

    def __init__(self, scope: Construct, id: str, *, auth: WorkloadIdentityAuth,
                 default_policies: tuple[str, ...] = ("default",)) -> None:
        super().__init__(scope, id)
        self.model = auth.validate(where=self.node.path)
        self.backend = JwtAuthBackend(
            self, "backend", path=auth.path, type="jwt",
            description="Nomad workload identities", jwks_url=auth.jwks_url, jwks_ca_pem=auth.jwks_ca_pem,
            jwt_supported_algs=list(auth.supported_algs), default_role=auth.default_role,
        )
        self.default_role = JwtAuthRole(self, "default-role", backend_ref=self.backend.path, role=JwtRole(
            backend=auth.path, name=auth.default_role, policies=default_policies))


class VaultLogin(Construct):
    """A :class:`~hashistack.vault.LoginMethod` for operators or CI: the auth backend and its roles.

    An OIDC method is the mount and its roles only: its configuration carries the client secret,
    which would sit in this stack's state, so the bootstrap writes it (LoginMethod.oidc_config)."""

    def __init__(self, scope: Construct, id: str, *, method: LoginMethod, development: bool = False) -> None:
        super().__init__(scope, id)
        self.model = m = method.validate(Checker(self.node.path, "login."), development=development)
        self.roles: list[JwtAuthBackendRole] = []
        if m.kind == "userpass":
            self.backend: AuthBackend | JwtAuthBackend = AuthBackend(
                self, "backend", type="userpass", path=m.path, description=m.description)
            return
        if m.kind == "oidc":
            self.backend = AuthBackend(self, "backend", type="oidc", path=m.path, description=m.description)
        else:
            self.backend = JwtAuthBackend(
                self, "backend", path=m.path, type=m.kind, description=m.description,
                oidc_discovery_url=m.discovery_url, default_role=m.default_role)
        backend = self.backend
        self.roles = [
            JwtAuthBackendRole(
                self, f"role-{role.name}",
                backend=backend.path, role_name=role.name, role_type=m.kind,
                bound_audiences=list(role.bound_audiences) or None,
                bound_claims={k: v if isinstance(v, str) else ",".join(v) for k, v in sorted(role.bound_claims.items())},
                user_claim=role.user_claim, groups_claim=role.groups_claim,
                allowed_redirect_uris=list(m.redirect_uris) if m.kind == "oidc" else None,
                oidc_scopes=["openid", "profile", "email"] if m.kind == "oidc" else None,
                token_policies=list(role.policies), token_ttl=role.token_ttl_s, token_max_ttl=role.token_ttl_s,
                token_type="service")
            for role in m.roles
        ]


_AUDIT_OPTIONS: Mapping[str, Mapping[str, str]] = {
    "file": {"file_path": "/var/log/vault/audit.log", "mode": "0600"},
    "syslog": {"tag": "vault", "facility": "AUTH"},
    "socket": {"address": "127.0.0.1:9090", "socket_type": "tcp"},
}


class AuditDevice(Construct):
    """An audit device (``file``, ``syslog`` or ``socket``) with hardened defaults."""

    def __init__(self, scope: Construct, id: str, *, kind: str, options: Mapping[str, str] | None = None) -> None:
        super().__init__(scope, id)
        if kind not in _AUDIT_OPTIONS:
            raise HashistackError(f"{self.node.path}: kind = {kind!r}: use one of {sorted(_AUDIT_OPTIONS)}")
        self.resource = Audit(self, "device", type=kind, path=kind, description=f"{kind} audit device",
                              options=dict(sorted({**_AUDIT_OPTIONS[kind], **(options or {})}.items())))

