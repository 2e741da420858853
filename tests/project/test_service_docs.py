"""The README's service documentation holds: where secret values go and the `vault kv put` lines
that write them, what `tls=` does to the service's port, how to read a key containing `-`, and
that every service module defines what the README says it does."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from hashistack import HashistackError
from hashistack.service import HealthCheck, ServiceSpec, Tls, VaultSecret, plan_service
from stacks.apps import service_modules
from stacks.environments import DEV, PROD

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def spec(**changes) -> ServiceSpec:
    base = dict(name="payments", image="registry.example.com/team/payments:1.4.2", port=8080, count=3,
                secrets=(VaultSecret.kv("payments/config", mount_at="/app/config/secrets.json"),),
                health=HealthCheck.http("/health"), cpu_mhz=500, memory_mib=256)
    base.update(changes)
    return ServiceSpec(**base)


def tasks_templates(plan) -> list[dict]:
    job = json.loads(plan.jobspec)["Job"]
    return [t for g in job["TaskGroups"] for task in g["Tasks"] for t in task.get("Templates", [])]


def checks(plan) -> list[dict]:
    job = json.loads(plan.jobspec)["Job"]
    return [c for g in job["TaskGroups"] for s in g.get("Services", []) for c in s.get("Checks", [])]


def test_every_service_module_defines_name_and_service():
    modules = service_modules()
    assert modules
    for module in modules:
        assert isinstance(module.NAME, str) and re.fullmatch(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", module.NAME)
        assert module.service(PROD).name == module.NAME
    assert len({m.NAME for m in modules}) == len(modules)


def test_the_readme_kv_put_lines_write_the_path_the_service_reads():
    plan = plan_service(spec(), PROD)
    reads = {path for path, capability in plan.template_reads() if capability == "read"}
    assert reads == {f"{PROD.vault.kv_mount}/data/prod/payments/config"}
    puts = re.findall(r"^vault kv put -mount=(\S+) (\S+) ", README, flags=re.M)
    assert ("secret", "prod/payments/config") in puts
    for mount, path in puts:  # `vault kv put -mount=M P` writes M/data/P (KV v2)
        assert mount == PROD.vault.kv_mount and path.startswith("prod/")
    assert "`<kv>/data/<env>/<path>`" in README


def test_tls_makes_the_checks_speak_tls_to_the_port_as_the_check_says():
    with pytest.raises(HashistackError, match=r"health\.tls = None: the service serves TLS: say how the http check "
                                              r"connects"):
        plan_service(spec(tls=Tls(mount_dir="/app/tls")), DEV)
    with_tls = checks(plan_service(spec(tls=Tls(mount_dir="/app/tls"),
                                        health=HealthCheck.http("/health", tls="skip-verify")), DEV))
    plain = checks(plan_service(spec(tls=None), DEV))
    assert [c.get("Protocol") for c in with_tls] == ["https"] and with_tls[0]["TLSSkipVerify"] is True
    assert [c.get("Protocol", "http") for c in plain] == ["http"]
    grpc = checks(plan_service(spec(tls=Tls(), port_label="grpc",
                                    health=HealthCheck.grpc("pay.v1.Pay", tls="skip-verify")), DEV))
    assert grpc[0]["GRPCUseTLS"] is True
    assert "serves TLS on" in README and 'tls="skip-verify"' in README


def test_a_key_with_a_dash_is_read_through_a_template_as_the_readme_shows():
    (example,) = re.findall(r'VaultSecret\.kv\("payments/api", mount_at="(.*?)",\s*template=\'(.*?)\'\)', README)
    mount_at, template = example
    assert template == '{{ index .Data.data "api-key" }}'
    plan = plan_service(spec(secrets=(VaultSecret.kv("payments/api", mount_at=mount_at, template=template),)), DEV)
    (rendered,) = [t for t in tasks_templates(plan) if "payments/api" in t["EmbeddedTmpl"]]
    assert rendered["EmbeddedTmpl"] == ('{{ with secret "secret/data/dev/payments/api" }}'
                                        '{{ index .Data.data "api-key" }}{{ end }}\n')
    # kv_env renders the same index form for such a key.
    env_plan = plan_service(spec(secrets=(VaultSecret.kv_env("payments/api", env={"API_KEY": "api-key"}),)), DEV)
    assert any('API_KEY={{ index .Data.data "api-key" | toJSON }}' in t["EmbeddedTmpl"]
               for t in tasks_templates(env_plan))
