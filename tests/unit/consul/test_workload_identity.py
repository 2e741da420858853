"""Consul's half of the access layer (`<env>-vault`): the `nomad-workloads` auth method as Nomad's
`nomad setup consul` makes it, its binding rules, the tasks' role, and the intentions, which in
every environment are exactly the edges its services declare (read here from the specs)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import cdktf
import pytest

from hashistack import HashistackError
from hashistack.consul import (
    CLAIM_MAPPINGS,
    INGRESS_PROXY,
    MeshIdentity,
    NomadWorkloadsAuth,
    Upstream,
    intentions_for,
    mesh_intentions,
)
from hashistack.terraform_escape import unescape
from stacks.apps import service_modules, service_specs, services
from stacks.environments import ENVIRONMENTS

ROOT = Path(__file__).resolve().parents[3]
PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"


# -- the auth method, as a model ----------------------------------------------------------------

def test_the_auth_method_config_is_nomads():
    # Given Nomad's address and its CA, when the config is rendered, then it is what `nomad setup
    # consul` writes (hashicorp/nomad v1.10.5 command/setup_consul.go renderAuthMethod and
    # command/asset/consul-wi-default-auth-method-config.json): RS256, audience consul.io, the five
    # claim mappings, the JWKS under /.well-known.
    auth = NomadWorkloadsAuth(nomad_address="https://nomad.example.internal:4646/", jwks_ca_pem=PEM).validate()
    assert auth.config() == {
        "BoundAudiences": ["consul.io"],
        "ClaimMappings": {"consul_namespace": "consul_namespace", "nomad_job_id": "nomad_job_id",
                          "nomad_namespace": "nomad_namespace", "nomad_service": "nomad_service",
                          "nomad_task": "nomad_task"},
        "JWKSCACert": PEM,
        "JWKSURL": "https://nomad.example.internal:4646/.well-known/jwks.json",
        "JWTSupportedAlgs": ["RS256"],
    }
    assert json.loads(auth.config_json()) == auth.config()
    # written as the provider writes it back to the state (Go's json.Marshal), so no perpetual diff
    assert auth.config_json().startswith('{"BoundAudiences":["consul.io"],"ClaimMappings":{"consul_namespace":')
    assert ", " not in auth.config_json() and '": ' not in auth.config_json()


def test_go_json_escapes_as_go_marshal_does():
    from hashistack.consul.workload_identity import go_json

    assert go_json({"b": "<a&b>\u2028é\n", "a": [1, "x"]}) == '{"a":[1,"x"],"b":"\\u003ca\\u0026b\\u003e\\u2028é\\n"}'
    assert "JWKSCACert" not in NomadWorkloadsAuth(nomad_address="http://127.0.0.1:4646").config()


def test_binding_rules_bind_each_service_to_its_own_job_and_tasks_to_their_namespace_role():
    auth = NomadWorkloadsAuth(nomad_address="https://nomad:4646", services=(
        MeshIdentity(service="ledger", job_id="ledger"), MeshIdentity(service="api", job_id="web", namespace="shop")))
    api, ledger, tasks = auth.validate().binding_rules
    assert (ledger.selector, ledger.bind_type, ledger.bind_name) == (
        'value.nomad_service == "ledger" and value.nomad_job_id == "ledger" and value.nomad_namespace == "default"',
        "service", "ledger")
    assert (api.bind_name, api.selector.split(" and ")[1:]) == ("api", ['value.nomad_job_id == "web"',
                                                                        'value.nomad_namespace == "shop"'])
    assert (tasks.selector, tasks.bind_type, tasks.bind_name) == (
        '"nomad_service" not in value', "role", "nomad-${value.nomad_namespace}-tasks")
    # without services, no job gets a service identity at all
    assert [r.bind_type for r in NomadWorkloadsAuth(nomad_address="https://nomad:4646").binding_rules] == ["role"]


def _selected(rule, claims: dict) -> bool:
    """Consul's selection of a binding rule by its selector over the identity's mapped claims
    (agent/consul/authmethod, go-bexpr): the two forms the platform writes, ``a == "b" and ...``
    and ``"x" not in value``; any other form is an error, never a match."""
    if rule.selector == '"nomad_service" not in value':
        return "nomad_service" not in claims
    terms = rule.selector.split(" and ")
    pairs = [re.fullmatch(r'value\.(\w+) == "([^"]*)"', term) for term in terms]
    assert all(pairs), rule.selector
    return all(claims.get(m.group(1)) == m.group(2) for m in pairs)


def test_a_job_cannot_take_another_services_mesh_identity():
    """A job that names its service ``ledger`` (its author chooses the name) gets no ledger
    identity: the rule for ledger selects ledger's job only."""
    auth = NomadWorkloadsAuth(nomad_address="https://nomad:4646", services=(
        MeshIdentity(service="ledger", job_id="ledger"), MeshIdentity(service="my-go-app", job_id="my-go-app")))

    def bound(claims):
        return sorted((r.bind_type, r.bind_name) for r in auth.binding_rules if _selected(r, claims))

    own = {"nomad_namespace": "default", "nomad_job_id": "ledger", "nomad_service": "ledger", "nomad_task": "app"}
    assert bound(own) == [("service", "ledger")]
    assert bound({**own, "nomad_job_id": "rogue"}) == []
    assert bound({**own, "nomad_namespace": "other"}) == []
    assert bound({"nomad_namespace": "default", "nomad_job_id": "rogue", "nomad_task": "app"}) == [
        ("role", "nomad-${value.nomad_namespace}-tasks")]


def test_one_consul_service_bound_to_two_jobs_is_refused():
    with pytest.raises(HashistackError, match=r"services = \['ledger', 'ledger'\]: give each Consul service one job"):
        NomadWorkloadsAuth(nomad_address="https://nomad:4646", services=(
            MeshIdentity(service="ledger", job_id="ledger"), MeshIdentity(service="ledger", job_id="other"))).validate()


def test_one_task_role_per_namespace_reading_the_catalogue_only():
    auth = NomadWorkloadsAuth(nomad_address="https://nomad:4646", namespaces=("payments", "default", "payments"))
    assert [(r.name, r.policies) for r in auth.task_roles] == [
        ("nomad-default-tasks", ("nomad-tasks",)), ("nomad-payments-tasks", ("nomad-tasks",))]
    from hashistack.consul import TASK_POLICY_RULES

    assert TASK_POLICY_RULES.count("{") == 2 and 'policy = "read"' in TASK_POLICY_RULES
    assert "key_prefix" not in TASK_POLICY_RULES and "write" not in TASK_POLICY_RULES


@pytest.mark.parametrize("props, message", [
    ({"nomad_address": "nomad:4646"},
     r'^dev-vault/consul-auth: consul auth method "nomad-workloads": nomad_address = \'nomad:4646\': use the Nomad '
     r"API address, e\.g\. https://nomad\.example\.internal:4646$"),
    ({"nomad_address": "https://nomad:4646", "jwks_ca_pem": PEM + "-----BEGIN PRIVATE KEY-----\n"},
     r"jwks_ca_pem = '<pem>': give the PEM of the CA that signed Nomad's HTTPS certificate \(a certificate, "
     r"never a key\)$"),
    ({"nomad_address": "https://nomad:4646", "namespaces": ()},
     r"namespaces = \(\): list the Nomad namespaces the jobs run in, e\.g\. \('default',\)$"),
    ({"nomad_address": "https://nomad:4646", "namespaces": ("Payments",)}, r"namespaces = 'Payments': "),
])
def test_rejects_bad_auth_settings(props, message):
    with pytest.raises(HashistackError, match=message):
        NomadWorkloadsAuth(**props).validate(where="dev-vault/consul-auth")


# -- intentions from specs, as a model ------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Svc:
    name: str
    upstreams: tuple[Upstream, ...] = ()
    ingress: object | None = None
    registration: str = "consul"
    service_name: str | None = None


def test_the_ingress_proxy_reaches_exactly_the_services_with_an_ingress():
    services = [Svc("web", upstreams=(Upstream("ledger", 9091),), ingress="web.example.com"),
                Svc("ledger"), Svc("batch", upstreams=(Upstream("ledger", 9091),)),
                Svc("metrics", registration="nomad")]
    intentions = mesh_intentions(services, ingress_enabled=True)
    assert intentions.edges() == [("batch", "ledger"), (INGRESS_PROXY, "web"), ("web", "ledger")]
    assert mesh_intentions(services, ingress_enabled=False).edges() == [("batch", "ledger"), ("web", "ledger")]


def test_a_service_is_known_by_its_consul_name():
    services = [Svc("web-app", service_name="web", upstreams=(Upstream("db", 9091),)),
                Svc("db-server", service_name="db")]
    assert mesh_intentions(services, ingress_enabled=True).edges() == [("web", "db")]


def test_rejects_an_upstream_registered_outside_the_mesh():
    services = [Svc("web", upstreams=(Upstream("metrics", 9091),)), Svc("metrics", registration="nomad")]
    with pytest.raises(HashistackError, match=r"^dev-vault: web\.upstreams\[metrics\]\.service = 'metrics': "
                                              r"'metrics' registers in Nomad's own catalogue \(registration='nomad'\), "
                                              r"outside the Connect mesh; register it in Consul"):
        mesh_intentions(services, ingress_enabled=True, where="dev-vault")


def test_rejects_upstreams_or_an_ingress_on_a_service_outside_the_mesh():
    with pytest.raises(HashistackError, match=r"^dev-vault: metrics\.upstreams = \['web'\]: a service in Nomad's own "
                                              r"catalogue \(registration='nomad'\) has no Connect sidecar"):
        mesh_intentions([Svc("web"), Svc("metrics", registration="nomad", upstreams=(Upstream("web", 9091),))],
                        ingress_enabled=True, where="dev-vault")
    with pytest.raises(HashistackError, match=r"metrics\.ingress = 'metrics': the ingress proxy reaches services "
                                              r"through its Connect sidecar: register the service in Consul"):
        mesh_intentions([Svc("web"), Svc("metrics", registration="nomad", ingress="m.example.com")],
                        ingress_enabled=True, where="dev-vault")


def test_rejects_a_service_named_like_the_ingress_proxy():
    with pytest.raises(HashistackError, match=r"service = 'ingress-proxy': 'ingress-proxy' is the ingress proxy's "
                                              r"Consul name; give the service another name"):
        intentions_for({"ingress-proxy": [], "web": []})


# -- the app --------------------------------------------------------------------------------------

def declared_edges(env) -> set[tuple[str, str]]:
    """The edges the environment's service modules declare, read from their specs."""
    specs = service_specs(env)
    edges = {(s.service_name or s.name, u.service) for s in specs for u in s.upstreams}
    if env.ingress is not None:
        edges |= {(INGRESS_PROXY, s.service_name or s.name) for s in specs if s.ingress is not None}
    return edges


def resources(stack: dict, rtype: str) -> dict[str, dict]:
    return stack.get("resource", {}).get(rtype, {})


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_the_intentions_of_each_environment_are_exactly_the_declared_edges(synth, env):
    stack = synth.stack(env.stack_names[1])
    entries = resources(stack, "consul_config_entry_service_intentions")
    allowed = {(src["name"], entry["name"]) for entry in entries.values() for src in entry["sources"]
               if src["action"] == "allow"}
    denied = [(src["name"], entry["name"]) for entry in entries.values() for src in entry["sources"]
              if src["action"] == "deny"]
    assert allowed == declared_edges(env)
    assert denied == [("*", "*")]
    # the catch-all deny is written after every allow
    (deny_id,) = [k for k, e in entries.items() if e["name"] == "*"]
    allow_refs = {f"consul_config_entry_service_intentions.{k}" for k in entries if k != deny_id}
    assert set(entries[deny_id].get("depends_on", [])) == allow_refs


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_the_auth_method_and_binding_rules_as_synthesized(synth, env):
    stack = synth.stack(env.stack_names[1])
    (method,) = resources(stack, "consul_acl_auth_method").values()
    config = json.loads(method["config_json"])
    assert (method["name"], method["type"], method["token_locality"]) == ("nomad-workloads", "jwt", "local")
    assert config["JWKSURL"] == f"{env.nomad.address}/.well-known/jwks.json"
    assert config["BoundAudiences"] == ["consul.io"] and config["JWTSupportedAlgs"] == ["RS256"]
    assert config["ClaimMappings"] == CLAIM_MAPPINGS
    assert config["JWKSCACert"] == (ROOT / env.vault.nomad_ca_pem_path).read_text()
    (method_id,) = resources(stack, "consul_acl_auth_method")
    rules = list(resources(stack, "consul_acl_binding_rule").values())
    services = {r["bind_name"]: r["selector"] for r in rules if r["bind_type"] == "service"}
    jobs = [json.loads(j["jobspec"])["Job"] for j in synth.stack(env.stack_names[2])["resource"]["nomad_job"].values()]
    # every Consul service of every job, bound to that job alone
    assert services == {s["Name"]: f'value.nomad_service == "{s["Name"]}" and value.nomad_job_id == "{job["ID"]}" and '
                                   f'value.nomad_namespace == "{job["Namespace"]}"'
                        for job in jobs for g in job["TaskGroups"] for s in g.get("Services") or []}
    # ${value.*} reaches Consul literally: escaped from Terraform in the JSON
    assert [(r["selector"], r["bind_name"]) for r in rules if r["bind_type"] == "role"] == [
        ('"nomad_service" not in value', "nomad-$${value.nomad_namespace}-tasks")]
    assert {r["auth_method"] for r in rules} == {f"${{consul_acl_auth_method.{method_id}.name}}"}
    roles = {r["name"]: r for r in resources(stack, "consul_acl_role").values()}
    assert sorted(roles) == ["nomad-default-tasks"]
    (policy_id, policy), = resources(stack, "consul_acl_policy").items()
    assert roles["nomad-default-tasks"]["policies"] == [f"${{consul_acl_policy.{policy_id}.id}}"]
    assert policy["name"] == "nomad-tasks" and "write" not in policy["rules"]


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_the_consul_provider_takes_its_token_and_ca_from_the_operators_environment(synth, env):
    (provider,) = synth.stack(env.stack_names[1])["provider"]["consul"]
    scheme, _, address = env.consul.address.partition("://")
    assert provider == {"address": "${var.consul_address}", "scheme": scheme, "datacenter": env.consul.datacenter}
    assert synth.stack(env.stack_names[1])["variable"]["consul_address"]["default"] == address


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_the_stack_ci_applies_holds_nothing_of_consul(synth, env):
    # The ci-deployer applies <env> (Nomad jobs): Consul's ACLs and intentions widen access, so
    # they are all in the operator-applied <env>-vault, and no Consul provider is configured here.
    for name in (env.stack_names[0], env.stack_names[2]):
        stack = synth.stack(name)
        assert "consul" not in stack.get("provider", {}), name
        assert not [t for t in stack.get("resource", {}) if t.startswith("consul_")], name
        assert not [t for t in stack.get("data", {}) if t.startswith("consul_")], name
    deployer = [p for p in resources(synth.stack(env.stack_names[1]), "vault_policy").values()
                if p["name"] == "ci-deployer"]
    assert len(deployer) == 1 and "consul" not in unescape(deployer[0]["policy"]).lower()


def test_an_upstream_no_service_provides_fails_synth(tmp_path, monkeypatch):
    # Given a service module of the app that declares an upstream no module provides,
    # when the access layer is built, then synth fails with the service, the field and the names to use.
    from stacks.app import build_app

    env = ENVIRONMENTS[0]
    module = next(m for m in service_modules() if m.service(env).registration == "consul")
    original = module.service
    monkeypatch.setattr(module, "service", lambda e: dataclasses.replace(
        original(e), upstreams=(*original(e).upstreams, Upstream("payments", 19091))))
    registered = sorted(m.service(env).service_name or m.service(env).name for m in service_modules())
    with pytest.raises(HashistackError) as error:
        build_app(outdir=str(tmp_path), stacks=env.stack_names[1])
    assert str(error.value) == (f"{env.name}/{module.NAME}: upstreams[payments].service = 'payments': no service "
                                f"of environment {env.name!r} is registered under this name; use one of {registered}")


def test_declared_upstreams_and_ingresses_become_exactly_their_intentions(tmp_path, monkeypatch):
    # Given two services of the app in the mesh, the first calling (only) the second and published
    # through the ingress, when the access layer is built, then its intentions are those two
    # edges and the others the app declares, on the default deny, each allow described by what
    # declared it.
    from hashistack.service import Ingress
    from stacks.app import build_app

    env = next(e for e in ENVIRONMENTS if e.ingress is not None)
    modules = [m for m in service_modules() if m.service(env).registration == "consul"]
    if len(modules) < 2:
        pytest.fail("the app needs two services registered in Consul for this test")
    first, second = modules[0], modules[1]
    source, target = (m.service(env).service_name or m.service(env).name for m in (first, second))
    original = first.service
    monkeypatch.setattr(first, "service", lambda e: dataclasses.replace(
        original(e), upstreams=(Upstream(target, 19091),),
        ingress=Ingress.https(f"{source}.{e.ingress.public_domain}")))
    build_app(outdir=str(tmp_path), stacks=env.stack_names[1]).synth()
    stack = json.loads((tmp_path / "stacks" / env.stack_names[1] / "cdk.tf.json").read_text())
    entries = {e["name"]: e["sources"] for e in resources(stack, "consul_config_entry_service_intentions").values()}
    edges = {(s["name"], dst, s["action"]) for dst, sources in entries.items() for s in sources}
    assert {(source, target, "allow"), (INGRESS_PROXY, source, "allow"), ("*", "*", "deny")} <= edges
    assert edges == {("*", "*", "deny")} | {(s, d, "allow") for s, d in declared_edges(env)}
    described = {(src["name"], dst): src["description"] for dst, sources in entries.items() for src in sources}
    assert described[(source, target)] == f"{source} declares {target} as an upstream"
    assert described[(INGRESS_PROXY, source)] == f"{source} declares an ingress: the ingress proxy routes to it"


def test_precedence_is_what_consul_computes_in_the_default_namespace():
    # agent/structs/config_entry_intentions.go, computeIntentionPrecedence: exact/exact 9,
    # */exact 8, */* 5 (an exact namespace); the allows outrank the catch-all deny.
    from hashistack.consul import precedence

    assert (precedence("web", "ledger"), precedence("*", "ledger"), precedence("*", "*")) == (9, 8, 5)


def test_the_intentions_construct_orders_the_deny_after_the_allows():
    from hashistack.consul import ServiceIntentions

    app = cdktf.App()
    stack = cdktf.TerraformStack(app, "access")
    ServiceIntentions(stack, "intentions", intentions=intentions_for({"web": [], "ledger": []}))
    (deny,) = json.loads(cdktf.Testing.synth(stack))["resource"]["consul_config_entry_service_intentions"].values()
    assert deny["name"] == "*" and "depends_on" not in deny


def test_the_readme_quotes_the_unknown_upstream_error_as_the_app_words_it(monkeypatch):
    ((quoted, env_name, service),) = re.findall(r"^  `((\w+)/([\w-]+): upstreams\[legder\][^`]*)`\.$",
                                                 (ROOT / "README.md").read_text(), flags=re.M)
    env = next(e for e in ENVIRONMENTS if e.name == env_name)
    module = next(m for m in service_modules() if m.NAME == service)
    original = module.service
    monkeypatch.setattr(module, "service", lambda e: dataclasses.replace(
        original(e), upstreams=(*original(e).upstreams, Upstream("legder", 19091))))
    with pytest.raises(HashistackError) as error:
        services(env)
    # the README quotes this app's service list; an app with more services lists them all
    message, _, listed = str(error.value).partition("; use one of ")
    assert message == quoted.partition("; use one of ")[0]
    assert listed == str(sorted(m.service(env).service_name or m.service(env).name for m in service_modules()))
