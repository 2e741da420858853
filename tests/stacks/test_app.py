"""The synthesized app: three stacks per environment, their backends and providers, byte-identical
every time. Environments come from ``stacks.environments.ENVIRONMENTS``: adding one adds its cases."""

from __future__ import annotations

import filecmp

import pytest

from hashistack import LocalState, S3State, Tier
from stacks.environments import ENVIRONMENTS

from tests.conftest import ALL_STACKS, synthesize


LOCAL_STATE = [e for e in ENVIRONMENTS if isinstance(e.state, LocalState)]
S3_STATE = [e for e in ENVIRONMENTS if isinstance(e.state, S3State)]


def test_synth_produces_three_stacks_per_environment(synth):
    assert synth.stack_names() == sorted(ALL_STACKS)
    expected = [f"{e.name}{layer}" for e in ENVIRONMENTS for layer in ("-infra", "-vault", "")]
    assert sorted(ALL_STACKS) == sorted(expected) and len(set(expected)) == 3 * len(ENVIRONMENTS)


def test_every_environment_has_a_state_backend_and_only_development_keeps_it_locally():
    assert sorted(e.name for e in LOCAL_STATE + S3_STATE) == sorted(e.name for e in ENVIRONMENTS)
    assert all(e.tier is Tier.DEVELOPMENT for e in LOCAL_STATE)


@pytest.mark.parametrize("name", [n for e in LOCAL_STATE for n in e.stack_names])
def test_local_state_stays_outside_the_synth_output(synth, name):
    backend = synth.stack(name)["terraform"]["backend"]
    assert backend == {"local": {"path": f"../../../.terraform-state/{name}.tfstate"}}


@pytest.mark.parametrize("env", S3_STATE, ids=lambda e: e.name)
def test_shared_environments_use_encrypted_locked_s3_state(synth, env):
    for name in env.stack_names:
        s3 = synth.stack(name)["terraform"]["backend"]["s3"]
        assert s3["bucket"] == env.state.bucket
        assert s3["key"] == f"hashistack/{name}.tfstate"
        assert s3["encrypt"] is True
        if env.state.lock_table is None:  # Terraform's S3 lock file, no DynamoDB table
            assert s3["use_lockfile"] is True and "dynamodb_table" not in s3
        else:
            assert s3["dynamodb_table"] == env.state.lock_table and "use_lockfile" not in s3
        assert s3["region"] == env.region


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_providers_come_from_the_environment(synth, env):
    infra, vault, services = (synth.stack(n) for n in env.stack_names)
    aws = infra["provider"]["aws"][0]
    assert aws["region"] == env.region
    assert aws["allowed_account_ids"] == [env.account_id]
    assert aws["default_tags"][0]["tags"]["environment"] == env.name
    # addresses are variables defaulting to the environment's (the operator's tunnel overrides them)
    assert vault["provider"]["vault"] == [{"address": "${var.vault_address}"}]
    assert vault["variable"]["vault_address"]["default"] == env.vault.address
    assert services["provider"]["nomad"] == [{"address": "${var.nomad_address}", "region": env.nomad.region}]
    assert services["variable"]["nomad_address"]["default"] == env.nomad.address
    assert "vault" not in services["provider"]  # service Vault access is applied with <env>-vault


@pytest.mark.parametrize("name", ALL_STACKS)
def test_no_credentials_in_synthesized_providers(synth, name):
    forbidden = {"token", "secret_id", "access_key", "secret_key", "key_pem", "http_auth"}
    for provider_blocks in synth.stack(name).get("provider", {}).values():
        for block in provider_blocks:
            assert forbidden.isdisjoint(block), f"{name}: provider block carries credentials: {sorted(block)}"


def test_two_synths_are_byte_identical(synth, tmp_path):
    again = synthesize(tmp_path / "again")
    comparison = filecmp.dircmp(synth.outdir, again.outdir)

    def differences(cmp):
        found = cmp.left_only + cmp.right_only + cmp.diff_files + cmp.funny_files
        for sub in cmp.subdirs.values():
            found += differences(sub)
        return found

    assert differences(comparison) == []
    files = sorted(p.relative_to(synth.outdir) for p in synth.outdir.rglob("*") if p.is_file())
    assert files and all((synth.outdir / f).read_bytes() == (again.outdir / f).read_bytes() for f in files)
