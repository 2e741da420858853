"""How people and CI systems log in to Vault, as a model: an OIDC method for operators, a JWT
method for CI systems' identity tokens, and userpass for development only.

Each method maps its roles onto the platform's own policies (``platform-operator``,
``ci-deployer``, ``auditor``), never onto a service's policy or ``root``, and every role is bound
to claims, so that a token from the same identity provider but another group or repository
cannot log in. After the first apply of ``<env>-vault`` with the initial root token, operators
log in through these methods and the root token is revoked (README, "Bring-up").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping
from urllib.parse import urlsplit

from .._validate import MOUNT_HINT, is_mount_path
from ..errors import Checker

__all__ = ["LoginMethod", "LoginRole", "PLATFORM_POLICIES"]

PLATFORM_POLICIES = ("platform-operator", "ci-deployer", "auditor")
"""The policies a login role may grant: the platform's own, defined in ``<env>-vault``."""


@dataclass(frozen=True, kw_only=True)
class LoginRole:
    """One role of a login method: who may use it (bound audiences and claims) and the platform
    policies its tokens carry.

    :param name: the role name (``vault login -method=oidc role=<name>``).
    :param policies: platform policies granted (from :data:`PLATFORM_POLICIES`).
    :param bound_claims: claims the token must carry, e.g. ``{"groups": ("platform-operators",)}``
        or a CI system's ``{"project_path": "platform/hashistack", "ref": "main"}``. Required:
        without them any identity of the provider logs in.
    :param bound_audiences: audiences the token must carry. Required for JWT (CI) roles; OIDC
        roles check the client id instead.
    :param user_claim: the claim that names the user in Vault's audit log. Defaults to ``sub``.
    :param groups_claim: the claim holding group names (OIDC). Defaults to none.
    :param token_ttl_s: token lifetime. Defaults to 1 hour; at most 8 hours.
    """

    name: str
    policies: tuple[str, ...]
    bound_claims: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)
    bound_audiences: tuple[str, ...] = ()
    user_claim: str = "sub"
    groups_claim: str | None = None
    token_ttl_s: int = 3600


@dataclass(frozen=True, kw_only=True)
class LoginMethod:
    """A login method for people or CI. Build with :meth:`oidc`, :meth:`ci_jwt` or :meth:`userpass`.

    ``oidc``: browser login through the organisation's identity provider (``vault login
    -method=oidc``). ``<env>-vault`` holds the mount and the roles only; the method's
    configuration, with the client secret, is written by the day-0 bootstrap from
    ``HASHISTACK_<PATH>_CLIENT_SECRET`` (:meth:`secret_variable`), so the secret is in no code,
    plan or Terraform state (hashistack.bootstrap.vault_logins).
    ``jwt``: a CI system's signed identity token (GitLab ``id_tokens``, GitHub Actions OIDC, ...),
    verified against the issuer's discovery document.
    ``userpass``: development only; users are created by an operator (``vault write
    auth/userpass/users/<name> token_policies=platform-operator password=-``).
    """

    kind: Literal["oidc", "jwt", "userpass"]
    path: str
    roles: tuple[LoginRole, ...] = ()
    discovery_url: str | None = None
    client_id: str | None = None
    redirect_uris: tuple[str, ...] = ()
    description: str | None = None
    discovery_ca_pem: str | None = None
    """The CA of the identity provider's certificate, when the system's trust store lacks it."""

    @staticmethod
    def oidc(*, discovery_url: str, client_id: str, roles: tuple[LoginRole, ...], redirect_uris: tuple[str, ...],
             path: str = "oidc") -> "LoginMethod":
        return LoginMethod(kind="oidc", path=path, discovery_url=discovery_url, client_id=client_id, roles=roles,
                           redirect_uris=redirect_uris, description="Operators: the organisation's identity provider")

    @staticmethod
    def ci_jwt(*, discovery_url: str, roles: tuple[LoginRole, ...], path: str = "jwt-ci") -> "LoginMethod":
        return LoginMethod(kind="jwt", path=path, discovery_url=discovery_url, roles=roles,
                           description="CI systems: signed pipeline identity tokens")

    @staticmethod
    def userpass(*, path: str = "userpass") -> "LoginMethod":
        return LoginMethod(kind="userpass", path=path, description="Development only: username and password")

    @property
    def default_role(self) -> str | None:
        return self.roles[0].name if self.roles else None

    @property
    def secret_variable(self) -> str:
        """The environment variable the bootstrap reads an OIDC method's client secret from."""
        return "HASHISTACK_" + "".join(ch if ch.isalnum() else "_" for ch in self.path.upper()) + "_CLIENT_SECRET"

    def oidc_config(self, client_secret: str) -> dict[str, str]:
        """The body of ``auth/<path>/config`` for an OIDC method (Vault's JWT/OIDC plugin replaces
        the whole configuration on every write, so it is always written complete)."""
        body = {"oidc_discovery_url": self.discovery_url or "", "oidc_client_id": self.client_id or "",
                "oidc_client_secret": client_secret, "default_role": self.default_role or ""}
        if self.discovery_ca_pem:
            body["oidc_discovery_ca_pem"] = self.discovery_ca_pem
        return body

    def validate(self, check: Checker, *, development: bool) -> "LoginMethod":
        """Raises HashistackError for a method that would let the wrong identity in."""
        check.require(self.kind in ("oidc", "jwt", "userpass"), "kind", self.kind, "use oidc, jwt or userpass")
        check.require(is_mount_path(self.path), "path", self.path, MOUNT_HINT)
        if self.kind == "userpass":
            check.require(development, "kind", "userpass",
                          "userpass is for development environments only; log operators in with LoginMethod.oidc "
                          "and CI with LoginMethod.ci_jwt")
            check.require(not self.roles, "roles", self.roles,
                          "userpass has no roles; an operator gives each user its policies")
            return self
        parts = urlsplit(self.discovery_url or "")
        check.require(parts.scheme == "https" and bool(parts.hostname), "discovery_url", self.discovery_url,
                      "use the identity provider's https issuer URL (its /.well-known/openid-configuration is read)")
        if self.kind == "oidc":
            check.require(bool(self.client_id), "client_id", self.client_id, "give the OIDC client id Vault uses")
            check.require(bool(self.redirect_uris) and all(u.startswith(("https://", "http://localhost:"))
                                                           for u in self.redirect_uris),
                          "redirect_uris", self.redirect_uris,
                          "list Vault's UI callback (https://<vault>/ui/vault/auth/<path>/oidc/callback) and the CLI's "
                          "http://localhost:8250/oidc/callback")
        check.require(bool(self.roles), "roles", self.roles, "give at least one role")
        names = [r.name for r in self.roles]
        check.require(len(set(names)) == len(names), "roles", names, "give each role its own name")
        for role in self.roles:
            where = f"roles[{role.name}]"
            check.require(bool(role.policies) and set(role.policies) <= set(PLATFORM_POLICIES),
                          f"{where}.policies", role.policies,
                          f"grant platform policies only ({', '.join(PLATFORM_POLICIES)}); a service's access "
                          "belongs to its workload identity")
            check.require(bool(role.bound_claims) and all(role.bound_claims.values()), f"{where}.bound_claims",
                          dict(role.bound_claims),
                          "bind the group, project or branch allowed to log in; without claims every identity of the "
                          "provider gets these policies")
            if self.kind == "jwt":
                check.require(bool(role.bound_audiences), f"{where}.bound_audiences", role.bound_audiences,
                              "bind the audience the CI system puts in its tokens for Vault")
            check.require(isinstance(role.token_ttl_s, int) and 60 <= role.token_ttl_s <= 8 * 3600,
                          f"{where}.token_ttl_s", role.token_ttl_s, "use 60 to 28800 seconds")
        return self
