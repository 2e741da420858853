"""Who may change Vault access, and how people and CI log in: each service's access is applied
with ``<env>-vault`` (never by the identity that deploys jobs), login methods are bound to
claims, and bring-up needs no root token after the first apply."""

from __future__ import annotations

import dataclasses
import json
import types

import cdktf
import pytest

from hashistack import HashistackError, Tier
from hashistack.errors import Checker
from hashistack.service import ServiceSpec
from hashistack.service.go_service import GoService
from hashistack.stack import EnvironmentStack
from hashistack.vault import LoginMethod, LoginRole
from stacks import apps
from stacks.apps import my_go_app
from stacks.environments import DEV, ENVIRONMENTS, PROD, UAT


def vault_with(env, **changes):
    return dataclasses.replace(env, vault=dataclasses.replace(env.vault, **changes))


OPERATOR = LoginRole(name="operator", policies=("platform-operator",), bound_claims={"groups": ("ops",)})


def oidc(**changes):
    base = dict(discovery_url="https://login.example.com", client_id="vault", roles=(OPERATOR,),
                redirect_uris=("http://localhost:8250/oidc/callback",))
    base.update(changes)
    return LoginMethod.oidc(**base)


# --- the environment's settings ----------------------------------------------------------------------

def test_rejects_a_shared_environment_without_nomads_ca():
    with pytest.raises(HashistackError, match=r'^environment "prod": vault\.nomad_ca_pem_path = None: give the PEM file '
                                              r"of the CA behind Nomad's HTTPS certificate: Vault fetches Nomad's JWKS "
                                              r"from https://nomad\.prod\.example\.internal:4646 when <env>-vault is "
                                              r"applied and must trust it$"):
        vault_with(PROD, nomad_ca_pem_path=None)


def test_development_may_use_the_system_trust_store():
    assert vault_with(DEV, nomad_ca_pem_path=None).vault.nomad_ca_pem_path is None


def test_rejects_userpass_outside_development():
    with pytest.raises(HashistackError, match=r'^environment "uat": vault\.login_methods\[userpass\]\.kind = '
                                              r"'userpass': userpass is for development environments only; log "
                                              r"operators in with LoginMethod\.oidc and CI with LoginMethod\.ci_jwt$"):
        vault_with(UAT, login_methods=(LoginMethod.userpass(), *UAT.vault.login_methods))


def test_rejects_a_shared_environment_without_an_operator_login():
    ci_only = tuple(m for m in PROD.vault.login_methods if m.kind == "jwt")
    with pytest.raises(HashistackError, match=r"vault\.login_methods = \('jwt-ci',\): a production environment needs "
                                              r"an operator login \(LoginMethod\.oidc\(\.\.\.\) with a role granting "
                                              r"platform-operator\), so that the initial root token can be revoked"):
        vault_with(PROD, login_methods=ci_only)


def test_rejects_a_login_role_without_bound_claims():
    method = oidc(roles=(LoginRole(name="operator", policies=("platform-operator",)),))
    with pytest.raises(HashistackError, match=r"login_methods\[oidc\]\.roles\[operator\]\.bound_claims = \{\}: bind the "
                                              r"group, project or branch allowed to log in; without claims every "
                                              r"identity of the provider gets these policies"):
        vault_with(PROD, login_methods=(method,))


def test_rejects_a_login_role_granting_a_service_policy_or_root():
    for policies in (("svc-ledger",), ("root",), ("platform-operator", "default")):
        method = oidc(roles=(dataclasses.replace(OPERATOR, policies=policies),))
        with pytest.raises(HashistackError, match=r"roles\[operator\]\.policies = .*: grant platform policies only "
                                                  r"\(platform-operator, ci-deployer, auditor\); a service's access "
                                                  r"belongs to its workload identity"):
            method.validate(Checker("t"), development=False)


def test_rejects_a_ci_role_without_audience_and_plain_http_issuers():
    ci = LoginMethod.ci_jwt(discovery_url="https://ci.example.com", roles=(
        LoginRole(name="ci", policies=("ci-deployer",), bound_claims={"ref": "main"}),))
    with pytest.raises(HashistackError, match=r"roles\[ci\]\.bound_audiences = \(\): bind the audience the CI system "
                                              r"puts in its tokens for Vault"):
        ci.validate(Checker("t"), development=False)
    with pytest.raises(HashistackError, match=r"discovery_url = 'http://login': use the identity provider's https "
                                              r"issuer URL"):
        oidc(discovery_url="http://login").validate(Checker("t"), development=False)


def test_rejects_login_paths_that_collide():
    with pytest.raises(HashistackError, match=r"vault\.login_methods = \['oidc', 'oidc', 'jwt-nomad'\]: give each login "
                                              r"method its own path, distinct from jwt_auth_path"):
        vault_with(PROD, login_methods=(oidc(), oidc()))


# --- the synthesized layers --------------------------------------------------------------------------

@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_every_service_access_lives_in_the_vault_layer(synth, env):
    vault = synth.stack(f"{env.name}-vault")["resource"]
    names = [spec.name for spec in apps.services(env).deployed]  # the services and the proxy
    assert sorted(p["name"] for p in vault["vault_policy"].values() if p["name"].startswith("svc-")) == sorted(
        f"svc-{n}" for n in names)
    service_roles = {k: v for k, v in vault["vault_jwt_auth_backend_role"].items() if k.startswith("service-")}
    assert sorted(r["role_name"] for r in service_roles.values()) == sorted(names)
    assert all(r["token_policies"] == [f"svc-{r['role_name']}"] for r in service_roles.values())
    assert "vault" not in synth.stack(env.name).get("provider", {})


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_login_methods_are_synthesized_with_their_roles(synth, env):
    """An OIDC login is its mount and roles only: the configuration holds the client secret, so
    the bootstrap writes it (LoginMethod.oidc_config) and nothing of it is in the stack, its plan or
    its state; the CI login's configuration (no secret) is Terraform's."""
    r = synth.stack(f"{env.name}-vault")
    resources = r["resource"]
    jwt_backends = {b["path"]: (k, b) for k, b in resources.get("vault_jwt_auth_backend", {}).items()}
    mounts = {b["path"]: (k, b) for k, b in resources.get("vault_auth_backend", {}).items()}
    for method in env.vault.login_methods:
        if method.kind in ("userpass", "oidc"):
            key, backend = mounts[method.path]
            assert backend["type"] == method.kind and method.path not in jwt_backends
            ref = f"${{vault_auth_backend.{key}.path}}"
        else:
            key, backend = jwt_backends[method.path]
            assert backend["type"] == method.kind and backend["oidc_discovery_url"] == method.discovery_url
            ref = f"${{vault_jwt_auth_backend.{key}.path}}"
        roles = {x["role_name"]: x for x in resources.get("vault_jwt_auth_backend_role", {}).values()
                 if x["backend"] == ref}
        assert sorted(roles) == sorted(role.name for role in method.roles)
        for role in method.roles:
            assert roles[role.name]["bound_claims"] and roles[role.name]["token_policies"] == list(role.policies)
    text = json.dumps(r)
    assert "client_secret" not in text and not [v for v in (r.get("variable") or {}) if "secret" in v]


def test_an_oidc_logins_configuration_is_written_whole_from_its_variable():
    (method,) = [m for m in PROD.vault.login_methods if m.kind == "oidc"]
    assert method.secret_variable == "HASHISTACK_OIDC_CLIENT_SECRET"
    assert method.oidc_config("s3cret") == {"oidc_discovery_url": method.discovery_url,
                                            "oidc_client_id": method.client_id, "oidc_client_secret": "s3cret",
                                            "default_role": method.roles[0].name}


def test_ci_logs_in_as_the_deployer_and_operators_through_oidc():
    methods = {m.kind: m for m in PROD.vault.login_methods}
    assert [r.policies for r in methods["jwt"].roles] == [("ci-deployer",)]
    assert ("platform-operator",) in [r.policies for r in methods["oidc"].roles]
    assert all(m.kind != "userpass" for m in PROD.vault.login_methods + UAT.vault.login_methods)


# --- GoService and the service modules ---------------------------------------------------------------

def test_go_service_can_leave_vault_access_to_another_stack():
    app = cdktf.App()
    stack = EnvironmentStack(app, "dev", environment=DEV)
    spec = ServiceSpec(name="web", image="registry.example.com/web:1.0.0",
                       secrets=(my_go_app.service(DEV).secrets[0],))
    service = GoService(stack, spec, vault_access=False)
    assert service.vault_access is None and service.plan.policy is not None
    together = GoService(EnvironmentStack(app, "dev2", environment=DEV), spec)
    assert together.vault_access is not None and together.vault_access.policy is not None


def module(name, build):
    return types.SimpleNamespace(__name__=f"stacks.apps.{name}", service=build)


def test_rejects_two_modules_naming_the_same_service(monkeypatch):
    spec = ServiceSpec(name="web", image="registry.example.com/web:1.0.0")
    monkeypatch.setattr(apps, "service_modules", lambda: [module("a", lambda env: spec), module("b", lambda env: spec)])
    with pytest.raises(HashistackError, match=r"^stacks/apps/b\.py: name = 'web': already the name of the service in "
                                              r"stacks/apps/a\.py; give each service its own name$"):
        apps.services(DEV)


def test_rejects_a_spec_named_other_than_its_module(monkeypatch):
    spec = ServiceSpec(name="web", image="registry.example.com/web:1.0.0")
    named = types.SimpleNamespace(__name__="stacks.apps.shop", service=lambda env: spec, NAME="shop")
    monkeypatch.setattr(apps, "service_modules", lambda: [named])
    with pytest.raises(HashistackError, match=r"^stacks/apps/shop\.py: name = 'web': the module's NAME is 'shop'; build "
                                              r"the spec with ServiceSpec\(name=NAME, \.\.\.\)"):
        apps.services(DEV)


def test_rejects_a_module_that_is_not_a_service(monkeypatch):
    monkeypatch.setattr(apps, "service_modules", lambda: [module("helpers", None)])
    with pytest.raises(HashistackError, match=r"^stacks/apps/helpers\.py: service = None: define service\(env\) -> "
                                              r"ServiceSpec \(or rename the module to start with '_'"):
        apps.services(DEV)
    monkeypatch.setattr(apps, "service_modules", lambda: [module("odd", lambda env: {"name": "web"})])
    with pytest.raises(HashistackError, match=r"^stacks/apps/odd\.py: service\('dev'\) = dict: return a "
                                              r"hashistack\.service\.ServiceSpec$"):
        apps.services(DEV)


def test_every_environment_tier_is_covered_by_the_app():
    assert {e.tier for e in ENVIRONMENTS} == set(Tier)


# --- per-tier service settings ---------------------------------------------------------------------

def test_a_new_environment_inherits_its_tiers_service_settings():
    qa = dataclasses.replace(UAT, name="qa")
    specs = {s.name: s for s in apps.service_specs(qa)}
    uat = {s.name: s for s in apps.service_specs(UAT)}
    assert sorted(specs) == sorted(uat)
    assert specs["my-go-app"].count == uat["my-go-app"].count and specs["ledger"].cpu_mhz == uat["ledger"].cpu_mhz


def test_an_environment_name_overrides_its_tier(monkeypatch):
    from stacks.apps._settings import settings_for

    table = {Tier.STAGING: "staging default", "uat": "uat only"}
    assert settings_for("stacks.apps.web", table, UAT) == "uat only"
    assert settings_for("stacks.apps.web", table, dataclasses.replace(UAT, name="qa")) == "staging default"


def test_every_missing_setting_is_reported_at_once(monkeypatch):
    from stacks.apps._settings import settings_for

    def service_module(name):
        return module(name, lambda env: settings_for(f"stacks.apps.{name}", {Tier.DEVELOPMENT: 1}, env))

    monkeypatch.setattr(apps, "service_modules", lambda: [service_module("a"), service_module("b")])
    with pytest.raises(HashistackError) as error:
        apps.services(PROD)
    message = str(error.value)
    assert message.count("no settings for environment 'uat' (tier STAGING), environment 'prod' (tier PRODUCTION)") == 2
    assert message.startswith("stacks/apps/a.py: SETTINGS = {Tier.DEVELOPMENT}: no settings for")
    assert "| stacks/apps/b.py: SETTINGS = {Tier.DEVELOPMENT}" in message
    assert message.endswith("add SETTINGS[Tier.PRODUCTION] (the default for every production environment) or "
                            "SETTINGS['prod']")
