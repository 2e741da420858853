"""What the nodes run: the pinned product packages and the machine image."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlsplit

from ..errors import Checker
from ._base import _ACCOUNT
from .tiers import Tier

__all__ = ["DEBIAN_AMI_OWNER", "HASHICORP_APT_FINGERPRINT", "MachineImage", "ProductPackages"]


HASHICORP_APT_FINGERPRINT = "D55C0D1AC78A8D8126CB631CFC9CA96ACA026560"
"""The primary fingerprint of HashiCorp's Linux package signing key, as published in HashiCorp's
official packaging guide (https://www.hashicorp.com/en/official-packaging-guide). It replaced
798AEC654E5C15428C8E42EEAA16FCBCA621E701 on 2026-09-10. The boot trusts exactly this key from
https://apt.releases.hashicorp.com/gpg (which may hold others), or stops."""


_APT_VERSION = re.compile(r"^[0-9][A-Za-z0-9.+~-]*$")


_FINGERPRINT = re.compile(r"^[0-9A-F]{40}$")


@dataclass(frozen=True, kw_only=True)
class ProductPackages:
    """Where the nodes install Consul, Nomad and Vault from, and which versions.

    The boot adds the apt repository only after the signing key it downloads shows exactly
    ``key_fingerprint``, then installs each product at its pinned apt version (``apt-get install
    consul=<version>``) and holds it, so a node never picks up a release nobody reviewed.

    :param consul_version: Consul's apt package version. Defaults to ``1.21.2-1``.
    :param nomad_version: Nomad's apt package version (1.7 or later: workload identities are
        RS256). Defaults to ``1.10.2-1``.
    :param vault_version: Vault's apt package version. Defaults to ``1.20.0-1``.
    :param repository_url: the apt repository. Defaults to ``https://apt.releases.hashicorp.com``.
    :param key_url: the repository's signing key. Defaults to ``<repository_url>/gpg``.
    :param key_fingerprint: the signing key's full fingerprint (40 hex digits). Defaults to
        HashiCorp's published one.
    """

    consul_version: str = "1.21.2-1"
    nomad_version: str = "1.10.2-1"
    vault_version: str = "1.20.0-1"
    repository_url: str = "https://apt.releases.hashicorp.com"
    key_url: str | None = None
    key_fingerprint: str = HASHICORP_APT_FINGERPRINT

    @property
    def signing_key_url(self) -> str:
        return self.key_url or f"{self.repository_url.rstrip('/')}/gpg"

    def version_of(self, product: str) -> str:
        return {"consul": self.consul_version, "nomad": self.nomad_version, "vault": self.vault_version}[product]

    def _validate(self, check: Checker, tier: Tier) -> None:
        for name in ("consul_version", "nomad_version", "vault_version"):
            value = getattr(self, name)
            check.require(isinstance(value, str) and bool(_APT_VERSION.fullmatch(value)), name, value,
                          "pin an exact apt package version such as '1.21.2-1' (see `apt-cache madison <product>`)")
        nomad_minor = tuple(int(x) for x in re.findall(r"\d+", self.nomad_version)[:2])
        check.require(nomad_minor >= (1, 7), "nomad_version", self.nomad_version,
                      "use Nomad 1.7 or later: Vault trusts Nomad workload identities (RS256), added in 1.7")
        schemes = ("https", "http") if tier.policy.plain_http else ("https",)
        for name, value in (("repository_url", self.repository_url), ("key_url", self.signing_key_url)):
            parts = urlsplit(value) if isinstance(value, str) else None
            check.require(parts is not None and parts.scheme in schemes and bool(parts.hostname)
                          and not parts.query and not parts.fragment, name, value,
                          f"use an {' or '.join(schemes)}:// URL naming a host, e.g. https://apt.releases.hashicorp.com"
                          + ("" if tier.policy.plain_http else f" (a {tier.value} environment fetches over TLS)"))
        check.require(isinstance(self.key_fingerprint, str) and bool(_FINGERPRINT.fullmatch(self.key_fingerprint)),
                      "key_fingerprint", self.key_fingerprint,
                      "give the signing key's full fingerprint: 40 uppercase hex digits, no spaces")


DEBIAN_AMI_OWNER = "136693071363"
"""The AWS account that publishes Debian's official AMIs (https://wiki.debian.org/Cloud/AmazonEC2Image)."""


@dataclass(frozen=True, kw_only=True)
class MachineImage:
    """The nodes' machine image, looked up by Terraform (an ``aws_ami`` data source, most recent
    match) so that the image is the publisher's and never a literal placeholder.

    The boot targets Debian 13 (trixie): it installs with apt, reads ``/etc/os-release`` for the
    release name and uses systemd-resolved and amazon-ec2-utils from Debian's archive.

    :param owners: AWS accounts allowed to own the image. Defaults to Debian's.
    :param name: the image name. Defaults to the filter ``debian-13-amd64-*`` (the newest match),
        which development environments may use; outside development it must name one release
        (``debian-13-amd64-20251117-2299``), so that a new Debian image rolls the node groups
        only when this name is changed on purpose, never on an unrelated deploy.
    :param architecture: Defaults to ``x86_64``.
    """

    owners: tuple[str, ...] = (DEBIAN_AMI_OWNER,)
    name: str = "debian-13-amd64-*"
    architecture: str = "x86_64"

    def _validate(self, check: Checker, tier: Tier) -> None:
        check.require(isinstance(self.owners, tuple) and bool(self.owners)
                      and all(isinstance(o, str) and bool(_ACCOUNT.fullmatch(o)) for o in self.owners),
                      "owners", self.owners, "list the 12-digit AWS accounts that publish the image, e.g. "
                      f"('{DEBIAN_AMI_OWNER}',) for Debian; never 'self' alone or an empty tuple")
        check.require(isinstance(self.name, str) and bool(self.name.strip()) and self.name != "*", "name",
                      self.name, "filter on an image name such as 'debian-13-amd64-*'")
        check.require(self.architecture in ("x86_64", "arm64"), "architecture", self.architecture,
                      "use 'x86_64' or 'arm64'")
        if tier.policy.pinned_machine_image and isinstance(self.name, str):
            check.require(not any(c in self.name for c in "*?"), "name", self.name,
                          f"pin one image release in a {tier.value} environment, e.g. 'debian-13-amd64-20251117-2299' "
                          "(a wildcard takes the newest match at every plan and rolls every node group on an "
                          "unrelated deploy); change the name to roll the nodes on purpose, or set ami_id")
