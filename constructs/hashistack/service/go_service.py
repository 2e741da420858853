"""GoService: one Go service on Nomad with config, Vault secrets, TLS and health checks, plus
exactly the Vault access it needs (:class:`ServiceVaultAccess`), emitted beside the job or, where
the identity that deploys jobs must not change Vault access, in another stack."""

from __future__ import annotations

import dataclasses
from typing import Literal, Mapping, Never, Sequence

from cdktf import TerraformStack
from constructs import Construct

from ..environment import Environment
from ..errors import HashistackError
from ..terraform_escape import escape
from ..nomad import RestartPolicy
from ..consul.intentions import Upstream
from .options import ConfigFile, HealthCheck, Ingress, Logs, RegistryAuth, Tls, Update, VaultSecret
from .plan import ServicePlan, ServiceSpec, plan_service

__all__ = ["GoService", "ServiceVaultAccess"]

_SPEC_FIELDS = {f.name for f in dataclasses.fields(ServiceSpec)} - {"name"}


class GoService(Construct):
    """A Go service in its environment's stack: a ``nomad_job`` plus its Vault policy, JWT role
    and PKI role.

    Example::

        GoService(stack, "payments",
            image="registry.example.com/payments:1.4.2",
            port=8080,
            config_files=[ConfigFile.from_path("services/payments/app.conf", mount_at="/app/config/app.conf")],
            secrets=[VaultSecret.kv("payments/config", mount_at="/app/config/secrets.json")],
            tls=Tls(mount_dir="/app/tls"),
            health=HealthCheck.http("/health", tls="skip-verify"),
            user="65532:65532",
            cpu_mhz=500, memory_mib=256,
            env={"LOG_LEVEL": "info"},
        )

    Props (keyword-only, typed; every one but ``image`` has a default; a ``None`` means the
    default described here; the same props, frozen, are a :class:`~hashistack.service.ServiceSpec`):

    - ``image``: the docker image. ``command``/``args``: override the entrypoint. Default: the image's.
    - ``port``: the port the app listens on (default 8080). In the mesh (every service registered
      in Consul, the default) no host port maps to it: the group has a bridge network, the service
      is registered with that port number and is reached only through its Connect sidecar, with
      mutual TLS and Consul's intentions (the clients' task firewall refuses any other caller at
      the allocation's address, however the app binds). Registered in Nomad's catalogue
      (``registration="nomad"``), a dynamic host port labelled ``port_label`` (default ``http``)
      maps to it. ``static_port``: a fixed host port mapped to ``port`` (count 1 or a system job),
      which also bypasses the mesh: meant for the ingress proxy. ``extra_ports``: more
      ``{label: container_port}``, each mapped from a dynamic host port (outside the mesh).
    - ``count``: allocations. Default: 2 in production, 1 elsewhere.
    - ``job_type``: ``"service"`` (default) or ``"system"``: one allocation on every eligible
      client (no ``count``, no spread, a rolling update node by node without canaries), as the
      ingress proxy runs.
    - ``image``: outside development it must carry a version tag or digest (not ``:latest``).
    - ``config_files``: :class:`ConfigFile` list. ``secrets``: :class:`VaultSecret` list from KV v2
      at ``<kv>/data/<env>/<path>``. Files are mounted by directory (the directory of each
      ``mount_at``, read-only), so a re-rendered file reaches the app; secret files are 0400.
    - ``user``: the numeric ``uid:gid`` the container runs as (e.g. ``"65532:65532"``, distroless
      nonroot). Rendered files (config, secrets, certificate) are owned by it. Default: the
      image's user, with files owned by root: this assumes the image runs as root, and a non-root
      image cannot read its 0400 secrets.
    - ``reloads_on``: the signal the program handles to reload config and certificates, e.g.
      ``"SIGHUP"``. Default: none, so a changed file restarts the task (a Go program without a
      SIGHUP handler exits on SIGHUP). An option's own ``on_change`` wins.
    - ``tls``: a :class:`Tls` certificate from the environment's PKI intermediate, for the
      service's own names only. Default: none.
    - ``health``: a :class:`HealthCheck`. Default: none (production refuses that). With ``tls``, an
      http/grpc check says how it connects (``tls="verify"|"skip-verify"|"plain"``). In the mesh a
      plain http/grpc check goes through an ``expose`` path of the sidecar (a listener labelled
      ``expose-health`` that lets exactly the check's path through: the http path, or
      ``/grpc.health.v1.Health/Check``); a check that speaks TLS to the app uses
      ``address_mode = "alloc"`` (the local Consul agent connects to the allocation's bridge
      address; the app must listen on all its interfaces, not only 127.0.0.1). Nomad refuses tcp
      checks on a service in the mesh.
    - ``update``: an :class:`Update`. Default: an auto-promoted canary of 1 in production, a
      rolling update elsewhere. Manual promotion is refused where ``terraform apply`` waits
      (staging and production), and the ``nomad_job`` waits past the progress deadline.
    - ``cpu_mhz`` (500), ``memory_mib`` (256), ``memory_max_mib`` (unset; needs the environment's
      ``NomadSettings(memory_oversubscription=True)``). ``GOMAXPROCS`` and ``GOMEMLIMIT`` (90% of
      ``memory_max_mib`` when set, else of ``memory_mib``) are derived unless ``env`` sets them.
    - ``env``: environment variables (each set once across ``env``, secrets and registry auth;
      ``${...}`` must be a variable Nomad resolves). ``service_name`` (default: the id) and ``tags``
      (``env-<env>`` is added; canaries carry the tags plus ``canary``) for the registration,
      ``registration``: ``consul`` (default) or ``nomad`` (http and tcp checks only).
    - ``registry_auth``: :class:`RegistryAuth` read from Vault for a private registry.
    - ``logs``, ``kill_signal`` (SIGTERM), ``kill_timeout_s`` (30, at most the clients'
      ``max_kill_timeout`` and the progress deadline), ``shutdown_delay_s`` (5),
      ``restart`` (2 attempts in 30 min), ``spread_across_azs`` (on when count > 1).
    - ``upstreams``: :class:`~hashistack.consul.Upstream` list, the services this one calls
      through the mesh (``Upstream("ledger", local_port=9091)``: the app dials
      ``127.0.0.1:9091`` and its sidecar carries the call over mutual TLS). Each local port is
      used once, is not the app's own port and lies outside Nomad's dynamic range (20000-32000);
      each upstream must be a Consul-registered service of the environment. The environment's
      intentions (default deny, applied by operators in ``<env>-vault``) allow exactly these
      calls; the job itself carries no intention and no Consul ACL. Refused with
      ``registration="nomad"``.
    - ``ingress``: an :class:`Ingress` (``Ingress.https(host="payments.example.com")``) through
      which users reach the service from outside, via the environment's load balancer and the
      ingress proxy (which calls the service through the mesh). The host is the environment's
      ``ingress.public_domain`` or one label below it; the service's certificate may carry it
      (``Tls(alt_names=(host,))``; the proxy then verifies that name). :meth:`Ingress.http` is
      refused outside development; any ingress is refused where the environment has no ingress
      tier, and with ``registration="nomad"``. Default: none (reachable in the mesh only).
      The route is ``plan.ingress`` (:class:`~hashistack.service.IngressRoute`).
    - ``sidecar_cpu_mhz`` (250), ``sidecar_memory_mib`` (128): what the Envoy sidecar reserves
      (Nomad's defaults), per allocation.
    - ``environment``: defaults to the enclosing :class:`~hashistack.stack.EnvironmentStack`'s.
    - ``vault_access``: emit the service's Vault policy, JWT role and PKI role beside the job
      (default ``True``). ``False`` emits the job alone; the access is then a
      :class:`ServiceVaultAccess` in a stack that only operators apply (the platform app puts it in
      ``<env>-vault``), so the identity that deploys jobs never changes what any identity may do.

    Built from a :class:`~hashistack.service.ServiceSpec` with :meth:`from_spec`. After
    construction, ``job`` is the ``nomad_job`` resource, ``plan`` the validated
    :class:`~hashistack.service.ServicePlan` and ``vault_access`` the :class:`ServiceVaultAccess`
    (or ``None``).
    """

    def __init__(
        self, scope: Construct, id: str, *,
        image: str,
        port: int = 8080,
        port_label: str = "http",
        static_port: int | None = None,
        extra_ports: Mapping[str, int] | None = None,
        count: int | None = None,
        command: str | None = None,
        args: Sequence[str] = (),
        registry_auth: RegistryAuth | None = None,
        config_files: Sequence[ConfigFile] = (),
        secrets: Sequence[VaultSecret] = (),
        tls: Tls | None = None,
        health: HealthCheck | None = None,
        update: Update | None = None,
        cpu_mhz: int = 500,
        memory_mib: int = 256,
        memory_max_mib: int | None = None,
        env: Mapping[str, str] | None = None,
        service_name: str | None = None,
        tags: Sequence[str] = (),
        registration: Literal["consul", "nomad"] = "consul",
        logs: Logs | None = None,
        kill_signal: str = "SIGTERM",
        kill_timeout_s: float = 30,
        shutdown_delay_s: float = 5,
        restart: RestartPolicy | None = None,
        spread_across_azs: bool = True,
        user: str | None = None,
        reloads_on: str | None = None,
        upstreams: Sequence[Upstream] = (),
        ingress: Ingress | None = None,
        job_type: Literal["service", "system"] = "service",
        sidecar_cpu_mhz: int = 250,
        sidecar_memory_mib: int = 128,
        environment: Environment | None = None,
        vault_access: bool = True,
        **unknown: Never,
    ) -> None:
        where = f"{scope.node.path}/{id}" if scope.node.path else id
        for prop in sorted(unknown):
            raise HashistackError(f"{where}: {prop} = {unknown[prop]!r}: not a GoService prop; "
                                  f"use one of {sorted(_SPEC_FIELDS | {'image', 'environment', 'vault_access'})}")
        given = {name: value for name, value in locals().items() if name in _SPEC_FIELDS and value is not None}
        for key in ("config_files", "secrets", "args", "tags", "upstreams"):
            if key in given:
                given[key] = tuple(given[key])
        self._build(scope, id, ServiceSpec(name=id, **given), environment, vault_access)

    @classmethod
    def from_spec(cls, scope: Construct, spec: ServiceSpec, *, environment: Environment | None = None,
                  vault_access: bool = True, plan: ServicePlan | None = None) -> "GoService":
        """The service described by ``spec`` (its construct id is ``spec.name``). ``plan`` is the
        spec's plan when the caller already holds it (an environment's
        :class:`~hashistack.catalogue.EnvironmentServices`), so the service is not planned twice."""
        self = cls.__new__(cls)
        self._build(scope, spec.name, spec, environment, vault_access, plan)
        return self

    def _build(self, scope: Construct, id: str, spec: ServiceSpec, environment: Environment | None,
               vault_access: bool, plan: ServicePlan | None = None) -> None:
        from cdktf_cdktf_provider_nomad.job import Job, JobTimeouts

        if scope.node.try_find_child(id) is not None:
            where = f"{scope.node.path}/{id}" if scope.node.path else id
            raise HashistackError(f"{where}: name = {id!r}: {scope.node.path or 'the app'} already has a service or "
                                  "construct with this name; give each service its own name")
        Construct.__init__(self, scope, id)
        where = self.node.path
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
    stack = TerraformStack.of(scope)
    env = getattr(stack, "environment", None)
    if not isinstance(env, Environment):
        raise HashistackError(f"{where}: environment = None: put the GoService in a hashistack EnvironmentStack "
                              "or pass environment=...")
    return env
