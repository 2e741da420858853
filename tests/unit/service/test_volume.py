"""A host volume, the option built on the contribution model: what the job requests and mounts,
what the clients offer and create at boot, and where Nomad's scheduler can place it (the
placement stand-in of tests/support/nomad_rules.py, from Nomad v1.10.2's HostVolumeChecker)."""

from __future__ import annotations

import dataclasses
import json

import pytest

from hashistack import ClientHostVolume, HashistackError
from hashistack.cluster.boot import HOST_VOLUMES_DIR, node_boots
from hashistack.cluster.ports import Role
from hashistack.cluster.secrets import ClusterSecrets
from hashistack.nomad.api_fields import api_problems
from hashistack.service import ConfigFile, ServiceSpec, plan_service
from hashistack.service.volume import Volume
from stacks.environments import DEV, PROD

from tests.support import nomad_rules
from tests.support.hcl import parse

IMAGE = "registry.example.com/team/web:1.0.0"
CACHE = ClientHostVolume(name="cache", owner="65532:65532", mode="0750")


def with_volumes(env, *volumes):
    return dataclasses.replace(env, clients=dataclasses.replace(env.clients, host_volumes=volumes))


def web(env, *options, **props):
    props.setdefault("user", "65532:65532")
    return plan_service(ServiceSpec(name="web", image=IMAGE, options=options, **props), env)


def test_the_job_requests_the_volume_and_mounts_it():
    env = with_volumes(DEV, CACHE)
    plan = web(env, Volume.host("cache", mount_at="/var/cache/web"))
    doc = json.loads(plan.jobspec)["Job"]
    group = doc["TaskGroups"][0]
    assert group["Volumes"] == {"cache": {"Name": "cache", "Type": "host", "Source": "cache", "ReadOnly": False}}
    assert group["Tasks"][0]["VolumeMounts"] == [
        {"Volume": "cache", "Destination": "/var/cache/web", "ReadOnly": False, "PropagationMode": "private"}]
    assert api_problems({"Job": doc}, env.nomad.version) == []


def _client(env) -> nomad_rules.Client:
    """A client of ``env`` as the scheduler sees its host volumes: from the rendered agent config
    and the directories its boot creates."""
    boot = node_boots(env, ClusterSecrets.under(f"/hashistack/{env.name}"))[Role.NOMAD_CLIENT].cloud_init
    config = parse(next(f.content for f in boot.files if f.path == "/etc/nomad.d/nomad.hcl"))
    client = nomad_rules.Client(name="client-0", datacenter=env.nomad.datacenter, region=env.nomad.region)
    nomad_rules.host_volumes(client, config, {d.path for d in boot.directories})
    return client


def test_the_clients_offer_the_volume_and_create_its_directory_with_its_owner():
    env = with_volumes(DEV, CACHE)
    boot = node_boots(env, ClusterSecrets.under("/hashistack/dev"))[Role.NOMAD_CLIENT].cloud_init
    config = parse(next(f.content for f in boot.files if f.path == "/etc/nomad.d/nomad.hcl"))
    assert config["client"][0]["host_volume"] == [{"cache": {"path": f"{HOST_VOLUMES_DIR}/cache", "read_only": False,
                                                            "__is_block__": True}}]
    assert f"install -d -m 0750 -o 65532 -g 65532 {HOST_VOLUMES_DIR}/cache" in boot.script()
    servers = node_boots(env, ClusterSecrets.under("/hashistack/dev"))[Role.NOMAD_SERVER].cloud_init
    assert "host_volume" not in next(f.content for f in servers.files if f.path == "/etc/nomad.d/nomad.hcl")


def test_the_scheduler_places_the_service_only_where_the_volume_is_offered():
    env = with_volumes(DEV, CACHE)
    job = json.loads(web(env, Volume.host("cache", mount_at="/var/cache/web")).jobspec)["Job"]
    group = job["TaskGroups"][0]
    assert nomad_rules.volume_problems(group, _client(env)) == []
    assert nomad_rules.volume_problems(group, _client(DEV)) == ["host volume 'cache' (volume cache) is not offered"]
    read_only = with_volumes(DEV, dataclasses.replace(CACHE, read_only=True))
    assert nomad_rules.volume_problems(group, _client(read_only)) == [
        "host volume 'cache' is offered read-only and volume cache mounts it read-write"]


def test_the_apps_environments_are_unchanged_without_volumes():
    for env in (DEV, PROD):
        boot = node_boots(env, ClusterSecrets.under(f"/hashistack/{env.name}"))[Role.NOMAD_CLIENT].cloud_init
        assert HOST_VOLUMES_DIR not in boot.script()


@pytest.mark.parametrize("env, option, props, message", [
    (DEV, Volume.host("cache", mount_at="/var/cache/web"), {},
     "options[Volume(cache)] = 'cache': the clients of 'dev' offer no host volume of this name (none), so Nomad "
     "could place the service nowhere: declare ClientPool(host_volumes=(ClientHostVolume('cache', owner=...),)) in "
     "the environment"),
    (with_volumes(DEV, dataclasses.replace(CACHE, read_only=True)), Volume.host("cache", mount_at="/var/cache/web"), {},
     "options[Volume(cache)].read_only = False: the clients offer this volume read-only, and Nomad places a "
     "read-write mount of it nowhere: mount it with read_only=True"),
    (with_volumes(DEV, CACHE), Volume.host("cache", mount_at="/var/cache/web"), {"user": "1000:1000"},
     "options[Volume(cache)].read_only = False: the directory is owned by 65532:65532 (mode 0750) and the task runs "
     "as 1000:1000, so it could not write there: give the volume owner='1000:1000' in ClientHostVolume (with a mode "
     "its owner may write), or mount it read-only"),
    (with_volumes(DEV, CACHE), Volume.host("cache", mount_at="cache"), {},
     "options[Volume(cache)].mount_at = 'cache': use an absolute container directory, e.g. '/var/cache/app'"),
    (with_volumes(DEV, CACHE), Volume.host("cache", mount_at="/app/config"),
     {"config_files": (ConfigFile.inline("a", mount_at="/app/config/app.conf"),)},
     "options[Volume(cache)].mount_at = '/app/config': config_files[app.conf].mount_at mounts this container "
     "directory too: give each its own directory"),
    (with_volumes(DEV, CACHE), Volume.host("cache", mount_at="/local/cache"), {},
     'job "web" > group "web" > task "web": volume_mount[0].destination = \'/local/cache\': use an absolute '
     "container path outside /alloc, /local and /secrets, e.g. '/var/lib/app'"),
])
def test_a_volume_the_service_cannot_use_is_refused(env, option, props, message):
    with pytest.raises(HashistackError) as error:
        web(env, option, **props)
    assert str(error.value) == f"{env.name}/web: {message}"


def test_one_host_volume_mounted_twice_is_one_request_read_write_if_any_mount_is():
    env = with_volumes(DEV, CACHE)
    plan = web(env, Volume.host("cache", mount_at="/var/a"), Volume.host("cache", mount_at="/var/b", read_only=True))
    group = plan.job.groups[0]
    assert [(v.name, v.source, v.read_only) for v in group.volumes] == [("cache", "cache", False)]
    assert [(m.destination, m.read_only) for m in group.tasks[0].volume_mounts] == [("/var/a", False), ("/var/b", True)]


@pytest.mark.parametrize("owner, mode, user, writes", [
    ("65532:65532", "0750", "65532:65532", True), ("65532:65532", "0550", "65532:65532", False),
    ("65532:65532", "0750", "65532:1000", True), ("0:65532", "0770", "65532:65532", True),
    ("0:65532", "0750", "65532:65532", False), ("0:0", "0700", "0:0", True),
])
def test_the_write_check_reads_the_owner_and_the_mode(owner, mode, user, writes):
    env = with_volumes(DEV, ClientHostVolume(name="cache", owner=owner, mode=mode))
    volume = Volume.host("cache", mount_at="/var/cache/web")
    if writes:
        assert web(env, volume, user=user).job.groups[0].volumes
    else:
        with pytest.raises(HashistackError, match="so it could not write there"):
            web(env, volume, user=user)


def test_a_read_write_mount_needs_the_tasks_user():
    with pytest.raises(HashistackError, match=r"read_only = False: whether the task can write there depends on the "
                                              r"user it runs as, which the image decides unless the service says"):
        plan_service(ServiceSpec(name="web", image=IMAGE, options=(Volume.host("cache", mount_at="/var/c"),)),
                     with_volumes(DEV, CACHE))


def test_customize_may_not_add_a_volume_the_option_did_not_check():
    from hashistack import nomad as n

    def add(job):
        group = dataclasses.replace(job.groups[0], volumes=(n.HostVolume(name="data", source="nope"),))
        return dataclasses.replace(job, groups=(group,))

    with pytest.raises(HashistackError, match=r"customize = \"changes the job's volumes\""):
        web(with_volumes(DEV, CACHE), customize=add)


def test_a_client_whose_volume_directory_is_missing_does_not_start():
    """client/client.go setupNode (v1.10.2) stats every host_volume path: one missing fails the agent."""
    client = nomad_rules.Client(name="c", datacenter="dc1", region="global")
    config = {"client": [{"host_volume": [{"cache": {"path": "/srv/nomad-volumes/cache"}}]}]}
    nomad_rules.host_volumes(client, config, set())
    assert client.down and "failed to validate volume cache" in client.down and client.host_volumes == {}
    job = {"Region": "global", "Datacenters": ["dc1"], "TaskGroups": [{"Name": "g", "Count": 1, "Tasks": []}]}
    (placement,) = nomad_rules.placements(job, [client])
    assert placement.feasible == 0 and "the agent does not run" in placement.reasons[0]


@pytest.mark.parametrize("volume, message", [
    (ClientHostVolume(name="Cache"), "host_volumes[Cache].name = 'Cache': use lowercase letters"),
    (ClientHostVolume(name="cache", owner="app"), "host_volumes[cache].owner = 'app': use the numeric 'uid:gid'"),
    (ClientHostVolume(name="cache", mode="0777"), "host_volumes[cache].mode = '0777': use octal permissions that "
                                                  "others cannot write"),
    (ClientHostVolume(name="cache", mode="750"), "host_volumes[cache].mode = '750': use octal permissions"),
    (ClientHostVolume(name="cache", owner="4294967295:0"), "host_volumes[cache].owner = '4294967295:0': use the "
                                                           "numeric"),
])
def test_a_client_host_volume_is_checked_with_the_environment(volume, message):
    with pytest.raises(HashistackError, match=rf'^environment "dev": clients\.{message}'.replace("[", r"\[")
                       .replace("]", r"\]").replace("(", r"\(")):
        with_volumes(DEV, volume)
