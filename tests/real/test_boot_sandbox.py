"""Every node type of every environment boots for real in a sandbox (see tests/support/sandbox/).

Per (environment, role): the node's cloud-config from the model that the launch template
carries (checked equal to the synthesized user data), run in cloud-init's order in a Debian 13
root with stand-in HashiCorp packages from a signed loopback repository, the SSM parameters in
moto, IMDSv2 on 169.254.169.254. On the Vault node the real OpenBao server runs as the unit
would run Vault. Then: the boot exits 0 and tells the autoscaling group CONTINUE; every file an
agent reads exists and is readable by that agent's user; every secret landed non-empty; the
products are installed at their pinned versions and held; volumes are formatted and mounted;
the units are enabled and started one by one.

And the failures: a missing SSM parameter stops the boot naming it and abandons the instance;
the original order (configs written before the packages are installed) fails at dpkg's conffile
prompt.

The mesh prerequisites of the Nomad clients: Debian's real containernetworking-plugins package is
not in the sandbox root; the sandbox's repository serves it, so the CNI plugins Nomad's bridge
network runs exist on a client only because its boot installed them (and on no other node).
br_netfilter and the bridge sysctls are recorded (they are the host kernel's), after their files
are in place.

What cannot run here: the real Consul and Nomad binaries (not obtainable offline). Their configs
are checked instead by the model tests (tests/stacks/test_infra.py) against the products' documented
fields, and their units, users and conffiles by the stand-in packages' layout.
"""

from __future__ import annotations

import concurrent.futures
import re
import time
from dataclasses import replace

import pytest

from hashistack.cluster import Role
from hashistack.cluster.agents import CNI_PATH
from hashistack.cluster.boot import BRIDGE_SYSCTL, CNI_PLUGINS
from hashistack.cluster.cloud_init import INSTANCE_ID, PRIVATE_IP, STAGING, UNIT_WAIT_S
from stacks.environments import DEV, ENVIRONMENTS

from tests.support.boot_docs import ROLES, launch_templates, user_data_text
from tests.support.hcl import parse
from tests.support.sandbox import harness, rootfs
from tests.support.sandbox.node import INSTANCE_ID as SANDBOX_INSTANCE_ID

pytestmark = pytest.mark.integration

CASES = [(env, role) for env in ENVIRONMENTS for role in ROLES]
IDS = [f"{env.name}-{role.value}" for env, role in CASES]
WORKERS = 3


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory, moto_servers):
    missing = harness.missing_tools()
    if missing:
        pytest.skip(f"boot sandbox needs {', '.join(missing)} (make test installs them: see the Makefile's apt-tools)")
    started = time.monotonic()
    work = tmp_path_factory.mktemp("sandbox")
    moto = harness.SharedMoto(moto_servers.fresh(managed_policies=False), work / "moto.sock")
    base = rootfs.base_root()
    pki = harness.Pki(work / "pki")
    versions = {(p, env.packages.version_of(p)) for env in ENVIRONMENTS for p in ("consul", "nomad", "vault")}
    repo = harness.build_repository(work / "repo", versions, {env.region for env in ENVIRONMENTS}, pki,
                                    debian_debs=rootfs.boot_debs(base))
    context = {"work": work, "base": base, "pki": pki, "repo": repo, "bao": harness.bao_binary(), "moto": moto,
               "setup_s": round(time.monotonic() - started, 1)}
    envs = {}
    for env in ENVIRONMENTS:
        secrets, boots = harness.sandbox_boots(env, repo)
        envs[env.name] = (secrets, boots, harness.parameter_values(env, secrets, pki))
    context["envs"] = envs
    yield context
    moto.close()


def boot(sandbox, env, role, name: str, *, parameters=None, document=None) -> harness.BootResult:
    secrets, boots, values = sandbox["envs"][env.name]
    return harness.run_node(sandbox["work"] / name, base_root=sandbox["base"], env=env, boot=boots[role],
                            parameters=values if parameters is None else parameters, repo=sandbox["repo"],
                            pki=sandbox["pki"], moto=sandbox["moto"], document=document,
                            bao=sandbox["bao"] if role is Role.VAULT_SERVER else None, executables=PLUGIN_PATHS)


PLUGIN_PATHS = tuple(f"{CNI_PATH}/{plugin}" for plugin in CNI_PLUGINS)


@pytest.fixture(scope="module")
def booted(sandbox):
    """Every node of every environment, booted (a few at a time)."""
    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(WORKERS) as pool:
        futures = {(env.name, role): pool.submit(boot, sandbox, env, role, f"{env.name}-{role.value}")
                   for env, role in CASES}
        results = {key: f.result() for key, f in futures.items()}
    sandbox["boot_all_s"] = round(time.monotonic() - started, 1)
    print(f"\nboot sandbox: setup {sandbox['setup_s']} s, {len(results)} node boots in {sandbox['boot_all_s']} s "
          f"({WORKERS} at a time); boot scripts: "
          + ", ".join(f"{env}-{role.value} {r['boot_s']} s" for (env, role), r in results.items()))
    return results


def test_sandbox_boots_what_the_launch_templates_carry(synth, sandbox):
    """The sandbox runs the model's boot with one swap, the signing key's fingerprint; the
    launch templates carry the same model with the pinned HashiCorp fingerprint."""
    for env in ENVIRONMENTS:
        templates = launch_templates(synth, env)
        _, boots, _ = sandbox["envs"][env.name]
        for role in ROLES:
            deployed = user_data_text(templates[role])
            sandboxed = boots[role].cloud_init.render()
            assert env.packages.key_fingerprint in deployed
            assert deployed.replace(env.packages.key_fingerprint, sandbox["repo"].fingerprint) == sandboxed


@pytest.mark.parametrize("env, role", CASES, ids=IDS)
def test_node_boots_to_its_agents(sandbox, booted, env, role):
    result = booted[(env.name, role)]
    secrets, boots, values = sandbox["envs"][env.name]
    ci = boots[role].cloud_init
    assert result["rc"] == 0, result["output"][-4000:]
    assert "boot complete" in result["output"]
    # the autoscaling group is told the boot succeeded, once
    assert [(c["AutoScalingGroupName"], c["LifecycleHookName"], c["LifecycleActionResult"])
            for c in result["lifecycle"]] == [(f"hashistack-{env.name}-{role.value}", "hashistack-boot", "CONTINUE")]
    # packages at their pinned versions, held
    for product, version in ci.products:
        assert re.search(rf"^{product} {re.escape(version)} (install|hold) ok installed$", result["packages"], re.M)
    assert sorted(result["holds"]) == sorted(p for p, _ in ci.products)
    # every file an agent reads is readable by its user; every directory it writes, writable
    denied = [a for a in result["access"] if not a[3]]
    assert denied == [], denied
    # every secret landed, non-empty, with the value from SSM, owned by the agent's user
    users = result["users"]
    for s in ci.secrets:
        f = result["files"][s.path]
        assert f is not None and f["size"] > 0, s.path
        assert f["uid"] == users[s.owner] and f["mode"] == oct(int(s.mode, 8)), (s.path, f)
        value = values[s.ref.parameter]
        assert (s.template % value if s.template else value.rstrip("\n") + "\n") == f["text"], s.path
    # configs are the model's, in place and parseable
    for c in ci.files:
        f = result["files"][c.path]
        want = (c.content.replace(PRIVATE_IP, "127.0.0.1").replace(INSTANCE_ID, SANDBOX_INSTANCE_ID)
                if c.path in ci.substitute else c.content)
        assert f is not None and f["text"] == want, c.path
        assert f["uid"] == users[c.owner]
        if c.path.endswith(".hcl"):
            parse(f["text"])
    # data volumes formatted and mounted by UUID
    for v in ci.volumes:
        assert f"{v.mount_point} ext4" in result["mounts"]
        assert re.search(rf"^UUID=\S+ {re.escape(v.mount_point)} ext4 ", result["fstab"], re.M)
    # each unit enabled and started on its own
    for unit in ci.services:
        assert f"enable {unit}" in result["systemctl"] and f"restart {unit}" in result["systemctl"]
    assert ("swapoff -a" in result["swapoff"]) is (role is Role.VAULT_SERVER)


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_nomad_clients_get_the_mesh_prerequisites_from_their_boot(sandbox, booted, env):
    """CNI plugins installed by the boot itself (the root does not hold them), br_netfilter loaded
    before the bridge sysctls are applied, and the agents configured for Connect sidecars."""
    client = booted[(env.name, Role.NOMAD_CLIENT)]
    assert client["rc"] == 0, client["output"][-4000:]
    assert re.search(r"^containernetworking-plugins \S+ install ok installed$", client["packages"], re.M)
    assert client["executables"] == {path: True for path in PLUGIN_PATHS}
    assert client["kernel"] == ["modprobe br_netfilter", f"sysctl -p {BRIDGE_SYSCTL}"]
    assert "net.bridge.bridge-nf-call-iptables = 1" in client["files"][BRIDGE_SYSCTL]["text"]
    nomad = parse(client["files"]["/etc/nomad.d/nomad.hcl"]["text"])
    assert nomad["client"][0]["cni_path"] == CNI_PATH
    consul = nomad["consul"][0]
    # Envoy verifies the local agent's gRPC TLS certificate with the cluster CA the boot wrote
    assert (consul["grpc_address"], consul["grpc_ca_file"]) == ("127.0.0.1:8503", "/etc/nomad.d/tls/ca.pem")
    assert client["files"]["/etc/nomad.d/tls/ca.pem"]["text"].startswith("-----BEGIN CERTIFICATE-----")
    agent = parse(client["files"]["/etc/consul.d/consul.hcl"]["text"])
    assert agent["ports"][0]["grpc_tls"] == 8503 and "auto_encrypt" not in agent
    for role in (Role.NOMAD_SERVER, Role.CONSUL_SERVER, Role.VAULT_SERVER):
        other = booted[(env.name, role)]
        assert other["rc"] == 0 and other["kernel"] == []
        assert other["executables"] == {path: False for path in PLUGIN_PATHS}, role
        assert "containernetworking-plugins" not in other["packages"]
    server = parse(booted[(env.name, Role.NOMAD_SERVER)]["files"]["/etc/nomad.d/nomad.hcl"]["text"])["consul"][0]
    assert server["service_identity"][0]["aud"] == ["consul.io"] and server["task_identity"][0]["aud"] == ["consul.io"]
    consul_server = parse(booted[(env.name, Role.CONSUL_SERVER)]["files"]["/etc/consul.d/consul.hcl"]["text"])
    assert consul_server["connect"][0]["enabled"] is True and consul_server["ports"][0]["grpc_tls"] == 8503


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_vault_node_runs_the_real_server_unsealed_as_the_vault_user(sandbox, booted, env):
    result = booted[(env.name, Role.VAULT_SERVER)]
    assert result["rc"] == 0, result["output"][-3000:]
    # the rendered awskms stanza (swapped for a static seal in the sandbox): key alias, region,
    # no static credentials
    seal = {k: v for k, v in parse(result["vault_awskms_seal"])["seal"][0]["awskms"].items() if not k.startswith("__")}
    assert seal == {"region": env.region, "kms_key_id": f"alias/hashistack-{env.name}-vault-unseal"}
    assert result["vault_uid"] == result["users"]["vault"] != 0
    assert result["vault_init"]["rc"] == 0 and result["vault_init"]["has_root_token"], result["vault_log"]
    health = result["vault_health"]
    assert health["status"] == 200 and health["initialized"] is True and health["sealed"] is False, result["vault_log"]
    # the audit log directory is Vault's, on its own volume
    assert ["vault", "/var/log/vault", "write", True] in result["access"]
    assert "/var/log/vault ext4" in result["mounts"]


def test_a_missing_ssm_parameter_stops_the_boot_and_names_it(sandbox):
    secrets, boots, values = sandbox["envs"][DEV.name]
    gone = secrets.agent_token(Role.CONSUL_SERVER).parameter
    result = boot(sandbox, DEV, Role.CONSUL_SERVER, "missing-parameter",
                  parameters={k: v for k, v in values.items() if k != gone})
    assert result["rc"] != 0
    assert f"FAILED: SSM parameter missing or empty: {gone}" in result["output"]
    assert "boot complete" not in result["output"]
    assert [c["LifecycleActionResult"] for c in result["lifecycle"]] == ["ABANDON"]
    assert not any(line.startswith("enable ") for line in result["systemctl"])


def test_the_original_order_writing_configs_before_install_fails(sandbox):
    """The original boot wrote the agents' configs with write_files, i.e. before apt-get installed
    the packages that own them as conffiles: dpkg stops at its conffile prompt and, with no
    terminal, fails; `set -e` ends the boot."""
    _, boots, _ = sandbox["envs"][DEV.name]
    doc = boots[Role.CONSUL_SERVER].cloud_init.document()
    early = [{**f, "path": f["path"].removeprefix(STAGING)} for f in doc["write_files"]
             if f["path"].startswith(STAGING + "/etc/consul.d/")]
    assert [f["path"] for f in early] == ["/etc/consul.d/consul.hcl"]
    result = boot(sandbox, DEV, Role.CONSUL_SERVER, "original-order",
                  document={**doc, "write_files": doc["write_files"] + early})
    assert result["rc"] != 0
    assert "conffile" in result["output"] and "/etc/consul.d/consul.hcl" in result["output"]
    assert [c["LifecycleActionResult"] for c in result["lifecycle"]] == ["ABANDON"]


def test_a_wrong_signing_key_fingerprint_stops_the_boot(sandbox):
    secrets, _, values = sandbox["envs"][DEV.name]
    env = replace(DEV, packages=replace(DEV.packages, key_fingerprint="0" * 40))
    from hashistack.cluster import node_boots

    wrong = node_boots(env, secrets)[Role.CONSUL_SERVER]
    result = harness.run_node(sandbox["work"] / "wrong-key", base_root=sandbox["base"], env=env, boot=wrong,
                              parameters=values, repo=sandbox["repo"], pki=sandbox["pki"], moto=sandbox["moto"])
    assert result["rc"] != 0
    assert f"does not hold the pinned key {'0' * 40} (it holds: " in result["output"]
    assert sandbox["repo"].fingerprint in result["output"]
    assert "consul" not in result["holds"]


def _quick_units(doc: dict) -> dict:
    """The boot document with units tried once (UNIT_WAIT=0): the stand-in's answer does not
    change with time, so retrying for ten minutes would only slow the test."""
    for f in doc["write_files"]:
        if f["path"] == "/usr/local/sbin/hashistack-boot":
            wait = f"\nUNIT_WAIT={UNIT_WAIT_S}\n"
            assert wait in f["content"]
            f["content"] = f["content"].replace(wait, "\nUNIT_WAIT=0\n")
    return doc


def test_a_unit_that_cannot_read_its_key_fails_the_boot(sandbox):
    """The systemd stand-in is no kinder than systemd: Consul (User=consul) cannot start with a
    key only root may read, and the boot abandons the instance naming the unit and the file."""
    secrets, boots, values = sandbox["envs"][DEV.name]
    ci = boots[Role.CONSUL_SERVER].cloud_init
    key = "/etc/consul.d/tls/key.pem"
    broken = replace(ci, secrets=tuple(replace(s, owner="root") if s.path == key else s for s in ci.secrets))
    result = boot(sandbox, DEV, Role.CONSUL_SERVER, "unreadable-key", document=_quick_units(broken.document()))
    assert result["rc"] != 0
    assert f"Job for consul.service failed: the config names {key}: {key} is not readable by consul" in result["output"]
    assert "units that did not start: consul" in result["output"]
    assert [c["LifecycleActionResult"] for c in result["lifecycle"]] == ["ABANDON"]


def test_a_client_agent_with_auto_encrypt_never_reports_ready_before_its_token_exists(sandbox):
    """During deploy <env>-infra no Consul token is known yet: an agent that needs one to start
    (auto-encrypt) is never ready, so its boot fails; today's agents start without one."""
    secrets, boots, values = sandbox["envs"][DEV.name]
    ci = boots[Role.VAULT_SERVER].cloud_init
    config = "/etc/consul.d/consul.hcl"
    broken = replace(ci, files=tuple(replace(f, content=f.content + "auto_encrypt {\n  tls = true\n}\n")
                                     if f.path == config else f for f in ci.files))
    result = boot(sandbox, DEV, Role.VAULT_SERVER, "auto-encrypt", document=_quick_units(broken.document()))
    assert result["rc"] != 0
    assert ("Job for consul.service failed: auto_encrypt.tls: Start waits until the Consul servers accept the agent "
            "token") in result["output"]
    assert [c["LifecycleActionResult"] for c in result["lifecycle"]] == ["ABANDON"]
