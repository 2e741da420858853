"""Registered services: their checks, and the Connect sidecar with its upstreams and expose paths."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Mapping

from .._validate import RFC1123_HINT, is_rfc1123_label
from ..errors import Checker
from ._base import _is_int, is_port_number, ns, _positive
from .task import Resources

__all__ = ["Check", "CheckRestart", "Connect", "ConsulUpstream", "ExposePath", "Service", "SidecarTask"]

@dataclass(frozen=True, kw_only=True)
class CheckRestart:
    """Restart the task after ``limit`` consecutive failing checks, ignoring failures during
    ``grace_s`` after a (re)start. Without it Nomad never restarts on failing checks."""

    limit: int = 3
    grace_s: float = 30
    ignore_warnings: bool = False

    def _api(self) -> dict:
        return {"Limit": self.limit, "Grace": ns(self.grace_s), "IgnoreWarnings": self.ignore_warnings}

    def _validate(self, check: Checker) -> None:
        check.require(_is_int(self.limit) and self.limit >= 1, "limit", self.limit, "use 1 or more failures")
        check.require(isinstance(self.grace_s, (int, float)) and self.grace_s >= 0, "grace_s", self.grace_s,
                      "use 0 or more seconds")


@dataclass(frozen=True, kw_only=True)
class Check:
    """A service health check (``http``, ``tcp`` or ``grpc``) on a port label of the group, or
    on a literal port number (``"8443"``) inside the allocation's network namespace.

    :param address_mode: where the Consul agent connects: ``host`` (Nomad's default: the node's
        address and the label's host port) or ``alloc`` (the allocation's own address in its
        bridge network and the label's ``to`` port, or the literal port: reachable from the
        node only). ``driver`` is for checks of task-level services, which this model does not
        build (its services are the group's).
    :param expose: let Nomad generate a Connect ``expose`` path for this check (http/grpc with a
        path, on a Connect service). The service plan writes its expose paths explicitly
        (:class:`ExposePath`) instead; this flag is modelled so its rules are checked.
    """

    name: str
    type: Literal["http", "tcp", "grpc"]
    port: str
    address_mode: Literal["host", "alloc"] | None = None
    expose: bool = False
    path: str | None = None
    protocol: Literal["http", "https"] | None = None
    method: str | None = None
    grpc_service: str | None = None
    grpc_use_tls: bool = False
    tls_skip_verify: bool = False
    tls_server_name: str | None = None
    interval_s: float = 10
    timeout_s: float = 2
    check_restart: CheckRestart | None = None

    def _api(self) -> dict:
        return {
            "Name": self.name,
            "Type": self.type,
            "PortLabel": self.port,
            "AddressMode": self.address_mode,
            "Expose": self.expose or None,
            "Path": self.path,
            "Protocol": self.protocol,
            "Method": self.method,
            "GRPCService": self.grpc_service,
            "GRPCUseTLS": self.grpc_use_tls or None,
            "TLSSkipVerify": self.tls_skip_verify or None,
            "TLSServerName": self.tls_server_name,
            "Interval": ns(self.interval_s),
            "Timeout": ns(self.timeout_s),
            "CheckRestart": self.check_restart._api() if self.check_restart else None,
        }

    def _validate(self, check: Checker, labels: list[str]) -> None:
        check.require(self.type in ("http", "tcp", "grpc"), "type", self.type, "use 'http', 'tcp' or 'grpc'")
        check.require(self.port in labels or is_port_number(self.port), "port", self.port,
                      f"the check names a port label the group does not define; defined: {labels}")
        # nomad/structs/services.go, ServiceCheck.validateCommon: address_mode is "", host, driver,
        # alloc (or alloc_ipv6); "auto" is for services only. nomad/structs/structs.go,
        # TaskGroup.validateServices: "cannot use address_mode=\"driver\", only checks defined in a
        # \"task\" service block can use this mode" (and a group service has no driver network,
        # client/serviceregistration/address.go).
        check.require(self.address_mode in (None, "host", "alloc"), "address_mode", self.address_mode,
                      "use 'host' or 'alloc' (or leave it unset: 'host'); a group service's check has no driver "
                      "address")
        if self.expose:
            # nomad/structs/services.go, ServiceCheck.validateConsul: "expose may only be set on
            # HTTP or gRPC checks"; job_endpoint_hook_expose_check.go, checkIsExposable: a path
            # starting with '/' (else no expose path is generated, silently).
            check.require(self.type in ("http", "grpc"), "expose", self.expose,
                          f"expose works for http and grpc checks only, not {self.type!r}: drop expose")
            check.require(isinstance(self.path, str) and self.path.startswith("/"), "path", self.path,
                          "an exposed check needs a path starting with '/' (for gRPC: '/grpc.health.v1.Health/Check'), "
                          "or Nomad generates no expose path for it")
        if self.type == "http":
            check.require(isinstance(self.path, str) and self.path.startswith("/"), "path", self.path,
                          "an http check needs a path starting with '/', e.g. '/health'")
        # nomad/structs/services.go, ServiceCheck.validateCommon: minCheckInterval = minCheckTimeout = 1s.
        check.require(_positive(self.interval_s) and self.interval_s >= 1, "interval_s", self.interval_s,
                      "use an interval of at least 1 second (Nomad's minimum check interval)")
        check.require(_positive(self.timeout_s) and self.timeout_s >= 1, "timeout_s", self.timeout_s,
                      "use a timeout of at least 1 second (Nomad's minimum check timeout)")
        check.require(self.timeout_s < self.interval_s, "timeout_s", self.timeout_s,
                      f"use a timeout below the interval ({self.interval_s}s)")
        if self.check_restart:
            self.check_restart._validate(check.child("check_restart"))


@dataclass(frozen=True, kw_only=True)
class ConsulUpstream:
    """A service the task calls through its Connect sidecar: the sidecar listens on
    ``127.0.0.1:<local_bind_port>`` inside the allocation's network namespace and carries each
    connection over mutual TLS to a healthy instance of ``destination_name``."""

    destination_name: str
    local_bind_port: int

    def _api(self) -> dict:
        return {"DestinationName": self.destination_name, "LocalBindPort": self.local_bind_port}

    def _validate(self, check: Checker) -> None:
        check.require(is_rfc1123_label(self.destination_name), "destination_name", self.destination_name,
                      RFC1123_HINT)
        check.require(_is_int(self.local_bind_port) and 1 <= self.local_bind_port <= 65535, "local_bind_port",
                      self.local_bind_port, "use a port from 1 to 65535")


@dataclass(frozen=True, kw_only=True)
class ExposePath:
    """An HTTP path the sidecar serves outside the mesh, without mutual TLS: how a Consul health
    check reaches a service that listens only inside its network namespace.

    :param path: the exact path exposed (``/health``; for gRPC ``/grpc.health.v1.Health/Check``).
    :param protocol: ``http``, or ``http2`` for gRPC (Consul's expose path protocols).
    :param local_path_port: the port the app serves ``path`` on inside the namespace.
    :param listener_port: the group port label the sidecar listens on for it (a dynamic port with
        ``to = -1``, so the host port and the listener agree).
    """

    path: str
    protocol: Literal["http", "http2"]
    local_path_port: int
    listener_port: str

    def _api(self) -> dict:
        return {"Path": self.path, "Protocol": self.protocol, "LocalPathPort": self.local_path_port,
                "ListenerPort": self.listener_port}

    def _validate(self, check: Checker, labels: list[str]) -> None:
        check.require(isinstance(self.path, str) and self.path.startswith("/") and not any(c.isspace() for c in self.path),
                      "path", self.path, "use an absolute HTTP path such as '/health'")
        # Consul's ExposePath: "Valid values are http and http2".
        check.require(self.protocol in ("http", "http2"), "protocol", self.protocol,
                      "use 'http', or 'http2' for a gRPC path")
        check.require(_is_int(self.local_path_port) and 1 <= self.local_path_port <= 65535, "local_path_port",
                      self.local_path_port, "use the port the app listens on inside the allocation, 1 to 65535")
        # command/agent/consul/connect.go, connectExposePathPort: "No port of label %q defined".
        check.require(self.listener_port in labels, "listener_port", self.listener_port,
                      f"the sidecar listens on a port label of the group; defined: {labels}")


@dataclass(frozen=True, kw_only=True)
class SidecarTask:
    """Overrides of the Envoy sidecar task Nomad adds for a Connect service (Nomad's defaults:
    250 MHz and 128 MiB, nomad/job_endpoint_hook_connect.go, connectSidecarResources)."""

    resources: "Resources"

    def _api(self) -> dict:
        return {"Resources": self.resources._api()}

    def _validate(self, check: Checker) -> None:
        self.resources._validate(check.child("resources"))


@dataclass(frozen=True, kw_only=True)
class Connect:
    """The service joins the Consul service mesh with an Envoy sidecar that Nomad injects
    (``connect { sidecar_service { proxy { upstreams, expose } } sidecar_task { resources } }``).

    Inbound: the sidecar accepts mutual-TLS connections that Consul's intentions allow and hands
    them to the service's port inside the allocation's network namespace. Outbound: one local
    listener per :class:`ConsulUpstream`. Needs a ``bridge`` network.
    """

    upstreams: tuple[ConsulUpstream, ...] = ()
    expose: tuple[ExposePath, ...] = ()
    sidecar_task: SidecarTask | None = None

    def _api(self) -> dict:
        return {
            "SidecarService": {
                # Explicit (Nomad's default): the block must stay in the job even when it is
                # otherwise empty, and empty maps are pruned from the rendering.
                "DisableDefaultTCPCheck": False,
                "Proxy": {
                    "Upstreams": [u._api() for u in self.upstreams],
                    "Expose": {"Paths": [e._api() for e in self.expose]},
                },
            },
            "SidecarTask": self.sidecar_task._api() if self.sidecar_task else None,
        }

    def _validate(self, check: Checker, labels: list[str]) -> None:
        for up in self.upstreams:
            up._validate(check.child(f"upstream[{up.destination_name}]"))
        names = [u.destination_name for u in self.upstreams]
        for name in names:
            check.require(names.count(name) == 1, "upstream", name, "declare each upstream service once")
        for e in self.expose:
            e._validate(check.child(f"expose[{e.path}]"), labels)
        paths = [(e.path, e.listener_port) for e in self.expose]
        for e in self.expose:
            check.require(paths.count((e.path, e.listener_port)) == 1, "expose", e.path,
                          "expose each path once per listener")
        if self.sidecar_task:
            self.sidecar_task._validate(check.child("sidecar_task"))


@dataclass(frozen=True, kw_only=True)
class Service:
    """A service registration (Consul by default, or Nomad's native catalogue).

    :param port: a port label of the group, or a literal port number (``"8080"``): the port
        the service listens on inside the allocation's network namespace, which is how a
        Connect service names its port when no host port maps to it (the sidecar connects to
        it on 127.0.0.1; nomad/structs/services.go, ConsulSidecarService.Port: "a port label
        or a literal port number").
    :param connect: join the Consul service mesh with a sidecar (:class:`Connect`).
    """

    name: str
    port: str
    provider: Literal["consul", "nomad"] = "consul"
    tags: tuple[str, ...] = ()
    canary_tags: tuple[str, ...] = ()
    checks: tuple[Check, ...] = ()
    meta: Mapping[str, str] = field(default_factory=dict)
    connect: Connect | None = None

    def _api(self) -> dict:
        return {
            "Name": self.name,
            "PortLabel": self.port,
            "Provider": self.provider,
            "Tags": list(self.tags),
            "CanaryTags": list(self.canary_tags),
            "Checks": [c._api() for c in self.checks],
            "Meta": dict(sorted(self.meta.items())),
            "Connect": self.connect._api() if self.connect else None,
        }

    def _validate(self, check: Checker, labels: list[str], network_mode: str = "host") -> None:
        check.require(is_rfc1123_label(self.name), "name", self.name, RFC1123_HINT)
        check.require(self.provider in ("consul", "nomad"), "provider", self.provider, "use 'consul' or 'nomad'")
        check.require(self.port in labels or is_port_number(self.port), "port", self.port,
                      f"the service names a port label the group does not define; defined: {labels}")
        if is_port_number(self.port):
            # client/serviceregistration/address.go, GetAddress: a literal port is registered with
            # the node's address in host mode, where no allocation listens on it unmapped.
            check.require(network_mode == "bridge", "port", self.port,
                          "a literal port number is a port inside the allocation's network namespace: use a bridge "
                          "network, or name a port label of the group")
        if self.connect:
            # nomad/structs/services.go, Service.validateNomadService: "Service with provider nomad
            # cannot include Connect blocks".
            check.require(self.provider == "consul", "connect", "sidecar",
                          "Connect is Consul's service mesh: register the service in Consul (provider 'consul')")
            # nomad/job_endpoint_hook_connect.go, groupConnectSidecarValidate: "Consul Connect
            # sidecar requires bridge network".
            check.require(network_mode == "bridge", "connect", "sidecar",
                          f"a Connect sidecar needs the group's network in bridge mode, not {network_mode!r}")
            self.connect._validate(check.child("connect"), labels)
            if self.connect.expose:
                # The sidecar forwards an exposed path to the service's own port; a port label
                # resolves to a host port, which nothing inside the namespace listens on
                # (nomad/job_endpoint_hook_expose_check.go, exposePathForCheck, reads the
                # service port the same way).
                check.require(is_port_number(self.port), "port", self.port,
                              "with expose paths, give the service port as the literal port the app listens on "
                              "inside the allocation (e.g. '8080')")
        # A tag selects the service in catalogue queries, DNS (<tag>.<name>.service.consul) and
        # routers' rules: one with a control character, padding or nothing in it matches nothing
        # anyone can write.
        for tag in (*self.tags, *self.canary_tags):
            check.require(bool(tag) and tag.isprintable() and tag == tag.strip(), "tags", tag,
                          "a tag is printable text without surrounding spaces, e.g. 'team-payments'")
        # While an allocation is a canary Nomad registers it with CanaryTags instead of Tags
        # (command/agent/consul/service_client.go and client/serviceregistration/nsd, 1.9-1.11):
        # canary tags that leave out the service's tags make canaries invisible to every query
        # that selects the service by tag.
        if self.canary_tags:
            missing = [t for t in self.tags if t not in self.canary_tags]
            check.require(not missing, "canary_tags", list(self.canary_tags),
                          f"canary tags replace the tags while an allocation is a canary: include the service's "
                          f"tags {missing} (e.g. canary_tags = tags + ('canary',))")
        names = [c.name for c in self.checks]
        for c in self.checks:
            check.require(names.count(c.name) == 1, "check", c.name, "give each check of a service its own name")
            c._validate(check.child(f"check[{c.name}]"), labels)
            if self.connect:
                # nomad/structs/services.go, Service.validateConsulService: "tcp checks are not
                # valid for Connect enabled services" (the service listens inside the namespace).
                check.require(c.type != "tcp", f"check[{c.name}].type", c.type,
                              "Nomad refuses tcp checks on a Connect service: use an http or grpc check (through an "
                              "expose path, or with address_mode 'alloc')")
            if c.expose and self.provider == "consul":  # Nomad's own catalogue: refused below
                # nomad/job_endpoint_hook_expose_check.go, tgValidateUseOfCheckExpose: "exposed service
                # check ... requires use of sidecar_proxy"; tgValidateUseOfBridgeMode: "must use bridge
                # network for exposing service check(s)".
                check.require(self.connect is not None, f"check[{c.name}].expose", True,
                              "an exposed check needs a Connect sidecar on the service (connect=Connect(...))")
                check.require(network_mode == "bridge", f"check[{c.name}].expose", True,
                              "an exposed check needs the group's network in bridge mode")
                # exposePathForCheck: "unable to determine local service port" unless the service
                # port is a static port or a literal number.
                check.require(is_port_number(self.port), f"check[{c.name}].expose", True,
                              "Nomad finds the port to expose from the service port: give it as the literal port "
                              "the app listens on inside the allocation (e.g. '8080')")
            if c.address_mode == "alloc":
                # client/serviceregistration/address.go, GetAddress: "cannot use address_mode=\"alloc\":
                # no allocation network status reported" without a network namespace.
                check.require(network_mode == "bridge", f"check[{c.name}].address_mode", c.address_mode,
                              "the allocation has its own address only in a bridge network: use bridge mode or "
                              "address_mode 'host'")
            if self.provider == "nomad":
                # nomad/structs/services.go, ServiceCheck.validateNomad: provider "nomad" allows
                # only tcp and http checks, and no check_restart.ignore_warnings.
                check.require(c.type in ("http", "tcp"), f"check[{c.name}].type", c.type,
                              "Nomad's own service catalogue (provider 'nomad') runs only 'http' and 'tcp' checks: "
                              "register in Consul (registration='consul') for a gRPC check, or use HealthCheck.tcp()")
                check.require(not (c.check_restart and c.check_restart.ignore_warnings),
                              f"check[{c.name}].check_restart.ignore_warnings", True,
                              "Nomad's own checks have no warning state: drop ignore_warnings or register in Consul")
                # ServiceCheck.validateNomad: "expose may only be set for Consul service checks".
                check.require(not c.expose, f"check[{c.name}].expose", True,
                              "expose is a Consul Connect feature: register in Consul or drop expose")
