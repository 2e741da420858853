"""The ingress routes of an environment, from its services' ``ingress=`` declarations.

Plain Python. A :class:`Route` says what the ingress proxy does with a request: a request for
``host`` whose path starts with ``path`` goes to ``127.0.0.1:<local_port>`` in the proxy's own
network namespace, where the proxy's Connect sidecar listens for the service (one upstream per
routed service) and carries the connection over mutual TLS to a healthy allocation. Consul, not
the proxy, knows which allocations are healthy, so the proxy needs no Consul or Nomad token.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable

from ..consul.intentions import INGRESS_PROXY
from ..environment import Environment
from ..errors import Checker
from ..service.plan import IngressRoute, ServiceSpec, plan_service

__all__ = ["LOCAL_PORT_BASE", "LOCAL_PORT_CEILING", "PROXY_NAME", "Route", "ingress_routes"]

PROXY_NAME = INGRESS_PROXY
"""The proxy's Nomad job, its task group and its Consul service: the name the access layer's
intentions allow to call each ingress service."""

LOCAL_PORT_BASE = 10000
"""The first loopback port of the proxy's upstreams: the routed services, sorted by name, take
10000, 10001, ... (the proxy's own port is skipped). The range lies above every agent port (Nomad
4646-4648, Vault 8200-8201, Consul 8300-8302, 8500-8503, 8600) and below Envoy's admin and ready
listeners (19000+ on 127.0.0.2 and 19100+ on 127.0.0.1, Nomad's
client/allocrunner/taskrunner/envoy_bootstrap_hook.go) and Nomad's dynamic ports (20000-32000)."""

LOCAL_PORT_CEILING = 19000
"""One past the last loopback port an upstream of the proxy may take."""

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
    """The routes of ``env``: one per service that declares ``ingress=``, sorted by service name,
    with loopback ports from :data:`LOCAL_PORT_BASE` in that order.

    Each service's ingress is the one its own plan validated
    (:attr:`~hashistack.service.ServicePlan.ingress`: the host under the public domain, HTTPS
    outside development, Consul registration, the name the proxy verifies its certificate
    against), so a bad declaration fails here with the same message as in the service's stack.
    On top of that the proxy refuses (``HashistackError``) a path that is not safe inside a
    Traefik rule, two services on the same host and path (naming both), two routed services under
    one Consul name, and more routed services than loopback ports."""
    declared: list[tuple[str, ServiceSpec, IngressRoute]] = []
    for spec in specs:
        if spec.ingress is None:
            continue
        where = f"{env.name}/{spec.name}"
        route = plan_service(spec, env, where=where).ingress
        assert route is not None  # a plan keeps the ingress of a spec that declares one
        _check_path(route, where)
        declared.append((route.service, spec, route))
    declared.sort(key=lambda item: item[0])

    owners: dict[tuple[str, str], str] = {}
    services: set[str] = set()
    for service, spec, ingress in declared:
        Checker(f"{env.name}/{spec.name}").require(
            service not in services, "service_name", service,
            "another service with ingress registers under this name: give each service its own name")
        services.add(service)
        key = (ingress.host, ingress.path)
        if key in owners:
            Checker(f"{env.name}/{spec.name}").fail(
                "ingress", f"{ingress.host}{ingress.path}",
                f"service {owners[key]!r} already routes host {ingress.host!r} path {ingress.path!r}: give each "
                "service its own host or path prefix")
        owners[key] = service

    reserved = {env.ingress.proxy_port} if env.ingress is not None else set()
    ports = (p for p in range(LOCAL_PORT_BASE, LOCAL_PORT_CEILING) if p not in reserved)
    routes = []
    for service, spec, ingress in declared:
        port = next(ports, None)
        if port is None:
            Checker(f"{env.name}/{PROXY_NAME}").fail(
                "upstreams", len(declared),
                f"more services declare ingress= than the proxy has loopback ports for its upstreams "
                f"({LOCAL_PORT_BASE}-{LOCAL_PORT_CEILING - 1}): run a second environment or fewer routed services")
        routes.append(Route(service=service, host=ingress.host, path=ingress.path, local_port=port,
                            app_tls=ingress.backend_tls, server_name=ingress.server_name))
    return tuple(routes)
