"""A node group: launch template + autoscaling group, hardened (IMDSv2 only with hop limit 1,
encrypted volumes, no public IPs, least-privilege instance profile, auto-join tags), whose boot
Terraform can see: new instances wait in a launch lifecycle hook that the boot completes (or
abandons), and the group waits for healthy capacity, so a broken boot fails the apply."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Sequence

from cdktf_cdktf_provider_aws.autoscaling_group import (
    AutoscalingGroup,
    AutoscalingGroupInitialLifecycleHook,
    AutoscalingGroupInstanceRefresh,
    AutoscalingGroupInstanceRefreshPreferences,
    AutoscalingGroupLaunchTemplate,
    AutoscalingGroupTag,
)
from cdktf_cdktf_provider_aws.iam_instance_profile import IamInstanceProfile
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.launch_template import (
    LaunchTemplate,
    LaunchTemplateBlockDeviceMappings,
    LaunchTemplateBlockDeviceMappingsEbs,
    LaunchTemplateIamInstanceProfile,
    LaunchTemplateMetadataOptions,
    LaunchTemplateMonitoring,
    LaunchTemplateNetworkInterfaces,
    LaunchTemplateTagSpecifications,
)
from cdktf import Token
from constructs import Construct

from ..contracts import JOIN_TAG_KEY
from .cloud_init import LIFECYCLE_HOOK

__all__ = ["JOIN_TAG_KEY", "NodeGroup", "NodeGroupSpec", "session_manager_statements"]


def session_manager_statements(region: str, account: str) -> list[dict]:
    """What the SSM agent needs for Session Manager, and nothing else: AWS's documented instance
    permissions for Session Manager (Systems Manager user guide, "Verify or add instance
    permissions for Session Manager": ``ssm:UpdateInstanceInformation`` and the four
    ``ssmmessages`` channel actions). Not ``AmazonSSMManagedInstanceCore``: it also allows
    ``ssm:GetParameter(s)`` on every parameter, which would let any node read every secret."""
    return [
        {"Sid": "SessionManagerRegistration", "Effect": "Allow", "Action": ["ssm:UpdateInstanceInformation"],
         "Resource": [f"arn:aws:ec2:{region}:{account}:instance/*"]},
        {"Sid": "SessionManagerChannels", "Effect": "Allow",
         "Action": ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
                    "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"], "Resource": "*"},
    ]
"""Session Manager, the break-glass path to a node (no SSH, no port 22)."""

BOOT_TIMEOUT_S = 900
"""How long a new instance may take to boot before the autoscaling group abandons it."""


@dataclass(frozen=True, kw_only=True)
class NodeGroupSpec:
    """:param name: the autoscaling group's name (fixed: the boot completes its lifecycle hook by it).
    :param ami_id: the image id (a literal or the AMI data source's id).
    :param root_device_name: the image's root device (the data source's ``root_device_name``).
    :param volumes: extra EBS volumes as (device name, GiB), formatted and mounted by the boot.
    :param drain_hook: a terminate lifecycle hook of this name, completed by the node after draining.
    :param drain_timeout_s: how long that hook holds the instance without its completion.
    :param instance_refresh: replace instances one by one when the launch template changes.
    """

    name: str
    instance_type: str
    ami_id: str
    min_size: int
    max_size: int
    desired: int
    join_tag_value: str
    user_data: bytes
    """The node's user data as shipped (:meth:`CloudInit.user_data`)."""
    root_device_name: str = "/dev/xvda"
    root_volume_gib: int = 30
    volumes: tuple[tuple[str, int], ...] = (("/dev/sdf", 50),)
    drain_hook: str | None = None
    drain_timeout_s: int = 900
    instance_refresh: bool = False


class NodeGroup(Construct):
    """Launch template + ASG in the private subnets, with its own IAM role.

    :param policy_statements: the role's IAM statements (least privilege; the caller scopes them).
    """

    def __init__(self, scope: Construct, id: str, *, spec: NodeGroupSpec, subnet_ids: Sequence[str],
                 security_group_id: str, policy_statements: list[dict], target_group_arns: Sequence[str] = ()) -> None:
        super().__init__(scope, id)
        self.policy_statements = tuple(policy_statements)
        self.security_group_id = security_group_id
        self.role = IamRole(self, "role", name_prefix=f"{spec.name[:30]}-", assume_role_policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                           "Action": "sts:AssumeRole"}]}, sort_keys=True))
        IamRolePolicy(self, "policy", role=self.role.id, name="least-privilege",
                      policy=json.dumps({"Version": "2012-10-17", "Statement": policy_statements}))
        profile = IamInstanceProfile(self, "profile", name_prefix=f"{spec.name[:30]}-", role=self.role.name)
        tags = {"Name": spec.name, JOIN_TAG_KEY: spec.join_tag_value}
        self.launch_template = LaunchTemplate(
            self, "launch-template",
            name_prefix=f"{spec.name}-",
            image_id=spec.ami_id,
            instance_type=spec.instance_type,
            update_default_version=True,
            ebs_optimized="true",
            iam_instance_profile=LaunchTemplateIamInstanceProfile(arn=profile.arn),
            metadata_options=LaunchTemplateMetadataOptions(
                http_endpoint="enabled", http_tokens="required", http_put_response_hop_limit=1,
                instance_metadata_tags="disabled"),
            monitoring=LaunchTemplateMonitoring(enabled=True),
            network_interfaces=[LaunchTemplateNetworkInterfaces(
                associate_public_ip_address="false", security_groups=[security_group_id],
                delete_on_termination="true", device_index=0)],
            block_device_mappings=[
                LaunchTemplateBlockDeviceMappings(device_name=device, ebs=LaunchTemplateBlockDeviceMappingsEbs(
                    volume_size=size, volume_type="gp3", encrypted="true", delete_on_termination="true"))
                for device, size in ((spec.root_device_name, spec.root_volume_gib), *spec.volumes)
            ],
            # base64 text holds no '${', so Terraform reads it as is
            user_data=base64.b64encode(spec.user_data).decode(),
            tag_specifications=[LaunchTemplateTagSpecifications(resource_type=kind, tags=tags)
                                for kind in ("instance", "volume")],
            tags=tags,
        )
        hooks = [AutoscalingGroupInitialLifecycleHook(
            name=LIFECYCLE_HOOK, lifecycle_transition="autoscaling:EC2_INSTANCE_LAUNCHING", default_result="ABANDON",
            heartbeat_timeout=BOOT_TIMEOUT_S)]
        if spec.drain_hook:
            hooks.append(AutoscalingGroupInitialLifecycleHook(
                name=spec.drain_hook, lifecycle_transition="autoscaling:EC2_INSTANCE_TERMINATING",
                default_result="CONTINUE", heartbeat_timeout=spec.drain_timeout_s))
        self.asg = AutoscalingGroup(
            self, "asg",
            name=spec.name,
            min_size=spec.min_size, max_size=spec.max_size, desired_capacity=spec.desired,
            vpc_zone_identifier=list(subnet_ids),
            # The template's latest version by number, so a changed template is a change of the group
            # (and, with instance refresh, rolls the instances).
            launch_template=AutoscalingGroupLaunchTemplate(
                id=self.launch_template.id, version=Token.as_string(self.launch_template.latest_version)),
            target_group_arns=list(target_group_arns) or None,
            # The group replaces an instance only when EC2 says it is broken, never because the load
            # balancer's check fails: the server groups' checks follow raft (a leader, an unsealed
            # Vault), so when quorum is lost every server fails its check at once and an ELB health
            # type would terminate the survivors holding the data. `terraform apply` still waits
            # until the load balancer sees every instance healthy (wait_for_elb_capacity), and a
            # broken boot is abandoned by its lifecycle hook.
            health_check_type="EC2", health_check_grace_period=BOOT_TIMEOUT_S,
            wait_for_capacity_timeout=f"{BOOT_TIMEOUT_S // 60 + 5}m",
            wait_for_elb_capacity=spec.desired if target_group_arns else None,
            initial_lifecycle_hook=hooks,
            instance_refresh=AutoscalingGroupInstanceRefresh(
                strategy="Rolling", preferences=AutoscalingGroupInstanceRefreshPreferences(
                    min_healthy_percentage=90, instance_warmup="300", auto_rollback=True))
            if spec.instance_refresh else None,
            tag=[AutoscalingGroupTag(key=k, value=v, propagate_at_launch=True) for k, v in sorted(tags.items())],
        )
