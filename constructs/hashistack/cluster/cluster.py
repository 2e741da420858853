"""HashiCluster: an environment's Nomad, Consul and Vault servers and Nomad clients on AWS.

Network, security groups from the port matrix, the Vault unseal key, internal load balancers
for the three APIs, four node groups whose agents are configured from typed models and whose
secrets are fetched at boot by their instance role, and, when the environment sets ``ingress``,
the ingress load balancer in front of the Nomad clients' proxy port. All load balancers write
their access logs to one bucket (``access_logs.py``).
"""

from __future__ import annotations

from typing import Sequence

from cdktf_cdktf_provider_aws.data_aws_ami import DataAwsAmi, DataAwsAmiFilter
from cdktf_cdktf_provider_aws.route53_record import Route53Record, Route53RecordAlias
from cdktf_cdktf_provider_aws.route53_zone import Route53Zone, Route53ZoneVpc
from constructs import Construct

from ..environment import Environment, IngressSettings
from ..contracts import SERVER_API_PORTS, api_host, join_tag, parameter_prefix
from .access_logs import LoadBalancerLogs
from .boot import DRAIN_HOOK, DRAIN_HOOK_TIMEOUT_S, NodeBoot, asg_name, node_boots
from .ingress import IngressLoadBalancer
from .kms import UnsealKey
from .load_balancer import ApiEndpoint, InternalApiLoadBalancer
from .network import Network
from .node_group import NodeGroup, NodeGroupSpec, session_manager_statements
from .ports import Role
from .secrets import ClusterSecrets, SecretSpec
from .security import ClusterSecurityGroups

__all__ = ["ClusterSecrets", "HashiCluster", "SecretSpec"]

# The API behind each internal load balancer and how the load balancer checks it.
_APIS = {
    "nomad": (Role.NOMAD_SERVER, ApiEndpoint(name="nomad", port=SERVER_API_PORTS["nomad"], health_protocol="HTTPS",
                                             health_path="/v1/agent/health?type=server")),
    "consul": (Role.CONSUL_SERVER, ApiEndpoint(name="consul", port=SERVER_API_PORTS["consul"], health_protocol="HTTPS",
                                               health_path="/v1/status/leader")),
    # An uninitialised Vault counts as healthy (uninitcode=200): at first bring-up the operator
    # runs `vault operator init` through this load balancer, and the group must not replace the
    # nodes meanwhile. A sealed one does not: with auto-unseal, sealed means broken.
    "vault": (Role.VAULT_SERVER, ApiEndpoint(name="vault", port=SERVER_API_PORTS["vault"], health_protocol="HTTPS",
                                             health_path="/v1/sys/health?standbyok=true&perfstandbyok=true"
                                                         "&uninitcode=200")),
}


class HashiCluster(Construct):
    """The cluster of one environment. ``secrets`` defaults to ``/hashistack/<env>/...``
    (:meth:`ClusterSecrets.under`); :attr:`boots` holds each node role's boot; :attr:`ingress`
    is the ingress load balancer (``None`` when the environment sets no ``ingress``)."""

    def __init__(self, scope: Construct, id: str, *, environment: Environment,
                 secrets: ClusterSecrets | None = None) -> None:
        super().__init__(scope, id)
        env = environment
        self.secrets = s = (secrets or ClusterSecrets.under(parameter_prefix(env))).validate(self.node.path)
        hostnames = {product: api_host(env, product) for product in _APIS}
        prefix = f"hashistack-{env.name}"
        self.network = Network(self, "network", environment=env)
        vpc_id = self.network.vpc.id
        private = [sn.id for sn in self.network.private_subnets]
        self.security = ClusterSecurityGroups(self, "security", vpc_id=vpc_id, name_prefix=prefix,
                                              operator_cidrs=env.network.operator_cidrs)
        sg = {role: group.id for role, group in self.security.groups.items()}
        self.unseal = UnsealKey(self, "vault-unseal", environment_name=env.name, account_id=env.account_id)

        days = env.ingress.access_log_days if env.ingress else IngressSettings.access_log_days
        self.access_logs = LoadBalancerLogs(self, "lb-logs", name_prefix=prefix, days=days,
                                            account_id=env.account_id, region=env.region,
                                            force_destroy=not env.deletion_protection)
        self.load_balancers = {
            name: InternalApiLoadBalancer(self, f"{name}-api", name=f"hs-{env.name}-{name}", endpoint=endpoint,
                                          vpc_id=vpc_id, subnet_ids=private, security_group_id=sg[Role.LOAD_BALANCER],
                                          logs=self.access_logs, deletion_protection=env.deletion_protection)
            for name, (_, endpoint) in _APIS.items()
        }

        # The private zone: nomad/consul/vault.<domain> name the internal load balancers.
        self.zone = Route53Zone(self, "zone", name=env.domain, comment=f"hashistack {env.name} cluster APIs",
                                vpc=[Route53ZoneVpc(vpc_id=vpc_id)])
        for name, balancer in self.load_balancers.items():
            Route53Record(self, f"{name}-record", zone_id=self.zone.zone_id, name=hostnames[name], type="A",
                          alias=Route53RecordAlias(name=balancer.lb.dns_name, zone_id=balancer.lb.zone_id,
                                                   evaluate_target_health=True))

        if env.ami_id:
            image_id, root_device = env.ami_id, "/dev/xvda"
        else:
            image = env.machine_image
            self.image = DataAwsAmi(self, "image", most_recent=True, owners=list(image.owners), filter=[
                DataAwsAmiFilter(name="name", values=[image.name]),
                DataAwsAmiFilter(name="architecture", values=[image.architecture]),
                DataAwsAmiFilter(name="virtualization-type", values=["hvm"]),
                DataAwsAmiFilter(name="root-device-type", values=["ebs"]),
            ])
            image_id, root_device = self.image.id, self.image.root_device_name

        region, account = env.region, env.account_id
        self.boots: dict[Role, NodeBoot] = node_boots(env, s)
        describe = {"Sid": "CloudAutoJoin", "Effect": "Allow", "Action": ["ec2:DescribeInstances"], "Resource": "*"}
        # The boot finds its EBS volumes by volume id where the image names no /dev/sdf (EC2's
        # describe calls take no narrower resource).
        volumes = {"Sid": "FindOwnVolumes", "Effect": "Allow", "Action": ["ec2:DescribeVolumes"], "Resource": "*"}

        def group(role: Role, *, instance_type: str, size: tuple[int, int, int], extra: Sequence[dict] = (),
                  lb: str | None = None) -> NodeGroup:
            boot = self.boots[role]
            name = asg_name(env, role)
            params = sorted(spec.parameter for spec in s.read_by(role))
            # the boot reads its secrets in one GetParameters call, and nothing else of SSM
            arns = [f"arn:aws:ssm:{region}:{account}:parameter{p}" for p in params]
            read = {"Sid": "ReadOwnSecrets", "Effect": "Allow", "Action": ["ssm:GetParameters"], "Resource": arns}
            # SSM decrypts a SecureString with the parameter's ARN as encryption context: the key
            # opens only this role's own parameters, and only through SSM.
            ssm_kms = {"Sid": "DecryptSecureStrings", "Effect": "Allow", "Action": ["kms:Decrypt"], "Resource": "*",
                       "Condition": {"StringEquals": {"kms:ViaService": f"ssm.{region}.amazonaws.com",
                                                      "kms:EncryptionContext:PARAMETER_ARN": arns}}}
            lifecycle = {"Sid": "CompleteOwnLifecycleHooks", "Effect": "Allow",
                         "Action": ["autoscaling:CompleteLifecycleAction"],
                         "Resource": [f"arn:aws:autoscaling:{region}:{account}:autoScalingGroup:*:"
                                      f"autoScalingGroupName/{name}"]}
            lo, hi, desired = size
            return NodeGroup(
                self, role.value,
                spec=NodeGroupSpec(name=name, instance_type=instance_type, ami_id=image_id,
                                   root_device_name=root_device, min_size=lo, max_size=hi, desired=desired,
                                   join_tag_value=join_tag(env, role)[1], user_data=boot.cloud_init.user_data(),
                                   volumes=tuple((v.device, v.size_gib) for v in boot.volumes),
                                   drain_hook=DRAIN_HOOK if "terminate" in boot.lifecycle_hooks else None,
                                   drain_timeout_s=DRAIN_HOOK_TIMEOUT_S,
                                   instance_refresh=role is Role.NOMAD_CLIENT),
                subnet_ids=private, security_group_id=sg[role],
                policy_statements=[describe, volumes, read, ssm_kms, lifecycle,
                                   *session_manager_statements(region, account), *extra],
                target_group_arns=[self.load_balancers[lb].target_group.arn] if lb else (),
            )

        n, c, v, pool = env.nomad, env.consul, env.vault, env.clients
        self.nomad_servers = group(Role.NOMAD_SERVER, instance_type=n.instance_type, size=(n.server_count,) * 3,
                                   lb="nomad")
        # A client notices its scale-in in the instance metadata (autoscaling/target-lifecycle-state).
        self.nomad_clients = group(
            Role.NOMAD_CLIENT, instance_type=pool.instance_type, size=(pool.min_size, pool.max_size, pool.desired))
        self.consul_servers = group(Role.CONSUL_SERVER, instance_type=c.instance_type, size=(c.server_count,) * 3,
                                    lb="consul")
        unseal = {"Sid": "AutoUnseal", "Effect": "Allow", "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"],
                  "Resource": [self.unseal.key.arn]}
        self.vault_servers = group(Role.VAULT_SERVER, instance_type=v.instance_type, size=(v.server_count,) * 3,
                                   extra=[unseal], lb="vault")

        # The AWS APIs the node roles may call, through endpoints inside the VPC.
        self.endpoints = None
        if env.network.endpoints_enabled(env.tier):
            from .endpoints import AwsEndpoints, services_called

            groups = (self.nomad_servers, self.nomad_clients, self.consul_servers, self.vault_servers)
            self.endpoints = AwsEndpoints(
                self, "aws-endpoints", name_prefix=prefix, vpc_id=vpc_id, region=env.region,
                services=services_called(st for g in groups for st in g.policy_statements),
                subnet_ids=private, route_table_ids=[rt.id for rt in self.network.private_route_tables],
                client_security_group_ids=[g.security_group_id for g in groups])

        # Users' traffic: an internet-facing load balancer sits in the public subnets, an internal
        # one in the private subnets; either reaches the clients' proxy port and nothing else.
        self.ingress: IngressLoadBalancer | None = None
        if env.ingress is not None:
            public = [sn.id for sn in self.network.public_subnets]
            self.ingress = IngressLoadBalancer(
                self, "ingress", settings=env.ingress, name_prefix=prefix, vpc_id=vpc_id,
                subnet_ids=public if env.ingress.internet_facing else private,
                target_security_group_id=sg[Role.NOMAD_CLIENT], target_asg_names=[self.nomad_clients.asg.name],
                deletion_protection=env.deletion_protection, logs=self.access_logs,
                logs_key_arn=self.network.logs_key.arn)
