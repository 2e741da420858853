"""Agent configurations as typed models rendered to HCL: Nomad server and client, Consul server
and client, Vault server. Hardened by default (REFERENCE: production defaults).

Secrets never appear here: gossip keys and TLS material are fetched at boot by the instance role
(see :mod:`hashistack.cluster.cloud_init`); the configs only name the files they land in.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..hcl import Attr, Block, render
from ..vault.jwt import WORKLOAD_AUDIENCE

__all__ = ["ConsulAgentConfig", "NomadAgentConfig", "VaultServerConfig", "auto_join"]

NOMAD_DIR, CONSUL_DIR, VAULT_DIR = "/etc/nomad.d", "/etc/consul.d", "/etc/vault.d"
PRIVATE_IP = "__PRIVATE_IP__"
"""Placeholder the boot script replaces with the instance's private IP (from IMDSv2)."""


def auto_join(region: str, tag_key: str, tag_value: str) -> str:
    """go-discover's AWS auto-join string: find peers by tag with the instance role."""
    return f"provider=aws region={region} tag_key={tag_key} tag_value={tag_value}"


def _tls_files(directory: str) -> dict[str, str]:
    return {"ca_file": f"{directory}/tls/ca.pem", "cert_file": f"{directory}/tls/cert.pem",
            "key_file": f"{directory}/tls/key.pem"}


@dataclass(frozen=True, kw_only=True)
class NomadAgentConfig:
    """A Nomad server (``server=True``) or client agent.

    Servers: ``bootstrap_expect`` servers joined by AWS tags, ACLs and mTLS on, Vault integration
    by workload identity (``default_identity`` with audience ``vault.io``). Clients: the docker
    driver only, ``raw_exec`` off, Vault and Consul reached over TLS.
    """

    server: bool
    region: str
    datacenter: str
    aws_region: str
    join_tag_key: str
    join_tag_value: str
    vault_address: str
    bootstrap_expect: int = 1

    def body(self) -> list:
        tls = _tls_files(NOMAD_DIR)
        join = Block("server_join", body=(Attr("retry_join", [auto_join(self.aws_region, self.join_tag_key,
                                                                         self.join_tag_value)]),))
        items: list = [
            Attr("region", self.region),
            Attr("datacenter", self.datacenter),
            Attr("data_dir", "/opt/nomad/data"),
            Attr("bind_addr", "0.0.0.0"),
            Attr("disable_update_check", True),
            Block("acl", body=(Attr("enabled", True),)),
            Block("tls", body=(
                Attr("http", True), Attr("rpc", True),
                Attr("ca_file", tls["ca_file"]), Attr("cert_file", tls["cert_file"]), Attr("key_file", tls["key_file"]),
                Attr("verify_server_hostname", True), Attr("verify_https_client", True),
            )),
            Block("consul", body=(
                Attr("address", "127.0.0.1:8501"), Attr("ssl", True), Attr("ca_file", f"{CONSUL_DIR}/tls/ca.pem"),
                Attr("grpc_address", "127.0.0.1:8503"), Attr("grpc_ca_file", f"{CONSUL_DIR}/tls/ca.pem"),
            )),
        ]
        if self.server:
            items += [
                Block("server", body=(Attr("enabled", True), Attr("bootstrap_expect", self.bootstrap_expect), join)),
                Block("vault", body=(
                    Attr("enabled", True), Attr("address", self.vault_address),
                    Attr("ca_file", f"{VAULT_DIR}/tls/ca.pem"),
                    Block("default_identity", body=(Attr("aud", [WORKLOAD_AUDIENCE]), Attr("ttl", "1h"))),
                )),
            ]
        else:
            items += [
                Block("client", body=(
                    Attr("enabled", True), join,
                    Attr("options", {"driver.allowlist": "docker"}),
                )),
                Block("vault", body=(Attr("enabled", True), Attr("address", self.vault_address),
                                     Attr("ca_file", f"{VAULT_DIR}/tls/ca.pem"))),
                Block("plugin", ("raw_exec",), body=(Block("config", body=(Attr("enabled", False),)),)),
                Block("plugin", ("docker",), body=(Block("config", body=(
                    Attr("allow_privileged", False),
                    Block("volumes", body=(Attr("enabled", False),)),
                )),)),
            ]
        return items

    def render(self) -> str:
        return render(self.body())


@dataclass(frozen=True, kw_only=True)
class ConsulAgentConfig:
    """A Consul server (``server=True``) or client agent: ACLs default deny, TLS verified both
    ways with server hostnames checked, auto-encrypt, script checks off, HTTP on loopback only,
    HTTPS and gRPC-TLS on."""

    server: bool
    datacenter: str
    aws_region: str
    join_tag_key: str
    join_tag_value: str
    bootstrap_expect: int = 1

    def body(self) -> list:
        tls = _tls_files(CONSUL_DIR)
        defaults = [Attr("ca_file", tls["ca_file"]), Attr("verify_incoming", self.server),
                    Attr("verify_outgoing", True)]
        if self.server:
            defaults += [Attr("cert_file", tls["cert_file"]), Attr("key_file", tls["key_file"])]
        items: list = [
            Attr("datacenter", self.datacenter),
            Attr("data_dir", "/opt/consul/data"),
            Attr("server", self.server),
            Attr("bind_addr", "{{ GetPrivateIP }}"),
            Attr("client_addr", "127.0.0.1"),
            Attr("retry_join", [auto_join(self.aws_region, self.join_tag_key, self.join_tag_value)]),
            Attr("enable_script_checks", False),
            Attr("enable_local_script_checks", False),
            Attr("disable_update_check", True),
            Block("addresses", body=(Attr("http", "127.0.0.1"),)),
            Block("ports", body=(Attr("http", 8500), Attr("https", 8501), Attr("grpc", -1), Attr("grpc_tls", 8503))),
            Block("acl", body=(Attr("enabled", True), Attr("default_policy", "deny"),
                               Attr("enable_token_persistence", True))),
            Block("tls", body=(
                Block("defaults", body=tuple(defaults)),
                Block("internal_rpc", body=(Attr("verify_server_hostname", True),)),
            )),
            Block("auto_encrypt", body=((Attr("allow_tls", True),) if self.server else (Attr("tls", True),))),
        ]
        if self.server:
            items += [Attr("bootstrap_expect", self.bootstrap_expect), Block("ui_config", body=(Attr("enabled", True),))]
        return items

    def render(self) -> str:
        return render(self.body())


@dataclass(frozen=True, kw_only=True)
class VaultServerConfig:
    """A Vault server: integrated raft storage joined by AWS tags over https, auto-unseal with an
    AWS KMS key through the instance role (no static keys), a TLS listener (TLS 1.2+), https
    ``api_addr``/``cluster_addr``, ``disable_mlock`` (swap is turned off at boot)."""

    aws_region: str
    kms_key_id: str
    join_tag_key: str
    join_tag_value: str
    leader_tls_servername: str

    def body(self) -> list:
        tls = _tls_files(VAULT_DIR)
        return [
            Attr("ui", True),
            Attr("disable_mlock", True),
            Attr("api_addr", f"https://{PRIVATE_IP}:8200"),
            Attr("cluster_addr", f"https://{PRIVATE_IP}:8201"),
            Block("storage", ("raft",), body=(
                Attr("path", "/opt/vault/data"),
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
            )),
            Block("seal", ("awskms",), body=(Attr("region", self.aws_region), Attr("kms_key_id", self.kms_key_id))),
        ]

    def render(self) -> str:
        return render(self.body())
