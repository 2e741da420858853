"""The services this one calls through Consul's mesh: its sidecar's upstreams."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import nomad as n
from .context import Contribution

if TYPE_CHECKING:
    from .context import ServiceContext

__all__ = ["DYNAMIC_PORTS", "upstreams"]

DYNAMIC_PORTS = range(20000, 32001)
"""Nomad's default dynamic port range (nomad/structs/network.go, DefaultMinDynamicPort and
DefaultMaxDynamicPort, 1.9-1.11). Inside a bridge network, the sidecar's inbound listener and
expose listeners bind the host port's own number (``to = -1``), taken from this range."""


def upstreams(ctx: "ServiceContext") -> Contribution:
    """The declared upstreams, each checked against the service, as the sidecar's upstreams
    (:func:`~hashistack.service.context.merge` refuses an upstream or a local port used twice)."""
    spec, check = ctx.spec, ctx.check
    if not spec.upstreams:
        return Contribution()
    check.require(spec.registration == "consul", "upstreams", [u.service for u in spec.upstreams],
                  "services call each other through Consul's service mesh: register in Consul "
                  "(registration='consul', the default) to declare upstreams")
    own = (spec.port, *spec.extra_ports.values())
    for up in spec.upstreams:
        up.validate(check, own_ports=own)
        field_name = f"upstreams[{up.service}]"
        check.require(up.service != ctx.service_name, f"{field_name}.service", up.service,
                      "a service reaches itself directly, not through its sidecar; remove the upstream")
        check.require(up.local_port not in DYNAMIC_PORTS, f"{field_name}.local_port", up.local_port,
                      "Nomad's dynamic ports (20000-32000) are where the sidecar's own listeners bind inside the "
                      "allocation: pick a local port outside that range, e.g. 9091")
    return Contribution(upstreams=tuple(
        (f"upstreams[{up.service}]", n.ConsulUpstream(destination_name=up.service, local_bind_port=up.local_port))
        for up in spec.upstreams))
