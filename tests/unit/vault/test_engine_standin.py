"""The real-engine harness's own rules (tests/support/vault_engine.py), without a server: Terraform's
template syntax is resolved as Terraform resolves it, and a resource type without an API mapping
stops the apply."""

from __future__ import annotations

import pytest

from tests.support import vault_engine as engine

STATE = {
    "vault_mount.pki": {"path": "pki-int"},
    "vault_pki_secret_backend_intermediate_set_signed.ca": {"imported_issuers": ["issuer-1", "issuer-2"]},
}


def test_a_single_reference_keeps_its_type_and_embedded_ones_interpolate():
    assert engine.interpolate("${vault_pki_secret_backend_intermediate_set_signed.ca.imported_issuers}", STATE) == \
        ["issuer-1", "issuer-2"]
    assert engine.interpolate("${element(vault_pki_secret_backend_intermediate_set_signed.ca.imported_issuers, 0)}",
                              STATE) == "issuer-1"
    assert engine.interpolate("https://vault:8200/v1/${vault_mount.pki.path}/ca", STATE) == \
        "https://vault:8200/v1/pki-int/ca"


def test_escapes_are_undone_and_not_interpolated():
    assert engine.interpolate('{{ env "X" }} $${NOMAD_VAR_KEY} %%{ if } $$x', STATE) == \
        '{{ env "X" }} ${NOMAD_VAR_KEY} %{ if } $$x'
    assert engine.references("$${vault_mount.pki.path} ${vault_mount.pki.path}") == {"vault_mount.pki"}


def test_input_variables_resolve_to_the_values_given():
    assert engine.interpolate("${var.secret}", {**STATE, "var.secret": "s3cret"}) == "s3cret"


def test_references_outside_the_applied_vault_resources_are_refused():
    with pytest.raises(engine.UnresolvableExpression, match="input variable 'token'"):
        engine.interpolate("${var.token}", STATE)
    with pytest.raises(engine.UnresolvableExpression, match="data.aws_ssm_parameter"):
        engine.interpolate("${data.aws_ssm_parameter.ca.value}", STATE)
    with pytest.raises(engine.UnresolvableExpression, match="not applied yet"):
        engine.interpolate("${vault_policy.p.name}", STATE)
    with pytest.raises(engine.UnresolvableExpression, match="no attribute 'accessor'"):
        engine.interpolate("${vault_mount.pki.accessor}", STATE)


def test_a_resource_type_without_an_api_mapping_fails_the_apply():
    applier = engine.StackApplier(client=None)  # the check comes before any call to a server
    stack = {"resource": {"vault_identity_group": {"g": {"name": "ops"}}, "nomad_job": {"j": {}}}}
    with pytest.raises(AssertionError, match=r"without an API mapping.*\['vault_identity_group'\]"):
        applier.apply_stack(stack)
