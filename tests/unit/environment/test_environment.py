"""Environment settings are validated when built, with messages naming the environment, the
field, the value and what is accepted."""

from __future__ import annotations

import dataclasses
import re

import pytest

from hashistack import (
    ClientPool,
    ConsulSettings,
    HashistackError,
    LocalState,
    NetworkSettings,
    NomadSettings,
    S3State,
    Tier,
    VaultSettings,
)
from stacks.environments import DEV, ENVIRONMENTS, PROD, UAT


def rebuild(env, **changes):
    """The environment with ``changes`` applied, re-validated."""
    return dataclasses.replace(env, **changes)


def test_the_platform_environments_are_valid_and_distinct():
    names = [e.name for e in ENVIRONMENTS]
    assert len(set(names)) == len(names)
    assert {"dev", "uat", "prod"} <= set(names)
    assert (DEV.tier, UAT.tier, PROD.tier) == (Tier.DEVELOPMENT, Tier.STAGING, Tier.PRODUCTION)
    assert len({e.network.vpc_cidr for e in ENVIRONMENTS}) == len(ENVIRONMENTS)
    assert len({n for e in ENVIRONMENTS for n in e.stack_names}) == 3 * len(ENVIRONMENTS)
    assert PROD.is_production and not UAT.is_production
    assert UAT.awaits_deployments and PROD.awaits_deployments and not DEV.awaits_deployments


def test_settings_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        PROD.name = "other"  # type: ignore[misc]
    with pytest.raises(TypeError):
        PROD.tags["owner"] = "someone"  # type: ignore[index]


def test_environment_tag_is_always_present():
    assert PROD.tags["environment"] == "prod"
    assert list(PROD.tags) == sorted(PROD.tags)


def expect(message_pattern, env, **changes):
    with pytest.raises(HashistackError, match=message_pattern):
        rebuild(env, **changes)


def test_rejects_bad_environment_name():
    expect(r'^environment "Prod_1": name = \'Prod_1\': use at most 20 lowercase letters', PROD, name="Prod_1")


def test_rejects_bad_region():
    expect(r'environment "prod": region = \'europe\': use an AWS region such as \'eu-west-1\'', PROD,
           region="europe")


def test_rejects_bad_account_id():
    expect(r'environment "prod": account_id = \'12345\': use the 12-digit AWS account id', PROD, account_id="12345")
    expect(r'^environment "prod": account_id = 12345: Environment.account_id takes a string, not int; write it in '
           r"quotes, '12345'$", PROD, account_id=12345)


def test_rejects_bad_domain():
    expect(r'environment "prod": domain = \'Prod.Example\': use a lowercase DNS name', PROD, domain="Prod.Example")


def test_rejects_production_server_count_other_than_3_or_5():
    expect(r'environment "prod": nomad.server_count = 4: a production environment runs 3 or 5 \(an odd '
           r'quorum that survives 1 or 2 failures\) Nomad servers', PROD,
           nomad=dataclasses.replace(PROD.nomad, server_count=4))
    expect(r'environment "prod": vault.server_count = 1: a production environment runs 3 or 5', PROD,
           vault=dataclasses.replace(PROD.vault, server_count=1))


def test_single_server_is_allowed_in_development_only():
    assert DEV.nomad.server_count == 1
    expect(r'environment "uat": consul.server_count = 1: a staging environment runs 3 or 5', UAT,
           consul=dataclasses.replace(UAT.consul, server_count=1))


def test_rejects_plain_http_address_outside_development():
    expect(r'environment "prod": vault.address = \'http://vault:8200\': must use https:// \(a production '
           r'environment talks TLS only\)', PROD, vault=dataclasses.replace(PROD.vault, address="http://vault:8200"))
    assert rebuild(DEV, nomad=dataclasses.replace(DEV.nomad, address="http://127.0.0.1:4646"))


def test_rejects_address_with_a_path():
    expect(r'nomad.address = \'https://nomad:4646/v1\': must be scheme://host\[:port\]', PROD,
           nomad=dataclasses.replace(PROD.nomad, address="https://nomad:4646/v1"))


def test_rejects_invalid_vpc_cidr():
    for cidr in ("10.0.0.1/16", "300.0.0.0/16", "8.8.0.0/16", "10.0.0.0/8", "10.0.0.0"):
        expect(rf'environment "prod": network.vpc_cidr = {re.escape(repr(cidr))}: use a private IPv4 CIDR',
               PROD, network=NetworkSettings(vpc_cidr=cidr, az_count=3))


def test_rejects_too_few_azs_in_production():
    expect(r'environment "prod": network.az_count = 2: use 3 to 6 availability zones \(a production '
           r'environment spans at least 3\)', PROD, network=NetworkSettings(vpc_cidr="10.30.0.0/16", az_count=2))


@pytest.mark.parametrize("world", ["0.0.0.0/0", "::/0"])
def test_rejects_world_open_operator_cidr(world):
    expect(rf'network.operator_cidrs = {re.escape(repr(world))}: the cluster APIs are never open to the world',
           PROD, network=NetworkSettings(vpc_cidr="10.30.0.0/16", az_count=3, operator_cidrs=(world,)))


def test_rejects_duplicate_mounts():
    expect(r'vault.pki_intermediate_mount = \'secret\': the KV mount, the root CA and the intermediate CA need '
           r'three distinct mounts', PROD, vault=dataclasses.replace(PROD.vault, pki_intermediate_mount="secret"))


def test_rejects_bad_mount_path():
    expect(r'vault.kv_mount = \'/secret/\': use lowercase letters', PROD,
           vault=dataclasses.replace(PROD.vault, kv_mount="/secret/"))


def test_rejects_local_state_outside_development():
    expect(r'environment "prod": state = LocalState\(.*\): a production environment keeps its state remotely: '
           r'use S3State', PROD, state=LocalState())


def test_rejects_bad_state_bucket():
    expect(r'environment "uat": state.bucket = \'My_Bucket\': use a valid S3 bucket name', UAT,
           state=S3State(bucket="My_Bucket", lock_table="locks"))


def test_rejects_client_pool_sizes_out_of_order():
    expect(r'environment "prod": clients.min_size = 1: run at least 2 client\(s\) in a production environment',
           PROD, clients=ClientPool(instance_type="m6i.large", min_size=1, max_size=3))
    expect(r'clients.desired_size = 9: must lie between min_size \(2\) and max_size \(4\)', PROD,
           clients=ClientPool(instance_type="m6i.large", min_size=2, max_size=4, desired_size=9))


def test_rejects_wrong_settings_type():
    expect(r'^environment "prod": nomad = ConsulSettings\(\.\.\.\): Environment.nomad takes NomadSettings, not '
           r'ConsulSettings; pass NomadSettings\(\.\.\.\)$', PROD,
           nomad=ConsulSettings(address="https://x:1", server_count=3))


def test_rejects_aws_reserved_tag():
    expect(r'environment "prod": tags = \'aws:owner\': tag keys are 1-128 characters and may not start with '
           r'\'aws:\'', PROD, tags={"aws:owner": "x"})


def test_vault_settings_defaults_name_the_platform_mounts():
    vault = VaultSettings(address="https://v:8200", server_count=3)
    assert (vault.kv_mount, vault.pki_root_mount, vault.pki_intermediate_mount, vault.jwt_auth_path) == (
        "secret", "pki-root", "pki-int", "jwt-nomad")
    assert NomadSettings(address="https://n:4646", server_count=3).region == "global"


def test_an_environment_name_names_one_limit_and_suggests_a_fix():
    with pytest.raises(HashistackError, match=r'^environment "Staging": name = \'Staging\': use at most 20 lowercase '
                                              r"letters, digits and '-', starting and ending with a letter or digit "
                                              r"\(it prefixes stack and resource names\), e\.g\. 'staging'$"):
        rebuild(UAT, name="Staging")


def test_state_outside_development_is_encrypted_with_a_kms_key_of_its_own():
    import dataclasses

    from hashistack import HashistackError, S3State
    from stacks.environments import PROD

    with pytest.raises(HashistackError, match=r'^environment "prod": state\.kms_key_id = None: give the ARN of the KMS '
                                              r"key that encrypts the state \(required in a production environment\)"):
        dataclasses.replace(PROD, state=S3State(bucket="example-tfstate-prod", lock_table="example-tfstate-lock"))
    with pytest.raises(HashistackError, match=r"state\.kms_key_id = 'alias/tfstate': give the ARN"):
        dataclasses.replace(PROD, state=dataclasses.replace(PROD.state, kms_key_id="alias/tfstate"))
    assert PROD.state.kms_key_id.startswith(f"arn:aws:kms:{PROD.region}:{PROD.account_id}:")


def test_production_keeps_the_web_firewall_and_deletion_protection():
    expect(r'deletion_protection = False: production keeps deletion protection on; move the environment to another '
           r'tier first to tear it down$', PROD, deletion_protection=False)
    assert PROD.ingress is not None and PROD.ingress.internet_facing and PROD.ingress.firewall_enabled
    expect(r'ingress.web_firewall = False: keep the web application firewall on for an internet-facing production '
           r'load balancer$', PROD, ingress=dataclasses.replace(PROD.ingress, web_firewall=False))
    expect(r"ingress.rate_limit_per_address = 50: use a number of requests per five minutes from 100 to 2000000000",
           PROD, ingress=dataclasses.replace(PROD.ingress, rate_limit_per_address=50))
    # outside production both may be turned off (a teardown; an internal load balancer has no firewall by default)
    assert dataclasses.replace(UAT, deletion_protection=False).deletion_protection is False
    assert UAT.ingress is not None and not UAT.ingress.firewall_enabled
    assert dataclasses.replace(UAT.ingress, web_firewall=True).firewall_enabled


def test_the_apps_environments_have_distinct_names_and_disjoint_networks():
    """Checked when the app loads its environments, before any stack is built: a second
    environment of an existing name (cdktf used to fail 19 s later with "There is already a
    Construct"), a VPC range overlapping another environment's, or one inside an operator network."""
    from hashistack.environment import check_environments
    from stacks.app import build_app

    check_environments(ENVIRONMENTS)  # the project's own pass
    twin = dataclasses.replace(UAT, network=dataclasses.replace(UAT.network, vpc_cidr="10.50.0.0/16"))
    with pytest.raises(HashistackError, match=rf"^ENVIRONMENTS\[{len(ENVIRONMENTS)}\]: name = 'uat': environment "
                                              rf"{ENVIRONMENTS.index(UAT)} has this name too; give each environment "
                                              r"its own name"):
        build_app(environments=(*ENVIRONMENTS, twin), stacks="uat")
    overlapping = dataclasses.replace(UAT, name="zz", network=dataclasses.replace(UAT.network, vpc_cidr="10.20.0.0/17"))
    with pytest.raises(HashistackError, match=rf'^environment "zz": network.vpc_cidr = \'10.20.0.0/17\': overlaps '
                                              rf'environment "uat"\'s {re.escape(UAT.network.vpc_cidr)}'):
        check_environments((*ENVIRONMENTS, overlapping))
    operators = PROD.network.operator_cidrs[0]
    inside = dataclasses.replace(UAT, name="zz", network=dataclasses.replace(UAT.network, vpc_cidr="10.200.0.0/16"))
    assert ipaddress_overlaps(inside.network.vpc_cidr, operators)
    with pytest.raises(HashistackError, match=rf"overlaps the operators' network {re.escape(operators)}"):
        check_environments((*ENVIRONMENTS, inside))


def ipaddress_overlaps(a: str, b: str) -> bool:
    import ipaddress

    return ipaddress.ip_network(a).overlaps(ipaddress.ip_network(b))


def test_the_new_switches_refuse_what_is_not_a_bool():
    expect(r"deletion_protection = 'no': Environment.deletion_protection takes True or False, not str; write True or "
           r"False, without quotes$", DEV, deletion_protection="no")
    expect(r"network.aws_endpoints = 'yes': Environment.network.aws_endpoints takes True or False or None, not str; "
           r"write True or False or None, without quotes$", DEV,
           network=dataclasses.replace(DEV.network, aws_endpoints="yes"))
    assert DEV.ingress is not None
    expect(r"ingress.web_firewall = 1: Environment.ingress.web_firewall takes True or False or None, not int; write "
           r"True or False or None, without quotes$", DEV,
           ingress=dataclasses.replace(DEV.ingress, web_firewall=1))
    from hashistack.environment import check_environments

    with pytest.raises(HashistackError, match=r"^ENVIRONMENTS\[1\] = 'uat': not an Environment; list Environment\(\.\.\.\) "
                                              r"objects$"):
        check_environments((DEV, "uat"))


@pytest.mark.parametrize("field, replace, message", [
    ("region", ("eu-west-1", "us-east-1"),
     "the certificate's region is us-east-1, the environment's is eu-west-1: request or import the certificate in ACM in "
     "eu-west-1, the environment's region (a load balancer uses certificates of its own region only)"),
    ("account", ("333333333333", "999999999999"),
     "the certificate's account is 999999999999, the environment's is 333333333333: use a certificate of account "
     "333333333333, the environment's (ACM certificates are not shared across accounts)"),
    ("partition", ("arn:aws:", "arn:aws-cn:"),
     "the certificate's partition is aws-cn, the environment's is aws: the region eu-west-1 is in the 'aws' partition"),
])
def test_the_ingress_certificate_is_of_the_environments_own_account_and_region(field, replace, message):
    assert PROD.ingress is not None
    arn = PROD.ingress.certificate_arn.replace(*replace)
    with pytest.raises(HashistackError) as error:
        rebuild(PROD, ingress=dataclasses.replace(PROD.ingress, certificate_arn=arn))
    assert str(error.value) == f'environment "prod": ingress.certificate_arn = {arn!r}: {message}'
