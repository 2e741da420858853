"""Config files: the Kubernetes ConfigMap equivalent."""

from __future__ import annotations

import posixpath
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import HashistackError
from ..nomad.vault_calls import vault_calls
from .context import Contribution, File
from .on_change import OnChange

if TYPE_CHECKING:
    from .context import ServiceContext

__all__ = ["ConfigFile"]


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

    def contribute(self, ctx: "ServiceContext") -> Contribution:
        """A file rendered 0644 and mounted by directory; it may not read Vault (a secret in it would
        land in ``local/``, readable, and outside the service's policy)."""
        ctx.check.require(not vault_calls(self.content), f"config_files[{self.name}]", self.mount_at,
                          "a config file is not a secret and must not read Vault: declare the secret with "
                          "VaultSecret.kv(...) (rendered 0400 under secrets/ and granted by the service's policy)")
        return Contribution(files=(File(mount_at=self.mount_at, field=f"config_files[{self.name}].mount_at",
                                        data=self.content, perms="0644", on_change=ctx.on_change(self.on_change),
                                        sensitive=False).check_path(ctx.check),))
