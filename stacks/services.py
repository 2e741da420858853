"""`<env>`: the environment's services, each a Nomad job plus its own Vault access."""

from __future__ import annotations

from constructs import Construct

from hashistack import Environment
from hashistack.stack import EnvironmentStack

from .apps import service_modules


class ServicesStack(EnvironmentStack):
    """The environment's service layer, deployed daily with ``cdktf deploy <env>``: every
    module of ``stacks/apps`` deploys its service here."""

    def __init__(self, scope: Construct, id: str, *, environment: Environment) -> None:
        super().__init__(scope, id, environment=environment)
        self.add_nomad_provider()
        self.add_vault_provider()
        for module in service_modules():
            module.deploy(self, environment)
