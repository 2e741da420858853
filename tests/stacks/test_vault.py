"""The Vault platform layer: models and lint (pure Python), and the synthesized E-vault stacks."""

from __future__ import annotations

import dataclasses

import pytest

from hashistack import HashistackError
from hashistack.errors import Checker
from hashistack.terraform_escape import unescape
from hashistack.vault import JwtRole, PkiHierarchy, PkiRole, Policy, Rule, WorkloadIdentityAuth
from hashistack.vault.platform_policies import auditor_policy, deployer_policy, operator_policy
from stacks.apps import services
from stacks.environments import DEV, ENVIRONMENTS, PROD

from tests.support.hcl import policy_paths

HIERARCHY = PkiHierarchy()


# --- models and lint -------------------------------------------------------------------------------

def test_pki_hierarchy_defaults_nest_their_lifetimes():
    h = HIERARCHY.validate(Checker("pki"))
    assert h.leaf_max_ttl_h < h.intermediate_ttl_h < h.root_ttl_h
    assert (h.root_ttl_h, h.intermediate_ttl_h) == (87600, 43800)


def test_rejects_intermediate_outliving_root():
    with pytest.raises(HashistackError, match=r'environment "prod": vault\.pki_intermediate_ttl_h = 90000: an '
                                              r'intermediate cannot outlive its root \(root_ttl_h = 87600\)'):
        dataclasses.replace(PROD, vault=dataclasses.replace(PROD.vault, pki_intermediate_ttl_h=90000))


def test_rejects_leaf_max_above_intermediate():
    with pytest.raises(HashistackError, match=r'vault\.pki_leaf_max_ttl_h = 50000: a leaf certificate cannot '
                                              r'outlive its issuer \(intermediate_ttl_h = 43800\)'):
        dataclasses.replace(PROD, vault=dataclasses.replace(PROD.vault, pki_leaf_max_ttl_h=50000))


def test_rejects_fewer_than_two_audit_devices_in_production():
    with pytest.raises(HashistackError, match=r'environment "prod": vault\.audit_devices = \(\'file\',\): a '
                                              r'production environment runs at least 2 audit device\(s\)'):
        dataclasses.replace(PROD, vault=dataclasses.replace(PROD.vault, audit_devices=("file",)))


def role(**changes) -> PkiRole:
    base = dict(mount="pki-int", name="web", allowed_domains=("web.service.consul",), max_ttl_h=72)
    base.update(changes)
    return PkiRole(**base)


def test_pki_role_within_the_hierarchy_passes():
    assert role().lint(HIERARCHY).name == "web"


def test_rejects_pki_role_allowing_any_name():
    with pytest.raises(HashistackError, match=r'^dev/web: pki role "web": allow_any_name = True: list the names'):
        role(allow_any_name=True).lint(HIERARCHY, where="dev/web")


def test_rejects_pki_role_allowing_wildcards():
    with pytest.raises(HashistackError, match=r'allow_wildcard_certificates = True: wildcard certificates are not '
                                              r'issued'):
        role(allow_wildcard_certificates=True).lint(HIERARCHY)
    with pytest.raises(HashistackError, match=r"allowed_domains = '\*\.service\.consul': use exact lowercase DNS"):
        role(allowed_domains=("*.service.consul",)).lint(HIERARCHY)


def test_rejects_leaf_ttl_above_the_leaf_maximum():
    with pytest.raises(HashistackError, match=r'max_ttl_h = 1000: a leaf certificate lives at most leaf_max_ttl_h '
                                              r'= 720 hours, within the intermediate\'s 43800'):
        role(max_ttl_h=1000).lint(HIERARCHY)


def test_rejects_role_on_the_root_mount():
    with pytest.raises(HashistackError, match=r"pki role \"web\": mount = 'pki-root': certificate roles live on the "
                                              r"intermediate \(pki-int\), never on the root CA's mount"):
        role(mount="pki-root").lint(HIERARCHY)


def test_rejects_jwt_role_without_bound_audience():
    with pytest.raises(HashistackError, match=r'jwt role "web": bound_audiences = \(\): bind the audience Nomad puts '
                                              r'in workload identities \(\'vault\.io\'\)'):
        JwtRole(backend="jwt-nomad", name="web", policies=("svc-web",), bound_audiences=()).lint()


def test_jwt_backend_accepts_rs256_and_eddsa_by_default():
    assert WorkloadIdentityAuth(path="jwt-nomad", nomad_address="https://n:4646").supported_algs == ("RS256", "EdDSA")
    assert PROD.vault.jwt_supported_algs == ("RS256", "EdDSA")


def test_rejects_jwt_backend_without_rs256():
    with pytest.raises(HashistackError, match=r"supported_algs = \('EdDSA',\): include 'RS256' \(Nomad >= 1\.7 signs "
                                              r"workload identities with RS256; add 'EdDSA' for keys from older"):
        WorkloadIdentityAuth(path="jwt-nomad", nomad_address="https://n:4646", supported_algs=("EdDSA",)).validate()
    with pytest.raises(HashistackError, match=r"supported_algs = \('RS256', 'HS256'\): include 'RS256'"):
        WorkloadIdentityAuth(path="jwt-nomad", nomad_address="https://n:4646",
                             supported_algs=("RS256", "HS256")).validate()


def test_rejects_a_key_given_as_the_jwks_ca():
    pem = "-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\n"
    with pytest.raises(HashistackError, match=r"jwks_ca_pem = '<pem>': give the PEM of the CA that signed Nomad's "
                                              r"HTTPS certificate \(a certificate, never a key\)"):
        WorkloadIdentityAuth(path="jwt-nomad", nomad_address="https://n:4646", jwks_ca_pem=pem).validate()


def test_rejects_the_legacy_policy_form():
    text = 'path "secret/data/dev/web" {\n  policy = "write"\n}\n'
    with pytest.raises(HashistackError, match=r'vault policy "old": path\[secret/data/dev/web\]\.policy = \'write\': '
                                              r'the legacy policy = "\.\.\." form is not accepted; write capabilities = '
                                              r'\["create", "read", "update", "delete", "list"\]'):
        Policy.from_hcl(text, name="old")


def test_from_hcl_reads_capabilities_and_lints():
    policy = Policy.from_hcl('path "secret/data/dev/web" {\n  capabilities = ["read"]\n}\n', name="web",
                             kv_mounts=("secret",))
    assert policy.lint().rules[0].capabilities == ("read",)
    with pytest.raises(HashistackError, match=r"a KV v2 path reads through secret/data/<path>"):
        Policy.from_hcl('path "secret/web" {\n  capabilities = ["read"]\n}\n', name="web",
                        kv_mounts=("secret",)).lint()


def test_rejects_write_capabilities_in_a_read_only_policy():
    policy = dataclasses.replace(auditor_policy(PROD.vault), rules=(
        *auditor_policy(PROD.vault).rules,
        Rule(path="secret/metadata/x", capabilities=("delete",))))
    with pytest.raises(HashistackError, match=r"path\[secret/metadata/x\]\.capabilities = \('delete',\): a read-only "
                                              r"policy holds only read and list"):
        policy.lint()


def test_deployer_reads_its_services_access_and_changes_none():
    paths = policy_paths(deployer_policy(PROD.vault, ["web", "api"]).lint().render())
    assert paths == {
        "sys/policies/acl/svc-api": ["read"],
        "auth/jwt-nomad/role/api": ["read"],
        "pki-int/roles/api": ["read"],
        "sys/policies/acl/svc-web": ["read"],
        "auth/jwt-nomad/role/web": ["read"],
        "pki-int/roles/web": ["read"],
    }


def test_operator_can_apply_the_vault_layer_without_root():
    """What terraform-provider-vault needs beyond the mounts: its child token, the KV mount's
    config, and every login method's roles."""
    policy = operator_policy(PROD.vault).lint()
    assert policy.grants("auth/token/create", "update")
    assert policy.grants("secret/config", "update")
    for method in PROD.vault.login_methods:
        assert policy.grants(f"auth/{method.path}/role/x", "create"), method.path


def test_only_the_operator_holds_sudo():
    caps = lambda p: {c for r in p.rules for c in r.capabilities}  # noqa: E731
    assert "sudo" in caps(operator_policy(PROD.vault))
    assert "sudo" not in caps(deployer_policy(PROD.vault, ["web"])) | caps(auditor_policy(PROD.vault))
    assert caps(auditor_policy(PROD.vault)) <= {"read", "list"}


# --- the synthesized stacks --------------------------------------------------------------------------

def resources(synth, env):
    return synth.stack(f"{env.name}-vault")["resource"]


def only(resources_of_type: dict) -> dict:
    assert len(resources_of_type) == 1
    return next(iter(resources_of_type.values()))


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_vault_stack_has_kv_pki_auth_policies_and_audit(synth, env):
    r = resources(synth, env)
    mounts = {m["path"]: m for m in r["vault_mount"].values()}
    assert mounts[env.vault.kv_mount]["options"] == {"version": "2"}
    assert mounts["pki-root"]["max_lease_ttl_seconds"] == env.vault.pki_root_ttl_h * 3600
    assert mounts["pki-int"]["max_lease_ttl_seconds"] == env.vault.pki_intermediate_ttl_h * 3600
    kv = only(r["vault_kv_secret_backend_v2"])
    assert kv["max_versions"] == env.vault.kv_max_versions

    root = only(r["vault_pki_secret_backend_root_cert"])
    csr = only(r["vault_pki_secret_backend_intermediate_cert_request"])
    sign = only(r["vault_pki_secret_backend_root_sign_intermediate"])
    signed = only(r["vault_pki_secret_backend_intermediate_set_signed"])
    assert root["type"] == csr["type"] == "internal"
    assert sign["csr"].endswith(".csr}") and "root_cert" in sign["issuer_ref"]
    # the root's issuing and CRL URLs exist before it signs, so the intermediate carries both
    assert [d.rsplit("_", 1)[0] for d in sorted(sign["depends_on"])] == [
        "vault_pki_secret_backend_config_urls.pki_root-urls", "vault_pki_secret_backend_crl_config.pki_root-crl"]
    # Consul's service names with and without the datacenter, and the public domain where there is
    # an ingress tier: a service's certificate may carry its ingress host.
    public = [env.ingress.public_domain] if env.ingress else []
    assert sign["permitted_dns_domains"] == [env.domain, "service.consul", f"service.{env.consul.datacenter}.consul",
                                             *public, *env.vault.pki_permitted_domains]
    assert root["common_name"] == f"{env.domain} Root CA" and root.get("organization") == env.vault.pki_ca_organization
    protected = [root, signed, *(m for m in r["vault_mount"].values() if m["type"] == "pki"), sign]
    assert all(x.get("lifecycle", {}).get("prevent_destroy", False) is env.vault.pki_prevent_destroy for x in protected)
    assert "vault_pki_secret_backend_root_sign_intermediate" in signed["certificate"]
    assert only(r["vault_pki_secret_backend_issuer"])["issuer_name"] == "intermediate"
    assert int(sign["ttl"]) <= int(root["ttl"])
    urls = list(r["vault_pki_secret_backend_config_urls"].values())
    assert len(urls) == 2 and all(u["issuing_certificates"][0].startswith(env.vault.address) for u in urls)
    assert {c["auto_rebuild"] for c in r["vault_pki_secret_backend_crl_config"].values()} == {True}
    assert only(r["vault_pki_secret_backend_config_auto_tidy"])["enabled"] is True
    # certificate roles: one per service with TLS, all on the intermediate
    assert {x["backend"].rsplit("_", 1)[0] for x in r["vault_pki_secret_backend_role"].values()} == {
        "${vault_mount.pki_intermediate-mount"}

    backends = {b["path"]: b for b in r["vault_jwt_auth_backend"].values()}
    jwt = backends[env.vault.jwt_auth_path]
    assert jwt["jwks_url"] == f"{env.nomad.address}/.well-known/jwks.json"
    assert jwt["jwt_supported_algs"] == ["RS256", "EdDSA"]
    assert "BEGIN CERTIFICATE" in jwt["jwks_ca_pem"]
    roles = {x["role_name"]: x for x in r["vault_jwt_auth_backend_role"].values()}
    default_role = roles["nomad-workloads"]
    assert default_role["bound_audiences"] == ["vault.io"] and default_role["token_policies"] == ["default"]

    audits = sorted(a["type"] for a in r["vault_audit"].values())
    assert audits == sorted(env.vault.audit_devices)
    assert len(audits) >= (2 if env.is_production else 1)


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_every_rendered_policy_parses_as_hcl_and_passes_the_lint(synth, env):
    policies = {p["name"]: unescape(p["policy"]) for p in resources(synth, env)["vault_policy"].values()}
    deployed = [spec.name for spec in services(env).deployed]  # the services and the proxy
    platform = {"auditor": auditor_policy(env.vault), "ci-deployer": deployer_policy(env.vault, deployed),
                "platform-operator": operator_policy(env.vault)}
    assert sorted(policies) == sorted([*platform, *(f"svc-{name}" for name in deployed)])
    for name, text in policies.items():
        if name not in platform:
            continue
        model = platform[name]
        parsed = Policy.from_hcl(text, name=name, kv_mounts=model.kv_mounts, application=model.application,
                                 read_only=model.read_only).lint()
        assert policy_paths(text) == {r.path: list(r.capabilities) for r in model.rules}
        assert parsed.rules == tuple(dataclasses.replace(r, comment=None) for r in model.rules)


def test_services_policies_parse_as_hcl_and_pass_the_lint(synth):
    for env in ENVIRONMENTS:
        for p in synth.stack(f"{env.name}-vault")["resource"]["vault_policy"].values():
            if not p["name"].startswith("svc-"):
                continue
            Policy.from_hcl(unescape(p["policy"]), name=p["name"], kv_mounts=(env.vault.kv_mount,),
                            pki_mounts=(env.vault.pki_intermediate_mount, env.vault.pki_root_mount)).lint()


def test_dev_runs_one_audit_device():
    assert DEV.vault.audit_devices == ("file",)
