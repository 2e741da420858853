"""Phase ``cluster`` of the day-0 bootstrap, Consul and Nomad parts, against the loopback
stand-ins of tests/support/bootstrap_standins.py (a test double implementing only the ACL endpoints the
bootstrap calls, with request and response bodies from Consul's and Nomad's HTTP API
documentation, including the already-bootstrapped answers), and moto for SSM.

The node-read catalogue is taken as the cluster's boot work names it (Consul agent, DNS and Nomad
tokens), so every kind of token is exercised.
"""

from __future__ import annotations


import boto3
import pytest

from hashistack.bootstrap.phase_cluster import CONSUL_POLICIES, CONSUL_TOKEN_POLICY, NOMAD_POLICIES
from stacks.environments import DEV, UAT
from tests.support.bootstrap_helpers import aws, run_bootstrap  # noqa: F401 (aws: the fixture)
from tests.support.bootstrap_standins import ConsulStandIn, NomadStandIn

pytestmark = pytest.mark.integration

@pytest.fixture
def consul():
    s = ConsulStandIn()
    yield s
    s.stop()


@pytest.fixture
def nomad():
    s = NomadStandIn()
    yield s
    s.stop()


def param(name: str) -> str:
    return boto3.client("ssm", region_name=DEV.region).get_parameter(
        Name=f"/hashistack/dev/{name.replace('_', '-')}", WithDecryption=True)["Parameter"]["Value"]


def cluster(aws, monkeypatch, consul, nomad, *extra):
    return run_bootstrap("--env", "dev", "--phase", "cluster", "--only", "consul", "--only", "nomad",
                         "--consul-addr", consul.url, "--nomad-addr", nomad.url, *extra, env=aws,
                         monkeypatch=monkeypatch)


def secrets(aws, monkeypatch):
    run = run_bootstrap("--env", "dev", "--phase", "secrets", env=aws, monkeypatch=monkeypatch)
    assert run.code == 0, run.output
    return run


def test_consul_and_nomad_acls_are_bootstrapped_with_the_tokens_the_nodes_read(aws, monkeypatch, consul, nomad):
    secrets(aws, monkeypatch)
    run = cluster(aws, monkeypatch, consul, nomad)
    assert run.code == 0, run.output
    # Consul: bootstrapped with the management token from SSM; every token under the secret id the nodes read
    management = param("consul_management_token")
    assert consul.bootstrapped and consul.management(management)
    assert set(consul.policies) == set(CONSUL_POLICIES)
    for name, policy in CONSUL_TOKEN_POLICY.items():
        token = consul.tokens[param(name)]
        assert [p["Name"] for p in token["Policies"]] == [policy], name
        assert consul.policies[policy]["Rules"] == CONSUL_POLICIES[policy]
    assert 'acl = "write"' in consul.policies["nomad-server"]["Rules"]
    # Nomad: the management token was stored in SSM, then used; the policies; no token for any node
    assert nomad.management(param("nomad_management_token"))
    assert set(nomad.policies) == set(NOMAD_POLICIES) == {"operator", "read-only", "ci-deployer"}
    assert [t for t in nomad.tokens.values() if t.get("Type") != "management"] == []
    assert "created   consul: ACL bootstrap" in run.stdout and "created   nomad: ACL bootstrap" in run.stdout
    for line in ("created   consul: policy dns", "created   consul: token consul_dns_token: policy dns",
                 "created   nomad: policy operator", "created   nomad: policy ci-deployer"):
        assert line in run.stdout, line
    for secret in [management, param("nomad_management_token"),
                   *(param(n) for n in CONSUL_TOKEN_POLICY)]:
        assert secret not in run.output


def test_a_second_run_finds_everything_done_and_writes_nothing(aws, monkeypatch, consul, nomad):
    secrets(aws, monkeypatch)
    assert cluster(aws, monkeypatch, consul, nomad).code == 0
    consul.log.clear()
    nomad.log.clear()
    run = cluster(aws, monkeypatch, consul, nomad)
    assert run.code == 0, run.output
    assert "no changes" in run.stdout
    assert "unchanged" in run.stderr and "already bootstrapped with the token from SSM" in run.stderr
    # the only writes are the bootstrap attempts, answered "already done"
    assert consul.writes() == [("PUT", "/v1/acl/bootstrap")]
    assert nomad.writes() == [("POST", "/v1/acl/bootstrap")]


def test_a_changed_policy_is_put_back(aws, monkeypatch, consul, nomad):
    secrets(aws, monkeypatch)
    assert cluster(aws, monkeypatch, consul, nomad).code == 0
    consul.policies["dns"]["Rules"] = 'node_prefix "" {\n  policy = "write"\n}\n'
    run = cluster(aws, monkeypatch, consul, nomad)
    assert run.code == 0, run.output
    assert "changed   consul: policy dns: rules updated" in run.stdout
    assert consul.policies["dns"]["Rules"] == CONSUL_POLICIES["dns"]


def test_acls_bootstrapped_by_someone_else_are_reported_not_touched(aws, monkeypatch, consul, nomad):
    secrets(aws, monkeypatch)
    consul.bootstrap_with("5e0a1a35-9b7f-4d0c-9c9c-0d6d9b5a1c11")
    nomad.bootstrap_with("6e0a1a35-9b7f-4d0c-9c9c-0d6d9b5a1c12")
    run = cluster(aws, monkeypatch, consul, nomad)
    assert run.code == 1
    assert ("refused   consul: ACL bootstrap: already bootstrapped with another token; put that management token "
            "in /hashistack/dev/consul-management-token and run again") in run.stdout
    assert "refused   nomad: ACL bootstrap: already bootstrapped with another token" in run.stdout
    assert consul.writes() == [("PUT", "/v1/acl/bootstrap")] and not consul.policies
    assert nomad.writes() == [("POST", "/v1/acl/bootstrap")] and not nomad.policies


def test_phase_cluster_needs_phase_secrets_first(aws, monkeypatch, consul, nomad):
    run = cluster(aws, monkeypatch, consul, nomad)
    assert run.code == 2
    assert "/hashistack/dev/consul-management-token: missing; run phase secrets first " \
           "(make bootstrap ENV=dev PHASE=secrets)" in run.stderr


def test_an_unreachable_api_is_skipped_with_the_reason(aws, monkeypatch, consul, nomad):
    secrets(aws, monkeypatch)
    nomad.stop()
    run = cluster(aws, monkeypatch, consul, nomad)
    assert run.code == 1
    assert f"skipped   nomad: {nomad.url} is not reachable" in run.stdout
    assert consul.bootstrapped


def _pipeline_token(**changes) -> str:
    """A CI pipeline's identity token for Nomad, with the claims dev's CI login binds."""
    import time

    from tests.support.nomad_binder import unsigned_jwt

    (ci,) = [m for m in UAT.vault.login_methods if m.kind == "jwt"]
    claims = {"iss": ci.discovery_url, "aud": UAT.nomad.address, "exp": time.time() + 600,
              "sub": "project_path:platform/hashistack:ref_type:branch:ref:main",
              **{k: v for k, v in ci.roles[0].bound_claims.items()}, **changes}
    return unsigned_jwt(claims)


def test_ci_logs_in_to_nomad_with_its_pipeline_token_and_gets_the_deployer_only(moto_servers, monkeypatch, nomad):
    """No long-lived Nomad token for CI: phase cluster binds CI's pipeline token (the claims Vault's
    CI login binds, the audience Nomad's address) to the ci-deployer role; a token of another
    branch, repository or audience binds nothing."""
    from tests.support.bootstrap_helpers import aws_env, fresh_account
    from tests.support.nomad_acl import level, namespace_capabilities

    aws = aws_env(fresh_account(moto_servers, UAT.account_id))
    run = run_bootstrap("--env", "uat", "--phase", "cluster", "--only", "nomad", "--nomad-addr", nomad.url, env=aws,
                        monkeypatch=monkeypatch)
    assert run.code == 0, run.output
    for line in ("created   nomad: role ci-deployer", "created   nomad: auth method jwt-ci",
                 "changed   nomad: binding rules of jwt-ci"):
        assert line in run.stdout, line
    status, token = nomad.login("jwt-ci", _pipeline_token())
    assert status == 200, token
    (policy,) = nomad.policies_of(token["SecretID"])
    assert policy == "ci-deployer"
    rules = nomad.policies[policy]["Rules"]
    assert namespace_capabilities(rules, "default") == {"list-jobs", "read-job", "submit-job"}
    assert all(level(rules, r) == -1 for r in ("node", "agent", "operator", "plugin"))
    assert nomad.auth_methods["jwt-ci"]["MaxTokenTTL"] == "15m0s"  # the CI role's Vault token_ttl_s
    for wrong in ({"ref": "feature/x"}, {"project_path": "someone/else"}, {"ref_protected": "false"}):
        assert nomad.login("jwt-ci", _pipeline_token(**wrong)) == (400, "no role or policy bindings matched"), wrong
    assert nomad.login("jwt-ci", _pipeline_token(aud=UAT.vault.address))[0] == 400  # Vault's token is not Nomad's
    assert nomad.login("jwt-ci", _pipeline_token(iss="https://evil.example.com"))[0] == 400


def test_phase_cluster_sets_memory_oversubscription_and_nothing_else_of_the_scheduler(aws, monkeypatch, consul,
                                                                                      nomad):
    """Dev declares memory oversubscription: the operators' phase sets it (so the deployer needs
    no operator:write), keeping every other scheduler setting; a second run changes nothing."""
    assert DEV.nomad.memory_oversubscription
    before = dict(nomad.scheduler)
    secrets(aws, monkeypatch)
    run = cluster(aws, monkeypatch, consul, nomad)
    assert run.code == 0, run.output
    assert "changed   nomad: scheduler configuration" in run.stdout
    assert nomad.scheduler["MemoryOversubscriptionEnabled"] is True
    assert {k: v for k, v in nomad.scheduler.items() if k not in ("MemoryOversubscriptionEnabled", "ModifyIndex")} == {
        k: v for k, v in before.items() if k not in ("MemoryOversubscriptionEnabled", "ModifyIndex")}
    again = cluster(aws, monkeypatch, consul, nomad)
    assert "nomad: scheduler configuration: unchanged" in again.stderr
    assert "jwt-ci" not in run.output  # dev has no CI login (userpass only): no CI binding in Nomad


def test_the_nomad_stand_in_refuses_the_auth_methods_nomad_refuses():
    """The stand-in is no kinder than Nomad's ACLAuthMethod.Validate (nomad/structs/acl.go, v1.10.2),
    and the platform's own method passes it."""
    from hashistack.bootstrap.nomad_ci import ci_bindings
    from tests.support.bootstrap_standins import _auth_method_problem

    (binding,) = ci_bindings(UAT)
    assert _auth_method_problem(binding.method) is None
    for change, problem in ({"MaxTokenTTL": "30s"}, "invalid MaxTokenTTL value '30s'"), (
            {"MaxTokenTTL": "25h0m0s"}, "invalid MaxTokenTTL"), ({"TokenLocality": "any"}, "invalid token locality"), (
            {"Name": "jwt ci"}, "invalid name"), ({"Config": {"BoundAudiences": ["x"]}}, "JWT auth method requires"):
        assert (_auth_method_problem({**binding.method, **change}) or "").startswith(problem), change
