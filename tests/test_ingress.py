"""The ingress load balancer (north-south): settings rules and the synthesized resources of every
environment's <env>-infra. Real Terraform runs on them in tests/test_cluster_real.py: validate for
every environment, and an apply against moto of dev-infra, load balancer included."""

from __future__ import annotations

import dataclasses
import json

import pytest

from hashistack import HashistackError
from hashistack import IngressSettings, Tier
from hashistack.errors import Checker
from stacks.environments import ENVIRONMENTS


CERT = "arn:aws:acm:eu-west-1:111111111111:certificate/0a1b2c3d-4e5f-4a0b-8c9d-0e1f2a3b4c5d"
SETTINGS = IngressSettings(public_domain="example.com", certificate_arn=CERT)


def rejects(match, **changes):
    with pytest.raises(HashistackError, match=match):
        dataclasses.replace(SETTINGS, **changes).validate(Checker("prod-infra/cluster/ingress", "ingress."))


def test_rejects_a_proxy_port_that_would_open_cluster_ports():
    for port in (4646, 8200, 8501, 25000, 80):
        rejects(rf"^prod-infra/cluster/ingress: ingress\.proxy_port = {port}: use a port from 1024 to 65535 outside "
                r"the agents' ports and Nomad's dynamic range \(20000-32000\), e\.g\. 8443$", proxy_port=port)


def test_rejects_a_world_open_internal_load_balancer_and_old_tls():
    rejects(r"ingress\.allowed_cidrs = '0\.0\.0\.0/0': an internal load balancer admits the company's ranges, not the "
            r"world", internet_facing=False)
    rejects(r"ingress\.ssl_policy = 'ELBSecurityPolicy-2016-08': use a TLS 1\.3 policy",
            ssl_policy="ELBSecurityPolicy-2016-08")
    rejects(r"ingress\.certificate_arn = 'cert': use the ARN of an ACM certificate", certificate_arn="cert")


# --- the load balancer in each environment's <env>-infra ------------------------------------------

def group_ref(r: dict, name: str) -> str:
    (address,) = [a for a, g in r["aws_security_group"].items() if g["name"] == name]
    return f"${{aws_security_group.{address}.id}}"


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_each_environment_puts_its_ingress_load_balancer_in_front_of_the_clients(synth, env):
    r = synth.stack(f"{env.name}-infra")["resource"]
    if env.ingress is None:  # no ingress, no load balancer, bucket or attachment for it
        assert [x for x in r["aws_lb"].values() if x["load_balancer_type"] == "application"] == []
        assert "aws_s3_bucket" not in r and "aws_autoscaling_attachment" not in r
        return
    (lb,) = [x for x in r["aws_lb"].values() if x["load_balancer_type"] == "application"]
    assert lb["internal"] is (not env.ingress.internet_facing)
    # internet-facing in the public subnets, internal in the private ones, one per zone
    tier = "public" if env.ingress.internet_facing else "private"
    subnets = [r["aws_subnet"][ref.split(".")[1]] for ref in lb["subnets"]]
    assert [s["tags"]["tier"] for s in subnets] == [tier] * env.network.az_count
    assert lb["enable_deletion_protection"] is (env.tier is not Tier.DEVELOPMENT)
    assert lb["access_logs"]["enabled"] is True and lb["drop_invalid_header_fields"] is True
    https = next(x for x in r["aws_lb_listener"].values() if x["port"] == 443)
    assert https["protocol"] == "HTTPS" and https["certificate_arn"] == env.ingress.certificate_arn
    assert https["ssl_policy"] == env.ingress.ssl_policy == "ELBSecurityPolicy-TLS13-1-2-2021-06"
    http = next(x for x in r["aws_lb_listener"].values() if x["port"] == 80)
    assert http["default_action"][0]["redirect"] == {"port": "443", "protocol": "HTTPS", "status_code": "HTTP_301"}
    (group,) = [x for x in r["aws_lb_target_group"].values() if x["port"] == env.ingress.proxy_port]
    assert group["protocol"] == "HTTPS" and group["health_check"]["path"] == "/ping"
    # the targets: the Nomad client group, and only it
    (attachment,) = r["aws_autoscaling_attachment"].values()
    (clients,) = [a for a, g in r["aws_autoscaling_group"].items() if g["name"] == f"hashistack-{env.name}-nomad-client"]
    assert attachment["autoscaling_group_name"] == f"${{aws_autoscaling_group.{clients}.name}}"
    # the access-log bucket is private, encrypted, and written by the load balancer over TLS only
    (bucket,) = r["aws_s3_bucket"].values()
    assert bucket["bucket_prefix"] == f"hashistack-{env.name}-ingress-logs-"
    (block,) = r["aws_s3_bucket_public_access_block"].values()
    assert block["block_public_policy"] is True and block["restrict_public_buckets"] is True
    (sse,) = r["aws_s3_bucket_server_side_encryption_configuration"].values()
    assert sse["rule"][0]["apply_server_side_encryption_by_default"]["sse_algorithm"] == "AES256"
    policy = json.loads(next(iter(r["aws_s3_bucket_policy"].values()))["policy"])
    deny = next(x for x in policy["Statement"] if x["Effect"] == "Deny")
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    allow = next(x for x in policy["Statement"] if x["Effect"] == "Allow")
    assert allow["Action"] == "s3:PutObject" and allow["Resource"].endswith("/ingress/*")


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_the_ingress_load_balancer_reaches_the_clients_proxy_port_and_nothing_else(synth, env):
    """The synthesized rules: the load balancer's group reaches exactly the clients' proxy port,
    and nothing else reaches that port or admits the load balancer anywhere."""
    r = synth.stack(f"{env.name}-infra")["resource"]
    if env.ingress is None:  # no ingress: no load balancer group, and nothing but peers on the clients
        assert not [g for g in r["aws_security_group"].values() if g["name"].endswith("-ingress-lb")]
        return
    lb = group_ref(r, f"hashistack-{env.name}-ingress-lb")
    clients = group_ref(r, f"hashistack-{env.name}-nomad-client")
    ingress = list(r["aws_vpc_security_group_ingress_rule"].values())
    egress = list(r["aws_vpc_security_group_egress_rule"].values())
    port = env.ingress.proxy_port
    admitted = [(x["security_group_id"], x["ip_protocol"], x["from_port"], x["to_port"]) for x in ingress
                if x.get("referenced_security_group_id") == lb]
    assert admitted == [(clients, "tcp", port, port)]
    assert [(x["referenced_security_group_id"], x.get("cidr_ipv4"), x["ip_protocol"], x["from_port"], x["to_port"])
            for x in egress if x["security_group_id"] == lb] == [(clients, None, "tcp", port, port)]
    # on the clients, the proxy port is open to the load balancer alone
    to_proxy = [x for x in ingress if x["security_group_id"] == clients and x["from_port"] <= port <= x["to_port"]]
    assert [x.get("referenced_security_group_id") for x in to_proxy] == [lb]
    assert not [x for x in ingress if x["security_group_id"] == clients and x.get("cidr_ipv4")]
    # users reach the load balancer on 443 and 80 from the environment's ranges only
    users = sorted((x["from_port"], x["cidr_ipv4"]) for x in ingress if x["security_group_id"] == lb)
    assert users == sorted((p, cidr) for p in (80, 443) for cidr in env.ingress.allowed_cidrs)
