"""A service's props: :class:`ServiceSpec`, the one place they are declared and documented."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Callable, Literal, Mapping

from .. import nomad as n
from .._types import check_types
from ..consul.intentions import Upstream
from ..errors import HashistackError
from ..releases import Release
from .context import Option
from .files import ConfigFile
from .health import HealthCheck
from .ingress import Ingress
from .logs import Logs
from .registry import RegistryAuth
from .rollout import Update
from .secrets import VaultSecret
from .tls import Tls

__all__ = ["ServiceSpec"]


@dataclass(frozen=True, kw_only=True)
class ServiceSpec:
    """Everything a user says about one Go service: the one declaration of its props.

    Every prop but ``name`` and ``image`` has a default, stated below as behaviour; ``None``
    means that default. :class:`~hashistack.service.GoService` deploys a spec, and an
    environment's :class:`~hashistack.catalogue.EnvironmentServices` plans it once.

    Example::

        ServiceSpec(
            name="payments",
            image="registry.example.com/payments:1.4.2",
            config_files=(ConfigFile.from_path("services/payments/app.conf", mount_at="/app/config/app.conf"),),
            secrets=(VaultSecret.kv("payments/config", mount_at="/app/config/secrets.json"),),
            tls=Tls(mount_dir="/app/tls"),
            health=HealthCheck.http("/health", tls="skip-verify"),
            user="65532:65532",
            env={"LOG_LEVEL": "info"},
        )
    """

    name: str
    """The service: names the Nomad job, its task group and task, its Vault policy and roles, and
    (unless ``service_name``) its registration. An RFC 1123 label of at most 63 characters."""
    image: str
    """The docker image. Outside development it must carry a version tag or a digest (not
    ``:latest``)."""
    release: Release | None = None
    """The release to deploy (:class:`~hashistack.releases.Release`), usually the environment's
    entry in ``releases/<env>.toml``: the image runs at the release's version (its tag or digest
    replaces the image's) and the job's ``meta`` carries ``version`` and ``revision``. Default:
    none: the image as given, its tag (or digest) as ``meta.version``."""
    port: int = 8080
    """The port the app listens on. Default: 8080. In the mesh (every service registered in
    Consul, the default) no host port maps to it: the group has a bridge network, the service is
    registered with that port number and is reached only through its Connect sidecar, with mutual
    TLS and Consul's intentions. Registered in Nomad's catalogue (``registration="nomad"``), a
    dynamic host port labelled ``port_label`` maps to it."""
    port_label: str = "http"
    """The label of the app's port. Default: ``http``."""
    static_port: int | None = None
    """A fixed host port mapped to ``port`` (count 1 or a system job), which also bypasses the
    mesh: meant for the ingress proxy. Default: none."""
    extra_ports: Mapping[str, int] = field(default_factory=dict)
    """More ``{label: container_port}``, each mapped from a dynamic host port (outside the mesh).
    Default: none."""
    count: int | None = None
    """Allocations. Default: 2 in production, 1 elsewhere; a system job has none."""
    command: str | None = None
    """The entrypoint. Default: the image's."""
    args: tuple[str, ...] = ()
    """The entrypoint's arguments. Default: the image's."""
    registry_auth: RegistryAuth | None = None
    """Credentials for a private registry, read from Vault (:class:`RegistryAuth`). Default: none."""
    config_files: tuple[ConfigFile, ...] = ()
    """Config files (:class:`ConfigFile`), the ConfigMap equivalent: rendered 0644, mounted by
    directory (the directory of each ``mount_at``, read-only) so a re-rendered file reaches the
    app. A config file may not read Vault. Default: none."""
    secrets: tuple[VaultSecret, ...] = ()
    """Secrets (:class:`VaultSecret`) from KV v2 at ``<kv>/data/<env>/<path>``, as 0400 files or
    environment variables, each granted by the service's own policy. Default: none."""
    tls: Tls | None = None
    """A certificate (:class:`Tls`) from the environment's PKI intermediate, for the service's own
    names only. Default: none."""
    health: HealthCheck | None = None
    """The health check (:class:`HealthCheck`). Default: none, which production refuses. With
    ``tls``, an http/grpc check says how it connects (``tls="verify"|"skip-verify"|"plain"``). In
    the mesh a plain http/grpc check goes through an ``expose`` path of the sidecar (a listener
    labelled ``expose-health`` that lets exactly the check's path through); a check that speaks
    TLS to the app uses ``address_mode = "alloc"`` (the app must listen on all its interfaces).
    Nomad refuses tcp checks on a service in the mesh."""
    update: Update | None = None
    """The rollout (:class:`Update`). Default: an auto-promoted canary of 1 in production, a
    rolling update elsewhere (a system job rolls node by node). Manual promotion is refused where
    ``terraform apply`` waits (staging and production), and the ``nomad_job`` waits the progress
    deadline for each step of the rollout (``max_parallel`` allocations at a time, the canaries'
    step), plus 5 minutes."""
    cpu_mhz: int = 500
    """CPU reserved, in MHz. Default: 500. ``GOMAXPROCS`` is derived from it unless ``env`` sets it."""
    memory_mib: int = 256
    """Memory reserved, in MiB. Default: 256. ``GOMEMLIMIT`` is 90% of the ceiling
    (``memory_max_mib`` when set, else this) unless ``env`` sets it."""
    memory_max_mib: int | None = None
    """The memory ceiling above the reservation. Default: none; needs the environment's
    ``NomadSettings(memory_oversubscription=True)``."""
    env: Mapping[str, str] = field(default_factory=dict)
    """Environment variables, each set once across ``env``, secrets and registry auth; a
    ``${...}`` must be a variable Nomad resolves. Default: none."""
    service_name: str | None = None
    """The registered name. Default: ``name``."""
    tags: tuple[str, ...] = ()
    """Registration tags; ``env-<env>`` is added, and canaries carry the tags plus ``canary``.
    Default: none."""
    registration: Literal["consul", "nomad"] = "consul"
    """``consul``: in Consul's mesh (the default); ``nomad``: Nomad's own catalogue, outside the
    mesh (http and tcp checks only, no upstreams, no ingress)."""
    logs: Logs = field(default_factory=Logs)
    """Log rotation (:class:`Logs`). Default: Nomad's (10 files of 10 MiB)."""
    kill_signal: str = "SIGTERM"
    """The signal that stops the task. Default: SIGTERM."""
    kill_timeout_s: float = 30
    """Seconds between the kill signal and SIGKILL. Default: 30; at most the clients'
    ``max_kill_timeout`` and the progress deadline."""
    shutdown_delay_s: float = 5
    """Seconds between deregistration and the kill signal, so callers stop sending. Default: 5."""
    restart: n.RestartPolicy = field(default_factory=n.RestartPolicy)
    """Restarts on the same node before rescheduling. Default: 2 attempts in 30 minutes."""
    spread_across_azs: bool = True
    """Spread the allocations over the availability zones. Default: on (when count > 1)."""
    user: str | None = None
    """The numeric ``uid:gid`` the container runs as (e.g. ``"65532:65532"``, distroless
    nonroot); rendered files are owned by it. Default: the image's user, with files owned by root
    (a non-root image then cannot read its 0400 secrets)."""
    reloads_on: str | None = None
    """The signal the program handles to reload config and certificates, e.g. ``"SIGHUP"``.
    Default: none, so a changed file restarts the task; an option's own ``on_change`` wins."""
    upstreams: tuple[Upstream, ...] = ()
    """The services this one calls through the mesh (``Upstream("ledger", local_port=9091)``: the
    app dials ``127.0.0.1:9091``). Each local port is used once, is not the app's own port and lies
    outside Nomad's dynamic range; each upstream is a Consul-registered service of the
    environment. The environment's intentions (default deny) allow exactly these calls. Default:
    none."""
    ingress: Ingress | None = None
    """How users reach the service from outside (:class:`Ingress`), through the environment's load
    balancer and ingress proxy. The host is the environment's public domain or one label below it;
    plain HTTP is refused outside development. Default: none (reachable in the mesh only)."""
    job_type: Literal["service", "system"] = "service"
    """``service``: ``count`` allocations (the default); ``system``: one allocation on every
    eligible client (no count, no spread, rolled node by node), as the ingress proxy runs."""
    sidecar_cpu_mhz: int = 250
    """CPU the Envoy sidecar reserves per allocation, in MHz. Default: 250 (Nomad's)."""
    sidecar_memory_mib: int = 128
    """Memory the Envoy sidecar reserves per allocation, in MiB. Default: 128 (Nomad's)."""
    options: tuple[Option, ...] = ()
    """More options, each a value with ``contribute(ctx) -> Contribution``
    (:mod:`hashistack.service.context`), such as a host volume (:class:`~hashistack.service.volume.Volume`):
    what each adds is merged with the rest, and a file path, directory, variable, port label or
    upstream claimed twice is refused. Default: none."""
    customize: Callable[[n.Job], n.Job] | None = None
    """The escape hatch: a function given the job the spec built, returning the job to deploy
    (e.g. ``lambda job: dataclasses.replace(job, priority=70)``). It runs before validation, so
    what it writes is checked like the rest: Nomad's rules, templates that read Vault only under
    ``secrets/`` and only what the service's policy grants. It may not change who the job is or
    what it exposes (job id, namespace, type, region, datacenters, group and task names, networks
    and ports, registered services and their upstreams, the Vault role and workload identities):
    those follow from the spec's own props, which the access layer reads too. Default: none."""


def _checked_init(init):
    """ServiceSpec's generated ``__init__``, with a misspelt or missing prop reported like every other
    bad input (where, field, value, fix) instead of as a TypeError. Type checkers still see the
    generated, fully typed signature."""
    known = {f.name: f for f in dataclasses.fields(ServiceSpec)}
    required = [name for name, f in known.items()
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]

    @functools.wraps(init)
    def __init__(self, **props):
        where = props.get("name", "service")
        for prop in sorted(props):
            if prop not in known:
                raise HashistackError(f"{where}: {prop} = {props[prop]!r}: not a GoService prop; use one of "
                                      f"{sorted(set(known) - {'name'})}")
        for prop in required:
            if prop not in props:
                raise HashistackError(f"{where}: {prop} = (missing): every service needs one")
        init(self, **props)
        check_types(self, where if isinstance(where, str) else "service", construct="ServiceSpec")

    return __init__


ServiceSpec.__init__ = _checked_init(ServiceSpec.__init__)  # type: ignore[method-assign]
