"""How users outside the cluster reach a service: the Kubernetes Ingress equivalent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .._validate import is_dns_name
from .context import Contribution

if TYPE_CHECKING:
    from .context import ServiceContext

__all__ = ["Ingress", "IngressRoute", "LOCAL_PORT_BASE", "LOCAL_PORT_CEILING"]

LOCAL_PORT_BASE = 10000
"""The first loopback port of the ingress proxy's upstreams: each routed service takes a port of
its own in 10000-18999, a hash of its name (:func:`hashistack.ingress.routes.stable_port`) unless
it pins one. The range lies above every agent port (Nomad 4646-4648, Vault 8200-8201, Consul
8300-8302, 8500-8503, 8600) and below Envoy's admin and ready
listeners (19000+ on 127.0.0.2 and 19100+ on 127.0.0.1, Nomad's
client/allocrunner/taskrunner/envoy_bootstrap_hook.go) and Nomad's dynamic ports (20000-32000)."""

LOCAL_PORT_CEILING = 19000
"""One past the last loopback port an upstream of the proxy may take."""


@dataclass(frozen=True, kw_only=True)
class Ingress:
    """How users outside the cluster reach the service: the Kubernetes Ingress equivalent.

    The environment's load balancer (:class:`~hashistack.IngressSettings`) terminates TLS for its
    public domain and hands requests to the ingress proxy on the Nomad clients, which routes
    ``host`` + ``path`` (a path prefix) to the service's healthy allocations, found in the
    service catalogue.

    The proxy holds no Consul or Nomad token: it reaches the service through its own Connect
    sidecar, whose upstream is the service, and the intention ``ingress-proxy -> <service>``
    allows exactly the services that declare an ingress. A service that serves TLS itself is
    called over HTTPS inside that tunnel and its certificate verified against the Vault PKI CA,
    by the ingress host when the certificate carries it (``Tls(alt_names=(host,))``), else by
    its common name.

    Build with :meth:`https` (users connect over HTTPS) or :meth:`http` (plain HTTP, refused
    outside development).

    :param host: the environment's ``ingress.public_domain`` or one label below it (the load
        balancer's certificate is for ``*.<public_domain>``), e.g. ``payments.example.com``.
    :param path: the path prefix routed to the service; starts with ``/``. Defaults to ``/``.
    :param tls: users connect over HTTPS (``True``, :meth:`https`) or plain HTTP (:meth:`http`).
    :param local_port: the loopback port, inside the ingress proxy's allocation, where its sidecar
        listens for this service. Default: one derived from the service's Consul name (10000-18999),
        so another service never moves it; pin one only when two names derive the same port (the
        synth says so and names a free one).
    """

    host: str
    path: str = "/"
    tls: bool = True
    local_port: int | None = None

    @staticmethod
    def https(host: str, *, path: str = "/", local_port: int | None = None) -> "Ingress":
        return Ingress(host=host, path=path, tls=True, local_port=local_port)

    @staticmethod
    def http(host: str, *, path: str = "/", local_port: int | None = None) -> "Ingress":
        return Ingress(host=host, path=path, tls=False, local_port=local_port)

    def contribute(self, ctx: "ServiceContext") -> Contribution:
        """Checks the route against the environment; the route itself is the catalogue's
        (:func:`route`), so the job gets nothing from it."""
        spec, env, check = ctx.spec, ctx.env, ctx.check
        check.require(spec.registration == "consul", "ingress", self.host,
                      "the ingress proxy reaches services through Consul's service mesh: register in Consul "
                      "(registration='consul', the default) to be reachable from outside")
        check.require(spec.job_type == "service", "ingress", self.host, "only a service job can be an ingress target")
        settings = env.ingress
        if settings is None:
            check.fail("ingress", self.host, f"environment {env.name!r} has no ingress tier (Environment.ingress is "
                       "None): give it IngressSettings(public_domain=..., certificate_arn=...) or drop ingress")
        domain = settings.public_domain
        host = self.host
        under = is_dns_name(host) and "*" not in host and (host == domain or host.endswith(f".{domain}"))
        check.require(under, "ingress.host", host,
                      f"use a lowercase host name under the environment's public domain {domain!r}, "
                      f"e.g. '{ctx.service_name}.{domain}'")
        labels = host[: -len(domain) - 1].split(".") if host != domain else []
        # IngressSettings.certificate_arn is the certificate for *.<public_domain>: a wildcard covers
        # exactly one label.
        check.require(len(labels) <= 1, "ingress.host", host,
                      f"the load balancer's certificate is for *.{domain}, which covers one label below the domain: "
                      f"use e.g. '{labels[-1] if labels else ctx.service_name}.{domain}'")
        path = self.path
        check.require(path.startswith("/") and not any(c.isspace() for c in path)
                      and not any(c in path for c in "?#*") and ".." not in path.split("/"),
                      "ingress.path", path, "use a path prefix starting with '/', e.g. '/' or '/api' (no query, "
                      "fragment, wildcard or '..')")
        check.require(self.tls or env.tier.policy.plain_http, "ingress", f"Ingress.http(host={host!r})",
                      f"plain HTTP from users is for development only; {env.name!r} is a {env.tier.value} "
                      "environment: use Ingress.https(...)")
        pinned = self.local_port
        check.require(pinned is None or LOCAL_PORT_BASE <= pinned < LOCAL_PORT_CEILING, "ingress.local_port", pinned,
                      f"use a whole number in {LOCAL_PORT_BASE}-{LOCAL_PORT_CEILING - 1} (the proxy's loopback ports "
                      "for its upstreams), or leave it unset for the port derived from the service's name")
        return Contribution()

    def route(self, ctx: "ServiceContext") -> "IngressRoute":
        """What the ingress proxy needs to route users to the service."""
        backend_tls = ctx.spec.tls is not None
        server_name = None
        if backend_tls:
            server_name = self.host if self.host in ctx.cert_names else ctx.common_name
        return IngressRoute(service=ctx.service_name, host=self.host, path=self.path, https=self.tls,
                            backend_tls=backend_tls, server_name=server_name, local_port=self.local_port)


@dataclass(frozen=True, kw_only=True)
class IngressRoute:
    """What the ingress proxy needs to route users to one service, taken from its validated plan.

    The proxy reaches the service through its own Connect sidecar (an upstream named
    ``service``), so no address or port of the service appears here.

    :param service: the service's Consul name: the proxy's upstream, and the destination of the
        intention ``ingress-proxy -> service``.
    :param host: the public host name, the environment's public domain or one label below it.
    :param path: the path prefix routed to the service (starts with ``/``).
    :param https: users reach the host over HTTPS (:meth:`Ingress.https`); ``False`` only for
        :meth:`Ingress.http`, which is refused outside development.
    :param backend_tls: the service serves TLS itself (``tls=``): the proxy speaks HTTPS to it
        (inside the mesh's mutual TLS), trusting the environment's Vault PKI CA.
    :param server_name: the name the proxy verifies the service's certificate against: the
        ingress host when the certificate carries it, else the certificate's common name.
        ``None`` without ``backend_tls``.
    :param local_port: the proxy's loopback port for the service when the ingress pins one
        (``Ingress(local_port=...)``), else ``None`` (the port derived from the service's name).
    """

    service: str
    host: str
    path: str
    https: bool
    backend_tls: bool
    server_name: str | None
    local_port: int | None = None
