"""What each node type boots, as plain Python: :func:`node_boots` turns an environment and its
:class:`ClusterSecrets` into one :class:`CloudInit` per node role. The cluster construct renders
these into the launch templates; the tests boot the same objects in a sandbox.

What each role runs is its row of :data:`hashistack.cluster.roles.NODE_ROLES` (agents, packages,
units, data volumes, lifecycle hooks); this module turns a row into files, secrets, directories
and the boot script. Every node also runs a Consul client agent, except Consul servers, which run
the server. The Nomad servers sit behind ``nomad.<domain>``, the Consul servers behind
``consul.<domain>``, Vault behind ``vault.<domain>`` with its audit log on a volume of its own
(logrotate, SIGHUP); Nomad clients drain themselves on scale-in and carry the CNI plugins and
bridge netfilter for Connect sidecars.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..contracts import (
    JOIN_TAG_KEY,
    SERVER_API_PORTS,
    api_host,
    ca_file,
    consul_node_prefix,
    join_tag,
    jwt_auth_path,
    tls_files,
)
from ..environment import Environment
from . import task_firewall
from .agents import (
    CNI_PATH,
    CONSUL_DATA,
    CONSUL_DIR,
    DRAIN_DEADLINE_S,
    NOMAD_DATA,
    NOMAD_DIR,
    VAULT_AUDIT_DIR,
    VAULT_DATA,
    VAULT_DIR,
    ConsulAgentConfig,
    NomadAgentConfig,
    VaultServerConfig,
)
from .cloud_init import INSTANCE_ID, CloudInit, ConfigFile, Directory, SecretFile, Volume
from .ports import Role
from .roles import AUDIT_DEVICE, CLIENT_OS_PACKAGES, DATA_DEVICE, NODE_ROLES
from .secrets import ClusterSecrets

__all__ = ["AUDIT_DEVICE", "DATA_DEVICE", "JOIN_TAG_KEY", "NodeBoot", "asg_name", "node_boots", "unseal_alias"]

HOST_VOLUMES_DIR = "/srv/nomad-volumes"
"""Where a client's host volumes live (on its root disk): the boot creates each directory, the
client's ``host_volume`` block names it."""


def host_volume_path(name: str) -> str:
    return f"{HOST_VOLUMES_DIR}/{name}"


DRAIN_HOOK = "hashistack-drain"
"""The terminate lifecycle hook of the client pool: a client drains itself, then completes it."""
DRAIN_STOP_TIMEOUT_S = DRAIN_DEADLINE_S + 60
"""systemd's wait for Nomad to stop: the drain deadline, Nomad's 5 s grace, and a margin."""
DRAIN_HOOK_TIMEOUT_S = DRAIN_STOP_TIMEOUT_S + 240
"""The terminate hook's heartbeat timeout: the timer's poll, the stop, the completion call."""

# What Debian's archive adds on every node: the AWS CLI (SSM, lifecycle), the udev rules that
# name NVMe EBS volumes by their attachment (/dev/sdf), systemd-resolved for Consul DNS.
OS_PACKAGES = ("awscli", "amazon-ec2-utils", "systemd-resolved", "ca-certificates", "curl", "gnupg")

RESOLVED_DROP_IN = "/etc/systemd/resolved.conf.d/consul.conf"
RESOLVED_CONF = """# *.consul names resolve through the local Consul agent's DNS interface.
[Resolve]
DNS=127.0.0.1:8600
DNSSEC=false
Domains=~consul
"""

VAULT_LOGROTATE = "/etc/logrotate.d/vault-audit"
VAULT_LOGROTATE_CONF = f"""# Vault's file audit device: rotated daily or past 512 MiB; Vault reopens the file on SIGHUP.
{VAULT_AUDIT_DIR}/audit.log {{
  daily
  maxsize 512M
  rotate 14
  compress
  delaycompress
  missingok
  notifempty
  create 0600 vault vault
  sharedscripts
  postrotate
    systemctl kill --signal=HUP --kill-whom=main vault.service >/dev/null 2>&1 || true
  endscript
}}
"""

DRAIN_SCRIPT = "/usr/local/sbin/hashistack-drain"

# Bridge networking on Nomad clients (the group network of every Connect service): Debian's CNI
# reference plugins, and iptables seeing bridged traffic. The plugins Nomad's bridge network
# runs are those of its conflist (client/allocrunner/cni/bridge.go, v1.10.2; consul-cni only for
# transparent proxy, which is not used). The bridge-nf-call sysctls are Nomad's documented
# prerequisite (website/content/partials/install/bridge-iptables.mdx, v1.10.2); they exist only
# once br_netfilter is loaded, so the module is loaded first, now and at every boot.
CNI_PLUGINS = ("bridge", "firewall", "host-local", "loopback", "portmap")
BRIDGE_MODULES = "/etc/modules-load.d/hashistack-bridge.conf"
BRIDGE_MODULES_CONF = "br_netfilter\n"
BRIDGE_SYSCTL = "/etc/sysctl.d/60-hashistack-bridge.conf"
BRIDGE_SYSCTL_CONF = """net.bridge.bridge-nf-call-arptables = 1
net.bridge.bridge-nf-call-ip6tables = 1
net.bridge.bridge-nf-call-iptables = 1
"""
BRIDGE_COMMANDS = (
    "# Bridge networking (Connect sidecars)",
    "modprobe br_netfilter",
    f"sysctl -q -p {BRIDGE_SYSCTL}",
    f"for plugin in {' '.join(CNI_PLUGINS)}; do",
    f'  [ -x "{CNI_PATH}/$plugin" ] || die "CNI plugin {CNI_PATH}/$plugin missing"',
    "done",
)

def unseal_alias(environment_name: str) -> str:
    """The KMS alias of the environment's Vault unseal key (the Vault config names it)."""
    return f"alias/hashistack-{environment_name}-vault-unseal"


def ssm_agent_url(region: str) -> str:
    """AWS's Debian package of the SSM agent, from the region's own bucket (AWS's documented source)."""
    return f"https://s3.{region}.amazonaws.com/amazon-ssm-{region}/latest/debian_amd64/amazon-ssm-agent.deb"


def asg_name(environment: Environment, role: Role) -> str:
    """The node group's autoscaling group name (fixed, so the boot can complete its lifecycle hook)."""
    return f"hashistack-{environment.name}-{role.value}"


def _drain_script(region: str, asg: str) -> str:
    # A stop of Nomad drains the client with its own node secret (leave_on_terminate,
    # drain_on_shutdown: no token on the node); see NOMAD_DRAIN_UNIT.
    return f"""#!/bin/bash
# On scale-in: stop Nomad (a stop drains this client), then let the group terminate it.
set -euo pipefail
imds=http://169.254.169.254/latest
t=$(curl -fsS -X PUT "$imds/api/token" -H "X-aws-ec2-metadata-token-ttl-seconds: 300")
meta() {{ curl -fsS -H "X-aws-ec2-metadata-token: $t" "$imds/meta-data/$1"; }}
[ "$(meta autoscaling/target-lifecycle-state)" = Terminated ] || exit 0
systemctl stop hashistack-drain.timer
systemctl stop nomad.service
aws autoscaling complete-lifecycle-action --region {region} --auto-scaling-group-name {asg} \\
  --lifecycle-hook-name {DRAIN_HOOK} --instance-id "$(meta instance-id)" --lifecycle-action-result CONTINUE
"""


# A stop of Nomad on a client is a drain: SIGTERM with leave_on_terminate runs drain_on_shutdown
# (client/drain.go DrainSelf: Node.UpdateDrain with the node's own secret, allowed for its own node
# only, nomad/node_endpoint.go; Nomad v1.10.2), and the agent waits the deadline plus 5 s
# (command/agent/command.go terminateGracefully, gracefulTimeout). Stopped before docker and
# Consul, so the drain can still stop its tasks and deregister their services.
NOMAD_DRAIN_DROP_IN = "/etc/systemd/system/nomad.service.d/hashistack-drain.conf"
NOMAD_DRAIN_UNIT = f"""[Unit]
After=docker.service consul.service

[Service]
KillSignal=SIGTERM
TimeoutStopSec={DRAIN_STOP_TIMEOUT_S}
"""

DRAIN_SERVICE = f"""[Unit]
Description=Drain this Nomad client on scale-in

[Service]
Type=oneshot
ExecStart={DRAIN_SCRIPT}
"""

DRAIN_TIMER = """[Unit]
Description=Poll for a scale-in of this Nomad client

[Timer]
OnBootSec=60s
OnUnitActiveSec=20s

[Install]
WantedBy=timers.target
"""


@dataclass(frozen=True, kw_only=True)
class NodeBoot:
    """One node role's boot and what its node group needs for it."""

    role: Role
    cloud_init: CloudInit
    volumes: tuple[Volume, ...]
    lifecycle_hooks: tuple[str, ...]


def _tls(product: str, owner: str, s: ClusterSecrets, cert, key) -> list[SecretFile]:
    """The agent's CA, certificate and key, where its config names them (contracts.tls_files)."""
    paths = tls_files(product)
    return [SecretFile(ref=s.ca_cert, path=paths["ca_file"], mode="0644", owner=owner),
            SecretFile(ref=cert, path=paths["cert_file"], mode="0644", owner=owner),
            SecretFile(ref=key, path=paths["key_file"], mode="0600", owner=owner)]


def node_boots(env: Environment, secrets: ClusterSecrets) -> dict[Role, NodeBoot]:
    """Every node role's boot for ``env``: agents, secrets, volumes, units."""
    region, pk = env.region, env.packages
    join = {role: join_tag(env, role)[1] for role in Role}
    n, c, v = env.nomad, env.consul, env.vault
    vault_address = env.vault.address  # vault.<domain>: the private zone's name of Vault's load balancer

    def consul_files(role: Role, server: bool, count: int = 1) -> tuple[list[ConfigFile], list[SecretFile],
                                                                          list[Directory]]:
        config = ConfigFile(path=f"{CONSUL_DIR}/consul.hcl", owner="consul", content=ConsulAgentConfig(
            server=server, datacenter=c.datacenter, aws_region=region, join_tag_key=JOIN_TAG_KEY,
            join_tag_value=join[Role.CONSUL_SERVER], node_name=consul_node_prefix(role) + INSTANCE_ID,
            bootstrap_expect=count).render())
        cert, key = ((secrets.consul_server_cert, secrets.consul_server_key) if server
                     else (secrets.consul_client_cert, secrets.consul_client_key))
        secret_files = _tls("consul", "consul", secrets, cert, key) + [
            SecretFile(ref=secrets.consul_gossip_key, path=f"{CONSUL_DIR}/gossip.hcl", mode="0640", owner="consul",
                       template='encrypt = "%s"\n'),
            SecretFile(ref=secrets.agent_token(role), path=f"{CONSUL_DIR}/acl-agent-token.hcl", mode="0640",
                       owner="consul", template='acl {\n  tokens {\n    agent = "%s"\n  }\n}\n'),
            SecretFile(ref=secrets.consul_dns_token, path=f"{CONSUL_DIR}/acl-default-token.hcl", mode="0640",
                       owner="consul", template='acl {\n  tokens {\n    default = "%s"\n  }\n}\n'),
        ]
        dirs = [Directory(path=CONSUL_DIR, owner="consul", mode="0750"),
                Directory(path=f"{CONSUL_DIR}/tls", owner="consul", mode="0750")]
        if not server:
            dirs.append(Directory(path=CONSUL_DATA, owner="consul", mode="0750"))
        return [config], secret_files, dirs

    resolved = ConfigFile(path=RESOLVED_DROP_IN, content=RESOLVED_CONF, mode="0644")

    host_volumes = env.clients.host_volumes

    def nomad_files(server: bool) -> tuple[list[ConfigFile], list[SecretFile], list[Directory]]:
        volumes = () if server else host_volumes
        config = ConfigFile(path=f"{NOMAD_DIR}/nomad.hcl", content=NomadAgentConfig(
            server=server, region=n.region, datacenter=n.datacenter, aws_region=region,
            join_tag_key=JOIN_TAG_KEY, join_tag_value=join[Role.NOMAD_SERVER], vault_address=vault_address,
            jwt_auth_path=jwt_auth_path(env), bootstrap_expect=n.server_count,
            host_volumes=tuple((v.name, host_volume_path(v.name), v.read_only) for v in volumes)).render())
        cert, key = ((secrets.nomad_server_cert, secrets.nomad_server_key) if server
                     else (secrets.nomad_client_cert, secrets.nomad_client_key))
        token = secrets.nomad_server_consul_token if server else secrets.nomad_client_consul_token
        secret_files = _tls("nomad", "root", secrets, cert, key) + [
            SecretFile(ref=token, path=f"{NOMAD_DIR}/consul-token.hcl", template='consul {\n  token = "%s"\n}\n')]
        if server:
            secret_files.append(SecretFile(ref=secrets.nomad_gossip_key, path=f"{NOMAD_DIR}/gossip.hcl",
                                           template='server {\n  encrypt = "%s"\n}\n'))
        dirs = [Directory(path=f"{NOMAD_DIR}/tls", owner="root", mode="0750")]
        if volumes:
            dirs.append(Directory(path=HOST_VOLUMES_DIR, owner="root", mode="0755"))
            dirs += [Directory(path=host_volume_path(v.name), owner=str(v.ids[0]), group=str(v.ids[1]), mode=v.mode)
                     for v in volumes]
        return [config], secret_files, dirs

    def boot(role: Role, *, products: tuple[str, ...], os_extra: tuple[str, ...] = (), files, secret_files, dirs,
             volumes: tuple[Volume, ...], services: tuple[str, ...], substitute=(), swap_off=False,
             commands: tuple[str, ...] = ()) -> CloudInit:
        return CloudInit(
            role=role.value, aws_region=region, asg_name=asg_name(env, role), repository_url=pk.repository_url,
            key_url=pk.signing_key_url, key_fingerprint=pk.key_fingerprint,
            products=tuple((p, pk.version_of(p)) for p in products), os_packages=OS_PACKAGES + os_extra,
            ssm_agent_url=ssm_agent_url(region),
            directories=tuple(dirs), volumes=volumes, secrets=tuple(secret_files), files=tuple(files) + (resolved,),
            # every node runs a Consul agent, named by its instance id
            substitute=(f"{CONSUL_DIR}/consul.hcl", *substitute), swap_off=swap_off,
            services=services + ("systemd-resolved", "amazon-ssm-agent"),
            commands=commands)

    def vault_files() -> tuple[list[ConfigFile], list[SecretFile], list[Directory]]:
        config = ConfigFile(path=f"{VAULT_DIR}/vault.hcl", owner="vault", content=VaultServerConfig(
            aws_region=region, kms_key_id=unseal_alias(env.name), join_tag_key=JOIN_TAG_KEY,
            join_tag_value=join[Role.VAULT_SERVER], leader_tls_servername=api_host(env, "vault")).render())
        dirs = [Directory(path=VAULT_DIR, owner="vault", mode="0750"),
                Directory(path=f"{VAULT_DIR}/tls", owner="vault", mode="0750")]
        return ([config, ConfigFile(path=VAULT_LOGROTATE, content=VAULT_LOGROTATE_CONF, mode="0644")],
                _tls("vault", "vault", secrets, secrets.vault_cert, secrets.vault_key), dirs)

    # the Nomad client's extras: a timer that drains it on scale-in, and what Connect sidecars need
    # (CNI plugins, br_netfilter) with the task firewall (job containment)
    client_role = NODE_ROLES[Role.NOMAD_CLIENT]
    drain = [ConfigFile(path=DRAIN_SCRIPT, mode="0755", content=_drain_script(region, asg_name(env, client_role.role))),
             ConfigFile(path=NOMAD_DRAIN_DROP_IN, mode="0644", content=NOMAD_DRAIN_UNIT),
             ConfigFile(path="/etc/systemd/system/hashistack-drain.service", mode="0644", content=DRAIN_SERVICE),
             ConfigFile(path="/etc/systemd/system/hashistack-drain.timer", mode="0644", content=DRAIN_TIMER)]
    mesh = [ConfigFile(path=BRIDGE_MODULES, mode="0644", content=BRIDGE_MODULES_CONF),
            ConfigFile(path=BRIDGE_SYSCTL, mode="0644", content=BRIDGE_SYSCTL_CONF), *task_firewall.files()]

    boots: dict[Role, NodeBoot] = {}
    for row in NODE_ROLES.values():
        files: list[ConfigFile] = []
        secret_files: list[SecretFile] = []
        dirs: list[Directory] = []
        parts = []
        if row.nomad:
            parts.append(nomad_files(row.nomad == "server"))
        if row.vault:
            parts.append(vault_files())
        server = row.consul == "server"
        parts.append(consul_files(row.role, server, c.server_count if server else 1))
        for f, sf, d in parts:
            files += f
            secret_files += sf
            dirs += d
        commands: tuple[str, ...] = ()
        if "terminate" in row.lifecycle_hooks:
            files += drain
        if row.mesh:
            files += mesh
            commands = BRIDGE_COMMANDS
        volumes = tuple(Volume(device=v.device, mount_point=v.mount_point, owner=v.owner, mode=v.mode,
                               size_gib=v.size_gib) for v in row.volumes)
        boots[row.role] = NodeBoot(role=row.role, volumes=volumes, lifecycle_hooks=row.lifecycle_hooks,
                                   cloud_init=boot(
            row.role, products=row.products, os_extra=row.os_packages, files=files, secret_files=secret_files,
            dirs=dirs, volumes=volumes, services=row.services, commands=commands,
            substitute=(f"{VAULT_DIR}/vault.hcl",) if row.vault else (), swap_off=row.swap_off))
    return boots
