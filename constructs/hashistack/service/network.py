"""The group network's ports: the app's own port and its extra ports."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import nomad as n
from .context import Contribution
from .mesh import DYNAMIC_PORTS

if TYPE_CHECKING:
    from .context import ServiceContext

__all__ = ["ports"]


def ports(ctx: "ServiceContext") -> Contribution:
    """In the mesh the app's port is reached through its sidecar only: no host port maps to it,
    unless a static host port is asked for (the ingress proxy's, on every client). Outside the mesh
    a dynamic (or static) host port labelled ``port_label`` maps to it. Each extra port is mapped
    from a dynamic host port."""
    spec, check = ctx.spec, ctx.check
    own: tuple[tuple[str, n.Port], ...] = ()
    if ctx.mesh:
        check.require(spec.port not in DYNAMIC_PORTS, "port", spec.port,
                      "inside the allocation, Nomad's dynamic ports (20000-32000) are where the sidecar's listeners "
                      "bind: let the app listen outside that range, e.g. 8080")
    if spec.static_port or not ctx.mesh:
        own = (("port", n.Port(label=spec.port_label, to=spec.port, static=spec.static_port)),)
    extra = tuple((f"extra_ports[{label}]", n.Port(label=label, to=port)) for label, port in sorted(spec.extra_ports.items()))
    return Contribution(ports=(*own, *extra))
