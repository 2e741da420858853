"""GoService: one Go service on Nomad with config, Vault secrets, TLS and health checks, plus
exactly the Vault access it needs (:class:`ServiceVaultAccess`), emitted beside the job or, where
the identity that deploys jobs must not change Vault access, in another stack."""

from __future__ import annotations

from cdktf import TerraformStack
from constructs import Construct

from ..environment import Environment
from ..errors import HashistackError
from ..paths import child_path, path_of
from ..terraform_escape import escape
from .plan import ServicePlan, ServiceSpec, plan_service

__all__ = ["GoService", "ServiceVaultAccess"]


class GoService(Construct):
    """A Go service in its environment's stack: a ``nomad_job`` plus its Vault policy, JWT role
    and PKI role, from a :class:`~hashistack.service.ServiceSpec` (the one declaration of a
    service's props and their defaults).

    Example::

        GoService(stack, ServiceSpec(
            name="payments",
            image="registry.example.com/payments:1.4.2",
            secrets=(VaultSecret.kv("payments/config", mount_at="/app/config/secrets.json"),),
            tls=Tls(mount_dir="/app/tls"),
            health=HealthCheck.http("/health", tls="skip-verify"),
            user="65532:65532",
        ))

    :param spec: the service; its construct id is ``spec.name``.
    :param environment: defaults to the enclosing :class:`~hashistack.stack.EnvironmentStack`'s.
    :param vault_access: emit the service's Vault policy, JWT role and PKI role beside the job
        (default ``True``). ``False`` emits the job alone; the access is then a
        :class:`ServiceVaultAccess` in a stack that only operators apply (the platform app puts it
        in ``<env>-vault``), so the identity that deploys jobs never changes what any identity may
        do.
    :param plan: the spec's plan when the caller already holds it (an environment's
        :class:`~hashistack.catalogue.EnvironmentServices`), so the service is not planned twice.

    After construction, ``spec`` is the spec, ``job`` the ``nomad_job`` resource, ``plan`` the
    validated :class:`~hashistack.service.ServicePlan` and ``vault_access`` the
    :class:`ServiceVaultAccess` (or ``None``).
    """

    def __init__(self, scope: Construct, spec: ServiceSpec, *, environment: Environment | None = None,
                 vault_access: bool = True, plan: ServicePlan | None = None) -> None:
        if not isinstance(spec, ServiceSpec):
            raise HashistackError(f"{child_path(scope, str(spec))}: spec = {spec!r}: GoService takes a ServiceSpec: "
                                  "GoService(scope, ServiceSpec(name=..., image=..., ...))")
        from cdktf_cdktf_provider_nomad.job import Job, JobTimeouts

        id = spec.name
        where = child_path(scope, id)
        try:
            super().__init__(scope, id)
        except RuntimeError as error:  # the jsii runtime's error for a JavaScript exception
            if "already a Construct" not in str(error):
                raise
            raise HashistackError(f"{where}: name = {id!r}: {path_of(scope) or 'the app'} already has a service or "
                                  "construct with this name; give each service its own name") from None
        child_path(scope, id, self)
        self.environment = env = environment or _environment_of(scope, where)
        self.spec = spec
        if plan is not None and (plan.job.id != spec.name or plan.job.meta.get("environment") != env.name):
            raise HashistackError(f"{where}: plan = job {plan.job.id!r} of {plan.job.meta.get('environment')!r}: "
                                  f"not the plan of {spec.name!r} in {env.name!r}; pass that service's own plan "
                                  "(EnvironmentServices.plan(name)) or none")
        self.plan: ServicePlan = plan if plan is not None else plan_service(spec, env, where=where)
        self.vault_access = ServiceVaultAccess(self, "vault", plan=self.plan, environment=env) if vault_access else None
        self.job = Job(
            self, "job",
            jobspec=escape(self.plan.jobspec), json=True,
            detach=not env.awaits_deployments,
            # Terraform waits past Nomad's progress deadline, so Nomad's verdict (and auto-revert)
            # is what the operator sees, not the provider's default 5-minute timeout.
            timeouts=JobTimeouts(create=f"{self.plan.apply_timeout_s}s", update=f"{self.plan.apply_timeout_s}s")
            if self.plan.apply_timeout_s else None,
            deregister_on_destroy=True, deregister_on_id_change=True, purge_on_destroy=False,
            depends_on=self.vault_access.resources if self.vault_access and self.vault_access.resources else None,
        )


class ServiceVaultAccess(Construct):
    """Exactly the Vault access one service's job needs: its policy (what its templates read), the
    JWT role its workload identity logs in with (bound to its job id and namespace) and, with TLS,
    its PKI role on the intermediate (its own names only).

    :param jwt_backend_ref: a reference to the JWT backend's path when the backend is made in the
        same stack, so Terraform creates the backend first. Defaults to the environment's path.
    :param pki_mount_ref: the same for the intermediate CA's mount.
    """

    def __init__(self, scope: Construct, id: str, *, plan: ServicePlan, environment: Environment,
                 jwt_backend_ref: str | None = None, pki_mount_ref: str | None = None) -> None:
        from ..vault.constructs import JwtAuthRole, PkiCertRole, VaultPolicy

        super().__init__(scope, id)
        child_path(scope, id, self)
        self.resources: list = []
        self.policy = self.jwt_role = self.pki_role = None
        if plan.policy and plan.jwt_role:
            self.policy = VaultPolicy(self, "policy", policy=plan.policy)
            self.jwt_role = JwtAuthRole(self, "jwt-role", role=plan.jwt_role, backend_ref=jwt_backend_ref)
            self.resources += [self.policy.resource, self.jwt_role.resource]
        if plan.pki_role:
            self.pki_role = PkiCertRole(self, "pki-role", role=plan.pki_role, hierarchy=environment.vault.pki,
                                        mount_ref=pki_mount_ref)
            self.resources.append(self.pki_role.resource)


def _environment_of(scope: Construct, where: str) -> Environment:
    # the usual scope is the EnvironmentStack itself: read it without a call into the jsii runtime
    stack = scope if isinstance(getattr(scope, "environment", None), Environment) else TerraformStack.of(scope)
    env = getattr(stack, "environment", None)
    if not isinstance(env, Environment):
        raise HashistackError(f"{where}: environment = None: put the GoService in a hashistack EnvironmentStack "
                              "or pass environment=...")
    return env
