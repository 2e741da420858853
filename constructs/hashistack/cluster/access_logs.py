"""The environment's load-balancer access logs: one private, encrypted, versioned bucket that
the ingress load balancer (under ``ingress/``) and the internal API load balancers (under
``api/``) write to, and nothing else may.

Load-balancer log delivery supports S3-managed keys (SSE-S3) only, so the bucket uses AES256.
Application load balancers deliver through the region's Elastic Load Balancing account; network
load balancers through the log delivery service, for this account's load balancers only. A
network load balancer records TLS listeners only: the API load balancers pass TCP through (TLS
ends on the agents), so their logs stay empty until a TLS listener is added; the setting is on so
that such a listener logs from its first connection. VPC flow logs record the API traffic.

Object events go to EventBridge, where a security team's rules can pick up new log objects
(AWS charges nothing for events no rule matches).
"""

from __future__ import annotations

import json

from cdktf_cdktf_provider_aws.data_aws_elb_service_account import DataAwsElbServiceAccount
from cdktf_cdktf_provider_aws.s3_bucket import S3Bucket
from cdktf_cdktf_provider_aws.s3_bucket_lifecycle_configuration import (
    S3BucketLifecycleConfiguration,
    S3BucketLifecycleConfigurationRule,
    S3BucketLifecycleConfigurationRuleAbortIncompleteMultipartUpload,
    S3BucketLifecycleConfigurationRuleExpiration,
    S3BucketLifecycleConfigurationRuleFilter,
    S3BucketLifecycleConfigurationRuleNoncurrentVersionExpiration,
)
from cdktf_cdktf_provider_aws.s3_bucket_notification import S3BucketNotification
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
from constructs import Construct

__all__ = ["API_LOG_PREFIX", "INGRESS_LOG_PREFIX", "LoadBalancerLogs"]

INGRESS_LOG_PREFIX = "ingress"
API_LOG_PREFIX = "api"


class LoadBalancerLogs(Construct):
    """The access-log bucket, its policy (:attr:`policy`: a load balancer writing here depends
    on it) and its expiry after ``days``; ``force_destroy`` lets a destroy delete the logs in it."""

    def __init__(self, scope: Construct, id: str, *, name_prefix: str, days: int, account_id: str,
                 region: str, force_destroy: bool) -> None:
        super().__init__(scope, id)
        self.bucket = S3Bucket(self, "bucket", bucket_prefix=f"{name_prefix}-lb-logs-",
                               force_destroy=force_destroy)
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
        S3BucketNotification(self, "events", bucket=self.bucket.id, eventbridge=True)
        elb = DataAwsElbServiceAccount(self, "delivery")
        arn = self.bucket.arn
        this_account = {"StringEquals": {"aws:SourceAccount": account_id},
                        "ArnLike": {"aws:SourceArn": f"arn:aws:logs:{region}:{account_id}:*"}}
        self.policy = S3BucketPolicy(self, "policy", bucket=self.bucket.id, policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [
                {"Sid": "IngressLogDelivery", "Effect": "Allow", "Action": "s3:PutObject",
                 "Principal": {"AWS": elb.arn}, "Resource": f"{arn}/{INGRESS_LOG_PREFIX}/AWSLogs/{account_id}/*"},
                {"Sid": "ApiLogDelivery", "Effect": "Allow", "Action": "s3:PutObject",
                 "Principal": {"Service": "delivery.logs.amazonaws.com"},
                 "Resource": f"{arn}/{API_LOG_PREFIX}/AWSLogs/{account_id}/*",
                 "Condition": {**this_account, "StringEquals": {**this_account["StringEquals"],
                                                                "s3:x-amz-acl": "bucket-owner-full-control"}}},
                {"Sid": "ApiLogDeliveryAclCheck", "Effect": "Allow", "Action": "s3:GetBucketAcl",
                 "Principal": {"Service": "delivery.logs.amazonaws.com"}, "Resource": arn, "Condition": this_account},
                {"Sid": "TlsOnly", "Effect": "Deny", "Action": "s3:*", "Principal": "*",
                 "Resource": [arn, f"{arn}/*"], "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
            ]}, sort_keys=True))
