"""VPC endpoints for the AWS APIs the nodes call, so those calls stay inside the VPC (no NAT, no
internet path): one interface endpoint per service the node roles' IAM policies name (their
actions' prefixes: ``ssm``, ``ssmmessages``, ``kms``, ``ec2``, ``autoscaling``), with private DNS
so the SDKs and the SSM agent resolve the usual names to it, admitting only the node groups on
443; and the S3 gateway endpoint (free) on the private route tables, which the boot's SSM agent
download from the region's bucket takes.

Packages and container images still come from the internet through NAT: Debian's and
HashiCorp's apt repositories and the registries have no VPC endpoint.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.vpc_endpoint import VpcEndpoint
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct

__all__ = ["AwsEndpoints", "services_called"]


def services_called(statements: Iterable[dict]) -> tuple[str, ...]:
    """The AWS services (IAM action prefixes) that policy ``statements`` allow calling."""
    services = set()
    for statement in statements:
        if statement.get("Effect") != "Allow":
            continue
        actions = statement["Action"]
        for action in [actions] if isinstance(actions, str) else actions:
            services.add(action.split(":", 1)[0])
    return tuple(sorted(services))


class AwsEndpoints(Construct):
    """Interface endpoints for ``services`` in ``subnet_ids``, reachable on 443 from
    ``client_security_group_ids``; the S3 gateway endpoint on ``route_table_ids``."""

    def __init__(self, scope: Construct, id: str, *, name_prefix: str, vpc_id: str, region: str,
                 services: Sequence[str], subnet_ids: Sequence[str], route_table_ids: Sequence[str],
                 client_security_group_ids: Sequence[str]) -> None:
        super().__init__(scope, id)
        self.security_group = SecurityGroup(
            self, "sg", name=f"{name_prefix}-aws-endpoints", vpc_id=vpc_id, revoke_rules_on_delete=True,
            description="hashistack VPC endpoints: HTTPS from the nodes", tags={"Name": f"{name_prefix}-aws-endpoints"})
        for i, group in enumerate(client_security_group_ids):
            VpcSecurityGroupIngressRule(
                self, f"in-{i}", security_group_id=self.security_group.id, ip_protocol="tcp", from_port=443,
                to_port=443, referenced_security_group_id=group, description="AWS API calls of a node group")
        self.interfaces = {
            service: VpcEndpoint(self, service, vpc_id=vpc_id, service_name=f"com.amazonaws.{region}.{service}",
                                 vpc_endpoint_type="Interface", private_dns_enabled=True,
                                 subnet_ids=list(subnet_ids), security_group_ids=[self.security_group.id],
                                 tags={"Name": f"{name_prefix}-{service}"})
            for service in services if service != "s3"
        }
        self.s3 = VpcEndpoint(self, "s3", vpc_id=vpc_id, service_name=f"com.amazonaws.{region}.s3",
                              vpc_endpoint_type="Gateway", route_table_ids=list(route_table_ids),
                              tags={"Name": f"{name_prefix}-s3"})
