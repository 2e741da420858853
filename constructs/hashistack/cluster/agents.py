"""Agent configurations as typed models rendered to HCL: Nomad server and client, Consul server
and client, Vault server. Hardened by default (REFERENCE: production defaults).

Secrets never appear here: gossip keys, ACL tokens and TLS material are fetched at boot by the
instance role into drop-in files of the same config directory (see
:mod:`hashistack.cluster.cloud_init` and :mod:`hashistack.cluster.boot`); the configs only name
the files they land in.

Each agent talks to the Consul agent on its own node over HTTPS on loopback (127.0.0.1:8501),
verified with the cluster CA: every Consul agent holds a certificate from the cluster CA (servers
their own, client agents the clients'), written at boot from SSM. No agent depends on auto-encrypt,
which would make a client agent's start wait for an ACL token that exists only after the day-0
bootstrap's phase ``cluster`` (Consul agent/auto-config/auto_encrypt.go retries the ``AutoEncrypt.Sign``
RPC until a server accepts the agent token). Values both sides of a handshake read come from
:mod:`hashistack.contracts`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..contracts import (
    CONFIG_DIRS,
    CONSUL_AUDIENCE,
    CONSUL_AUTH_METHOD,
    CONSUL_GRPC_TLS_PORT,
    CONSUL_HTTPS_PORT,
    CONSUL_LOCAL_HTTPS,
    VAULT_AUDIENCE,
    tls_files,
)
from ..hcl import Attr, Block, render
from .cloud_init import PRIVATE_IP

__all__ = ["CNI_PATH", "ConsulAgentConfig", "NomadAgentConfig", "PRIVATE_IP", "VaultServerConfig", "auto_join"]

NOMAD_DIR, CONSUL_DIR, VAULT_DIR = (CONFIG_DIRS[p] for p in ("nomad", "consul", "vault"))
NOMAD_DATA, CONSUL_DATA, VAULT_DATA = "/opt/nomad/data", "/opt/consul/data", "/opt/vault/data"
VAULT_AUDIT_DIR = "/var/log/vault"
CONSUL_LOCAL_GRPC_TLS = f"127.0.0.1:{CONSUL_GRPC_TLS_PORT}"
CNI_PATH = "/usr/lib/cni"
"""Where Debian's ``containernetworking-plugins`` installs the CNI reference plugins."""


def auto_join(region: str, tag_key: str, tag_value: str) -> str:
    """go-discover's AWS auto-join string: find peers by tag with the instance role."""
    return f"provider=aws region={region} tag_key={tag_key} tag_value={tag_value}"


INFRA_IMAGE = ("registry.k8s.io/pause:3.9"
               "@sha256:7031c1b283388d2c2e09b57badb803c05ebed362dc88d84b480cc47f72a21097")
"""The pause container that holds each bridge-networked allocation's network namespace, pinned by
its manifest-list digest. Nomad's default is ``registry.k8s.io/pause-<arch>:3.3`` by tag
(drivers/docker/config.go ``infra_image``, v1.10.2); a digest reference is pulled as
``repo@digest`` (drivers/docker/utils.go ``parseDockerImage``)."""

DRAIN_DEADLINE_S = 600
"""How long a client stopping on scale-in waits for its allocations to move (``drain_on_shutdown``)."""


@dataclass(frozen=True, kw_only=True)
class NomadAgentConfig:
    """A Nomad server (``server=True``) or client agent.

    Servers: ``bootstrap_expect`` servers joined by AWS tags, ACLs and mTLS on, Vault integration
    by workload identity (``default_identity`` with audience ``vault.io``), Consul integration by
    workload identity (``service_identity`` and ``task_identity`` with audience ``consul.io``).
    Clients: the docker driver only, ``raw_exec`` off, Vault reached over TLS and logged into at
    the environment's JWT auth path (``jwt_auth_backend_path``, a client-only field), Envoy
    sidecars bootstrapped from the local Consul agent's gRPC TLS port (verified with the cluster
    CA), bridge networking through the CNI plugins in ``/usr/lib/cni``. Both reach the local
    Consul agent over HTTPS (``ssl = true``), which makes Nomad fingerprint Consul's gRPC *TLS*
    port as ``attr.consul.grpc``: the attribute the Connect sidecar constraint needs above 0.

    Field names are Nomad's agent configuration as decoded in v1.10.2: the ``consul`` block is
    ``ConsulConfig`` (nomad/structs/config/consul.go: ``grpc_address``, ``grpc_ca_file``,
    ``service_identity``, ``task_identity``, ``service_auth_method``, ``task_auth_method``), an
    identity is ``WorkloadIdentityConfig`` (nomad/structs/config/workload_id.go: ``aud``,
    ``ttl``), and ``cni_path`` is ``ClientConfig.CNIPath`` (command/agent/config.go, default
    ``/opt/cni/bin``).
    """

    server: bool
    region: str
    datacenter: str
    aws_region: str
    join_tag_key: str
    join_tag_value: str
    vault_address: str
    jwt_auth_path: str = "jwt-nomad"
    bootstrap_expect: int = 1
    host_volumes: tuple[tuple[str, str, bool], ...] = ()
    """A client's ``host_volume`` blocks: ``(name, path, read_only)`` (command/agent/config.go
    ``ClientConfig.HostVolumes``, ``ClientHostVolumeConfig``: ``path``, ``read_only``)."""

    def body(self) -> list:
        tls = tls_files("nomad")
        join = Block("server_join", body=(Attr("retry_join", [auto_join(self.aws_region, self.join_tag_key,
                                                                         self.join_tag_value)]),))
        items: list = [
            Attr("region", self.region),
            Attr("datacenter", self.datacenter),
            Attr("data_dir", NOMAD_DATA),
            Attr("bind_addr", "0.0.0.0"),
            Attr("disable_update_check", True),
            Block("acl", body=(Attr("enabled", True),)),
            # mTLS on RPC; the HTTP API asks for no client certificate (verify_https_client =
            # false) because Vault's JWT auth fetches Nomad's JWKS from it and cannot present one,
            # nor can the load balancer's health check. Nomad's documented setup for workload
            # identity; the API is still TLS and every call needs an ACL token.
            Block("tls", body=(
                Attr("http", True), Attr("rpc", True),
                Attr("ca_file", tls["ca_file"]), Attr("cert_file", tls["cert_file"]), Attr("key_file", tls["key_file"]),
                Attr("verify_server_hostname", True), Attr("verify_https_client", False),
            )),
            # The local Consul agent on loopback, over verified HTTPS; its ACL token arrives at boot
            # in consul-token.hcl.
            self._consul(),
            Block("telemetry", body=(
                Attr("collection_interval", "10s"), Attr("disable_hostname", True), Attr("prometheus_metrics", True),
                Attr("publish_allocation_metrics", True), Attr("publish_node_metrics", True),
            )),
        ]
        if self.server:
            items += [
                Block("server", body=(Attr("enabled", True), Attr("bootstrap_expect", self.bootstrap_expect), join)),
                Block("vault", body=(
                    Attr("enabled", True), Attr("address", self.vault_address),
                    Attr("ca_file", tls["ca_file"]),
                    Block("default_identity", body=(Attr("aud", [VAULT_AUDIENCE]), Attr("ttl", "1h"))),
                )),
            ]
        else:
            items += [
                # SIGTERM is a drain: the client drains itself with its own node secret (no
                # token), and systemd's stop of the unit waits for it (cluster/boot.py).
                Attr("leave_on_terminate", True),
                Block("client", body=(
                    Attr("enabled", True), join,
                    Attr("options", {"driver.allowlist": "docker"}),
                    # bridge networking (Connect sidecars) runs the CNI reference plugins from here
                    Attr("cni_path", CNI_PATH),
                    Block("drain_on_shutdown", body=(Attr("deadline", f"{DRAIN_DEADLINE_S}s"),)),
                    *(Block("host_volume", (name,), body=(Attr("path", path), Attr("read_only", read_only)))
                      for name, path, read_only in self.host_volumes),
                )),
                Block("vault", body=(Attr("enabled", True), Attr("address", self.vault_address),
                                     Attr("ca_file", tls["ca_file"]),
                                     Attr("jwt_auth_backend_path", self.jwt_auth_path))),
                # A client's HTTP API serves only its own node: no security group admits 4646 to a
                # client, and on loopback the tasks' bridge cannot reach it either (it answers
                # /v1/metrics without a token). Nomad refuses a defaulted loopback advertise
                # ("Defaulting advertise to localhost is unsafe", command/agent/config.go
                # normalizeAdvertise, v1.10.2), so it is set; servers reach clients over RPC, and the
                # agent's own Consul check runs on this node.
                Block("addresses", body=(Attr("http", "127.0.0.1"),)),
                Block("advertise", body=(Attr("http", "127.0.0.1"),)),
                Block("plugin", ("raw_exec",), body=(Block("config", body=(Attr("enabled", False),)),)),
                Block("plugin", ("docker",), body=(Block("config", body=(
                    Attr("allow_privileged", False),
                    Attr("infra_image", INFRA_IMAGE),
                    Block("volumes", body=(Attr("enabled", False),)),
                )),)),
            ]
        return items

    def _consul(self) -> Block:
        ca = tls_files("nomad")["ca_file"]
        items: list = [Attr("address", CONSUL_LOCAL_HTTPS), Attr("ssl", True), Attr("verify_ssl", True),
                       Attr("ca_file", ca)]
        if self.server:
            # Nomad servers sign a workload identity for every Consul service and for every task
            # with a Consul template; clients log in with it through Consul's JWT auth method and
            # hand the token to the service registration, the Envoy sidecar or the template.
            identity = (Attr("aud", [CONSUL_AUDIENCE]), Attr("ttl", "1h"))
            items += [Block("service_identity", body=identity), Block("task_identity", body=identity)]
        else:
            # Envoy sidecars are bootstrapped against the local agent's gRPC TLS listener; its
            # certificate is the cluster CA's. Envoy speaks TLS to it only with grpc_ca_file set
            # (Consul command/connect/envoy/envoy.go xdsAddress, for Nomad's unix-socket relay).
            items += [Attr("grpc_address", CONSUL_LOCAL_GRPC_TLS), Attr("grpc_ca_file", ca),
                      Attr("service_auth_method", CONSUL_AUTH_METHOD), Attr("task_auth_method", CONSUL_AUTH_METHOD)]
        return Block("consul", body=tuple(items))

    def render(self) -> str:
        return render(self.body())


@dataclass(frozen=True, kw_only=True)
class ConsulAgentConfig:
    """A Consul server (``server=True``) or client agent: ACLs default deny, TLS verified both
    ways with server hostnames checked, script checks off, HTTP and HTTPS on loopback (servers
    also HTTPS on their private address), gRPC-TLS on. Servers enable Connect with its built-in CA.

    Every agent holds a certificate of the cluster CA (``tls.defaults``): servers
    ``server.<dc>.consul``, client agents the clients' certificate (``client.<dc>.consul``,
    ``localhost``, ``127.0.0.1``), which cannot pass ``verify_server_hostname``. No auto-encrypt:
    with it a client agent's start blocks until the servers accept its agent token (Consul
    v1.21 agent/auto-config/auto_encrypt.go), and the token is registered only by the day-0
    bootstrap after the nodes booted. With a certificate of its own a client agent starts, joins
    the LAN and reports ready before any token exists; its registration is retried by anti-entropy
    until phase ``cluster`` created the token.

    The node is named ``<role>-<instance id>`` (``node_name``; the boot fills in the id), the name
    its role's agent token may write (contracts.consul_node_prefix).

    gRPC TLS (8503, for Envoy sidecars) is served with that certificate. Incoming gRPC is not
    verified: Envoy presents no client certificate (Nomad's documentation for ``grpc_ca_file``,
    v1.10.2; Consul issue 13088)."""

    server: bool
    datacenter: str
    aws_region: str
    join_tag_key: str
    join_tag_value: str
    node_name: str
    """``<role>-<instance id>`` (contracts.consul_node_prefix; the boot fills in the id)."""
    bootstrap_expect: int = 1

    def body(self) -> list:
        tls = tls_files("consul")
        defaults = [Attr("ca_file", tls["ca_file"]), Attr("cert_file", tls["cert_file"]),
                    Attr("key_file", tls["key_file"]), Attr("verify_incoming", False), Attr("verify_outgoing", True)]
        # Servers serve HTTPS on their private address too, for the load balancer and operators
        # (ACLs guard it; no client certificate is asked for there). RPC between agents stays
        # mutually verified on servers.
        https_bind = "127.0.0.1 {{ GetPrivateIP }}" if self.server else "127.0.0.1"
        items: list = [
            Attr("datacenter", self.datacenter),
            Attr("node_name", self.node_name),
            Attr("data_dir", CONSUL_DATA),
            Attr("server", self.server),
            Attr("bind_addr", "{{ GetPrivateIP }}"),
            Attr("client_addr", "127.0.0.1"),
            Attr("retry_join", [auto_join(self.aws_region, self.join_tag_key, self.join_tag_value)]),
            Attr("enable_script_checks", False),
            Attr("enable_local_script_checks", False),
            Attr("disable_update_check", True),
            Block("addresses", body=(Attr("http", "127.0.0.1"), Attr("https", https_bind))),
            Block("ports", body=(Attr("http", 8500), Attr("https", CONSUL_HTTPS_PORT), Attr("grpc", -1),
                                 Attr("grpc_tls", CONSUL_GRPC_TLS_PORT), Attr("dns", 8600))),
            # The agent token and the default (DNS) token arrive at boot in acl-tokens.hcl.
            Block("acl", body=(Attr("enabled", True), Attr("default_policy", "deny"),
                               Attr("enable_token_persistence", True))),
            Block("tls", body=(
                Block("defaults", body=tuple(defaults)),
                Block("internal_rpc", body=(Attr("verify_incoming", self.server),
                                            Attr("verify_server_hostname", True))),
                Block("https", body=(Attr("verify_incoming", False),)),
                Block("grpc", body=(Attr("verify_incoming", False),)),
            )),
            Block("telemetry", body=(Attr("disable_hostname", True), Attr("prometheus_retention_time", "60s"))),
        ]
        if self.server:
            items += [Attr("bootstrap_expect", self.bootstrap_expect), Block("ui_config", body=(Attr("enabled", True),)),
                      # the service mesh, with Consul's built-in CA (the default provider)
                      Block("connect", body=(Attr("enabled", True),))]
        return items

    def render(self) -> str:
        return render(self.body())


@dataclass(frozen=True, kw_only=True)
class VaultServerConfig:
    """A Vault server: integrated raft storage joined by AWS tags over https, auto-unseal with an
    AWS KMS key through the instance role (no static keys), a TLS listener (TLS 1.2+), https
    ``api_addr``/``cluster_addr``, ``disable_mlock`` (swap is turned off at boot), Prometheus
    metrics behind a token. Vault does not register in Consul: clients reach it by its DNS name
    (``vault.<domain>``, the internal load balancer)."""

    aws_region: str
    kms_key_id: str
    join_tag_key: str
    join_tag_value: str
    leader_tls_servername: str

    def body(self) -> list:
        tls = tls_files("vault")
        return [
            Attr("ui", True),
            Attr("disable_mlock", True),
            Attr("api_addr", f"https://{PRIVATE_IP}:8200"),
            Attr("cluster_addr", f"https://{PRIVATE_IP}:8201"),
            Block("storage", ("raft",), body=(
                Attr("path", VAULT_DATA),
                Block("retry_join", body=(
                    Attr("auto_join", auto_join(self.aws_region, self.join_tag_key, self.join_tag_value)),
                    Attr("auto_join_scheme", "https"),
                    Attr("leader_tls_servername", self.leader_tls_servername),
                    Attr("leader_ca_cert_file", tls["ca_file"]),
                )),
            )),
            Block("listener", ("tcp",), body=(
                Attr("address", "0.0.0.0:8200"), Attr("cluster_address", "0.0.0.0:8201"),
                Attr("tls_cert_file", tls["cert_file"]), Attr("tls_key_file", tls["key_file"]),
                Attr("tls_client_ca_file", tls["ca_file"]), Attr("tls_min_version", "tls12"),
                Block("telemetry", body=(Attr("unauthenticated_metrics_access", False),)),
            )),
            Block("telemetry", body=(Attr("disable_hostname", True), Attr("prometheus_retention_time", "60s"))),
            Block("seal", ("awskms",), body=(Attr("region", self.aws_region), Attr("kms_key_id", self.kms_key_id))),
        ]

    def render(self) -> str:
        return render(self.body())
