"""The cluster layer: port matrix, agent-config models, cloud-init, bad input, and the
synthesized E-infra stacks."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest

from hashistack import HashistackError, NetworkSettings, Tier
from hashistack.cluster import (
    PORT_MATRIX,
    ConsulAgentConfig,
    NomadAgentConfig,
    Role,
    SecretRef,
    VaultServerConfig,
    cidr_rules,
    peer_rules,
)
from hashistack.cluster.cloud_init import BOOT_SCRIPT, STAGING, CloudInit, SecretFile, decode_user_data, require_ref
from hashistack.cluster.secrets import ClusterSecrets
from stacks.environments import DEV, ENVIRONMENTS, PROD, UAT

from tests.support.hcl import parse


# --- port matrix ---------------------------------------------------------------------------------

def test_port_matrix_covers_the_hashicorp_ports():
    ports = {(s.product, s.from_port): s.protocols for s in PORT_MATRIX}
    assert ports[("nomad", 4646)] == ("tcp",) and ports[("nomad", 4647)] == ("tcp",)
    assert ports[("nomad", 4648)] == ("tcp", "udp")
    for port in (8300, 8301, 8302, 8501, 8503, 8600):
        assert ("consul", port) in ports
    assert ports[("consul", 8301)] == ("tcp", "udp") and ports[("consul", 8600)] == ("tcp", "udp")
    assert ("vault", 8200) in ports and ("vault", 8201) in ports


def test_peer_rules_are_group_to_group_with_descriptions():
    rules = peer_rules()
    assert rules and all(r.source is not None and r.cidr is None and r.description for r in rules)
    pairs = {(r.source, r.target, r.from_port, r.protocol) for r in rules}
    assert (Role.NOMAD_CLIENT, Role.NOMAD_SERVER, 4647, "tcp") in pairs
    assert (Role.NOMAD_SERVER, Role.NOMAD_SERVER, 4648, "udp") in pairs
    assert (Role.NOMAD_CLIENT, Role.NOMAD_SERVER, 4648, "tcp") not in pairs  # serf is servers only
    assert (Role.VAULT_SERVER, Role.VAULT_SERVER, 8201, "tcp") in pairs
    assert not any(r.from_port == 8201 and r.source is not Role.VAULT_SERVER for r in rules)
    assert len({r.key for r in rules}) == len(rules)


def test_operators_reach_only_the_load_balancer_api_ports():
    rules = cidr_rules(("10.200.0.0/24",))
    assert {r.target for r in rules} == {Role.LOAD_BALANCER}
    assert sorted(r.from_port for r in rules) == [4646, 8200, 8501]


def test_consul_servers_fetch_nomads_jwks_through_its_load_balancer():
    """Consul's nomad-workloads JWT auth method reads https://nomad.<domain>:4646/.well-known/jwks.json
    on the Consul servers; like Vault's, the call goes through Nomad's internal load balancer."""
    rules = peer_rules()
    assert {r.source for r in rules if r.from_port == 4646 and r.target is Role.LOAD_BALANCER} == {
        Role.VAULT_SERVER, Role.CONSUL_SERVER}
    # the servers' API itself only from the load balancer
    assert {r.source for r in rules if r.from_port == 4646 and r.target is Role.NOMAD_SERVER} == {Role.LOAD_BALANCER}


def test_connect_sidecars_reach_each_other_on_nomads_dynamic_ports_between_clients_only():
    """A sidecar's public listener is a dynamic port (20000-32000 by default, nomad/structs/network.go
    v1.10.2); upstreams on one client dial sidecars on another."""
    sidecar = [(r.source, r.target, r.from_port, r.to_port, r.protocol) for r in peer_rules()
               if r.from_port <= 21000 <= r.to_port or r.from_port <= 31999 <= r.to_port]
    assert sidecar == [(Role.NOMAD_CLIENT, Role.NOMAD_CLIENT, 20000, 32000, "tcp")]


def test_envoy_reaches_the_consul_grpc_tls_port_on_loopback_only():
    (spec,) = [s for s in PORT_MATRIX if s.from_port == 8503]
    assert spec.peers == () and not spec.lb_listener
    assert not [r for r in peer_rules() + cidr_rules(("10.200.0.0/24",)) if r.from_port <= 8503 <= r.to_port]


@pytest.mark.parametrize("cidr", ["0.0.0.0/0", "::/0", "10.0.0.1/24", "not-a-cidr"])
def test_rejects_world_open_or_invalid_cidr_on_agent_ports(cidr):
    with pytest.raises(HashistackError, match=rf"port matrix: operator cidr = {re.escape(repr(cidr))}: agent and API "
                                              r"ports are never open to the world or to an invalid range"):
        cidr_rules((cidr,))


# --- agent configs -----------------------------------------------------------------------------------

def test_nomad_server_config_parses_and_is_hardened():
    cfg = parse(NomadAgentConfig(
        server=True, region="global", datacenter="dc1", aws_region="eu-west-1", join_tag_key="hashistack-join",
        join_tag_value="prod-nomad-server", vault_address="https://vault:8200", bootstrap_expect=3).render())
    server = cfg["server"][0]
    assert server["enabled"] is True and server["bootstrap_expect"] == 3
    assert server["server_join"][0]["retry_join"] == [
        "provider=aws region=eu-west-1 tag_key=hashistack-join tag_value=prod-nomad-server"]
    assert cfg["acl"][0]["enabled"] is True
    tls = cfg["tls"][0]
    assert all(tls[k] is True for k in ("http", "rpc", "verify_server_hostname"))
    # Vault's JWT auth fetches the JWKS from the HTTP API and cannot present a client certificate.
    assert tls["verify_https_client"] is False
    assert cfg["vault"][0]["default_identity"][0]["aud"] == ["vault.io"]
    # the local Consul agent on loopback, over HTTPS verified with the cluster CA
    consul = cfg["consul"][0]
    assert (consul["address"], consul["ssl"], consul["verify_ssl"]) == ("127.0.0.1:8501", True, True)
    assert consul["ca_file"] == "/etc/nomad.d/tls/ca.pem"
    assert cfg["telemetry"][0]["prometheus_metrics"] is True


def test_nomad_client_config_denies_raw_exec():
    cfg = parse(NomadAgentConfig(
        server=False, region="global", datacenter="dc1", aws_region="eu-west-1", join_tag_key="k",
        join_tag_value="v", vault_address="https://vault:8200").render())
    assert cfg["client"][0]["enabled"] is True and "server" not in cfg
    plugins = {next(iter(p)): p[next(iter(p))] for p in cfg["plugin"]}
    assert plugins["raw_exec"]["config"][0]["enabled"] is False
    assert plugins["docker"]["config"][0]["allow_privileged"] is False


def test_the_pause_container_is_pulled_by_digest():
    """Every bridge-networked allocation starts Nomad's infra (pause) container first. Nomad's
    default names it by tag; the clients pin it by digest, which Nomad pulls as ``repo@digest``
    (drivers/docker/utils.go parseDockerImage, v1.10.2). Keys from the docker plugin's config spec
    (drivers/docker/config.go, v1.10.2)."""
    docker = {next(iter(p)): p[next(iter(p))] for p in nomad_config(False)["plugin"]}["docker"]["config"][0]
    assert set(keys(docker)) <= {"allow_privileged", "infra_image", "volumes", "allow_caps", "gc", "auth",
                                 "infra_image_pull_timeout", "pull_activity_timeout", "extra_labels", "logging"}
    repo, _, digest = docker["infra_image"].partition("@")
    assert re.fullmatch(r"registry\.k8s\.io/pause:[0-9.]+", repo) and re.fullmatch(r"sha256:[0-9a-f]{64}", digest)


def test_nomad_clients_serve_their_http_api_on_loopback_only():
    """A task on the bridge cannot reach its client's API (/v1/metrics answers without a token).
    Nomad v1.10.2 refuses a loopback bind whose advertise is defaulted (command/agent/config.go,
    normalizeAdvertise: "Defaulting advertise to localhost is unsafe"), so it must be set; and no
    security group rule targets a client on 4646."""
    from hashistack.cluster import PORT_MATRIX, Role

    client, server = nomad_config(False), nomad_config(True)
    assert client["addresses"][0]["http"] == "127.0.0.1"
    assert client["advertise"][0]["http"] == "127.0.0.1"
    assert "addresses" not in server and server["bind_addr"] == "0.0.0.0"  # the load balancer reaches servers
    assert [p.name for p in PORT_MATRIX if p.from_port <= 4646 <= p.to_port
            and any(target is Role.NOMAD_CLIENT for _, target in p.peers)] == []


# Nomad's agent configuration keys, as decoded by Nomad v1.10.2 (mapstructure tags of ConsulConfig in
# nomad/structs/config/consul.go and of WorkloadIdentityConfig in nomad/structs/config/workload_id.go).
# Nomad's HCL decoder reports unknown keys, but only when the agent starts on a node; here a
# misspelt key fails the test instead.
NOMAD_CONSUL_KEYS = {
    "name", "server_service_name", "server_http_check_name", "server_serf_check_name", "server_rpc_check_name",
    "server_failures_before_critical", "server_failures_before_warning", "client_service_name",
    "client_http_check_name", "client_failures_before_critical", "client_failures_before_warning", "tags",
    "auto_advertise", "checks_use_advertise", "address", "grpc_address", "timeout", "token", "auth", "ssl",
    "share_ssl", "verify_ssl", "grpc_ca_file", "ca_file", "cert_file", "key_file", "server_auto_join",
    "client_auto_join", "namespace", "service_identity", "service_auth_method", "task_identity", "task_auth_method",
}
NOMAD_IDENTITY_KEYS = {"aud", "env", "file", "filepath", "ttl", "extra_claims"}


def keys(block: dict) -> set[str]:
    return {k for k in block if not k.startswith("__")}  # python-hcl2 adds __start_line__ and such


def nomad_config(server: bool) -> dict:
    return parse(NomadAgentConfig(
        server=server, region="global", datacenter="dc1", aws_region="eu-west-1", join_tag_key="k",
        join_tag_value="v", vault_address="https://vault:8200", bootstrap_expect=3).render())


def test_nomad_servers_sign_consul_workload_identities():
    consul = nomad_config(True)["consul"][0]
    assert keys(consul) <= NOMAD_CONSUL_KEYS
    for block in ("service_identity", "task_identity"):
        (identity,) = consul[block]
        assert {k: v for k, v in identity.items() if not k.startswith("__")} == {"aud": ["consul.io"], "ttl": "1h"}
        assert keys(identity) <= NOMAD_IDENTITY_KEYS
    assert "grpc_address" not in consul  # servers run no sidecars


def test_nomad_clients_bootstrap_envoy_from_the_local_consul_agent_and_run_debians_cni_plugins():
    cfg = nomad_config(False)
    consul = cfg["consul"][0]
    assert keys(consul) <= NOMAD_CONSUL_KEYS
    assert consul["grpc_address"] == "127.0.0.1:8503"
    # the Consul agent's gRPC TLS certificate is the cluster CA's, on the node from boot on
    assert consul["grpc_ca_file"] == consul["ca_file"] == "/etc/nomad.d/tls/ca.pem"
    assert consul["ssl"] is True  # so Nomad fingerprints the gRPC TLS port (tests/real/test_day0.py)
    assert cfg["vault"][0]["jwt_auth_backend_path"] == "jwt-nomad"
    assert consul["service_auth_method"] == consul["task_auth_method"] == "nomad-workloads"
    assert "service_identity" not in consul  # signed by the servers
    assert cfg["client"][0]["cni_path"] == "/usr/lib/cni"


@pytest.mark.parametrize("server", [True, False])
def test_consul_agents_serve_grpc_tls_for_envoy_and_servers_enable_connect(server):
    cfg = parse(ConsulAgentConfig(server=server, datacenter="dc1", aws_region="eu-west-1",
                                  join_tag_key="k", join_tag_value="v", node_name="n", bootstrap_expect=3).render())
    assert cfg["ports"][0]["grpc_tls"] == 8503 and cfg["ports"][0]["grpc"] == -1
    grpc = cfg["tls"][0]["grpc"][0]
    assert grpc["verify_incoming"] is False  # Envoy presents no client certificate
    # every agent serves gRPC TLS with its own certificate from the cluster CA
    assert "use_auto_cert" not in grpc and cfg["tls"][0]["defaults"][0]["cert_file"] == "/etc/consul.d/tls/cert.pem"
    if server:
        assert cfg["connect"][0]["enabled"] is True  # the built-in CA: no ca_provider set
        assert "ca_provider" not in cfg["connect"][0]
    else:
        assert "connect" not in cfg


@pytest.mark.parametrize("server", [True, False])
def test_consul_config_parses_and_is_hardened(server):
    cfg = parse(ConsulAgentConfig(server=server, datacenter="dc1", aws_region="eu-west-1",
                                          join_tag_key="k", join_tag_value="v", node_name="n", bootstrap_expect=3).render())
    assert cfg["acl"][0]["enabled"] is True and cfg["acl"][0]["default_policy"] == "deny"
    assert cfg["enable_script_checks"] is False
    assert cfg["addresses"][0]["http"] == "127.0.0.1"
    assert cfg["ports"][0]["https"] == 8501 and cfg["ports"][0]["grpc_tls"] == 8503 and cfg["ports"][0]["grpc"] == -1
    tls = cfg["tls"][0]
    assert tls["defaults"][0]["verify_outgoing"] is True and tls["internal_rpc"][0]["verify_server_hostname"] is True
    assert tls["internal_rpc"][0]["verify_incoming"] is server
    assert tls["https"][0]["verify_incoming"] is False
    # no auto-encrypt: with it a client agent's start waits for an ACL token the servers learn
    # only in the bootstrap's phase cluster (tests/real/test_day0.py replays that order)
    assert "auto_encrypt" not in cfg
    assert cfg["telemetry"][0]["prometheus_retention_time"] == "60s"
    # servers answer HTTPS on their private address (load balancer, operators); clients on loopback only
    assert cfg["addresses"][0]["https"] == ("127.0.0.1 {{ GetPrivateIP }}" if server else "127.0.0.1")


def test_vault_config_parses_and_uses_raft_kms_and_tls():
    cfg = parse(VaultServerConfig(aws_region="eu-west-1", kms_key_id="alias/hashistack-prod-vault-unseal",
                                          join_tag_key="k", join_tag_value="prod-vault-server",
                                          leader_tls_servername="vault.prod.example.internal").render())
    assert cfg["disable_mlock"] is True
    assert cfg["api_addr"].startswith("https://") and cfg["cluster_addr"].startswith("https://")
    raft = cfg["storage"][0]["raft"]
    assert raft["retry_join"][0]["auto_join_scheme"] == "https"
    seal = cfg["seal"][0]["awskms"]
    assert (seal["region"], seal["kms_key_id"]) == ("eu-west-1", "alias/hashistack-prod-vault-unseal")
    assert not {"access_key", "secret_key"} & set(seal)
    listener = cfg["listener"][0]["tcp"]
    assert listener["tls_min_version"] == "tls12" and "tls_disable" not in listener


# --- secrets and cloud-init ------------------------------------------------------------------------

def test_rejects_a_literal_secret_where_a_reference_is_expected():
    secrets = dataclasses.replace(ClusterSecrets.under("/hashistack/dev"), nomad_gossip_key="c2VjcmV0LWtleQ==")
    with pytest.raises(HashistackError, match=r"^dev-infra/cluster: secrets\.nomad_gossip_key = <redacted literal>: "
                                              r"secrets are passed by reference, never as literals"):
        secrets.validate("dev-infra/cluster")
    with pytest.raises(HashistackError, match=r"token = <redacted literal>"):
        require_ref("s.abcdef", where="x", field_name="token")


def test_cloud_init_fetches_secrets_by_reference_at_boot():
    text = CloudInit(role="nomad-server", aws_region="eu-west-1", asg_name="g", repository_url="https://r",
                     key_url="https://r/gpg", key_fingerprint="A" * 40, products=(("nomad", "1.10.2-1"),),
                     services=("nomad",),
                     secrets=(SecretFile(ref=SecretRef.ssm("/hashistack/dev/ca-cert"), path="/etc/nomad.d/tls/ca.pem"),
                              SecretFile(ref=SecretRef.ssm("/hashistack/dev/nomad-gossip-key"),
                                         path="/etc/nomad.d/gossip.hcl", template='server {\n  encrypt = "%s"\n}\n'))
                     ).render()
    assert text.startswith("#cloud-config\n")
    doc = json.loads(text.split("\n", 1)[1])
    assert doc["runcmd"] == [["/usr/local/sbin/hashistack-boot"]]
    script = next(f["content"] for f in doc["write_files"] if f["path"] == "/usr/local/sbin/hashistack-boot")
    assert 'aws ssm get-parameters --region "$REGION" --with-decryption --names "$@"' in script
    assert "fetch /hashistack/dev/ca-cert /hashistack/dev/nomad-gossip-key" in script
    assert "secret /hashistack/dev/nomad-gossip-key /etc/nomad.d/gossip.hcl root 0600" in script


# --- bad environment input for the cluster -------------------------------------------------------------

def test_rejects_production_server_count_of_four():
    with pytest.raises(HashistackError, match=r'environment "prod": consul\.server_count = 4: a production environment '
                                              r'runs 3 or 5'):
        dataclasses.replace(PROD, consul=dataclasses.replace(PROD.consul, server_count=4))


def test_rejects_overlapping_subnets():
    with pytest.raises(HashistackError, match=r"network\.public_subnet_cidrs = '10\.30\.0\.0/24': overlaps "
                                              r"10\.30\.0\.0/20 \(private_subnet_cidrs\)"):
        dataclasses.replace(PROD, network=NetworkSettings(
            vpc_cidr="10.30.0.0/16", az_count=3,
            private_subnet_cidrs=("10.30.0.0/20", "10.30.16.0/20", "10.30.32.0/20"),
            public_subnet_cidrs=("10.30.0.0/24", "10.30.129.0/24", "10.30.130.0/24")))


def test_rejects_subnet_outside_the_vpc():
    with pytest.raises(HashistackError, match=r"network\.private_subnet_cidrs = '10\.99\.0\.0/20': a subnet must lie "
                                              r"inside the VPC 10\.30\.0\.0/16"):
        dataclasses.replace(PROD, network=NetworkSettings(
            vpc_cidr="10.30.0.0/16", az_count=3,
            private_subnet_cidrs=("10.99.0.0/20", "10.30.16.0/20", "10.30.32.0/20")))


def test_rejects_fewer_azs_than_production_requires():
    with pytest.raises(HashistackError, match=r"network\.az_count = 1: use 3 to 6 availability zones"):
        dataclasses.replace(PROD, network=NetworkSettings(vpc_cidr="10.30.0.0/16", az_count=1))


# --- the synthesized stacks ----------------------------------------------------------------------------

def infra(synth, env):
    return synth.stack(f"{env.name}-infra")["resource"]


def user_data(template: dict) -> str:
    return decode_user_data(template["user_data"])


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_network_spans_the_azs_with_private_nodes(synth, env):
    r = infra(synth, env)
    subnets = list(r["aws_subnet"].values())
    assert len(subnets) == 2 * env.network.az_count
    assert {s["availability_zone"] for s in subnets} == set(env.network.zones(env.region))
    assert not any(s["map_public_ip_on_launch"] for s in subnets)
    assert len(r["aws_nat_gateway"]) == (1 if env.tier is Tier.DEVELOPMENT else env.network.az_count)
    assert list(r["aws_default_security_group"].values())[0]["ingress"] == []
    assert list(r["aws_flow_log"].values())[0]["traffic_type"] == "ALL"


def ingress_lb_group(r: dict) -> str | None:
    """The reference to the ingress load balancer's security group (none without ``ingress``)."""
    found = [f"${{aws_security_group.{a}.id}}" for a, g in r["aws_security_group"].items()
             if g["name"].endswith("-ingress-lb")]
    assert len(found) <= 1
    return found[0] if found else None


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_security_rules_have_descriptions_and_nothing_is_world_open_on_a_cluster_port(synth, env):
    r = infra(synth, env)
    users = ingress_lb_group(r)
    ingress = [x for x in r["aws_vpc_security_group_ingress_rule"].values() if x["security_group_id"] != users]
    egress = list(r["aws_vpc_security_group_egress_rule"].values())
    assert all(rule["description"] for rule in ingress + egress)
    assert not any(rule.get("cidr_ipv4") == "0.0.0.0/0" or rule.get("cidr_ipv6") == "::/0" for rule in ingress)
    world_egress = {(rule["from_port"], rule["to_port"]) for rule in egress if rule.get("cidr_ipv4") == "0.0.0.0/0"}
    assert world_egress == {(443, 443), (80, 80)}
    cidr_in = [rule for rule in ingress if rule.get("cidr_ipv4")]
    assert {rule["cidr_ipv4"] for rule in cidr_in} == set(env.network.operator_cidrs)
    # users reach the ingress load balancer on 443 and 80 only, from the environment's allowed ranges
    assert (users is None) is (env.ingress is None)
    to_users = [x for x in r["aws_vpc_security_group_ingress_rule"].values() if x["security_group_id"] == users]
    assert sorted((x["from_port"], x["to_port"], x["cidr_ipv4"]) for x in to_users) == sorted(
        (port, port, cidr) for port in (80, 443) for cidr in (env.ingress.allowed_cidrs if env.ingress else ()))


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_node_groups_are_hardened_and_sized_from_the_environment(synth, env):
    r = infra(synth, env)
    for template in r["aws_launch_template"].values():
        assert template["metadata_options"]["http_tokens"] == "required"
        assert template["metadata_options"]["http_put_response_hop_limit"] == 1
        assert all(m["ebs"]["encrypted"] == "true" for m in template["block_device_mappings"])
        assert template["network_interfaces"][0]["associate_public_ip_address"] == "false"
        assert template["image_id"] == "${data.aws_ami.cluster_image_6F1A1E9E.id}" or template["image_id"].startswith(
            "${data.aws_ami.")
    sizes = {g["name"]: (g["min_size"], g["max_size"]) for g in r["aws_autoscaling_group"].values()}
    assert sizes[f"hashistack-{env.name}-nomad-server"] == (env.nomad.server_count,) * 2
    assert sizes[f"hashistack-{env.name}-consul-server"] == (env.consul.server_count,) * 2
    assert sizes[f"hashistack-{env.name}-vault-server"] == (env.vault.server_count,) * 2
    assert sizes[f"hashistack-{env.name}-nomad-client"] == (env.clients.min_size, env.clients.max_size)
    assert [k["enable_key_rotation"] for k in r["aws_kms_key"].values()] == [True, True]
    assert all(json.loads(k["policy"])["Statement"] for k in r["aws_kms_key"].values())
    log_group = list(r["aws_cloudwatch_log_group"].values())[0]
    assert log_group["retention_in_days"] >= 365 and log_group["kms_key_id"].startswith("${aws_kms_key.")
    assert {lb["enable_deletion_protection"] for lb in r["aws_lb"].values()} == {env.deletion_protection} == {True}
    apis = [lb for lb in r["aws_lb"].values() if lb["load_balancer_type"] == "network"]
    assert sorted(lb["name"] for lb in apis) == [f"hs-{env.name}-{n}" for n in ("consul", "nomad", "vault")]
    assert {lb["internal"] for lb in apis} == {True}


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_iam_is_least_privilege(synth, env):
    r = infra(synth, env)
    for policy in r["aws_iam_role_policy"].values():
        doc = json.loads(policy["policy"])
        for statement in doc["Statement"]:
            actions = statement["Action"]
            assert all("*" not in a for a in actions), actions
            if statement["Resource"] == "*":
                assert actions in (["ec2:DescribeInstances"], ["ec2:DescribeVolumes"], ["kms:Decrypt"],
                                   ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel",
                                    "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"])
                if actions == ["kms:Decrypt"]:
                    condition = statement["Condition"]["StringEquals"]
                    assert condition["kms:ViaService"] == f"ssm.{env.region}.amazonaws.com"
                    own = next(s for s in doc["Statement"] if s.get("Sid") == "ReadOwnSecrets")["Resource"]
                    assert condition["kms:EncryptionContext:PARAMETER_ARN"] == own
            if statement.get("Sid") == "ReadOwnSecrets":
                # the boot's one get-parameters call, and nothing else of SSM
                assert actions == ["ssm:GetParameters"]
                assert all(res.startswith(f"arn:aws:ssm:{env.region}:{env.account_id}:parameter/hashistack/{env.name}/")
                           for res in statement["Resource"])
            if statement.get("Sid") == "AutoUnseal":
                (key_address,) = [a for a in r["aws_kms_key"] if "vault-unseal" in a]
                assert statement["Resource"] == [f"${{aws_kms_key.{key_address}.arn}}"]


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_user_data_holds_configs_and_no_secret(synth, env):
    r = infra(synth, env)
    for template in r["aws_launch_template"].values():
        text = user_data(template)
        assert text.startswith("#cloud-config")
        assert "PRIVATE KEY" not in text and "BEGIN CERTIFICATE" not in text
        assert not re.search(r'encrypt\s*=\s*\\?"[A-Za-z0-9+/]{20,}={0,2}', text)
        assert f"/hashistack/{env.name}/" in text
    vault = next(t for t in r["aws_launch_template"].values() if t["name_prefix"].endswith("vault-server-"))
    doc = json.loads(user_data(vault).split("\n", 1)[1])
    files = {f["path"]: f["content"] for f in doc["write_files"]}
    cfg = parse(files[f"{STAGING}/etc/vault.d/vault.hcl"])
    assert cfg["seal"][0]["awskms"]["kms_key_id"] == f"alias/hashistack-{env.name}-vault-unseal"
    assert "swapoff -a" in files[BOOT_SCRIPT]
    nomad = next(t for t in r["aws_launch_template"].values() if t["name_prefix"].endswith("nomad-server-"))
    nfiles = {f["path"]: f["content"] for f in json.loads(user_data(nomad).split("\n", 1)[1])["write_files"]}
    ncfg = parse(nfiles[f"{STAGING}/etc/nomad.d/nomad.hcl"])
    assert ncfg["server"][0]["bootstrap_expect"] == env.nomad.server_count
    assert ncfg["vault"][0]["default_identity"][0]["aud"] == ["vault.io"]
    assert ncfg["vault"][0]["address"] == f"https://vault.{env.domain}:8200"


def test_uat_and_prod_use_remote_state(synth):
    for env in (UAT, PROD):
        assert "s3" in synth.stack(f"{env.name}-infra")["terraform"]["backend"]
    assert "local" in synth.stack("dev-infra")["terraform"]["backend"]
    assert DEV.network.az_count == 2


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_the_aws_apis_the_nodes_call_are_reached_through_vpc_endpoints(synth, env):
    """Outside development every service the node roles' policies allow (read from the
    synthesized IAM policies) has an interface endpoint with private DNS in the private subnets,
    admitting only the node groups on 443; S3 is a gateway on the private route tables."""
    r = synth.stack(f"{env.name}-infra")["resource"]
    endpoints = list(r.get("aws_vpc_endpoint", {}).values())
    if not env.network.endpoints_enabled(env.tier):
        assert env.tier is Tier.DEVELOPMENT and endpoints == []
        return
    called = {action.split(":")[0] for p in r["aws_iam_role_policy"].values()
              for st in json.loads(p["policy"])["Statement"] if st["Effect"] == "Allow"
              for action in ([st["Action"]] if isinstance(st["Action"], str) else st["Action"])
              if p["name"] == "least-privilege"}
    prefix = f"com.amazonaws.{env.region}."
    interfaces = {e["service_name"].removeprefix(prefix): e for e in endpoints if e["vpc_endpoint_type"] == "Interface"}
    assert set(interfaces) == called - {"s3"} and {"ssm", "ssmmessages", "kms", "ec2", "autoscaling"} <= called
    private = {f"${{aws_subnet.{a}.id}}" for a, sn in r["aws_subnet"].items() if sn["tags"]["tier"] == "private"}
    assert all(e["private_dns_enabled"] is True and set(e["subnet_ids"]) == private for e in interfaces.values())
    (gateway,) = [e for e in endpoints if e["vpc_endpoint_type"] == "Gateway"]
    assert gateway["service_name"] == prefix + "s3" and len(gateway["route_table_ids"]) == env.network.az_count
    (group_ref,) = {g for e in interfaces.values() for g in e["security_group_ids"]}
    rules = [x for x in r["aws_vpc_security_group_ingress_rule"].values() if x["security_group_id"] == group_ref]
    nodes = {f"${{aws_security_group.{a}.id}}" for a, g in r["aws_security_group"].items()
             if g["name"].split(f"hashistack-{env.name}-", 1)[-1] in ("nomad-server", "nomad-client", "consul-server",
                                                                       "vault-server")}
    assert {(x["from_port"], x["to_port"], x["referenced_security_group_id"]) for x in rules} == {
        (443, 443, n) for n in nodes} and len(nodes) == 4
