"""The bootstrap's plain-Python parts, without AWS or a server: the catalogue, the settings'
rules, the certificate names, the PGP key reader and the summary."""

from __future__ import annotations

import base64
import dataclasses
import types
from dataclasses import fields, make_dataclass

import pytest

from hashistack import HashistackError
from hashistack.bootstrap import BootstrapSettings
from hashistack.bootstrap import catalogue as catalogue_module
from hashistack.bootstrap.catalogue import KINDS, Agent, Kind, catalogue
from hashistack.bootstrap.phase_cluster import CONSUL_POLICIES, CONSUL_TOKEN_POLICY, NOMAD_POLICIES
from hashistack.bootstrap.pgp import public_key_base64
from hashistack.bootstrap.pki import agent_names
from hashistack.bootstrap.report import Report
from hashistack.cluster.cloud_init import SecretRef
from hashistack.cluster import ClusterSecrets
from stacks.environments import DEV, ENVIRONMENTS, PROD

BOOT_CATALOGUE_NAMES = (
    # the node-boot catalogue's fields (cluster/secrets.py, ClusterSecrets.catalogue())
    "ca_cert", "consul_gossip_key", "nomad_gossip_key", "nomad_server_cert", "nomad_server_key", "nomad_client_cert",
    "nomad_client_key", "consul_server_cert", "consul_server_key", "vault_cert", "vault_key",
    "consul_agent_token_nomad_server", "consul_agent_token_nomad_client", "consul_agent_token_consul_server",
    "consul_agent_token_vault_server", "consul_dns_token", "nomad_server_consul_token", "nomad_client_consul_token")


def test_every_environment_has_a_catalogue_of_every_node_secret():
    for env in ENVIRONMENTS:
        items = catalogue(env)
        assert all(i.parameter.startswith(f"/hashistack/{env.name}/") for i in items)
        node = {i.name: i.parameter for i in items if i.readers}
        secrets = ClusterSecrets.under(f"/hashistack/{env.name}")
        assert {f.name: getattr(secrets, f.name).parameter for f in fields(secrets)}.items() <= node.items()
        assert len({i.parameter for i in items}) == len(items)


def test_every_name_of_the_boot_catalogue_has_a_kind_and_every_token_a_policy():
    assert set(BOOT_CATALOGUE_NAMES) <= set(KINDS)
    for name in BOOT_CATALOGUE_NAMES:
        if KINDS[name].kind is Kind.CONSUL_TOKEN:
            assert CONSUL_TOKEN_POLICY[name] in CONSUL_POLICIES, name
        # no node holds a Nomad token (a client drains itself with its node secret)
        assert KINDS[name].kind is not Kind.NOMAD_TOKEN, name
        if KINDS[name].kind is Kind.AGENT_CERT:
            assert name.replace("_cert", "_key") in KINDS


def test_rejects_a_node_secret_the_bootstrap_cannot_make(monkeypatch):
    names = [f.name for f in fields(ClusterSecrets)] + ["nomad_license"]
    cls = make_dataclass("ClusterSecrets", [(n, SecretRef) for n in names], frozen=True)
    cls.under = staticmethod(lambda prefix: cls(*(SecretRef.ssm(f"{prefix}/{n.replace('_', '-')}") for n in names)))
    cls.catalogue = lambda self: tuple(  # type: ignore[attr-defined]
        types.SimpleNamespace(field=n, parameter=getattr(self, n).parameter, holds="", readers=())
        for n in names)
    monkeypatch.setattr(catalogue_module, "ClusterSecrets", cls)
    with pytest.raises(HashistackError) as e:
        catalogue(DEV)
    assert str(e.value) == ("bootstrap catalogue: nomad_license = /hashistack/dev/nomad-license: the nodes read this "
                            "parameter but the bootstrap does not know what to generate for it; add it to "
                            "hashistack.bootstrap.catalogue.KINDS")


def test_a_catalogue_with_its_own_listing_is_used_as_is(monkeypatch):
    @dataclasses.dataclass(frozen=True)
    class Spec:
        field: str
        parameter: str
        holds: str
        readers: tuple

    class Listed:
        @staticmethod
        def under(prefix):
            return Listed()

        def catalogue(self):
            return (Spec("ca_cert", "/elsewhere/ca", "the CA", ("every node",)),)

    monkeypatch.setattr(catalogue_module, "ClusterSecrets", Listed)
    items = catalogue(DEV)
    assert items[0].parameter == "/elsewhere/ca" and items[0].holds == "the CA" and items[0].kind is Kind.CA_CERT
    assert [i.name for i in items[1:]] == ["ca_key", "consul_management_token", "nomad_management_token",
                                           "vault_recovery_keys", "vault_initial_root_token"]


@pytest.mark.parametrize("kwargs, message", [
    ({"ssm_kms_key_id": "my-key"}, "bootstrap.ssm_kms_key_id = 'my-key': use a KMS key alias"),
    ({"ca_ttl_h": 10}, "bootstrap.ca_ttl_h = 10: use whole hours from 24"),
    ({"ca_ttl_h": 1000, "agent_cert_ttl_h": 2000},
     "bootstrap.agent_cert_ttl_h = 2000: an agent certificate cannot outlive its CA (ca_ttl_h = 1000)"),
    ({"parent_ca_cert_path": "root.pem"},
     "bootstrap.parent_ca_key_path = None: give both parent_ca_cert_path and parent_ca_key_path, or neither"),
    ({"parent_ca_cert_path": "../root.pem", "parent_ca_key_path": "root.key"},
     "bootstrap.parent_ca_cert_path = '../root.pem': use a file path of letters"),
    ({"recovery_pgp_key_paths": ("/etc/alice.asc",)},
     "bootstrap.recovery_pgp_key_paths = '/etc/alice.asc': use a path relative to the project root"),
    ({"recovery_pgp_key_paths": ("a.asc", "a.asc")},
     "bootstrap.recovery_pgp_key_paths = ('a.asc', 'a.asc'): list each keyholder once"),
    ({"recovery_pgp_key_paths": ("a.asc", "b.asc"), "recovery_threshold": 3},
     "bootstrap.recovery_threshold = 3: use 1 to 2 (the number of keyholders)"),
])
def test_rejects_bad_bootstrap_settings(kwargs, message):
    with pytest.raises(HashistackError) as e:
        dataclasses.replace(DEV, bootstrap=BootstrapSettings(**kwargs))
    assert str(e.value).startswith('environment "dev": ' + message)


def test_threshold_defaults_to_a_majority():
    assert BootstrapSettings().recovery_shares == 1 and BootstrapSettings().threshold == 1
    five = BootstrapSettings(recovery_pgp_key_paths=tuple(f"k{i}.asc" for i in range(5)))
    assert (five.recovery_shares, five.threshold) == (5, 3)


def test_certificate_names_follow_each_products_rules():
    assert agent_names(PROD, Agent.NOMAD_SERVER).dns == ("server.global.nomad", "nomad.prod.example.internal",
                                                          "localhost")
    assert agent_names(PROD, Agent.NOMAD_CLIENT).dns == ("client.global.nomad", "localhost")
    assert agent_names(PROD, Agent.CONSUL_SERVER).dns == ("server.dc1.consul", "consul.prod.example.internal",
                                                           "localhost")
    assert agent_names(PROD, Agent.VAULT).dns == ("vault.prod.example.internal", "localhost")
    assert all(agent_names(PROD, a).ips == ("127.0.0.1",) for a in Agent)
    by_ip = dataclasses.replace(DEV, vault=dataclasses.replace(DEV.vault, address="https://10.10.0.5:8200"))
    assert agent_names(by_ip, Agent.VAULT).dns == ("localhost",)
    assert agent_names(by_ip, Agent.VAULT).ips == ("10.10.0.5", "127.0.0.1")


# A public-key packet header (new format, tag 6) and some body: enough for the reader, which
# only converts between the forms gpg exports and checks the first packet's tag.
_PACKET = bytes([0xC6, 0x33, 0x04]) + bytes(range(50))


def _armored(data: bytes) -> str:
    body = base64.b64encode(data).decode()
    lines = [body[i:i + 64] for i in range(0, len(body), 64)]
    return ("-----BEGIN PGP PUBLIC KEY BLOCK-----\nComment: test\n\n" + "\n".join(lines)
            + "\n=AbCd\n-----END PGP PUBLIC KEY BLOCK-----\n")


def test_pgp_keys_are_read_armored_binary_or_base64(tmp_path):
    expected = base64.b64encode(_PACKET).decode()
    (tmp_path / "a.asc").write_text(_armored(_PACKET))
    (tmp_path / "b.gpg").write_bytes(_PACKET)
    (tmp_path / "c.b64").write_text(expected + "\n")
    for name in ("a.asc", "b.gpg", "c.b64"):
        assert public_key_base64(tmp_path / name, where="w") == expected, name


def test_rejects_a_file_that_is_not_a_pgp_public_key(tmp_path):
    (tmp_path / "key.pem").write_text("-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n")
    with pytest.raises(HashistackError) as e:
        public_key_base64(tmp_path / "key.pem", where="bootstrap.recovery_pgp_key_paths")
    assert "not an OpenPGP public key (armored, binary or base64 as `gpg --export` writes it)" in str(e.value)
    with pytest.raises(HashistackError) as e:
        public_key_base64(tmp_path / "missing.asc", where="bootstrap.recovery_pgp_key_paths")
    assert "no such file; export the keyholder's public key with `gpg --export --armor <id> > <file>`" in str(e.value)


def test_summary_names_outcomes_and_never_more(capsys):
    import sys

    report = Report("secrets", stream=sys.stderr)
    report.note("/x/a", "unchanged")
    assert report.wrote_nothing and report.ok
    assert report.summary() == "bootstrap phase secrets: 0 created, 0 changed, 1 unchanged, 0 refused, 0 skipped" \
                               " - no changes"
    report.note("/x/b", "refused", "is not a UUID")
    assert not report.ok
    assert report.summary().splitlines()[1] == "  refused   /x/b: is not a UUID"
    assert "[secrets] /x/b: refused (is not a UUID)" in capsys.readouterr().err


def test_the_ci_deployer_may_submit_jobs_and_nothing_else():
    """Evaluated with Nomad's policy rules (tests/support/nomad_acl.py): CI registers and reads jobs; it
    cannot exec into an allocation, read its files or logs, or write a node, the agent, the
    operator settings (the scheduler configuration) or a policy (Nomad has no rule for that:
    management tokens only). The operator policy, by contrast, can exec."""
    from hashistack.bootstrap.phase_cluster import NOMAD_POLICIES
    from tests.support import nomad_acl

    rules = NOMAD_POLICIES["ci-deployer"][1]
    caps = nomad_acl.namespace_capabilities(rules, "default")
    assert {"submit-job", "read-job", "list-jobs"} <= caps
    assert not caps & {"alloc-exec", "read-fs", "read-logs", "alloc-lifecycle", "dispatch-job", "csi-write-volume"}
    assert all(nomad_acl.level(rules, r) < nomad_acl.LEVEL["write"] for r in ("node", "agent", "operator", "plugin"))
    assert nomad_acl.level(rules, "operator") == -1
    operator = nomad_acl.namespace_capabilities(NOMAD_POLICIES["operator"][1], "payments")
    assert {"alloc-exec", "read-fs"} <= operator  # the control: the model sees what a write policy grants


def test_the_read_only_policy_reads_and_changes_nothing():
    """On-call's and dashboards' Nomad policy, by Nomad's rules (tests/support/nomad_acl.py): jobs and the
    cluster readable in every namespace; no submit, exec, file or log access, and no write of a
    node, the agent or the operator settings."""
    from hashistack.bootstrap.phase_cluster import NOMAD_POLICIES
    from tests.support import nomad_acl

    rules = NOMAD_POLICIES["read-only"][1]
    caps = nomad_acl.namespace_capabilities(rules, "payments")
    assert {"list-jobs", "read-job"} <= caps
    assert not caps & {"submit-job", "alloc-exec", "read-fs", "read-logs", "alloc-lifecycle", "dispatch-job",
                       "scale-job", "csi-write-volume", "host-volume-write"}
    assert all(nomad_acl.level(rules, r) == nomad_acl.LEVEL["read"] for r in ("node", "agent", "operator", "plugin"))
