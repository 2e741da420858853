"""`<env>-infra`: the AWS machines and network the cluster runs on."""

from __future__ import annotations

from constructs import Construct

from hashistack import Environment
from hashistack.stack import EnvironmentStack


class InfraStack(EnvironmentStack):
    """The environment's AWS layer: its provider and state backend."""

    def __init__(self, scope: Construct, id: str, *, environment: Environment) -> None:
        super().__init__(scope, id, environment=environment)
        self.add_aws_provider()
