"""Nomad workload identity in Vault, as a model: the JWT auth backend that trusts Nomad's JWKS,
and the roles that turn a job's identity into a Vault token.

Nomad signs workload identities with RS256 since 1.7 (EdDSA only with keys from before) and
publishes its keys at ``<nomad>/.well-known/jwks.json``; the audience is ``vault.io`` on both
sides (the servers' ``vault { default_identity { aud = ["vault.io"] } }`` and every role's
``bound_audiences``). Vault fetches that JWKS when the backend's config is written, so it must
trust the CA behind Nomad's HTTPS certificate (``jwks_ca_pem``) and Nomad's HTTP listener must not
require a client certificate (``verify_https_client = false``; mTLS stays on RPC).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from .._validate import MOUNT_HINT, is_mount_path
from ..contracts import VAULT_AUDIENCE as WORKLOAD_AUDIENCE
from ..errors import Checker

__all__ = ["CLAIM_MAPPINGS", "JWT_ALGORITHMS", "JwtRole", "WORKLOAD_AUDIENCE", "WorkloadIdentityAuth"]

JWT_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384", "PS512", "EdDSA")

CLAIM_MAPPINGS = {"nomad_namespace": "nomad_namespace", "nomad_job_id": "nomad_job_id", "nomad_task": "nomad_task"}


@dataclass(frozen=True, kw_only=True)
class WorkloadIdentityAuth:
    """The JWT auth backend trusting one Nomad cluster's workload identities."""

    path: str
    nomad_address: str
    default_role: str = "nomad-workloads"
    jwks_ca_pem: str | None = None
    supported_algs: tuple[str, ...] = ("RS256", "EdDSA")

    @property
    def jwks_url(self) -> str:
        return f"{self.nomad_address.rstrip('/')}/.well-known/jwks.json"

    def validate(self, *, where: str = "") -> "WorkloadIdentityAuth":
        check = Checker(f"{where + ': ' if where else ''}jwt auth \"{self.path}\"")
        check.require(is_mount_path(self.path), "path", self.path, MOUNT_HINT)
        check.require(self.nomad_address.startswith(("https://", "http://")), "nomad_address", self.nomad_address,
                      "use the Nomad API address, e.g. https://nomad.example.internal:4646")
        check.require(isinstance(self.supported_algs, tuple) and "RS256" in self.supported_algs
                      and set(self.supported_algs) <= set(JWT_ALGORITHMS), "supported_algs", self.supported_algs,
                      "include 'RS256' (Nomad >= 1.7 signs workload identities with RS256; add 'EdDSA' for keys "
                      f"from older Nomad versions), from {list(JWT_ALGORITHMS)}")
        if self.jwks_ca_pem is not None:
            check.require("BEGIN CERTIFICATE" in self.jwks_ca_pem and "PRIVATE KEY" not in self.jwks_ca_pem,
                          "jwks_ca_pem", "<pem>", "give the PEM of the CA that signed Nomad's HTTPS certificate "
                          "(a certificate, never a key)")
        return self


@dataclass(frozen=True, kw_only=True)
class JwtRole:
    """A role of the workload-identity backend: who may log in (bound audience and claims) and
    which policies the token carries. Tokens are service tokens renewed every ``token_period_s``."""

    backend: str
    name: str
    policies: tuple[str, ...]
    bound_audiences: tuple[str, ...] = (WORKLOAD_AUDIENCE,)
    bound_claims: Mapping[str, str] = field(default_factory=dict)
    user_claim: str = "/nomad_job_id"
    token_type: str = "service"
    token_period_s: int = 1800

    def lint(self, *, where: str = "") -> "JwtRole":
        check = Checker(f"{where + ': ' if where else ''}jwt role \"{self.name}\"")
        check.require(bool(self.bound_audiences) and all(self.bound_audiences), "bound_audiences",
                      self.bound_audiences,
                      f"bind the audience Nomad puts in workload identities ({WORKLOAD_AUDIENCE!r}); a role with no "
                      "bound audience accepts any token its issuer signs")
        check.require(bool(self.policies), "policies", self.policies, "attach at least one policy")
        check.require("root" not in self.policies, "policies", "root", "never hand out the root policy")
        check.require(self.token_type in ("service", "batch"), "token_type", self.token_type,
                      "use 'service' (renewable) or 'batch'")
        check.require(isinstance(self.token_period_s, int) and 60 <= self.token_period_s <= 86400, "token_period_s",
                      self.token_period_s, "use 60 to 86400 seconds")
        return self
