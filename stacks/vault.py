"""`<env>-vault`: the Vault platform layer every service relies on."""

from __future__ import annotations

from constructs import Construct

from hashistack import Environment
from hashistack.stack import EnvironmentStack


class VaultStack(EnvironmentStack):
    """The environment's Vault layer: its provider and state backend."""

    def __init__(self, scope: Construct, id: str, *, environment: Environment) -> None:
        super().__init__(scope, id, environment=environment)
        self.add_vault_provider()
