"""An environment's services, planned once: the home of every rule that spans services.

Plain Python. :meth:`EnvironmentServices.build` takes an environment and its services' specs and
holds, for the rest of the synth, what every stack and check reads of them:

- the specs, each service's validated :class:`~hashistack.service.ServicePlan` (each service is
  planned exactly once per environment), and the ingress proxy's spec and plan where the
  environment has ingress settings;
- the cross-service rules, each in one place: unique names and Consul names (the proxy's name
  reserved), upstreams that name a service of the environment in the mesh, ingress routes (one
  service per host and path, one stable loopback port each), the intentions.

The service stack deploys :attr:`~EnvironmentServices.deployed` with the plans held here, and the
access layer grants each plan's Vault access and derives the intentions from the same object, so
the job and its access cannot disagree.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from .consul.intentions import Intentions, mesh_intentions
from .environment import Environment
from .errors import Checker, HashistackError
from .ingress.proxy import proxy_spec
from .ingress.routes import PROXY_NAME, Route, routes_of
from .service.plan import ServicePlan, ServiceSpec, plan_service

__all__ = ["EnvironmentServices"]


@dataclass(frozen=True, kw_only=True)
class EnvironmentServices:
    """The services of one environment, checked together and planned once.

    :param env: the environment.
    :param specs: its own services, in declaration order (the ingress proxy not among them).
    :param proxy: the ingress proxy's spec, or ``None`` where the environment has no ingress.
    :param plans: every deployed service's plan, by name (the proxy's included).
    :param routes: the ingress routes (:func:`~hashistack.ingress.routes_of`).
    :param intentions: who may call whom in the mesh, from the upstreams and ingresses.
    """

    env: Environment
    specs: tuple[ServiceSpec, ...]
    proxy: ServiceSpec | None
    plans: Mapping[str, ServicePlan]
    routes: tuple[Route, ...]
    intentions: Intentions

    @property
    def deployed(self) -> tuple[ServiceSpec, ...]:
        """The specs the service stack deploys: the services, then the ingress proxy if any."""
        return (*self.specs, self.proxy) if self.proxy is not None else self.specs

    @property
    def stack(self) -> str:
        """The name of the environment's service stack (the prefix of every message here)."""
        return self.env.stack_names[2]

    def plan(self, name: str) -> ServicePlan:
        """The plan of the service ``name``."""
        return self.plans[name]

    @classmethod
    def build(cls, env: Environment, specs: Iterable[ServiceSpec], *,
              origins: Sequence[str] | None = None) -> "EnvironmentServices":
        """Checks ``specs`` together, plans each once, then routes and plans the ingress proxy.

        ``origins`` says where each spec was declared (e.g. its module's file), in the order of
        ``specs``, for the messages of the rules between services; the default is the service's
        place in the stack.
        Raises :class:`~hashistack.HashistackError` at the first bad input."""
        specs = tuple(specs)
        stack = env.stack_names[2]
        for spec in specs:
            if not isinstance(spec, ServiceSpec):
                raise HashistackError(f"{stack}: services = {type(spec).__name__}: give each service as a "
                                      "hashistack.service.ServiceSpec")
        origins = tuple(origins) if origins is not None else tuple(f"{stack}/{spec.name}" for spec in specs)
        _check_names(env, specs, origins)
        _check_upstreams(env, specs)
        plans = {spec.name: plan_service(spec, env, where=f"{stack}/{spec.name}") for spec in specs}
        routes = routes_of(plans.items(), env)
        proxy = None
        if env.ingress is not None:
            proxy = proxy_spec(env, routes)
            plans[proxy.name] = plan_service(proxy, env, where=f"{stack}/{proxy.name}")
        intentions = mesh_intentions(specs, ingress_enabled=env.ingress is not None, where=env.stack_names[1])
        return cls(env=env, specs=specs, proxy=proxy, plans=plans, routes=routes, intentions=intentions)


def _check_names(env: Environment, specs: tuple[ServiceSpec, ...], origins: Sequence[str]) -> None:
    """Each service has its own name and Consul name, and none takes the ingress proxy's."""
    owners: dict[str, str] = {}
    for spec, where in zip(specs, origins, strict=True):
        registered = spec.service_name or spec.name
        if env.ingress is not None:
            Checker(f"{env.name}/{spec.name}").require(
                PROXY_NAME not in (spec.name, registered), "name" if spec.name == PROXY_NAME else "service_name",
                PROXY_NAME, f"{PROXY_NAME!r} is the environment's ingress proxy: give the service another name")
        for name, kind in ((spec.name, "name"), (registered, "service_name")):
            if name in owners:
                raise HashistackError(f"{where}: {kind} = {name!r}: already the name of the service in "
                                      f"{owners[name]}; give each service its own name")
        owners[spec.name] = where
        owners.setdefault(registered, where)


def _check_upstreams(env: Environment, specs: tuple[ServiceSpec, ...]) -> None:
    """Every declared upstream is a service of this environment in Consul's mesh: a service
    registered in Nomad's own catalogue (``registration="nomad"``) has no sidecar to accept it."""
    registered = {spec.service_name or spec.name: spec for spec in specs}
    for spec in specs:
        for up in spec.upstreams:
            where = f"{env.name}/{spec.name}: upstreams[{up.service}].service = {up.service!r}"
            target = registered.get(up.service)
            if target is None:
                raise HashistackError(f"{where}: no service of environment {env.name!r} is registered under this "
                                      f"name; use one of {sorted(registered)}")
            if target.registration != "consul":
                raise HashistackError(f"{where}: {target.name} is registered in Nomad's own catalogue "
                                      "(registration='nomad'), outside the mesh, so it has no sidecar to accept "
                                      "the call: register it in Consul (the default)")
