"""One environment of the platform, validated when built, and the rules across environments."""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from .._types import check_types
from .._validate import is_dns_name, is_rfc1123_label
from .bootstrap import BootstrapSettings
from ..errors import Checker, HashistackError
from ._base import _REGION, _ACCOUNT
from .tiers import Tier
from .network import NetworkSettings
from .products import NomadSettings, ConsulSettings, VaultSettings
from .clients import ClientPool
from .images import ProductPackages, MachineImage
from .state import StateBackend
from .ingress import IngressSettings

__all__ = ["Environment", "check_environments"]


_TAG_CHARACTERS = "AWS allows letters, digits, spaces and _ . : / = + - @ in tags"


def _tag_text(text: str) -> bool:
    """AWS's tag character set (letters, digits and spaces of any script, and ``_.:/=+-@``): a
    newline or control character is refused by every tagging API at apply."""
    return all(ch.isalnum() or ch in "_.:/=+-@" or unicodedata.category(ch) == "Zs" for ch in text)


def _partition(region: str) -> str:
    """The AWS partition of ``region``, the second field of every ARN in it."""
    for prefix, partition in (("cn-", "aws-cn"), ("us-gov-", "aws-us-gov"), ("us-isob-", "aws-iso-b"),
                              ("us-iso-", "aws-iso")):
        if region.startswith(prefix):
            return partition
    return "aws"


@dataclass(frozen=True, kw_only=True)
class Environment:
    """One environment of the platform (dev, uat, prod, ...), validated when built.

    :param name: short RFC 1123 label used in stack names (``<name>``, ``<name>-infra``,
        ``<name>-vault``) and resource names; at most 20 characters.
    :param tier: how strict the platform is (see :class:`Tier`).
    :param region: the AWS region.
    :param account_id: the AWS account the environment lives in; the AWS provider refuses any other.
    :param domain: the environment's DNS domain, e.g. ``prod.example.internal``.
    :param ami_id: a pinned machine image for every node (an image baked from Debian 13).
        Defaults to none: the image is looked up from ``machine_image``.
    :param machine_image: the image filter used when ``ami_id`` is not given. Defaults to
        Debian's official Debian 13 images.
    :param packages: Consul, Nomad and Vault versions and their signed apt repository.
        Defaults to the pinned versions of :class:`ProductPackages`.
    :param tags: tags applied to every AWS resource. ``environment`` is always added.
    :param bootstrap: what ``make bootstrap`` creates (CA, certificate lifetimes, the SSM key,
        Vault's recovery keyholders). Defaults to :class:`BootstrapSettings`' defaults.
    :param ingress: where users' traffic enters (:class:`IngressSettings`: the public domain, its
        certificate, the load balancer). Defaults to none: no service of the environment can
        declare an ``ingress``.
    :param deletion_protection: the load balancers refuse deletion, and ``<env>-infra``'s destroy keeps
        the access-log bucket while it holds logs. Defaults to on, in every tier: a shared
        environment is not lost to one mistaken ``destroy``. To tear an environment down, set it to
        ``False``, deploy ``<env>-infra``, then destroy (the README's "Tearing an environment
        down"). Production refuses ``False``.
    """

    name: str
    tier: Tier
    region: str
    account_id: str
    domain: str
    network: NetworkSettings
    nomad: NomadSettings
    consul: ConsulSettings
    vault: VaultSettings
    clients: ClientPool
    state: StateBackend
    tags: Mapping[str, str] = field(default_factory=dict)
    ami_id: str | None = None
    machine_image: MachineImage = field(default_factory=MachineImage)
    packages: ProductPackages = field(default_factory=ProductPackages)
    bootstrap: BootstrapSettings = field(default_factory=BootstrapSettings)
    ingress: IngressSettings | None = None
    deletion_protection: bool = True

    def __post_init__(self) -> None:
        where = f"environment {self.name!r}".replace("'", '"')
        # Every field, and every field of the settings nested in it, against its annotation first:
        # a wrong type is one line naming its path, never a traceback from a rule below.
        check_types(self, where, construct="Environment")
        check = Checker(where)
        check.require(is_rfc1123_label(self.name) and len(self.name) <= 20, "name", self.name,
                      "use at most 20 lowercase letters, digits and '-', starting and ending with a letter or digit "
                      "(it prefixes stack and resource names)" + (
                          f", e.g. {self.name.lower()!r}" if is_rfc1123_label(str(self.name).lower()) else ""))
        check.require(isinstance(self.tier, Tier), "tier", self.tier,
                      "use Tier.DEVELOPMENT, Tier.STAGING or Tier.PRODUCTION")
        check.require(isinstance(self.region, str) and bool(_REGION.fullmatch(self.region)), "region", self.region,
                      "use an AWS region such as 'eu-west-1'")
        check.require(isinstance(self.account_id, str) and bool(_ACCOUNT.fullmatch(self.account_id)), "account_id",
                      self.account_id, "use the 12-digit AWS account id as a string")
        check.require(is_dns_name(self.domain), "domain", self.domain,
                      "use a lowercase DNS name such as 'prod.example.internal'")
        if self.ami_id is not None:
            check.require(isinstance(self.ami_id, str) and bool(re.fullmatch(r"ami-[0-9a-f]{8,17}", self.ami_id)),
                          "ami_id", self.ami_id, "use an AMI id such as 'ami-0123456789abcdef0', or leave it unset "
                          "to look the image up from machine_image")
        for name in ("network", "nomad", "consul", "vault", "clients", "state", "bootstrap", "machine_image", "packages"):
            getattr(self, name)._validate(check if name == "state" else check.child(name), self.tier)
        if self.ingress is not None:
            self.ingress._validate(check.child("ingress"), self.tier)
            self._check_certificate_home(check)
        check.require(self.deletion_protection or not self.tier.policy.deletion_protection_required, "deletion_protection",
                      self.deletion_protection, "production keeps deletion protection on; move the environment to "
                      "another tier first to tear it down")
        if self.tier.policy.nomad_ca_required and self.nomad.address.startswith("https://"):
            check.require(self.vault.nomad_ca_pem_path is not None, "vault.nomad_ca_pem_path", None,
                          "give the PEM file of the CA behind Nomad's HTTPS certificate: Vault fetches Nomad's JWKS "
                          f"from {self.nomad.address} when <env>-vault is applied and must trust it")
        tags = dict(self.tags)
        for key, value in tags.items():
            check.require(0 < len(key) <= 128 and not key.lower().startswith("aws:") and _tag_text(key),
                          "tags", key, f"tag keys are 1-128 characters and may not start with 'aws:'; {_TAG_CHARACTERS}")
            check.require(len(value) <= 256 and _tag_text(value), f"tags[{key!r}]", value,
                          f"tag values are strings of at most 256 characters; {_TAG_CHARACTERS}")
        tags.setdefault("environment", self.name)
        object.__setattr__(self, "tags", MappingProxyType(dict(sorted(tags.items()))))

    def _check_certificate_home(self, check: Checker) -> None:
        """The ingress certificate lives where the load balancer does: an ALB listener takes an ACM
        certificate of its own account and region only (ACM certificates are regional and are not
        shared across accounts), so any other ARN fails at apply, after the network is built."""
        assert self.ingress is not None
        arn = self.ingress.certificate_arn
        _, partition, _, region, account, _ = arn.split(":", 5)  # the pattern IngressSettings checked
        own_partition = _partition(self.region)
        for part, value, own, fix in (
                ("partition", partition, own_partition, f"the region {self.region} is in the {own_partition!r} partition"),
                ("region", region, self.region, f"request or import the certificate in ACM in {self.region}, the "
                 "environment's region (a load balancer uses certificates of its own region only)"),
                ("account", account, self.account_id, f"use a certificate of account {self.account_id}, the "
                 "environment's (ACM certificates are not shared across accounts)")):
            check.require(value == own, "ingress.certificate_arn", arn,
                          f"the certificate's {part} is {value}, the environment's is {own}: {fix}")

    @property
    def is_production(self) -> bool:
        return self.tier is Tier.PRODUCTION

    @property
    def awaits_deployments(self) -> bool:
        """True where ``terraform apply`` waits for each Nomad deployment and fails with it."""
        return self.tier.policy.awaits_deployments

    @property
    def stack_names(self) -> tuple[str, str, str]:
        """The environment's stacks in bring-up order: infra, vault, services."""
        return (f"{self.name}-infra", f"{self.name}-vault", self.name)


def check_environments(environments: "tuple[Environment, ...]") -> None:
    """Rules across an app's environments, checked once when the app loads them: each name once
    (two environments of one name would share their stacks and state), and each VPC range disjoint
    from every other environment's and from every environment's operator networks (overlapping
    ranges cannot be peered or routed from the operators' network)."""
    seen: dict[str, int] = {}
    for i, env in enumerate(environments):
        if not isinstance(env, Environment):
            raise HashistackError(f"ENVIRONMENTS[{i}] = {env!r}: not an Environment; list Environment(...) objects")
        if env.name in seen:
            raise HashistackError(
                f"ENVIRONMENTS[{i}]: name = {env.name!r}: environment {seen[env.name]} has this name too; "
                "give each environment its own name (it names its stacks, resources and state)")
        seen[env.name] = i
    networks = [(env, ipaddress.ip_network(env.network.vpc_cidr)) for env in environments]
    for i, (env, net) in enumerate(networks):
        for other, other_net in networks[i + 1:]:
            if net.overlaps(other_net):
                raise HashistackError(
                    f'environment "{other.name}": network.vpc_cidr = {other.network.vpc_cidr!r}: overlaps environment '
                    f'"{env.name}"\'s {env.network.vpc_cidr}; give each environment a VPC range of its own')
        for other in environments:
            for cidr in other.network.operator_cidrs:
                if net.overlaps(ipaddress.ip_network(cidr)):
                    raise HashistackError(
                        f'environment "{env.name}": network.vpc_cidr = {env.network.vpc_cidr!r}: overlaps the '
                        f'operators\' network {cidr} (environment "{other.name}"); the operators could not route '
                        "to it: choose a VPC range outside every operator network")
