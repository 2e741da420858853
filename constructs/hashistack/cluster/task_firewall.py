"""Job containment on the Nomad clients: what a task reaches of its own node.

Nomad OSS has no admission control, and its docker driver passes ``network_mode = "host"``,
``userns_mode``, ``devices``, ``pid_mode`` and ``sysctl`` through to docker (v1.10.2
drivers/docker/driver.go ``createContainerConfig``; the plugin gates only ``privileged``,
capabilities, runtimes and volumes). So the node itself keeps tasks off what they must never
reach: the instance metadata service (the node role's credentials) and every service of the
node (the agents' local APIs, the Consul agent's gossip and HTTPS ports).

- **Every container in a slice of its own.** dockerd's ``cgroup-parent`` puts each container
  under :data:`TASKS_SLICE` (``/sys/fs/cgroup/hashistack-tasks.slice/docker-<id>.scope``);
  Nomad's docker driver no longer sets a cgroup parent (driver.go: "do not set cgroup parent
  anymore"), so docker's daemon default decides. The one thing Nomad reads there is its cpuset
  fixer's guessed path ``/sys/fs/cgroup/system.slice/docker-<id>.scope`` (handle.go
  ``dockerCgroup``), which then fails silently (cpuset.go ``copyCpuset``): ``resources.cores``
  is not enforced for docker tasks, which the library never asks for (it reserves ``cpu``).
- **An nftables table** (:func:`rules`) that refuses, for sockets of that slice (a task on the
  host network), any new connection to an address of the node itself (``fib daddr type local``:
  loopback and the private address) and to the metadata service; and, for traffic arriving from
  the task bridges (Nomad's ``nomad`` bridge, docker's ``docker0``), any new connection to the
  node and any packet forwarded to the metadata service. Connections the node opens to a task
  (Consul's health checks, the ingress proxy's port mapping) and their replies pass.
- **A task is reached only through a port its job publishes** (:data:`PUBLISHED_ONLY`). Nomad's
  bridge network does not keep allocations apart (every allocation of the node on one bridge;
  v1.10.2 client/allocrunner/cni/bridge.go: the ``bridge``, ``firewall`` and ``portmap`` plugins,
  the last publishing each mapped port with DNAT), and transparent proxy is off, so any
  allocation, or any task on the host network, could open the app's port at its allocation's
  address directly and never meet the sidecar that enforces the intentions. The table refuses
  every new connection into a task bridge that did not arrive through a port mapping (the CNI
  portmap plugin's DNAT, ``ct status dnat``): in the mesh the only published ports are the
  sidecar's (its mutual-TLS listener and the expose path of a plain health check), so every
  caller goes through Envoy and the intentions. The node's own processes still connect straight
  to an allocation (the Consul agent's ``address_mode = "alloc"`` TLS check). It holds for any
  app, however it binds; binding apps to loopback would need each app's cooperation and rule out
  TLS checks, and transparent proxy needs Consul's CNI plugin on every client and redirects all
  of a task's traffic. Bridged frames reach the rule through br_netfilter, which the boot loads
  and Nomad's own bridge firewall needs too; the unit refuses to start without it.
- **Fail closed**: a oneshot unit loads the table after the slice started (systemd creates a
  slice's cgroup when it starts, src/core/slice.c ``slice_start``; nft resolves the cgroup path
  when it loads the rule), and docker and nomad ``Requires=`` it: if the table cannot load, no
  task runs on the node.
"""

from __future__ import annotations

import json

from .cloud_init import ConfigFile

__all__ = ["BRIDGE_NF_CALL_IPTABLES", "DOCKER_DAEMON_CONFIG", "FIREWALL_UNIT", "IMDS_ADDRESSES", "PUBLISHED_ONLY",
           "RULES_PATH", "TABLE", "TASKS_SLICE", "TASK_BRIDGES", "files", "rules"]

TASKS_SLICE = "hashistack-tasks.slice"
"""The systemd slice every container of the node runs in (dockerd's ``cgroup-parent``)."""
TASK_BRIDGES = ("nomad", "docker0")
"""Nomad's bridge network (client ``bridge_network_name``, default ``nomad``: client/config, v1.10.2)
and docker's default bridge."""
IMDS_ADDRESSES = ("169.254.169.254", "fd00:ec2::254")
"""EC2's instance metadata service, IPv4 and IPv6 (Nitro) endpoints."""
BRIDGE_NF_CALL_IPTABLES = "/proc/sys/net/bridge/bridge-nf-call-iptables"
"""1 once br_netfilter is loaded and the boot's bridge sysctls applied: frames bridged between two
ports of one bridge (allocation to allocation) then pass the IP forward hook, where the rules see them."""
TABLE = "hashistack_tasks"
RULES_PATH = "/etc/hashistack/task-firewall.nft"
FIREWALL_UNIT = "hashistack-task-firewall.service"
DOCKER_DAEMON_CONFIG = "/etc/docker/daemon.json"


PUBLISHED_ONLY = "a task is reached only through its published ports (in the mesh: its sidecar)"


def rules(*, slice_name: str = TASKS_SLICE, bridges: tuple[str, ...] = TASK_BRIDGES) -> str:
    """The nftables ruleset, replacing any earlier copy of the table atomically (one ``nft -f``)."""
    ifaces = "{ " + ", ".join(f'"{b}"' for b in bridges) + " }"
    v4, v6 = IMDS_ADDRESSES
    task = f'socket cgroupv2 level 1 "{slice_name}"'
    return f"""#!/usr/sbin/nft -f
# What a task reaches of this node, loaded by {FIREWALL_UNIT}
table inet {TABLE}
delete table inet {TABLE}
table inet {TABLE} {{
	chain input {{
		type filter hook input priority filter; policy accept;
		iifname {ifaces} ct state established,related accept
		iifname {ifaces} counter reject comment "no task reaches a service of its node"
	}}
	chain forward {{
		type filter hook forward priority filter; policy accept;
		iifname {ifaces} ip daddr {v4} counter reject comment "no task reaches the instance metadata"
		iifname {ifaces} ip6 daddr {v6} counter reject comment "no task reaches the instance metadata"
		oifname {ifaces} ct state new ct status ! dnat counter reject comment "{PUBLISHED_ONLY}"
	}}
	chain output {{
		type filter hook output priority filter; policy accept;
		ct state established,related accept
		{task} ip daddr {v4} counter reject comment "no task reaches the instance metadata"
		{task} ip6 daddr {v6} counter reject comment "no task reaches the instance metadata"
		{task} fib daddr type local counter reject comment "no task reaches a service of its node"
		{task} oifname {ifaces} ct status ! dnat counter reject comment "{PUBLISHED_ONLY}"
	}}
}}
"""


SLICE_UNIT = """[Unit]
Description=Every container of this Nomad client (dockerd cgroup-parent)
Before=slices.target

[Install]
WantedBy=multi-user.target
"""

# ExecStartPre: nft resolves the slice's cgroup when it loads the rule, so the slice must exist by
# then; bridged traffic meets the forward rules only through br_netfilter.
FIREWALL_SERVICE = f"""[Unit]
Description=Keep tasks off the instance metadata and this node's services (nftables)
Requires={TASKS_SLICE}
After={TASKS_SLICE} network-pre.target
Before=docker.service nomad.service
Wants=network-pre.target

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStartPre=/usr/bin/test -d /sys/fs/cgroup/{TASKS_SLICE}
ExecStartPre=/bin/sh -c 'test "$(cat {BRIDGE_NF_CALL_IPTABLES})" = 1'
ExecStart=/usr/sbin/nft -f {RULES_PATH}
ExecStop=/usr/sbin/nft delete table inet {TABLE}

[Install]
WantedBy=multi-user.target
"""

REQUIRE_FIREWALL = f"""[Unit]
# no task runs on this node without the task firewall
Requires={FIREWALL_UNIT}
After={FIREWALL_UNIT}
"""


def files() -> tuple[ConfigFile, ...]:
    """The client's containment files: dockerd's configuration, the slice, the rules, the unit
    that loads them, and the drop-ins that make docker and nomad require it."""
    daemon = json.dumps({"cgroup-parent": TASKS_SLICE}, indent=2) + "\n"
    return (
        ConfigFile(path=DOCKER_DAEMON_CONFIG, mode="0644", content=daemon),
        ConfigFile(path=f"/etc/systemd/system/{TASKS_SLICE}", mode="0644", content=SLICE_UNIT),
        ConfigFile(path=RULES_PATH, mode="0644", content=rules()),
        ConfigFile(path=f"/etc/systemd/system/{FIREWALL_UNIT}", mode="0644", content=FIREWALL_SERVICE),
        *(ConfigFile(path=f"/etc/systemd/system/{unit}.service.d/hashistack-task-firewall.conf", mode="0644",
                     content=REQUIRE_FIREWALL) for unit in ("docker", "nomad")),
    )
