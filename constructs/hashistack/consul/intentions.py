"""Service-to-service access in the mesh, as a model: each service declares the services it
calls (:class:`Upstream`), and the intentions are exactly those edges, on top of a default deny.

Consul Connect checks an intention on every new connection between sidecars: a call that no
service declared is refused by Consul itself, the network half of least privilege (the Vault
half is each service's policy). Consul's ``service-intentions`` config entry holds, per
destination, the sources allowed to connect (Consul API docs, "Service Intentions
Configuration Entry"); the entry named ``*`` with source ``*`` and action ``deny`` makes the
default explicit, whatever the ACL default policy is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

from .._validate import RFC1123_HINT, is_rfc1123_label
from ..errors import Checker

__all__ = ["DEFAULT_DENY", "Intentions", "Upstream", "intentions_for"]

DEFAULT_DENY = "*"
"""The name of the catch-all intention entry (destination ``*``, source ``*``, deny)."""


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


def intentions_for(upstreams: Mapping[str, Iterable[Upstream]], *, where: str = "") -> Intentions:
    """The intentions for services ``{name: upstreams}``: exactly the declared edges. An upstream
    that no service of the environment provides, a service calling itself, and two upstreams on
    one local port fail with the names to use."""
    check = Checker(where or "intentions")
    known = sorted(upstreams)
    allowed: dict[str, set[str]] = {}
    for source in known:
        ports: dict[int, str] = {}
        for up in upstreams[source]:
            field = f"{source}.upstreams[{up.service}]"
            check.require(up.service != source, f"{field}.service", up.service,
                          "a service reaches itself directly, not through its sidecar; remove the upstream")
            check.require(up.service in upstreams, f"{field}.service", up.service,
                          f"no service of this environment is named {up.service!r}; use one of {known}")
            check.require(up.local_port not in ports, f"{field}.local_port", up.local_port,
                          f"already the local port of upstream {ports.get(up.local_port)!r}; give each its own")
            ports[up.local_port] = up.service
            allowed.setdefault(up.service, set()).add(source)
    return Intentions(allowed={dst: tuple(sorted(srcs)) for dst, srcs in sorted(allowed.items())})
