"""GoService: one Go service on Nomad with config, Vault secrets, TLS and health checks, plus
exactly the Vault access it needs."""

from __future__ import annotations

import dataclasses
from typing import Any

from cdktf import TerraformStack
from constructs import Construct

from ..environment import Environment
from ..errors import HashistackError
from ..terraform_escape import escape
from .plan import ServicePlan, ServiceSpec, plan_service

__all__ = ["GoService"]

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
            health=HealthCheck.http("/health"),
            cpu_mhz=500, memory_mib=256,
            env={"LOG_LEVEL": "info"},
        )

    Props (keyword-only; every one but ``image`` has a default):

    - ``image``: the docker image. ``command``/``args``: override the entrypoint. Default: the image's.
    - ``port``: the container port, mapped from a dynamic host port labelled ``port_label``
      (default ``http``). ``static_port``: a fixed host port instead (count 1 only).
      ``extra_ports``: more ``{label: container_port}``.
    - ``count``: allocations. Default: 2 in production, 1 elsewhere.
    - ``config_files``: :class:`ConfigFile` list, rendered into ``local/`` and bind-mounted.
    - ``secrets``: :class:`VaultSecret` list from KV v2 at ``<kv>/data/<env>/<path>``.
    - ``tls``: a :class:`Tls` certificate from the environment's PKI intermediate. Default: none.
    - ``health``: a :class:`HealthCheck`. Default: none (production refuses that).
    - ``update``: an :class:`Update`. Default: a canary of 1 in production, a rolling update elsewhere.
    - ``cpu_mhz`` (500), ``memory_mib`` (256), ``memory_max_mib`` (unset). ``GOMAXPROCS`` and
      ``GOMEMLIMIT`` (90% of memory) are derived unless ``env`` sets them.
    - ``env``: environment variables. ``service_name`` (default: the id) and ``tags``
      (``env-<env>`` is added) for the registration, ``registration``: ``consul`` (default) or ``nomad``.
    - ``registry_auth``: :class:`RegistryAuth` read from Vault for a private registry.
    - ``logs``, ``kill_signal`` (SIGTERM), ``kill_timeout_s`` (30), ``shutdown_delay_s`` (5),
      ``restart`` (2 attempts in 30 min), ``spread_across_azs`` (on when count > 1).
    - ``environment``: defaults to the enclosing :class:`~hashistack.stack.EnvironmentStack`'s.
    """

    def __init__(self, scope: Construct, id: str, *, image: str, environment: Environment | None = None,
                 **props: Any) -> None:
        super().__init__(scope, id)
        where = self.node.path
        unknown = sorted(set(props) - _SPEC_FIELDS)
        if unknown:
            raise HashistackError(f"{where}: {unknown[0]} = {props[unknown[0]]!r}: not a GoService prop; "
                                  f"use one of {sorted(_SPEC_FIELDS | {'image', 'environment'})}")
        for key in ("config_files", "secrets", "args", "tags"):
            if key in props:
                props[key] = tuple(props[key])
        self.environment = environment or _environment_of(scope, where)
        self.spec = ServiceSpec(name=id, image=image, **props)
        self.plan: ServicePlan = plan_service(self.spec, self.environment, where=where)
        self._emit()

    def _emit(self) -> None:
        from cdktf_cdktf_provider_nomad.job import Job

        from ..vault.constructs import JwtAuthRole, PkiCertRole, VaultPolicy

        plan, env = self.plan, self.environment
        depends: list = []
        if plan.policy:
            depends.append(VaultPolicy(self, "policy", policy=plan.policy).resource)
            depends.append(JwtAuthRole(self, "jwt-role", role=plan.jwt_role).resource)
        if plan.pki_role:
            depends.append(PkiCertRole(self, "pki-role", role=plan.pki_role, hierarchy=env.vault.pki).resource)
        self.job = Job(
            self, "job",
            jobspec=escape(plan.jobspec), json=True,
            detach=not env.awaits_deployments,
            deregister_on_destroy=True, deregister_on_id_change=True, purge_on_destroy=False,
            depends_on=depends or None,
        )


def _environment_of(scope: Construct, where: str) -> Environment:
    stack = TerraformStack.of(scope)
    env = getattr(stack, "environment", None)
    if not isinstance(env, Environment):
        raise HashistackError(f"{where}: environment = None: put the GoService in a hashistack EnvironmentStack "
                              "or pass environment=...")
    return env
