"""Job containment on the Nomad clients (SECURITY.md, "A compromised task"): every container runs in
the tasks slice, the task firewall loads before docker and nomad (which require it), and its rules,
run in the real kernel's netfilter on a node built from namespaces (tests/support/netns_node.py), keep a
task on the host network or on Nomad's bridge off the node's services and the metadata service
while the node still reaches its tasks and the tasks the network beyond."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hashistack.cluster import ClusterSecrets, Role, node_boots
from hashistack.cluster import task_firewall as fw
from hashistack.cluster.boot import BRIDGE_SYSCTL
from stacks.environments import ENVIRONMENTS

from tests.support.systemd_standin import unit_keys

NODE = Path(__file__).resolve().parents[1] / "support" / "netns_node.py"


def client_files(env) -> dict[str, str]:
    boot = node_boots(env, ClusterSecrets.under(f"/hashistack/{env.name}"))[Role.NOMAD_CLIENT]
    return {f.path: f.content for f in boot.cloud_init.files}


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_nomad_clients_load_the_task_firewall_before_any_task_can_run(env):
    boots = node_boots(env, ClusterSecrets.under(f"/hashistack/{env.name}"))
    client = boots[Role.NOMAD_CLIENT].cloud_init
    files = client_files(env)
    # every container in the slice the rules match: one value, read by both
    assert json.loads(files[fw.DOCKER_DAEMON_CONFIG]) == {"cgroup-parent": fw.TASKS_SLICE}
    assert f'socket cgroupv2 level 1 "{fw.TASKS_SLICE}"' in files[fw.RULES_PATH]
    unit = unit_keys(files[f"/etc/systemd/system/{fw.FIREWALL_UNIT}"])
    assert unit["ExecStart"] == [f"/usr/sbin/nft -f {fw.RULES_PATH}"]
    assert unit["Requires"] == [fw.TASKS_SLICE] and fw.TASKS_SLICE in unit["After"][0]
    assert unit["Type"] == ["oneshot"] and unit["RemainAfterExit"] == ["yes"]
    assert f"/etc/systemd/system/{fw.TASKS_SLICE}" in files
    # fail closed: docker and nomad require the loaded table
    for product in ("docker", "nomad"):
        drop_in = unit_keys(files[f"/etc/systemd/system/{product}.service.d/hashistack-task-firewall.conf"])
        assert drop_in["Requires"] == [fw.FIREWALL_UNIT] and drop_in["After"] == [fw.FIREWALL_UNIT]
    # the precondition reads the sysctl the boot sets to 1: one value, both sides
    sysctl = fw.BRIDGE_NF_CALL_IPTABLES.removeprefix("/proc/sys/").replace("/", ".")
    assert f"{sysctl} = 1" in files[BRIDGE_SYSCTL].splitlines()
    assert f"""/bin/sh -c 'test "$(cat {fw.BRIDGE_NF_CALL_IPTABLES})" = 1'""" in unit["ExecStartPre"]
    services = list(client.services)
    assert services.index(fw.FIREWALL_UNIT.removesuffix(".service")) < services.index("docker")
    assert "nftables" in client.os_packages
    # only the clients run tasks
    for role in (Role.NOMAD_SERVER, Role.CONSUL_SERVER, Role.VAULT_SERVER):
        paths = {f.path for f in boots[role].cloud_init.files}
        assert fw.RULES_PATH not in paths and fw.DOCKER_DAEMON_CONFIG not in paths, role


def _kernel_tools_problem() -> str | None:
    if sys.platform != "linux" or os.geteuid() != 0:
        return "needs root on Linux (network and mount namespaces, nftables)"
    missing = [tool for tool in ("unshare", "nft", "ip") if shutil.which(tool) is None]
    if missing:
        return f"needs {', '.join(missing)} (Debian: apt-get install util-linux nftables iproute2)"
    done = subprocess.run(["unshare", "--mount", "--net", "true"], capture_output=True, text=True)
    if done.returncode != 0:
        return f"cannot create namespaces here: {done.stderr.strip()}"
    return None


_KERNEL_PROBLEM = _kernel_tools_problem()
needs_kernel = pytest.mark.skipif(_KERNEL_PROBLEM is not None, reason=str(_KERNEL_PROBLEM))


def run_node(tmp_path: Path, rules: str, slice_name: str, **env: str) -> dict:
    path = tmp_path / "task-firewall.nft"
    path.write_text(rules)
    done = subprocess.run(["unshare", "--mount", "--net", "--fork", sys.executable, str(NODE), str(path), slice_name],
                          capture_output=True, text=True, timeout=120, env={**os.environ, **env})
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout)


@pytest.mark.integration
@needs_kernel
def test_the_real_kernel_keeps_tasks_off_the_node_and_the_metadata(tmp_path):
    files = client_files(ENVIRONMENTS[-1])
    rules = files[fw.RULES_PATH]  # the file the boot writes, as it is
    checks = unit_keys(files[f"/etc/systemd/system/{fw.FIREWALL_UNIT}"])["ExecStartPre"]
    result = run_node(tmp_path, rules, fw.TASKS_SLICE, PRECONDITIONS=json.dumps(checks))
    # the unit's preconditions hold on a node set up as the boot sets it (bridge-nf-call-iptables = 1)
    assert result["preconditions"] == [0] * len(checks), result["preconditions"]
    # the control: without the table every probe connects, so each refusal below is the rules'
    assert set(result["before"].values()) == {"open"}, result["before"]
    assert result["loaded"] == 0, result["nft"]
    after = result["after"]
    print(json.dumps(after, indent=2))
    refused = {k for k, v in after.items() if v != "open"}
    assert refused == {
        "host-network task -> 127.0.0.1:4646", "host-network task -> 10.0.0.5:8301",
        "host-network task -> 169.254.169.254:80",
        "bridge task -> 172.26.64.1:7777", "bridge task -> 10.0.0.5:8301", "bridge task -> 169.254.169.254:80",
        # the app's own port at its allocation's address: only the node's own processes (the
        # Consul agent's address_mode "alloc" check) connect there; every other caller goes
        # through a port the job publishes (in the mesh, the sidecar's)
        "other allocation -> app 172.26.64.2:8080", "host-network task -> app 172.26.64.2:8080",
    }, after
    assert {after[k] for k in after if "published" in k} == {"open"}
    # refused at once (a reject), not left to time out
    assert {after[k] for k in refused} == {"refused"}


@pytest.mark.integration
@needs_kernel
def test_without_br_netfilter_on_the_bridge_the_unit_refuses_to_start(tmp_path):
    """Frames bridged from one allocation to another meet the forward rules only through
    br_netfilter: with bridge-nf-call-iptables off the rules load yet a direct call to the app
    passes, so the unit's precondition fails and docker and nomad, which require it, do not start.
    (With it on, as the boot sets it, the same preconditions pass: the test above.)"""
    files = client_files(ENVIRONMENTS[-1])
    checks = unit_keys(files[f"/etc/systemd/system/{fw.FIREWALL_UNIT}"])["ExecStartPre"]
    off = run_node(tmp_path, files[fw.RULES_PATH], fw.TASKS_SLICE, BRIDGE_NF_CALL_IPTABLES="0",
                   PRECONDITIONS=json.dumps(checks))
    assert off["loaded"] == 0 and off["after"]["other allocation -> app 172.26.64.2:8080"] == "open", off
    assert off["preconditions"][-1] != 0 and off["preconditions"][:-1] == [0] * (len(checks) - 1)


@pytest.mark.integration
@needs_kernel
def test_the_table_does_not_load_before_its_slice_exists(tmp_path):
    """nft resolves the slice's cgroup when it loads the rule: without the slice the unit fails, and
    docker and nomad, which require it, do not start."""
    absent = f"hashistack-absent-{os.getpid()}.slice"
    result = run_node(tmp_path, fw.rules(slice_name=absent), f"hashistack-other-{os.getpid()}.slice")
    assert result["loaded"] != 0 and absent in result["nft"], result
