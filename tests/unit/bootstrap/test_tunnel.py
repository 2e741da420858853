"""The operator's tunnel (``make tunnel``: ``python -m hashistack.bootstrap --phase tunnel``)
against moto: which servers it forwards to, the session commands, what it tells the operator to
export, and its errors. The sessions themselves need AWS's Session Manager, which no engine here
runs; tests/real/test_day0.py uses the same plan for the whole bring-up."""

from __future__ import annotations

import boto3
import pytest

from hashistack.contracts import JOIN_TAG_KEY
from stacks.environments import DEV
from tests.support.bootstrap_helpers import aws, run_bootstrap  # noqa: F401 (aws: the fixture)

pytestmark = pytest.mark.integration


def launch(role: str, count: int = 1, state: str = "running") -> list[str]:
    ec2 = boto3.client("ec2", region_name=DEV.region)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    ids = [i["InstanceId"] for i in ec2.run_instances(
        ImageId=image, MinCount=count, MaxCount=count, InstanceType="t3.micro",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": JOIN_TAG_KEY, "Value": f"dev-{role}"}]}],
    )["Instances"]]
    if state == "stopped":
        ec2.stop_instances(InstanceIds=ids)
    return ids


def test_the_tunnel_forwards_to_one_running_server_of_each_api(aws, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert run_bootstrap("--env", "dev", "--phase", "secrets", env=aws, monkeypatch=monkeypatch).code == 0
    nomad = sorted(launch("nomad-server", 2))
    launch("consul-server", 1, state="stopped")
    consul = launch("consul-server")
    vault = launch("vault-server")
    launch("nomad-client", 2)  # never a tunnel target
    run = run_bootstrap("--env", "dev", "--phase", "tunnel", "--dry-run", "--local-ports", "vault=18200",
                        env=aws, monkeypatch=monkeypatch)
    assert run.code == 0, run.output
    ca = tmp_path / "cache" / "hashistack" / "dev-cluster-ca.pem"
    assert ca.read_text().startswith("-----BEGIN CERTIFICATE-----")  # the cluster CA from SSM, public
    lines = run.stdout.splitlines()
    assert lines[:3] == [
        f"aws ssm start-session --region {DEV.region} --target {nomad[0]} --document-name "
        "AWS-StartPortForwardingSession --parameters portNumber=4646,localPortNumber=4646",
        f"aws ssm start-session --region {DEV.region} --target {consul[0]} --document-name "
        "AWS-StartPortForwardingSession --parameters portNumber=8501,localPortNumber=8501",
        f"aws ssm start-session --region {DEV.region} --target {vault[0]} --document-name "
        "AWS-StartPortForwardingSession --parameters portNumber=8200,localPortNumber=18200",
    ]
    assert (tmp_path / "cache" / "hashistack" / "dev.tunnel.env").read_text().splitlines() == lines[3:]
    assert lines[3:] == [
        "export NOMAD_ADDR=https://127.0.0.1:4646 VAULT_ADDR=https://127.0.0.1:18200 "
        "CONSUL_HTTP_ADDR=https://127.0.0.1:8501",
        f"export NOMAD_CACERT={ca} VAULT_CACERT={ca} CONSUL_CACERT={ca}",
        "export TF_VAR_nomad_address=https://127.0.0.1:4646 TF_VAR_vault_address=https://127.0.0.1:18200 "
        "TF_VAR_consul_address=127.0.0.1:8501",
    ]


def test_without_servers_the_tunnel_says_which_step_comes_first(aws, monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert run_bootstrap("--env", "dev", "--phase", "secrets", env=aws, monkeypatch=monkeypatch).code == 0
    run = run_bootstrap("--env", "dev", "--phase", "tunnel", "--dry-run", env=aws, monkeypatch=monkeypatch)
    assert run.code == 2
    assert ('error: environment "dev": no running nomad-server instance (tag hashistack-join=dev-nomad-server); '
            "deploy dev-infra first (make deploy ENV=dev-infra)") in run.stderr


def test_local_ports_are_checked(aws, monkeypatch):
    run = run_bootstrap("--env", "dev", "--phase", "tunnel", "--dry-run", "--local-ports", "vault=0",
                        env=aws, monkeypatch=monkeypatch)
    assert run.code == 2
    assert "error: --local-ports 'vault=0': use product=port pairs for nomad, consul, vault with ports 1-65535" \
        in run.stderr


def test_tunnel_options_out_of_place_are_refused(aws, monkeypatch):
    run = run_bootstrap("--env", "dev", "--phase", "cluster", "--local-ports", "vault=18200",
                        env=aws, monkeypatch=monkeypatch)
    assert run.code == 2 and "--local-ports applies to phase tunnel and to --via-tunnel" in run.stderr
    run = run_bootstrap("--env", "dev", "--phase", "cluster", "--vault-addr", "127.0.0.1:8200",
                        env=aws, monkeypatch=monkeypatch)
    assert run.code == 2 and "error: --vault-addr 127.0.0.1:8200: give a URL, e.g. https://127.0.0.1:8200" in run.stderr
    run = run_bootstrap("--env", "dev", "--phase", "tunnel", "--dry-run", "--local-ports", "vault=4646",
                        env=aws, monkeypatch=monkeypatch)
    assert run.code == 2 and "give each API its own local port" in run.stderr
