"""GoService: the plan it makes (pure Python) and the resources it synthesizes."""

from __future__ import annotations

import json
import pathlib
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
from hashistack.ingress import PROXY_NAME
from hashistack.terraform_escape import unescape
from stacks.apps import services
from stacks.environments import DEV, ENVIRONMENTS, PROD, UAT

from tests.support.hcl import policy_paths
from tests.support.nomad_api import api_field_problems


def spec(**changes) -> ServiceSpec:
    base = dict(
        name="payments",
        image="registry.example.com/payments:1.4.2",
        port=8080,
        config_files=(ConfigFile.inline("level = info\n", mount_at="/app/config/app.conf"),),
        secrets=(VaultSecret.kv("payments/config", mount_at="/app/config/secrets.json"),),
        tls=Tls(mount_dir="/app/tls"),
        health=HealthCheck.http("/health", tls="skip-verify"),
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
    # In the mesh: a bridge network, no host port for the app (its sidecar is the way in).
    assert group.network.mode == "bridge" and group.network.ports == ()
    assert task.config.ports == ()
    assert group.services[0].port == "8080" and group.services[0].connect is not None
    assert task.vault.role == "payments"
    assert [i.audience for i in task.identities] == [("vault.io",)]
    assert group.services[0].checks[0].check_restart.limit == 3
    assert group.update.auto_revert is True and group.update.canary == 0
    assert api_field_problems(plan.job.to_api()) == []


def test_config_file_renders_into_local_and_its_directory_is_mounted_where_the_app_reads_it():
    plan = plan_service(spec(secrets=(), config_files=(ConfigFile.inline(
        "x", mount_at="/app/config/app.conf", on_change=OnChange.signal("SIGUSR1")),)), DEV)
    template = task_of(plan).templates[0]
    assert (template.destination, template.change_mode, template.change_signal) == (
        "local/mnt/app-config/app.conf", "signal", "SIGUSR1")
    # The directory, not the file: a file re-rendered by rename reaches the container.
    assert ("local/mnt/app-config", "/app/config") in [(m.source, m.target) for m in task_of(plan).config.mounts]
    assert all(not m.target.endswith(".conf") for m in task_of(plan).config.mounts)


def test_config_file_from_path_reads_the_file(tmp_path):
    f = tmp_path / "app.conf"
    f.write_text("port = 8080\n")
    assert ConfigFile.from_path(f, mount_at="/etc/app.conf").content == "port = 8080\n"
    with pytest.raises(HashistackError, match=r"ConfigFile.from_path: path = '.*missing.conf': no such file"):
        ConfigFile.from_path(tmp_path / "missing.conf", mount_at="/etc/app.conf")


def test_secret_file_renders_under_secrets_read_only_with_a_per_environment_path():
    plan = plan_service(spec(), UAT)
    secret = [t for t in task_of(plan).templates if "secret " in t.data][0]
    assert secret.destination == "secrets/mnt/app-config/secrets.json" and secret.perms == "0400"
    assert '"secret/data/uat/payments/config"' in secret.data
    # The config file shares the directory, so the directory lives under secrets/.
    assert ("secrets/mnt/app-config", "/app/config", True) in [
        (m.source, m.target, m.readonly) for m in task_of(plan).config.mounts]
    assert "secrets/mnt/app-config/app.conf" in [t.destination for t in task_of(plan).templates]


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
    assert (tls[0].change_mode, tls[0].change_signal, tls[0].perms) == ("restart", None, "0400")
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
    grpc = group_of(plan_service(spec(port_label="grpc", health=HealthCheck.grpc("pay.v1.Pay", tls="skip-verify")),
                                 DEV))
    check = grpc.services[0].checks[0]
    assert (check.type, check.grpc_service, check.grpc_use_tls, check.port, check.address_mode) == (
        "grpc", "pay.v1.Pay", True, "8080", "alloc")
    tcp = group_of(plan_service(spec(health=HealthCheck.tcp(), tls=None, registration="nomad"), DEV)).services[0].checks[0]
    assert (tcp.type, tcp.path, tcp.protocol, tcp.port) == ("tcp", None, None, "http")


def test_native_service_registration_and_tags():
    service = group_of(plan_service(spec(registration="nomad", tags=("web",), service_name="pay"), UAT)).services[0]
    assert (service.provider, service.name, service.tags) == ("nomad", "pay", ("web", "env-uat"))


# --- rejections through GoService's plan -------------------------------------------------------

def plan_fails(pattern: str, env=DEV, **changes) -> None:
    with pytest.raises(HashistackError, match=pattern):
        plan_service(spec(**changes), env, where=f"{env.name}/payments")


def test_rejects_template_reading_a_path_the_policy_does_not_grant():
    plan_fails(r"^dev/payments: secrets\[payments/config\]\.template = .*: the template renders inside "
               r"\{\{ with secret \"secret/data/dev/payments/config\" \}\}, written for you, .* it may not call Vault "
               r"itself \(secret\)",
               secrets=(VaultSecret.kv("payments/config", mount_at="/app/s.json",
                                       template='{{ .Data.data.a }}{{ with secret "secret/data/dev/other" }}x{{ end }}'),))


def test_rejects_vault_reads_in_a_config_file():
    plan_fails(r"config_files\[app\.conf\] = '/app/config/app\.conf': a config file is not a secret and must not "
               r"read Vault",
               config_files=(ConfigFile.inline('{{ with secret "secret/data/dev/x" }}{{ end }}',
                                               mount_at="/app/config/app.conf"),))


def test_rejects_two_files_mounted_at_the_same_path():
    plan_fails(r"secrets\[payments/config\]\.mount_at = '/app/config/app\.conf': another file is already mounted "
               r"at this path",
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


def test_rejects_bad_service_name_saying_what_is_wrong_and_a_name_that_would_do():
    plan_fails(r"dev/payments: name = 'Payments_API': it has upper-case letters; it has characters other than "
               r"letters, digits and '-' \(\['_'\]\): use a name of lowercase letters, digits and '-' of at most 63 "
               r"characters, e.g. 'payments-api'$", name="Payments_API")
    plan_fails(r"service_name = 'Staging': it has upper-case letters: .* e.g. 'staging'$", service_name="Staging")


# --- the construct -------------------------------------------------------------------------------

def test_unknown_prop_and_missing_environment_are_reported_with_the_construct_path():
    from hashistack.service import GoService
    from hashistack.stack import EnvironmentStack

    app = cdktf.Testing.app()
    stack = EnvironmentStack(app, "dev", environment=DEV)
    with pytest.raises(HashistackError, match=r"^dev/web: spec = 'web': GoService takes a ServiceSpec: "
                                              r"GoService\(scope, ServiceSpec\(name=\.\.\., image=\.\.\., \.\.\.\)\)$"):
        GoService(stack, "web")  # type: ignore[arg-type]
    with pytest.raises(HashistackError, match=r"^web: memory_mb = 256: not a GoService prop; use one of \['args', "):
        ServiceSpec(name="web", image="x:1", memory_mb=256)
    with pytest.raises(HashistackError, match=r"^web: image = \(missing\): every service needs one"):
        ServiceSpec(name="web")
    plain = cdktf.TerraformStack(app, "plain")
    with pytest.raises(HashistackError, match=r"^plain/web: environment = None: put the GoService in a hashistack "
                                              r"EnvironmentStack or pass environment="):
        GoService(plain, ServiceSpec(name="web", image="x:1"))


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
    assert set(stack["resource"]) == {"nomad_job"}  # the scheduler configuration is phase cluster's
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
    names = [spec.name for spec in services(env).deployed]
    assert sorted(jobs) == sorted(names)
    for resource, doc in jobs.values():
        assert resource["json"] is True and resource["deregister_on_destroy"] is True
        assert resource["detach"] is (not env.awaits_deployments)
        assert api_field_problems({"Job": doc}) == []
    assert sorted(p["name"] for p in resources["vault_policy"].values()) == sorted(f"svc-{n}" for n in names)
    roles = {r["role_name"]: r for r in resources["vault_jwt_auth_backend_role"].values()}
    assert roles["my-go-app"]["bound_audiences"] == ["vault.io"]
    assert roles["my-go-app"]["bound_claims"] == {"nomad_job_id": "my-go-app", "nomad_namespace": "default"}
    assert roles["my-go-app"]["token_policies"] == ["svc-my-go-app"] and roles["ledger"]["token_type"] == "service"
    assert roles["my-go-app"]["backend"].startswith("${vault_jwt_auth_backend.nomad-auth_backend_")
    pki = {r["name"]: r for r in resources["vault_pki_secret_backend_role"].values()}
    # The certificate may carry the public host the ingress proxy verifies it by (where the
    # environment has an ingress tier).
    public = [f"my-go-app.{env.ingress.public_domain}"] if env.ingress else []
    assert pki["my-go-app"]["allowed_domains"] == ["my-go-app.service.consul", f"my-go-app.{env.domain}", *public]
    # Every Consul-registered service is in the mesh: bridge network, a sidecar, and no host port
    # but its checks' expose listeners (and, for the ingress proxy alone, the static port the load
    # balancer sends requests to); my-go-app calls ledger through it. No intention or Consul ACL is
    # written by the stack that deploys jobs.
    for name, (_, doc) in jobs.items():
        group = doc["TaskGroups"][0]
        if group["Services"][0].get("Provider", "consul") != "consul":
            continue
        (network,) = group["Networks"]
        assert network["Mode"] == "bridge" and "ports" not in group["Tasks"][0]["Config"], doc["ID"]
        assert network.get("ReservedPorts", []) == ([] if name != PROXY_NAME else [
            {"Label": "https", "To": env.ingress.proxy_port, "Value": env.ingress.proxy_port}]), doc["ID"]
        assert all(port["Label"].startswith("expose-") for port in network.get("DynamicPorts", [])), doc["ID"]
        assert "SidecarService" in group["Services"][0]["Connect"]
    for name in ("my-go-app", "ledger"):  # both serve TLS themselves: checked at the allocation's address
        assert jobs[name][1]["TaskGroups"][0]["Services"][0]["Checks"][0]["AddressMode"] == "alloc"
    upstreams = jobs["my-go-app"][1]["TaskGroups"][0]["Services"][0]["Connect"]["SidecarService"]["Proxy"]["Upstreams"]
    assert upstreams == [{"DestinationName": "ledger", "LocalBindPort": 9091}]
    assert not any(kind.startswith("consul_") for kind in synth.stack(env.name)["resource"])
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
    jobspec = next(v["jobspec"] for v in raw.values() if '"ID":"my-go-app"' in v["jobspec"])
    assert "$${NOMAD_ALLOC_ID}" in jobspec and "$${attr.unique.hostname}" in jobspec
    assert re.search(r"(?<!\$)\$\{", jobspec) is None
    doc = json.loads(unescape(jobspec))["Job"]
    assert doc["TaskGroups"][0]["Tasks"][0]["Env"]["INSTANCE_ID"] == "${NOMAD_ALLOC_ID}"
    assert '{{ env "NOMAD_ALLOC_ID" }}' in doc["TaskGroups"][0]["Tasks"][0]["Templates"][0]["EmbeddedTmpl"]


def test_service_spec_is_the_one_declaration_of_the_props_each_documented_with_its_default():
    """GoService takes a spec and declares no prop of its own; each field of ServiceSpec has one
    docstring, and every field with a default says what the default does."""
    import ast
    import dataclasses
    import inspect

    from hashistack.service import spec as plan_module
    from hashistack.service.go_service import GoService

    params = inspect.signature(GoService.__init__).parameters
    assert [name for name in params if name != "self"] == ["scope", "spec", "environment", "vault_access", "plan"]
    tree = ast.parse(inspect.getsource(plan_module))
    (cls,) = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == "ServiceSpec"]
    docs = {}
    for field, after in zip(cls.body, cls.body[1:]):
        if isinstance(field, ast.AnnAssign) and isinstance(after, ast.Expr) and isinstance(after.value, ast.Constant):
            docs[field.target.id] = after.value.value
    fields = dataclasses.fields(ServiceSpec)
    assert set(docs) == {f.name for f in fields}
    defaulted = [f.name for f in fields if f.default is not dataclasses.MISSING
                 or f.default_factory is not dataclasses.MISSING]
    undocumented = [name for name in defaulted
                    if not re.search(r"Default|\(the default\)", docs[name])]
    assert undocumented == []
    import hashistack

    assert (pathlib.Path(hashistack.__file__).parent / "py.typed").is_file()  # PEP 561: types ship with it


# --- deployments that never hang, files that reach the app ----------------------------------------

def test_ledger_style_grpc_check_is_refused_in_nomads_catalogue():
    plan_fails(r"check\[payments-grpc\]\.type = 'grpc': Nomad's own service catalogue \(provider 'nomad'\) runs only "
               r"'http' and 'tcp' checks: register in Consul",
               registration="nomad", port_label="grpc", health=HealthCheck.grpc("pay.v1.Pay", tls="skip-verify"))


@pytest.mark.parametrize("update", [Update.canary(1, auto_promote=False), Update.blue_green(auto_promote=False)])
@pytest.mark.parametrize("env", [UAT, PROD], ids=lambda e: e.name)
def test_rejects_manual_promotion_where_terraform_waits(env, update):
    plan_fails(rf"^{env.name}/payments: update\.auto_promote = False: terraform apply waits for each deployment in "
               rf"{env.name}, and a canary that waits for manual promotion never ends it",
               env=env, count=2, update=update)


def test_canaries_promote_automatically_by_default_and_dev_may_promote_by_hand():
    assert Update.canary(1).auto_promote is True and Update.blue_green().auto_promote is True
    assert group_of(plan_service(spec(count=2), PROD)).update.auto_promote is True
    assert group_of(plan_service(spec(update=Update.canary(1, auto_promote=False)), DEV)).update.auto_promote is False


@pytest.mark.parametrize("count, update, steps", [
    (2, Update.rolling(progress_deadline_s=900), 2),          # one allocation at a time
    (4, Update.rolling(2, progress_deadline_s=900), 2),       # two at a time
    (3, Update.canary(1, progress_deadline_s=900), 4),        # the canary, then the rest one by one
    (2, Update.blue_green(progress_deadline_s=900), 2),       # the full new set, then the switch
])
def test_terraform_waits_each_step_of_the_rollout_past_the_progress_deadline(count, update, steps):
    """Nomad restarts the progress deadline each time an allocation turns healthy, so a rollout of
    several steps may take that deadline per step before Nomad decides."""
    plan = plan_service(spec(count=count, update=update), UAT)
    assert plan.apply_timeout_s == steps * 900 + 300
    assert plan_service(spec(), DEV).apply_timeout_s is None  # dev does not wait (detach = true)


def test_rejects_more_canaries_than_count_naming_the_canaries():
    plan_fails(r"update\.canaries = 5: use 1 to count \(2\) canaries", count=2, update=Update.canary(5))


def test_files_render_owned_by_the_container_user():
    plan = plan_service(spec(user="65532:65532"), DEV)
    task = task_of(plan)
    assert task.user == "65532:65532"
    mounted = [t for t in task.templates if not t.env]
    assert mounted and all((t.uid, t.gid) == (65532, 65532) for t in mounted)
    assert task._api()["User"] == "65532:65532"
    # Without a user, files belong to root (the image is assumed to run as root).
    assert all(t.uid is None for t in task_of(plan_service(spec(), DEV)).templates)


def test_rejects_a_user_that_is_not_numeric():
    plan_fails(r"user = 'nonroot': use the numeric 'uid:gid' the image runs as", user="nonroot")


def test_changed_files_restart_unless_the_service_declares_a_reload_signal():
    plain = task_of(plan_service(spec(), DEV)).templates
    assert {t.change_mode for t in plain} == {"restart"}
    reloading = task_of(plan_service(spec(reloads_on="SIGHUP"), DEV)).templates
    assert {(t.change_mode, t.change_signal) for t in reloading} == {("signal", "SIGHUP")}
    # ...but environment variables never reload by signal.
    with_env = task_of(plan_service(spec(reloads_on="SIGHUP", secrets=(
        VaultSecret.kv_env("payments/db", env={"DB_PASSWORD": "password"}),)), DEV)).templates
    assert [t.change_mode for t in with_env if t.env] == ["restart"]


@pytest.mark.parametrize("signal, message", [
    ("SIGFOO", r"reloads_on = 'SIGFOO': name the signal the program handles: use an upper-case signal name Nomad "
               r"knows: SIGABRT, .*SIGHUP, .*SIGXFSZ$"),
    ("sighup", r"reloads_on = 'sighup': .*use an upper-case signal name Nomad knows"),
    ("SIGKILL", r"reloads_on = 'SIGKILL': .*a program cannot handle SIGKILL or SIGSTOP, and SIGNULL delivers nothing"),
    ("SIGNULL", r"reloads_on = 'SIGNULL': .*SIGNULL delivers nothing"),
])
def test_rejects_a_reload_signal_nomad_does_not_know_or_no_program_handles(signal, message):
    """An unknown name leaves the job with no feasible client (the scheduler constrains on the
    clients' attr.os.signals); SIGKILL and SIGSTOP cannot be handled."""
    plan_fails(message, reloads_on=signal)


def test_every_signal_nomad_knows_is_accepted_and_the_task_kill_signal_may_be_sigkill():
    from hashistack.nomad import SIGNALS, signal_problem

    assert len(SIGNALS) == 28 and "SIGUSR1" in SIGNALS
    assert signal_problem("SIGKILL", handled=False) is None and signal_problem("SIGKILL", handled=True)
    for name in ("SIGHUP", "SIGUSR1", "SIGUSR2", "SIGINT", "SIGTERM", "SIGWINCH"):
        plan = plan_service(spec(reloads_on=name), DEV)
        assert {t.change_signal for t in task_of(plan).templates} == {name}


def test_rejects_signal_on_secret_environment_variables():
    plan_fails(r"change_mode = 'signal': a template rendering environment variables cannot use a signal",
               secrets=(VaultSecret.kv_env("payments/db", env={"DB_PASSWORD": "password"},
                                           on_change=OnChange.signal("SIGHUP")),))


def test_memory_max_needs_oversubscription_and_moves_gomemlimit():
    from dataclasses import replace

    plan_fails(r"memory_max_mib = 512: Nomad ignores memory_max unless memory oversubscription is enabled",
               env=UAT, count=2, memory_max_mib=512)
    assert not UAT.nomad.memory_oversubscription and DEV.nomad.memory_oversubscription
    env = task_of(plan_service(spec(memory_mib=256, memory_max_mib=1024), DEV)).env
    assert env["GOMEMLIMIT"] == "921MiB"
    oversubscribed = replace(UAT, nomad=replace(UAT.nomad, memory_oversubscription=True))
    assert task_of(plan_service(spec(count=2, memory_max_mib=512), oversubscribed)).resources.memory_max_mib == 512


def test_canaries_keep_the_service_tags():
    service = group_of(plan_service(spec(tags=("web",)), UAT)).services[0]
    assert service.canary_tags == ("web", "env-uat", "canary")


def test_rejects_a_tls_service_check_that_does_not_say_how_it_connects():
    plan_fails(r"health\.tls = None: the service serves TLS: say how the http check connects: tls='verify'",
               health=HealthCheck.http("/health"))


def test_verified_check_names_the_certificate():
    check = group_of(plan_service(spec(health=HealthCheck.http("/health", tls="verify")), DEV)).services[0].checks[0]
    assert (check.protocol, check.tls_skip_verify, check.tls_server_name) == ("https", False, "payments.service.consul")
    plain = group_of(plan_service(spec(health=HealthCheck.http("/health", port="admin", tls="plain"),
                                       extra_ports={"admin": 9000}), DEV)).services[0].checks[0]
    assert (plain.protocol, plain.tls_skip_verify) == (None, False)


@pytest.mark.parametrize("name", ["ledger.service.consul", "payments.example.com", "evil.dev.example.internal"])
def test_rejects_certificate_names_outside_the_services_identity(name):
    plan_fails(rf"tls\.alt_names = '{re.escape(name)}': a service's certificate carries only its own names: "
               r"\['payments\.service\.consul', 'payments\.service\.dc1\.consul', 'payments\.dev\.example\.internal'\]",
               tls=Tls(alt_names=(name,)))


@pytest.mark.parametrize(("path", "fix"), [("secret/data/payments/config", "payments/config"),
                                           ("dev/payments/config", "payments/config"),
                                           ("data/payments/config", "payments/config")])
def test_rejects_secret_paths_that_repeat_the_mount_or_environment(path, fix):
    plan_fails(rf"secrets\.path = '{path}': the path starts with .* write '{fix}'",
               secrets=(VaultSecret.kv(path, mount_at="/app/config/s.json"),))


def test_rejects_registry_path_that_repeats_the_mount():
    plan_fails(r"registry_auth\.path = 'secret/registry/team': .* write 'registry/team'",
               registry_auth=RegistryAuth.from_vault("secret/registry/team"))


def test_secret_keys_with_dashes_render_with_index():
    plan = plan_service(spec(secrets=(VaultSecret.kv_env("payments/db", env={"DB_PASSWORD": "db-password"}),)), DEV)
    template = [t for t in task_of(plan).templates if t.env][0]
    assert 'DB_PASSWORD={{ index .Data.data "db-password" | toJSON }}' in template.data


@pytest.mark.parametrize("image", ["registry.example.com/payments", "registry.example.com/payments:latest",
                                   "registry.example.com:5000/payments"])
def test_rejects_unpinned_images_outside_development(image):
    plan_fails(r"image = .*: a staging environment deploys a pinned image", env=UAT, count=2, image=image)
    plan_service(spec(image=image), DEV)


def test_pinned_images_by_tag_or_digest():
    for image in ("registry.example.com:5000/payments:1.2", "payments@sha256:" + "a" * 64):
        plan_service(spec(count=2, image=image), UAT)


def test_rejects_an_environment_variable_set_twice():
    with pytest.raises(HashistackError, match=r"env = 'DB_PASSWORD': set twice: by secrets\[payments/db\]\.env "
                                              r"and by env"):
        plan_service(spec(env={"DB_PASSWORD": "x"},
                          secrets=(VaultSecret.kv_env("payments/db", env={"DB_PASSWORD": "password"}),)), DEV)


def test_rejects_unknown_nomad_variables():
    with pytest.raises(HashistackError, match=r"env\[ID\] = '\$\{NOMAD_ALOC_ID\}': Nomad 1\.10 does not resolve "
                                              r"\$\{NOMAD_ALOC_ID\}"):
        plan_service(spec(env={"ID": "${NOMAD_ALOC_ID}"}), DEV)
    plan_service(spec(env={"ID": "${NOMAD_ALLOC_ID}", "AZ": "${attr.platform.aws.placement.availability-zone}",
                           "PORT": "${NOMAD_PORT_http}"}), DEV)


def test_rejects_a_second_service_with_the_same_name_in_a_stack():
    from hashistack.service import GoService
    from hashistack.stack import EnvironmentStack

    app = cdktf.Testing.app()
    stack = EnvironmentStack(app, "dev", environment=DEV)
    GoService(stack, ServiceSpec(name="web", image="x:1"), vault_access=False)
    with pytest.raises(HashistackError, match=r"^dev/web: name = 'web': dev already has a service or construct"):
        GoService(stack, ServiceSpec(name="web", image="x:1"), vault_access=False)


def test_rejects_a_module_name_that_differs_from_its_spec(monkeypatch):
    import types

    import stacks.apps as apps

    module = types.ModuleType("stacks.apps.inventory")
    module.NAME = "inventory"
    module.service = lambda env: spec(name="inventory-api")
    monkeypatch.setattr(apps, "service_modules", lambda: [module])
    with pytest.raises(HashistackError, match=r"^stacks/apps/inventory\.py: name = 'inventory-api': the module's "
                                              r"NAME is 'inventory'"):
        apps.services(DEV)


def test_rejects_two_modules_registering_the_same_service_name(monkeypatch):
    import types

    import stacks.apps as apps

    first, second = types.ModuleType("stacks.apps.a"), types.ModuleType("stacks.apps.b")
    first.service = lambda env: spec(name="a", service_name="shop")
    second.service = lambda env: spec(name="b", service_name="shop")
    monkeypatch.setattr(apps, "service_modules", lambda: [first, second])
    with pytest.raises(HashistackError, match=r"^stacks/apps/b\.py: service_name = 'shop': already the name of the "
                                              r"service in stacks/apps/a\.py"):
        apps.services(DEV)


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_every_job_decodes_in_the_environments_nomad_version(synth, env):
    for _, doc in decoded_jobs(services_in(synth, env)).values():
        assert api_field_problems({"Job": doc}, env.nomad.version) == []


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_no_deployment_waits_for_manual_promotion_and_terraform_outwaits_nomad(synth, env):
    for resource, doc in decoded_jobs(services_in(synth, env)).values():
        update = doc["TaskGroups"][0]["Update"]
        assert update["Canary"] == 0 or update["AutoPromote"] is True, doc["ID"]
        if env.awaits_deployments:
            # the progress deadline per step: max_parallel allocations at a time, and the canaries'
            group = doc["TaskGroups"][0]
            steps = -(-max(group.get("Count", 1), 1) // update["MaxParallel"]) + (1 if update.get("Canary") else 0)
            seconds = steps * (update["ProgressDeadline"] // 10**9) + 300
            assert resource["timeouts"] == {"create": f"{seconds}s", "update": f"{seconds}s"}
        else:
            assert "timeouts" not in resource


def test_rejects_a_reference_to_another_task_variable():
    with pytest.raises(HashistackError, match=r"env\[URL\] = 'http://\$\{HOST\}': \$\{HOST\} is another variable of the "
                                              r"task, which Nomad does not resolve reliably"):
        plan_service(spec(env={"HOST": "db", "URL": "http://${HOST}"}), DEV)


def test_runtime_variables_follow_the_nomad_version():
    from hashistack.nomad.interpolation import unknown_interpolations

    assert unknown_interpolations("${NOMAD_UNIX_ADDR}", version="1.9") == ["NOMAD_UNIX_ADDR"]
    assert unknown_interpolations("${NOMAD_UNIX_ADDR}", version="1.10") == []
    assert unknown_interpolations("${node.unique.name}-${meta.rack}-${NOMAD_HOST_PORT_http}", version="1.9") == []
    assert unknown_interpolations("${node.hostname}", version="1.11") == ["node.hostname"]


# --- the service mesh and the ingress route --------------------------------------------------------

from hashistack.nomad import SAME_AS_HOST  # noqa: E402
from hashistack.service import Ingress, IngressRoute, Upstream  # noqa: E402
from hashistack.contracts import service_tls_names as allowed_tls_names  # noqa: E402
from hashistack.service.plan import GRPC_HEALTH_PATH, HEALTH_LISTENER  # noqa: E402


def test_a_plain_http_check_reaches_the_app_through_an_expose_path_of_its_sidecar():
    plan = plan_service(spec(tls=None, health=HealthCheck.http("/health")), DEV)
    group = group_of(plan)
    assert plan.mesh is True
    assert group.network.mode == "bridge"
    # The only host port is the sidecar's listener for the check; the app's port has none.
    assert [(p.label, p.to, p.static) for p in group.network.ports] == [(HEALTH_LISTENER, SAME_AS_HOST, None)]
    service = group.services[0]
    (check,) = service.checks
    assert (check.port, check.path, check.address_mode, check.expose) == (HEALTH_LISTENER, "/health", None, False)
    (path,) = service.connect.expose
    assert (path.path, path.protocol, path.local_path_port, path.listener_port) == (
        "/health", "http", 8080, HEALTH_LISTENER)
    assert api_field_problems(plan.job.to_api()) == []


def test_a_plain_grpc_check_exposes_the_grpc_health_method_over_http2():
    plan = plan_service(spec(tls=None, port=9090, port_label="grpc", health=HealthCheck.grpc("pay.v1.Pay")), DEV)
    (path,) = group_of(plan).services[0].connect.expose
    assert (path.path, path.protocol, path.local_path_port) == (GRPC_HEALTH_PATH, "http2", 9090)
    check = group_of(plan).services[0].checks[0]
    assert (check.type, check.grpc_service, check.port, check.grpc_use_tls) == ("grpc", "pay.v1.Pay", HEALTH_LISTENER,
                                                                                False)


def test_a_check_that_speaks_tls_connects_to_the_allocations_own_address():
    plan = plan_service(spec(health=HealthCheck.http("/health", tls="verify")), DEV)
    service = group_of(plan).services[0]
    (check,) = service.checks
    assert (check.address_mode, check.port, check.protocol, check.tls_server_name) == (
        "alloc", "8080", "https", "payments.service.consul")
    assert service.connect.expose == () and group_of(plan).network.ports == ()
    # A plain check on another port of a TLS service goes through the sidecar to that port.
    plan = plan_service(spec(extra_ports={"admin": 9000}, health=HealthCheck.http("/ready", port="admin", tls="plain")),
                        DEV)
    (path,) = group_of(plan).services[0].connect.expose
    assert (path.local_path_port, path.path) == (9000, "/ready")


def test_rejects_a_tcp_check_in_the_mesh():
    plan_fails(r"^dev/payments: health = 'HealthCheck.tcp\(\)': a service in the Consul mesh listens only inside its "
               r"allocation, and Nomad refuses tcp checks on Connect services: use HealthCheck.http",
               tls=None, health=HealthCheck.tcp())


def test_a_service_in_nomads_catalogue_stays_outside_the_mesh():
    plan = plan_service(spec(registration="nomad", tls=None, health=HealthCheck.http("/health")), DEV)
    group = group_of(plan)
    assert plan.mesh is False and group.network.mode == "host" and group.services[0].connect is None
    assert [(p.label, p.to) for p in group.network.ports] == [("http", 8080)] and task_of(plan).config.ports == ("http",)


def test_upstreams_become_the_sidecars_upstreams():
    plan = plan_service(spec(upstreams=(Upstream("ledger", local_port=9091), Upstream("fx", local_port=9092))), DEV)
    ups = group_of(plan).services[0].connect.upstreams
    assert [(u.destination_name, u.local_bind_port) for u in ups] == [("ledger", 9091), ("fx", 9092)]
    assert plan.upstreams == (Upstream("ledger", local_port=9091), Upstream("fx", local_port=9092))
    # The job carries no intention and no Consul token: those are the access layer's.
    assert "ntention" not in plan.jobspec and "Token" not in plan.jobspec


@pytest.mark.parametrize("upstreams, pattern", [
    ((Upstream("ledger", local_port=9091),),
     r"upstreams = \['ledger'\]: services call each other through Consul's service mesh: register in Consul"),
], ids=["nomad-registration"])
def test_rejects_upstreams_outside_consul(upstreams, pattern):
    plan_fails(pattern, upstreams=upstreams, registration="nomad", health=None, tls=None)


@pytest.mark.parametrize("upstreams, pattern", [
    ((Upstream("payments", local_port=9091),),
     r"upstreams\[payments\]\.service = 'payments': a service reaches itself directly"),
    ((Upstream("ledger", local_port=9091), Upstream("ledger", local_port=9092)),
     r"upstreams\[ledger\]\.service = 'ledger': declare each upstream once"),
    ((Upstream("ledger", local_port=9091), Upstream("fx", local_port=9091)),
     r"upstreams\[fx\]\.local_port = 9091: already the local port of upstream 'ledger'"),
    ((Upstream("ledger", local_port=8080),),
     r"upstreams\[ledger\]\.local_port = 8080: the service itself listens on that port"),
    ((Upstream("ledger", local_port=21000),),
     r"upstreams\[ledger\]\.local_port = 21000: Nomad's dynamic ports \(20000-32000\) are where the sidecar's own "
     r"listeners bind"),
    ((Upstream("Ledger", local_port=9091),), r"upstreams\[Ledger\]\.service = 'Ledger'"),
    ((Upstream("ledger", local_port=80),), r"upstreams\[ledger\]\.local_port = 80: use a loopback port from 1024"),
])
def test_rejects_bad_upstreams(upstreams, pattern):
    plan_fails("^dev/payments: " + pattern, upstreams=upstreams)


def test_rejects_an_app_port_in_nomads_dynamic_range_in_the_mesh():
    plan_fails(r"port = 25000: inside the allocation, Nomad's dynamic ports \(20000-32000\) are where the sidecar's "
               r"listeners bind", port=25000)


def test_sidecar_resources_are_explicit_and_checked():
    task = group_of(plan_service(spec(sidecar_cpu_mhz=100, sidecar_memory_mib=64), DEV)).services[0].connect.sidecar_task
    assert (task.resources.cpu_mhz, task.resources.memory_mib) == (100, 64)
    plan_fails(r"sidecar_memory_mib = 5: use a whole number: MHz above 0, MiB of at least 10", sidecar_memory_mib=5)


def test_ingress_gives_the_proxy_a_typed_route_and_the_certificate_may_carry_the_host():
    host = "payments.dev.example.com"
    plan = plan_service(spec(tls=Tls(alt_names=(host,)), ingress=Ingress.https(host=host, path="/pay")), DEV)
    assert plan.ingress == IngressRoute(service="payments", host=host, path="/pay", https=True, backend_tls=True,
                                        server_name=host)
    assert plan.pki_role.allowed_domains == ("payments.service.consul", host)
    assert host in allowed_tls_names("payments", DEV, host) and host not in allowed_tls_names("payments", DEV)
    # A certificate without the host is verified by its common name; a plain backend has none.
    assert plan_service(spec(ingress=Ingress.https(host=host)), DEV).ingress.server_name == "payments.service.consul"
    plain = plan_service(spec(tls=None, health=HealthCheck.http("/health"), ingress=Ingress.https(host=host)), DEV)
    assert (plain.ingress.backend_tls, plain.ingress.server_name) == (False, None)
    assert plan_service(spec(), DEV).ingress is None
    # The apex of the public domain is a valid host too.
    assert plan_service(spec(ingress=Ingress.https(host="example.com")), PROD).ingress.host == "example.com"


def test_a_certificate_may_not_carry_an_ingress_host_the_service_does_not_declare():
    plan_fails(r"tls\.alt_names = 'payments\.dev\.example\.com': a service's certificate carries only its own names",
               tls=Tls(alt_names=("payments.dev.example.com",)))


@pytest.mark.parametrize("ingress, env, pattern", [
    (Ingress.https(host="payments.example.org"), DEV,
     r"ingress\.host = 'payments\.example\.org': use a lowercase host name under the environment's public domain "
     r"'dev\.example\.com', e\.g\. 'payments\.dev\.example\.com'"),
    (Ingress.https(host="evil-dev.example.com"), DEV, r"ingress\.host = 'evil-dev\.example\.com': use a lowercase host"),
    (Ingress.https(host="a.b.example.com"), PROD,
     r"ingress\.host = 'a\.b\.example\.com': the load balancer's certificate is for \*\.example\.com, which covers one "
     r"label below the domain: use e\.g\. 'b\.example\.com'"),
    (Ingress.https(host="Payments.dev.example.com"), DEV, r"ingress\.host = 'Payments\.dev\.example\.com'"),
    (Ingress.https(host="*.dev.example.com"), DEV, r"ingress\.host = '\*\.dev\.example\.com'"),
    (Ingress.https(host="payments.dev.example.com", path="api"), DEV,
     r"ingress\.path = 'api': use a path prefix starting with '/'"),
    (Ingress.https(host="payments.dev.example.com", path="/a/../b"), DEV, r"ingress\.path = '/a/\.\./b'"),
    (Ingress.http(host="payments.uat.example.com"), UAT,
     r"ingress = \"Ingress\.http\(host='payments\.uat\.example\.com'\)\": plain HTTP from users is for development "
     r"only; 'uat' is a staging environment: use Ingress\.https"),
    (Ingress.http(host="payments.example.com"), PROD, r"ingress = .*: plain HTTP from users is for development only; "
                                                       r"'prod' is a production environment"),
], ids=["other-domain", "suffix-not-subdomain", "two-labels", "upper-case", "wildcard", "relative-path", "dot-dot",
        "http-in-uat", "http-in-prod"])
def test_rejects_bad_ingress(ingress, env, pattern):
    plan_fails(f"^{env.name}/payments: " + pattern, env=env, ingress=ingress, count=2 if env is PROD else None)


def test_plain_http_ingress_is_allowed_in_development():
    route = plan_service(spec(ingress=Ingress.http(host="payments.dev.example.com")), DEV).ingress
    assert route.https is False


def test_rejects_ingress_where_the_environment_has_no_ingress_tier_or_outside_consul():
    import dataclasses

    internal = dataclasses.replace(DEV, ingress=None)
    plan_fails(r"^dev/payments: ingress = 'payments\.dev\.example\.com': environment 'dev' has no ingress tier "
               r"\(Environment\.ingress is None\)", env=internal, ingress=Ingress.https(host="payments.dev.example.com"))
    plan_fails(r"^dev/payments: ingress = 'payments\.dev\.example\.com': the ingress proxy reaches services through "
               r"Consul's service mesh: register in Consul", registration="nomad", tls=None, health=None,
               ingress=Ingress.https(host="payments.dev.example.com"))


# --- system jobs (the ingress proxy runs as one) -------------------------------------------------------

def proxy_spec(**changes) -> ServiceSpec:
    base = dict(name="edge", image="registry.example.com/edge:3.1.0", port=9443, port_label="https",
                static_port=9443, job_type="system", health=HealthCheck.http("/ping", tls="skip-verify"),
                tls=Tls(), upstreams=(Upstream("payments", local_port=10001),))
    base.update(changes)
    return ServiceSpec(**base)


def test_a_system_job_runs_on_every_client_with_a_static_host_port_in_the_mesh():
    plan = plan_service(proxy_spec(), PROD)
    group = group_of(plan)
    assert plan.job.type == "system" and group.count == 1 and group.spreads == ()
    assert group.network.mode == "bridge"
    assert [(p.label, p.static, p.to) for p in group.network.ports] == [("https", 9443, 9443)]
    assert (group.update.canary, group.update.max_parallel, group.update.auto_promote) == (0, 1, False)
    assert group.services[0].connect.upstreams[0].destination_name == "payments"
    assert group.services[0].canary_tags == ()
    assert plan.job.to_api()["Job"]["Type"] == "system"
    assert api_field_problems(plan.job.to_api()) == []


def test_rejects_in_a_system_job_a_count_and_canaries():
    for pattern, changes in [
        (r"^prod/edge: count = 3: a system job runs one allocation on every eligible client: drop count",
         {"count": 3}),
        (r"^prod/edge: update = 'Update\.canary\(\.\.\.\)': a system job runs on every node and rolls node by node",
         {"update": Update.canary(1)}),
        (r"^edge: job_type = 'batch': ServiceSpec.job_type takes one of 'service', 'system', not str; give one of "
         r"'service', 'system'$", {"job_type": "batch"}),
    ]:
        with pytest.raises(HashistackError, match=pattern):
            plan_service(proxy_spec(**changes), PROD)


def test_an_upstream_must_be_a_consul_service_of_the_environment(monkeypatch):
    import types

    import stacks.apps as apps

    caller, target = types.ModuleType("stacks.apps.a"), types.ModuleType("stacks.apps.b")
    caller.service = lambda env: spec(name="a", upstreams=(Upstream("b", local_port=9091),))
    target.service = lambda env: spec(name="b", registration="nomad", tls=None, health=None)
    monkeypatch.setattr(apps, "service_modules", lambda: [caller, target])
    with pytest.raises(HashistackError, match=r"^dev/a: upstreams\[b\]\.service = 'b': b is registered in Nomad's own "
                                              r"catalogue \(registration='nomad'\), outside the mesh"):
        apps.services(DEV)
    caller.service = lambda env: spec(name="a", upstreams=(Upstream("nope", local_port=9091),))
    with pytest.raises(HashistackError, match=r"^dev/a: upstreams\[nope\]\.service = 'nope': no service of environment "
                                              r"'dev' is registered under this name; use one of \['a', 'b'\]"):
        apps.services(DEV)
