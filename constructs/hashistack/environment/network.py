"""The environment's VPC."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from .._validate import is_world, parse_network
from ..errors import Checker
from .tiers import Tier

__all__ = ["NetworkSettings"]


@dataclass(frozen=True, kw_only=True)
class NetworkSettings:
    """The environment's VPC.

    :param vpc_cidr: the VPC's private IPv4 range, /16 to /22.
    :param az_count: availability zones to spread over (1-6; production needs at least 3).
    :param operator_cidrs: where operators and CI reach the APIs from, through the internal load
        balancers only. Defaults to none: the APIs are reachable only from inside the VPC.
    :param aws_endpoints: VPC endpoints for the AWS APIs the nodes call (SSM, KMS, EC2, Auto
        Scaling, Session Manager; S3 as a gateway), so those calls never leave the VPC. Defaults
        to on outside development, off in development (interface endpoints cost per hour and
        zone).
    """

    vpc_cidr: str
    az_count: int
    operator_cidrs: tuple[str, ...] = ()
    availability_zones: tuple[str, ...] = ()
    private_subnet_cidrs: tuple[str, ...] = ()
    public_subnet_cidrs: tuple[str, ...] = ()
    aws_endpoints: bool | None = None

    def endpoints_enabled(self, tier: "Tier") -> bool:
        return tier.policy.aws_endpoints if self.aws_endpoints is None else self.aws_endpoints

    def zones(self, region: str) -> tuple[str, ...]:
        """The AZ names: as given, or ``<region>a``, ``<region>b``, ... for ``az_count`` zones."""
        return self.availability_zones or tuple(f"{region}{chr(ord('a') + i)}" for i in range(self.az_count))

    def subnet_plan(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(private, public) subnet CIDRs, one per AZ: as given, or carved from the VPC range
        (private from its first half, public from its second, each 1/16 of the VPC)."""
        if self.private_subnet_cidrs and self.public_subnet_cidrs:
            return self.private_subnet_cidrs, self.public_subnet_cidrs
        net = ipaddress.ip_network(self.vpc_cidr)
        blocks = list(net.subnets(new_prefix=net.prefixlen + 4))
        private = tuple(str(b) for b in blocks[: self.az_count])
        public = tuple(str(b) for b in blocks[8: 8 + self.az_count])
        return (self.private_subnet_cidrs or private, self.public_subnet_cidrs or public)

    def _validate(self, check: Checker, tier: Tier) -> None:
        net = parse_network(self.vpc_cidr)
        check.require(
            net is not None and net.version == 4 and net.is_private and 16 <= net.prefixlen <= 22,
            "vpc_cidr", self.vpc_cidr,
            "use a private IPv4 CIDR (10.0.0.0/8, 172.16.0.0/12 or 192.168.0.0/16) from /16 to /22, "
            "with no host bits set, e.g. '10.20.0.0/16'",
        )
        min_azs = tier.policy.min_azs
        check.require(
            isinstance(self.az_count, int) and not isinstance(self.az_count, bool)
            and min_azs <= self.az_count <= 6,
            "az_count", self.az_count,
            f"use {min_azs} to 6 availability zones"
            + (f" (a {tier.value} environment spans at least {min_azs})" if min_azs > 1 else ""),
        )
        for cidr in self.operator_cidrs:
            net = parse_network(cidr)
            if net is None:
                check.fail("operator_cidrs", cidr, "use a valid CIDR with no host bits set, e.g. '10.100.0.0/24'")
            check.require(not is_world(net), "operator_cidrs", cidr,
                          "the cluster APIs are never open to the world; list your VPN or CI ranges")
        check.require(len(set(self.operator_cidrs)) == len(self.operator_cidrs), "operator_cidrs",
                      self.operator_cidrs, "list each CIDR once")
        if self.availability_zones:
            check.require(len(self.availability_zones) == self.az_count
                          and len(set(self.availability_zones)) == self.az_count, "availability_zones",
                          self.availability_zones, f"list {self.az_count} distinct zones (az_count)")
        vpc = parse_network(self.vpc_cidr)
        seen: list[tuple[str, ipaddress.IPv4Network]] = []
        for name in ("private_subnet_cidrs", "public_subnet_cidrs"):
            cidrs = getattr(self, name)
            if cidrs:
                check.require(len(cidrs) == self.az_count, name, cidrs, f"give one CIDR per AZ ({self.az_count})")
            for cidr in cidrs:
                sub = parse_network(cidr)
                if not isinstance(sub, ipaddress.IPv4Network) or not isinstance(vpc, ipaddress.IPv4Network):
                    check.fail(name, cidr, "use a valid IPv4 CIDR with no host bits set")
                check.require(sub.subnet_of(vpc), name, cidr, f"a subnet must lie inside the VPC {self.vpc_cidr}")
                for other_name, other in seen:
                    check.require(not sub.overlaps(other), name, cidr, f"overlaps {other} ({other_name}); "
                                  "subnets must not overlap")
                seen.append((name, sub))
