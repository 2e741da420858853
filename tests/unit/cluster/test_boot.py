"""The node boot path, in plain Python and on the synthesized `<env>-infra` stacks: one test per
blocker of a boot that never finished, plus the rules on the new settings.

The sandbox (tests/real/test_boot_sandbox.py) executes these boots; these tests pin the decisions."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from hashistack import HashistackError, MachineImage, ProductPackages
from hashistack.cluster import ClusterSecrets, Role, SecretRef, node_boots
from hashistack.cluster.agents import CONSUL_DIR, DRAIN_DEADLINE_S, VAULT_DIR
from hashistack.cluster.boot import (
    DRAIN_HOOK,
    DRAIN_HOOK_TIMEOUT_S,
    DRAIN_SCRIPT,
    NOMAD_DRAIN_DROP_IN,
    RESOLVED_DROP_IN,
    VAULT_LOGROTATE,
)
from hashistack.cluster.cloud_init import BOOT_SCRIPT, STAGING, CloudInit, ConfigFile, SecretFile
from hashistack.contracts import api_host as api_hostname
from hashistack.environment import HASHICORP_APT_FINGERPRINT
from stacks.environments import DEV, ENVIRONMENTS, PROD

from tests.support.boot_docs import ROLES, cloud_config, launch_templates, user_data_text
from tests.support.hcl import parse


def boots(env=DEV):
    return node_boots(env, ClusterSecrets.under(f"/hashistack/{env.name}"))


def script(role: Role, env=DEV) -> str:
    return boots(env)[role].cloud_init.script()


# --- 1. packages before configs --------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_no_config_is_written_where_a_package_owns_it_before_install(role):
    doc = boots()[role].cloud_init.document()
    paths = [f["path"] for f in doc["write_files"]]
    assert paths[0] == BOOT_SCRIPT and all(p.startswith(STAGING + "/") for p in paths[1:])
    text = script(role)
    install = text.index("apt-get install -y -q --no-install-recommends")
    first_place = text.index("\nplace ")
    first_secret = text.index("\nsecret ")
    assert install < first_secret < first_place


def test_products_are_pinned_and_held_and_the_repository_key_is_checked():
    text = script(Role.VAULT_SERVER)
    assert f"consul={DEV.packages.consul_version}" in text and f"vault={DEV.packages.vault_version}" in text
    assert "apt-mark hold consul vault" in text
    assert f"--list-keys {HASHICORP_APT_FINGERPRINT} >/dev/null" in text
    assert f"--export {HASHICORP_APT_FINGERPRINT} > /usr/share/keyrings/hashicorp.gpg" in text
    assert text.index("--export") < text.index("/etc/apt/sources.list.d/hashicorp.list") < text.rindex("apt-get update")
    # what the boot runs before its package step (the key's download and check) is installed first:
    # a minimal image may have neither curl nor gpg
    first_install = text.index("apt-get install -y -q --no-install-recommends ca-certificates curl gnupg")
    assert first_install < text.index("curl -fsSL") < text.index("gpg --homedir")


# --- 2. directories owned by the agents' users -----------------------------------------------------

def test_every_directory_an_agent_reads_belongs_to_its_user():
    vault = boots()[Role.VAULT_SERVER].cloud_init
    dirs = {d.path: (d.owner, d.mode) for d in vault.directories}
    assert dirs[f"{VAULT_DIR}/tls"] == ("vault", "0750") and dirs[f"{CONSUL_DIR}/tls"] == ("consul", "0750")
    assert {s.owner for s in vault.secrets if s.path.startswith(VAULT_DIR)} == {"vault"}
    assert {s.owner for s in vault.secrets if s.path.startswith(CONSUL_DIR)} == {"consul"}
    text = vault.script()
    assert f"install -d -m 0750 -o vault -g vault {VAULT_DIR}/tls" in text


# --- 3. Consul ACL tokens ---------------------------------------------------------------------------

@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.value)
def test_every_consul_agent_gets_its_agent_token_and_the_dns_token(role):
    secrets = ClusterSecrets.under("/hashistack/dev")
    files = {s.path: s for s in boots()[role].cloud_init.secrets}
    agent = files[f"{CONSUL_DIR}/acl-agent-token.hcl"]
    assert agent.ref == secrets.agent_token(role)
    assert parse(agent.template % "t")["acl"][0]["tokens"][0]["agent"] == "t"
    default = files[f"{CONSUL_DIR}/acl-default-token.hcl"]
    assert default.ref == secrets.consul_dns_token and default.owner == "consul"


def test_units_start_independently_and_any_failure_fails_the_boot():
    text = script(Role.NOMAD_SERVER)
    assert 'if ! systemctl enable "$unit"; then failed="$failed $unit"; continue; fi' in text
    # one deadline for all units together, set when their step begins
    assert text.index("UNITS_UNTIL=$((SECONDS + UNIT_WAIT))") < text.index('  start "$unit"')
    assert '[ -z "$failed" ] || die "units that did not start:$failed"' in text
    assert "for unit in consul nomad systemd-resolved amazon-ssm-agent; do" in text


# --- 4/5. reachability and Nomad's Consul token ------------------------------------------------------

def test_consul_servers_serve_https_on_their_private_address():
    server = next(f for f in boots()[Role.CONSUL_SERVER].cloud_init.files if f.path == f"{CONSUL_DIR}/consul.hcl")
    assert parse(server.content)["addresses"][0]["https"] == "127.0.0.1 {{ GetPrivateIP }}"


@pytest.mark.parametrize("role, token", [(Role.NOMAD_SERVER, "nomad_server_consul_token"),
                                         (Role.NOMAD_CLIENT, "nomad_client_consul_token")])
def test_nomad_gets_a_consul_token_at_boot(role, token):
    files = {s.path: s for s in boots()[role].cloud_init.secrets}
    f = files["/etc/nomad.d/consul-token.hcl"]
    assert f.ref == getattr(ClusterSecrets.under("/hashistack/dev"), token) and f.mode == "0600"
    assert parse(f.template % "t")["consul"][0]["token"] == "t"


# --- 8. operations basics -------------------------------------------------------------------------

def test_secret_fetch_fails_loudly_and_never_through_a_substitution_inside_printf():
    text = script(Role.CONSUL_SERVER)
    assert 'die "cannot read SSM parameters $*: $reply"' in text
    assert 'die "SSM parameter missing or empty: $missing"' in text
    params = sorted({s.ref.parameter for s in boots()[Role.CONSUL_SERVER].cloud_init.secrets})
    assert "fetch " + " ".join(params) in text
    assert not re.search(r'printf [^\n]*"\$\(', text), "a failed fetch inside printf's arguments is silent"


def test_volumes_dns_forwarding_and_audit_log_rotation():
    vault = boots()[Role.VAULT_SERVER]
    assert [(v.device, v.mount_point, v.owner) for v in vault.volumes] == [
        ("/dev/sdf", "/opt/vault/data", "vault"), ("/dev/sdg", "/var/log/vault", "vault")]
    files = {f.path: f.content for f in vault.cloud_init.files}
    assert "DNS=127.0.0.1:8600" in files[RESOLVED_DROP_IN] and "Domains=~consul" in files[RESOLVED_DROP_IN]
    rotate = files[VAULT_LOGROTATE]
    assert "/var/log/vault/audit.log {" in rotate and "--signal=HUP" in rotate and "create 0600 vault vault" in rotate
    for role, boot in boots().items():
        assert boot.volumes and boot.volumes[0].device == "/dev/sdf", role


def test_every_agent_exports_prometheus_metrics():
    for role, boot in boots().items():
        for f in boot.cloud_init.files:
            if f.path.endswith(".hcl"):
                assert "telemetry" in parse(f.content), (role, f.path)


def _run_drain(tmp_path, state: str, stop_fails: bool = False) -> tuple[int, list[str]]:
    """The client's drain script under bash, with curl, systemctl and aws replaced by recorders
    (curl answers the instance metadata: the target lifecycle state, the instance id)."""
    import os
    import subprocess

    client = boots()[Role.NOMAD_CLIENT].cloud_init
    drain = next(f.content for f in client.files if f.path == DRAIN_SCRIPT)
    bin_dir, log = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir(exist_ok=True)
    log.write_text("")
    stubs = {
        "curl": f'case "$*" in *api/token*) echo imds-token;; *target-lifecycle-state*) echo {state};; '
                '*instance-id*) echo i-0abc;; *) exit 22;; esac',
        "systemctl": 'echo "systemctl $*" >> "$CALLS"' + ('; [ "$2" != nomad.service ]' if stop_fails else ""),
        "aws": 'echo "aws $*" >> "$CALLS"',
    }
    for name, body in stubs.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    (tmp_path / "drain").write_text(drain)
    run = subprocess.run(["/bin/bash", str(tmp_path / "drain")], capture_output=True, text=True,
                         env={**os.environ, "PATH": f"{bin_dir}:/usr/bin:/bin", "CALLS": str(log)})
    return run.returncode, log.read_text().splitlines()


def test_nomad_clients_drain_on_scale_in_with_their_own_node_secret(tmp_path):
    """On scale-in the client stops Nomad, and a stop is a drain: SIGTERM with leave_on_terminate
    runs drain_on_shutdown, which drains the node with its own node secret (Node.UpdateDrain allows
    a client identity for its own node: nomad/node_endpoint.go, client/drain.go, Nomad v1.10.2), so
    no node holds a Nomad token. Then, and only then, the lifecycle hook is completed."""
    client = boots()[Role.NOMAD_CLIENT]
    assert client.lifecycle_hooks == ("launch", "terminate")
    assert "hashistack-drain.timer" in client.cloud_init.services

    assert _run_drain(tmp_path, "InService") == (0, [])
    code, calls = _run_drain(tmp_path, "Terminated")
    assert code == 0 and calls == [
        "systemctl stop hashistack-drain.timer", "systemctl stop nomad.service",
        f"aws autoscaling complete-lifecycle-action --region {DEV.region} --auto-scaling-group-name "
        f"hashistack-{DEV.name}-nomad-client --lifecycle-hook-name {DRAIN_HOOK} --instance-id i-0abc "
        "--lifecycle-action-result CONTINUE"]
    # a stop that fails completes nothing: the hook's timeout ends the wait
    code, calls = _run_drain(tmp_path, "Terminated", stop_fails=True)
    assert code != 0 and not any(c.startswith("aws ") for c in calls)


def test_a_stop_of_nomad_on_a_client_waits_for_the_drain():
    """Nomad's agent decodes ``leave_on_terminate`` and ``client.drain_on_shutdown`` (command/agent/
    config.go ``LeaveOnTerm``, ``ClientConfig.Drain``; nomad/structs/config/drain.go: ``deadline``,
    ``force``, ``ignore_system_jobs``; v1.10.2) and, on SIGTERM, waits the deadline plus 5 s
    (command/agent/command.go, terminateGracefully). Debian's nomad.service stops with SIGINT, which
    without leave_on_interrupt exits at once: the drop-in makes a stop SIGTERM, lets systemd wait
    longer than Nomad, and stops Nomad before docker and Consul. The terminate hook outlasts all of it."""
    import configparser

    client = boots()[Role.NOMAD_CLIENT].cloud_init
    files = {f.path: f.content for f in client.files}
    cfg = parse(files["/etc/nomad.d/nomad.hcl"])
    assert cfg["leave_on_terminate"] is True and "leave_on_interrupt" not in cfg
    (drain,) = cfg["client"][0]["drain_on_shutdown"]
    assert {k for k in drain if not k.startswith("__")} <= {"deadline", "force", "ignore_system_jobs"}
    assert drain["deadline"] == f"{DRAIN_DEADLINE_S}s" and drain.get("force") is not True

    unit = configparser.ConfigParser()
    unit.read_string(files[NOMAD_DRAIN_DROP_IN])
    assert unit["Service"]["KillSignal"] == "SIGTERM"
    assert int(unit["Service"]["TimeoutStopSec"]) > DRAIN_DEADLINE_S + 5
    assert set(unit["Unit"]["After"].split()) == {"docker.service", "consul.service"}
    assert DRAIN_HOOK_TIMEOUT_S > int(unit["Service"]["TimeoutStopSec"]) + 20  # + the timer's interval
    servers = parse(files_of(Role.NOMAD_SERVER)["/etc/nomad.d/nomad.hcl"])
    assert "leave_on_terminate" not in servers  # a server's stop is not a leave of the raft peers


def files_of(role: Role) -> dict[str, str]:
    return {f.path: f.content for f in boots()[role].cloud_init.files}


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_the_client_pools_terminate_hook_waits_for_the_drain(synth, env):
    (group,) = [g for g in synth.stack(f"{env.name}-infra")["resource"]["aws_autoscaling_group"].values()
                if g["name"].endswith("-nomad-client")]
    (hook,) = [h for h in group["initial_lifecycle_hook"] if h["name"] == DRAIN_HOOK]
    assert hook["heartbeat_timeout"] == DRAIN_HOOK_TIMEOUT_S and hook["default_result"] == "CONTINUE"


def test_nomad_clients_install_cni_plugins_and_load_bridge_netfilter_before_their_units():
    """Bridge networking for Connect sidecars: Debian's CNI reference plugins (Nomad's cni_path
    points at them), br_netfilter, then the bridge sysctls, all before Docker and Nomad start;
    the boot stops if a plugin Nomad's bridge network runs is missing."""
    client = boots()[Role.NOMAD_CLIENT].cloud_init
    assert {"containernetworking-plugins", "kmod", "docker.io"} <= set(client.os_packages)
    files = {f.path: f.content for f in client.files}
    assert files["/etc/modules-load.d/hashistack-bridge.conf"].splitlines()[-1] == "br_netfilter"
    sysctl = files["/etc/sysctl.d/60-hashistack-bridge.conf"]
    for key in ("arptables", "ip6tables", "iptables"):
        assert f"net.bridge.bridge-nf-call-{key} = 1" in sysctl
    text = client.script()
    order = [text.index(step) for step in (
        "apt-get install -y -q --no-install-recommends", "place /etc/sysctl.d/60-hashistack-bridge.conf",
        "modprobe br_netfilter", "sysctl -q -p /etc/sysctl.d/60-hashistack-bridge.conf",
        'die "CNI plugin /usr/lib/cni/$plugin missing', "systemctl daemon-reload")]
    assert order == sorted(order)
    assert "for plugin in bridge firewall host-local loopback portmap; do" in text
    for role in (Role.NOMAD_SERVER, Role.CONSUL_SERVER, Role.VAULT_SERVER):
        other = boots()[role].cloud_init
        assert "containernetworking-plugins" not in other.os_packages and "modprobe" not in other.script()


def test_every_consul_client_agent_holds_the_clients_certificate_from_the_cluster_ca():
    """No auto-encrypt: the client agents' certificate (RPC, loopback HTTPS and gRPC TLS) comes
    from SSM like every other agent's, so nothing waits for a Connect CA or an ACL token."""
    for role in (Role.NOMAD_SERVER, Role.NOMAD_CLIENT, Role.VAULT_SERVER):
        files = {s.path: s.ref.parameter for s in boots()[role].cloud_init.secrets}
        assert files["/etc/consul.d/tls/cert.pem"].endswith("/consul-client-cert"), role
        assert files["/etc/consul.d/tls/key.pem"].endswith("/consul-client-key"), role
    files = {s.path: s.ref.parameter for s in boots()[Role.CONSUL_SERVER].cloud_init.secrets}
    assert files["/etc/consul.d/tls/cert.pem"].endswith("/consul-server-cert")
    assert not any("connect-ca" in f.path for b in boots().values() for f in b.cloud_init.files)


def test_user_data_over_its_budget_is_refused_at_synth_well_before_ec2s_limit():
    """Shipped gzip-compressed; refused above 12 KiB compressed, 4 KiB short of EC2's 16 KiB. Random
    content does not compress, so 13 KiB of it crosses the budget."""
    import os

    from hashistack.cluster.cloud_init import USER_DATA_BUDGET, USER_DATA_LIMIT

    client = boots()[Role.NOMAD_CLIENT].cloud_init
    assert len(client.user_data()) <= USER_DATA_BUDGET // 2  # today's boots have room to grow
    assert USER_DATA_BUDGET <= USER_DATA_LIMIT - 4096
    big = dataclasses.replace(client, files=client.files + (
        ConfigFile(path="/etc/hashistack/padding", content=os.urandom(13 * 1024).hex()[:13 * 1024]),))
    with pytest.raises(HashistackError, match=r"^cloud-init nomad-client: user data = \d+ bytes gzip-compressed: the "
                                              r"budget is 12288 \(EC2 takes at most 16384\); ship less in the boot"):
        big.user_data()


# --- the secrets catalogue -------------------------------------------------------------------------

def test_the_secrets_catalogue_names_every_parameter_its_content_and_its_readers():
    secrets = ClusterSecrets.under("/hashistack/prod")
    catalogue = secrets.catalogue()
    assert len(catalogue) == len(dataclasses.fields(ClusterSecrets))
    assert all(spec.parameter.startswith("/hashistack/prod/") and spec.holds and spec.readers for spec in catalogue)
    # each role's boot fetches exactly the parameters its role may read, and reads no other
    boots = node_boots(PROD, secrets)
    for role, boot in boots.items():
        fetched = {s.ref.parameter for s in boot.cloud_init.secrets}
        assert fetched == {spec.parameter for spec in secrets.read_by(role)}, role


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_instance_roles_read_exactly_their_catalogued_parameters(synth, env):
    r = synth.stack(f"{env.name}-infra")["resource"]
    secrets = ClusterSecrets.under(f"/hashistack/{env.name}")
    by_role = {}
    for address, policy in r["aws_iam_role_policy"].items():
        doc = json.loads(policy["policy"])
        read = [s for s in doc["Statement"] if s.get("Sid") == "ReadOwnSecrets"]
        if read:
            role = next(role for role in ROLES if f"_{role.value}_" in address)
            by_role[role] = {res.split(":parameter", 1)[1] for res in read[0]["Resource"]}
    assert by_role == {role: {s.parameter for s in secrets.read_by(role)} for role in ROLES}


# --- infra: names, reachability, boot that Terraform sees ----------------------------------------------

@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_private_zone_names_the_three_apis(synth, env):
    r = synth.stack(f"{env.name}-infra")["resource"]
    (zone,) = r["aws_route53_zone"].values()
    assert zone["name"] == env.domain and zone["vpc"][0]["vpc_id"].startswith("${aws_vpc.")
    names = sorted(rec["name"] for rec in r["aws_route53_record"].values())
    assert names == [f"{p}.{env.domain}" for p in ("consul", "nomad", "vault")]
    assert all(rec["alias"]["name"].startswith("${aws_lb.") for rec in r["aws_route53_record"].values())


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_nodes_reach_the_apis_they_need_through_the_load_balancers(synth, env):
    r = synth.stack(f"{env.name}-infra")["resource"]
    groups = {g["name"].removeprefix(f"hashistack-{env.name}-"): f"${{aws_security_group.{k}.id}}"
              for k, g in r["aws_security_group"].items()}
    ingress = {(rule["security_group_id"], rule.get("referenced_security_group_id"), rule["from_port"])
               for rule in r["aws_vpc_security_group_ingress_rule"].values()}
    assert (groups["lb"], groups["vault-server"], 4646) in ingress  # Vault -> Nomad's JWKS
    assert (groups["lb"], groups["nomad-server"], 8200) in ingress  # Nomad -> vault.<domain>
    assert (groups["lb"], groups["nomad-client"], 8200) in ingress
    assert (groups["nomad-server"], groups["lb"], 4646) in ingress


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_terraform_waits_for_booted_healthy_nodes(synth, env):
    stack = synth.stack(f"{env.name}-infra")
    r = stack["resource"]
    (image,) = stack["data"]["aws_ami"].values()
    assert image["owners"] == list(env.machine_image.owners) and image["most_recent"] is True
    assert {"name": "name", "values": [env.machine_image.name]} in image["filter"]
    for template in r["aws_launch_template"].values():
        assert template["image_id"].startswith("${data.aws_ami.")
        assert template["block_device_mappings"][0]["device_name"].endswith(".root_device_name}")
    for name, asg in r["aws_autoscaling_group"].items():
        assert asg["wait_for_capacity_timeout"] != "0"
        hooks = {h["name"]: h for h in asg["initial_lifecycle_hook"]}
        assert hooks["hashistack-boot"]["lifecycle_transition"] == "autoscaling:EC2_INSTANCE_LAUNCHING"
        assert hooks["hashistack-boot"]["default_result"] == "ABANDON"
        assert asg["launch_template"]["version"].endswith(".latest_version}")
        # never replaced on the load balancer's word (a lost quorum fails every server's check at
        # once), yet the apply waits for the load balancer to see them healthy
        assert asg["health_check_type"] == "EC2"
        if asg.get("target_group_arns"):
            assert asg["wait_for_elb_capacity"] == asg["desired_capacity"]
        client = asg["name"].endswith("nomad-client")
        assert ("instance_refresh" in asg) is client
        assert ("hashistack-drain" in hooks) is client
    for tg in r["aws_lb_target_group"].values():
        # the APIs' health endpoints, and the ingress proxy's /ping on its own port
        path = "/ping" if env.ingress and tg["port"] == env.ingress.proxy_port else "/v1/"
        assert tg["health_check"]["protocol"] == "HTTPS" and tg["health_check"]["path"].startswith(path)
    # an uninitialised Vault stays in service: the operator initialises it through the load balancer
    vault_tg = next(tg for tg in r["aws_lb_target_group"].values() if tg["port"] == 8200)
    assert "uninitcode=200" in vault_tg["health_check"]["path"]
    # no managed policy: AmazonSSMManagedInstanceCore would let every node read every parameter
    assert "aws_iam_role_policy_attachment" not in r or all(
        "flow" in k for k in r["aws_iam_role_policy_attachment"])


# --- rules on the new settings -----------------------------------------------------------------------

@pytest.mark.parametrize("changes, message", [
    ({"consul_version": "latest"}, r"packages\.consul_version = 'latest': pin an exact apt package version"),
    ({"nomad_version": "1.6.9-1"}, r"packages\.nomad_version = '1\.6\.9-1': use Nomad 1\.7 or later"),
    ({"key_fingerprint": "798A EC65"}, r"packages\.key_fingerprint = '798A EC65': give the signing key's full "
                                       r"fingerprint"),
    ({"repository_url": "http://apt.example"}, r"packages\.repository_url = 'http://apt\.example': use an https:// "
                                               r"URL naming a host.*\(a production environment fetches over TLS\)"),
])
def test_rejects_unpinned_or_unverified_packages(changes, message):
    with pytest.raises(HashistackError, match=r'^environment "prod": ' + message):
        dataclasses.replace(PROD, packages=ProductPackages(**changes))


@pytest.mark.parametrize("changes, message", [
    ({"owners": (), "name": "debian-13-amd64-20251117-2299"},
     r"machine_image\.owners = \(\): list the 12-digit AWS accounts"),
    ({"name": "*"}, r"machine_image\.name = '\*': filter on an image name"),
])
def test_rejects_an_open_machine_image_filter(changes, message):
    with pytest.raises(HashistackError, match=r'^environment "prod": ' + message):
        dataclasses.replace(PROD, machine_image=MachineImage(**changes))


def test_outside_development_the_image_is_one_pinned_release():
    """A wildcard name looks the newest image up at every plan: a new Debian release would roll
    every node group (servers included) on an unrelated deploy."""
    with pytest.raises(HashistackError, match=r'^environment "prod": machine_image\.name = \'debian-13-amd64-\*\': pin '
                                              r"one image release in a production environment"):
        dataclasses.replace(PROD, machine_image=MachineImage())
    assert "*" not in PROD.machine_image.name and "*" in DEV.machine_image.name  # dev may take the newest
    dataclasses.replace(PROD, machine_image=MachineImage(name="debian-13-amd64-20260101-2400"))


def test_rejects_a_literal_placeholder_ami():
    with pytest.raises(HashistackError, match=r"ami_id = 'ami-placeholder': use an AMI id"):
        dataclasses.replace(PROD, ami_id="ami-placeholder")


def test_rejects_an_api_name_outside_the_private_zone():
    env = dataclasses.replace(DEV, vault=dataclasses.replace(DEV.vault, address="https://vault.other.example:8200"))
    with pytest.raises(HashistackError, match=r'^environment "dev": vault\.address = \'https://vault\.other\.example:'
                                              r'8200\': the API name must lie in the environment\'s domain'):
        api_hostname(env, "vault")


def test_rejects_a_secret_template_without_exactly_one_placeholder():
    with pytest.raises(HashistackError, match=r"cloud-init x: template of /etc/a\.hcl = 'a = \"%s%s\"': use exactly "
                                              r"one %s"):
        CloudInit(role="x", aws_region="eu-west-1", asg_name="g", repository_url="https://r", key_url="https://r/k",
                  key_fingerprint="A" * 40, products=(),
                  secrets=(SecretFile(ref=SecretRef.ssm("/a"), path="/etc/a.hcl", template='a = "%s%s"'),))


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_launch_templates_carry_the_model_boots(synth, env):
    templates = launch_templates(synth, env)
    expected = boots(env)
    for role in ROLES:
        assert cloud_config(user_data_text(templates[role])) == expected[role].cloud_init.document()


def _prelude_functions(text: str) -> str:
    """The boot script's helper functions (no step runs): everything before the first step."""
    return text.split("\n# 1. Packages first", 1)[0].replace("exec > >(tee -a /var/log/hashistack-boot.log) 2>&1", "")


def test_a_data_volume_is_found_by_its_ebs_volume_id_where_the_image_names_no_device(tmp_path):
    """On NVMe instances without amazon-ec2-utils' udev rule there is no /dev/sdf: the boot asks
    EC2 which volume is attached as /dev/sdf and takes the disk whose serial is that volume's id."""
    import subprocess

    text = boots()[Role.NOMAD_SERVER].cloud_init.script()
    sysfs = tmp_path / "sys"
    for disk, serial in (("nvme0n1", "vol0aaaaaaaaaaaaaaaa"), ("nvme1n1", "vol0123456789abcdef0   ")):
        (sysfs / "block" / disk / "device").mkdir(parents=True)
        (sysfs / "block" / disk / "device" / "serial").write_text(serial)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text('#!/bin/sh\necho "$*" >> "$AWS_LOG"\ncase "$*" in *attachment.device,Values=/dev/sdf*)'
                                 ' echo vol-0123456789abcdef0 ;; *) echo None ;; esac\n')
    (bin_dir / "aws").chmod(0o755)
    probe = tmp_path / "probe.sh"
    probe.write_text(_prelude_functions(text) + f'\nSYSFS={sysfs}\nVOLUME_POLL_S=0\n'
                     'imds() { echo i-0123456789abcdef0; }\ntrap - EXIT\nfind_volume "$1"\n')
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "AWS_LOG": str(tmp_path / "aws.log")}
    found = subprocess.run(["bash", str(probe), "/dev/sdf"], env=env, capture_output=True, text=True, timeout=60)
    assert found.returncode == 0 and found.stdout == "/dev/nvme1n1\n", found.stderr
    assert "Name=attachment.instance-id,Values=i-0123456789abcdef0" in (tmp_path / "aws.log").read_text()
    # a device no volume is attached as is never found (the boot then dies naming it)
    missing = subprocess.run(["bash", str(probe), "/dev/sdg"], env=env, capture_output=True, text=True, timeout=60)
    assert missing.returncode == 1 and missing.stdout == ""


def test_a_directorys_group_is_a_user_name_or_a_numeric_id():
    from hashistack.cluster.cloud_init import _check_user

    _check_user("cloud-init nomad-client", "group", "65532")
    _check_user("cloud-init nomad-client", "group", "consul")
    with pytest.raises(HashistackError, match=r"^cloud-init nomad-client: group = 'app users': use a system user "
                                              r"name such as 'consul' or a numeric id$"):
        _check_user("cloud-init nomad-client", "group", "app users")
