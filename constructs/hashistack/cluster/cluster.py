"""HashiCluster: an environment's Nomad, Consul and Vault servers and Nomad clients on AWS.

Network, security groups from the port matrix, the Vault unseal key, internal load balancers
for the three APIs, and four node groups whose agents are configured from typed models and
whose secrets are fetched at boot by their instance role.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Sequence

from constructs import Construct

from ..environment import Environment, Tier
from .agents import CONSUL_DIR, NOMAD_DIR, VAULT_DIR, ConsulAgentConfig, NomadAgentConfig, VaultServerConfig
from .cloud_init import CloudInit, ConfigFile, SecretFile, SecretRef, service_user_of, require_ref
from .kms import UnsealKey
from .load_balancer import ApiEndpoint, InternalApiLoadBalancer
from .network import Network
from .node_group import JOIN_TAG_KEY, NodeGroup, NodeGroupSpec
from .ports import Role
from .security import ClusterSecurityGroups

__all__ = ["ClusterSecrets", "HashiCluster"]


@dataclass(frozen=True, kw_only=True)
class ClusterSecrets:
    """Where each node's secrets live (SSM SecureString parameters), by reference only.
    :meth:`under` names them below one prefix, e.g. ``/hashistack/prod``."""

    nomad_gossip_key: SecretRef
    consul_gossip_key: SecretRef
    ca_cert: SecretRef
    nomad_server_cert: SecretRef
    nomad_server_key: SecretRef
    nomad_client_cert: SecretRef
    nomad_client_key: SecretRef
    consul_server_cert: SecretRef
    consul_server_key: SecretRef
    vault_cert: SecretRef
    vault_key: SecretRef

    @staticmethod
    def under(prefix: str) -> "ClusterSecrets":
        prefix = prefix.rstrip("/")
        return ClusterSecrets(**{f.name: SecretRef.ssm(f"{prefix}/{f.name.replace('_', '-')}")
                                 for f in fields(ClusterSecrets)})

    def validate(self, where: str) -> "ClusterSecrets":
        for f in fields(self):
            require_ref(getattr(self, f.name), where=where, field_name=f"secrets.{f.name}")
        return self


def _tls(directory: str, ca: SecretRef, cert: SecretRef | None, key: SecretRef | None) -> list[SecretFile]:
    owner = service_user_of(f"{directory}/")
    files = [SecretFile(ref=ca, path=f"{directory}/tls/ca.pem", mode="0644", owner=owner)]
    if cert and key:
        files += [SecretFile(ref=cert, path=f"{directory}/tls/cert.pem", mode="0644", owner=owner),
                  SecretFile(ref=key, path=f"{directory}/tls/key.pem", mode="0600", owner=owner)]
    return files


class HashiCluster(Construct):
    """The cluster of one environment. ``secrets`` defaults to ``/hashistack/<env>/...``."""

    def __init__(self, scope: Construct, id: str, *, environment: Environment,
                 secrets: ClusterSecrets | None = None) -> None:
        super().__init__(scope, id)
        env = environment
        self.secrets = s = (secrets or ClusterSecrets.under(f"/hashistack/{env.name}")).validate(self.node.path)
        prefix = f"hashistack-{env.name}"
        self.network = Network(self, "network", environment=env)
        vpc_id = self.network.vpc.id
        private = [sn.id for sn in self.network.private_subnets]
        self.security = ClusterSecurityGroups(self, "security", vpc_id=vpc_id, name_prefix=prefix,
                                              operator_cidrs=env.network.operator_cidrs)
        sg = {role: group.id for role, group in self.security.groups.items()}
        self.unseal = UnsealKey(self, "vault-unseal", environment_name=env.name, account_id=env.account_id)

        self.load_balancers = {
            name: InternalApiLoadBalancer(self, f"{name}-api", name=f"hs-{env.name}-{name}", endpoint=endpoint,
                                          vpc_id=vpc_id, subnet_ids=private, security_group_id=sg[Role.LOAD_BALANCER],
                                          deletion_protection=env.tier is not Tier.DEVELOPMENT)
            for name, endpoint in (
                ("nomad", ApiEndpoint(name="nomad", port=4646)),
                ("consul", ApiEndpoint(name="consul", port=8501)),
                ("vault", ApiEndpoint(name="vault", port=8200, health_protocol="HTTPS",
                                      health_path="/v1/sys/health?standbyok=true&perfstandbyok=true")),
            )
        }

        region, account = env.region, env.account_id
        join = {role: f"{env.name}-{role.value}" for role in Role}
        consul_join = join[Role.CONSUL_SERVER]

        def consul_agent(server: bool, count: int = 1) -> ConfigFile:
            return ConfigFile(path=f"{CONSUL_DIR}/consul.hcl", content=ConsulAgentConfig(
                server=server, datacenter=env.consul.datacenter, aws_region=region, join_tag_key=JOIN_TAG_KEY,
                join_tag_value=consul_join, bootstrap_expect=count).render())

        def ssm_read(files: list[SecretFile], gossip: list[SecretRef]) -> dict:
            params = sorted({f.ref.parameter for f in files} | {g.parameter for g in gossip})
            return {"Sid": "ReadOwnSecrets", "Effect": "Allow", "Action": ["ssm:GetParameter"],
                    "Resource": [f"arn:aws:ssm:{region}:{account}:parameter{p}" for p in params]}

        describe = {"Sid": "CloudAutoJoin", "Effect": "Allow", "Action": ["ec2:DescribeInstances"], "Resource": "*"}
        ssm_kms = {"Sid": "DecryptSecureStrings", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "*",
                   "Condition": {"StringEquals": {"kms:ViaService": f"ssm.{region}.amazonaws.com"}}}

        def group(role: Role, *, instance_type: str, size: tuple[int, int, int], packages: tuple[str, ...],
                  services: tuple[str, ...], files: list[ConfigFile], secret_files: list[SecretFile],
                  gossip: list[tuple[str, str, SecretRef]], extra: Sequence[dict] = (), lb: str | None = None,
                  vault_node: bool = False) -> NodeGroup:
            boot = CloudInit(aws_region=region, packages=packages, services=services, files=tuple(files),
                             secrets=tuple(secret_files), gossip=tuple(gossip), swap_off=vault_node,
                             substitute_private_ip=(f"{VAULT_DIR}/vault.hcl",) if vault_node else ())
            lo, hi, desired = size
            return NodeGroup(
                self, role.value,
                spec=NodeGroupSpec(name=f"{prefix}-{role.value}", instance_type=instance_type, ami_id=env.ami_id,
                                   min_size=lo, max_size=hi, desired=desired, join_tag_value=join[role],
                                   user_data=boot.render()),
                subnet_ids=private, security_group_id=sg[role],
                policy_statements=[describe, ssm_read(secret_files, [g[2] for g in gossip]), ssm_kms, *extra],
                target_group_arns=[self.load_balancers[lb].target_group.arn] if lb else (),
            )

        # Consul client with its gossip key on every node that is not a Consul server.
        consul_gossip = (f"{CONSUL_DIR}/gossip.hcl", "", s.consul_gossip_key)
        consul_ca = _tls(CONSUL_DIR, s.ca_cert, None, None)
        vault_ca = [SecretFile(ref=s.ca_cert, path=f"{VAULT_DIR}/tls/ca.pem", mode="0644", owner="root")]
        n, c, v = env.nomad, env.consul, env.vault

        def nomad(server: bool) -> ConfigFile:
            return ConfigFile(path=f"{NOMAD_DIR}/nomad.hcl", content=NomadAgentConfig(
                server=server, region=n.region, datacenter=n.datacenter, aws_region=region,
                join_tag_key=JOIN_TAG_KEY, join_tag_value=join[Role.NOMAD_SERVER], vault_address=v.address,
                bootstrap_expect=n.server_count).render())

        self.nomad_servers = group(
            Role.NOMAD_SERVER, instance_type=n.instance_type, size=(n.server_count,) * 3,
            packages=("nomad", "consul"), services=("consul", "nomad"),
            files=[nomad(True), consul_agent(False)],
            secret_files=_tls(NOMAD_DIR, s.ca_cert, s.nomad_server_cert, s.nomad_server_key) + consul_ca + vault_ca,
            gossip=[(f"{NOMAD_DIR}/gossip.hcl", "server", s.nomad_gossip_key), consul_gossip], lb="nomad")
        pool = env.clients
        self.nomad_clients = group(
            Role.NOMAD_CLIENT, instance_type=pool.instance_type, size=(pool.min_size, pool.max_size, pool.desired),
            packages=("nomad", "consul", "docker.io"), services=("docker", "consul", "nomad"),
            files=[nomad(False), consul_agent(False)],
            secret_files=_tls(NOMAD_DIR, s.ca_cert, s.nomad_client_cert, s.nomad_client_key) + consul_ca + vault_ca,
            gossip=[consul_gossip])
        self.consul_servers = group(
            Role.CONSUL_SERVER, instance_type=c.instance_type, size=(c.server_count,) * 3,
            packages=("consul",), services=("consul",),
            files=[ConfigFile(path=f"{CONSUL_DIR}/consul.hcl", content=ConsulAgentConfig(
                server=True, datacenter=c.datacenter, aws_region=region, join_tag_key=JOIN_TAG_KEY,
                join_tag_value=consul_join, bootstrap_expect=c.server_count).render())],
            secret_files=_tls(CONSUL_DIR, s.ca_cert, s.consul_server_cert, s.consul_server_key),
            gossip=[consul_gossip], lb="consul")
        unseal = {"Sid": "AutoUnseal", "Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"],
                  "Resource": [self.unseal.key.arn]}
        self.vault_servers = group(
            Role.VAULT_SERVER, instance_type=v.instance_type, size=(v.server_count,) * 3,
            packages=("vault", "consul"), services=("consul", "vault"),
            files=[ConfigFile(path=f"{VAULT_DIR}/vault.hcl", content=VaultServerConfig(
                aws_region=region, kms_key_id=self.unseal.alias_name, join_tag_key=JOIN_TAG_KEY,
                join_tag_value=join[Role.VAULT_SERVER], leader_tls_servername=f"vault.{env.domain}").render()),
                   consul_agent(False)],
            secret_files=_tls(VAULT_DIR, s.ca_cert, s.vault_cert, s.vault_key) + consul_ca,
            gossip=[consul_gossip], extra=[unseal], lb="vault", vault_node=True)
