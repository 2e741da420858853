"""Options contribute, and one merge folds them: each collision is refused naming both claimants,
and an option of a kind the library does not know (``ServiceSpec.options``) is merged like the
built-in ones."""

from __future__ import annotations

import dataclasses

import pytest

from hashistack import HashistackError
from hashistack import nomad as n
from hashistack.consul.intentions import Upstream
from hashistack.service import (
    ConfigFile,
    Contribution,
    File,
    OnChange,
    ServiceContext,
    ServiceSpec,
    Tls,
    VaultSecret,
    plan_service,
)
from hashistack.vault.policy import Rule
from stacks.environments import DEV

IMAGE = "registry.example.com/team/web:1.0.0"


@dataclasses.dataclass(frozen=True)
class Extra:
    """An option the library does not ship: whatever contribution it is given."""

    contribution: Contribution

    def contribute(self, ctx: ServiceContext) -> Contribution:
        assert ctx.spec.name == "web" and ctx.env is DEV and ctx.service_name == "web"
        return self.contribution


def plan(**props):
    return plan_service(ServiceSpec(name="web", image=IMAGE, **props), DEV)


def refused(message: str, **props) -> None:
    with pytest.raises(HashistackError) as error:
        plan(**props)
    assert str(error.value) == f"dev/web: {message}"


def test_a_file_path_claimed_twice_is_refused():
    refused("secrets[web/config].mount_at = '/app/config/app.conf': another file is already mounted at this path: give "
            "each file its own path",
            config_files=(ConfigFile.inline("a", mount_at="/app/config/app.conf"),),
            secrets=(VaultSecret.kv("web/config", mount_at="/app/config/app.conf"),))


def test_a_container_directory_claimed_twice_is_refused_naming_both():
    refused("tls.mount_dir = '/app/config': config_files[app.conf].mount_at mounts this container directory too: "
            "give each its own directory",
            config_files=(ConfigFile.inline("a", mount_at="/app/config/app.conf"),), tls=Tls(mount_dir="/app/config"))


def test_a_variable_claimed_twice_is_refused_naming_both():
    refused("env = 'DB_PASSWORD': set twice: by secrets[web/db].env and by env; set each variable once",
            secrets=(VaultSecret.kv_env("web/db", env={"DB_PASSWORD": "password"}),), env={"DB_PASSWORD": "x"})


def test_an_upstream_and_a_local_port_claimed_twice_are_refused():
    refused("upstreams[ledger].service = 'ledger': declare each upstream once",
            upstreams=(Upstream("ledger", local_port=9091), Upstream("ledger", local_port=9092)))
    refused("upstreams[fx].local_port = 9091: already the local port of upstream 'ledger'; give each its own",
            upstreams=(Upstream("ledger", local_port=9091), Upstream("fx", local_port=9091)))


def test_a_port_label_claimed_twice_is_refused_naming_both():
    extra = Extra(Contribution(ports=(("options[metrics]", n.Port(label="metrics", to=9100)),)))
    refused("options[metrics] = 'metrics': already the label of extra_ports[metrics]'s port: give each port its own "
            "label", extra_ports={"metrics": 9100}, options=(extra,))


def test_what_only_one_option_may_own_is_refused_when_two_contribute_it():
    rollout = Extra(Contribution(update=n.UpdateStrategy()))
    refused("update = 'UpdateStrategy': contributed twice, first by update: the service has one update, which one "
            "option provides", options=(rollout,))


def test_an_unknown_kind_of_option_is_merged_like_the_built_in_ones():
    """A file, an environment file, a variable and a grant from an option of the user's own: the
    file lands in its directory's mount, the grant in the service's policy, and the grant proof
    holds over its template."""
    path = "secret/data/dev/web/extra"
    extra = Extra(Contribution(
        files=(File(mount_at="/app/extra/x.conf", field="options[x]", data="x = 1\n", perms="0644",
                    on_change=OnChange.restart(), sensitive=False),),
        templates=(n.Template(destination="secrets/extra.env", env=True, perms="0400", sensitive=True,
                              data=f'{{{{ with secret "{path}" }}}}X={{{{ .Data.data.x }}}}{{{{ end }}}}\n'),),
        env=(("X", "options[x]"),), grants=(Rule(path=path, capabilities=("read",), comment="extra"),)))
    result = plan(options=(extra,))
    task = result.job.groups[0].tasks[0]
    assert [t.destination for t in task.templates] == ["secrets/extra.env", "local/mnt/app-extra/x.conf"]
    assert [(m.source, m.target) for m in task.config.mounts] == [("local/mnt/app-extra", "/app/extra")]
    assert result.policy is not None and result.policy.grants(path, "read")
    refused("env = 'X': set twice: by env and by options[x]; set each variable once", options=(extra,), env={"X": "1"})


def test_the_grant_proof_holds_over_an_options_templates():
    reads = Extra(Contribution(
        templates=(n.Template(destination="secrets/other", perms="0400",
                              data='{{ with secret "secret/data/dev/ledger/db" }}x{{ end }}'),),
        grants=(Rule(path="secret/data/dev/web/own", capabilities=("read",), comment="its own"),)))
    with pytest.raises(HashistackError, match=r"^dev/web: template reads Vault path 'secret/data/dev/ledger/db' "
                                              r"\(read\), but policy 'svc-web' does not grant it"):
        plan(options=(reads,))


def test_a_value_without_contribute_is_refused_at_the_spec():
    with pytest.raises(HashistackError, match=r"^web: options\[0\] = Upstream\(\.\.\.\): ServiceSpec.options\[0\] takes "
                                              r"Option, not Upstream; give a value that has contribute\(\)$"):
        ServiceSpec(name="web", image=IMAGE, options=(Upstream("ledger", local_port=9091),))  # type: ignore[arg-type]


def test_the_order_of_the_task_is_fixed_env_files_then_mounted_files_then_the_rest():
    result = plan(config_files=(ConfigFile.inline("a", mount_at="/app/b/a.conf"),
                                ConfigFile.inline("b", mount_at="/app/a/b.conf")),
                  secrets=(VaultSecret.kv_env("web/db", env={"DB": "password"}),), tls=Tls(mount_dir="/app/tls"))
    task = result.job.groups[0].tasks[0]
    assert [t.destination for t in task.templates] == [
        "secrets/web-db.env", "local/mnt/app-a/b.conf", "local/mnt/app-b/a.conf", "secrets/tls/bundle.pem"]
    assert [m.target for m in task.config.mounts] == ["/app/a", "/app/b", "/app/tls"]


def test_a_variable_an_option_sets_is_claimed_and_collides_like_any_other():
    unclaimed = Extra(Contribution(task_env={"LOG_LEVEL": "debug"}))
    refused("env = 'LOG_LEVEL': an option sets it without claiming it (Contribution.env); claim each variable an "
            "option sets", options=(unclaimed,))
    claimed = Extra(Contribution(task_env={"LOG_LEVEL": "debug"}, env=(("LOG_LEVEL", "options[0]"),)))
    refused("env = 'LOG_LEVEL': set twice: by env and by options[0]; set each variable once", env={"LOG_LEVEL": "info"},
            options=(claimed,))
    # the Go defaults give way to a variable any option claims
    overrides = Extra(Contribution(task_env={"GOMAXPROCS": "8"}, env=(("GOMAXPROCS", "options[0]"),)))
    assert plan(options=(overrides,)).job.groups[0].tasks[0].env["GOMAXPROCS"] == "8"
    from_vault = plan(secrets=(VaultSecret.kv_env("web/db", env={"GOMAXPROCS": "procs"}),))
    assert "GOMAXPROCS" not in from_vault.job.groups[0].tasks[0].env


def test_two_grants_of_one_path_keep_every_capability():
    path = "secret/data/dev/web/x"
    writes = Extra(Contribution(grants=(Rule(path=path, capabilities=("create", "update"), comment="writes"),)))
    result = plan(secrets=(VaultSecret.kv("web/x", mount_at="/app/s/x.json"),), options=(writes,))
    assert result.policy is not None
    assert [(r.path, r.capabilities) for r in result.policy.rules] == [(path, ("read", "create", "update"))]


@pytest.mark.parametrize("returned, message", [
    (None, "options[0] = 'Returns': contribute() returned NoneType, not a Contribution: return Contribution(...) "
           "(hashistack.service.Contribution)"),
    (Contribution(ports=(n.Port(label="metrics", to=9100),)),  # type: ignore[arg-type]
     "options[0] (Returns).contribute(): ports[0] = Port(...): Contribution.ports[0] takes a tuple of 2 (a string, "
     "Port), not Port; give a tuple of 2 (a string, Port)"),
])
def test_what_an_options_contribute_returns_is_checked(returned, message):
    @dataclasses.dataclass(frozen=True)
    class Returns:
        def contribute(self, ctx):
            return returned

    refused(message, options=(Returns(),))


def test_a_fixed_size_tuple_of_the_wrong_length_and_a_class_are_refused_at_the_spec():
    from hashistack.service.volume import Volume

    with pytest.raises(HashistackError, match=r"^web: secrets\[0\]\.env\[0\] = \('A',\): ServiceSpec\.secrets\[0\]\.env"
                                              r"\[0\] takes a tuple of 2 \(a string, a string\), not tuple"):
        ServiceSpec(name="web", image=IMAGE, secrets=(VaultSecret(path="web/x", env=(("A",),)),))  # type: ignore[arg-type]
    with pytest.raises(HashistackError, match=r"^web: options\[0\] = <class .*Volume'>: ServiceSpec\.options\[0\] takes "
                                              r"Option, not type"):
        ServiceSpec(name="web", image=IMAGE, options=(Volume,))  # type: ignore[arg-type]


def test_two_directories_that_share_a_task_directory_are_refused():
    refused("config_files[y.conf].mount_at = '/app/a_b': renders into the task directory of /app/a-b (mnt/app-a-b): "
            "name the directories apart by more than '/', '_' and '-'",
            config_files=(ConfigFile.inline("x", mount_at="/app/a-b/x.conf"),
                          ConfigFile.inline("y", mount_at="/app/a_b/y.conf")))


def test_two_templates_rendering_one_file_are_refused_naming_both():
    from hashistack.service import RegistryAuth

    refused("registry_auth = 'secrets/registry.env': secrets[registry] renders this file too: give each its own name",
            secrets=(VaultSecret.kv_env("registry", env={"TOKEN": "token"}),),
            registry_auth=RegistryAuth.from_vault("registry/platform"))
