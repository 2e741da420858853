"""One task: the docker driver's config, resources, templates, Vault and workload identities, logs."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Literal, Mapping

from .._validate import RFC1123_HINT, is_rfc1123_label
from ..errors import Checker
from ._base import _check_signal, _dynamic_vault_read, _ENV_KEY, _INTERPOLATION, _is_int, ns, _PERMS, _positive, TASK_DIRS, _USER
from .vault_calls import vault_calls
from .volumes import VolumeMount

__all__ = ["DockerAuth", "DockerConfig", "Identity", "LogConfig", "Mount", "Resources", "Task", "Template", "VaultBlock"]

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
        """The template calls a Vault function (any quoting, tests/unit/nomad/test_vault_calls.py)."""
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
