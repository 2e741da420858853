"""Adding a service is one module and adding an environment is one entry: in a copy of the project,
add both, then synthesize and run the tests other than the snapshots, with no other edit.

The snapshots are left out on purpose: a new service or environment changes them, and updating
them is the one deliberate, reviewed step (README, "Reviewing changes in a pull request")."""

from __future__ import annotations

import json
import sys

import pytest

from hashistack.ingress import PROXY_NAME
from hashistack.terraform_escape import unescape
from stacks.apps import services
from stacks.environments import ENVIRONMENTS

from tests.support.project_copy import copy_project, run

pytestmark = pytest.mark.integration

# A service a team would add: its own module, with settings per tier (the new environment
# inherits its tier's, like the existing services).
NEW_SERVICE = '''\
"""inventory: an HTTP service with one secret file, reached by users and calling ledger."""

from __future__ import annotations

from dataclasses import dataclass

from hashistack import Environment, Tier
from hashistack.service import HealthCheck, Ingress, ServiceSpec, Upstream, VaultSecret

from ._settings import settings_for

NAME = "inventory"


@dataclass(frozen=True, kw_only=True)
class Settings:
    count: int
    memory_mib: int


SETTINGS = {
    Tier.DEVELOPMENT: Settings(count=1, memory_mib=128),
    Tier.STAGING: Settings(count=2, memory_mib=256),
    Tier.PRODUCTION: Settings(count=3, memory_mib=512),
}


def service(env: Environment) -> ServiceSpec:
    s = settings_for(__name__, SETTINGS, env)
    return ServiceSpec(
        name=NAME,
        image="registry.example.com/platform/inventory:2.0.1",
        port=8081,
        count=s.count,
        secrets=(VaultSecret.kv("inventory/config", mount_at="/app/secrets.json"),),
        health=HealthCheck.http("/healthz"),
        cpu_mhz=250, memory_mib=s.memory_mib,
        upstreams=(Upstream("ledger", local_port=9092),),
        ingress=Ingress.https(f"inventory.{env.ingress.public_domain}") if env.ingress else None,
    )
'''

# An environment a team would add: one more Environment, appended to ENVIRONMENTS.
NEW_ENVIRONMENT = '''

QA = Environment(
    name="qa",
    tier=Tier.STAGING,
    region="eu-central-1",
    account_id="444444444444",
    domain="qa.example.internal",
    tags={**_TAGS, "cost-center": "quality"},
    network=NetworkSettings(vpc_cidr="10.40.0.0/16", az_count=3, operator_cidrs=("10.200.0.0/24",)),
    nomad=NomadSettings(address="https://nomad.qa.example.internal:4646", server_count=3),
    consul=ConsulSettings(address="https://consul.qa.example.internal:8501", server_count=3),
    vault=VaultSettings(address="https://vault.qa.example.internal:8200", server_count=3,
                        audit_devices=("file", "syslog"), nomad_ca_pem_path="stacks/pki/qa-cluster-ca.pem",
                        login_methods=_logins("qa")),
    clients=ClientPool(instance_type="m6i.large", min_size=2, max_size=4),
    machine_image=_IMAGE,
    state=S3State(bucket="example-tfstate-qa", lock_table="example-tfstate-lock-qa",
                  kms_key_id="arn:aws:kms:eu-central-1:444444444444:alias/hashistack-tfstate"),
)

ENVIRONMENTS = (*ENVIRONMENTS, QA)
'''

def _proxy_upstreams(jobs: dict) -> dict[str, int]:
    """The ingress proxy's upstreams in a synthesized service stack: service -> loopback port."""
    for job in jobs.values():
        doc = json.loads(unescape(job["jobspec"]))["Job"]
        if doc["ID"] == PROXY_NAME:
            (service,) = doc["TaskGroups"][0]["Services"]
            return {u["DestinationName"]: u["LocalBindPort"]
                    for u in service["Connect"]["SidecarService"]["Proxy"]["Upstreams"]}
    raise AssertionError("no ingress proxy job")


def test_a_new_service_and_a_new_environment_need_no_other_edit(tmp_path):
    project = copy_project(tmp_path / "project")
    apps = project / "stacks" / "apps"
    existing = sorted(p for p in apps.glob("*.py") if not p.name.startswith("_"))
    (apps / "inventory.py").write_text(NEW_SERVICE)
    environments = project / "stacks" / "environments.py"
    environments.write_text(environments.read_text() + NEW_ENVIRONMENT)
    # the new environment's cluster CA (public); the existing services inherit their staging settings
    pki = project / "stacks" / "pki"
    (pki / "qa-cluster-ca.pem").write_bytes((pki / "uat-cluster-ca.pem").read_bytes())
    assert existing, "the app has service modules"

    # main.py as `make synth` runs it, for the layers a service lives in (its job, its Vault and
    # Consul access); the inner suite below synthesizes every stack, qa-infra included
    names = [*(e.name for e in ENVIRONMENTS), "qa"]
    selected = [*names, *(f"{name}-vault" for name in names)]
    synth = run([sys.executable, "main.py"], project, CDKTF_OUTDIR=str(tmp_path / "out"),
                HASHISTACK_STACKS=",".join(selected))
    assert synth.returncode == 0, synth.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "out" / "stacks").iterdir()) == sorted(selected)
    qa_vault = (tmp_path / "out" / "stacks" / "qa-vault" / "cdk.tf.json").read_text()
    assert '"svc-inventory"' in qa_vault  # the new service's Vault policy, in the new environment
    for name in ("dev", "qa", "prod"):
        jobs = json.loads((tmp_path / "out" / "stacks" / name / "cdk.tf.json").read_text())["resource"]["nomad_job"]
        assert any('"ID":"inventory"' in job["jobspec"].replace(" ", "") for job in jobs.values()), name
    # the newcomer is routed, and the routes already there keep their loopback ports
    for env in (e for e in ENVIRONMENTS if e.ingress is not None):
        out = json.loads((tmp_path / "out" / "stacks" / env.name / "cdk.tf.json").read_text())["resource"]["nomad_job"]
        before = {r.service: r.local_port for r in services(env).routes}
        after = _proxy_upstreams(out)
        assert "inventory" in after and {name: after[name] for name in before} == before, env.name

    # -rA: every passed test is listed by its id
    tests = run([sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider", "-m", "not integration",
                 "--ignore=tests/stacks/test_snapshots.py"], project)
    assert tests.returncode == 0, tests.stdout[-6000:] + tests.stderr[-2000:]
    summary = tests.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
    # the new environment and service are in the parametrized cases that passed, not only in the app
    passed = [line for line in tests.stdout.splitlines() if line.startswith("PASSED ")]
    assert any("[qa]" in line for line in passed) and any("[qa-infra]" in line for line in passed), passed[:20]


def test_the_trial_service_and_environment_are_not_already_in_the_app():
    from stacks.apps import service_names
    from stacks.environments import ENVIRONMENTS

    assert "inventory" not in service_names()
    assert "qa" not in {e.name for e in ENVIRONMENTS}
