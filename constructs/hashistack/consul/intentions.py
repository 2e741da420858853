"""Service-to-service access in the mesh, as a model: each service declares the services it
calls (:class:`Upstream`), and the intentions are exactly those edges, on top of a default deny.

Consul Connect checks an intention on every new connection between sidecars: a call that no
service declared is refused by Consul itself, the network half of least privilege (the Vault
half is each service's policy). Consul's ``service-intentions`` config entry holds, per
destination, the sources allowed to connect (Consul API docs, "Service Intentions
Configuration Entry"); the entry named ``*`` with source ``*`` and action ``deny`` makes the
default explicit, whatever the ACL default policy is.

Consul's rules, from ``agent/structs/config_entry_intentions.go`` (hashicorp/consul, read at
commit 05f6de6, the 1.21 line): an entry's ``Name`` and a source's ``Name`` may be the full
wildcard ``*`` but never a partial one (``validateIntentionWildcards``); an entry needs at least
one source ("At least one source is required"), so a service nobody calls gets no entry of its
own; and the precedence of an exact destination with an exact source (9) is above that of ``*``
to ``*`` in the default namespace (5) (``computeIntentionPrecedence``), so each declared edge's
allow wins over the catch-all deny. Consul recomputes ``Precedence`` on every write and returns
it on read; the provider (terraform-provider-consul v2.22.1,
``consul/resource_consul_config_entry_service_intentions.go``) stores what it reads in an
optional, not computed, attribute, so the entries state the value Consul will compute
(:func:`precedence`) and a plan after an apply shows no change.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping, Protocol, Sequence

from .._validate import RFC1123_HINT, is_rfc1123_label
from ..errors import Checker

__all__ = ["DEFAULT_DENY", "INGRESS_PROXY", "Intentions", "MeshService", "Upstream", "intentions_for",
           "mesh_intentions", "precedence"]

DEFAULT_DENY = "*"
"""The name of the catch-all intention entry (destination ``*``, source ``*``, deny)."""

INGRESS_PROXY = "ingress-proxy"
"""The Consul service name of the ingress proxy (the Nomad system job ``ingress-proxy``): the
source of the intention to every service that declares an ``ingress``."""


def precedence(source: str, destination: str) -> int:
    """The precedence Consul gives a source within a destination's entry, both in the default
    namespace: ``computeIntentionPrecedence`` with an exact namespace, where an exact name counts
    2 and ``*`` counts 1 (9 for two exact names, 8 for any source to an exact destination, 5 for
    ``*`` to ``*``)."""
    def exact(name: str) -> int:
        return 1 if name == DEFAULT_DENY else 2

    return {2: 9, 1: 6}[exact(destination)] - (2 - exact(source))


@dataclass(frozen=True)
class Upstream:
    """A service this service calls through the mesh: the app reaches ``service`` at
    ``127.0.0.1:<local_port>``, and its sidecar carries the call over mutual TLS.

    :param service: the Consul name of the service called.
    :param local_port: the loopback port the app connects to (1024-65535, one per upstream).
    """

    service: str
    local_port: int

    def validate(self, check: Checker, *, own_ports: Iterable[int] = ()) -> "Upstream":
        field = f"upstreams[{self.service}]"
        check.require(is_rfc1123_label(self.service), f"{field}.service", self.service, RFC1123_HINT)
        check.require(isinstance(self.local_port, int) and not isinstance(self.local_port, bool)
                      and 1024 <= self.local_port <= 65535, f"{field}.local_port", self.local_port,
                      "use a loopback port from 1024 to 65535 that the app connects to")
        check.require(self.local_port not in set(own_ports), f"{field}.local_port", self.local_port,
                      "the service itself listens on that port; pick another local port for the upstream")
        return self


@dataclass(frozen=True)
class Intentions:
    """Per destination service, the source services allowed to connect (sorted, no duplicates)."""

    allowed: Mapping[str, tuple[str, ...]]

    def edges(self) -> list[tuple[str, str]]:
        """Every allowed (source, destination) pair, sorted."""
        return sorted((src, dst) for dst, sources in self.allowed.items() for src in sources)


def intentions_for(upstreams: Mapping[str, Iterable[Upstream]], *, where: str = "",
                   ingress: Iterable[str] = (), outside_mesh: Iterable[str] = ()) -> Intentions:
    """The intentions for services ``{name: upstreams}``: exactly the declared edges, plus
    ``ingress-proxy -> <service>`` for each service named in ``ingress`` (those the ingress proxy
    routes to). An upstream that no service of the environment provides, one that names a service
    registered outside the mesh (``outside_mesh``: in Nomad's own catalogue), a service calling
    itself, and two upstreams on one local port fail with the names to use."""
    check = Checker(where or "intentions")
    known = sorted(upstreams)
    outside = set(outside_mesh)
    check.require(INGRESS_PROXY not in upstreams and INGRESS_PROXY not in outside, "service", INGRESS_PROXY,
                  f"{INGRESS_PROXY!r} is the ingress proxy's Consul name; give the service another name")
    allowed: dict[str, set[str]] = {}
    for source in known:
        ports: dict[int, str] = {}
        for up in upstreams[source]:
            field = f"{source}.upstreams[{up.service}]"
            check.require(up.service != source, f"{field}.service", up.service,
                          "a service reaches itself directly, not through its sidecar; remove the upstream")
            check.require(up.service not in outside, f"{field}.service", up.service,
                          f"{up.service!r} registers in Nomad's own catalogue (registration='nomad'), outside the "
                          "Connect mesh; register it in Consul (the default) to call it as an upstream")
            check.require(up.service in upstreams, f"{field}.service", up.service,
                          f"no service of this environment is named {up.service!r}; use one of {known}")
            check.require(up.local_port not in ports, f"{field}.local_port", up.local_port,
                          f"already the local port of upstream {ports.get(up.local_port)!r}; give each its own")
            ports[up.local_port] = up.service
            allowed.setdefault(up.service, set()).add(source)
    for service in sorted(set(ingress)):
        check.require(service in upstreams, f"{service}.ingress", service,
                      "the ingress proxy reaches services through its Connect sidecar: register the service in "
                      f"Consul (registration='consul'); services in the mesh: {known}")
        allowed.setdefault(service, set()).add(INGRESS_PROXY)
    return Intentions(allowed={dst: tuple(sorted(srcs)) for dst, srcs in sorted(allowed.items())})


class MeshService(Protocol):
    """What :func:`mesh_intentions` reads of a service (a :class:`~hashistack.service.ServiceSpec`
    has these fields)."""

    @property
    def name(self) -> str: ...
    @property
    def service_name(self) -> str | None: ...
    @property
    def registration(self) -> str: ...
    @property
    def upstreams(self) -> Sequence[Upstream]: ...
    @property
    def ingress(self) -> object | None: ...


def mesh_intentions(services: Iterable[MeshService], *, ingress_enabled: bool, where: str = "") -> Intentions:
    """The intentions of an environment's services: every Consul-registered service is in the
    mesh under its Consul name (``service_name``, else ``name``); its ``upstreams`` are edges, and
    a service with an ``ingress`` is reached from the ingress proxy when the environment has one
    (``ingress_enabled``)."""
    mesh: dict[str, Sequence[Upstream]] = {}
    outside: list[str] = []
    ingress: list[str] = []
    for service in services:
        name = service.service_name or service.name
        if service.ingress is not None and ingress_enabled:
            ingress.append(name)
        if service.registration == "nomad":
            outside.append(name)
            Checker(where or "intentions").require(
                not service.upstreams, f"{name}.upstreams", [u.service for u in service.upstreams],
                "a service in Nomad's own catalogue (registration='nomad') has no Connect sidecar; register it in "
                "Consul (the default) to call upstreams")
            continue
        mesh[name] = tuple(service.upstreams)
    return intentions_for(mesh, where=where, ingress=ingress, outside_mesh=outside)
