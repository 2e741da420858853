"""CI's access to Terraform state: the services layer's state object, and nothing of the other
layers'.

Each stack keeps its state in its own S3 object (:meth:`S3State.state_key`), so a policy can give
the identity that deploys jobs (CI applies ``<env>`` daily) exactly that object: its lock items in
the lock table and the data keys of that object through S3, never ``<env>-infra``'s or
``<env>-vault``'s state, which hold the cluster's resources and the access layer. The policy is
created in ``<env>-infra`` (applied by operators) as ``hashistack-<env>-ci-state``; attach it to
the AWS role CI assumes. Only for S3 state: a local state file has no other reader to exclude.
"""

from __future__ import annotations

import json

from constructs import Construct

from .environment import Environment, S3State

__all__ = ["CiStateAccess", "ci_state_policy"]


def ci_state_policy(environment: Environment) -> dict:
    """The policy document for the services layer's state of ``environment`` (S3 state only).

    - ``s3:GetObject``/``s3:PutObject`` on the one object, ``s3:ListBucket`` for that key only
      (Terraform's S3 backend lists the key before it reads it);
    - the lock for that object only: its S3 lock file (``<key>.tflock``: get, put, delete), or with
      a ``lock_table`` the table's items for it (``dynamodb:LeadingKeys``: the lock,
      ``<bucket>/<key>``, and the state's digest, ``<bucket>/<key>-md5``);
    - with a KMS key of its own, the key's use only through S3 (``kms:ViaService``) and for that
      object (``kms:EncryptionContext:aws:s3:arn``; with S3 Bucket Keys the context is the bucket,
      and S3's per-object authorization above stays the boundary).
    """
    state = environment.state
    if not isinstance(state, S3State):
        raise TypeError(f"environment {environment.name!r} keeps its state locally: no policy to give CI")
    region = state.region or environment.region
    key = state.state_key(environment.stack_names[2])
    bucket_arn = f"arn:aws:s3:::{state.bucket}"
    object_arn = f"{bucket_arn}/{key}"
    statements: list[dict] = [
        {"Sid": "ListTheServicesStateKey", "Effect": "Allow", "Action": "s3:ListBucket", "Resource": bucket_arn,
         "Condition": {"StringEquals": {"s3:prefix": key}}},
        {"Sid": "ReadWriteTheServicesState", "Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"],
         "Resource": object_arn},
    ]
    # the lock file is written with the state's encryption, so the key serves it too
    lock_objects = [f"{bucket_arn}/{state.lock_key(environment.stack_names[2])}"] if state.lock_table is None else []
    if lock_objects:
        statements.append(
            {"Sid": "LockTheServicesState", "Effect": "Allow",
             "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], "Resource": lock_objects[0]})
    else:
        statements.append(
            {"Sid": "LockTheServicesState", "Effect": "Allow",
             "Action": ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"],
             "Resource": f"arn:aws:dynamodb:{region}:{environment.account_id}:table/{state.lock_table}",
             "Condition": {"ForAllValues:StringEquals": {
                 "dynamodb:LeadingKeys": [f"{state.bucket}/{key}", f"{state.bucket}/{key}-md5"]}}})
    if state.kms_key_id:
        kms_region, kms_account, kms_name = state.kms_key_id.split(":", 5)[3:]
        # an alias ARN never matches a KMS resource (KMS authorizes the key), so an alias gives the
        # keys of its account and region, bounded by the conditions
        resource = (state.kms_key_id if kms_name.startswith("key/")
                    else f"arn:aws:kms:{kms_region}:{kms_account}:key/*")
        statements.append(
            {"Sid": "EncryptTheServicesStateThroughS3", "Effect": "Allow",
             "Action": ["kms:Decrypt", "kms:Encrypt", "kms:GenerateDataKey"], "Resource": resource,
             "Condition": {"StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com",
                                            "kms:EncryptionContext:aws:s3:arn": [
                                                object_arn, *lock_objects, bucket_arn]}}})
    return {"Version": "2012-10-17", "Statement": statements}


class CiStateAccess(Construct):
    """``hashistack-<env>-ci-state``: the IAM policy CI's role needs for ``<env>``'s state and no
    more (:func:`ci_state_policy`); its ARN is the output ``ci_state_policy_arn``."""

    def __init__(self, scope: Construct, id: str, *, environment: Environment) -> None:
        super().__init__(scope, id)
        from cdktf import TerraformOutput
        from cdktf_cdktf_provider_aws.iam_policy import IamPolicy

        self.policy = IamPolicy(
            self, "policy", name=f"hashistack-{environment.name}-ci-state",
            description=f"CI: the state of {environment.stack_names[2]} only (read, write, lock)",
            policy=json.dumps(ci_state_policy(environment), indent=2, sort_keys=True))
        TerraformOutput(self, "arn", value=self.policy.arn,
                        description="attach to the AWS role CI assumes to deploy the services layer"
                        ).override_logical_id("ci_state_policy_arn")
