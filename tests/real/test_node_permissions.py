"""Every node role's effective rights on the environment's secrets, measured: each role's
synthesized IAM policies (inline and attached, AWS managed ones with AWS's documents) evaluated for
every SSM parameter the environment has (the nodes' and the bootstrap's own: the CA key, the
management tokens, the recovery keys), with the decrypt of each through SSM's KMS call and its
encryption context. The allowed set must be exactly the parameters the cluster's secret
catalogue says the role reads, including everything its boot's get-parameters call asks for.

The evaluator is moto's (``moto.iam.access_control.IAMPolicy``, moto 5.2.5: Allow/Deny,
action and resource wildcards, conditions), the one moto's IAM enforcement runs; it is called
with each parameter's ARN because moto's own SSM requests are authorized against ``*`` only
(``BaseResponse.call_action`` has no resource for SSM), which would hide resource scoping."""

from __future__ import annotations

import json
import re

import pytest
from moto.iam.access_control import IAMPolicy, PermissionResult
from moto.iam.aws_managed_policies import aws_managed_policies_data

from hashistack.bootstrap.catalogue import catalogue
from hashistack.cluster import Role
from stacks.environments import ENVIRONMENTS

from tests.support.boot_docs import ROLES

pytestmark = pytest.mark.integration



def role_policies(infra: dict, role: Role) -> list[dict]:
    """The policy documents of one node role: its inline ones and those attached (AWS managed
    policies by AWS's document), Terraform references replaced by an ARN that matches nothing."""
    resources = infra["resource"]
    docs = [json.loads(re.sub(r"\$\{[^}]+\}", "arn:aws:kms:eu-west-1:000000000000:key/unresolved", p["policy"]))
            for key, p in resources["aws_iam_role_policy"].items() if key.startswith(f"cluster_{role.value}_")]
    managed = json.loads(aws_managed_policies_data)
    for key, a in (resources.get("aws_iam_role_policy_attachment") or {}).items():
        if key.startswith(f"cluster_{role.value}_"):
            docs.append(managed[a["policy_arn"].rsplit("/", 1)[1]]["Document"])
    return docs


def allows(docs: list[dict], action: str, resource: str, context: dict[str, str] | None = None) -> bool:
    results = [IAMPolicy(json.dumps(d)).is_action_permitted(action, resource, incoming_condition_values=context)
               for d in docs]
    return PermissionResult.DENIED not in results and PermissionResult.PERMITTED in results


def matrix(env, infra: dict) -> dict[Role, set[str]]:
    """Per role, the parameters it can read in clear: either get-parameter call on the parameter and a
    decrypt of it through SSM (kms:Decrypt with the parameter's ARN as encryption context)."""
    out: dict[Role, set[str]] = {}
    # AWS's own key for SSM (alias/aws/ssm) lets every principal of the account decrypt through
    # SSM by its key policy; only a customer key makes the role's kms:Decrypt statement count.
    aws_managed_key = env.bootstrap.ssm_kms_key_id in (None, "alias/aws/ssm")
    for role in ROLES:
        docs = role_policies(infra, role)
        out[role] = set()
        for item in catalogue(env):
            arn = f"arn:aws:ssm:{env.region}:{env.account_id}:parameter{item.parameter}"
            context = {"kms:ViaService": f"ssm.{env.region}.amazonaws.com", "kms:EncryptionContext:PARAMETER_ARN": arn}
            if ((allows(docs, "ssm:GetParameters", arn) or allows(docs, "ssm:GetParameter", arn))
                    and (aws_managed_key or allows(docs, "kms:Decrypt", "arn:aws:kms:eu-west-1:000000000000:key/any",
                                                   context))):
                out[role].add(item.parameter)
    return out


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=[e.name for e in ENVIRONMENTS])
def test_each_node_role_reads_exactly_its_own_secrets(synth, env):
    allowed = matrix(env, synth.stack(f"{env.name}-infra"))
    items = catalogue(env)
    prefix = f"/hashistack/{env.name}/"
    print(f"\n{env.name}: parameter x role (R: may read)")
    for i in items:
        print(f"  {i.parameter.removeprefix(prefix):34} " + " ".join(
            f"{role.value}={'R' if i.parameter in allowed[role] else '-'}" for role in ROLES))
    for role in ROLES:
        assert allowed[role] == {i.parameter for i in items if role in i.readers}, role
    root_secrets = {i.parameter for i in items if i.name in ("ca_key", "consul_management_token",
                                                             "nomad_management_token", "vault_recovery_keys",
                                                             "vault_initial_root_token")}
    assert root_secrets and not any(root_secrets & allowed[r] for r in ROLES)


def test_the_measurement_sees_a_wildcard_grant(synth):
    """The control: with AWS's AmazonSSMManagedInstanceCore attached (as the roles once had it),
    every role reads every parameter, the CA key and the management tokens included."""
    env = ENVIRONMENTS[0]
    infra = json.loads(json.dumps(synth.stack(f"{env.name}-infra")))
    attachments = infra["resource"].setdefault("aws_iam_role_policy_attachment", {})
    for role in ROLES:
        attachments[f"cluster_{role.value}_ssm"] = {
            "policy_arn": "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore", "role": role.value}
    allowed = matrix(env, infra)
    everything = {i.parameter for i in catalogue(env)}
    assert all(allowed[role] == everything for role in ROLES)
