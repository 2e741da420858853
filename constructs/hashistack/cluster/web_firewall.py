"""The web application firewall in front of an internet-facing ingress load balancer.

AWS WAF (regional) with AWS's managed rule groups, each blocking: the IP reputation list, the
anonymous-IP list (Tor, anonymising VPNs and proxies), the common rule set and the known-bad-inputs
set (Log4Shell among them), then a rate limit per client address. Two rules count instead of
blocking: the anonymous list's ``HostingProviderIPList`` (servers calling a service from a cloud
provider are ordinary clients) and the common set's ``SizeRestrictions_BODY`` (it refuses bodies
over 8 KiB, which ordinary APIs accept). Requests no rule blocks pass to the proxy. The firewall's
log (blocked and counted requests included) goes to a CloudWatch log group encrypted with the
environment's log key and kept for a year.
"""

from __future__ import annotations

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.wafv2_web_acl import (
    Wafv2WebAcl,
    Wafv2WebAclDefaultAction,
    Wafv2WebAclDefaultActionAllow,
    Wafv2WebAclVisibilityConfig,
)
from cdktf_cdktf_provider_aws.wafv2_web_acl_association import Wafv2WebAclAssociation
from cdktf_cdktf_provider_aws.wafv2_web_acl_logging_configuration import Wafv2WebAclLoggingConfiguration
from constructs import Construct

__all__ = ["MANAGED_RULE_GROUPS", "WebFirewall"]

# (AWS managed rule group, rules of it that count instead of blocking)
MANAGED_RULE_GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("AWSManagedRulesAmazonIpReputationList", ()),
    ("AWSManagedRulesAnonymousIpList", ("HostingProviderIPList",)),
    ("AWSManagedRulesCommonRuleSet", ("SizeRestrictions_BODY",)),
    ("AWSManagedRulesKnownBadInputsRuleSet", ()),
)


def _visibility(metric: str) -> dict:
    return {"cloudwatch_metrics_enabled": True, "metric_name": metric, "sampled_requests_enabled": True}


class WebFirewall(Construct):
    """A regional web ACL associated with ``load_balancer_arn``; ``rate_limit`` is the number
    of requests one client address may send in five minutes before it is blocked."""

    def __init__(self, scope: Construct, id: str, *, name_prefix: str, load_balancer_arn: str, rate_limit: int,
                 logs_key_arn: str) -> None:
        super().__init__(scope, id)
        name = f"{name_prefix}-ingress"
        rules = [
            {"name": group, "priority": i, "override_action": [{"none": [{}]}],
             "statement": [{"managed_rule_group_statement": [{
                 "name": group, "vendor_name": "AWS",
                 **({"rule_action_override": [{"name": rule, "action_to_use": [{"count": [{}]}]} for rule in counted]}
                    if counted else {}),
             }]}],
             "visibility_config": [_visibility(f"{name}-{group}")]}
            for i, (group, counted) in enumerate(MANAGED_RULE_GROUPS)
        ]
        rules.append({"name": "rate-limit-per-address", "priority": len(rules), "action": [{"block": [{}]}],
                      "statement": [{"rate_based_statement": [{"limit": rate_limit, "aggregate_key_type": "IP"}]}],
                      "visibility_config": [_visibility(f"{name}-rate-limit")]})
        self.acl = Wafv2WebAcl(
            self, "acl", name=name, scope="REGIONAL", description=f"{name_prefix} ingress: managed rules, rate limit",
            default_action=Wafv2WebAclDefaultAction(allow=Wafv2WebAclDefaultActionAllow()),
            visibility_config=Wafv2WebAclVisibilityConfig(**_visibility(name)))
        # the rule blocks are nested deeper than the provider's Python classes go
        self.acl.add_override("rule", rules)
        Wafv2WebAclAssociation(self, "association", resource_arn=load_balancer_arn, web_acl_arn=self.acl.arn)
        # WAF logs only to groups named aws-waf-logs-*
        self.log_group = CloudwatchLogGroup(self, "log", name=f"aws-waf-logs-{name}", retention_in_days=365,
                                            kms_key_id=logs_key_arn)
        Wafv2WebAclLoggingConfiguration(self, "logging", resource_arn=self.acl.arn,
                                        log_destination_configs=[self.log_group.arn])
