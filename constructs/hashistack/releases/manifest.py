"""The release manifest of one environment: ``releases/<env>.toml``.

::

    # What runs in prod. Changed by `make promote` and `make rollback`; reviewed like code.
    [ledger]
    version = "0.9.4"
    revision = "3f2c1ab"

A service without an entry deploys the image its module names.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Mapping

from ..errors import HashistackError

__all__ = ["Release", "ReleaseManifest"]

_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
_REVISION = re.compile(r"[0-9a-f]{7,40}")
_SERVICE = re.compile(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?")


@dataclass(frozen=True, kw_only=True)
class Release:
    """One service's release: the image ``version`` (a tag such as ``1.4.2``, or a digest
    ``sha256:<64 hex>``) and, optionally, the ``revision`` (git commit) it was built from."""

    version: str
    revision: str | None = None

    def check(self, where: str) -> "Release":
        if not (isinstance(self.version, str) and (_TAG.fullmatch(self.version) or _DIGEST.fullmatch(self.version))):
            raise HashistackError(f"{where}: version = {self.version!r}: use an image tag (e.g. '1.4.2') or a digest "
                                  "('sha256:' and 64 hex digits)")
        if self.version == "latest":
            raise HashistackError(f"{where}: version = 'latest': a release names one build: use its version tag or "
                                  "digest")
        if self.revision is not None and not (isinstance(self.revision, str) and _REVISION.fullmatch(self.revision)):
            raise HashistackError(f"{where}: revision = {self.revision!r}: use the git commit it was built from "
                                  "(7 to 40 hex digits), or leave it out")
        return self

    def image(self, image: str) -> str:
        """``image`` (the module's, with or without a tag or digest) at this release."""
        name = image.split("@", 1)[0]
        last = name.rsplit("/", 1)[-1]
        if ":" in last:
            name = name[: len(name) - len(last)] + last.split(":", 1)[0]
        return f"{name}@{self.version}" if self.version.startswith("sha256:") else f"{name}:{self.version}"

    @property
    def meta(self) -> dict[str, str]:
        """What the job carries in ``meta`` (``nomad job status`` shows it)."""
        return {"version": self.version, **({"revision": self.revision} if self.revision else {})}


@dataclass(frozen=True)
class ReleaseManifest:
    """One environment's releases, ``{service: Release}``, read from ``path``."""

    environment: str
    releases: Mapping[str, Release] = field(default_factory=dict)
    path: str = ""

    @staticmethod
    def load(path: Path, environment: str) -> "ReleaseManifest":
        """The manifest at ``path``; an absent file is an empty manifest."""
        if not path.is_file():
            return ReleaseManifest(environment, {}, str(path))
        return ReleaseManifest.parse(path.read_text(encoding="utf-8"), environment, str(path))

    @staticmethod
    def parse(text: str, environment: str, shown: str) -> "ReleaseManifest":
        """The manifest in ``text`` (named ``shown`` in messages)."""
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as error:
            raise HashistackError(f"{shown}: {error}: write one [<service>] table per service with version = "
                                  "\"...\"") from None
        releases = {}
        for name, entry in sorted(data.items()):
            where = f"{shown}: [{name}]"
            if not _SERVICE.fullmatch(name):
                raise HashistackError(f"{where}: not a service name: use the service's name (its module's NAME)")
            if not isinstance(entry, dict) or set(entry) - {"version", "revision"} or "version" not in entry:
                raise HashistackError(f"{where} = {entry!r}: give version = \"...\" and, optionally, revision = "
                                      "\"<git commit>\", nothing else")
            releases[name] = Release(version=entry["version"], revision=entry.get("revision")).check(where)
        return ReleaseManifest(environment, MappingProxyType(releases), shown)

    def check_services(self, services: list[str]) -> "ReleaseManifest":
        """Every entry names a service of the environment."""
        for name in self.releases:
            if name not in services:
                raise HashistackError(f"{self.path}: [{name}]: no service of environment {self.environment!r} has "
                                      f"this name; the services: {sorted(services)}")
        return self

    def with_release(self, service: str, release: Release | None) -> "ReleaseManifest":
        releases = dict(self.releases)
        if release is None:
            releases.pop(service, None)
        else:
            releases[service] = release
        return ReleaseManifest(self.environment, MappingProxyType(dict(sorted(releases.items()))), self.path)

    def render(self) -> str:
        """The file's text: a header, then one table per service, sorted."""
        lines = [f"# What runs in {self.environment}: the release of each service. Changed by `make promote` and",
                 "# `make rollback` (scripts/release.py), reviewed and merged like code; a service without an entry",
                 "# deploys the image its module names.", ""]
        for name, release in sorted(self.releases.items()):
            lines += [f"[{name}]", f'version = "{release.version}"']
            if release.revision:
                lines.append(f'revision = "{release.revision}"')
            lines.append("")
        return "\n".join(lines)
