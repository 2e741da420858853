"""`<env>`: the environment's services, each a Nomad job plus its own Vault access."""

from __future__ import annotations

from constructs import Construct

from hashistack import Environment
from hashistack.stack import EnvironmentStack


class ServicesStack(EnvironmentStack):
    """The environment's service layer, deployed daily with ``cdktf deploy <env>``."""

    def __init__(self, scope: Construct, id: str, *, environment: Environment) -> None:
        super().__init__(scope, id, environment=environment)
        self.add_nomad_provider()
        self.add_vault_provider()
