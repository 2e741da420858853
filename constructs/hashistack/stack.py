"""The base stack of every layer: one environment, its state backend and its providers.

Providers take addresses and regions from the environment; each API address is a Terraform
variable defaulting to the environment's (``vault_address``, ``consul_address``,
``nomad_address``: :data:`hashistack.contracts.PROVIDER_ADDRESS_VARIABLES`), so an operator
reaching the cluster through the tunnel sets ``TF_VAR_vault_address=https://127.0.0.1:8200``
and needs no new synth (a provider reads ``VAULT_ADDR`` and the like only when its ``address``
is unset). Credentials never appear in code or in the synthesized JSON: they come from the
standard variables at deploy time
(``AWS_PROFILE``/``AWS_*``, ``VAULT_TOKEN``, ``NOMAD_TOKEN``, ``CONSUL_HTTP_TOKEN``, ``NOMAD_CACERT``,
``VAULT_CACERT``, ``CONSUL_CACERT``).
Provider packages are imported where a provider is added, so a stack pays only for what it uses.
"""

from __future__ import annotations

import posixpath
from urllib.parse import urlsplit

from cdktf import LocalBackend, S3Backend, TerraformStack, TerraformVariable
from constructs import Construct

from .contracts import PROVIDER_ADDRESS_VARIABLES
from .environment import Environment, LocalState

__all__ = ["EnvironmentStack"]


class EnvironmentStack(TerraformStack):
    """A Terraform stack bound to one :class:`~hashistack.environment.Environment`.

    The state backend comes from ``environment.state``: a local file for development
    (``<state_dir>/<stack>.tfstate`` at the project root) or an encrypted, locked S3 object
    (``<key_prefix>/<stack>.tfstate``).
    """

    def __init__(self, scope: Construct, id: str, *, environment: Environment) -> None:
        super().__init__(scope, id)
        self.environment = environment
        state = environment.state
        if isinstance(state, LocalState):
            # terraform runs inside cdktf.out/stacks/<stack>/: keep the state file outside the
            # synth output (which is rewritten) and give it a relative, machine-independent path.
            LocalBackend(self, path=posixpath.join("..", "..", "..", state.state_dir, f"{id}.tfstate"))
        else:
            S3Backend(
                self,
                bucket=state.bucket,
                key=state.state_key(id),
                region=state.region or environment.region,
                dynamodb_table=state.lock_table,
                encrypt=True,
                kms_key_id=state.kms_key_id,
            )
            if state.lock_table is None:
                # Terraform's own S3 lock file (1.10+); cdktf 0.21's S3Backend has no field for it
                self.add_override("terraform.backend.s3.use_lockfile", True)

    def add_aws_provider(self) -> None:
        """The AWS provider for the environment's region and account, with its tags on every resource."""
        from cdktf_cdktf_provider_aws.provider import AwsProvider, AwsProviderDefaultTags

        env = self.environment
        AwsProvider(
            self, "aws",
            region=env.region,
            allowed_account_ids=[env.account_id],
            default_tags=[AwsProviderDefaultTags(tags=dict(env.tags))],
        )

    def add_vault_provider(self) -> None:
        """The Vault provider at the environment's address (and namespace); token from ``VAULT_TOKEN``."""
        from cdktf_cdktf_provider_vault.provider import VaultProvider

        vault = self.environment.vault
        VaultProvider(self, "vault", address=self._address("vault", vault.address), namespace=vault.namespace)

    def add_nomad_provider(self) -> None:
        """The Nomad provider at the environment's address and region; token from ``NOMAD_TOKEN``."""
        from cdktf_cdktf_provider_nomad.provider import NomadProvider

        nomad = self.environment.nomad
        NomadProvider(self, "nomad", address=self._address("nomad", nomad.address), region=nomad.region)

    def add_consul_provider(self) -> None:
        """The Consul provider at the environment's address and datacenter.

        The token comes from ``CONSUL_HTTP_TOKEN`` and the CA from ``CONSUL_CACERT`` in the
        operator's environment: the provider starts from the Consul API client's
        ``DefaultConfig()``, which reads both (hashicorp/terraform-provider-consul v2.22.1,
        ``consul/config.go``; hashicorp/consul ``api/api.go``, ``defaultConfig``), so neither is in
        the code or the state. The address's scheme is passed as ``scheme`` and the rest as
        ``address`` (``host:port``), as the provider's schema has them."""
        from cdktf_cdktf_provider_consul.provider import ConsulProvider

        consul = self.environment.consul
        url = urlsplit(consul.address)
        ConsulProvider(self, "consul", address=self._address("consul", url.netloc), scheme=url.scheme,
                       datacenter=consul.datacenter)

    def _address(self, product: str, default: str) -> str:
        """The provider's address: a variable whose default is the environment's."""
        name = PROVIDER_ADDRESS_VARIABLES[product]
        return TerraformVariable(self, name, type="string", default=default, nullable=False,
                                 description=f"{product.capitalize()}'s API for this stack's provider (default: the "
                                             f"environment's; the operator's tunnel sets TF_VAR_{name})").string_value
