"""The escape hatch: ``ServiceSpec(customize=...)`` changes the built job before validation, so
what it writes is checked like the rest, and it cannot change who the job is."""

from __future__ import annotations

import dataclasses
import json

import pytest

from hashistack import HashistackError
from hashistack import nomad as n
from hashistack.service import ServiceSpec, VaultSecret, plan_service
from stacks.environments import DEV

IMAGE = "registry.example.com/team/web:1.0.0"


def planned(customize, **props):
    return plan_service(ServiceSpec(name="web", image=IMAGE, customize=customize, **props), DEV)


def with_task(job: n.Job, **changes) -> n.Job:
    (group,) = job.groups
    (task,) = group.tasks
    return dataclasses.replace(job, groups=(dataclasses.replace(group, tasks=(dataclasses.replace(task, **changes),)),))


def test_what_customize_changes_is_deployed():
    plan = planned(lambda job: dataclasses.replace(job, priority=70, meta={**job.meta, "team": "payments"}))
    doc = json.loads(plan.jobspec)["Job"]
    assert doc["Priority"] == 70 and doc["Meta"]["team"] == "payments" and doc["Meta"]["environment"] == "dev"


def test_a_template_customize_adds_goes_through_the_same_vault_proof():
    secret = VaultSecret.kv("web/config", mount_at="/app/secrets.json")
    read = '{{ with secret `kv/data/dev/ledger/config` }}{{ .Data.data.key }}{{ end }}'

    def in_local(job):
        task = job.groups[0].tasks[0]
        return with_task(job, templates=(*task.templates, n.Template(destination="local/leak.txt", data=read)))

    with pytest.raises(HashistackError, match=r"a template carrying secrets renders under secrets/"):
        planned(in_local, secrets=(secret,))

    def ungranted(job):
        task = job.groups[0].tasks[0]
        return with_task(job, templates=(*task.templates, n.Template(destination="secrets/x", perms="0400", data=read)))

    with pytest.raises(HashistackError, match=r"^dev/web: template reads Vault path 'kv/data/dev/ledger/config' "
                                              r"\(read\), but policy 'svc-web' does not grant it"):
        planned(ungranted, secrets=(secret,))


@pytest.mark.parametrize("change, key", [
    (lambda job: dataclasses.replace(job, id="ledger"), "id"),
    (lambda job: dataclasses.replace(job, namespace="payments"), "namespace"),
    (lambda job: dataclasses.replace(job, groups=(dataclasses.replace(
        job.groups[0], services=(dataclasses.replace(job.groups[0].services[0], name="ledger"),)),)), "services"),
    (lambda job: dataclasses.replace(job, groups=(dataclasses.replace(
        job.groups[0], network=n.Network(mode="host")),)), "networks"),
    (lambda job: with_task(job, vault=n.VaultBlock(role="ledger")), "vault"),
])
def test_customize_cannot_change_who_the_job_is(change, key):
    with pytest.raises(HashistackError, match=rf"^dev/web: customize = \"changes the job's {key}\": the job's {key} "
                                              r"follows from the spec, which the access layer reads too"):
        planned(change)


def test_customize_returns_a_job():
    with pytest.raises(HashistackError, match=r"^dev/web: customize = 'dict': return the job, changed"):
        planned(lambda job: {"ID": "web"})
