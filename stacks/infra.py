"""`<env>-infra`: the AWS machines and network the cluster runs on."""

from __future__ import annotations

from constructs import Construct

from hashistack import Environment, S3State
from hashistack.cluster.cluster import ClusterSecrets, HashiCluster
from hashistack.stack import EnvironmentStack
from hashistack.state_access import CiStateAccess


class InfraStack(EnvironmentStack):
    """The environment's cluster on AWS: VPC, security groups from the port matrix, Nomad,
    Consul and Vault servers, Nomad clients, the Vault unseal key, the API load balancers, their
    access-log bucket, when the environment sets ``ingress``, the ingress load balancer (and its
    web firewall when internet-facing), and, with S3 state, CI's policy for the services layer's
    state."""

    def __init__(self, scope: Construct, id: str, *, environment: Environment,
                 secrets: ClusterSecrets | None = None) -> None:
        super().__init__(scope, id, environment=environment)
        self.add_aws_provider()
        self.cluster = HashiCluster(self, "cluster", environment=environment, secrets=secrets)
        if isinstance(environment.state, S3State):
            self.ci_state = CiStateAccess(self, "ci-state", environment=environment)
