"""The entry for users' traffic (north-south): an application load balancer terminating TLS for
the environment's public domain, in front of the ingress proxy that the Nomad clients run.

The load balancer speaks HTTPS with a modern TLS policy, redirects HTTP to HTTPS, drops invalid
headers, writes access logs to an encrypted, private bucket, and may reach the clients on the
proxy's port only. Routing to services (which host goes where) is the proxy's business, from
the service catalogue; the load balancer knows nothing of services.
"""

from __future__ import annotations

import json
from typing import Sequence

from cdktf_cdktf_provider_aws.autoscaling_attachment import AutoscalingAttachment
from cdktf_cdktf_provider_aws.data_aws_elb_service_account import DataAwsElbServiceAccount
from cdktf_cdktf_provider_aws.lb import Lb, LbAccessLogs
from cdktf_cdktf_provider_aws.lb_listener import (
    LbListener,
    LbListenerDefaultAction,
    LbListenerDefaultActionRedirect,
)
from cdktf_cdktf_provider_aws.lb_target_group import LbTargetGroup, LbTargetGroupHealthCheck
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleExpiration,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
)
from cdktf_cdktf_provider_aws.s3_bucket_ownership_controls import (
    S3BucketOwnershipControls,
    S3BucketOwnershipControlsRule,
)
from cdktf_cdktf_provider_aws.s3_bucket_policy import S3BucketPolicy
from cdktf_cdktf_provider_aws.s3_bucket_public_access_block import S3BucketPublicAccessBlock
from cdktf_cdktf_provider_aws.s3_bucket_server_side_encryption_configuration import (
    S3BucketServerSideEncryptionConfigurationA,
    S3BucketServerSideEncryptionConfigurationRuleA,
    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA,
)
from cdktf_cdktf_provider_aws.s3_bucket_versioning import (
    S3BucketVersioningA,
    S3BucketVersioningVersioningConfiguration,
)
from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct

from ..errors import Checker
from ..environment import IngressSettings

__all__ = ["IngressLoadBalancer"]

class IngressLoadBalancer(Construct):
    """The ingress load balancer: its security group (443 and 80 from ``allowed_cidrs``, out to
    the clients' proxy port only), the rule admitting it to the clients, the access-log bucket,
    the HTTPS and redirecting HTTP listeners, and the target group of the client groups."""

    def __init__(self, scope: Construct, id: str, *, settings: IngressSettings, name_prefix: str, vpc_id: str,
                 subnet_ids: Sequence[str], target_security_group_id: str, target_asg_names: Sequence[str],
                 deletion_protection: bool) -> None:
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

        self.logs = _AccessLogBucket(self, "logs", name_prefix=name_prefix, days=s.access_log_days)
        self.lb = Lb(
            self, "lb", name=f"{name_prefix}-ingress"[:32], load_balancer_type="application",
            internal=not s.internet_facing, subnets=list(subnet_ids), security_groups=[self.security_group.id],
            drop_invalid_header_fields=True, enable_deletion_protection=deletion_protection,
            access_logs=LbAccessLogs(bucket=self.logs.bucket.id, prefix="ingress", enabled=True),
            depends_on=[self.logs.policy])
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


class _AccessLogBucket(Construct):
    """A private, encrypted, versioned bucket that only the region's load-balancer log delivery
    may write to, over TLS, expiring logs after ``days``. Load-balancer access logs support
    S3-managed keys (SSE-S3) only."""

    def __init__(self, scope: Construct, id: str, *, name_prefix: str, days: int) -> None:
        super().__init__(scope, id)
        self.bucket = S3Bucket(self, "bucket", bucket_prefix=f"{name_prefix}-ingress-logs-", force_destroy=False)
        S3BucketPublicAccessBlock(self, "private", bucket=self.bucket.id, block_public_acls=True,
                                  block_public_policy=True, ignore_public_acls=True, restrict_public_buckets=True)
        S3BucketOwnershipControls(self, "ownership", bucket=self.bucket.id,
                                  rule=S3BucketOwnershipControlsRule(object_ownership="BucketOwnerEnforced"))
        S3BucketVersioningA(self, "versioning", bucket=self.bucket.id,
                            versioning_configuration=S3BucketVersioningVersioningConfiguration(status="Enabled"))
        S3BucketServerSideEncryptionConfigurationA(
            self, "encryption", bucket=self.bucket.id,
            rule=[S3BucketServerSideEncryptionConfigurationRuleA(
                apply_server_side_encryption_by_default=(
                    S3BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultA(
                        sse_algorithm="AES256")))])
        S3BucketLifecycleConfiguration(
            self, "expiry", bucket=self.bucket.id,
            rule=[S3BucketLifecycleConfigurationRule(
                id="expire-access-logs", status="Enabled", filter=[S3BucketLifecycleConfigurationRuleFilter(prefix="")],
                expiration=[S3BucketLifecycleConfigurationRuleExpiration(days=days)],
                noncurrent_version_expiration=[S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration(
                    noncurrent_days=days)],
                abort_incomplete_multipart_upload=[S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload(
                    days_after_initiation=7)])])
        delivery = DataAwsElbServiceAccount(self, "delivery")
        objects = f"{self.bucket.arn}/ingress/*"
        self.policy = S3BucketPolicy(self, "policy", bucket=self.bucket.id, policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "LoadBalancerLogDelivery", "Effect": "Allow", "Action": "s3:PutObject",
                 "Principal": {"AWS": delivery.arn}, "Resource": objects},
                {"Sid": "TlsOnly", "Effect": "Deny", "Action": "s3:*", "Principal": "*",
                 "Resource": [self.bucket.arn, f"{self.bucket.arn}/*"],
                 "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            ]}, sort_keys=True))
