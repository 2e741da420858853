"""CI's Nomad identity, bound to the CI system's signed pipeline token as Vault's CI login is.

For each CI login method of the environment (``LoginMethod.ci_jwt``) phase ``cluster`` creates in
Nomad, with the management token:

- the ACL role ``ci-deployer``, holding the ``ci-deployer`` policy (submit and read jobs only);
- a JWT auth method of the same name as Vault's (``jwt-ci``), verifying tokens against the same
  issuer, for the audience Nomad's address (the pipeline asks its CI system for a token with that
  audience), its tokens living at most as long as the CI role's Vault tokens;
- one binding rule per CI role granting the Nomad role ``ci-deployer``, selected on the role's
  bound claims (the same claims Vault binds: repository, branch, protection).

CI then logs in with ``nomad login -method=jwt-ci -type=JWT -login-token="$CI_NOMAD_JWT"``: no
long-lived Nomad token sits in the CI system's secrets. A token whose claims match no binding rule
gets nothing ("no role or policy bindings matched", Nomad v1.10.2 ``lib/auth/binder.go``).

Nomad's binding rules select with go-bexpr over the claim mappings (``value.<name>``); every
bound claim is mapped under a name of identifier characters. Claims here are scalars (a CI
system's pipeline claims are); a list claim would need ``ListClaimMappings``.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from ..environment import Environment

__all__ = ["CI_ROLE", "NomadCiBinding", "ci_bindings"]

CI_ROLE = "ci-deployer"
"""The Nomad ACL role (and policy) CI's tokens carry."""


def _duration(seconds: int) -> str:
    """A Go duration string, as Nomad's API writes ``MaxTokenTTL`` back (``15m0s``, ``1h0m0s``)."""
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return (f"{hours}h" if hours else "") + (f"{minutes}m" if hours or minutes else "") + f"{secs}s"


def _mapped(claim: str) -> str:
    return re.sub(r"\W", "_", claim)


def selector(bound_claims: dict) -> str:
    """The binding rule's go-bexpr selector: every bound claim equal to one of its values."""
    terms = []
    for claim, values in sorted(bound_claims.items()):
        values = (values,) if isinstance(values, str) else tuple(values)
        alternatives = [f"value.{_mapped(claim)} == {json.dumps(v)}" for v in values]
        terms.append(alternatives[0] if len(alternatives) == 1 else "(" + " or ".join(alternatives) + ")")
    return " and ".join(terms)


@dataclass(frozen=True)
class NomadCiBinding:
    """One CI login method as Nomad objects: the API bodies phase ``cluster`` writes."""

    method: dict
    rules: tuple[dict, ...]

    @property
    def name(self) -> str:
        return self.method["Name"]


def ci_role() -> dict:
    return {"Name": CI_ROLE, "Description": "CI: submit and read jobs (tokens from the CI login only)",
            "Policies": [{"Name": CI_ROLE}]}


def ci_bindings(env: Environment) -> list[NomadCiBinding]:
    """The Nomad side of each of the environment's CI login methods that grants ``ci-deployer``."""
    bindings = []
    for method in env.vault.login_methods:
        roles = [r for r in method.roles if CI_ROLE in r.policies] if method.kind == "jwt" else []
        if not roles:
            continue
        claims = sorted({claim for role in roles for claim in role.bound_claims})
        body = {
            "Name": method.path, "Type": "JWT", "TokenLocality": "local", "Default": False,
            "MaxTokenTTL": _duration(max(role.token_ttl_s for role in roles)),
            "Config": {"OIDCDiscoveryURL": method.discovery_url, "BoundAudiences": [env.nomad.address],
                       "ClaimMappings": {claim: _mapped(claim) for claim in claims}},
        }
        rules = tuple({"AuthMethod": method.path, "Description": f"CI role {role.name}",
                       "Selector": selector(dict(role.bound_claims)), "BindType": "role", "BindName": CI_ROLE}
                      for role in roles)
        bindings.append(NomadCiBinding(method=body, rules=rules))
    return bindings
