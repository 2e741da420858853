"""A task group's network: its mode and port labels."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ..errors import Checker
from ._base import _is_int

__all__ = ["Network", "Port", "SAME_AS_HOST"]

SAME_AS_HOST = -1
"""``Port.to`` sentinel: the host port's number, inside the allocation's network namespace."""


@dataclass(frozen=True, kw_only=True)
class Port:
    """A port label of the group's network.

    :param label: the name services, checks and the docker ``ports`` list refer to.
    :param to: the container port the host port maps to. Defaults to the host port. ``-1``
        (:data:`SAME_AS_HOST`) maps the host port to the same number inside the allocation's
        network namespace, as Nomad does for the ports it adds for Connect sidecars and expose
        listeners (nomad/job_endpoint_hook_connect.go, injectPort).
    :param static: a fixed host port. Defaults to none: Nomad picks a dynamic host port, which
        lets several allocations share a node. Only valid with ``count = 1`` (or in a system job,
        one allocation per node).
    """

    label: str
    to: int | None = None
    static: int | None = None

    def _api(self) -> dict:
        return {"Label": self.label, "To": self.to, "Value": self.static}

    def _validate(self, check: Checker) -> None:
        check.require(bool(re.fullmatch(r"[a-z][a-z0-9_-]{0,62}", str(self.label))), "label", self.label,
                      "use a lowercase label such as 'http' or 'grpc'")
        for name in ("to", "static"):
            value = getattr(self, name)
            if value is not None:
                # nomad/structs/structs.go, TaskGroup.validateNetworks: To may be -1 ("same as the
                # host port"), never below.
                ok = _is_int(value) and (1 <= value <= 65535 or (name == "to" and value == SAME_AS_HOST))
                check.require(ok, name, value,
                              "use a port from 1 to 65535" + (" (or -1: the host port's own number)" if name == "to" else ""))


@dataclass(frozen=True, kw_only=True)
class Network:
    """The group's network. ``mode`` defaults to ``host`` (docker maps each port label to its
    ``to`` container port); ``bridge`` needs the CNI plugins on the clients."""

    ports: tuple[Port, ...] = ()
    mode: Literal["host", "bridge"] = "host"

    @property
    def labels(self) -> list[str]:
        return [p.label for p in self.ports]

    def _api(self) -> dict:
        return {
            "Mode": self.mode,
            "DynamicPorts": [p._api() for p in self.ports if p.static is None],
            "ReservedPorts": [p._api() for p in self.ports if p.static is not None],
        }

    def _validate(self, check: Checker, count: int, job_type: str = "service") -> None:
        check.require(self.mode in ("host", "bridge"), "network.mode", self.mode, "use 'host' or 'bridge'")
        labels = self.labels
        for label in labels:
            check.require(labels.count(label) == 1, "network.port", label, "define each port label once")
        statics = [p.static for p in self.ports if p.static is not None]
        for port in self.ports:
            port._validate(check.child(f"network.port[{port.label}]"))
            if port.static is not None:
                # A system job places one allocation per node, so a static port never collides.
                check.require(count == 1 or job_type == "system", f"network.port[{port.label}].static", port.static,
                              f"a static host port allows one allocation per node, but count = {count}; "
                              "drop `static` to get a dynamic port mapped to the container port")
                # nomad/structs/structs.go, TaskGroup.validateNetworks: "Static port %d already reserved".
                check.require(statics.count(port.static) == 1, f"network.port[{port.label}].static", port.static,
                              "another port label reserves the same static host port: give each its own")
