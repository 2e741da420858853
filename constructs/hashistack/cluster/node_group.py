"""A node group: launch template + autoscaling group, hardened (IMDSv2 only with hop limit 1,
encrypted volumes, no public IPs, least-privilege instance profile, auto-join tags)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Sequence

from cdktf_cdktf_provider_aws.autoscaling_group import (
    AutoscalingGroup,
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
from constructs import Construct


__all__ = ["JOIN_TAG_KEY", "NodeGroup", "NodeGroupSpec"]

JOIN_TAG_KEY = "hashistack-join"


@dataclass(frozen=True, kw_only=True)
class NodeGroupSpec:
    name: str
    instance_type: str
    ami_id: str
    min_size: int
    max_size: int
    desired: int
    join_tag_value: str
    user_data: str
    root_volume_gib: int = 30
    data_volume_gib: int = 50


class NodeGroup(Construct):
    """Launch template + ASG in the private subnets, with its own IAM role.

    :param policy_statements: the role's IAM statements (least privilege; the caller scopes them).
    """

    def __init__(self, scope: Construct, id: str, *, spec: NodeGroupSpec, subnet_ids: Sequence[str],
                 security_group_id: str, policy_statements: list[dict], target_group_arns: Sequence[str] = ()) -> None:
        super().__init__(scope, id)
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
                LaunchTemplateBlockDeviceMappings(device_name="/dev/sda1", ebs=LaunchTemplateBlockDeviceMappingsEbs(
                    volume_size=spec.root_volume_gib, volume_type="gp3", encrypted="true",
                    delete_on_termination="true")),
                LaunchTemplateBlockDeviceMappings(device_name="/dev/sdf", ebs=LaunchTemplateBlockDeviceMappingsEbs(
                    volume_size=spec.data_volume_gib, volume_type="gp3", encrypted="true",
                    delete_on_termination="true")),
            ],
            # base64 text holds no '${', so Terraform reads it as is
            user_data=base64.b64encode(spec.user_data.encode()).decode(),
            tag_specifications=[LaunchTemplateTagSpecifications(resource_type=kind, tags=tags)
                                for kind in ("instance", "volume")],
            tags=tags,
        )
        self.asg = AutoscalingGroup(
            self, "asg",
            name_prefix=f"{spec.name}-",
            min_size=spec.min_size, max_size=spec.max_size, desired_capacity=spec.desired,
            vpc_zone_identifier=list(subnet_ids),
            launch_template=AutoscalingGroupLaunchTemplate(id=self.launch_template.id, version="$Latest"),
            target_group_arns=list(target_group_arns) or None,
            health_check_type="EC2", health_check_grace_period=300,
            wait_for_capacity_timeout="0",
            tag=[AutoscalingGroupTag(key=k, value=v, propagate_at_launch=True) for k, v in sorted(tags.items())],
        )
