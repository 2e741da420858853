"""The harness sends what terraform-provider-vault sends, proved against OpenBao (tests/support/vault_engine.py).

``vault_jwt_auth_backend_role.bound_claims`` is a map of strings in Terraform, but the provider
(v5.6.0, ``vault/resource_jwt_auth_backend_role.go``, ``jwtAuthBackendRoleDataToWrite``) splits each
value on commas and trims the parts before writing the role: a role bound to ``"ops,sec"`` takes a
token whose claim is ``ops`` or ``sec``. With ``disable_bound_claims_parsing = true`` it sends the
whole (trimmed) value as one item, and only the literal ``"ops,sec"`` matches. A harness that sent
the string as it is would refuse ``ops`` here and so disagree with a real deployment.

The roles are applied through :class:`~tests.support.vault_engine.StackApplier` from a stack shaped like
cdktf's ``cdk.tf.json``; the tokens are Nomad-like workload identities
(:func:`~tests.support.vault_engine.workload_claims`) signed by the JWKS stand-in.
"""

from __future__ import annotations

import hvac.exceptions
import pytest

from tests.support import vault_engine as engine

pytestmark = pytest.mark.integration

MOUNT = "jwt-nomad"
AUDIENCE = "vault.io"


def _role(name: str, bound: str, **extra) -> dict:
    return {"backend": "${vault_jwt_auth_backend.nomad.path}", "role_name": name, "role_type": "jwt",
            "bound_audiences": [AUDIENCE], "bound_claims": {"nomad_namespace": bound}, "user_claim": "sub",
            "token_type": "service", "token_policies": ["default"], "token_ttl": 600, **extra}


ROLES = {
    "parsed": _role("parsed", "ops,sec"),
    "spaced": _role("spaced", " ops , sec "),
    "literal": _role("literal", "ops,sec", disable_bound_claims_parsing=True),
}


def _stack(jwks: engine.JwksStandIn) -> dict:
    return {"resource": {
        "vault_jwt_auth_backend": {"nomad": {"path": MOUNT, "type": "jwt", "jwks_url": jwks.url,
                                             "jwks_ca_pem": jwks.ca_pem, "jwt_supported_algs": ["RS256", "EdDSA"]}},
        "vault_jwt_auth_backend_role": {f"role_{n}": dict(r) for n, r in ROLES.items()},
    }}


@pytest.fixture(scope="module")
def jwks(tmp_path_factory):
    stand_in = engine.JwksStandIn(tmp_path_factory.mktemp("jwks")).start()
    yield stand_in
    stand_in.stop()


@pytest.fixture(scope="module")
def server(tmp_path_factory, jwks):
    bao = engine.BaoDevServer(tmp_path_factory.mktemp("bao-semantics")).start()
    try:
        applier = engine.StackApplier(bao.client())
        applier.apply_stack(_stack(jwks))
        assert sorted(applier.applied) == ["vault_jwt_auth_backend.nomad",
                                           *sorted(f"vault_jwt_auth_backend_role.role_{n}" for n in ROLES)]
        yield bao
    finally:
        bao.stop()


def _identity(namespace: str, role: str) -> dict:
    """The claims Nomad signs for a task of a job in ``namespace`` whose vault block names ``role``."""
    job = {"ID": "web", "Namespace": namespace, "TaskGroups": [{"Name": "web", "Tasks": [{
        "Name": "web", "Vault": {"Role": role},
        "Identities": [{"Name": "vault_default", "Audience": [AUDIENCE], "TTL": 600 * 10**9}]}]}]}
    return engine.workload_claims(job, "web", "web")


def _logs_in(server: engine.BaoDevServer, jwks: engine.JwksStandIn, role: str, namespace: str) -> bool:
    """True if the role takes the identity; False if OpenBao refuses it for its bound claims."""
    try:
        auth = engine.login(server.url, MOUNT, role, jwks.sign(_identity(namespace, role)))
    except hvac.exceptions.InvalidRequest as e:
        assert "bound claim" in str(e), f"{role} refused {namespace!r} for another reason: {e}"
        return False
    assert auth["metadata"]["role"] == role and auth["policies"] == ["default"]
    return True


def test_bound_claims_body_is_the_providers():
    """The body pinned to jwtAuthBackendRoleDataToWrite (create) + updateTokenFields (create)."""
    assert engine.jwt_role_body({**ROLES["parsed"], "backend": MOUNT}) == {
        "token_policies": ["default"], "token_ttl": 600, "token_type": "service",
        "bound_audiences": [AUDIENCE], "user_claim": "sub", "user_claim_json_pointer": False, "role_type": "jwt",
        "bound_claims": {"nomad_namespace": ["ops", "sec"]},
        "clock_skew_leeway": 0, "expiration_leeway": 0, "not_before_leeway": 0, "verbose_oidc_logging": False,
    }
    assert engine.jwt_bound_claims({"g": " ops , sec "}) == {"g": ["ops", "sec"]}
    assert engine.jwt_bound_claims({"g": " ops , sec "}, disable_parsing=True) == {"g": ["ops , sec"]}
    assert engine.jwt_bound_claims({"g": "a,,b"}) == {"g": ["a", "", "b"]}  # strings.Split keeps empty parts
    assert engine.jwt_role_body({"role_name": "r", "user_claim": "sub"})["bound_claims"] == {}
    with pytest.raises(AssertionError, match="no attribute"):
        engine.jwt_role_body({"role_name": "r", "user_claim": "sub", "bound_claim": {"a": "b"}})


def test_roles_read_back_as_sent(server):
    read = {n: engine.api(server.client(), "GET", f"auth/{MOUNT}/role/{n}")["data"]["bound_claims"] for n in ROLES}
    assert read == {"parsed": {"nomad_namespace": ["ops", "sec"]}, "spaced": {"nomad_namespace": ["ops", "sec"]},
                    "literal": {"nomad_namespace": ["ops,sec"]}}


@pytest.mark.parametrize("role", ["parsed", "spaced"])
def test_a_comma_joined_bound_claim_takes_any_of_its_values(server, jwks, role):
    assert _logs_in(server, jwks, role, "ops")
    assert _logs_in(server, jwks, role, "sec")
    assert not _logs_in(server, jwks, role, "dev")
    assert not _logs_in(server, jwks, role, "ops,sec")


def test_disable_bound_claims_parsing_takes_only_the_literal_value(server, jwks):
    assert _logs_in(server, jwks, "literal", "ops,sec")
    for namespace in ("ops", "sec", "dev"):
        assert not _logs_in(server, jwks, "literal", namespace)
