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
    refused("update: contributed twice; one option owns it", options=(rollout,))


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
