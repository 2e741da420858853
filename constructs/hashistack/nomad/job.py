"""A Nomad job model that renders canonical Nomad API JSON (the form ``nomad_job`` takes with
``json = true``) and validates itself.

Plain Python, no jsii: intent is stored in frozen dataclasses; :func:`render_job` turns a job
into ``{"Job": {...}}`` with sorted keys, durations as integer nanoseconds and empty lists and
maps omitted (an empty list where Nomad expects none causes spurious job versions).
Durations are seconds in fields named ``*_s``. The API field names are written in the
``_api`` methods below and checked against :mod:`hashistack.nomad.api_fields` by the tests.

Validation (:meth:`Job.validate`) raises :class:`~hashistack.errors.HashistackError` naming the
job, group and task, the field, the value and the fix. Rules that Nomad itself enforces name the
Nomad source they come from; they were read in the releases v1.9.7, v1.10.5 and v1.11.3 and are
the same in the three unless a comment says otherwise.
"""

from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any, Literal, Mapping

from .._validate import RFC1123_HINT, is_rfc1123_label
from ..errors import Checker
from .rules import JobRules
from .vault_calls import vault_calls

__all__ = [
    "SAME_AS_HOST",
    "SIGNALS",
    "Check",
    "CheckRestart",
    "Connect",
    "Constraint",
    "ConsulUpstream",
    "DockerAuth",
    "DockerConfig",
    "ExposePath",
    "Identity",
    "Job",
    "LogConfig",
    "Mount",
    "Network",
    "Port",
    "Resources",
    "RestartPolicy",
    "Service",
    "SidecarTask",
    "Spread",
    "Task",
    "TaskGroup",
    "Template",
    "UpdateStrategy",
    "VaultBlock",
    "render_job",
    "signal_problem",
]

_NS = 1_000_000_000
SIGNALS = frozenset({
    "SIGABRT", "SIGALRM", "SIGBUS", "SIGCONT", "SIGFPE", "SIGHUP", "SIGILL", "SIGINT", "SIGIO", "SIGIOT", "SIGKILL",
    "SIGNULL", "SIGPIPE", "SIGPROF", "SIGQUIT", "SIGSEGV", "SIGSTOP", "SIGSYS", "SIGTERM", "SIGTRAP", "SIGTSTP",
    "SIGTTIN", "SIGTTOU", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGXCPU", "SIGXFSZ",
})
"""The signal names Nomad 1.10.2 accepts: consul-template v0.41.0 (its go.mod) signals/signals_unix.go
``SignalLookup``, which ``signals.Parse`` reads in the template hook and the docker driver, and which the
client fingerprints as ``attr.os.signals``, the attribute the scheduler constrains a job's signals on
(nomad/structs/structs.go): an unknown name leaves the job with no feasible client."""
UNHANDLED_SIGNALS = frozenset({"SIGKILL", "SIGSTOP", "SIGNULL"})
"""No program can handle SIGKILL or SIGSTOP, and SIGNULL delivers nothing: never a reload signal."""
_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_PERMS = re.compile(r"^0?[0-7]{3}$")
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?")
_INTERPOLATION = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_.]*\}$")
def _dynamic_vault_read(data: str) -> str | None:
    """The first action calling a Vault function with a path built at render time ((printf ...),
    $var, .Field, a pipeline), if any."""
    return next((call.action for call in vault_calls(data) if call.path is None), None)
TASK_DIRS = ("local", "secrets", "alloc")


SAME_AS_HOST = -1
"""``Port.to`` sentinel: the host port's number, inside the allocation's network namespace."""


def is_port_number(value: object) -> bool:
    """A service or check port given as a literal number ("8080") instead of a port label:
    Nomad resolves it as that port (client/serviceregistration/address.go, GetAddress)."""
    return isinstance(value, str) and value.isdigit() and not value.startswith("0") and 1 <= int(value) <= 65535


def ns(seconds: float | None) -> int | None:
    """Seconds as integer nanoseconds (Go's time.Duration), None stays None."""
    return None if seconds is None else int(round(seconds * _NS))


def _prune(value: Any) -> Any:
    """Drops None, empty lists and empty maps, recursively; keeps False and 0."""
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != [] and v != {}}
    if isinstance(value, (list, tuple)):
        return [_prune(v) for v in value]
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def signal_problem(value: object, *, handled: bool) -> str | None:
    """None for a signal name Nomad accepts (one a program can handle, with ``handled``), else the fix."""
    if not isinstance(value, str) or value not in SIGNALS:
        return f"use an upper-case signal name Nomad knows: {', '.join(sorted(SIGNALS - UNHANDLED_SIGNALS))}"
    if handled and value in UNHANDLED_SIGNALS:
        return "a program cannot handle SIGKILL or SIGSTOP, and SIGNULL delivers nothing: use e.g. 'SIGHUP'"
    return None


def _check_signal(check: Checker, field_name: str, value: str | None, required: bool, why: str,
                  *, handled: bool = False) -> None:
    if value is None:
        check.require(not required, field_name, value, why)
        return
    problem = signal_problem(value, handled=handled)
    check.require(problem is None, field_name, value, problem or "")


# --- networking -------------------------------------------------------------------------------

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


# --- health -----------------------------------------------------------------------------------

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


# --- Consul Connect (service mesh) --------------------------------------------------------------

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


# --- rollout and placement --------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class UpdateStrategy:
    """How a new job version rolls out. Defaults to a rolling update of one allocation at a
    time with auto-revert, judged by the health checks."""

    max_parallel: int = 1
    canary: int = 0
    auto_promote: bool = False
    auto_revert: bool = True
    health_check: Literal["checks", "task_states", "manual"] = "checks"
    min_healthy_time_s: float = 10
    healthy_deadline_s: float = 300
    progress_deadline_s: float = 600

    def _api(self) -> dict:
        return {
            "MaxParallel": self.max_parallel,
            "Canary": self.canary,
            "AutoPromote": self.auto_promote,
            "AutoRevert": self.auto_revert,
            "HealthCheck": self.health_check,
            "MinHealthyTime": ns(self.min_healthy_time_s),
            "HealthyDeadline": ns(self.healthy_deadline_s),
            "ProgressDeadline": ns(self.progress_deadline_s),
        }

    def _validate(self, check: Checker, count: int) -> None:
        check.require(_is_int(self.max_parallel) and 1 <= self.max_parallel <= count, "max_parallel",
                      self.max_parallel, f"use 1 to count ({count}) allocations at a time")
        check.require(_is_int(self.canary) and 0 <= self.canary <= count, "canary", self.canary,
                      f"use 0 to count ({count}) canaries (count canaries is a blue/green deployment)")
        check.require(not self.auto_promote or self.canary >= 1, "auto_promote", self.auto_promote,
                      "auto-promotion promotes canaries: set canary >= 1 or drop auto_promote")
        check.require(self.health_check in ("checks", "task_states", "manual"), "health_check", self.health_check,
                      "use 'checks', 'task_states' or 'manual'")
        check.require(isinstance(self.min_healthy_time_s, (int, float)) and self.min_healthy_time_s >= 0
                      and self.min_healthy_time_s < self.healthy_deadline_s,
                      "min_healthy_time_s", self.min_healthy_time_s,
                      f"must be below healthy_deadline_s ({self.healthy_deadline_s}s): an allocation must be able "
                      "to stay healthy that long before its deadline")
        check.require(_positive(self.healthy_deadline_s) and self.healthy_deadline_s < self.progress_deadline_s,
                      "healthy_deadline_s", self.healthy_deadline_s,
                      f"must be below progress_deadline_s ({self.progress_deadline_s}s), or the deployment "
                      "fails before an allocation can be judged healthy")


@dataclass(frozen=True, kw_only=True)
class RestartPolicy:
    """Local restarts of a failed task before the allocation fails and is rescheduled.
    Defaults to 2 attempts in 30 minutes, 15 seconds apart, then fail."""

    attempts: int = 2
    interval_s: float = 1800
    delay_s: float = 15
    mode: Literal["fail", "delay"] = "fail"

    def _api(self) -> dict:
        return {"Attempts": self.attempts, "Interval": ns(self.interval_s), "Delay": ns(self.delay_s),
                "Mode": self.mode}

    def _validate(self, check: Checker) -> None:
        # nomad/structs/structs.go, RestartPolicy.Validate (RestartPolicyMinInterval = 5s).
        check.require(_is_int(self.attempts) and self.attempts >= 0, "attempts", self.attempts, "use 0 or more")
        check.require(self.mode in ("fail", "delay"), "mode", self.mode, "use 'fail' or 'delay'")
        check.require(not (self.mode == "delay" and self.attempts == 0), "attempts", self.attempts,
                      "mode 'delay' with 0 attempts is ambiguous to Nomad: use 1 or more attempts, or mode 'fail'")
        check.require(_positive(self.interval_s) and self.interval_s >= 5, "interval_s", self.interval_s,
                      "use an interval of at least 5 seconds (Nomad's minimum restart interval)")
        check.require(isinstance(self.delay_s, (int, float)) and self.delay_s >= 0
                      and self.delay_s * self.attempts <= self.interval_s,
                      "interval_s", self.interval_s,
                      f"must fit attempts x delay ({self.attempts} x {self.delay_s}s)")


@dataclass(frozen=True, kw_only=True)
class Spread:
    """Spread allocations evenly over the values of a node attribute (e.g. the AZ)."""

    attribute: str
    weight: int = 100

    def _api(self) -> dict:
        return {"Attribute": self.attribute, "Weight": self.weight}

    def _validate(self, check: Checker) -> None:
        # nomad/structs/structs.go, Spread.Validate: "a positive weight from 0 to 100".
        check.require(_is_int(self.weight) and 1 <= self.weight <= 100, "weight", self.weight, "use 1 to 100")
        check.require(isinstance(self.attribute, str) and bool(self.attribute), "attribute", self.attribute,
                      "name a node attribute, e.g. '${attr.platform.aws.placement.availability-zone}'")


@dataclass(frozen=True, kw_only=True)
class Constraint:
    """Restrict placement: ``attribute operator value`` (e.g. ``${attr.kernel.name} = linux``)."""

    attribute: str
    value: str
    operator: str = "="

    def _api(self) -> dict:
        return {"LTarget": self.attribute, "RTarget": self.value, "Operand": self.operator}


# --- task -------------------------------------------------------------------------------------

@dataclass(frozen=True, kw_only=True)
class Resources:
    """CPU in MHz (or whole cores), memory in MiB, optional memory ceiling for oversubscription."""

    cpu_mhz: int | None = None
    memory_mib: int = 256
    memory_max_mib: int | None = None
    cores: int | None = None

    def _api(self) -> dict:
        return {"CPU": self.cpu_mhz, "Cores": self.cores, "MemoryMB": self.memory_mib,
                "MemoryMaxMB": self.memory_max_mib}

    def _validate(self, check: Checker) -> None:
        check.require(not (self.cpu_mhz is not None and self.cores is not None), "cores", self.cores,
                      "set either cpu_mhz or cores, not both")
        check.require(self.cpu_mhz is not None or self.cores is not None, "cpu_mhz", self.cpu_mhz,
                      "set cpu_mhz (e.g. 500) or cores")
        if self.cpu_mhz is not None:
            check.require(_is_int(self.cpu_mhz) and self.cpu_mhz > 0, "cpu_mhz", self.cpu_mhz, "use more than 0 MHz")
        if self.cores is not None:
            check.require(_is_int(self.cores) and self.cores > 0, "cores", self.cores, "use 1 or more cores")
        check.require(_is_int(self.memory_mib) and self.memory_mib >= 10, "memory_mib", self.memory_mib,
                      "Nomad needs at least 10 MiB")
        if self.memory_max_mib is not None:
            check.require(_is_int(self.memory_max_mib) and self.memory_max_mib > self.memory_mib,
                          "memory_max_mib", self.memory_max_mib,
                          f"must be above memory_mib ({self.memory_mib}), or leave it unset")


@dataclass(frozen=True, kw_only=True)
class Template:
    """A consul-template rendered into the task directory before the task starts.

    ``change_mode`` decides only what happens when the rendered content changes later:
    ``restart`` the task, send it ``change_signal``, or ``noop``. ``sensitive`` marks a template
    that carries secrets: it must render under ``secrets/`` with perms 0600 or tighter
    (templates reading Vault are sensitive whatever the flag says).
    """

    destination: str
    data: str
    change_mode: Literal["restart", "signal", "noop"] = "restart"
    change_signal: str | None = None
    perms: str = "0644"
    env: bool = False
    splay_s: float = 5
    sensitive: bool = False
    error_on_missing_key: bool = True
    uid: int | None = None
    gid: int | None = None

    @property
    def reads_vault(self) -> bool:
        """The template calls a Vault function (any quoting, tests/test_vault_calls.py)."""
        return isinstance(self.data, str) and bool(vault_calls(self.data))

    def _api(self) -> dict:
        return {
            "DestPath": self.destination,
            "EmbeddedTmpl": self.data,
            "ChangeMode": self.change_mode,
            "ChangeSignal": self.change_signal,
            "Perms": self.perms,
            "Envvars": self.env,
            "Splay": ns(self.splay_s),
            "ErrMissingKey": self.error_on_missing_key,
            "Uid": self.uid,
            "Gid": self.gid,
        }

    def _validate(self, check: Checker) -> None:
        dest = self.destination
        parts = dest.split("/") if isinstance(dest, str) else []
        check.require(bool(parts) and parts[0] in TASK_DIRS and len(parts) > 1 and ".." not in parts
                      and not dest.startswith("/") and posixpath.normpath(dest) == dest,
                      "destination", dest,
                      "templates render inside the task directory: use a relative path under local/, secrets/ or "
                      "alloc/ with no '..' (mount the file into the container to place it elsewhere)")
        check.require(self.change_mode in ("restart", "signal", "noop"), "change_mode", self.change_mode,
                      "use 'restart', 'signal' or 'noop'")
        _check_signal(check, "change_signal", self.change_signal, self.change_mode == "signal",
                      "change_mode 'signal' needs change_signal, e.g. 'SIGHUP'", handled=True)
        # nomad/structs/structs.go, Template.Validate: "cannot use signals with env var templates"
        # (environment variables are read once, at start: a signal cannot deliver new values).
        check.require(not (self.env and self.change_mode == "signal"), "change_mode", self.change_mode,
                      "a template rendering environment variables cannot use a signal: a process reads its "
                      "environment once at start; use 'restart' (or 'noop')")
        for name in ("uid", "gid"):
            value = getattr(self, name)
            if value is not None:
                check.require(_is_int(value) and value >= 0, name, value,
                              "use the numeric id the container user runs as, e.g. 65532")
        dynamic = _dynamic_vault_read(self.data) if isinstance(self.data, str) else None
        check.require(dynamic is None, "data", dynamic,
                      "a Vault read whose path is built at render time (e.g. secret (printf ...)) cannot be "
                      "derived into the service's policy: write the path as a literal string, one read per path")
        check.require(isinstance(self.perms, str) and bool(_PERMS.fullmatch(self.perms)), "perms", self.perms,
                      "use octal permissions as a string, e.g. '0400'")
        if self.sensitive or self.reads_vault:
            check.require(parts[0] == "secrets", "destination", dest,
                          "a template carrying secrets renders under secrets/ (never local/ or alloc/)")
            mode = int(self.perms, 8)
            check.require(mode & 0o177 == 0, "perms", self.perms,
                          "a template carrying secrets needs perms 0600 or tighter (0400 preferred)")


@dataclass(frozen=True, kw_only=True)
class VaultBlock:
    """Vault access by workload identity: the task logs in to Vault with its identity under
    ``role``. The token is not exposed as ``VAULT_TOKEN`` unless ``env`` is set."""

    role: str
    change_mode: Literal["restart", "signal", "noop"] = "restart"
    env: bool = False
    disable_file: bool = True

    def _api(self) -> dict:
        return {"Role": self.role, "ChangeMode": self.change_mode, "Env": self.env, "DisableFile": self.disable_file}

    def _validate(self, check: Checker) -> None:
        check.require(isinstance(self.role, str) and bool(self.role), "role", self.role,
                      "name the Vault JWT role the task logs in with")


@dataclass(frozen=True, kw_only=True)
class Identity:
    """A workload identity token for the task (``vault_default`` is the one Vault uses)."""

    name: str
    audience: tuple[str, ...]
    ttl_s: float = 3600
    env: bool = False
    file: bool = False

    def _api(self) -> dict:
        return {"Name": self.name, "Audience": list(self.audience), "TTL": ns(self.ttl_s), "Env": self.env,
                "File": self.file}


@dataclass(frozen=True, kw_only=True)
class LogConfig:
    """Log rotation of the task's stdout/stderr. Defaults to 10 files of 10 MiB."""

    max_files: int = 10
    max_file_size_mib: int = 10

    def _api(self) -> dict:
        return {"MaxFiles": self.max_files, "MaxFileSizeMB": self.max_file_size_mib}

    def _validate(self, check: Checker) -> None:
        check.require(_is_int(self.max_files) and self.max_files >= 1, "max_files", self.max_files, "use 1 or more")
        check.require(_is_int(self.max_file_size_mib) and self.max_file_size_mib >= 1, "max_file_size_mib",
                      self.max_file_size_mib, "use 1 MiB or more")


@dataclass(frozen=True, kw_only=True)
class Mount:
    """A bind mount of a task-directory path into the container (read-only by default)."""

    source: str
    target: str
    readonly: bool = True

    def _api(self) -> dict:
        return {"type": "bind", "source": self.source, "target": self.target, "readonly": self.readonly}

    def _validate(self, check: Checker) -> None:
        check.require(isinstance(self.target, str) and self.target.startswith("/") and ".." not in self.target.split("/"),
                      "target", self.target, "use an absolute container path with no '..'")
        first = self.source.split("/")[0] if isinstance(self.source, str) else ""
        check.require(first in TASK_DIRS and ".." not in self.source.split("/"), "source", self.source,
                      "mount a path under local/, secrets/ or alloc/ of the task directory")


_VOLUME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")


@dataclass(frozen=True, kw_only=True)
class HostVolume:
    """The group's request for a host volume that clients declare (``client { host_volume }``):
    the scheduler places the group only on a client that has a volume named ``source``
    (scheduler/feasible.go ``HostVolumeChecker.hasVolumes``, v1.10.2), and a read-write request
    only where the client's volume is not read-only."""

    name: str
    source: str
    read_only: bool = False

    def _api(self) -> dict:
        return {"Name": self.name, "Type": "host", "Source": self.source, "ReadOnly": self.read_only}

    def _validate(self, check: Checker) -> None:
        check.require(bool(_VOLUME_NAME.fullmatch(self.name)), "name", self.name,
                      "use letters, digits, '_' and '-' (at most 63), e.g. 'data'")
        # nomad/structs/volumes.go, VolumeRequest.Validate (v1.10.2): "volume has an empty source".
        check.require(bool(_VOLUME_NAME.fullmatch(self.source)), "source", self.source,
                      "name the client's host volume (letters, digits, '_' and '-'), e.g. 'data'")


@dataclass(frozen=True, kw_only=True)
class VolumeMount:
    """A group volume mounted into the task at ``destination``. ``PropagationMode`` is rendered as
    Nomad canonicalizes it (``private``, api/tasks.go ``VolumeMount.Canonicalize``)."""

    volume: str
    destination: str
    read_only: bool = False

    def _api(self) -> dict:
        return {"Volume": self.volume, "Destination": self.destination, "ReadOnly": self.read_only,
                "PropagationMode": "private"}


@dataclass(frozen=True, kw_only=True)
class DockerAuth:
    """Private-registry credentials, given as interpolations of environment variables rendered
    from Vault (``${REGISTRY_USERNAME}``), never as literal values."""

    username: str
    password: str

    def _api(self) -> dict:
        return {"username": self.username, "password": self.password}

    def _validate(self, check: Checker) -> None:
        for name in ("username", "password"):
            value = getattr(self, name)
            check.require(isinstance(value, str) and bool(_INTERPOLATION.fullmatch(value)), name,
                          "<redacted>" if name == "password" else value,
                          "registry credentials come from Vault: pass an interpolation such as "
                          "'${REGISTRY_PASSWORD}' of a variable rendered by a Vault template, never a literal")


@dataclass(frozen=True, kw_only=True)
class DockerConfig:
    """The docker driver's config."""

    image: str
    command: str | None = None
    args: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()
    mounts: tuple[Mount, ...] = ()
    auth: DockerAuth | None = None
    force_pull: bool = False
    readonly_rootfs: bool = False

    def _api(self) -> dict:
        return {
            "image": self.image,
            "command": self.command,
            "args": list(self.args),
            "ports": list(self.ports),
            "mount": [m._api() for m in self.mounts],
            "auth": self.auth._api() if self.auth else None,
            "force_pull": self.force_pull or None,
            "readonly_rootfs": self.readonly_rootfs or None,
        }

    def _validate(self, check: Checker, labels: list[str]) -> None:
        check.require(isinstance(self.image, str) and bool(self.image) and not any(c.isspace() for c in self.image),
                      "image", self.image, "name an image, e.g. 'registry.example.com/team/app:1.4.2'")
        for label in self.ports:
            check.require(label in labels, "ports", label,
                          f"the driver maps a port label the group does not define; defined: {labels}")
        targets = [m.target for m in self.mounts]
        for m in self.mounts:
            m._validate(check.child(f"mount[{m.target}]"))
            check.require(targets.count(m.target) == 1, "mount.target", m.target,
                          "two mounts share this container path: give each its own target")
        if self.auth:
            self.auth._validate(check.child("auth"))


@dataclass(frozen=True, kw_only=True)
class Task:
    """One process of the group (the docker driver is the one modelled)."""

    name: str
    config: DockerConfig
    resources: Resources
    env: Mapping[str, str] = field(default_factory=dict)
    templates: tuple[Template, ...] = ()
    vault: VaultBlock | None = None
    identities: tuple[Identity, ...] = ()
    kill_signal: str = "SIGTERM"
    kill_timeout_s: float = 30
    logs: LogConfig = field(default_factory=LogConfig)
    user: str | None = None
    volume_mounts: tuple[VolumeMount, ...] = ()

    def _api(self) -> dict:
        return {
            "Name": self.name,
            "Driver": "docker",
            "VolumeMounts": [m._api() for m in self.volume_mounts],
            "User": self.user,
            "Config": self.config._api(),
            "Env": dict(sorted(self.env.items())),
            "Resources": self.resources._api(),
            "Templates": [t._api() for t in self.templates],
            "Vault": self.vault._api() if self.vault else None,
            "Identities": [i._api() for i in self.identities],
            "KillSignal": self.kill_signal,
            "KillTimeout": ns(self.kill_timeout_s),
            "LogConfig": self.logs._api(),
        }

    def _validate(self, check: Checker, labels: list[str], max_kill_timeout_s: float = 30) -> None:
        check.require(is_rfc1123_label(self.name), "name", self.name, RFC1123_HINT)
        self.config._validate(check.child("config"), labels)
        self.resources._validate(check.child("resources"))
        self.logs._validate(check.child("logs"))
        for key in self.env:
            check.require(isinstance(key, str) and bool(_ENV_KEY.fullmatch(key)), "env", key,
                          "environment variable names are letters, digits and '_', not starting with a digit")
        dests = [t.destination for t in self.templates]
        for t in self.templates:
            t._validate(check.child(f"template[{t.destination}]"))
            check.require(dests.count(t.destination) == 1, "template.destination", t.destination,
                          "two templates render to the same file")
            if t.reads_vault:
                check.require(self.vault is not None, "vault", None,
                              f"template {t.destination} reads Vault, so the task needs a vault block with a role")
        if self.vault:
            self.vault._validate(check.child("vault"))
        _check_signal(check, "kill_signal", self.kill_signal, True, "name the signal that starts a graceful shutdown")
        # The client caps kill_timeout at its max_kill_timeout, silently (client/config/config.go
        # MaxKillTimeout; default "30s" in command/agent/config.go DefaultConfig).
        check.require(_positive(self.kill_timeout_s) and self.kill_timeout_s <= max_kill_timeout_s,
                      "kill_timeout_s", self.kill_timeout_s,
                      f"use more than 0 and at most the clients' max_kill_timeout ({max_kill_timeout_s:g}s): "
                      "a longer one is cut short silently by the client (raise NomadSettings.client_max_kill_timeout_s "
                      "together with the clients' max_kill_timeout to allow more)")
        if self.user is not None:
            check.require(isinstance(self.user, str) and bool(_USER.fullmatch(self.user)),
                          "user", self.user, "use 'uid:gid' or a user name known to the image, e.g. '65532:65532'")


@dataclass(frozen=True, kw_only=True)
class TaskGroup:
    """Allocations scheduled together: ``count`` copies of its tasks, its network and services."""

    name: str
    tasks: tuple[Task, ...]
    count: int = 1
    network: Network = field(default_factory=Network)
    services: tuple[Service, ...] = ()
    update: UpdateStrategy | None = None
    restart: RestartPolicy = field(default_factory=RestartPolicy)
    spreads: tuple[Spread, ...] = ()
    constraints: tuple[Constraint, ...] = ()
    shutdown_delay_s: float | None = None
    meta: Mapping[str, str] = field(default_factory=dict)
    volumes: tuple[HostVolume, ...] = ()

    def _api(self) -> dict:
        return {
            "Name": self.name,
            "Count": self.count,
            "Volumes": {v.name: v._api() for v in self.volumes},
            # A bridge network is rendered even without ports: Connect needs exactly one network.
            "Networks": [self.network._api()] if self.network.ports or self.network.mode != "host" else [],
            "Services": [s._api() for s in self.services],
            "Tasks": [t._api() for t in self.tasks],
            "Update": self.update._api() if self.update else None,
            "RestartPolicy": self.restart._api(),
            "Spreads": [s._api() for s in self.spreads],
            "Constraints": [c._api() for c in self.constraints],
            "ShutdownDelay": ns(self.shutdown_delay_s),
            "Meta": dict(sorted(self.meta.items())),
        }

    def _validate(self, check: Checker, rules: JobRules, max_kill_timeout_s: float = 30,
                  job_type: str = "service") -> None:
        system = job_type == "system"
        check.require(is_rfc1123_label(self.name), "name", self.name, RFC1123_HINT)
        check.require(_is_int(self.count) and self.count >= 0, "count", self.count, "use 0 or more allocations")
        if system:
            # nomad/structs/structs.go, Job.Validate: "Count cannot exceed 1 with system scheduler"
            # (one allocation per eligible node).
            check.require(self.count <= 1, "count", self.count,
                          "a system job runs one allocation on every eligible node: use count 1")
        else:
            check.require(self.count >= rules.min_count, "count", self.count,
                          f"{rules.tier} runs at least {rules.min_count} allocations so one can fail or roll without "
                          "an outage")
        labels = self.network.labels
        self.network._validate(check, self.count, job_type)
        check.require(bool(self.tasks), "tasks", [], "a group needs at least one task")
        names = [t.name for t in self.tasks]
        for t in self.tasks:
            check.require(names.count(t.name) == 1, "task", t.name, "give each task of a group its own name")
            task_check = Checker(f"{check.where} > task {t.name!r}".replace("'", '"'))
            t._validate(task_check, labels, max_kill_timeout_s)
            if self.network.mode == "bridge":
                # drivers/docker/driver.go, createContainerConfig: "Do not set up docker port
                # mapping if shared alloc networking is used": the list would be ignored.
                task_check.require(not t.config.ports, "config.ports", list(t.config.ports),
                                   "in a bridge network the group maps its ports and docker's ports list is "
                                   "ignored: drop it")
            self._validate_volume_mounts(task_check, t)
            # nomad/structs/structs.go, Task.Validate: "KillTimout (...) longer than the group's
            # ProgressDeadline" for service jobs.
            if self.update and self.update.progress_deadline_s:
                task_check.require(t.kill_timeout_s <= self.update.progress_deadline_s, "kill_timeout_s",
                                   t.kill_timeout_s, f"use at most the group's progress_deadline_s "
                                   f"({self.update.progress_deadline_s:g}s)")
        volume_names = [v.name for v in self.volumes]
        for v in self.volumes:
            v._validate(check.child(f"volume[{v.name}]"))
            check.require(volume_names.count(v.name) == 1, "volume", v.name, "give each volume of a group its own name")
        service_names = [s.name for s in self.services]
        listeners: dict[int, str] = {}
        for s in self.services:
            check.require(service_names.count(s.name) == 1, "service", s.name, "register each service name once")
            s._validate(check.child(f"service[{s.name}]"), labels, self.network.mode)
            if rules.checks_required:
                check.require(bool(s.checks), f"service[{s.name}].checks", [],
                              f"{rules.tier} services need a health check (HealthCheck.http/.tcp/.grpc)")
            for up in s.connect.upstreams if s.connect else ():
                # nomad/job_endpoint_hook_connect.go, groupConnectUpstreamsValidate: "Consul Connect
                # services %q and %q in group %q using same address for upstreams".
                other = listeners.setdefault(up.local_bind_port, f"{s.name} -> {up.destination_name}")
                check.require(other == f"{s.name} -> {up.destination_name}",
                              f"service[{s.name}].connect.upstream[{up.destination_name}].local_bind_port",
                              up.local_bind_port, f"the upstream {other} already listens on this local port: "
                              "give each upstream of the group its own port")
        if self.update:
            if system:
                # A system job has no canaries in Nomad 1.9 and 1.10 (scheduler/scheduler_system.go
                # ignores them); 1.11 reads `canary` as a percentage of the nodes. Neither means
                # what it means for a service job, so it is refused.
                check.require(self.update.canary == 0 and not self.update.auto_promote, "update.canary",
                              self.update.canary, "a system job rolls node by node (max_parallel at a time): "
                              "use a rolling update without canaries")
            # max_parallel counts nodes in a system job, not allocations of count.
            self.update._validate(check.child("update"), max(self.count, 1) if not system else 1 << 16)
            if rules.auto_revert_required:
                check.require(self.update.auto_revert, "update.auto_revert", self.update.auto_revert,
                              f"{rules.tier} deployments revert automatically to the last healthy version")
        self.restart._validate(check.child("restart"))
        if system:
            # nomad/structs/structs.go, TaskGroup.Validate: "System jobs may not have a spread block".
            check.require(not self.spreads, "spreads", [s.attribute for s in self.spreads],
                          "a system job runs on every eligible node and may not spread: drop the spread")
        for i, spread in enumerate(self.spreads):
            spread._validate(check.child(f"spread[{i}]"))
        if rules.spread_required and self.count > 1 and not system:
            check.require(bool(self.spreads), "spreads", [],
                          f"{rules.tier} spreads allocations across availability zones")


    def _validate_volume_mounts(self, check: Checker, task: "Task") -> None:
        defined = {v.name for v in self.volumes}
        taken = {m.target: "a mount" for m in task.config.mounts}
        for i, m in enumerate(task.volume_mounts):
            # nomad/structs/structs.go, Task.Validate (v1.10.2): "Volume Mount (%d) references
            # undefined volume %s".
            check.require(m.volume in defined, f"volume_mount[{i}].volume", m.volume,
                          f"mount a volume the group requests: {sorted(defined)}")
            parts = m.destination.split("/") if isinstance(m.destination, str) else []
            # The docker driver mounts the task directories at /alloc, /local and /secrets
            # (drivers/docker/driver.go, createContainerConfig): a volume there would hide them.
            check.require(len(parts) > 1 and parts[0] == "" and ".." not in parts and bool(parts[1])
                          and parts[1] not in TASK_DIRS, f"volume_mount[{i}].destination", m.destination,
                          "use an absolute container path outside /alloc, /local and /secrets, e.g. '/var/lib/app'")
            check.require(m.destination not in taken, f"volume_mount[{i}].destination", m.destination,
                          f"{taken.get(m.destination)} is already at this container path: give each its own")
            taken[m.destination] = f"volume {m.volume!r}"


@dataclass(frozen=True, kw_only=True)
class Job:
    """A Nomad job: a ``service`` job (``count`` allocations per group, placed by the
    scheduler) or a ``system`` job (one allocation of each group on every eligible client)."""

    id: str
    groups: tuple[TaskGroup, ...]
    datacenters: tuple[str, ...] = ("dc1",)
    region: str = "global"
    namespace: str = "default"
    type: Literal["service", "system"] = "service"
    priority: int = 50
    meta: Mapping[str, str] = field(default_factory=dict)

    def _api(self) -> dict:
        return {
            "ID": self.id,
            "Name": self.id,
            "Type": self.type,
            "Region": self.region,
            "Namespace": self.namespace,
            "Datacenters": list(self.datacenters),
            "Priority": self.priority,
            "TaskGroups": [g._api() for g in self.groups],
            "Meta": dict(sorted(self.meta.items())),
        }

    def validate(self, *, where: str = "", rules: JobRules = JobRules(), max_kill_timeout_s: float = 30) -> "Job":
        """Checks every rule; raises HashistackError naming job/group/task, field, value and fix.

        :param where: a prefix for messages, such as the construct path.
        :param rules: what the environment's tier adds (:class:`JobRules`: an allocation floor, a
            health check on every service, auto-revert, spread across availability zones; a system
            job runs on every node and is exempt from the count and spread rules). Default: none.
        :param max_kill_timeout_s: the clients' ``max_kill_timeout`` (Nomad's default: 30 s).
        """
        prefix = f"{where}: " if where else ""
        check = Checker(f'{prefix}job "{self.id}"')
        check.require(is_rfc1123_label(self.id), "id", self.id, RFC1123_HINT)
        check.require(bool(self.groups), "groups", [], "a job needs at least one task group")
        check.require(_is_int(self.priority) and 1 <= self.priority <= 100, "priority", self.priority, "use 1 to 100")
        check.require(self.type in ("service", "system"), "type", self.type, "use 'service' or 'system'")
        names = [g.name for g in self.groups]
        for g in self.groups:
            check.require(names.count(g.name) == 1, "group", g.name, "give each group its own name")
            g._validate(Checker(f"{check.where} > group {g.name!r}".replace("'", '"')), rules,
                        max_kill_timeout_s, self.type)
        return self

    def to_api(self) -> dict:
        """The job as Nomad API JSON (``{"Job": {...}}``), pruned of empty values."""
        return {"Job": _prune(self._api())}


def render_job(job: Job) -> str:
    """The job as canonical JSON text: sorted keys, compact, deterministic."""
    return json.dumps(job.to_api(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
