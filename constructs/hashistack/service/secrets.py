"""Secrets from Vault's KV store: the Kubernetes Secret equivalent."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import nomad as n
from ..errors import HashistackError
from ..nomad.vault_calls import vault_calls
from ..vault.policy import Rule
from ._render import excerpt, kv_key, quote
from .context import Contribution, File
from .on_change import OnChange

if TYPE_CHECKING:
    from .context import ServiceContext

__all__ = ["VaultSecret", "check_kv_path"]

_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_KEY = re.compile(r"^[A-Za-z0-9_.-]+$")
_KV_PATH = re.compile(r"^[a-z0-9][a-z0-9_.-]*(/[a-z0-9][a-z0-9_.-]*)*$")


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

    def contribute(self, ctx: "ServiceContext") -> Contribution:
        """A 0400 file under ``secrets/``, mounted by directory, and/or an environment file, each
        reading the one path the service's policy grants (``read``)."""
        self._validate(ctx.check.where, kv_mount=ctx.env.vault.kv_mount, env_names=(ctx.env.name,))
        path = ctx.kv_path(self.path)
        files: tuple[File, ...] = ()
        templates: tuple[n.Template, ...] = ()
        if self.template is not None:
            calls = vault_calls(self.template)
            ctx.check.require(not calls, f"secrets[{self.path}].template", excerpt(self.template),
                              f"the template renders inside {{{{ with secret {quote(path)} }}}}, written for you, and "
                              f"reads that secret's keys (.Data.data.<key>); it may not call Vault itself "
                              f"({calls[0].function if calls else ''}): declare each other secret as a VaultSecret of "
                              "its own, a certificate with Tls(...)")
        if self.mount_at is not None:
            body = self.template if self.template is not None else "{{ .Data.data | toJSON }}"
            files = (File(mount_at=self.mount_at, field=f"secrets[{self.path}].mount_at",
                          data=f"{{{{ with secret {quote(path)} }}}}{body}{{{{ end }}}}\n", perms="0400",
                          on_change=ctx.on_change(self.on_change), sensitive=True).check_path(ctx.check),)
        if self.env:
            lines = "".join(f"{var}={{{{ {kv_key(key)} | toJSON }}}}\n" for var, key in self.env)
            templates = (n.Template(
                destination=f"secrets/{self.path.replace('/', '-')}.env", perms="0400", sensitive=True, env=True,
                data=f"{{{{ with secret {quote(path)} }}}}\n{lines}{{{{ end }}}}\n",
                **(self.on_change or OnChange.restart()).template_fields()),)
        return Contribution(files=files, templates=templates,
                            env=tuple((var, f"secrets[{self.path}].env") for var, _ in self.env),
                            grants=(Rule(path=path, capabilities=("read",), comment=f"secret {self.path}"),))


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
