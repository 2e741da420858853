"""Phase ``cluster``, Vault part, against a real OpenBao server started with a non-dev config, so
it is uninitialized (tests/support/bootstrap_bao.py): init with auto-unseal, the first apply of
``dev-vault`` with the initial root token, the root token revoked, and the operator path working
afterwards. TLS is the Vault certificate phase ``secrets`` stored, verified against its CA; the
first apply is tests/support/bootstrap_vault_apply.py, the Vault harness's applier of the synthesized stack.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hashistack import HashistackError
from hashistack.bootstrap import BootstrapSettings
from hashistack.bootstrap.phase_cluster import Endpoints, run_cluster
from hashistack.bootstrap.phase_secrets import run_secrets
from hashistack.bootstrap.report import Report
from hashistack.bootstrap.store import ParameterStore
from stacks.environments import DEV, UAT
from tests.support import vault_engine as engine
from tests.support.bootstrap_bao import BaoServer
from tests.support.bootstrap_helpers import aws, run_bootstrap, ssm  # noqa: F401 (aws: the fixture)

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
APPLY = ROOT / "tests" / "support" / "bootstrap_vault_apply.py"
PASSWORD = "correct horse battery staple"


def value(env_name: str, name: str) -> str:
    return ssm().get_parameter(Name=f"/hashistack/{env_name}/{name.replace('_', '-')}",
                               WithDecryption=True)["Parameter"]["Value"]


def bao_for(env_name: str, workdir: Path) -> BaoServer:
    return BaoServer(workdir, cert_pem=value(env_name, "vault_cert"), key_pem=value(env_name, "vault_key"),
                     ca_pem=value(env_name, "ca_cert"))


def test_init_first_apply_root_revoked_and_operator_login(aws, monkeypatch, tmp_path, synth):
    assert run_bootstrap("--env", "dev", "--phase", "secrets", env=aws, monkeypatch=monkeypatch).code == 0
    bao = bao_for("dev", tmp_path / "bao")
    try:
        record = tmp_path / "root-token-seen-by-apply"
        stack = synth.outdir / "stacks" / "dev-vault" / "cdk.tf.json"
        run = run_bootstrap("--env", "dev", "--phase", "cluster", "--only", "vault", "--vault-addr", bao.url,
                            "--vault-apply", f"{sys.executable} {APPLY} {record} {stack}", "--vault-operator", "alice",
                            env={**aws, "HASHISTACK_VAULT_OPERATOR_PASSWORD": PASSWORD}, monkeypatch=monkeypatch)
        assert run.code == 0, run.output + bao.log.read_text()[-2000:]
        # initialized and unsealed by the (auto-unseal) seal
        health = bao.get("sys/health").json()
        assert health["initialized"] is True and health["sealed"] is False
        # the recovery keys went to SSM (development, no keyholders listed), never to the output
        keys = json.loads(value("dev", "vault_recovery_keys"))
        assert keys["pgp_encrypted"] is False and keys["threshold"] == 1 and len(keys["keys_base64"]) == 1
        root = record.read_text()
        assert root and root not in run.output and keys["keys_base64"][0] not in run.output
        # the first apply ran with the root token: the stack's policies and the userpass login exist
        assert "created   vault: first apply of dev-vault" in run.stdout
        # the root token is revoked
        assert bao.get("auth/token/lookup-self", token=root).status_code == 403
        assert "changed   vault: initial root token: revoked; a lookup with it is denied" in run.stdout
        # the operator path: log in, hold platform-operator, apply a policy of the stack without root
        login = requests_post(bao, "auth/userpass/login/alice", {"password": PASSWORD})
        assert "platform-operator" in login["auth"]["policies"]
        operator = login["auth"]["client_token"]
        stack_policies = {a["name"]: a["policy"] for a in json.loads(stack.read_text())["resource"]["vault_policy"].values()}
        stored = bao.get("sys/policies/acl/platform-operator", token=operator)
        assert stored.status_code == 200 and stored.json()["data"]["policy"] == stack_policies["platform-operator"]
        name = sorted(stack_policies)[0]
        assert bao.request("PUT", f"sys/policies/acl/{name}", operator, {"policy": stack_policies[name]}
                           ).status_code in (200, 204)
        mounts = bao.get("sys/mounts", token=operator).json()["data"]
        assert {f"{m}/" for m in (DEV.vault.kv_mount, DEV.vault.pki_root_mount, DEV.vault.pki_intermediate_mount)} \
            <= set(mounts), "the whole stack was applied: KV and both CAs"
        assert {f"{DEV.vault.jwt_auth_path}/", "userpass/"} <= set(bao.get("sys/auth", token=operator).json()["data"])
        assert "applied " in run.stderr and "resources" in run.stderr
        mint = bao.request("POST", "auth/token/create", operator, {"policies": ["root"]})
        assert mint.status_code in (400, 403) and "auth" not in mint.json(), "the operator cannot mint a root token"
        # a second run finds Vault initialized and leaves it alone
        again = run_bootstrap("--env", "dev", "--phase", "cluster", "--only", "vault", "--vault-addr", bao.url,
                              env=aws, monkeypatch=monkeypatch)
        assert again.code == 0, again.output
        assert "vault: init: unchanged (already initialized; operators apply dev-vault from now on)" in again.stderr
        assert "no changes" in again.stdout
    finally:
        bao.stop()


def test_a_failed_first_apply_keeps_the_root_token_until_a_second_run_applies(aws, monkeypatch, tmp_path):
    """The root token is revoked only after the first apply succeeded: until then it waits in SSM
    (read by no node), so fixing the cause and running phase cluster again finishes the job
    without generate-root and a quorum of recovery keys."""
    assert run_bootstrap("--env", "dev", "--phase", "secrets", env=aws, monkeypatch=monkeypatch).code == 0
    bao = bao_for("dev", tmp_path / "bao")
    kept = "/hashistack/dev/vault-initial-root-token"
    try:
        record = tmp_path / "root-token-seen-by-apply"
        run = run_bootstrap("--env", "dev", "--phase", "cluster", "--only", "vault", "--vault-addr", bao.url,
                            "--vault-apply", f"{sys.executable} {APPLY} {record} --fail", env=aws,
                            monkeypatch=monkeypatch)
        assert run.code == 1, run.output
        assert (f"refused   vault: first apply of dev-vault: exit 3; the root token stays in {kept} (operators "
                "only) until the apply succeeds: fix the cause and run make bootstrap ENV=dev PHASE=cluster "
                "again") in run.stdout
        root = record.read_text()
        assert bao.get("auth/token/lookup-self", token=root).status_code == 200  # not revoked
        assert value("dev", "vault_initial_root_token") == root
        assert root not in run.output, "the apply's output is relayed with the root token masked"
        assert "failing on purpose; token <initial root token>" in run.stderr
        # the stack's Consul half is applied with the management token phase consul bootstrapped with
        management = value("dev", "consul_management_token")
        assert management and management not in run.output
        assert "consul token <consul management token>; consul CA given" in run.stderr
        # the second run: Vault is initialized, the kept token applies, then is revoked and deleted
        again = run_bootstrap("--env", "dev", "--phase", "cluster", "--only", "vault", "--vault-addr", bao.url,
                              "--vault-apply", f"{sys.executable} {APPLY} {record}", env=aws, monkeypatch=monkeypatch)
        assert again.code == 0, again.output
        assert record.read_text() == root
        assert bao.get("auth/token/lookup-self", token=root).status_code == 403
        assert f"changed   {kept}: deleted: the root token is revoked" in again.stdout
        names = [p["Name"] for p in ssm().describe_parameters()["Parameters"]]
        assert kept not in names
        # a third run has nothing left to do
        third = run_bootstrap("--env", "dev", "--phase", "cluster", "--only", "vault", "--vault-addr", bao.url,
                              env=aws, monkeypatch=monkeypatch)
        assert third.code == 0 and "- no changes" in third.stdout, third.output
    finally:
        bao.stop()


def requests_post(bao: BaoServer, path: str, body: dict) -> dict:
    import requests

    r = requests.post(f"{bao.url}/v1/{path}", json=body, verify=bao.ca_file, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def _gpg(home: Path, *args: str, input: bytes | None = None) -> bytes:
    result = subprocess.run(["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback",
                             "--passphrase", "", *args], input=input, capture_output=True, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout


def _with_idp(env, idp):
    """``env`` with its OIDC login pointed at the identity provider's stand-in (its issuer and CA)."""
    methods = tuple(dataclasses.replace(m, discovery_url=idp.issuer, discovery_ca_pem=idp.ca_pem)
                    if m.kind == "oidc" else m for m in env.vault.login_methods)
    return dataclasses.replace(env, vault=dataclasses.replace(env.vault, login_methods=methods))


def oidc_login(bao: BaoServer, idp, role: str, groups: list[str]):
    return engine.oidc_login(bao.url, bao.ca_file, idp, role, {"sub": "alice", "groups": groups})


@pytest.mark.skipif(shutil.which("gpg") is None, reason="gpg is not installed (Debian package gnupg): it makes "
                    "the keyholder's key pair for this test")
def test_outside_development_recovery_keys_are_encrypted_to_the_keyholders(aws, monkeypatch, tmp_path, synth):
    """UAT: recovery keys to the keyholders, the whole uat-vault stack applied with the root token,
    the OIDC login configured by the bootstrap from HASHISTACK_OIDC_CLIENT_SECRET (the stack holds
    no secret), then the root token revoked: an operator logs in through the provider, and rotates
    the client secret with their own token."""
    store = ParameterStore(ssm(), kms_key_id="alias/aws/ssm", tags=UAT.tags)
    assert run_secrets(UAT, store, Report("secrets")).ok
    bao = bao_for("uat", tmp_path / "bao")
    idp = engine.JwksStandIn(tmp_path).start()
    try:
        endpoints = Endpoints.of(UAT, vault=bao.url)
        # no keyholders listed: refused before anything is sent
        with pytest.raises(HashistackError) as e:
            run_cluster(UAT, store, Report("cluster"), endpoints=endpoints, only=("vault",))
        assert str(e.value).startswith('environment "uat": bootstrap.recovery_pgp_key_paths = (): a staging '
                                       "environment encrypts each recovery key to a keyholder's PGP key")
        assert bao.get("sys/init").json()["initialized"] is False
        # a keyholder's exported public key (armored, as `gpg --export --armor` writes it)
        home = tmp_path / "gnupg"
        home.mkdir(mode=0o700)
        _gpg(home, "--quick-generate-key", "Alice Keyholder <alice@example.com>", "ed25519", "default", "never")
        _gpg(home, "--quick-add-key", _gpg(home, "--list-keys", "--with-colons").decode().split("fpr:::::::::")[1]
             .split(":")[0], "cv25519", "encr", "never")
        (tmp_path / "pgp").mkdir()
        (tmp_path / "pgp" / "alice.asc").write_bytes(_gpg(home, "--export", "--armor", "alice@example.com"))
        env = _with_idp(dataclasses.replace(UAT, bootstrap=BootstrapSettings(recovery_pgp_key_paths=("pgp/alice.asc",))),
                        idp)
        (method,) = [m for m in env.vault.login_methods if m.kind == "oidc"]
        # the OIDC client secret unset: refused before init too (operators log in through it later)
        monkeypatch.delenv(method.secret_variable, raising=False)
        with pytest.raises(HashistackError, match=f"{method.secret_variable} unset: the OIDC login's client secret"):
            run_cluster(env, store, Report("cluster"), endpoints=endpoints, only=("vault",), root=tmp_path)
        assert bao.get("sys/init").json()["initialized"] is False
        idp.clients[method.client_id] = "first-secret"
        monkeypatch.setenv(method.secret_variable, "first-secret")
        record = tmp_path / "root-token-seen-by-apply"
        stack = synth.outdir / "stacks" / "uat-vault" / "cdk.tf.json"
        report = run_cluster(env, store, Report("cluster"), endpoints=endpoints, only=("vault",),
                             vault_apply=f"{sys.executable} {APPLY} {record} {stack}", root=tmp_path)
        assert report.ok, report.summary()
        assert ("vault: oidc login configuration", "changed") in [e[:2] for e in report.entries]
        keys = json.loads(value("uat", "vault_recovery_keys"))
        assert keys["pgp_encrypted"] is True and len(keys["keys_base64"]) == 1
        clear = _gpg(home, "--decrypt", input=base64.b64decode(keys["keys_base64"][0]))
        assert clear and clear not in base64.b64decode(keys["keys_base64"][0]), "only alice can read her key"
        assert bao.get("auth/token/lookup-self", token=record.read_text()).status_code == 403
        assert "first-secret" not in stack.read_text()

        # an operator logs in through the provider: Vault authenticated to it with the secret
        login = oidc_login(bao, idp, "operator", ["platform-operators"])
        assert login.status_code == 200, login.text
        assert login.json()["auth"]["policies"] == ["default", "platform-operator"]
        assert idp.token_requests[-1] == (method.client_id, 200)
        # another group is refused by the role's bound claims
        assert oidc_login(bao, idp, "operator", ["developers"]).status_code in (400, 403)
        # the provider rotates the secret: logins fail until an operator writes the new one
        idp.clients[method.client_id] = "second-secret"
        assert oidc_login(bao, idp, "operator", ["platform-operators"]).status_code != 200
        assert idp.token_requests[-1] == (method.client_id, 401)
        monkeypatch.setenv(method.secret_variable, "second-secret")
        monkeypatch.setenv("VAULT_TOKEN", login.json()["auth"]["client_token"])
        again = run_cluster(env, store, Report("cluster"), endpoints=endpoints, only=("vault",), root=tmp_path)
        assert again.ok, again.summary()
        assert ("vault: oidc login configuration", "changed") in [e[:2] for e in again.entries]
        assert oidc_login(bao, idp, "operator", ["platform-operators"]).status_code == 200
    finally:
        idp.stop()
        bao.stop()


def test_a_kept_root_token_that_is_dead_already_is_cleared_not_retried(aws, monkeypatch, tmp_path):
    """A run that revoked the kept token but stopped before deleting its parameter: the next run
    finds the token dead (lookup 403), deletes the parameter and stops, instead of failing the
    apply with 403 on every run."""
    assert run_bootstrap("--env", "dev", "--phase", "secrets", env=aws, monkeypatch=monkeypatch).code == 0
    bao = bao_for("dev", tmp_path / "bao")
    kept = "/hashistack/dev/vault-initial-root-token"
    try:
        record = tmp_path / "root-token-seen-by-apply"
        args = ("--env", "dev", "--phase", "cluster", "--only", "vault", "--vault-addr", bao.url)
        assert run_bootstrap(*args, "--vault-apply", f"{sys.executable} {APPLY} {record} --fail", env=aws,
                             monkeypatch=monkeypatch).code == 1
        root = value("dev", "vault_initial_root_token")
        bao.request("POST", "auth/token/revoke-self", root)
        assert bao.get("auth/token/lookup-self", token=root).status_code == 403
        again = run_bootstrap(*args, "--vault-apply", f"{sys.executable} {APPLY} {record} --fail", env=aws,
                              monkeypatch=monkeypatch)
        assert again.code == 0, again.output
        assert f"changed   {kept}: deleted: the root token it held is revoked already" in again.stdout
        assert kept not in [p["Name"] for p in ssm().describe_parameters()["Parameters"]]
    finally:
        bao.stop()


def test_a_vault_operator_outside_development_is_refused_before_init(aws, monkeypatch, tmp_path):
    store = ParameterStore(ssm(), kms_key_id="alias/aws/ssm", tags=UAT.tags)
    assert run_secrets(UAT, store, Report("secrets")).ok
    bao = bao_for("uat", tmp_path / "bao")
    try:
        with pytest.raises(HashistackError, match=r"^--vault-operator alice: development environments only"):
            run_cluster(UAT, store, Report("cluster"), endpoints=Endpoints.of(UAT, vault=bao.url), only=("vault",),
                        vault_operator="alice")
        assert bao.get("sys/init").json()["initialized"] is False
    finally:
        bao.stop()
