"""The service's health check: how Consul (or Nomad) judges it healthy, and when Nomad restarts it."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from .. import nomad as n
from .context import Contribution

if TYPE_CHECKING:
    from .context import ServiceContext

__all__ = ["GRPC_HEALTH_PATH", "HEALTH_LISTENER", "HealthCheck"]

HEALTH_LISTENER = "expose-health"
"""The port label of the sidecar's listener for a health check's expose path."""

GRPC_HEALTH_PATH = "/grpc.health.v1.Health/Check"
"""The HTTP/2 path of the standard gRPC health service (grpc.health.v1.Health/Check): what
Consul's gRPC check calls, hence what an expose path for a gRPC check must let through."""


@dataclass(frozen=True, kw_only=True)
class HealthCheck:
    """How Consul (or Nomad) judges the service healthy, and when Nomad restarts it:
    after ``restart_after`` consecutive failures, past a ``grace_s`` start-up window.

    Factories: :meth:`http`, :meth:`tcp`, :meth:`grpc`.

    ``tls`` says how an ``http`` or ``grpc`` check connects to a service that has ``tls=``; it
    must be chosen explicitly there (refused when unset):

    - ``"verify"``: TLS, the certificate verified by Consul against the CA its agents trust and
      the service's common name (``TLSServerName``). Needs Consul registration and a Consul
      agent CA that includes the environment's Vault PKI root.
    - ``"skip-verify"``: TLS without verification (``TLSSkipVerify``): proves the service answers,
      not who it is.
    - ``"plain"``: no TLS, for a check on a port that serves plain HTTP/gRPC (``port=``).

    Defaults to ``None``: plain for a service without TLS.

    In the service mesh (every Consul-registered service) the app listens only inside its
    allocation: a plain ``http``/``grpc`` check reaches it through an expose path of its sidecar
    (the http ``path``; for gRPC the standard health method, so the app serves
    ``grpc.health.v1.Health``), and a TLS check connects to the allocation's own address
    (``address_mode = "alloc"``, from the Consul agent on the same node). Nomad refuses ``tcp``
    checks there: use :meth:`http` or :meth:`grpc`.
    """

    type: Literal["http", "tcp", "grpc"]
    path: str | None = None
    grpc_service: str | None = None
    port: str | None = None
    interval_s: float = 10
    timeout_s: float = 2
    restart_after: int = 3
    grace_s: float = 30
    tls: Literal["verify", "skip-verify", "plain"] | None = None

    @staticmethod
    def http(path: str, *, port: str | None = None, interval_s: float = 10, timeout_s: float = 2,
             restart_after: int = 3, grace_s: float = 30,
             tls: Literal["verify", "skip-verify", "plain"] | None = None) -> "HealthCheck":
        return HealthCheck(type="http", path=path, port=port, interval_s=interval_s, timeout_s=timeout_s,
                           restart_after=restart_after, grace_s=grace_s, tls=tls)

    @staticmethod
    def tcp(*, port: str | None = None, interval_s: float = 10, timeout_s: float = 2,
            restart_after: int = 3, grace_s: float = 30) -> "HealthCheck":
        return HealthCheck(type="tcp", port=port, interval_s=interval_s, timeout_s=timeout_s,
                           restart_after=restart_after, grace_s=grace_s)

    @staticmethod
    def grpc(service: str = "", *, port: str | None = None, interval_s: float = 10, timeout_s: float = 2,
             restart_after: int = 3, grace_s: float = 30,
             tls: Literal["verify", "skip-verify", "plain"] | None = None) -> "HealthCheck":
        return HealthCheck(type="grpc", grpc_service=service or None, port=port, interval_s=interval_s,
                           timeout_s=timeout_s, restart_after=restart_after, grace_s=grace_s, tls=tls)

    def contribute(self, ctx: "ServiceContext") -> Contribution:
        """The check; in the mesh also the sidecar's expose path and its listener port.

        A service in the mesh listens only inside its allocation's network namespace. A plain
        http/grpc check goes through an expose path of its sidecar (a listener on a dynamic host
        port, ``to = -1``, forwarding exactly the check's path to the app). A check that speaks
        TLS to the app (``tls="verify"``/``"skip-verify"``) cannot go through Envoy's plain
        expose listener, so it uses ``address_mode = "alloc"``: the Consul agent on the same
        node connects to the allocation's bridge address and the app's own port; other nodes
        cannot reach it."""
        spec, check, mesh = ctx.spec, ctx.check, ctx.mesh
        mode = self.tls
        check.require(mode in (None, "verify", "skip-verify", "plain"), "health.tls", mode,
                      "use 'verify', 'skip-verify' or 'plain'")
        if spec.tls and self.type in ("http", "grpc"):
            check.require(mode is not None, "health.tls", mode,
                          f"the service serves TLS: say how the {self.type} check connects: tls='verify' (Consul "
                          "verifies the certificate and its name), 'skip-verify' (TLS, unverified: proves liveness "
                          "only) or 'plain' (a port that serves plain traffic)")
        if self.type == "tcp":
            check.require(mode in (None, "plain"), "health.tls", mode,
                          "a tcp check only opens a connection: drop health.tls")
            # nomad/structs/services.go, Service.validateConsulService: "tcp checks are not valid for
            # Connect enabled services" (1.9-1.11).
            check.require(not mesh, "health", "HealthCheck.tcp()",
                          "a service in the Consul mesh listens only inside its allocation, and Nomad refuses tcp "
                          "checks on Connect services: use HealthCheck.http(...) or HealthCheck.grpc(...)")
        if mode == "verify":
            check.require(spec.tls is not None, "health.tls", mode,
                          "'verify' checks the certificate the service gets from tls=...: add tls=Tls(...) or use "
                          "'skip-verify' for a certificate the service brings itself")
            check.require(spec.registration == "consul", "health.tls", mode,
                          "Nomad's own checks cannot verify against a private CA: register in Consul, or use "
                          "'skip-verify'")
        use_tls = mode in ("verify", "skip-verify")
        label = self.port or spec.port_label
        base = n.Check(
            name=f"{ctx.service_name}-{self.type}", type=self.type, port=label, path=self.path,
            protocol="https" if use_tls and self.type == "http" else None,
            tls_skip_verify=mode == "skip-verify", tls_server_name=ctx.common_name if mode == "verify" else None,
            grpc_service=self.grpc_service, grpc_use_tls=use_tls and self.type == "grpc",
            interval_s=self.interval_s, timeout_s=self.timeout_s,
            check_restart=n.CheckRestart(limit=self.restart_after, grace_s=self.grace_s))
        if not mesh:
            return Contribution(checks=(base,))
        # The app's own port for the checked label, inside the namespace.
        target = spec.port if label == spec.port_label else spec.extra_ports.get(label)
        check.require(isinstance(target, int), "health.port", self.port,
                      f"name the service's port label {spec.port_label!r} or one of extra_ports "
                      f"{sorted(spec.extra_ports)}")
        assert isinstance(target, int)
        if use_tls:
            port = str(target) if label == spec.port_label else label
            return Contribution(checks=(dataclasses.replace(base, port=port, address_mode="alloc"),))
        path = self.path if self.type == "http" else GRPC_HEALTH_PATH
        expose = n.ExposePath(path=path or "/", protocol="http" if self.type == "http" else "http2",
                              local_path_port=target, listener_port=HEALTH_LISTENER)
        check.require(HEALTH_LISTENER not in spec.extra_ports, "extra_ports", HEALTH_LISTENER,
                      f"the label {HEALTH_LISTENER!r} is the sidecar's health-check listener: name the port otherwise")
        return Contribution(checks=(dataclasses.replace(base, port=HEALTH_LISTENER),), expose=(expose,),
                            ports=(("health", n.Port(label=HEALTH_LISTENER, to=n.SAME_AS_HOST)),))
