"""`<env>`: the environment's services, one Nomad job each."""

from __future__ import annotations

from constructs import Construct

from hashistack import Environment
from hashistack.catalogue import EnvironmentServices
from hashistack.service.go_service import GoService
from hashistack.stack import EnvironmentStack

from .apps import services as service_catalogue


class ServicesStack(EnvironmentStack):
    """The environment's service layer, deployed daily with ``cdktf deploy <env>``: the Nomad job
    of every module of ``stacks/apps``, and the ingress proxy (``ingress-proxy``, Traefik) where
    the environment declares ingress settings. It holds no Vault resource: each service's Vault access
    is applied by operators with ``<env>-vault``, so the identity that deploys jobs cannot change
    what any identity may read or issue.

    It holds nothing but jobs: the scheduler configuration (memory oversubscription) is set by
    operators in ``make bootstrap PHASE=cluster``, so CI's ``ci-deployer`` role (submit and read
    jobs) deploys this stack in every environment.
    """

    def __init__(self, scope: Construct, id: str, *, environment: Environment,
                 services: EnvironmentServices | None = None) -> None:
        super().__init__(scope, id, environment=environment)
        self.add_nomad_provider()
        catalogue = services or service_catalogue(environment)
        self.services = [GoService(self, spec, vault_access=False, plan=catalogue.plan(spec.name))
                         for spec in catalogue.deployed]
