"""`<env>`: the environment's services, one Nomad job each."""

from __future__ import annotations

from constructs import Construct

from hashistack import Environment
from hashistack.ingress import with_ingress_proxy
from hashistack.service.go_service import GoService
from hashistack.stack import EnvironmentStack

from .apps import service_specs


class ServicesStack(EnvironmentStack):
    """The environment's service layer, deployed daily with ``cdktf deploy <env>``: the Nomad job
    of every module of ``stacks/apps``, and the ingress proxy (``ingress-proxy``, Traefik) where
    the environment declares ingress settings. It holds no Vault resource: each service's Vault access
    is applied by operators with ``<env>-vault``, so the identity that deploys jobs cannot change
    what any identity may read or issue.

    The scheduler configuration (``nomad_scheduler_config``) is here too when the environment
    declares memory oversubscription: it is the one stack with a Nomad provider, applied after
    the cluster exists (``<env>-infra`` builds the machines before Nomad runs; ``<env>-vault`` holds
    Vault only), and the jobs that need it deploy with it. Its token then needs
    ``operator:write`` in that environment.
    """

    def __init__(self, scope: Construct, id: str, *, environment: Environment) -> None:
        super().__init__(scope, id, environment=environment)
        self.add_nomad_provider()
        self.scheduler_config = None
        if environment.nomad.memory_oversubscription:
            from cdktf_cdktf_provider_nomad.scheduler_config import SchedulerConfig

            # The resource sets the whole configuration: the algorithm and preemption flags are
            # Nomad's defaults (nomad/config.go DefaultConfig, 1.9-1.11), only oversubscription differs.
            self.scheduler_config = SchedulerConfig(
                self, "scheduler-config", memory_oversubscription_enabled=True, scheduler_algorithm="binpack",
                preemption_config={"batch_scheduler_enabled": False, "service_scheduler_enabled": False,
                                   "sysbatch_scheduler_enabled": False, "system_scheduler_enabled": True})
        self.services = [GoService.from_spec(self, spec, vault_access=False)
                         for spec in with_ingress_proxy(environment, service_specs(environment))]
