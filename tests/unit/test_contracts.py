"""Every seam between the layers, both ends read from the synthesized output (tests/support/seams.py), for
every environment; and a value set on one side only (the defects that broke a bring-up before)
fails the check, naming the seam."""

from __future__ import annotations

import copy
import json

import pytest

from hashistack import contracts
from hashistack.cluster import Role
from hashistack.cluster.cloud_init import decode_user_data
from stacks.environments import DEV, ENVIRONMENTS
from tests.support.seams import SEAMS, node_files, seam_problems


def stacks(synth, env):
    return synth.stack(f"{env.name}-infra"), synth.stack(f"{env.name}-vault"), synth.stack(env.name)


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=[e.name for e in ENVIRONMENTS])
def test_both_ends_of_every_seam_agree(synth, env):
    assert seam_problems(env, *stacks(synth, env)) == []


def test_the_seams_checked_are_the_contracts_table():
    table = contracts.__doc__.split("=====\n", 2)[2]
    for seam in ("Vault JWT auth path", "Vault audience", "Consul audience", "Consul auth method",
                 "workload-identity claims", "API names", "Consul on the node", "CA files", "boot secrets",
                 "certifiable names", "Consul node names"):
        assert seam in table, seam
    assert len(SEAMS) >= 10


def _replace_staged(infra: dict, env, role_value: str, path: str, edit) -> dict:
    """``infra`` with one staged file of one role's user data changed by ``edit``."""
    import base64
    import gzip

    infra = copy.deepcopy(infra)
    for t in infra["resource"]["aws_launch_template"].values():
        if t["name_prefix"] != f"hashistack-{env.name}-{role_value}-":
            continue
        text = decode_user_data(t["user_data"])
        head, body = text.split("\n", 1)
        doc = json.loads(body)
        for f in doc["write_files"]:
            if f["path"].endswith(path):
                f["content"] = edit(f["content"])
        t["user_data"] = base64.b64encode(gzip.compress((head + "\n" + json.dumps(doc)).encode())).decode()
    return infra


def test_a_jwt_auth_path_missing_on_the_clients_is_caught(synth):
    infra, vault, services = stacks(synth, DEV)
    assert "jwt_auth_backend_path" in node_files(infra, DEV)[Role.NOMAD_CLIENT]["/etc/nomad.d/nomad.hcl"]
    broken = _replace_staged(infra, DEV, "nomad-client", "/etc/nomad.d/nomad.hcl",
                             lambda text: "\n".join(l for l in text.splitlines() if "jwt_auth_backend_path" not in l))
    assert seam_problems(DEV, broken, vault, services) == [
        "jwt auth path: nomad-client: vault.jwt_auth_backend_path = None, the contract says 'jwt-nomad'"]


def test_an_agent_token_for_every_node_and_a_hostname_node_are_caught(synth, monkeypatch):
    """The old agent policy (``node_prefix ""``) lets a client's token write a server's node; an
    agent left on its host name no longer matches its token's prefix."""
    from hashistack.bootstrap import phase_cluster

    infra, vault, services = stacks(synth, DEV)
    monkeypatch.setitem(phase_cluster.CONSUL_POLICIES, "agent-nomad-client",
                        'node_prefix "" {\n  policy = "write"\n}\n')
    problems = seam_problems(DEV, infra, vault, services)
    assert "consul node names: agent-nomad-client can write the node consul-server-i-0123456789abcdef0" in problems
    monkeypatch.undo()
    broken = _replace_staged(infra, DEV, "vault-server", "/etc/consul.d/consul.hcl",
                             lambda text: "\n".join(l for l in text.splitlines() if "node_name" not in l))
    assert seam_problems(DEV, broken, vault, services) == [
        "consul node names: vault-server: consul.hcl node_name = None, the contract says "
        "'vault-server-__INSTANCE_ID__'"]


def test_a_vault_name_derived_twice_is_caught(synth):
    infra, vault, services = stacks(synth, DEV)
    broken = _replace_staged(infra, DEV, "vault-server", "/etc/vault.d/vault.hcl",
                             lambda text: text.replace(f'"vault.{DEV.domain}"', '"vault.example.internal"'))
    assert seam_problems(DEV, broken, vault, services) == [
        "api names: vault-server: raft retry_join.leader_tls_servername = 'vault.example.internal', the contract "
        f"says 'vault.{DEV.domain}'"]


def test_service_names_outside_the_permitted_domains_are_caught(synth):
    infra, vault, services = stacks(synth, DEV)
    broken = copy.deepcopy(vault)
    (sign,) = broken["resource"]["vault_pki_secret_backend_root_sign_intermediate"].values()
    sign["permitted_dns_domains"] = [DEV.domain, "service.consul", DEV.ingress.public_domain]
    problems = seam_problems(DEV, infra, broken, services)
    assert problems[0].startswith("certifiable names: dev-vault: permitted_dns_domains = ")
    assert "certifiable names: my-go-app.service.dc1.consul may be issued but lies under none of" in "\n".join(problems)


def test_a_provider_address_pinned_at_synth_is_caught(synth):
    infra, vault, services = stacks(synth, DEV)
    broken = copy.deepcopy(vault)
    broken["provider"]["vault"][0]["address"] = DEV.vault.address
    assert seam_problems(DEV, infra, broken, services) == [
        f"api names: vault provider address = {DEV.vault.address!r}, the contract says '${{var.vault_address}}'"]
