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

from .._validate import is_dns_name
from ..environment import Environment, Tier
from ..errors import Checker
from ..service.options import Ingress
from ..service.plan import ServiceSpec

__all__ = ["LOCAL_PORT_BASE", "LOCAL_PORT_CEILING", "PROXY_NAME", "Route", "ingress_routes"]

PROXY_NAME = "ingress-proxy"
"""The proxy's Nomad job, its task group and its Consul service."""

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
        ingress host, which the service's certificate carries. ``None`` for plain HTTP.
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


def _certificate_names(spec: ServiceSpec, service: str) -> tuple[str, ...]:
    tls = spec.tls
    if tls is None:
        return ()
    return (tls.common_name or f"{service}.service.consul", *tls.alt_names)


def _check_ingress(spec: ServiceSpec, service: str, env: Environment, check: Checker) -> Ingress:
    ingress = spec.ingress
    check.require(isinstance(ingress, Ingress), "ingress", ingress,
                  "use Ingress.https(host, path='/') (or Ingress.http(...) in development)")
    assert isinstance(ingress, Ingress)
    settings = env.ingress
    if settings is None:
        check.fail("ingress", ingress.host,
                   f"environment {env.name!r} declares no ingress (Environment(ingress=IngressSettings(...))), so no "
                   "load balancer or proxy reaches the service: declare one, or drop ingress= in this environment")
    domain = settings.public_domain
    check.require(is_dns_name(ingress.host) and "*" not in ingress.host
                  and (ingress.host == domain or ingress.host.endswith(f".{domain}")),
                  "ingress.host", ingress.host,
                  f"use a lowercase host name under the environment's public domain {domain!r}, "
                  f"e.g. '{service}.{domain}' (the load balancer's certificate covers that domain)")
    check.require(isinstance(ingress.path, str) and bool(_PATH.match(ingress.path)) and "//" not in ingress.path
                  and not any(seg in (".", "..") for seg in ingress.path.split("/")),
                  "ingress.path", ingress.path,
                  "use an absolute path prefix of URL-safe characters such as '/' or '/api' (no '..', '//' or "
                  "backticks)")
    check.require(ingress.tls is True or env.tier is Tier.DEVELOPMENT, "ingress.tls", ingress.tls,
                  f"Ingress.http(...) is for development; a {env.tier.value} environment publishes services over "
                  "HTTPS only: use Ingress.https(host)")
    check.require(spec.registration == "consul", "registration", spec.registration,
                  "the ingress proxy reaches a service through its Connect sidecar, which needs the service in "
                  "Consul: use registration='consul' (the default) or drop ingress=")
    names = _certificate_names(spec, service)
    if names:
        # The proxy verifies the service's certificate against the ingress host (its serverName).
        check.require(ingress.host in names, "tls.alt_names", tuple(spec.tls.alt_names) if spec.tls else (),
                      f"the ingress proxy verifies the service's certificate for its ingress host "
                      f"{ingress.host!r}, which the certificate does not carry ({list(names)}): add it, "
                      f"Tls(alt_names=(..., {ingress.host!r}))")
    return ingress


def ingress_routes(specs: Iterable[ServiceSpec], env: Environment) -> tuple[Route, ...]:
    """The routes of ``env``: one per service that declares ``ingress=``, sorted by service name,
    with loopback ports from :data:`LOCAL_PORT_BASE` in that order.

    Refuses (``HashistackError``) an ingress in an environment without
    :class:`~hashistack.IngressSettings`, a host outside its public domain, a bad path,
    ``Ingress.http`` outside development, an ingress on a service registered in Nomad's own
    catalogue, a TLS service whose certificate lacks its ingress host, and two services on the
    same host and path (naming both)."""
    declared: list[tuple[str, ServiceSpec, Ingress]] = []
    for spec in specs:
        if spec.ingress is None:
            continue
        service = spec.service_name or spec.name
        check = Checker(f"{env.name}/{spec.name}")
        declared.append((service, spec, _check_ingress(spec, service, env, check)))
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
                            app_tls=spec.tls is not None, server_name=ingress.host if spec.tls is not None else None))
    return tuple(routes)
