"""Security groups generated from the port matrix: one group per role, every peer rule a
group-to-group reference with a description, operators only through the load balancers."""

from __future__ import annotations

from cdktf_cdktf_provider_aws.security_group import SecurityGroup
from cdktf_cdktf_provider_aws.vpc_security_group_egress_rule import VpcSecurityGroupEgressRule
from cdktf_cdktf_provider_aws.vpc_security_group_ingress_rule import VpcSecurityGroupIngressRule
from constructs import Construct

from .ports import AGENTS, PORT_MATRIX, PortSpec, Role, cidr_rules, peer_rules

__all__ = ["ClusterSecurityGroups"]

# Outbound to the internet through NAT, for packages and AWS APIs (SSM, KMS, EC2 describe).
_INTERNET_EGRESS = ((443, "https to package repositories and AWS APIs"), (80, "http to package mirrors"))


class ClusterSecurityGroups(Construct):
    """One security group per :class:`Role`, with the matrix's ingress rules and the matching
    egress rules (a source may open connections exactly where its peer accepts them)."""

    def __init__(self, scope: Construct, id: str, *, vpc_id: str, name_prefix: str,
                 operator_cidrs: tuple[str, ...], matrix: tuple[PortSpec, ...] = PORT_MATRIX) -> None:
        super().__init__(scope, id)
        self.groups: dict[Role, SecurityGroup] = {
            role: SecurityGroup(self, role.value, name=f"{name_prefix}-{role.value}", vpc_id=vpc_id,
                                description=f"hashistack {role.value} (rules from the port matrix)",
                                revoke_rules_on_delete=True, tags={"Name": f"{name_prefix}-{role.value}"})
            for role in Role
        }
        self.rules = peer_rules(matrix) + cidr_rules(operator_cidrs, matrix)
        for rule in self.rules:
            target = self.groups[rule.target]
            VpcSecurityGroupIngressRule(
                self, f"in-{rule.key}", security_group_id=target.id, ip_protocol=rule.protocol,
                from_port=rule.from_port, to_port=rule.to_port, description=rule.description,
                referenced_security_group_id=self.groups[rule.source].id if rule.source else None,
                cidr_ipv4=rule.cidr)
            if rule.source:
                VpcSecurityGroupEgressRule(
                    self, f"out-{rule.key}", security_group_id=self.groups[rule.source].id,
                    ip_protocol=rule.protocol, from_port=rule.from_port, to_port=rule.to_port,
                    referenced_security_group_id=target.id,
                    description=f"to {rule.target.value}: {rule.description}")
        for role in AGENTS:
            for port, why in _INTERNET_EGRESS:
                VpcSecurityGroupEgressRule(
                    self, f"out-{role.value}-internet-{port}", security_group_id=self.groups[role].id,
                    ip_protocol="tcp", from_port=port, to_port=port, cidr_ipv4="0.0.0.0/0", description=why)
