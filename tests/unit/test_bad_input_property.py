"""Bad input never reaches a plan, fuzzed with Hypothesis.

Hypothesis builds service specs and environments the way people write them: mostly right, with one
or two fields wrong in the ways they get them wrong (wrong types, values out of range, names with
whitespace and control characters, platform ports, signals that do not exist, Vault reads written
with every quoting form, two services of one name, upstreams to services that do not exist). Each
case is run the way ``make synth`` runs the app (the specs, then the environment's catalogue, which
plans every service) and must end in exactly one of two ways:

- the library refuses it with its own error (:class:`~hashistack.HashistackError`), one line that
  names where, the field and the value; or
- what it built passes every rule the project encodes, checked here again on the result: Nomad's
  job rules, the Vault grant proof and policy lint, the cluster's port matrix, Nomad's signals and
  the names' own grammar.

No third outcome: any other exception fails the test with the case that raised it.

Runs reproducibly in ``make test`` (the ``ci`` profile: a fixed seed, no example database). Run it
longer with a fresh seed each time::

    HYPOTHESIS_PROFILE=explore .venv/bin/python -m pytest tests/unit/test_bad_input_property.py

(``HYPOTHESIS_EXAMPLES=N`` sets the number of cases; the explore profile keeps the failures it finds
in ``.hypothesis/``, which git ignores, and replays them first on the next run.)
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re

import pytest
from hypothesis import HealthCheck as Health
from hypothesis import given, settings
from hypothesis import strategies as st

from hashistack import HashistackError
from hashistack._validate import is_dns_name
from hashistack import nomad as n
from hashistack.catalogue import EnvironmentServices
from hashistack.cluster.ports import PORT_MATRIX
from hashistack.consul.intentions import Upstream
from hashistack.environment import Environment, check_environments
from hashistack.nomad import signal_problem
from hashistack.nomad.vault_calls import vault_calls
from hashistack.service import (
    ConfigFile,
    HealthCheck,
    Ingress,
    OnChange,
    ServiceSpec,
    Tls,
    Update,
    VaultSecret,
)
from hashistack.service.plan import verify_grants
from hashistack.service.volume import Volume
from stacks.environments import DEV, ENVIRONMENTS, PROD, UAT

settings.register_profile(
    "ci", max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "1000")), derandomize=True, database=None,
    deadline=None, print_blob=False, suppress_health_check=[Health.too_slow, Health.data_too_large])
settings.register_profile(
    "explore", max_examples=int(os.environ.get("HYPOTHESIS_EXAMPLES", "5000")), derandomize=False,
    deadline=None, suppress_health_check=[Health.too_slow, Health.data_too_large])
PROFILE = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

IMAGE = "registry.example.com/team/web:1.4.2"
LABEL = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")
ENV = {env.name: env for env in ENVIRONMENTS}
SPEC_FIELDS = {f.name for f in dataclasses.fields(ServiceSpec)}
# what ``customize`` may write wrong is reported in the job model's own fields (``job "web": priority``)
JOB_FIELDS = {f.name for cls in vars(n).values() if dataclasses.is_dataclass(cls) for f in dataclasses.fields(cls)}
ENV_FIELDS = {f.name for f in dataclasses.fields(Environment)}

# --- names, the way they go wrong ---------------------------------------------------------------

_STRAY = [" ", "\n", "\t", "\r", "\x00", "\x7f", "\u200b", "\u00e9", "_", ".", "/", ":", "A", "-", "\u212a"]


@st.composite
def _mangled(draw, good: str) -> str:
    """``good`` with a stray character put in, at the start, the end or inside."""
    at = draw(st.sampled_from([0, len(good), max(1, len(good) // 2)]))
    return good[:at] + draw(st.sampled_from(_STRAY)) + good[at:]


def names(good: str) -> st.SearchStrategy:
    return st.one_of(st.just(good), _mangled(good), st.sampled_from(["", "x" * 64, good.upper()]),
                     st.text(max_size=12))


# --- the props of a service: what people write right, and what they write wrong ------------------

def _host(env: Environment) -> str:
    assert env.ingress is not None
    return f"web.{env.ingress.public_domain}"


RAW_READS = [
    "{{ with secret `secret/data/%s/web/config` }}{{ .Data.data.password }}{{ end }}",
    '{{ with secret "secret/data/%s/ledger/config" }}{{ .Data.data.password }}{{ end }}',
    "{{ range secrets `secret/metadata/%s/` }}{{ . }}{{ end }}",
    "{{with secret `secret/data/%s/web/config`}}x{{end}}",
    '{{- with secret (printf "secret/data/%s/%%s" "web/config") -}}x{{- end -}}',
]


def good_props(env: Environment) -> dict[str, list]:
    """For each prop, values a user might rightly write in ``env``."""
    ingress = [None] if env.ingress is None else [None, Ingress.https(_host(env)),
                                                  Ingress.https(_host(env), path="/api")]
    return {
        "port": [8080, 8443, 9000, 3000],
        "count": [None, 2, 3] if env.is_production else [None, 1, 2],
        "extra_ports": [{}, {"metrics": 9100}],
        "config_files": [(), (ConfigFile.inline("level = info\n", mount_at="/app/config/app.conf"),),
                                         (ConfigFile.inline('id = {{ env "NOMAD_ALLOC_ID" }}\n',
                                                            mount_at="/etc/web/web.conf"),)],
        "secrets": [(), (VaultSecret.kv("web/config", mount_at="/app/secrets/config.json"),),
                                    (VaultSecret.kv_env("web/db", env={"DB_PASSWORD": "password"}),)],
        "tls": [None, Tls(), Tls(mount_dir="/srv/tls", ttl_h=24)],
        "health": [None, HealthCheck.http("/health", tls="skip-verify"),
                                   HealthCheck.http("/ready", interval_s=5, tls="plain")],
        "update": [None, Update.rolling(1, min_healthy_time_s=5), Update.canary(1)],
        "env": [{}, {"LOG_LEVEL": "info"}, {"ALLOC": "${NOMAD_ALLOC_ID}"}],
        "user": [None, "65532:65532", "1000"],
        "reloads_on": [None, "SIGHUP", "SIGUSR1"],
        "kill_signal": ["SIGTERM", "SIGINT", "SIGQUIT"],
        "upstreams": [(), (Upstream("ledger", local_port=9091),)],
        "ingress": ingress,
        "tags": [(), ("team-a",), ("team-a", "v1")],
        "memory_mib": [64, 256, 1024],
        "cpu_mhz": [100, 500, 2000],
        "registration": ["consul"],
        "customize": [None, lambda job: dataclasses.replace(job, priority=70)],
    }


def bad_props(env: Environment) -> dict[str, st.SearchStrategy]:
    """For each prop, values people write wrong (of the wrong type, out of range, colliding)."""
    proxy = env.ingress.proxy_port if env.ingress else 8443
    matrix = sorted({p.from_port for p in PORT_MATRIX} | {p.to_port for p in PORT_MATRIX})
    any_type = st.sampled_from(["3", 3.5, True, None, ["a"], {"a": 1}, b"x", -1])
    domain = env.ingress.public_domain if env.ingress else "example.com"
    return {
        "name": names("web"),
        "image": st.one_of(st.sampled_from(["registry.example.com/team/web:latest", "registry.example.com/team/web",
                                            "", "web:1.0\n", "web: 1.0"]), any_type),
        "port": st.one_of(st.sampled_from([0, -1, 65536, 70000, 20000, 31999, "8080", 8080.0]), any_type),
        "static_port": st.one_of(st.sampled_from([proxy, *matrix, 0, 65536, 8080, "8080"]), any_type),
        "port_label": st.one_of(names("http"), st.sampled_from(["grpc", "metrics"])),
        "extra_ports": st.sampled_from([{"http": 9100}, {"metrics": 8080}, {"metrics": 0}, {"met rics": 9100},
                                        {"metrics": "9100"}, {1: 9100}, [("metrics", 9100)]]),
        "count": st.one_of(st.sampled_from([0, -2, 10_001, "3", 2.0, True]), any_type),
        "args": st.sampled_from([["serve"], "serve", ("serve", 1)]),
        "config_files": st.one_of(
            st.sampled_from(RAW_READS).map(lambda t: (ConfigFile.inline(t % env.name, mount_at="/app/config/a.conf"),)),
            st.sampled_from([(ConfigFile.inline("a", mount_at="/"),), (ConfigFile.inline("a", mount_at="app.conf"),),
                             (ConfigFile.inline("a", mount_at="/app/../etc/passwd"),),
                             (ConfigFile.inline("a", mount_at="/app/c/a.conf"),
                              ConfigFile.inline("b", mount_at="/app/c/a.conf")),
                             (ConfigFile.inline("a", mount_at="/app/c/a.conf",
                                                on_change=OnChange.signal("SIGFOO")),),
                             [ConfigFile.inline("a", mount_at="/app/c/a.conf")], ("a = 1",)])),
        "secrets": st.one_of(
            st.sampled_from(RAW_READS).map(
                lambda t: (VaultSecret.kv("web/config", mount_at="/app/s/config", template=t % env.name),)),
            st.sampled_from([(VaultSecret.kv("secret/data/web", mount_at="/app/s/a.json"),),
                             (VaultSecret.kv(f"{env.name}/web", mount_at="/app/s/a.json"),),
                             (VaultSecret.kv("../ledger/config", mount_at="/app/s/a.json"),),
                             (VaultSecret.kv("web/config\n", mount_at="/app/s/a.json"),),
                             (VaultSecret.kv("web/config", mount_at="/app/s/a.json"),
                              VaultSecret.kv("web/other", mount_at="/app/s/a.json")),
                             (VaultSecret.kv_env("web/db", env={"1X": "password"}),),
                             (VaultSecret.kv_env("web/db", env={"GOMAXPROCS": "password"}),),
                             (VaultSecret(path="web/db"),), ("web/config",)])),
        "tls": st.sampled_from([Tls(alt_names=("ledger.service.consul",)), Tls(common_name="*.service.consul"),
                                Tls(alt_names=(f"web.{domain}",) * 2), Tls(ttl_h=0), Tls(ttl_h=10**6),
                                Tls(mount_dir="tls"), Tls(mount_dir="/"), Tls(alt_names=["web.service.consul"]),
                                Tls(mount_dir="/app/s")]),
        "health": st.sampled_from([HealthCheck.http("health"), HealthCheck.tcp(), HealthCheck.http("/h", port="grpc"),
                                   HealthCheck.grpc(port="http"), HealthCheck.http("/h", port="nosuch"),
                                   HealthCheck.http("/h", interval_s=0), HealthCheck.http("/h", timeout_s=60),
                                   HealthCheck.http("/h", restart_after=0), HealthCheck.http("/h", grace_s=-1),
                                   HealthCheck(type="http", path="/h", interval_s="10s"), "http"]),  # type: ignore[arg-type]
        "update": st.sampled_from([Update.canary(1, auto_promote=False), Update.canary(0), Update.rolling(0),
                                   Update.rolling(1, min_healthy_time_s=900), Update.rolling(1, progress_deadline_s=5),
                                   Update.blue_green(), "rolling"]),
        "env": st.sampled_from([{"bad key": "v"}, {"A": 1}, {"A": "${FOO}"}, {"A": "${B}", "B": "x"},
                                {"REGISTRY_PASSWORD": "x"}, {"": "x"}, {"A\n": "x"}]),
        "user": st.sampled_from(["root", "65532:", "-1:0", "a:b", 65532, "65532:65532\n"]),
        "reloads_on": st.sampled_from(["SIGFOO", "HUP", "sighup", "SIGKILL", "SIGHUP\n", " SIGHUP", "9"]),
        "kill_signal": st.sampled_from(["SIGFOO", "TERM", "SIGTERM ", "", "SIGNULL"]),
        "kill_timeout_s": st.sampled_from([-1, 10**6, "30s", 0]),
        "upstreams": st.sampled_from([(Upstream("nosuch", local_port=9091),), (Upstream("web", local_port=9091),),
                                      (Upstream("ledger", local_port=8080),), (Upstream("ledger", local_port=25000),),
                                      (Upstream("ledger", local_port=80),), (Upstream("ledger\n", local_port=9091),),
                                      (Upstream("ledger", local_port=9091), Upstream("ledger", local_port=9092)),
                                      (Upstream("ledger", local_port="9091"),), ("ledger",)]),
        "ingress": st.sampled_from([Ingress.https("web.other.org"), Ingress.https(f"a.b.{domain}"),
                                    Ingress.http(f"web.{domain}"), Ingress.https(f"web.{domain}", path="api"),
                                    Ingress.https(f"Web.{domain}"), Ingress.https(f"web.{domain}\n"),
                                    Ingress.https(f"web.{domain}", local_port=25000),
                                    Ingress.https(f"web.{domain}", local_port=4646), f"web.{domain}"]),
        "tags": st.sampled_from([("a\n",), ["a"], ("a", "a"), (1,), ("a b",)]),
        "memory_mib": st.sampled_from([0, -1, 5, "256", 10**9]),
        "memory_max_mib": st.sampled_from([128, 100_000, "512"]),
        "cpu_mhz": st.sampled_from([0, -5, "500", 10**9]),
        "service_name": st.one_of(names("web-svc"), st.sampled_from(["ingress-proxy", "ledger"])),
        "registration": st.sampled_from(["nomad", "k8s", "Consul"]),
        "job_type": st.sampled_from(["system", "batch", "sysbatch"]),
        "sidecar_memory_mib": st.sampled_from([0, 5, "128"]),
        "shutdown_delay_s": st.sampled_from([-1, "5"]),
        "options": st.sampled_from([(Volume.host("cache", mount_at="/var/cache/web"),),
                                    (Volume.host("cache", mount_at="cache"),), ("volume",), [Update.rolling()]]),
        "customize": st.sampled_from([lambda job: "job", lambda job: dataclasses.replace(job, id="other"),
                                      lambda job: dataclasses.replace(job, priority=1000), "priority=70"]),
    }


LEDGER = dict(name="ledger", image="registry.example.com/team/ledger:2.0.1", port=9090, port_label="grpc",
              health=HealthCheck.grpc(tls="plain"))


@st.composite
def service_cases(draw):
    """An environment and the props of its services: ``web`` built from good and bad values, a
    valid ``ledger``, sometimes a second service that collides with ``web``."""
    env = ENV[draw(st.sampled_from(sorted(ENV)))]
    props: dict[str, object] = {"name": "web", "image": IMAGE}
    good = good_props(env)
    for field in draw(st.lists(st.sampled_from(sorted(good)), max_size=8, unique=True)):
        props[field] = draw(st.sampled_from(good[field]))
    bad = bad_props(env)
    for field in draw(st.lists(st.sampled_from(sorted(bad)), max_size=2, unique=True)):
        props[field] = draw(bad[field])
    if props.get("health") is None and env.is_production:
        props.setdefault("health", HealthCheck.http("/health", tls="skip-verify" if props.get("tls") else None))
    services = [props, dict(LEDGER)]
    twin = draw(st.sampled_from([None] * 5 + ["name", "service_name", "ingress"]))
    if twin == "name":
        services.append(dict(name=props["name"], image=IMAGE, port=9000, health=HealthCheck.http("/h")))
    elif twin == "service_name":
        services.append(dict(name="web2", image=IMAGE, service_name=props.get("service_name") or props["name"],
                             health=HealthCheck.http("/h")))
    elif twin == "ingress" and isinstance(props.get("ingress"), Ingress):
        services.append(dict(name="web3", image=IMAGE, ingress=props["ingress"], health=HealthCheck.http("/h")))
    return env.name, services


# --- the two outcomes -----------------------------------------------------------------------------

def assert_own_error(error: HashistackError, fields: set[str]) -> None:
    """One line, shaped ``<where>: <field> = <value>: <fix>`` (or naming a field of ``fields``)."""
    message = str(error)
    assert "\n" not in message and "\r" not in message, f"not one line: {message!r}"
    assert message.isprintable(), f"unprintable characters: {message!r}"
    found = re.search(r": ([A-Za-z_][\w]*)[\w.\[\]{}/'\" -]*? = ", message)
    named = {m for m in re.findall(r"[A-Za-z_]\w*", message) if m in fields}
    assert (found and found.group(1) in fields) or named, f"names no field: {message!r}"


def _reserved(port: int) -> bool:
    return any(p.from_port <= port <= p.to_port for p in PORT_MATRIX)


def assert_plan_is_sound(services: EnvironmentServices) -> None:
    """What the catalogue built passes the project's rules, checked again on the result."""
    env = services.env
    proxy_port = env.ingress.proxy_port if env.ingress else None
    names = [spec.name for spec in services.deployed]
    assert len(set(names)) == len(names)
    for name, plan in services.plans.items():
        job = plan.job
        assert LABEL.fullmatch(job.id) and job.id == name, job.id
        job.validate(where=name, rules=env.tier.policy.job, max_kill_timeout_s=env.nomad.client_max_kill_timeout_s)
        verify_grants(plan, where=name)
        if plan.policy is not None:
            plan.policy.lint(where=name)
        for group in job.groups:
            labels = [p.label for p in group.network.ports]
            assert len(set(labels)) == len(labels), labels
            for port in group.network.ports:
                assert port.to is None or port.to == -1 or 1 <= port.to <= 65535, port
                if port.static is not None:
                    assert 1 <= port.static <= 65535 and not _reserved(port.static), port
                    assert port.static != proxy_port or name == "ingress-proxy", port
            for service in group.services:
                assert LABEL.fullmatch(service.name), service.name
                assert all(t and t.isprintable() and t == t.strip() for t in service.tags), service.tags
            for task in group.tasks:
                assert signal_problem(task.kill_signal, handled=False) is None, task.kill_signal
                assert all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k) for k in task.env), task.env
                for template in task.templates:
                    calls = vault_calls(template.data)
                    if calls:
                        assert template.destination.startswith("secrets/") and template.perms == "0400", template
                    if template.change_mode == "signal":
                        assert signal_problem(template.change_signal, handled=True) is None, template


def run_case(env_name: str, services: list[dict]) -> None:
    env = ENV[env_name]
    try:
        specs = [ServiceSpec(**props) for props in services]  # type: ignore[arg-type]
        built = EnvironmentServices.build(env, specs)
    except HashistackError as error:
        assert_own_error(error, SPEC_FIELDS | JOB_FIELDS | {"services"})
        return
    assert_plan_is_sound(built)


@settings(PROFILE)
@given(service_cases())
def test_a_service_is_refused_in_one_line_or_planned_soundly(case):
    run_case(*case)


# --- environments ---------------------------------------------------------------------------------

def _env_bad(env: Environment) -> dict[str, st.SearchStrategy]:
    net, ingress = env.network, env.ingress
    other = next(e for e in ENVIRONMENTS if e.name != env.name)
    changes = {
        "name": names(env.name).map(lambda v: {"name": v}),
        "region": st.sampled_from(["eu-west-1\n", "europe", "EU-WEST-1", " eu-west-1", "eu-west-12"]).map(
            lambda v: {"region": v}),
        "account_id": st.sampled_from(["12345", "1111111111111", f"{env.account_id}\n", int(env.account_id),
                                       other.account_id]).map(lambda v: {"account_id": v}),
        "domain": st.sampled_from([f"{env.domain}.", env.domain.upper(), "a..b", f"{env.domain}\n", "-x.example",
                                   ""]).map(lambda v: {"domain": v}),
        "tags": st.sampled_from([{"aws:owner": "x"}, {"": "x"}, {"k\n": "v"}, {"k" * 129: "v"}, {"k": 1},
                                 {"k": "v" * 257}]).map(lambda v: {"tags": v}),
        "tier": st.sampled_from(["production", None, 1]).map(lambda v: {"tier": v}),
        "network": st.sampled_from([
            dataclasses.replace(net, vpc_cidr="10.0.0.0/8"), dataclasses.replace(net, vpc_cidr="10.20.0.1/16"),
            dataclasses.replace(net, vpc_cidr="8.8.0.0/16"), dataclasses.replace(net, vpc_cidr=other.network.vpc_cidr),
            dataclasses.replace(net, vpc_cidr=f"{net.vpc_cidr}\n"),
            dataclasses.replace(net, operator_cidrs=("0.0.0.0/0",)),
            dataclasses.replace(net, operator_cidrs=(net.vpc_cidr,)),
            dataclasses.replace(net, operator_cidrs=[*net.operator_cidrs]),
            dataclasses.replace(net, az_count=0), dataclasses.replace(net, az_count="3"),
            dataclasses.replace(net, az_count=7)]).map(lambda v: {"network": v}),
        "nomad": st.sampled_from([
            dataclasses.replace(env.nomad, server_count=2), dataclasses.replace(env.nomad, server_count="3"),
            dataclasses.replace(env.nomad, address=env.nomad.address.replace("https", "http")),
            dataclasses.replace(env.nomad, address=env.nomad.address + "/v1"),
            dataclasses.replace(env.nomad, address=env.nomad.address + "\n"),
            dataclasses.replace(env.nomad, region="Global"), dataclasses.replace(env.nomad, datacenter="dc1\n"),
            dataclasses.replace(env.nomad, version="1.12")]).map(lambda v: {"nomad": v}),
        "vault": st.sampled_from([
            dataclasses.replace(env.vault, kv_mount="secret/"), dataclasses.replace(env.vault, kv_mount="se cret"),
            dataclasses.replace(env.vault, kv_mount="pki-int"), dataclasses.replace(env.vault, kv_max_versions=0),
            dataclasses.replace(env.vault, audit_devices=("file", "file")),
            dataclasses.replace(env.vault, jwt_auth_path="jwt\n")]).map(lambda v: {"vault": v}),
        "clients": st.sampled_from([
            dataclasses.replace(env.clients, min_size=0), dataclasses.replace(env.clients, max_size=0),
            dataclasses.replace(env.clients, instance_type="m6i large")]).map(lambda v: {"clients": v}),
    }
    if ingress is not None:
        arn = ingress.certificate_arn
        changes["ingress"] = st.sampled_from([
            dataclasses.replace(ingress, certificate_arn=arn.replace(env.region, "us-east-1")),
            dataclasses.replace(ingress, certificate_arn=arn.replace(env.account_id, other.account_id)),
            dataclasses.replace(ingress, certificate_arn=arn + "\n"),
            dataclasses.replace(ingress, proxy_port=4646), dataclasses.replace(ingress, proxy_port=20000),
            dataclasses.replace(ingress, proxy_port=80), dataclasses.replace(ingress, proxy_port="8443"),
            dataclasses.replace(ingress, public_domain=ingress.public_domain + "\n"),
            dataclasses.replace(ingress, allowed_cidrs=()),
        ]).map(lambda v: {"ingress": v})
    return changes


@st.composite
def environment_cases(draw):
    base = ENV[draw(st.sampled_from(sorted(ENV)))]
    bad = _env_bad(base)
    changes: dict[str, object] = {}
    for field in draw(st.lists(st.sampled_from(sorted(bad)), max_size=2, unique=True)):
        changes.update(draw(bad[field]))
    return base.name, changes


def assert_environment_is_sound(env: Environment, others: tuple[Environment, ...]) -> None:
    assert LABEL.fullmatch(env.name) and len(env.name) <= 20, env.name
    assert re.fullmatch(r"[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d", env.region), env.region
    assert re.fullmatch(r"\d{12}", env.account_id), env.account_id
    assert is_dns_name(env.domain), env.domain
    assert all(k and k.isprintable() and not k.startswith("aws:") for k in env.tags), env.tags
    vpc = ipaddress.ip_network(env.network.vpc_cidr)
    assert vpc.is_private and 16 <= vpc.prefixlen <= 22
    for other in others:
        if other is not env:
            assert other.name != env.name
            assert not vpc.overlaps(ipaddress.ip_network(other.network.vpc_cidr))
        assert not any(vpc.overlaps(ipaddress.ip_network(c)) for c in other.network.operator_cidrs)
    if env.ingress is not None:
        _, partition, _, region, account, _ = env.ingress.certificate_arn.split(":", 5)
        assert (region, account) == (env.region, env.account_id), env.ingress.certificate_arn
        assert not _reserved(env.ingress.proxy_port), env.ingress.proxy_port
    # a valid environment takes a plain, valid service
    assert_plan_is_sound(EnvironmentServices.build(env, [ServiceSpec(name="web", image=IMAGE,
                                                                     health=HealthCheck.http("/health"))]))


@settings(PROFILE)
@given(environment_cases())
def test_an_environment_is_refused_in_one_line_or_built_soundly(case):
    base, changes = ENV[case[0]], case[1]
    try:
        env = dataclasses.replace(base, **changes)
        apps = tuple(env if e.name == base.name else e for e in ENVIRONMENTS)
        if "name" in changes:
            apps = (*ENVIRONMENTS, env)  # renamed: a new environment beside the app's three
        check_environments(apps)
    except HashistackError as error:
        fields = ENV_FIELDS | {"ENVIRONMENTS"} | {f.name for part in (DEV.network, DEV.nomad, DEV.vault, DEV.clients,
                                                                      DEV.ingress) for f in dataclasses.fields(part)}
        assert_own_error(error, fields)
        return
    assert_environment_is_sound(env, apps)


def test_the_strategies_reach_both_outcomes():
    """The generators are not all bad (some cases plan) nor all good (some are refused)."""
    outcomes = {"refused": 0, "planned": 0}

    @settings(PROFILE, max_examples=60)
    @given(service_cases())
    def count(case):
        try:
            specs = [ServiceSpec(**props) for props in case[1]]  # type: ignore[arg-type]
            EnvironmentServices.build(ENV[case[0]], specs)
        except HashistackError:
            outcomes["refused"] += 1
        else:
            outcomes["planned"] += 1

    count()
    assert outcomes["refused"] >= 5 and outcomes["planned"] >= 5, outcomes


@pytest.mark.parametrize("env", [DEV, UAT, PROD], ids=lambda e: e.name)
def test_the_valid_props_plan_in_every_environment(env):
    """Every good value of the generator plans on its own, so a refusal in the property test is
    the bad value's doing."""
    for field, values in good_props(env).items():
        for value in values:
            props = {"name": "web", "image": IMAGE, field: value}
            if env.is_production:
                props.setdefault("health", HealthCheck.http("/health", tls="skip-verify" if field == "tls" else None))
            if field == "health" and value is None and env.is_production:
                continue
            if field == "tls" and value is not None:
                props["health"] = HealthCheck.http("/health", tls="skip-verify")
            EnvironmentServices.build(env, [ServiceSpec(**props), ServiceSpec(**LEDGER)])  # type: ignore[arg-type]
