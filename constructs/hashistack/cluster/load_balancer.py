"""Internal network load balancers in front of the cluster APIs (TLS passes through to the
agents; health checks per API; access logs to the environment's log bucket, see
``access_logs.py``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from cdktf_cdktf_provider_aws.lb import Lb, LbAccessLogs
from cdktf_cdktf_provider_aws.lb_listener import LbListener, LbListenerDefaultAction
from cdktf_cdktf_provider_aws.lb_target_group import LbTargetGroup, LbTargetGroupHealthCheck
from constructs import Construct

from .access_logs import API_LOG_PREFIX, LoadBalancerLogs

__all__ = ["ApiEndpoint", "InternalApiLoadBalancer"]


@dataclass(frozen=True, kw_only=True)
class ApiEndpoint:
    """One API behind a load balancer: its port and how its health is checked (``tcp``, or
    ``https`` with a path where the agent does not demand a client certificate)."""

    name: str
    port: int
    health_protocol: str = "TCP"
    health_path: str | None = None


class InternalApiLoadBalancer(Construct):
    def __init__(self, scope: Construct, id: str, *, name: str, endpoint: ApiEndpoint, vpc_id: str,
                 subnet_ids: Sequence[str], security_group_id: str, logs: LoadBalancerLogs,
                 deletion_protection: bool = True) -> None:
        super().__init__(scope, id)
        self.lb = Lb(self, "lb", name=name[:32], internal=True, load_balancer_type="network",
                     subnets=list(subnet_ids), security_groups=[security_group_id],
                     enable_cross_zone_load_balancing=True, enable_deletion_protection=deletion_protection,
                     access_logs=LbAccessLogs(bucket=logs.bucket.id, prefix=API_LOG_PREFIX, enabled=True),
                     depends_on=[logs.policy])
        health = LbTargetGroupHealthCheck(protocol=endpoint.health_protocol, path=endpoint.health_path,
                                          port="traffic-port", interval=10, healthy_threshold=3,
                                          unhealthy_threshold=3)
        self.target_group = LbTargetGroup(self, "targets", name=name[:32], port=endpoint.port, protocol="TCP",
                                          vpc_id=vpc_id, target_type="instance", health_check=health,
                                          deregistration_delay="30")
        LbListener(self, "listener", load_balancer_arn=self.lb.arn, port=endpoint.port, protocol="TCP",
                   default_action=[LbListenerDefaultAction(type="forward",
                                                           target_group_arn=self.target_group.arn)])
