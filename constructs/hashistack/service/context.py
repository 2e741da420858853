"""What an option sees of its service (:class:`ServiceContext`), what it adds to the job
(:class:`Contribution`), and the one merge that folds the contributions and refuses a collision.

Every option (a config file, a secret, the certificate, the health check, the rollout, the mesh's
upstreams, any value in ``ServiceSpec.options``) has ``contribute(ctx) -> Contribution``: it
checks what needs the service (``ctx``) and says what it adds. It reads the spec and the
environment, never another option's contribution, so the order of the options decides only which
of two errors is reported first. :func:`merge` is the one place where contributions meet: a
file path, container directory, environment variable, port label, upstream or upstream local
port claimed twice is refused there, naming both claimants.
"""

from __future__ import annotations

import dataclasses
import posixpath
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Mapping, Protocol, runtime_checkable

from .. import nomad as n
from .._validate import is_container_path
from ..environment import Environment
from ..errors import Checker, HashistackError
from ..vault.pki import PkiRole
from ..vault.policy import Rule
from .on_change import OnChange

if TYPE_CHECKING:
    from .spec import ServiceSpec

__all__ = ["Assembly", "Contribution", "File", "Option", "ServiceContext", "merge"]


@dataclass(frozen=True, kw_only=True)
class ServiceContext:
    """One service in one environment, as its options see it while they contribute.

    :param spec: the service's props.
    :param env: the environment it is planned for.
    :param check: words the messages (``<env>/<service>: field = value: fix``).
    :param service_name: the name it registers under (``service_name`` or ``name``).
    :param ids: the container user's ``(uid, gid)``, or ``None`` for the image's user.
    :param mesh: registered in Consul, so in the service mesh behind a sidecar.
    :param count: its allocations (1 for a system job).
    """

    spec: "ServiceSpec"
    env: Environment
    check: Checker
    service_name: str
    ids: tuple[int, int] | None
    mesh: bool
    count: int

    @property
    def system(self) -> bool:
        return self.spec.job_type == "system"

    def on_change(self, explicit: OnChange | None) -> OnChange:
        """The explicit choice, else the service's ``reloads_on`` signal, else a restart."""
        if explicit is not None:
            return explicit
        return OnChange.signal(self.spec.reloads_on) if self.spec.reloads_on else OnChange.restart()

    def owner(self) -> dict:
        """A rendered file's owner: the container user, when the service names one."""
        return {"uid": self.ids[0], "gid": self.ids[1]} if self.ids else {}

    def kv_path(self, path: str) -> str:
        """The KV v2 read path of a secret ``path``: ``<kv_mount>/data/<env>/<path>``."""
        return f"{self.env.vault.kv_mount}/data/{self.env.name}/{path}"

    @property
    def common_name(self) -> str | None:
        """The certificate's common name when the service has ``tls``."""
        tls = self.spec.tls
        return None if tls is None else tls.common_name or f"{self.service_name}.service.consul"

    @property
    def cert_names(self) -> tuple[str, ...]:
        """Every name on the service's certificate (common name first); none without ``tls``."""
        tls = self.spec.tls
        return () if tls is None or self.common_name is None else (self.common_name, *tls.alt_names)

    @property
    def ingress_host(self) -> str | None:
        return self.spec.ingress.host if self.spec.ingress is not None else None


@dataclass(frozen=True, kw_only=True)
class File:
    """A file rendered for the task and bind-mounted, by its directory, at ``mount_at``.

    consul-template replaces a file by renaming a new one over it, so a single-file bind mount
    would keep showing the old inode: every file of one container directory is rendered into one
    task directory (under ``secrets/`` when any of them is sensitive, else ``local/``), mounted
    whole and read-only."""

    mount_at: str
    field: str
    data: str
    perms: str
    on_change: OnChange
    sensitive: bool

    def check_path(self, check: Checker) -> "File":
        check.require(is_container_path(self.mount_at) and ".." not in self.mount_at.split("/")
                      and posixpath.dirname(self.mount_at) not in ("/", "") and not self.mount_at.endswith("/"),
                      self.field, self.mount_at,
                      "use the absolute container path the app reads, in a directory of its own, "
                      "e.g. '/app/config/app.conf' (its directory is mounted)")
        return self


@dataclass(frozen=True, kw_only=True)
class Contribution:
    """What one option adds to its service's job and Vault access. Each entry that can collide
    carries the field that claimed it, for the message.

    :param files: files mounted by directory (config files, secret files).
    :param templates: templates of their own (environment files, the certificate bundle).
    :param mounts: ``(field, mount)``: bind mounts of task directories into the container.
    :param env: ``(variable, field)``: every variable the option sets, through its templates or
        ``task_env``.
    :param task_env: variables with literal values, in the task's ``env``; each is claimed in
        ``env`` too.
    :param env_defaults: literal values a variable takes unless an option claims it (``GOMAXPROCS``).
    :param grants: Vault policy rules its templates need.
    :param ports: ``(field, port)``: the group network's port labels.
    :param checks: the service's checks.
    :param expose: the sidecar's expose paths (for checks in the mesh).
    :param upstreams: ``(field, upstream)``: the sidecar's upstreams.
    :param auth: the docker driver's registry credentials.
    :param pki_role: the Vault PKI role the service's certificate is issued by.
    :param update: the group's rollout.
    :param volumes: ``(field, volume)``: host volumes the group requests.
    :param volume_mounts: ``(field, mount)``: the group's volumes mounted into the task.
    """

    files: tuple[File, ...] = ()
    templates: tuple[n.Template, ...] = ()
    mounts: tuple[tuple[str, n.Mount], ...] = ()
    env: tuple[tuple[str, str], ...] = ()
    task_env: Mapping[str, str] = field(default_factory=dict)
    env_defaults: Mapping[str, str] = field(default_factory=dict)
    grants: tuple[Rule, ...] = ()
    ports: tuple[tuple[str, n.Port], ...] = ()
    checks: tuple[n.Check, ...] = ()
    expose: tuple[n.ExposePath, ...] = ()
    upstreams: tuple[tuple[str, n.ConsulUpstream], ...] = ()
    auth: n.DockerAuth | None = None
    pki_role: PkiRole | None = None
    update: n.UpdateStrategy | None = None
    volumes: tuple[tuple[str, n.HostVolume], ...] = ()
    volume_mounts: tuple[tuple[str, n.VolumeMount], ...] = ()


@runtime_checkable
class Option(Protocol):
    """What every option is: a frozen value that, given its service, says what it adds. A new
    kind of option is one module with such a class; a user passes it in ``ServiceSpec.options``."""

    def contribute(self, ctx: ServiceContext) -> Contribution:
        ...


@dataclass(frozen=True, kw_only=True)
class Assembly:
    """The contributions folded: what :func:`~hashistack.service.plan.plan_service` builds the job from."""

    templates: tuple[n.Template, ...]
    mounts: tuple[n.Mount, ...]
    env_sources: Mapping[str, str]
    task_env: Mapping[str, str]
    rules: tuple[Rule, ...]
    ports: tuple[n.Port, ...]
    checks: tuple[n.Check, ...]
    expose: tuple[n.ExposePath, ...]
    upstreams: tuple[n.ConsulUpstream, ...]
    auth: n.DockerAuth | None
    pki_role: PkiRole | None
    update: n.UpdateStrategy | None
    volumes: tuple[n.HostVolume, ...]
    volume_mounts: tuple[n.VolumeMount, ...]


def merge(contributions: Iterable[tuple[str, Contribution]], ctx: ServiceContext) -> Assembly:
    """Folds the contributions (each with the prop it came from: ``tls``, ``options[0]``) in
    order, refusing anything claimed twice.

    The task's templates come in a fixed order: environment files (``env = true``) as
    contributed, then the mounted files by container directory, then the other templates as
    contributed; the mounts likewise, the file directories first."""
    check = ctx.check
    files: dict[str, dict[str, File]] = {}
    env_sources: dict[str, str] = {}
    task_env: dict[str, str] = {}
    rules: dict[str, Rule] = {}
    ports: dict[str, tuple[str, n.Port]] = {}
    upstreams: dict[str, tuple[str, n.ConsulUpstream]] = {}
    local_ports: dict[int, str] = {}
    templates: list[n.Template] = []
    mounts: list[tuple[str, n.Mount]] = []
    checks: list[n.Check] = []
    expose: list[n.ExposePath] = []
    single: dict[str, tuple[str, object]] = {}
    destinations: dict[str, str] = {}
    defaults: dict[str, str] = {}
    volumes: dict[str, tuple[str, n.HostVolume]] = {}
    volume_mounts: list[tuple[str, n.VolumeMount]] = []
    for origin, c in contributions:
        for f in c.files:
            directory, name = posixpath.split(f.mount_at)
            entries = files.setdefault(directory, {})
            check.require(name not in entries, f.field, f.mount_at,
                          "another file is already mounted at this path: give each file its own path")
            entries[name] = f
        for var, source in c.env:
            if var in env_sources:
                check.fail("env", var, f"set twice: by {env_sources[var]} and by {source}; set each variable once")
            env_sources[var] = source
        claimed = {var for var, _ in c.env}
        for var in c.task_env:
            if var not in claimed:
                raise HashistackError(f"{check.where}: env = {var!r}: an option sets it without claiming it "
                                      "(Contribution.env); claim each variable an option sets")
        task_env.update(c.task_env)
        defaults.update(c.env_defaults)
        for rule in c.grants:
            # one rule per path, with every capability any option needs on it
            if rule.path in rules:
                earlier = rules[rule.path]
                rule = dataclasses.replace(earlier, capabilities=tuple(dict.fromkeys(
                    (*earlier.capabilities, *rule.capabilities))))
            rules[rule.path] = rule
        for source, port in c.ports:
            check.require(port.label not in ports, source, port.label,
                          f"already the label of {ports[port.label][0] if port.label in ports else ''}'s port: give "
                          "each port its own label")
            ports[port.label] = (source, port)
        for source, up in c.upstreams:
            check.require(up.destination_name not in upstreams, f"{source}.service", up.destination_name,
                          "declare each upstream once")
            # nomad/job_endpoint_hook_connect.go, groupConnectUpstreamsValidate: one listener per address.
            check.require(up.local_bind_port not in local_ports, f"{source}.local_port", up.local_bind_port,
                          f"already the local port of upstream {local_ports.get(up.local_bind_port)!r}; give each "
                          "its own")
            upstreams[up.destination_name] = (source, up)
            local_ports[up.local_bind_port] = up.destination_name
        for source, volume in c.volumes:
            if volume.name in volumes:
                # one request per host volume, however often it is mounted: read-write if any mount is
                first_source, requested = volumes[volume.name]
                check.require(volume.source == requested.source, source, volume.name,
                              f"already the name of {first_source}'s volume (host volume {requested.source!r}): give "
                              "each volume its own name")
                volume = dataclasses.replace(requested, read_only=requested.read_only and volume.read_only)
                source = first_source
            volumes[volume.name] = (source, volume)
        volume_mounts += c.volume_mounts
        for t in c.templates:
            check.require(t.destination not in destinations, origin, t.destination,
                          f"{destinations.get(t.destination)} renders this file too: give each its own name")
            destinations[t.destination] = origin
        templates += c.templates
        mounts += c.mounts
        checks += c.checks
        expose += c.expose
        for name in ("auth", "pki_role", "update"):
            value = getattr(c, name)
            if value is not None:
                check.require(name not in single, name, type(value).__name__,
                              f"contributed twice, first by {single[name][0] if name in single else ''}: the "
                              f"service has one {name}, which one option provides")
                single[name] = (origin, value)

    file_templates: list[n.Template] = []
    file_mounts: list[tuple[str, n.Mount]] = []
    slugs: dict[str, str] = {}
    for directory in sorted(files):
        entries = files[directory]
        slug = directory.strip("/").replace("/", "-").replace("_", "-") or "root"
        first_field = next(iter(entries.values())).field
        # two container directories rendered into one task directory would each show both's files
        check.require(slug not in slugs, first_field, directory,
                      f"renders into the task directory of {slugs.get(slug)} (mnt/{slug}): name the directories "
                      "apart by more than '/', '_' and '-'")
        slugs[slug] = directory
        base = "secrets" if any(f.sensitive for f in entries.values()) else "local"
        source = f"{base}/mnt/{slug}"
        for name, f in entries.items():
            file_templates.append(n.Template(destination=f"{source}/{name}", sensitive=f.sensitive, **ctx.owner(),
                                             data=f.data, perms=f.perms, **f.on_change.template_fields()))
        file_mounts.append((next(iter(entries.values())).field, n.Mount(source=source, target=directory)))
    targets: dict[str, str] = {}
    for source, target in (*((s, m.target) for s, m in (*file_mounts, *mounts)),
                           *((s, m.destination) for s, m in volume_mounts)):
        check.require(target not in targets, source, target,
                      f"{targets.get(target)} mounts this container directory too: give each its own directory")
        targets[target] = source
    env_files = [t for t in templates if t.env]
    task_env = {**{k: v for k, v in defaults.items() if k not in env_sources}, **task_env}
    return Assembly(
        templates=(*env_files, *file_templates, *(t for t in templates if not t.env)),
        mounts=tuple(m for _, m in (*file_mounts, *mounts)),
        env_sources=env_sources, task_env=task_env, rules=tuple(rules.values()),
        ports=tuple(p for _, p in ports.values()), checks=tuple(checks), expose=tuple(expose),
        upstreams=tuple(u for _, u in upstreams.values()),
        auth=single["auth"][1] if "auth" in single else None,  # type: ignore[arg-type]
        pki_role=single["pki_role"][1] if "pki_role" in single else None,  # type: ignore[arg-type]
        update=single["update"][1] if "update" in single else None,  # type: ignore[arg-type]
        volumes=tuple(v for _, v in volumes.values()), volume_mounts=tuple(m for _, m in volume_mounts),
    )
