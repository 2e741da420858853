"""Private-registry credentials, from Vault into the docker driver's ``auth`` block."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from .. import nomad as n
from ..vault.policy import Rule
from ._render import kv_key, quote
from .context import Contribution
from .secrets import check_kv_path

if TYPE_CHECKING:
    from .context import ServiceContext

__all__ = ["RegistryAuth"]


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

    def contribute(self, ctx: "ServiceContext") -> Contribution:
        """An environment file (never restarting the task: the image is already pulled) and the
        docker ``auth`` block that reads it."""
        check_kv_path(ctx.check.where, "registry_auth.path", self.path, kv_mount=ctx.env.vault.kv_mount,
                      env_names=(ctx.env.name,))
        path = ctx.kv_path(self.path)
        template = n.Template(
            destination="secrets/registry.env", perms="0400", sensitive=True, env=True, change_mode="noop",
            data=(f"{{{{ with secret {quote(path)} }}}}\n"
                  f"REGISTRY_USERNAME={{{{ {kv_key(self.username_key)} | toJSON }}}}\n"
                  f"REGISTRY_PASSWORD={{{{ {kv_key(self.password_key)} | toJSON }}}}\n{{{{ end }}}}\n"))
        return Contribution(
            templates=(template,), env=(("REGISTRY_USERNAME", "registry_auth"), ("REGISTRY_PASSWORD", "registry_auth")),
            grants=(Rule(path=path, capabilities=("read",), comment="private registry credentials"),),
            auth=n.DockerAuth(username="${REGISTRY_USERNAME}", password="${REGISTRY_PASSWORD}"))
