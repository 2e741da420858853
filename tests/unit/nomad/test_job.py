"""The Nomad job model: canonical API JSON, and every validation rule with its message."""

from __future__ import annotations

import dataclasses
import json

import pytest

from hashistack import HashistackError, Tier
from hashistack.nomad import JobRules
from hashistack.nomad import (
    SAME_AS_HOST,
    Check,
    CheckRestart,
    Connect,
    ConsulUpstream,
    DockerAuth,
    DockerConfig,
    ExposePath,
    Job,
    Mount,
    Network,
    Port,
    Resources,
    RestartPolicy,
    Service,
    SidecarTask,
    Spread,
    Task,
    TaskGroup,
    Template,
    UpdateStrategy,
    VaultBlock,
    render_job,
)
from stacks.environments import ENVIRONMENTS

from tests.support.nomad_api import api_field_problems


def make_job(*, count=1, ports=(Port(label="http", to=8080),), checks=None, update=None, templates=(),
             resources=None, mounts=(), spreads=(), vault=None, services=None, name="web", task_name="web",
             driver_ports=("http",), auth=None) -> Job:
    checks = (Check(name="alive", type="http", port="http", path="/health",
                    check_restart=CheckRestart()),) if checks is None else checks
    services = (Service(name=name, port="http", checks=checks),) if services is None else services
    task = Task(
        name=task_name,
        config=DockerConfig(image="example/web:1.0", ports=driver_ports, mounts=mounts, auth=auth),
        resources=resources or Resources(cpu_mhz=500, memory_mib=256),
        templates=templates, vault=vault,
    )
    group = TaskGroup(name=name, count=count, tasks=(task,), network=Network(ports=ports), services=services,
                      update=update or UpdateStrategy(), spreads=spreads)
    return Job(id=name, groups=(group,))


PRODUCTION = Tier.PRODUCTION.policy.job


def rejects(pattern: str, job: Job, *, production: bool = False) -> None:
    with pytest.raises(HashistackError, match=pattern):
        job.validate(where="dev/web", rules=PRODUCTION if production else JobRules())


# --- rendering ----------------------------------------------------------------------------------

def test_renders_api_json_with_sorted_keys_and_nanosecond_durations():
    text = render_job(make_job().validate())
    doc = json.loads(text)
    assert list(doc) == ["Job"]
    assert text == json.dumps(doc, sort_keys=True, separators=(",", ":"))
    group = doc["Job"]["TaskGroups"][0]
    assert group["Update"]["HealthyDeadline"] == 300 * 10**9
    assert group["Services"][0]["Checks"][0]["CheckRestart"] == {"Grace": 30 * 10**9, "IgnoreWarnings": False,
                                                                 "Limit": 3}
    assert group["Networks"] == [{"DynamicPorts": [{"Label": "http", "To": 8080}], "Mode": "host"}]
    assert group["Tasks"][0]["Resources"] == {"CPU": 500, "MemoryMB": 256}


def test_omits_empty_lists_and_maps_but_keeps_false_and_zero():
    doc = make_job().to_api()["Job"]
    task = doc["TaskGroups"][0]["Tasks"][0]
    for absent in ("Templates", "Env", "Identities", "Vault", "User"):
        assert absent not in task
    assert "Spreads" not in doc["TaskGroups"][0] and "Meta" not in doc
    assert doc["TaskGroups"][0]["Update"]["Canary"] == 0
    assert doc["TaskGroups"][0]["Update"]["AutoPromote"] is False


def test_every_emitted_field_is_a_field_of_the_nomad_api_struct():
    job = make_job(templates=(Template(destination="local/a.conf", data="x"),),
                   vault=VaultBlock(role="web"), spreads=(Spread(attribute="${node.datacenter}"),), count=2,
                   update=UpdateStrategy(max_parallel=1, canary=1))
    assert api_field_problems(job.validate().to_api()) == []


def test_the_field_walk_catches_a_misspelt_field():
    doc = make_job().to_api()
    doc["Job"]["TaskGroups"][0]["Tasks"][0]["Resources"]["MemoryMb"] = 1
    assert api_field_problems(doc) == ["Job.TaskGroups[0].Tasks[0].Resources.MemoryMb is not a field of api.Resources"]


# --- rejections ------------------------------------------------------------------------------------

def test_rejects_check_on_undefined_port_label():
    rejects(r'^dev/web: job "web" > group "web": service\[web\]\.check\[alive\]\.port = \'admin\': the check names '
            r'a port label the group does not define; defined: \[\'http\'\]',
            make_job(checks=(Check(name="alive", type="tcp", port="admin"),)))


def test_rejects_service_on_undefined_port_label():
    rejects(r'service\[web\]\.port = \'grpc\': the service names a port label the group does not define',
            make_job(services=(Service(name="web", port="grpc"),)))


def test_rejects_healthy_deadline_not_below_progress_deadline():
    rejects(r'group "web": update\.healthy_deadline_s = 600: must be below progress_deadline_s \(600s\)',
            make_job(update=UpdateStrategy(healthy_deadline_s=600, progress_deadline_s=600)))


def test_rejects_min_healthy_time_not_below_healthy_deadline():
    rejects(r'update\.min_healthy_time_s = 300: must be below healthy_deadline_s \(300s\)',
            make_job(update=UpdateStrategy(min_healthy_time_s=300, healthy_deadline_s=300)))


def test_rejects_more_canaries_than_count():
    rejects(r'update\.canary = 3: use 0 to count \(2\) canaries',
            make_job(count=2, update=UpdateStrategy(canary=3)))


def test_rejects_auto_promote_without_canary():
    rejects(r'update\.auto_promote = True: auto-promotion promotes canaries: set canary >= 1',
            make_job(update=UpdateStrategy(auto_promote=True)))


def test_rejects_max_parallel_above_count():
    rejects(r'update\.max_parallel = 3: use 1 to count \(2\) allocations at a time',
            make_job(count=2, update=UpdateStrategy(max_parallel=3)))


def test_rejects_signal_change_mode_without_signal():
    rejects(r'task "web": template\[local/app\.conf\]\.change_signal = None: change_mode \'signal\' needs '
            r'change_signal',
            make_job(templates=(Template(destination="local/app.conf", data="x", change_mode="signal"),)))


@pytest.mark.parametrize("dest", ["/etc/app.conf", "config/app.conf", "local/../app.conf", "local", "secrets/./x"])
def test_rejects_template_destination_outside_the_task_dir(dest):
    rejects(rf'template\[{dest.replace(".", chr(92) + ".")}\]\.destination = .*: templates render inside the task '
            r'directory: use a relative path under local/, secrets/ or alloc/',
            make_job(templates=(Template(destination=dest, data="x"),)))


def test_rejects_secret_rendered_outside_secrets_dir():
    rejects(r'template\[local/creds\.json\]\.destination = \'local/creds\.json\': a template carrying secrets '
            r'renders under secrets/',
            make_job(vault=VaultBlock(role="web"), templates=(Template(
                destination="local/creds.json", perms="0400",
                data='{{ with secret "secret/data/dev/web" }}{{ .Data.data | toJSON }}{{ end }}'),)))


@pytest.mark.parametrize("perms", ["0644", "0640", "0604"])
def test_rejects_secret_with_loose_perms(perms):
    rejects(rf'template\[secrets/creds\.json\]\.perms = \'{perms}\': a template carrying secrets needs perms 0600 '
            r'or tighter',
            make_job(templates=(Template(destination="secrets/creds.json", perms=perms, data="x", sensitive=True),)))


def test_rejects_vault_template_without_vault_block():
    rejects(r'task "web": vault = None: template secrets/a\.json reads Vault, so the task needs a vault block',
            make_job(templates=(Template(destination="secrets/a.json", perms="0400",
                                         data='{{ with secret "secret/data/a" }}{{ end }}'),)))


def test_rejects_memory_below_ten_mib():
    rejects(r'task "web": resources\.memory_mib = 8: Nomad needs at least 10 MiB',
            make_job(resources=Resources(cpu_mhz=100, memory_mib=8)))


@pytest.mark.parametrize("memory_max", [256, 128])
def test_rejects_memory_max_not_above_memory(memory_max):
    rejects(rf'resources\.memory_max_mib = {memory_max}: must be above memory_mib \(256\)',
            make_job(resources=Resources(cpu_mhz=100, memory_mib=256, memory_max_mib=memory_max)))


def test_rejects_cpu_and_cores_together():
    rejects(r'resources\.cores = 2: set either cpu_mhz or cores, not both',
            make_job(resources=Resources(cpu_mhz=100, cores=2)))


def test_rejects_static_port_with_count_above_one():
    rejects(r'group "web": network\.port\[http\]\.static = 8080: a static host port allows one allocation per '
            r'node, but count = 2',
            make_job(count=2, ports=(Port(label="http", static=8080),), update=UpdateStrategy()))


@pytest.mark.parametrize("port", [0, 65536, -2])
def test_rejects_port_outside_range(port):
    rejects(rf'network\.port\[http\]\.to = {port}: use a port from 1 to 65535 \(or -1: the host port\'s own number\)',
            make_job(ports=(Port(label="http", to=port),)))
    rejects(rf'network\.port\[http\]\.static = {port}: use a port from 1 to 65535$',
            make_job(ports=(Port(label="http", static=port),)))


@pytest.mark.parametrize("bad", ["Web", "web_app", "-web", "a" * 64])
def test_rejects_names_that_are_not_rfc1123_labels(bad):
    with pytest.raises(HashistackError, match=rf'job "{bad}": id = \'{bad}\': use at most 63 lowercase letters'):
        dataclasses.replace(make_job(), id=bad).validate()
    rejects(rf'task "{bad}": name = \'{bad}\': use at most 63 lowercase', make_job(task_name=bad))


def test_rejects_two_mounts_with_the_same_target():
    rejects(r'task "web": config\.mount\.target = \'/app/config\': two mounts share this container path',
            make_job(mounts=(Mount(source="local/a", target="/app/config"),
                             Mount(source="secrets/b", target="/app/config"))))


def test_rejects_literal_registry_password():
    rejects(r'config\.auth\.password = \'<redacted>\': registry credentials come from Vault',
            make_job(auth=DockerAuth(username="${REGISTRY_USERNAME}", password="hunter2")))


def test_rejects_driver_port_not_in_network():
    rejects(r'config\.ports = \'grpc\': the driver maps a port label the group does not define',
            make_job(driver_ports=("http", "grpc")))


def test_production_rejects_single_allocation():
    rejects(r'group "web": count = 1: production runs at least 2 allocations', make_job(count=1), production=True)


def test_production_rejects_service_without_health_check():
    rejects(r'group "web": service\[web\]\.checks = \[\]: production services need a health check',
            make_job(count=2, checks=(), spreads=(Spread(attribute="${node.datacenter}"),)), production=True)


def test_production_rejects_no_auto_revert():
    rejects(r'update\.auto_revert = False: production deployments revert automatically',
            make_job(count=2, update=UpdateStrategy(auto_revert=False), spreads=(Spread(attribute="x"),)),
            production=True)


def test_production_rejects_no_spread():
    rejects(r'spreads = \[\]: production spreads allocations across availability zones', make_job(count=2),
            production=True)


def test_production_accepts_a_complete_job():
    job = make_job(count=2, spreads=(Spread(attribute="${node.datacenter}"),))
    assert job.validate(rules=PRODUCTION) is job


# --- the API struct table (generated from Nomad's api/*.go per version) -----------------------

def test_api_tables_come_from_each_supported_version():
    from hashistack.nomad.api_fields import SUPPORTED_VERSIONS, api_structs, table_source

    assert SUPPORTED_VERSIONS == ("1.9", "1.10", "1.11")
    for version in SUPPORTED_VERSIONS:
        assert f"v{version}." in table_source(version) and "api/*.go" in table_source(version)
        structs = api_structs(version)
        assert structs["CheckRestart"] == {"Grace": "*time.Duration", "IgnoreWarnings": "bool", "Limit": "int"}
        assert structs["WaitConfig"] == {"Max": "*time.Duration", "Min": "*time.Duration"}
    # Fields that differ between the versions are where they are in Nomad's source.
    assert "Once" not in api_structs("1.9")["Template"] and "Once" in api_structs("1.10")["Template"]
    assert "Secrets" not in api_structs("1.10")["Task"] and "Secrets" in api_structs("1.11")["Task"]


def test_every_emitted_key_and_value_type_decodes_in_every_supported_version():
    from tests.support.nomad_api import api_field_problems_all_versions

    job = make_job(templates=(Template(destination="local/a.conf", data="x", uid=65532, gid=65532),),
                   vault=VaultBlock(role="web"))
    assert api_field_problems_all_versions(job.validate().to_api()) == {"1.9": [], "1.10": [], "1.11": []}


def test_the_type_walk_catches_wrong_json_types():
    doc = make_job().validate().to_api()
    group = doc["Job"]["TaskGroups"][0]
    group["Count"] = "2"
    group["Services"][0]["Checks"][0]["Interval"] = 1.5
    group["Spreads"] = [{"Attribute": "x", "Weight": 300}]
    group["Tasks"][0]["Templates"] = [{"Once": True}]
    assert api_field_problems(doc, "1.10") == [
        "Job.TaskGroups[0].Count = '2': api type int takes an integer that fits int",
        "Job.TaskGroups[0].Services[0].Checks[0].Interval = 1.5: api type time.Duration takes integer nanoseconds",
        "Job.TaskGroups[0].Spreads[0].Weight = 300: api type int8 takes an integer that fits int8",
    ]
    assert "Job.TaskGroups[0].Tasks[0].Templates[0].Once is not a field of api.Template" in api_field_problems(doc, "1.9")


def test_generator_reads_go_structs(tmp_path):
    import importlib.util
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    spec = importlib.util.spec_from_file_location("gen", root / "scripts" / "nomad_api_table.py")
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "a.go").write_text(
        "package api\n\ntype Inner struct {\n\tA *int `hcl:\"a\"`\n}\n\n"
        "type Outer struct {\n\tInner\n\tB, C string // two\n\tD []*Inner `json:\"d,omitempty\"`\n"
        "\tE string `json:\"-\"`\n\tF struct {\n\t\tG int\n\t}\n}\n")
    (tmp_path / "api" / "a_test.go").write_text("package api\ntype T struct {\n\tX int\n}\n")
    table, _ = gen.build_table(tmp_path)
    assert table == {"Inner": {"A": "*int"},
                     "Outer": {"A": "*int", "B": "string", "C": "string", "F": "struct{}", "d": "[]*Inner"}}


# --- Nomad's own validation rules (nomad/structs, client config; v1.9.7, v1.10.5, v1.11.3) -----

def test_rejects_grpc_check_in_nomads_own_catalogue():
    checks = (Check(name="alive", type="grpc", port="http"),)
    rejects(r'service\[web\]\.check\[alive\]\.type = \'grpc\': Nomad\'s own service catalogue \(provider \'nomad\'\) '
            r'runs only \'http\' and \'tcp\' checks',
            make_job(services=(Service(name="web", port="http", provider="nomad", checks=checks),)))
    make_job(services=(Service(name="web", port="http", provider="consul", checks=checks),)).validate()


def test_rejects_ignore_warnings_in_nomads_own_catalogue():
    checks = (Check(name="alive", type="tcp", port="http", check_restart=CheckRestart(ignore_warnings=True)),)
    rejects(r"check_restart\.ignore_warnings = True: Nomad's own checks have no warning state",
            make_job(services=(Service(name="web", port="http", provider="nomad", checks=checks),)))


def test_rejects_signal_on_an_env_template():
    rejects(r'template\[secrets/a\.env\]\.change_mode = \'signal\': a template rendering environment variables '
            r'cannot use a signal',
            make_job(templates=(Template(destination="secrets/a.env", data="A=1", env=True, perms="0400",
                                         change_mode="signal", change_signal="SIGHUP"),)))


def test_rejects_check_timeout_below_one_second():
    rejects(r"check\[alive\]\.timeout_s = 0\.5: use a timeout of at least 1 second",
            make_job(checks=(Check(name="alive", type="tcp", port="http", timeout_s=0.5),)))


@pytest.mark.parametrize("weight", [0, 101, -5])
def test_rejects_spread_weight_outside_1_to_100(weight):
    rejects(rf"spread\[0\]\.weight = {weight}: use 1 to 100",
            make_job(count=2, spreads=(Spread(attribute="${node.datacenter}", weight=weight),)))


def test_rejects_restart_interval_below_five_seconds_and_delay_mode_without_attempts():
    def job(restart):
        return dataclasses.replace(make_job(), groups=(dataclasses.replace(make_job().groups[0], restart=restart),))

    rejects(r"restart\.interval_s = 4: use an interval of at least 5 seconds",
            job(RestartPolicy(attempts=1, interval_s=4, delay_s=1)))
    rejects(r"restart\.attempts = 0: mode 'delay' with 0 attempts is ambiguous",
            job(RestartPolicy(attempts=0, mode="delay")))


def test_rejects_kill_timeout_above_the_clients_maximum_and_the_progress_deadline():
    def job(kill_timeout_s, progress_deadline_s=600):
        base = make_job(update=UpdateStrategy(healthy_deadline_s=20, progress_deadline_s=progress_deadline_s))
        group = base.groups[0]
        task = dataclasses.replace(group.tasks[0], kill_timeout_s=kill_timeout_s)
        return dataclasses.replace(base, groups=(dataclasses.replace(group, tasks=(task,)),))

    rejects(r'task "web": kill_timeout_s = 45: use more than 0 and at most the clients\' max_kill_timeout \(30s\)',
            job(45))
    job(45).validate(max_kill_timeout_s=60)
    with pytest.raises(HashistackError, match=r"kill_timeout_s = 45: use at most the group's progress_deadline_s \(40s\)"):
        job(45, progress_deadline_s=40).validate(max_kill_timeout_s=60)


def test_rejects_canary_tags_that_drop_the_service_tags():
    rejects(r"service\[web\]\.canary_tags = \['canary'\]: canary tags replace the tags while an allocation is a "
            r"canary: include the service's tags \['http'\]",
            make_job(services=(Service(name="web", port="http", tags=("http",), canary_tags=("canary",)),)))


@pytest.mark.parametrize("data", ['{{ with secret (printf "secret/data/%s" (env "X")) }}{{ end }}',
                                  '{{ $p := "x" }}{{ with secret $p }}{{ end }}'])
def test_rejects_vault_reads_built_at_render_time(data):
    rejects(r"data = .*: a Vault read whose path is built at render time",
            make_job(templates=(Template(destination="secrets/a", data=data, perms="0400"),),
                     vault=VaultBlock(role="web")))


def test_the_word_secret_outside_a_template_action_is_text():
    make_job(templates=(Template(destination="local/a.conf", data="secret handling = strict\n"),)).validate()


def test_templates_render_owned_by_the_given_user():
    job = make_job(templates=(Template(destination="local/a.conf", data="x", uid=65532, gid=65533),))
    template = job.validate().to_api()["Job"]["TaskGroups"][0]["Tasks"][0]["Templates"][0]
    assert (template["Uid"], template["Gid"]) == (65532, 65533)


# --- Consul Connect (the service mesh) -----------------------------------------------------------

def mesh_job(*, connect=None, checks=None, port="8080", ports=None, mode="bridge", provider="consul",
             driver_ports=(), services=None, count=1, job_type="service", update=None, spreads=()) -> Job:
    """A Connect service as the service plan builds one: bridge network, the app's port given as
    a literal number, a plain http check through an expose path on a `to = -1` listener."""
    connect = Connect(
        upstreams=(ConsulUpstream(destination_name="ledger", local_bind_port=9091),),
        expose=(ExposePath(path="/health", protocol="http", local_path_port=8080, listener_port="expose-health"),),
        sidecar_task=SidecarTask(resources=Resources(cpu_mhz=250, memory_mib=128)),
    ) if connect is None else connect
    checks = (Check(name="alive", type="http", port="expose-health", path="/health"),) if checks is None else checks
    ports = (Port(label="expose-health", to=SAME_AS_HOST),) if ports is None else ports
    services = (Service(name="web", port=port, provider=provider, checks=checks, connect=connect),) \
        if services is None else services
    task = Task(name="web", config=DockerConfig(image="example/web:1.0", ports=driver_ports),
                resources=Resources(cpu_mhz=500, memory_mib=256))
    group = TaskGroup(name="web", count=count, tasks=(task,), network=Network(ports=ports, mode=mode),
                      services=services, update=update or UpdateStrategy(), spreads=spreads)
    return Job(id="web", groups=(group,), type=job_type)


def test_renders_the_connect_block_and_a_bridge_network():
    doc = mesh_job().validate().to_api()
    group = doc["Job"]["TaskGroups"][0]
    assert group["Networks"] == [{"DynamicPorts": [{"Label": "expose-health", "To": -1}], "Mode": "bridge"}]
    service = group["Services"][0]
    assert service["PortLabel"] == "8080"
    assert service["Connect"] == {
        "SidecarService": {"DisableDefaultTCPCheck": False, "Proxy": {
            "Upstreams": [{"DestinationName": "ledger", "LocalBindPort": 9091}],
            "Expose": {"Paths": [{"ListenerPort": "expose-health", "LocalPathPort": 8080, "Path": "/health",
                                  "Protocol": "http"}]}}},
        "SidecarTask": {"Resources": {"CPU": 250, "MemoryMB": 128}}}
    from tests.support.nomad_api import api_field_problems_all_versions

    assert api_field_problems_all_versions(doc) == {"1.9": [], "1.10": [], "1.11": []}


def test_an_empty_sidecar_block_is_kept_and_a_portless_bridge_network_is_rendered():
    job = mesh_job(connect=Connect(), ports=(), checks=(Check(name="alive", type="http", port="8080", path="/health",
                                                               address_mode="alloc"),))
    group = job.validate().to_api()["Job"]["TaskGroups"][0]
    # Without it Nomad would register the service outside the mesh, silently.
    assert group["Services"][0]["Connect"] == {"SidecarService": {"DisableDefaultTCPCheck": False}}
    assert group["Networks"] == [{"Mode": "bridge"}]
    assert group["Services"][0]["Checks"][0]["AddressMode"] == "alloc"


def test_checks_render_expose_and_address_mode_and_decode_in_every_version():
    from tests.support.nomad_api import api_field_problems_all_versions

    job = mesh_job(checks=(Check(name="alive", type="grpc", port="expose-health", expose=True,
                                 path="/grpc.health.v1.Health/Check"),))
    doc = job.validate().to_api()
    assert doc["Job"]["TaskGroups"][0]["Services"][0]["Checks"][0]["Expose"] is True
    assert api_field_problems_all_versions(doc) == {"1.9": [], "1.10": [], "1.11": []}


def test_rejects_connect_in_nomads_own_catalogue():
    rejects(r'service\[web\]\.connect = \'sidecar\': Connect is Consul\'s service mesh: register the service in '
            r'Consul', mesh_job(provider="nomad", checks=()))


def test_rejects_connect_without_a_bridge_network():
    rejects(r'service\[web\]\.port = \'8080\': a literal port number is a port inside the allocation\'s network '
            r'namespace: use a bridge network', mesh_job(mode="host"))
    rejects(r'service\[web\]\.connect = \'sidecar\': a Connect sidecar needs the group\'s network in bridge mode, '
            r'not \'host\'', mesh_job(mode="host", port="http", ports=(Port(label="http", to=8080),),
                                      connect=Connect(), checks=()))


def test_rejects_a_tcp_check_on_a_connect_service():
    rejects(r'service\[web\]\.check\[alive\]\.type = \'tcp\': Nomad refuses tcp checks on a Connect service',
            mesh_job(checks=(Check(name="alive", type="tcp", port="8080", address_mode="alloc"),)))


def test_rejects_expose_on_a_tcp_check_and_without_a_path():
    rejects(r'check\[alive\]\.expose = True: expose works for http and grpc checks only, not \'tcp\'',
            make_job(checks=(Check(name="alive", type="tcp", port="http", expose=True),)))
    rejects(r'check\[alive\]\.path = None: an exposed check needs a path starting with \'/\'',
            mesh_job(checks=(Check(name="alive", type="grpc", port="expose-health", expose=True),)))


def test_rejects_an_exposed_check_without_a_sidecar_or_bridge_network_or_literal_port():
    exposed = (Check(name="alive", type="http", port="http", path="/health", expose=True),)
    rejects(r'service\[web\]\.check\[alive\]\.expose = True: an exposed check needs a Connect sidecar',
            make_job(checks=exposed))
    rejects(r'service\[web\]\.check\[alive\]\.expose = True: Nomad finds the port to expose from the service port: '
            r'give it as the literal port', mesh_job(port="http", connect=Connect(), ports=(Port(label="http", to=8080),),
                                                    checks=exposed))


def test_rejects_expose_paths_on_an_undefined_listener_a_bad_protocol_or_a_label_service_port():
    rejects(r'service\[web\]\.connect\.expose\[/health\]\.listener_port = \'health\': the sidecar listens on a '
            r'port label of the group; defined: \[\'expose-health\'\]',
            mesh_job(connect=Connect(expose=(ExposePath(path="/health", protocol="http", local_path_port=8080,
                                                        listener_port="health"),))))
    rejects(r'connect\.expose\[/health\]\.protocol = \'grpc\': use \'http\', or \'http2\' for a gRPC path',
            mesh_job(connect=Connect(expose=(ExposePath(path="/health", protocol="grpc", local_path_port=8080,
                                                        listener_port="expose-health"),))))
    rejects(r'service\[web\]\.port = \'http\': with expose paths, give the service port as the literal port',
            mesh_job(port="http", ports=(Port(label="http", to=8080), Port(label="expose-health", to=-1))))


def test_rejects_two_upstreams_on_one_local_port_in_a_group():
    def service(name, dest):
        return Service(name=name, port="8080", checks=(), connect=Connect(
            upstreams=(ConsulUpstream(destination_name=dest, local_bind_port=9091),)))

    rejects(r'group "web": service\[api\]\.connect\.upstream\[billing\]\.local_bind_port = 9091: the upstream '
            r'web -> ledger already listens on this local port',
            mesh_job(services=(service("web", "ledger"), service("api", "billing")), ports=()))
    rejects(r'service\[web\]\.connect\.upstream = \'ledger\': declare each upstream service once',
            mesh_job(connect=Connect(upstreams=(ConsulUpstream(destination_name="ledger", local_bind_port=9091),
                                                ConsulUpstream(destination_name="ledger", local_bind_port=9092)))))


@pytest.mark.parametrize("mode", ["auto", "driver"])
def test_rejects_address_modes_nomad_does_not_know_or_cannot_serve(mode):
    rejects(rf'check\[alive\]\.address_mode = \'{mode}\': use \'host\' or \'alloc\' \(or leave it unset: \'host\'\); '
            r'a group service\'s check has no driver address',
            make_job(checks=(Check(name="alive", type="tcp", port="http", address_mode=mode),)))  # type: ignore[arg-type]
    rejects(r'service\[web\]\.check\[alive\]\.address_mode = \'alloc\': the allocation has its own address only in '
            r'a bridge network', make_job(checks=(Check(name="alive", type="tcp", port="http", address_mode="alloc"),)))


def test_rejects_docker_ports_in_a_bridge_network():
    rejects(r'task "web": config\.ports = \[\'expose-health\'\]: in a bridge network the group maps its ports and '
            r'docker\'s ports list is ignored', mesh_job(driver_ports=("expose-health",)))


def test_rejects_expose_in_nomads_own_catalogue():
    rejects(r'service\[web\]\.check\[alive\]\.expose = True: expose is a Consul Connect feature',
            make_job(services=(Service(name="web", port="http", provider="nomad", checks=(
                Check(name="alive", type="http", port="http", path="/h", expose=True),)),)))


def test_rejects_two_ports_reserving_one_static_host_port():
    rejects(r'network\.port\[a\]\.static = 8443: another port label reserves the same static host port',
            make_job(ports=(Port(label="http", to=8080), Port(label="a", static=8443), Port(label="b", static=8443))))


# --- system jobs ------------------------------------------------------------------------------------

def test_a_system_job_renders_its_type_and_may_hold_a_static_port():
    job = mesh_job(job_type="system", ports=(Port(label="https", static=8443, to=8443),
                                             Port(label="expose-health", to=SAME_AS_HOST)),
                   update=UpdateStrategy(max_parallel=3))
    doc = job.validate(rules=PRODUCTION).to_api()["Job"]  # one allocation per node: no count/spread rules
    assert doc["Type"] == "system"
    assert {"Label": "https", "To": 8443, "Value": 8443} in doc["TaskGroups"][0]["Networks"][0]["ReservedPorts"]


def test_rejects_in_a_system_job_a_count_above_one_a_spread_and_canaries():
    rejects(r'group "web": count = 2: a system job runs one allocation on every eligible node: use count 1',
            mesh_job(job_type="system", count=2))
    rejects(r'group "web": spreads = \[\'x\'\]: a system job runs on every eligible node and may not spread',
            mesh_job(job_type="system", spreads=(Spread(attribute="x"),)))
    rejects(r'group "web": update\.canary = 1: a system job rolls node by node',
            mesh_job(job_type="system", update=UpdateStrategy(canary=1)))
    rejects(r'job "web": type = \'batch\': use \'service\' or \'system\'',
            dataclasses.replace(mesh_job(), type="batch"))  # type: ignore[arg-type]


# The docker driver's task options that reach outside the container (Nomad v1.10.2
# drivers/docker/config.go); the plugin config gates only privileged, capabilities and volumes
# (drivers/docker/driver.go createContainerConfig), so the library never writes any of them.
HOST_ESCAPING = {"network_mode", "privileged", "devices", "pid_mode", "ipc_mode", "uts_mode", "userns_mode",
                 "security_opt", "sysctl", "cap_add", "volumes", "volume_driver", "runtime", "cgroupns",
                 "ulimit", "isolation"}


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_no_job_the_library_writes_reaches_outside_its_container(synth, env):
    import json

    jobs = [json.loads(j["jobspec"])["Job"] for j in synth.stack(env.name)["resource"]["nomad_job"].values()]
    assert jobs
    for job in jobs:
        for group in job["TaskGroups"]:
            assert {n.get("Mode") for n in group.get("Networks") or []} <= {"bridge"}, job["ID"]
            for task in group["Tasks"]:
                config = task["Config"]
                assert not HOST_ESCAPING & set(config), (job["ID"], task["Name"], sorted(HOST_ESCAPING & set(config)))
                # bind mounts only from the allocation's own directories, never a host path
                for mount in config.get("mount") or []:
                    assert mount["type"] == "bind" and not mount["source"].startswith("/"), mount
