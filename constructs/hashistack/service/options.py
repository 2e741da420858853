"""The small option classes of :class:`~hashistack.service.GoService`, each with factories.

Plain Python: they hold intent; :mod:`hashistack.service.plan` turns them into the Nomad job
model and the service's Vault access.
"""

from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from ..errors import HashistackError

__all__ = [
    "ConfigFile",
    "HealthCheck",
    "Ingress",
    "Logs",
    "OnChange",
    "RegistryAuth",
    "Tls",
    "Update",
    "VaultSecret",
]

_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")
_KV_PATH = re.compile(r"^[a-z0-9][a-z0-9_.-]*(/[a-z0-9][a-z0-9_.-]*)*$")


@dataclass(frozen=True)
class OnChange:
    """What happens when a rendered file changes while the task runs (it is always rendered
    before the task starts): ``OnChange.restart()``, ``OnChange.signal("SIGHUP")`` or
    ``OnChange.noop()``."""

    mode: Literal["restart", "signal", "noop"]
    change_signal: str | None = None

    @staticmethod
    def restart() -> "OnChange":
        return OnChange("restart")

    @staticmethod
    def signal(signal: str = "SIGHUP") -> "OnChange":
        return OnChange("signal", signal)

    @staticmethod
    def noop() -> "OnChange":
        return OnChange("noop")


@dataclass(frozen=True, kw_only=True)
class ConfigFile:
    """A configuration file given to the app at ``mount_at``: the Kubernetes ConfigMap
    equivalent. It renders into the task's ``local/`` directory (consul-template syntax such as
    ``{{ env "NOMAD_ALLOC_ID" }}`` works) and is bind-mounted read-only at ``mount_at``, so the
    Go application reads the same path it read on Kubernetes.

    The directory of ``mount_at`` is mounted, not the file: consul-template replaces a file by
    renaming a new one over it, and a single-file bind mount keeps showing the old inode, so a
    re-rendered file would never reach the app. Every file the service mounts into one directory
    is rendered into one task directory; the image's own files in that directory are hidden.

    Build with :meth:`inline` or :meth:`from_path`. ``on_change`` defaults to the service's
    ``reloads_on`` (a restart unless the service declares it reloads on a signal).
    """

    name: str
    content: str
    mount_at: str
    on_change: OnChange | None = None

    @staticmethod
    def inline(content: str, *, mount_at: str, on_change: OnChange | None = None,
               name: str | None = None) -> "ConfigFile":
        return ConfigFile(name=name or posixpath.basename(mount_at) or mount_at, content=content, mount_at=mount_at,
                          on_change=on_change)

    @staticmethod
    def from_path(path: str | Path, *, mount_at: str, on_change: OnChange | None = None) -> "ConfigFile":
        """Reads the file at synth time (relative paths from the working directory, the project
        root under ``cdktf synth``)."""
        file = Path(path)
        if not file.is_file():
            raise HashistackError(
                f"ConfigFile.from_path: path = {str(path)!r}: no such file (from {Path.cwd()}); "
                "give a path relative to the project root or an absolute one")
        return ConfigFile(name=file.name, content=file.read_text(encoding="utf-8"), mount_at=mount_at,
                          on_change=on_change)


@dataclass(frozen=True, kw_only=True)
class VaultSecret:
    """A secret from the environment's KV v2 mount, read at ``<kv_mount>/data/<env>/<path>``:
    the Kubernetes Secret equivalent.

    - :meth:`kv` renders the secret (JSON of all keys, or your own ``template`` inside
      ``{{ with secret ... }}``, which reads the secret's keys and may not call Vault itself) to a
      file under ``secrets/`` with perms 0400 (owned by the
      service's ``user``) and mounts its directory read-only at the directory of ``mount_at``;
    - :meth:`kv_env` exposes chosen keys as environment variables
      (``{"DB_PASSWORD": "password"}``; keys may contain ``-`` and ``.``).

    ``path`` is relative to the environment's part of the KV mount: ``my-app/config``, never
    ``secret/data/...`` or ``<env>/...`` (refused, since they would be added twice).
    ``on_change`` defaults to the service's ``reloads_on`` for files and to a restart for
    environment variables (a process reads its environment once).
    """

    path: str
    mount_at: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    template: str | None = None
    on_change: OnChange | None = None

    @staticmethod
    def kv(path: str, *, mount_at: str, template: str | None = None,
           on_change: OnChange | None = None) -> "VaultSecret":
        return VaultSecret(path=path, mount_at=mount_at, template=template, on_change=on_change)

    @staticmethod
    def kv_env(path: str, *, env: dict[str, str], on_change: OnChange | None = None) -> "VaultSecret":
        return VaultSecret(path=path, env=tuple(sorted(env.items())), on_change=on_change)

    def _validate(self, where: str, *, kv_mount: str = "secret", env_names: tuple[str, ...] = ()) -> None:
        if not isinstance(self.path, str) or not _KV_PATH.fullmatch(self.path):
            raise HashistackError(
                f"{where}: secrets.path = {self.path!r}: use a path inside the KV mount such as 'my-app/config', "
                "without the mount, 'data/' or the environment (they are added for you)")
        check_kv_path(where, "secrets.path", self.path, kv_mount=kv_mount, env_names=env_names)
        if self.mount_at is None and not self.env:
            raise HashistackError(f"{where}: secrets[{self.path}] = no mount_at and no env: "
                                  "use VaultSecret.kv(path, mount_at=...) or VaultSecret.kv_env(path, env={...})")
        for var, key in self.env:
            if not _ENV_KEY.fullmatch(var) or not _SECRET_KEY.fullmatch(key):
                raise HashistackError(
                    f"{where}: secrets[{self.path}].env = {var!r}: {key!r}: variable names are letters, digits and "
                    "'_', not starting with a digit; secret keys are letters, digits, '_', '-' and '.'")


def check_kv_path(where: str, field: str, path: str, *, kv_mount: str, env_names: tuple[str, ...]) -> None:
    """Refuses a KV path that already carries the mount, ``data/``/``metadata/`` or an
    environment's name: the path is placed under ``<kv_mount>/data/<env>/`` for you, and such a
    path would be doubled (``secret/data/prod/secret/data/...``) and granted doubled."""
    first = path.split("/", 1)[0]
    reserved = {kv_mount.split("/")[0], "data", "metadata", *env_names}
    if first in reserved:
        rest = path
        for prefix in (f"{kv_mount}/", "data/", "metadata/"):
            if rest.startswith(prefix):
                rest = rest[len(prefix):]
        for env_name in env_names:
            if rest.startswith(f"{env_name}/"):
                rest = rest[len(env_name) + 1:]
        raise HashistackError(
            f"{where}: {field} = {path!r}: the path starts with {first!r}, but the KV mount, 'data/' and the "
            f"environment are added for you (the secret is read at {kv_mount}/data/<env>/<path>); "
            f"write {rest!r}")


@dataclass(frozen=True, kw_only=True)
class Tls:
    """A certificate from the environment's Vault PKI intermediate, issued by one ``pkiCert``
    call so cert, key and CA always match, rendered to one PEM bundle (key, certificate, CA)
    under ``secrets/`` and mounted at ``mount_dir/<bundle_name>``. Go reads it with
    ``tls.LoadX509KeyPair(p, p)``: the same file for both arguments.

    :param common_name: defaults to ``<service>.service.consul``.
    :param alt_names: more DNS names; the service's PKI role allows exactly these names. Names
        derive from the service's identity: ``<service>.service.consul``,
        ``<service>.service.<datacenter>.consul`` and ``<service>.<environment domain>``; any
        other name (another service's, another domain) is refused with the allowed list.
    :param ttl_h: certificate lifetime; Vault re-issues before expiry. Defaults to 72 hours.
    :param on_change: defaults to the service's ``reloads_on``: a restart, unless the service
        declares it reloads on a signal (Go exits on SIGHUP without a handler).
    """

    common_name: str | None = None
    alt_names: tuple[str, ...] = ()
    ttl_h: int = 72
    mount_dir: str = "/app/tls"
    bundle_name: str = "bundle.pem"
    on_change: OnChange | None = None


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


@dataclass(frozen=True, kw_only=True)
class Update:
    """The rollout strategy. Every strategy auto-reverts to the last healthy version.

    - :meth:`rolling`: replace ``max_parallel`` allocations at a time;
    - :meth:`canary`: start ``canaries`` new allocations beside the old ones, promote
      automatically once healthy (``auto_promote=True``, the default) or by hand
      (``auto_promote=False``: ``nomad deployment promote``; refused where ``terraform apply``
      waits for deployments, since the deployment never ends while it waits);
    - :meth:`blue_green`: start a full new set beside the old one (canaries = count).
    """

    kind: Literal["rolling", "canary", "blue_green"]
    max_parallel: int = 1
    canaries: int = 0
    auto_promote: bool = False
    min_healthy_time_s: float = 10
    healthy_deadline_s: float = 300
    progress_deadline_s: float = 600

    @staticmethod
    def rolling(max_parallel: int = 1, *, min_healthy_time_s: float = 10, healthy_deadline_s: float = 300,
                progress_deadline_s: float = 600) -> "Update":
        return Update(kind="rolling", max_parallel=max_parallel, min_healthy_time_s=min_healthy_time_s,
                      healthy_deadline_s=healthy_deadline_s, progress_deadline_s=progress_deadline_s)

    @staticmethod
    def canary(canaries: int = 1, *, auto_promote: bool = True, max_parallel: int | None = None,
               min_healthy_time_s: float = 10, healthy_deadline_s: float = 300,
               progress_deadline_s: float = 600) -> "Update":
        return Update(kind="canary", canaries=canaries, auto_promote=auto_promote,
                      max_parallel=max_parallel if max_parallel is not None else canaries,
                      min_healthy_time_s=min_healthy_time_s, healthy_deadline_s=healthy_deadline_s,
                      progress_deadline_s=progress_deadline_s)

    @staticmethod
    def blue_green(*, auto_promote: bool = True, min_healthy_time_s: float = 10,
                   healthy_deadline_s: float = 300, progress_deadline_s: float = 600) -> "Update":
        return Update(kind="blue_green", auto_promote=auto_promote, min_healthy_time_s=min_healthy_time_s,
                      healthy_deadline_s=healthy_deadline_s, progress_deadline_s=progress_deadline_s)


@dataclass(frozen=True, kw_only=True)
class Logs:
    """Rotation of the task's stdout/stderr logs. Defaults to 10 files of 10 MiB."""

    max_files: int = 10
    max_file_size_mib: int = 10


@dataclass(frozen=True, kw_only=True)
class RegistryAuth:
    """Private-registry credentials read from Vault KV (``username`` and ``password`` keys by
    default) into environment variables that the docker driver's ``auth`` block interpolates.
    No password ever appears in code, the job or Terraform state."""

    path: str
    username_key: str = "username"
    password_key: str = "password"

    @staticmethod
    def from_vault(path: str, *, username_key: str = "username", password_key: str = "password") -> "RegistryAuth":
        return RegistryAuth(path=path, username_key=username_key, password_key=password_key)


@dataclass(frozen=True, kw_only=True)
class Ingress:
    """How users outside the cluster reach the service: the Kubernetes Ingress equivalent.

    The environment's load balancer (:class:`~hashistack.IngressSettings`) terminates TLS for its
    public domain and hands requests to the ingress proxy on the Nomad clients, which routes
    ``host`` + ``path`` (a path prefix) to the service's healthy allocations, found in the
    service catalogue.

    The proxy holds no Consul or Nomad token: it reaches the service through its own Connect
    sidecar, whose upstream is the service, and the intention ``ingress-proxy -> <service>``
    allows exactly the services that declare an ingress. A service that serves TLS itself is
    called over HTTPS inside that tunnel and its certificate verified against the Vault PKI CA,
    by the ingress host when the certificate carries it (``Tls(alt_names=(host,))``), else by
    its common name.

    Build with :meth:`https` (users connect over HTTPS) or :meth:`http` (plain HTTP, refused
    outside development).

    :param host: the environment's ``ingress.public_domain`` or one label below it (the load
        balancer's certificate is for ``*.<public_domain>``), e.g. ``payments.example.com``.
    :param path: the path prefix routed to the service; starts with ``/``. Defaults to ``/``.
    :param tls: users connect over HTTPS (``True``, :meth:`https`) or plain HTTP (:meth:`http`).
    :param local_port: the loopback port, inside the ingress proxy's allocation, where its sidecar
        listens for this service. Default: one derived from the service's Consul name (10000-18999),
        so another service never moves it; pin one only when two names derive the same port (the
        synth says so and names a free one).
    """

    host: str
    path: str = "/"
    tls: bool = True
    local_port: int | None = None

    @staticmethod
    def https(host: str, *, path: str = "/", local_port: int | None = None) -> "Ingress":
        return Ingress(host=host, path=path, tls=True, local_port=local_port)

    @staticmethod
    def http(host: str, *, path: str = "/", local_port: int | None = None) -> "Ingress":
        return Ingress(host=host, path=path, tls=False, local_port=local_port)
