"""GoService: the plan it makes (pure Python) and the resources it synthesizes."""

from __future__ import annotations

import json
import re

import cdktf
import pytest

from hashistack import HashistackError
from hashistack.service import (
    ConfigFile,
    HealthCheck,
    OnChange,
    RegistryAuth,
    ServiceSpec,
    Tls,
    Update,
    VaultSecret,
    plan_service,
)
from hashistack.terraform_escape import unescape
from stacks.apps import service_names
from stacks.environments import DEV, ENVIRONMENTS, PROD, UAT

from .hcl import policy_paths
from .nomad_api import api_field_problems


def spec(**changes) -> ServiceSpec:
    base = dict(
        name="payments",
        image="registry.example.com/payments:1.4.2",
        port=8080,
        config_files=(ConfigFile.inline("level = info\n", mount_at="/app/config/app.conf"),),
        secrets=(VaultSecret.kv("payments/config", mount_at="/app/config/secrets.json"),),
        tls=Tls(mount_dir="/app/tls"),
        health=HealthCheck.http("/health"),
        cpu_mhz=500, memory_mib=256,
        env={"LOG_LEVEL": "info"},
    )
    base.update(changes)
    return ServiceSpec(**base)


def task_of(plan):
    return plan.job.groups[0].tasks[0]


def group_of(plan):
    return plan.job.groups[0]


# --- the plan ----------------------------------------------------------------------------------

def test_a_ten_line_service_gives_a_complete_job():
    plan = plan_service(spec(), DEV)
    task, group = task_of(plan), group_of(plan)
    assert group.network.ports[0].label == "http" and group.network.ports[0].to == 8080
    assert group.network.ports[0].static is None
    assert task.config.ports == ("http",)
    assert task.vault.role == "payments"
    assert [i.audience for i in task.identities] == [("vault.io",)]
    assert group.services[0].checks[0].check_restart.limit == 3
    assert group.update.auto_revert is True and group.update.canary == 0
    assert api_field_problems(plan.job.to_api()) == []


def test_config_file_renders_into_local_and_is_mounted_where_the_app_reads_it():
    plan = plan_service(spec(config_files=(ConfigFile.inline(
        "x", mount_at="/app/config/app.conf", on_change=OnChange.signal("SIGUSR1")),)), DEV)
    template = task_of(plan).templates[0]
    assert (template.destination, template.change_mode, template.change_signal) == (
        "local/config/app.conf", "signal", "SIGUSR1")
    assert ("local/config/app.conf", "/app/config/app.conf") in [(m.source, m.target) for m in
                                                                 task_of(plan).config.mounts]


def test_config_file_from_path_reads_the_file(tmp_path):
    f = tmp_path / "app.conf"
    f.write_text("port = 8080\n")
    assert ConfigFile.from_path(f, mount_at="/etc/app.conf").content == "port = 8080\n"
    with pytest.raises(HashistackError, match=r"ConfigFile.from_path: path = '.*missing.conf': no such file"):
        ConfigFile.from_path(tmp_path / "missing.conf", mount_at="/etc/app.conf")


def test_secret_file_renders_under_secrets_read_only_with_a_per_environment_path():
    plan = plan_service(spec(), UAT)
    secret = [t for t in task_of(plan).templates if "secret " in t.data][0]
    assert secret.destination == "secrets/payments-config.json" and secret.perms == "0400"
    assert '"secret/data/uat/payments/config"' in secret.data
    assert ("secrets/payments-config.json", "/app/config/secrets.json", True) in [
        (m.source, m.target, m.readonly) for m in task_of(plan).config.mounts]


def test_secret_env_vars_come_from_an_env_template():
    plan = plan_service(spec(secrets=(VaultSecret.kv_env("payments/db", env={"DB_PASSWORD": "password"}),)), DEV)
    template = [t for t in task_of(plan).templates if t.env][0]
    assert template.destination == "secrets/payments-db.env" and template.perms == "0400"
    assert "DB_PASSWORD={{ .Data.data.password | toJSON }}" in template.data


def test_tls_comes_from_one_pki_cert_issuance():
    plan = plan_service(spec(tls=Tls(alt_names=("payments.dev.example.internal",), ttl_h=24)), DEV)
    tls = [t for t in task_of(plan).templates if "pkiCert" in t.data]
    assert len(tls) == 1
    data = tls[0].data
    assert data.count("pkiCert") == 1 and all(f in data for f in ("{{ .Key }}", "{{ .Cert }}", "{{ .CA }}"))
    assert '"pki-int/issue/payments" "common_name=payments.service.consul" "ttl=24h" ' \
           '"alt_names=payments.dev.example.internal"' in data
    assert (tls[0].change_mode, tls[0].change_signal, tls[0].perms) == ("signal", "SIGHUP", "0400")
    assert plan.pki_role.allowed_domains == ("payments.service.consul", "payments.dev.example.internal")
    assert plan.pki_role.mount == "pki-int" and plan.pki_role.max_ttl_h == 24


def test_policy_grants_exactly_what_the_templates_read():
    plan = plan_service(spec(registry_auth=RegistryAuth.from_vault("registry/team")), DEV)
    assert policy_paths(plan.policy.render()) == {
        "secret/data/dev/payments/config": ["read"],
        "secret/data/dev/registry/team": ["read"],
        "pki-int/issue/payments": ["update"],
    }
    assert plan.template_reads() == sorted([
        ("secret/data/dev/payments/config", "read"), ("secret/data/dev/registry/team", "read"),
        ("pki-int/issue/payments", "update")])
    assert plan.jwt_role.policies == ("svc-payments",)
    assert plan.jwt_role.bound_claims == {"nomad_namespace": "default", "nomad_job_id": "payments"}
    assert plan.jwt_role.bound_audiences == ("vault.io",)


def test_registry_credentials_are_interpolated_never_literal():
    task = task_of(plan_service(spec(registry_auth=RegistryAuth.from_vault("registry/team")), DEV))
    assert task.config.auth.password == "${REGISTRY_PASSWORD}"
    assert "hunter" not in json.dumps(task._api())


def test_a_service_without_vault_needs_no_policy():
    plan = plan_service(spec(secrets=(), tls=None), DEV)
    assert plan.policy is None and plan.jwt_role is None and task_of(plan).vault is None


def test_go_runtime_defaults_derive_from_resources_unless_set():
    env = task_of(plan_service(spec(cpu_mhz=2000, memory_mib=2048), DEV)).env
    assert (env["GOMAXPROCS"], env["GOMEMLIMIT"]) == ("2", "1843MiB")
    env = task_of(plan_service(spec(env={"GOMAXPROCS": "8"}), DEV)).env
    assert env["GOMAXPROCS"] == "8"


def test_rollout_defaults_differ_by_environment():
    assert group_of(plan_service(spec(), DEV)).update.canary == 0
    prod = group_of(plan_service(spec(count=3), PROD))
    assert (prod.update.canary, prod.update.auto_revert, prod.count) == (1, True, 3)
    assert prod.spreads[0].attribute == "${attr.platform.aws.placement.availability-zone}"


def test_blue_green_starts_a_full_second_set():
    update = group_of(plan_service(spec(count=3, update=Update.blue_green(auto_promote=True)), PROD)).update
    assert (update.canary, update.max_parallel, update.auto_promote) == (3, 3, True)


def test_grpc_and_tcp_checks():
    grpc = group_of(plan_service(spec(port_label="grpc", health=HealthCheck.grpc("pay.v1.Pay")), DEV))
    check = grpc.services[0].checks[0]
    assert (check.type, check.grpc_service, check.grpc_use_tls, check.port) == ("grpc", "pay.v1.Pay", True, "grpc")
    tcp = group_of(plan_service(spec(health=HealthCheck.tcp(), tls=None), DEV)).services[0].checks[0]
    assert (tcp.type, tcp.path, tcp.protocol) == ("tcp", None, None)


def test_native_service_registration_and_tags():
    service = group_of(plan_service(spec(registration="nomad", tags=("web",), service_name="pay"), UAT)).services[0]
    assert (service.provider, service.name, service.tags) == ("nomad", "pay", ("web", "env-uat"))


# --- rejections through GoService's plan -------------------------------------------------------

def plan_fails(pattern: str, env=DEV, **changes) -> None:
    with pytest.raises(HashistackError, match=pattern):
        plan_service(spec(**changes), env, where=f"{env.name}/payments")


def test_rejects_template_reading_a_path_the_policy_does_not_grant():
    plan_fails(r"^dev/payments: template reads Vault path 'secret/data/dev/other' \(read\), but policy "
               r"'svc-payments' does not grant it: declare it with VaultSecret",
               secrets=(VaultSecret.kv("payments/config", mount_at="/app/s.json",
                                       template='{{ .Data.data.a }}{{ with secret "secret/data/dev/other" }}x{{ end }}'),))


def test_rejects_vault_reads_in_a_config_file():
    plan_fails(r'template\[local/config/app\.conf\]\.destination = \'local/config/app\.conf\': a template carrying '
               r'secrets renders under secrets/',
               config_files=(ConfigFile.inline('{{ with secret "secret/data/dev/x" }}{{ end }}',
                                               mount_at="/app/config/app.conf"),))


def test_rejects_two_files_mounted_at_the_same_path():
    plan_fails(r'config\.mount\.target = \'/app/config/app\.conf\': two mounts share this container path',
               secrets=(VaultSecret.kv("payments/config", mount_at="/app/config/app.conf"),))


def test_rejects_static_port_with_several_allocations():
    plan_fails(r'network\.port\[http\]\.static = 8080: a static host port allows one allocation per node, but '
               r'count = 2', static_port=8080, count=2)


def test_rejects_production_service_without_health_check():
    plan_fails(r'^prod/payments: job "payments" > group "payments": service\[payments\]\.checks = \[\]: production '
               r'services need a health check', env=PROD, health=None, count=2)


def test_rejects_single_allocation_in_production():
    plan_fails(r'prod/payments: job "payments" > group "payments": count = 1: production runs at least 2', env=PROD,
               count=1)


def test_rejects_rolling_wider_than_count():
    plan_fails(r'update\.max_parallel = 3: use 1 to count \(2\)', count=2, update=Update.rolling(3))


def test_rejects_wildcard_certificate_names():
    plan_fails(r"tls\.common_name/alt_names = '\*\.example\.com': use lowercase DNS names; wildcard",
               tls=Tls(alt_names=("*.example.com",)))


def test_rejects_bad_secret_path():
    plan_fails(r"secrets\.path = '/payments': use a path inside the KV mount",
               secrets=(VaultSecret.kv("/payments", mount_at="/s.json"),))


def test_rejects_bad_service_name():
    plan_fails(r"dev/payments: name = 'Payments_API': use at most 63 lowercase", name="Payments_API")


# --- the construct -------------------------------------------------------------------------------

def test_unknown_prop_and_missing_environment_are_reported_with_the_construct_path():
    from hashistack.service import GoService
    from hashistack.stack import EnvironmentStack

    app = cdktf.Testing.app()
    stack = EnvironmentStack(app, "dev", environment=DEV)
    with pytest.raises(HashistackError, match=r"^dev/web: memory_mb = 256: not a GoService prop; use one of"):
        GoService(stack, "web", image="x:1", memory_mb=256)
    with pytest.raises(HashistackError, match=r"^web: memory_mb = 256: not a GoService prop; use one of \['args', "):
        ServiceSpec(name="web", image="x:1", memory_mb=256)
    with pytest.raises(HashistackError, match=r"^web: image = \(missing\): every service needs one"):
        ServiceSpec(name="web")
    plain = cdktf.TerraformStack(app, "plain")
    with pytest.raises(HashistackError, match=r"^plain/web: environment = None: put the GoService in a hashistack "
                                              r"EnvironmentStack or pass environment="):
        GoService(plain, "web", image="x:1")


def services_in(synth, env):
    """The service stack's resources, with each service's Vault access from ``<env>-vault``."""
    access = synth.stack(f"{env.name}-vault")["resource"]
    return {
        "nomad_job": synth.stack(env.name)["resource"]["nomad_job"],
        "vault_policy": {k: v for k, v in access["vault_policy"].items() if v["name"].startswith("svc-")},
        "vault_jwt_auth_backend_role": {k: v for k, v in access["vault_jwt_auth_backend_role"].items()
                                        if k.startswith("service-")},
        "vault_pki_secret_backend_role": access["vault_pki_secret_backend_role"],
    }


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_the_service_stack_holds_jobs_only(synth, env):
    """The identity that deploys ``<env>`` (CI) cannot change any Vault access: no Vault resource
    and no Vault provider in the service stack."""
    stack = synth.stack(env.name)
    assert set(stack["resource"]) == {"nomad_job"}
    assert set(stack["provider"]) == {"nomad"}


def decoded_jobs(resources):
    """``{job id: (nomad_job resource, decoded job)}`` of a synthesized stack."""
    jobs = {}
    for resource in resources["nomad_job"].values():
        job = json.loads(unescape(resource["jobspec"]))["Job"]
        jobs[job["ID"]] = (resource, job)
    return jobs


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_each_environment_deploys_every_service_with_its_vault_access(synth, env):
    resources = services_in(synth, env)
    jobs = decoded_jobs(resources)
    assert sorted(jobs) == sorted(service_names())
    for resource, doc in jobs.values():
        assert resource["json"] is True and resource["deregister_on_destroy"] is True
        assert resource["detach"] is (not env.awaits_deployments)
        assert api_field_problems({"Job": doc}) == []
    assert sorted(p["name"] for p in resources["vault_policy"].values()) == sorted(f"svc-{n}" for n in service_names())
    roles = {r["role_name"]: r for r in resources["vault_jwt_auth_backend_role"].values()}
    assert roles["my-go-app"]["bound_audiences"] == ["vault.io"]
    assert roles["my-go-app"]["bound_claims"] == {"nomad_job_id": "my-go-app", "nomad_namespace": "default"}
    assert roles["my-go-app"]["token_policies"] == ["svc-my-go-app"] and roles["ledger"]["token_type"] == "service"
    assert roles["my-go-app"]["backend"].startswith("${vault_jwt_auth_backend.nomad-auth_backend_")
    pki = {r["name"]: r for r in resources["vault_pki_secret_backend_role"].values()}
    assert pki["my-go-app"]["allowed_domains"] == ["my-go-app.service.consul", f"my-go-app.{env.domain}"]
    assert pki["my-go-app"]["allow_any_name"] is False and pki["my-go-app"]["enforce_hostnames"] is True
    assert pki["my-go-app"]["backend"].startswith("${vault_mount.pki_intermediate-mount_")


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_every_template_read_is_granted_by_the_synthesized_policy(synth, env):
    resources = services_in(synth, env)
    policies = {p["name"]: policy_paths(unescape(p["policy"])) for p in resources["vault_policy"].values()}
    reads = 0
    for _, doc in decoded_jobs(resources).values():
        for task in doc["TaskGroups"][0]["Tasks"]:
            granted = policies[f"svc-{doc['ID']}"]
            for template in task.get("Templates", []):
                for func, path in re.findall(r'\b(secret|pkiCert)\s+"([^"]+)"', template["EmbeddedTmpl"]):
                    reads += 1
                    assert ("update" if func == "pkiCert" else "read") in granted.get(path, []), (doc["ID"], path)
            # ...and nothing more than what is read
            used = {p for t in task.get("Templates", []) for _, p in
                    re.findall(r'\b(secret|pkiCert)\s+"([^"]+)"', t["EmbeddedTmpl"])}
            assert set(granted) == used
    assert reads >= 5


def test_environments_differ_where_a_real_platform_differs(synth):
    def app_task(env):
        _, doc = decoded_jobs(services_in(synth, env))["my-go-app"]
        group = doc["TaskGroups"][0]
        return group, group["Tasks"][0]

    (dev_g, dev_t), (uat_g, _), (prod_g, prod_t) = (app_task(e) for e in (DEV, UAT, PROD))
    assert (dev_g["Count"], uat_g["Count"], prod_g["Count"]) == (1, 2, 3)
    assert dev_t["Resources"] == {"CPU": 500, "MemoryMB": 256, "MemoryMaxMB": 512}
    assert prod_t["Resources"] == {"CPU": 2000, "MemoryMB": 2048}
    assert (dev_t["Env"]["DEBUG"], prod_t["Env"]["DEBUG"]) == ("true", "false")
    assert dev_t["Env"]["DB_HOST"] != prod_t["Env"]["DB_HOST"]
    assert "Spreads" not in dev_g and prod_g["Spreads"]
    assert prod_g["Update"]["Canary"] == 1 and prod_g["Update"]["AutoRevert"] is True


def test_run_time_interpolations_reach_nomad_literally(synth):
    raw = synth.stack("prod")["resource"]["nomad_job"]
    jobspec = next(v["jobspec"] for v in raw.values() if '"my-go-app"' in v["jobspec"])
    assert "$${NOMAD_ALLOC_ID}" in jobspec and "$${attr.unique.hostname}" in jobspec
    assert re.search(r"(?<!\$)\$\{", jobspec) is None
    doc = json.loads(unescape(jobspec))["Job"]
    assert doc["TaskGroups"][0]["Tasks"][0]["Env"]["INSTANCE_ID"] == "${NOMAD_ALLOC_ID}"
    assert '{{ env "NOMAD_ALLOC_ID" }}' in doc["TaskGroups"][0]["Tasks"][0]["Templates"][0]["EmbeddedTmpl"]
