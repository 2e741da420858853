"""Where users' traffic enters the environment."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .._validate import is_dns_name, is_world, parse_network
from ..errors import Checker
from .tiers import Tier

__all__ = ["IngressSettings"]


_CERT_ARN = re.compile(r"^arn:aws[a-z-]*:acm:[a-z0-9-]+:\d{12}:certificate/[0-9a-f-]{36}$")


# Ports the cluster's agents use (see ports.PORT_MATRIX) and Nomad's default dynamic range: the
# proxy's port must be none of them, so the rule that admits the load balancer opens nothing else.
_CLUSTER_PORTS = {4646, 4647, 4648, 8200, 8201, 8300, 8301, 8302, 8500, 8501, 8502, 8503, 8600}


_DYNAMIC_PORTS = range(20000, 32001)


@dataclass(frozen=True, kw_only=True)
class IngressSettings:
    """Where users' traffic enters the environment.

    :param public_domain: the domain services are published under (``payments.<public_domain>``).
    :param certificate_arn: the ACM certificate for ``*.<public_domain>`` (issued and validated
        where the public zone lives).
    :param internet_facing: an internet-facing load balancer in the public subnets (default), or
        an internal one for environments reached only through the company network.
    :param allowed_cidrs: who may connect to 443/80. Defaults to everyone for an internet-facing
        load balancer; an internal one needs the company's ranges.
    :param proxy_port: the port the ingress proxy listens on, on every Nomad client (HTTPS).
        Defaults to 8443.
    :param ssl_policy: the listener's TLS policy. Defaults to TLS 1.3 with TLS 1.2 fallback.
    :param access_log_days: days the load balancers' access logs are kept (the ingress load
        balancer's and the API load balancers'). Defaults to 90.
    :param web_firewall: AWS WAF in front of the load balancer (managed rule groups and a rate
        limit per client address). Defaults to on for an internet-facing load balancer, off for an
        internal one.
    :param rate_limit_per_address: requests one client address may send in five minutes before
        the firewall blocks it. Defaults to 2000.
    """

    public_domain: str
    certificate_arn: str
    internet_facing: bool = True
    allowed_cidrs: tuple[str, ...] = ("0.0.0.0/0",)
    proxy_port: int = 8443
    ssl_policy: str = "ELBSecurityPolicy-TLS13-1-2-2021-06"
    access_log_days: int = 90
    web_firewall: bool | None = None
    rate_limit_per_address: int = 2000

    @property
    def firewall_enabled(self) -> bool:
        return self.internet_facing if self.web_firewall is None else self.web_firewall

    def validate(self, check: Checker) -> "IngressSettings":
        check.require(is_dns_name(self.public_domain), "public_domain", self.public_domain,
                      "use a lowercase DNS name such as 'example.com'")
        check.require(isinstance(self.certificate_arn, str) and bool(_CERT_ARN.fullmatch(self.certificate_arn)),
                      "certificate_arn", self.certificate_arn,
                      "use the ARN of an ACM certificate, arn:aws:acm:<region>:<account>:certificate/<id>")
        check.require(isinstance(self.proxy_port, int) and 1024 <= self.proxy_port <= 65535
                      and self.proxy_port not in _CLUSTER_PORTS and self.proxy_port not in _DYNAMIC_PORTS,
                      "proxy_port", self.proxy_port,
                      "use a port from 1024 to 65535 outside the agents' ports and Nomad's dynamic range "
                      "(20000-32000), e.g. 8443")
        check.require(bool(self.allowed_cidrs), "allowed_cidrs", self.allowed_cidrs, "list at least one CIDR")
        for cidr in self.allowed_cidrs:
            net = parse_network(cidr)
            if net is None:
                check.fail("allowed_cidrs", cidr, "use a valid CIDR with no host bits set")
            check.require(self.internet_facing or not is_world(net), "allowed_cidrs", cidr,
                          "an internal load balancer admits the company's ranges, not the world")
        check.require(self.ssl_policy.startswith("ELBSecurityPolicy-TLS13-"), "ssl_policy", self.ssl_policy,
                      "use a TLS 1.3 policy such as 'ELBSecurityPolicy-TLS13-1-2-2021-06'")
        check.require(isinstance(self.access_log_days, int) and 1 <= self.access_log_days <= 3650,
                      "access_log_days", self.access_log_days, "keep access logs 1 to 3650 days")
        check.require(type(self.rate_limit_per_address) is int and 100 <= self.rate_limit_per_address <= 2_000_000_000,
                      "rate_limit_per_address", self.rate_limit_per_address,
                      "use a number of requests per five minutes from 100 to 2000000000 (AWS WAF's range)")
        return self

    def _validate(self, check: Checker, tier: Tier) -> None:
        self.validate(check)
        check.require(not tier.policy.web_firewall_required or not self.internet_facing or self.firewall_enabled,
                      "web_firewall", self.web_firewall,
                      "keep the web application firewall on for an internet-facing production load balancer")
