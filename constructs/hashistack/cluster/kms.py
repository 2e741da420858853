"""The KMS key that auto-unseals Vault (rotation on), under a stable alias the Vault config names."""

from __future__ import annotations

import json

from cdktf_cdktf_provider_aws.kms_alias import KmsAlias
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from constructs import Construct

from .boot import unseal_alias

__all__ = ["UnsealKey", "unseal_alias"]


class UnsealKey(Construct):
    """The key's policy leaves administration to the account (IAM decides who); the Vault
    servers' role gets Encrypt/Decrypt/DescribeKey on this key through its own IAM policy."""

    def __init__(self, scope: Construct, id: str, *, environment_name: str, account_id: str) -> None:
        super().__init__(scope, id)
        self.alias_name = unseal_alias(environment_name)
        self.key = KmsKey(self, "key", description=f"Vault auto-unseal for {environment_name}",
                          enable_key_rotation=True, deletion_window_in_days=30, key_usage="ENCRYPT_DECRYPT",
                          policy=json.dumps({"Version": "2012-10-17", "Statement": [
                              {"Sid": "AccountAdministers", "Effect": "Allow",
                               "Principal": {"AWS": f"arn:aws:iam::{account_id}:root"},
                               "Action": "kms:*", "Resource": "*"}]}, sort_keys=True))
        KmsAlias(self, "alias", name=self.alias_name, target_key_id=self.key.key_id)
