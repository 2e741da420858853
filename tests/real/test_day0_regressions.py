"""The defects that once broke a day-0 bring-up, each put back into today's code, fail the
rehearsal (tests/support/day0.py) at the step that needs what is missing, naming it; and a second run of
the bootstrap changes nothing. tests/real/test_day0.py rehearses every environment as it is."""

from __future__ import annotations

import pytest

from hashistack.cluster import agents
from hashistack.cluster.boot import node_boots
from hashistack.cluster.secrets import ClusterSecrets
from hashistack.hcl import Attr, Block
from stacks.environments import DEV
from tests.support.bootstrap_helpers import aws_env, fresh_account
from tests.support.day0 import Rehearsal, readme_commands, rehearse

pytestmark = pytest.mark.integration



def test_running_the_bootstrap_again_changes_nothing(synth, moto_servers, monkeypatch, tmp_path):
    aws = aws_env(fresh_account(moto_servers, DEV.account_id))
    rehearsal = Rehearsal(DEV, synth, aws, monkeypatch, tmp_path)
    findings = rehearsal.run(again=True)
    assert findings == [] and rehearsal.again, "\n".join(map(str, findings))


def _boots(env=DEV):
    return node_boots(env, ClusterSecrets.under(f"/hashistack/{env.name}"))


def test_client_agents_with_auto_encrypt_deadlock_the_infra_deploy(synth, moto_servers, monkeypatch, tmp_path):
    """Reason 1: a client agent that starts with auto-encrypt waits for a token that only phase
    cluster (a later step) registers."""
    body = agents.ConsulAgentConfig.body
    monkeypatch.setattr(agents.ConsulAgentConfig, "body", lambda self: body(self) + (
        [] if self.server else [Block("auto_encrypt", body=(Attr("tls", True),))]))
    findings = rehearse(DEV, synth, moto_servers, monkeypatch, tmp_path, boots=_boots())
    step = next(f for f in findings if "deploy ENV=dev-infra" in f.step)
    for role in ("nomad-server", "nomad-client", "vault-server"):
        assert f"{role}: consul never becomes ready (auto_encrypt.tls: Start waits until the Consul servers accept" \
               in step.problem
    assert "consul-server: consul" not in step.problem


def test_nomad_reaching_consul_over_plain_http_leaves_connect_jobs_unplaceable(
        synth, moto_servers, monkeypatch, tmp_path):
    """Reason 2: over http Nomad fingerprints Consul's plaintext gRPC port (-1), and the sidecar
    constraint ${attr.consul.grpc} > 0 filters out every client."""
    consul = agents.NomadAgentConfig._consul

    def plain(self):
        block = consul(self)
        items = tuple(Attr("address", "127.0.0.1:8500") if a.name == "address" else
                      Attr("ssl", False) if a.name == "ssl" else a for a in block.body if isinstance(a, Attr)
                      and a.name not in ("verify_ssl", "ca_file")) + tuple(a for a in block.body if isinstance(a, Block))
        return Block("consul", body=items)

    monkeypatch.setattr(agents.NomadAgentConfig, "_consul", plain)
    findings = rehearse(DEV, synth, moto_servers, monkeypatch, tmp_path, boots=_boots())
    (step,) = [f for f in findings if f.step.startswith("`make deploy ENV=dev ")]
    assert "${attr.consul.grpc} > 0 (Connect sidecar) fails: '-1'" in step.problem


def test_a_vault_provider_address_pinned_at_synth_breaks_the_first_apply(synth, moto_servers, monkeypatch, tmp_path):
    """Reason 3: a provider address fixed in the synthesized JSON ignores the tunnel."""
    stack = synth.stack("dev-vault")
    pinned = {**stack, "provider": {**stack["provider"], "vault": [
        {**stack["provider"]["vault"][0], "address": DEV.vault.address}]}}
    findings = rehearse(DEV, synth, moto_servers, monkeypatch, tmp_path, vault_stack=pinned)
    (step,) = [f for f in findings if "PHASE=cluster" in f.step]
    assert f"failed to reach Vault at {DEV.vault.address}" in step.problem
    assert "vault-initial-root-token" in step.problem  # kept for the next run, not revoked


def test_without_the_tunnel_the_apis_are_unreachable(synth, moto_servers, monkeypatch, tmp_path):
    """Reason 3: the internal load balancers' names resolve only inside the VPC."""
    commands = [c.replace(" TUNNEL=1", "") for c in readme_commands() if " tunnel " not in f" {c} "]
    findings = rehearse(DEV, synth, moto_servers, monkeypatch, tmp_path, commands=commands)
    (step,) = [f for f in findings if "PHASE=cluster" in f.step]
    assert "unreachable on the documented operator path" in step.problem


def test_a_jwt_auth_path_set_on_the_vault_side_only_breaks_every_workload_login(
        synth, moto_servers, monkeypatch, tmp_path):
    """Reason 4: the Vault backend at a path the Nomad clients do not log in at."""
    import copy

    stack = copy.deepcopy(synth.stack("dev-vault"))
    for backend in stack["resource"]["vault_jwt_auth_backend"].values():
        if backend.get("jwks_url"):
            backend["path"] = "jwt-elsewhere"
    findings = rehearse(DEV, synth, moto_servers, monkeypatch, tmp_path, vault_stack=stack)
    (step,) = [f for f in findings if f.step.startswith("`make deploy ENV=dev ")]
    assert "jwt auth path: dev-vault: vault_jwt_auth_backend.path = 'jwt-elsewhere', the contract says 'jwt-nomad'" \
        in step.problem


def test_the_systemd_stand_in_starts_what_a_unit_requires_first():
    """systemd starts a unit's Requires= services before it, and fails it when they fail."""
    from tests.support.systemd_standin import ClusterState, start

    class View:
        units = {"app.service": "[Unit]\nRequires=db.service\n[Service]\nExecStart=/bin/app\n",
                 "db.service": "[Service]\nExecStart=/bin/db\n"}

        def unit_text(self, name):
            return self.units.get(name)

        def exists(self, path):
            return False

        def content(self, path):
            raise FileNotFoundError(path)

        def readable(self, path, user):
            return f"{path} does not exist"

        def listdir(self, path):
            return []

    active: dict = {}
    assert start(View(), "app", ClusterState(), active) is None and active == {"db.service": True, "app.service": True}
    view = View()
    view.units = {"app.service": View.units["app.service"]}  # db.service not installed
    active = {}
    assert start(view, "app", ClusterState(), active) == "a dependency failed: db.service: Unit db.service not found"
    assert active == {"db.service": False, "app.service": False}


def test_deploying_the_services_without_the_tunnel_cannot_reach_nomad(synth, moto_servers, monkeypatch, tmp_path):
    """From the operator's machine the services' provider must go through the tunnel too: without
    TUNNEL=1 it dials the private name."""
    commands = [c.replace(" TUNNEL=1", "") if c.startswith("make deploy ENV=prod ") else c for c in readme_commands()]
    findings = rehearse(DEV, synth, moto_servers, monkeypatch, tmp_path, commands=commands)
    (step,) = [f for f in findings if f.step == "`make deploy ENV=dev`"]
    assert f"the Nomad provider dials {DEV.nomad.address}, which the operator's machine cannot reach" in step.problem


def test_a_consul_agent_given_another_agents_key_does_not_start(synth, moto_servers, monkeypatch, tmp_path):
    """The systemd stand-in loads each certificate with its key as the agents do: the client
    agents' key mixed up with the servers' fails the infra deploy."""
    import dataclasses

    boots = _boots()
    role = next(r for r in boots if r.value == "nomad-server")
    ci = boots[role].cloud_init
    swapped = tuple(dataclasses.replace(s, ref=type(s.ref)(s.ref.parameter.replace("consul-client-key", "nomad-server-key")))
                    if s.path == "/etc/consul.d/tls/key.pem" else s for s in ci.secrets)
    boots[role] = dataclasses.replace(boots[role], cloud_init=dataclasses.replace(ci, secrets=swapped))
    findings = rehearse(DEV, synth, moto_servers, monkeypatch, tmp_path, boots=boots)
    step = next(f for f in findings if "deploy ENV=dev-infra" in f.step)
    assert ("nomad-server: consul never becomes ready (/etc/consul.d/tls/key.pem does not match "
            "/etc/consul.d/tls/cert.pem: tls: private key does not match public key)") in step.problem
