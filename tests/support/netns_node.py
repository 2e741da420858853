"""A Nomad client's network, built with the real kernel's namespaces, to run the task firewall's
rules in the real netfilter (``nft``). Run as root inside ``unshare --mount --net --fork``:

    python3 tests/support/netns_node.py <rules.nft> <slice>

The node's own namespace holds the agents' listeners (127.0.0.1:4646 as Nomad's client API,
10.0.0.5:8301 on ``eth0`` (one end of a veth pair) as the Consul agent on the private address, 0.0.0.0:7777 as
any service of the node); an ``alloc`` namespace sits on the ``nomad`` bridge (172.26.64.2, an
allocation's bridge address, serving 8080 as the app its health check reaches; its job
publishes it as 10.0.0.5:25000 through a stand-in of the CNI portmap plugin), an ``other``
namespace beside it on the same bridge (172.26.64.3, another allocation); an ``imds``
namespace behind a routed link serves 169.254.169.254:80 (the metadata service) and 10.9.0.2:80
(the network beyond the node). A process moved into ``<slice>/docker-task.scope`` is a task on the
host network (the directories are removed at the end: the cgroup hierarchy is the machine's).
Every probe runs once before the rules load (all must connect: the control) and
once after; the result is printed as JSON. Environment: ``BRIDGE_NF_CALL_IPTABLES`` (default 1,
as the boot sets it), ``PRECONDITIONS`` (a JSON list of shell commands, run before the control,
their exit codes reported).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time

SCOPE = "docker-task.scope"
APP = ("172.26.64.2", 8080)
PUBLISHED = ("10.0.0.5", 25000)
# STAND-IN for the CNI portmap plugin Nomad's bridge network runs (v1.10.2
# client/allocrunner/cni/bridge.go, ``snat = true``): a published host port DNATed to the
# allocation, from outside and from the node, and masqueraded when an allocation of the same
# bridge calls it (hairpin). Loaded before the control run: it is Nomad's, not the task firewall's.
PORTMAP = f"""table ip portmap_standin {{
	chain prerouting {{
		type nat hook prerouting priority dstnat;
		fib daddr type local tcp dport {PUBLISHED[1]} dnat to {APP[0]}:{APP[1]}
	}}
	chain output {{
		type nat hook output priority -100;
		fib daddr type local tcp dport {PUBLISHED[1]} dnat to {APP[0]}:{APP[1]}
	}}
	chain postrouting {{
		type nat hook postrouting priority srcnat;
		oifname "nomad" ip saddr 172.26.64.0/20 ct status dnat masquerade
	}}
}}
"""
NODE_SERVICES = [("127.0.0.1", 4646), ("10.0.0.5", 8301)]
IMDS = ("169.254.169.254", 80)
BEYOND = ("10.9.0.2", 80)


def sh(*commands: str) -> None:
    for command in commands:
        subprocess.run(command, shell=True, check=True)


def setup(slice_name: str) -> str:
    sh("mount -t cgroup2 cgroup2 /sys/fs/cgroup",
       f"mkdir -p /sys/fs/cgroup/{slice_name}/{SCOPE}",
       "mount -t tmpfs tmpfs /run",  # ip netns keeps its handles in /run/netns
       "ip link set lo up",
       "ip link add eth0 type veth peer name eth0-peer && ip link set eth0-peer up",
       "ip addr add 10.0.0.5/24 dev eth0 && ip link set eth0 up",
       "sysctl -qw net.ipv4.ip_forward=1",
       # an allocation on Nomad's bridge
       "ip netns add alloc && ip -n alloc link set lo up",
       "ip link add nomad type bridge && ip addr add 172.26.64.1/20 dev nomad && ip link set nomad up",
       "ip link add veth-alloc type veth peer name eth0 netns alloc",
       "ip link set veth-alloc master nomad up",
       "ip -n alloc addr add 172.26.64.2/20 dev eth0 && ip -n alloc link set eth0 up",
       "ip -n alloc route add default via 172.26.64.1",
       # a second allocation on the same bridge, and bridged frames through the IP hooks, as the
       # boot's bridge sysctls set them (per network namespace)
       f"sysctl -qw net.bridge.bridge-nf-call-iptables={os.environ.get('BRIDGE_NF_CALL_IPTABLES', '1')}",
       "ip netns add other && ip -n other link set lo up",
       "ip link add veth-other type veth peer name eth0 netns other",
       "ip link set veth-other master nomad up",
       "ip -n other addr add 172.26.64.3/20 dev eth0 && ip -n other link set eth0 up",
       "ip -n other route add default via 172.26.64.1",
       f"nft -f - <<'EOF'\n{PORTMAP}EOF",
       # the metadata service and the network beyond, one routed hop away
       "ip netns add imds && ip -n imds link set lo up",
       "ip link add veth-imds type veth peer name eth0 netns imds",
       "ip addr add 10.9.0.1/30 dev veth-imds && ip link set veth-imds up",
       "ip -n imds addr add 10.9.0.2/30 dev eth0 && ip -n imds addr add 169.254.169.254/32 dev lo",
       "ip -n imds link set eth0 up && ip -n imds route add default via 10.9.0.1",
       "ip route add 169.254.169.254/32 via 10.9.0.2")
    return f"/sys/fs/cgroup/{slice_name}/{SCOPE}/cgroup.procs"


def into(procs: str):
    def move() -> None:
        with open(procs, "w") as f:
            f.write(str(os.getpid()))
    return move


LISTEN = ("import socket, sys, time\n"
          "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
          "s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(16)\n"
          "while True:\n    c, _ = s.accept(); c.close()\n")
PROBE = ("import socket, sys\n"
         "try:\n    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1.5).close(); print('open')\n"
         "except ConnectionRefusedError: print('refused')\n"
         "except socket.timeout: print('timeout')\n"
         "except OSError as e: print(type(e).__name__)\n")


def listen(host: str, port: int, netns: str | None = None, preexec=None) -> subprocess.Popen:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    return subprocess.Popen([*prefix, sys.executable, "-c", LISTEN, host, str(port)], preexec_fn=preexec)


def probe(host: str, port: int, netns: str | None = None, preexec=None) -> str:
    prefix = ["ip", "netns", "exec", netns] if netns else []
    out = subprocess.run([*prefix, sys.executable, "-c", PROBE, host, str(port)], preexec_fn=preexec,
                         capture_output=True, text=True, check=True)
    return out.stdout.strip()


def probes(procs: str) -> dict[str, str]:
    task = into(procs)
    result: dict[str, str] = {}
    for host, port in [*NODE_SERVICES, IMDS, BEYOND]:
        result[f"host-network task -> {host}:{port}"] = probe(host, port, preexec=task)
        result[f"node -> {host}:{port}"] = probe(host, port)
    for host, port in [("172.26.64.1", 7777), ("10.0.0.5", 8301), IMDS, BEYOND]:
        result[f"bridge task -> {host}:{port}"] = probe(host, port, netns="alloc")
    result["node -> bridge task 172.26.64.2:8080"] = probe(*APP)
    # the app's port at its allocation's address, and the port its job publishes
    result["other allocation -> app 172.26.64.2:8080"] = probe(*APP, netns="other")
    result["host-network task -> app 172.26.64.2:8080"] = probe(*APP, preexec=task)
    result["other allocation -> published 10.0.0.5:25000"] = probe(*PUBLISHED, netns="other")
    result["host-network task -> published 10.0.0.5:25000"] = probe(*PUBLISHED, preexec=task)
    result["node -> published 10.0.0.5:25000"] = probe(*PUBLISHED)
    result["node -> host-network task 127.0.0.1:9090"] = probe("127.0.0.1", 9090)
    return result


def main(rules_path: str, slice_name: str) -> None:
    procs = setup(slice_name)
    servers = [listen(h, p) for h, p in NODE_SERVICES] + [listen("0.0.0.0", 7777)]
    servers += [listen(*IMDS, netns="imds"), listen(*BEYOND, netns="imds"),
                listen(*APP, netns="alloc"), listen("127.0.0.1", 9090, preexec=into(procs))]
    try:
        time.sleep(0.5)
        # the firewall unit's preconditions (ExecStartPre=), as JSON in PRECONDITIONS: their exit codes
        preconditions = [subprocess.run(command, shell=True).returncode
                         for command in json.loads(os.environ.get("PRECONDITIONS", "[]"))]
        before = probes(procs)
        loaded = subprocess.run(["nft", "-f", rules_path], capture_output=True, text=True)
        after = probes(procs) if loaded.returncode == 0 else {}
        print(json.dumps({"preconditions": preconditions, "before": before, "loaded": loaded.returncode, "nft": loaded.stderr, "after": after}))
    finally:
        for server in servers:
            server.kill()
            server.wait()
        # the cgroup hierarchy is the machine's own, not the namespace's: leave nothing behind
        for directory in (f"/sys/fs/cgroup/{slice_name}/{SCOPE}", f"/sys/fs/cgroup/{slice_name}"):
            try:
                os.rmdir(directory)
            except OSError:
                pass


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
