"""The environment's VPC: private subnets for every node, public subnets only for NAT and an
internet-facing ingress load balancer, flow logs, and the default security group closed."""

from __future__ import annotations

import json

from cdktf_cdktf_provider_aws.cloudwatch_log_group import CloudwatchLogGroup
from cdktf_cdktf_provider_aws.default_security_group import DefaultSecurityGroup
from cdktf_cdktf_provider_aws.eip import Eip
from cdktf_cdktf_provider_aws.flow_log import FlowLog
from cdktf_cdktf_provider_aws.iam_role import IamRole
from cdktf_cdktf_provider_aws.iam_role_policy import IamRolePolicy
from cdktf_cdktf_provider_aws.internet_gateway import InternetGateway
from cdktf_cdktf_provider_aws.kms_key import KmsKey
from cdktf_cdktf_provider_aws.nat_gateway import NatGateway
from cdktf_cdktf_provider_aws.route import Route
from cdktf_cdktf_provider_aws.route_table import RouteTable
from cdktf_cdktf_provider_aws.route_table_association import RouteTableAssociation
from cdktf_cdktf_provider_aws.subnet import Subnet
from cdktf_cdktf_provider_aws.vpc import Vpc
from constructs import Construct

from ..environment import Environment

__all__ = ["Network"]


class Network(Construct):
    """VPC over the environment's AZs. Nodes live in private subnets (no public IPs); public
    subnets hold only the NAT gateways (one per AZ outside development, one in development) and an
    internet-facing ingress load balancer.
    VPC flow logs go to a CloudWatch log group; the default security group has no rules."""

    def __init__(self, scope: Construct, id: str, *, environment: Environment) -> None:
        super().__init__(scope, id)
        env, net = environment, environment.network
        name = f"hashistack-{env.name}"
        self.vpc = Vpc(self, "vpc", cidr_block=net.vpc_cidr, enable_dns_support=True, enable_dns_hostnames=True,
                       tags={"Name": name})
        DefaultSecurityGroup(self, "default-sg-closed", vpc_id=self.vpc.id, ingress=[], egress=[],
                             tags={"Name": f"{name}-default-closed"})
        igw = InternetGateway(self, "igw", vpc_id=self.vpc.id, tags={"Name": name})

        private_cidrs, public_cidrs = net.subnet_plan()
        zones = net.zones(env.region)
        self.private_subnets: list[Subnet] = []
        self.private_route_tables: list[RouteTable] = []
        self.public_subnets: list[Subnet] = []
        public_rt = RouteTable(self, "public-rt", vpc_id=self.vpc.id, tags={"Name": f"{name}-public"})
        Route(self, "public-default-route", route_table_id=public_rt.id, destination_cidr_block="0.0.0.0/0",
              gateway_id=igw.id)
        nats: list[NatGateway] = []
        nat_count = len(zones) if env.tier.policy.nat_per_zone else 1
        for i, (zone, priv, pub) in enumerate(zip(zones, private_cidrs, public_cidrs)):
            public = Subnet(self, f"public-{zone}", vpc_id=self.vpc.id, cidr_block=pub, availability_zone=zone,
                            map_public_ip_on_launch=False, tags={"Name": f"{name}-public-{zone}", "tier": "public"})
            RouteTableAssociation(self, f"public-rta-{zone}", subnet_id=public.id, route_table_id=public_rt.id)
            self.public_subnets.append(public)
            if i < nat_count:
                eip = Eip(self, f"nat-eip-{zone}", domain="vpc", tags={"Name": f"{name}-nat-{zone}"})
                nats.append(NatGateway(self, f"nat-{zone}", subnet_id=public.id, allocation_id=eip.id,
                                       tags={"Name": f"{name}-{zone}"}, depends_on=[igw]))
            private = Subnet(self, f"private-{zone}", vpc_id=self.vpc.id, cidr_block=priv, availability_zone=zone,
                             map_public_ip_on_launch=False,
                             tags={"Name": f"{name}-private-{zone}", "tier": "private"})
            rt = RouteTable(self, f"private-rt-{zone}", vpc_id=self.vpc.id, tags={"Name": f"{name}-private-{zone}"})
            Route(self, f"private-default-route-{zone}", route_table_id=rt.id, destination_cidr_block="0.0.0.0/0",
                  nat_gateway_id=nats[min(i, nat_count - 1)].id)
            RouteTableAssociation(self, f"private-rta-{zone}", subnet_id=private.id, route_table_id=rt.id)
            self.private_subnets.append(private)
            self.private_route_tables.append(rt)

        # The environment's CloudWatch logs (VPC flow logs, the web firewall's log) are encrypted
        # with a key of their own that only CloudWatch Logs in this account and region may use;
        # they are kept for a year.
        self.logs_key = KmsKey(self, "flow-log-key", description=f"{name} VPC flow logs and web firewall logs",
                               enable_key_rotation=True,
                               deletion_window_in_days=30, policy=json.dumps({
                                   "Version": "2012-10-17",
                                   "Statement": [
                                       {"Sid": "AccountAdministers", "Effect": "Allow",
                                        "Principal": {"AWS": f"arn:aws:iam::{env.account_id}:root"},
                                        "Action": "kms:*", "Resource": "*"},
                                       {"Sid": "CloudWatchLogsEncrypts", "Effect": "Allow",
                                        "Principal": {"Service": f"logs.{env.region}.amazonaws.com"},
                                        "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*",
                                                   "kms:GenerateDataKey*", "kms:Describe*"],
                                        "Resource": "*",
                                        "Condition": {"ArnLike": {"kms:EncryptionContext:aws:logs:arn":
                                                                  f"arn:aws:logs:{env.region}:{env.account_id}:*"}}},
                                   ]}, sort_keys=True))
        logs = CloudwatchLogGroup(self, "flow-log-group", name=f"/hashistack/{env.name}/vpc-flow-logs",
                                  retention_in_days=365, kms_key_id=self.logs_key.arn)
        role = IamRole(self, "flow-log-role", name_prefix=f"{name}-flowlogs-", assume_role_policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                           "Action": "sts:AssumeRole"}]}, sort_keys=True))
        IamRolePolicy(self, "flow-log-policy", role=role.id, name="write-flow-logs", policy=json.dumps({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow",
                           "Action": ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"],
                           "Resource": [logs.arn, f"{logs.arn}:*"]}]}))
        FlowLog(self, "flow-log", vpc_id=self.vpc.id, traffic_type="ALL", log_destination_type="cloud-watch-logs",
                log_destination=logs.arn, iam_role_arn=role.arn, max_aggregation_interval=60)
