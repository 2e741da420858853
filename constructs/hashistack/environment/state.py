"""Where each stack keeps its Terraform state."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Union

from .._validate import MOUNT_HINT, is_mount_path
from ..errors import Checker
from ._base import _REGION
from .tiers import Tier

__all__ = ["LocalState", "S3State", "StateBackend"]


_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


_TABLE = re.compile(r"^[A-Za-z0-9_.-]{3,255}$")


@dataclass(frozen=True, kw_only=True)
class LocalState:
    """Terraform state in a local file below ``state_dir`` (relative to the project root).
    Development only: shared environments need locking and durability."""

    state_dir: str = ".terraform-state"

    def _validate(self, check: Checker, tier: Tier) -> None:
        check.require(tier.policy.local_state, "state", self,
                      f"a {tier.value} environment keeps its state remotely: use S3State(bucket=..., kms_key_id=...)")
        check.require(isinstance(self.state_dir, str) and bool(self.state_dir) and not self.state_dir.startswith("/")
                      and ".." not in self.state_dir.split("/"),
                      "state.state_dir", self.state_dir, "use a relative folder inside the project, e.g. '.terraform-state'")


@dataclass(frozen=True, kw_only=True)
class S3State:
    """Terraform state in S3, encrypted and locked.

    :param bucket: the state bucket (versioning on, created outside this project).
    :param lock_table: a DynamoDB table for state locking, for Terraform before 1.10. Default:
        none: Terraform's S3 lock file (``use_lockfile``: ``<key>.tflock`` beside the state, in the
        same bucket), which Terraform 1.11 recommends, its DynamoDB locking being deprecated.
    :param region: the bucket's region. Defaults to the environment's region.
    :param key_prefix: prefix of each stack's state key. Defaults to ``hashistack``;
        a stack's key is ``<key_prefix>/<stack>.tfstate``.
    :param kms_key_id: the KMS key (ARN) that encrypts each state object. Required outside
        development: state holds the provider's reads of secrets (the OIDC client secret of
        ``<env>-vault``, resource attributes), and a key of its own lets the key policy decide who
        may decrypt it, beyond the bucket policy. Defaults to none (SSE-S3) in development.
    """

    bucket: str
    lock_table: str | None = None
    region: str | None = None
    key_prefix: str = "hashistack"
    kms_key_id: str | None = None

    def state_key(self, stack: str) -> str:
        """The S3 key of ``stack``'s state: the backend writes it, CI's state policy names it."""
        return f"{self.key_prefix}/{stack}.tfstate"

    def lock_key(self, stack: str) -> str:
        """The S3 key of ``stack``'s lock file (with no ``lock_table``): Terraform's S3 backend adds
        ``.tflock`` to the state's key (internal/backend/remote-state/s3, Terraform 1.11)."""
        return f"{self.state_key(stack)}.tflock"

    def _validate(self, check: Checker, tier: Tier) -> None:
        check = check.child("state")
        check.require(isinstance(self.bucket, str) and bool(_BUCKET.fullmatch(self.bucket)) and ".." not in self.bucket,
                      "bucket", self.bucket, "use a valid S3 bucket name (3-63 lowercase letters, digits, '.', '-')")
        if self.lock_table is not None:
            check.require(bool(_TABLE.fullmatch(self.lock_table)), "lock_table", self.lock_table,
                          "use a DynamoDB table name (3-255 letters, digits, '_', '-', '.'), or leave it unset for "
                          "Terraform's S3 lock file")
        if self.region is not None:
            check.require(bool(_REGION.fullmatch(self.region)), "region", self.region, "use an AWS region such as 'eu-west-1'")
        check.require(is_mount_path(self.key_prefix), "key_prefix", self.key_prefix, MOUNT_HINT)
        if self.kms_key_id is not None or tier.policy.state_key_required:
            needed = f" (required in a {tier.value} environment)" if tier.policy.state_key_required else ""
            check.require(isinstance(self.kms_key_id, str) and bool(_KMS_ARN.fullmatch(self.kms_key_id)), "kms_key_id",
                          self.kms_key_id, f"give the ARN of the KMS key that encrypts the state{needed}, e.g. "
                          "'arn:aws:kms:eu-west-1:222222222222:alias/hashistack-tfstate'")


_KMS_ARN = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:(key/[0-9a-f-]{36}|alias/[A-Za-z0-9/_-]+)$")


StateBackend = Union[LocalState, S3State]
