"""The ingress routes of an environment, from its services' ``ingress=`` declarations.

Plain Python. A :class:`Route` says what the ingress proxy does with a request: a request for
``host`` whose path starts with ``path`` goes to ``127.0.0.1:<local_port>`` in the proxy's own
network namespace, where the proxy's Connect sidecar listens for the service (one upstream per
routed service) and carries the connection over mutual TLS to a healthy allocation. Consul, not
the proxy, knows which allocations are healthy, so the proxy needs no Consul or Nomad token.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Iterable

from ..consul.intentions import INGRESS_PROXY
from ..environment import Environment
from ..errors import Checker
from ..service.plan import (LOCAL_PORT_BASE, LOCAL_PORT_CEILING, IngressRoute, ServicePlan, ServiceSpec,
                            plan_service)

__all__ = ["LOCAL_PORT_BASE", "LOCAL_PORT_CEILING", "PROXY_NAME", "Route", "ingress_routes", "routes_of", "stable_port"]

PROXY_NAME = INGRESS_PROXY
"""The proxy's Nomad job, its task group and its Consul service: the name the access layer's
intentions allow to call each ingress service."""


# A path prefix as Traefik's PathPrefix matcher takes it: absolute, URL-safe characters, no
# backtick (it would end the rule's string), no empty or dot segments.
_PATH = re.compile(r"^/([A-Za-z0-9._~!$&'()*+,;=:@%-]+(/[A-Za-z0-9._~!$&'()*+,;=:@%-]+)*/?)?$")


@dataclass(frozen=True, kw_only=True)
class Route:
    """One ingress route: requests for ``host`` under ``path`` go to ``service``.

    :param service: the Consul name of the service routed to (its upstream in the proxy's sidecar).
    :param host: the public host name users connect to.
    :param path: the path prefix routed (``/`` for the whole host).
    :param local_port: the loopback port where the proxy's sidecar listens for ``service``.
    :param app_tls: the service serves TLS itself (``tls=``): the proxy speaks HTTPS to it, through
        the sidecar, and verifies its certificate against the Vault PKI CA and ``server_name``.
    :param server_name: the name the proxy verifies (and sends as SNI) when ``app_tls``: the
        ingress host when the service's certificate carries it, else the certificate's common
        name (both issued only to that service). ``None`` for plain HTTP.
    """

    service: str
    host: str
    path: str
    local_port: int
    app_tls: bool
    server_name: str | None

    @property
    def url(self) -> str:
        """Where the proxy sends the request: its sidecar's listener for the service."""
        return f"{'https' if self.app_tls else 'http'}://127.0.0.1:{self.local_port}"

    @property
    def rule(self) -> str:
        """The Traefik router rule."""
        return f"Host(`{self.host}`) && PathPrefix(`{self.path}`)"


def _check_path(route: IngressRoute, where: str) -> None:
    """The path goes into a Traefik rule between backticks: only URL-safe characters, so a path
    can never end the string and add a matcher of its own (``/a`) || Host(`other``)."""
    path = route.path
    Checker(where).require(bool(_PATH.fullmatch(path)) and "//" not in path
                           and not any(seg in (".", "..") for seg in path.split("/")),
                           "ingress.path", path,
                           "use an absolute path prefix of URL-safe characters such as '/' or '/api' (no '..', '//' "
                           "or backticks)")


def ingress_routes(specs: Iterable[ServiceSpec], env: Environment) -> tuple[Route, ...]:
    """The routes of the services ``specs`` in ``env``: plans each one that declares ``ingress=``
    and hands the plans to :func:`routes_of`. For a library user's own list of specs; an
    environment's :class:`~hashistack.catalogue.EnvironmentServices` takes the routes from the
    plans it already holds."""
    return routes_of(((spec.name, plan_service(spec, env, where=f"{env.name}/{spec.name}"))
                      for spec in specs if spec.ingress is not None), env)


def stable_port(service: str) -> int:
    """The loopback port the proxy's sidecar listens on for ``service`` unless its ingress names
    one (``Ingress(local_port=...)``): a hash of the Consul name into
    :data:`LOCAL_PORT_BASE`..:data:`LOCAL_PORT_CEILING` - 1, so adding or removing a service never
    moves another's port (nor restarts the proxy for a route that did not change)."""
    digest = hashlib.sha256(service.encode()).digest()
    return LOCAL_PORT_BASE + int.from_bytes(digest[:4], "big") % (LOCAL_PORT_CEILING - LOCAL_PORT_BASE)


def routes_of(plans: Iterable[tuple[str, ServicePlan]], env: Environment) -> tuple[Route, ...]:
    """The routes of ``env`` from its services' validated plans (``(name, plan)``), one per plan
    with an ingress, sorted by Consul name, each on its stable loopback port (:func:`stable_port`).

    Each service's ingress is the one its own plan validated
    (:attr:`~hashistack.service.ServicePlan.ingress`: the host under the public domain, HTTPS
    outside development, Consul registration, the name the proxy verifies its certificate
    against). On top of that the proxy refuses (``HashistackError``) a path that is not safe inside
    a Traefik rule, two services on the same host and path (naming both), two routed services
    under one Consul name, and two routes on one loopback port or on the proxy's own port (naming
    a free port to pin with ``Ingress(local_port=...)``)."""
    declared: list[tuple[str, IngressRoute]] = []
    for name, plan in plans:
        if plan.ingress is None:
            continue
        _check_path(plan.ingress, f"{env.name}/{name}")
        declared.append((name, plan.ingress))
    declared.sort(key=lambda item: item[1].service)

    owners: dict[tuple[str, str], str] = {}
    services: set[str] = set()
    for name, ingress in declared:
        service = ingress.service
        Checker(f"{env.name}/{name}").require(
            service not in services, "service_name", service,
            "another service with ingress registers under this name: give each service its own name")
        services.add(service)
        key = (ingress.host, ingress.path)
        if key in owners:
            Checker(f"{env.name}/{name}").fail(
                "ingress", f"{ingress.host}{ingress.path}",
                f"service {owners[key]!r} already routes host {ingress.host!r} path {ingress.path!r}: give each "
                "service its own host or path prefix")
        owners[key] = service

    taken: dict[int, str] = {}
    if env.ingress is not None:
        taken[env.ingress.proxy_port] = "the proxy's own port (IngressSettings.proxy_port)"
    ports = {name: ingress.local_port or stable_port(ingress.service) for name, ingress in declared}
    # Pinned ports first, so a pinned port is never the one refused.
    for name, ingress in sorted(declared, key=lambda item: (item[1].local_port is None, item[1].service)):
        port = ports[name]
        if port in taken:
            free = next((p for p in (*range(port + 1, LOCAL_PORT_CEILING), *range(LOCAL_PORT_BASE, port))
                         if p not in taken and p not in ports.values()), None)
            Checker(f"{env.name}/{name}").fail(
                "ingress.local_port", port,
                f"the ingress proxy's loopback port for {ingress.service!r} is already {taken[port]}"
                + (f": pin another with Ingress.https(..., local_port={free})" if free is not None else
                   f": no loopback port is free ({LOCAL_PORT_BASE}-{LOCAL_PORT_CEILING - 1}); run a second "
                   "environment or fewer routed services"))
        taken[port] = f"the port of {ingress.service!r}"
    return tuple(Route(service=ingress.service, host=ingress.host, path=ingress.path, local_port=ports[name],
                       app_tls=ingress.backend_tls, server_name=ingress.server_name) for name, ingress in declared)
