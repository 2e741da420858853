"""The entry for users' traffic (north-south): an application load balancer terminating TLS for
the environment's public domain, in front of the ingress proxy that the Nomad clients run.

The load balancer speaks HTTPS with a modern TLS policy, redirects HTTP to HTTPS, drops invalid
headers, writes access logs to the environment's log bucket, and may reach the clients on the
proxy's port only. An internet-facing one sits behind AWS WAF's managed rules and a rate limit
(``web_firewall.py``). Routing to services (which host goes where) is the proxy's business,
from the service catalogue; the load balancer knows nothing of services.
"""

from __future__ import annotations

from typing import Sequence

from cdktf_cdktf_provider_aws.autoscaling_attachment import AutoscalingAttachment
from cdktf_cdktf_provider_aws.lb import Lb, LbAccessLogs
from cdktf_cdktf_provider_aws.lb_listener import (
    LbListener,
    LbListenerDefaultAction,
    LbListenerDefaultActionRedirect,
)
from cdktf_cdktf_provider_aws.lb_target_group import LbTargetGroup, LbTargetGroupHealthCheck
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct

from ..errors import Checker
from ..environment import IngressSettings
from .access_logs import INGRESS_LOG_PREFIX, LoadBalancerLogs

__all__ = ["IngressLoadBalancer"]


class IngressLoadBalancer(Construct):
    """The ingress load balancer: its security group (443 and 80 from ``allowed_cidrs``, out to
    the clients' proxy port only), the rule admitting it to the clients, the
    HTTPS and redirecting HTTP listeners, the target group of the client groups, and, when
    internet-facing, the web application firewall (:attr:`firewall`)."""

    def __init__(self, scope: Construct, id: str, *, settings: IngressSettings, name_prefix: str, vpc_id: str,
                 subnet_ids: Sequence[str], target_security_group_id: str, target_asg_names: Sequence[str],
                 deletion_protection: bool, logs: LoadBalancerLogs, logs_key_arn: str) -> None:
        super().__init__(scope, id)
        s = settings.validate(Checker(self.node.path, "ingress."))
        port = s.proxy_port
        self.security_group = SecurityGroup(
            self, "sg", name=f"{name_prefix}-ingress-lb", vpc_id=vpc_id, revoke_rules_on_delete=True,
            description="hashistack ingress load balancer: HTTPS in, the proxy port out",
            tags={"Name": f"{name_prefix}-ingress-lb"})
        for listen in (443, 80):
            for i, cidr in enumerate(s.allowed_cidrs):
                VpcSecurityGroupIngressRule(
                    self, f"in-{listen}-{i}", security_group_id=self.security_group.id, ip_protocol="tcp",
                    from_port=listen, to_port=listen, cidr_ipv4=cidr,
                    description="users' HTTPS" if listen == 443 else "users' HTTP, redirected to HTTPS")
        VpcSecurityGroupEgressRule(
            self, "out-proxy", security_group_id=self.security_group.id, ip_protocol="tcp", from_port=port,
            to_port=port, referenced_security_group_id=target_security_group_id,
            description="to the ingress proxy on the Nomad clients")
        VpcSecurityGroupIngressRule(
            self, "proxy-from-lb", security_group_id=target_security_group_id, ip_protocol="tcp", from_port=port,
            to_port=port, referenced_security_group_id=self.security_group.id,
            description="ingress proxy: from the ingress load balancer only")

        self.lb = Lb(
            self, "lb", name=f"{name_prefix}-ingress"[:32], load_balancer_type="application",
            internal=not s.internet_facing, subnets=list(subnet_ids), security_groups=[self.security_group.id],
            drop_invalid_header_fields=True, enable_deletion_protection=deletion_protection,
            access_logs=LbAccessLogs(bucket=logs.bucket.id, prefix=INGRESS_LOG_PREFIX, enabled=True),
            depends_on=[logs.policy])
        self.firewall = None
        if s.firewall_enabled:
            from .web_firewall import WebFirewall

            self.firewall = WebFirewall(self, "waf", name_prefix=name_prefix, load_balancer_arn=self.lb.arn,
                                        rate_limit=s.rate_limit_per_address, logs_key_arn=logs_key_arn)
        self.target_group = LbTargetGroup(
            self, "proxy", name=f"{name_prefix}-ingress"[:32], port=port, protocol="HTTPS", vpc_id=vpc_id,
            target_type="instance", deregistration_delay="30",
            health_check=LbTargetGroupHealthCheck(protocol="HTTPS", path="/ping", port="traffic-port", matcher="200",
                                                  interval=10, healthy_threshold=2, unhealthy_threshold=3))
        self.https = LbListener(
            self, "https", load_balancer_arn=self.lb.arn, port=443, protocol="HTTPS", ssl_policy=s.ssl_policy,
            certificate_arn=s.certificate_arn,
            default_action=[LbListenerDefaultAction(type="forward", target_group_arn=self.target_group.arn)])
        LbListener(
            self, "http", load_balancer_arn=self.lb.arn, port=80, protocol="HTTP",
            default_action=[LbListenerDefaultAction(type="redirect", redirect=LbListenerDefaultActionRedirect(
                protocol="HTTPS", port="443", status_code="HTTP_301"))])
        for i, asg in enumerate(target_asg_names):
            AutoscalingAttachment(self, f"clients-{i}", autoscaling_group_name=asg,
                                  lb_target_group_arn=self.target_group.arn)
