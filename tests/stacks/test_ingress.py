"""The ingress load balancer (north-south): settings rules and the synthesized resources of every
environment's <env>-infra. Real Terraform runs on them in tests/real/test_cluster_real.py: validate for
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
    if env.ingress is None:  # no ingress, no load balancer, firewall or attachment for it
        assert [x for x in r["aws_lb"].values() if x["load_balancer_type"] == "application"] == []
        assert "aws_wafv2_web_acl" not in r and "aws_autoscaling_attachment" not in r
        return
    (lb,) = [x for x in r["aws_lb"].values() if x["load_balancer_type"] == "application"]
    assert lb["internal"] is (not env.ingress.internet_facing)
    # internet-facing in the public subnets, internal in the private ones, one per zone
    tier = "public" if env.ingress.internet_facing else "private"
    subnets = [r["aws_subnet"][ref.split(".")[1]] for ref in lb["subnets"]]
    assert [s["tags"]["tier"] for s in subnets] == [tier] * env.network.az_count
    assert lb["enable_deletion_protection"] is env.deletion_protection is True
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


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_every_load_balancer_logs_to_the_environments_log_bucket(synth, env):
    """One bucket: private, encrypted, TLS only, events to EventBridge; the ingress load balancer
    writes under ingress/ through the region's ELB account, the API load balancers under api/
    through the log delivery service, for this account's load balancers only."""
    r = synth.stack(f"{env.name}-infra")["resource"]
    (address, bucket), = r["aws_s3_bucket"].items()
    assert bucket["bucket_prefix"] == f"hashistack-{env.name}-lb-logs-"
    assert bucket["force_destroy"] is (not env.deletion_protection)
    ref = f"${{aws_s3_bucket.{address}.id}}"
    prefixes = {lb["load_balancer_type"]: set() for lb in r["aws_lb"].values()}
    for lb in r["aws_lb"].values():
        assert lb["access_logs"]["enabled"] is True and lb["access_logs"]["bucket"] == ref
        prefixes[lb["load_balancer_type"]].add(lb["access_logs"]["prefix"])
    assert prefixes == {"network": {"api"}, **({"application": {"ingress"}} if env.ingress else {})}
    (block,) = r["aws_s3_bucket_public_access_block"].values()
    assert block["block_public_policy"] is True and block["restrict_public_buckets"] is True
    (sse,) = r["aws_s3_bucket_server_side_encryption_configuration"].values()
    assert sse["rule"][0]["apply_server_side_encryption_by_default"]["sse_algorithm"] == "AES256"
    (events,) = r["aws_s3_bucket_notification"].values()
    assert events["bucket"] == ref and events["eventbridge"] is True
    statements = {x["Sid"]: x for x in json.loads(next(iter(r["aws_s3_bucket_policy"].values()))["policy"])["Statement"]}
    assert statements["TlsOnly"]["Effect"] == "Deny"
    assert statements["TlsOnly"]["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    writes = {sid: x for sid, x in statements.items() if x["Effect"] == "Allow" and x["Action"] == "s3:PutObject"}
    assert {sid: x["Resource"].split("}", 1)[1] for sid, x in writes.items()} == {
        "IngressLogDelivery": f"/ingress/AWSLogs/{env.account_id}/*", "ApiLogDelivery": f"/api/AWSLogs/{env.account_id}/*"}
    api = writes["ApiLogDelivery"]
    assert api["Principal"] == {"Service": "delivery.logs.amazonaws.com"}
    assert api["Condition"]["StringEquals"]["aws:SourceAccount"] == env.account_id
    assert api["Condition"]["ArnLike"]["aws:SourceArn"] == f"arn:aws:logs:{env.region}:{env.account_id}:*"


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_an_internet_facing_load_balancer_sits_behind_the_web_firewall(synth, env):
    """AWS WAF in front of an internet-facing ingress (prod here), none in front of an internal
    one: the managed groups block (two named rules count), a rate limit per address blocks, the
    log goes to an aws-waf-logs-* group under the environment's log key, kept a year."""
    from hashistack.cluster.web_firewall import MANAGED_RULE_GROUPS

    r = synth.stack(f"{env.name}-infra")["resource"]
    if env.ingress is None or not env.ingress.internet_facing:
        assert "aws_wafv2_web_acl" not in r and "aws_wafv2_web_acl_association" not in r
        return
    (address, acl), = r["aws_wafv2_web_acl"].items()
    (lb_address,) = [a for a, lb in r["aws_lb"].items() if lb["load_balancer_type"] == "application"]
    (association,) = r["aws_wafv2_web_acl_association"].values()
    assert {k: v for k, v in association.items() if k != "//"} == {"resource_arn": f"${{aws_lb.{lb_address}.arn}}",
                           "web_acl_arn": f"${{aws_wafv2_web_acl.{address}.arn}}"}
    assert acl["scope"] == "REGIONAL" and acl["default_action"] == {"allow": {}}
    managed = {rule["statement"][0]["managed_rule_group_statement"][0]["name"]: rule for rule in acl["rule"]
               if "managed_rule_group_statement" in rule["statement"][0]}
    assert sorted(managed) == sorted(group for group, _ in MANAGED_RULE_GROUPS)
    counted = {name: [o["name"] for o in rule["statement"][0]["managed_rule_group_statement"][0].get(
        "rule_action_override", []) if o["action_to_use"] == [{"count": [{}]}]] for name, rule in managed.items()}
    assert counted == {"AWSManagedRulesAmazonIpReputationList": [],
                       "AWSManagedRulesAnonymousIpList": ["HostingProviderIPList"],
                       "AWSManagedRulesCommonRuleSet": ["SizeRestrictions_BODY"],
                       "AWSManagedRulesKnownBadInputsRuleSet": []}
    assert all(rule["override_action"] == [{"none": [{}]}] for rule in managed.values())  # the groups block
    (rate,) = [rule for rule in acl["rule"] if "rate_based_statement" in rule["statement"][0]]
    assert rate["action"] == [{"block": [{}]}]
    assert rate["statement"][0]["rate_based_statement"] == [{"limit": env.ingress.rate_limit_per_address,
                                                             "aggregate_key_type": "IP"}]
    assert sorted(rule["priority"] for rule in acl["rule"]) == list(range(len(acl["rule"])))
    (logging,) = r["aws_wafv2_web_acl_logging_configuration"].values()
    (group_address,) = [a for a, g in r["aws_cloudwatch_log_group"].items() if g["name"].startswith("aws-waf-logs-")]
    group = r["aws_cloudwatch_log_group"][group_address]
    assert logging["log_destination_configs"] == [f"${{aws_cloudwatch_log_group.{group_address}.arn}}"]
    assert group["retention_in_days"] == 365 and group["kms_key_id"].startswith("${aws_kms_key.")


def test_the_teardown_step_changes_deletion_protection_and_nothing_else():
    """The moto apply test tears dev-infra down as the README says (deletion protection off,
    deployed, then destroy) through tests.support.terraform_tools.teardown_stack; that transform is what
    the library synthesizes for deletion_protection=False, byte for byte."""
    import cdktf

    from stacks.environments import DEV
    from stacks.infra import InfraStack

    from tests.support.terraform_tools import teardown_stack

    def synth(env):
        return json.loads(cdktf.Testing.synth(InfraStack(cdktf.Testing.app(), f"{env.name}-infra", environment=env)))

    protected = synth(DEV)
    unprotected = synth(dataclasses.replace(DEV, deletion_protection=False))
    assert unprotected != protected
    assert teardown_stack(protected) == unprotected


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
