"""Phase ``secrets`` of the day-0 bootstrap against a moto server on loopback (the standard
AWS_* variables, AWS_ENDPOINT_URL included, point boto3 at it).

Given an empty account, when the phase runs, then every parameter the dev nodes read exists as a
SecureString under the settings' KMS key, the certificates chain to the CA with exactly the
required names and usages, and nothing secret reaches the output; a second run writes nothing;
``--rotate`` changes exactly one parameter; a parameter in an unexpected shape is reported and
left as it was.
"""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import ipaddress
import uuid

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from hashistack.bootstrap import BootstrapSettings
from hashistack.bootstrap.catalogue import Kind, catalogue
from hashistack.bootstrap.phase_secrets import run_secrets
from hashistack.bootstrap.report import Report
from hashistack.bootstrap.store import ParameterStore
from stacks.environments import DEV
from tests.support.bootstrap_helpers import aws, aws_env, fresh_account, run_bootstrap, ssm  # noqa: F401 (aws: the fixture)

pytestmark = pytest.mark.integration

SECRETS_ITEMS = [i for i in catalogue(DEV) if i.phase == "secrets"]
BY_NAME = {i.name: i for i in SECRETS_ITEMS}

EXPECTED_NAMES = {
    "nomad_server_cert": ({"server.global.nomad", "nomad.dev.example.internal", "localhost"}, {"127.0.0.1"}),
    "nomad_client_cert": ({"client.global.nomad", "localhost"}, {"127.0.0.1"}),
    "consul_server_cert": ({"server.dc1.consul", "consul.dev.example.internal", "localhost"}, {"127.0.0.1"}),
    "vault_cert": ({"vault.dev.example.internal", "localhost"}, {"127.0.0.1"}),
}


def secrets(env, monkeypatch, *extra):
    return run_bootstrap("--env", "dev", "--phase", "secrets", *extra, env=env, monkeypatch=monkeypatch)


def stored() -> dict[str, dict]:
    """Every parameter under the environment's prefix: value, type, KMS key, version."""
    client = ssm()
    out = {}
    pages = client.get_paginator("describe_parameters").paginate(
        ParameterFilters=[{"Key": "Path", "Option": "Recursive", "Values": ["/hashistack/dev"]}])
    for page in pages:
        for p in page["Parameters"]:
            value = client.get_parameter(Name=p["Name"], WithDecryption=True)["Parameter"]["Value"]
            out[p["Name"]] = {"value": value, "type": p["Type"], "key": p.get("KeyId"), "version": p["Version"]}
    return out


def cert(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


def assert_nothing_secret(output: str, params: dict[str, dict]) -> None:
    for name, p in params.items():
        value = p["value"]
        assert value not in output, f"the value of {name} was printed"
        for line in value.splitlines():
            if len(line) >= 16 and not line.startswith("-----"):
                assert line not in output, f"part of {name} was printed"


# ------------------------------------------------------------------------------------------


def test_first_run_creates_every_parameter_the_dev_nodes_read(aws, monkeypatch):
    run = secrets(aws, monkeypatch)
    assert run.code == 0, run.output
    params = stored()
    assert set(params) == {i.parameter for i in SECRETS_ITEMS}
    node_read = {i.parameter for i in SECRETS_ITEMS if i.readers}
    assert node_read, "the catalogue names the parameters the nodes read"
    for name, p in params.items():
        assert p["type"] == "SecureString", name
        assert p["key"] == DEV.bootstrap.ssm_kms_key_id, name
    tags = ssm().list_tags_for_resource(ResourceType="Parameter", ResourceId=BY_NAME["ca_cert"].parameter)["TagList"]
    assert {t["Key"]: t["Value"] for t in tags} == dict(DEV.tags)
    assert f"{len(SECRETS_ITEMS)} created" in run.stdout
    assert_nothing_secret(run.output, params)


def test_certificates_chain_to_the_ca_with_exactly_the_required_names_and_usages(aws, monkeypatch):
    assert secrets(aws, monkeypatch).code == 0
    params = stored()
    value = {i.name: params[i.parameter]["value"] for i in SECRETS_ITEMS}
    ca = cert(value["ca_cert"])
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is True
    ca_usage = ca.extensions.get_extension_for_class(x509.KeyUsage).value
    assert ca_usage.key_cert_sign and ca_usage.crl_sign
    assert ca.not_valid_after_utc - ca.not_valid_before_utc >= dt.timedelta(hours=DEV.bootstrap.ca_ttl_h)
    ca_key = serialization.load_pem_private_key(value["ca_key"].encode(), None)
    assert ca_key.public_key().public_numbers() == ca.public_key().public_numbers()
    for name, (dns, ips) in EXPECTED_NAMES.items():
        leaf = cert(value[name])
        leaf.verify_directly_issued_by(ca)
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert set(san.get_values_for_type(x509.DNSName)) == dns, name
        assert set(san.get_values_for_type(x509.IPAddress)) == {ipaddress.ip_address(i) for i in ips}, name
        assert set(leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == {
            ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH}, name
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
        assert usage.critical and usage.value.digital_signature and not usage.value.key_cert_sign, name
        assert leaf.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
        lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
        assert dt.timedelta(hours=DEV.bootstrap.agent_cert_ttl_h) <= lifetime \
            <= dt.timedelta(hours=DEV.bootstrap.agent_cert_ttl_h, minutes=10), name
        key = serialization.load_pem_private_key(value[name.replace("_cert", "_key")].encode(), None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        assert key.public_key().public_numbers() == leaf.public_key().public_numbers(), name
        assert leaf.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value in dns
    for item in SECRETS_ITEMS:
        if item.kind is Kind.GOSSIP_KEY:
            assert len(base64.b64decode(value[item.name], validate=True)) == 32, item.name
        if item.kind is Kind.CONSUL_TOKEN:
            assert str(uuid.UUID(value[item.name])) == value[item.name], item.name
    assert len({value[i.name] for i in SECRETS_ITEMS if i.kind is Kind.CONSUL_TOKEN}) == \
        len([i for i in SECRETS_ITEMS if i.kind is Kind.CONSUL_TOKEN]), "every token is its own"


def test_second_run_writes_nothing_and_says_so(aws, monkeypatch):
    assert secrets(aws, monkeypatch).code == 0
    before = stored()
    run = secrets(aws, monkeypatch)
    assert run.code == 0, run.output
    assert stored() == before
    assert "no changes" in run.stdout
    assert f"0 created, 0 changed, {len(SECRETS_ITEMS)} unchanged" in run.stdout
    assert_nothing_secret(run.output, before)


@pytest.mark.parametrize("name", ["consul_gossip_key", "nomad_server_cert", "consul_agent_token_nomad_client"
                                  if "consul_agent_token_nomad_client" in BY_NAME else "nomad_gossip_key"])
def test_rotate_changes_exactly_one(aws, monkeypatch, name):
    assert secrets(aws, monkeypatch).code == 0
    before = stored()
    run = secrets(aws, monkeypatch, "--rotate", name)
    assert run.code == 0, run.output
    after = stored()
    changed = sorted(p for p in after if after[p] != before[p])
    assert changed == [BY_NAME[name].parameter]
    assert after[changed[0]]["version"] == before[changed[0]]["version"] + 1
    assert "1 changed" in run.stdout and "0 created" in run.stdout
    if name.endswith("_cert"):
        old, new = cert(before[changed[0]]["value"]), cert(after[changed[0]]["value"])
        assert old.serial_number != new.serial_number
        assert old.public_key().public_numbers() == new.public_key().public_numbers(), "the key is kept"
    assert secrets(aws, monkeypatch).code == 0, "the rotated value is in the expected shape"


def test_rotating_a_key_reissues_its_certificate(aws, monkeypatch):
    assert secrets(aws, monkeypatch).code == 0
    before = stored()
    run = secrets(aws, monkeypatch, "--rotate", "vault_key")
    assert run.code == 0, run.output
    after = stored()
    assert sorted(p for p in after if after[p] != before[p]) == sorted(
        [BY_NAME["vault_key"].parameter, BY_NAME["vault_cert"].parameter])


def test_unexpected_shapes_are_reported_not_overwritten(aws, monkeypatch):
    client = ssm()
    gossip, vault_cert = BY_NAME["consul_gossip_key"].parameter, BY_NAME["vault_cert"].parameter
    client.put_parameter(Name=gossip, Value=base64.b64encode(b"x" * 16).decode(), Type="SecureString",
                         KeyId="alias/aws/ssm")
    client.put_parameter(Name=vault_cert, Value="not a certificate", Type="String")
    run = secrets(aws, monkeypatch)
    assert run.code == 1, run.output
    params = stored()
    assert params[gossip]["value"] == base64.b64encode(b"x" * 16).decode()
    assert params[gossip]["version"] == 1
    assert params[vault_cert] == {"value": "not a certificate", "type": "String", "key": None, "version": 1}
    assert f"refused   {gossip}: decodes to 16 bytes, not 32; replace it deliberately with --rotate " \
           "consul_gossip_key" in run.stdout
    assert f"refused   {vault_cert}: is a String parameter, not a SecureString" in run.stdout
    assert "2 refused" in run.stdout
    # everything else was still created
    assert set(params) == {i.parameter for i in SECRETS_ITEMS}
    # and the deliberate replacement works
    assert secrets(aws, monkeypatch, "--rotate", "consul_gossip_key").code == 1  # vault_cert still refused
    assert len(base64.b64decode(stored()[gossip]["value"])) == 32


def test_a_certificate_with_other_names_is_refused(aws, monkeypatch):
    assert secrets(aws, monkeypatch).code == 0
    env = dataclasses.replace(DEV, nomad=dataclasses.replace(DEV.nomad, region="europe"))
    report = run_secrets(env, ParameterStore(ssm(), kms_key_id="alias/aws/ssm", tags=DEV.tags), Report("secrets"))
    refused = dict((n, d) for n, o, d in report.entries if o == "refused")
    assert set(refused) == {BY_NAME["nomad_server_cert"].parameter, BY_NAME["nomad_client_cert"].parameter}
    assert "server.europe.nomad" in refused[BY_NAME["nomad_server_cert"].parameter]


def test_intermediate_under_an_operator_ca(aws, monkeypatch, tmp_path):
    parent_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Operator Root")])
    now = dt.datetime.now(dt.timezone.utc)
    parent = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(parent_key.public_key())
              .serial_number(1).not_valid_before(now - dt.timedelta(days=1))
              .not_valid_after(now + dt.timedelta(days=3650))
              .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
              .sign(parent_key, hashes.SHA256()))
    (tmp_path / "root.pem").write_bytes(parent.public_bytes(serialization.Encoding.PEM))
    (tmp_path / "root.key").write_bytes(parent_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"sesame")))
    monkeypatch.setenv("HASHISTACK_PARENT_CA_PASSPHRASE", "sesame")
    settings = BootstrapSettings(parent_ca_cert_path="root.pem", parent_ca_key_path="root.key")
    env = dataclasses.replace(DEV, bootstrap=settings)
    report = run_secrets(env, ParameterStore(ssm(), kms_key_id="alias/aws/ssm", tags=DEV.tags),
                         Report("secrets"), root=tmp_path)
    assert report.ok
    params = stored()
    ca = cert(params[BY_NAME["ca_cert"].parameter]["value"])
    ca.verify_directly_issued_by(parent)
    assert ca.issuer == name
    cert(params[BY_NAME["vault_cert"].parameter]["value"]).verify_directly_issued_by(ca)
    assert "sesame" not in repr(report.entries)


def test_refuses_to_rotate_the_ca_or_an_unknown_item(aws, monkeypatch):
    run = secrets(aws, monkeypatch, "--rotate", "ca_cert")
    assert run.code == 2
    assert "--rotate ca_cert: the cluster CA is not rotated in place" in run.stderr
    run = secrets(aws, monkeypatch, "--rotate", "nope")
    assert run.code == 2
    assert "--rotate nope: no such item in phase secrets; use one of consul_gossip_key" in run.stderr \
        or "--rotate nope: no such item in phase secrets; use one of nomad_gossip_key" in run.stderr
    assert stored() == {}, "a refused rotation writes nothing"


def test_refuses_another_account(moto_servers, monkeypatch):
    run = secrets(aws_env(fresh_account(moto_servers, "999999999999")), monkeypatch)
    assert run.code == 2
    assert ('error: environment "dev": account_id = \'111111111111\': the AWS credentials in use belong to account '
            "999999999999") in run.stderr
