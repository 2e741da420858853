"""CI's state access, measured: the ``hashistack-<env>-ci-state`` policy each ``<env>-infra`` with S3
state synthesizes, evaluated for every request Terraform's S3 backend makes on each of the
environment's three state objects (list, get, put; lock and digest items; the data keys through
S3). The allowed set must be exactly the services layer's.

The evaluator is moto's (``moto.iam.access_control.IAMPolicy``, moto 5.2.5), which is kinder than
AWS in two ways this test closes: it ignores a condition operator it does not know
(``ForAllValues:StringEquals`` included) and passes a condition whose key the request lacks. So
every request here carries every key the policy's conditions name, the policy may use only
``StringEquals`` and ``ForAllValues:StringEquals``, and the latter is evaluated as AWS does for a
request whose key has one value (Terraform's lock requests carry one partition key): as
``StringEquals``."""

from __future__ import annotations

import json

import pytest
from moto.iam.access_control import IAMPolicy, PermissionResult

from hashistack import S3State
from hashistack.state_access import ci_state_policy
from stacks.environments import ENVIRONMENTS

pytestmark = pytest.mark.integration

S3_ENVIRONMENTS = [e for e in ENVIRONMENTS if isinstance(e.state, S3State)]
OPERATORS = {"StringEquals", "ForAllValues:StringEquals"}


def synthesized_policy(synth, env) -> dict:
    policies = synth.stack(f"{env.name}-infra")["resource"]["aws_iam_policy"]
    (policy,) = [p for p in policies.values() if p["name"] == f"hashistack-{env.name}-ci-state"]
    return json.loads(policy["policy"])


def strict(document: dict) -> dict:
    """The document with ``ForAllValues:StringEquals`` as moto can evaluate it (see the module)."""
    out = json.loads(json.dumps(document))
    for statement in out["Statement"]:
        conditions = statement.get("Condition", {})
        assert set(conditions) <= OPERATORS, conditions
        if "ForAllValues:StringEquals" in conditions:
            conditions.setdefault("StringEquals", {}).update(conditions.pop("ForAllValues:StringEquals"))
    return out


def condition_keys(document: dict) -> set[str]:
    return {k for s in document["Statement"] for c in s.get("Condition", {}).values() for k in c}


def requests(env, stack: str) -> list[tuple[str, str, str, dict]]:
    """What Terraform's S3 backend asks for one stack's state: (what, action, resource, context)."""
    state = env.state
    region = state.region or env.region
    key = state.state_key(stack)
    bucket = f"arn:aws:s3:::{state.bucket}"
    table = f"arn:aws:dynamodb:{region}:{env.account_id}:table/{state.lock_table}"
    kms = state.kms_key_id if ":key/" in (state.kms_key_id or "") else \
        f"arn:aws:kms:{region}:{env.account_id}:key/0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0"
    via_s3 = {"kms:ViaService": f"s3.{region}.amazonaws.com", "kms:EncryptionContext:aws:s3:arn": f"{bucket}/{key}"}
    out = [("list", "s3:ListBucket", bucket, {"s3:prefix": key}),
           ("get", "s3:GetObject", f"{bucket}/{key}", {}),
           ("put", "s3:PutObject", f"{bucket}/{key}", {})]
    if state.lock_table is None:  # the S3 lock file beside the state, encrypted like it
        for action in ("s3:GetObject", "s3:PutObject", "s3:DeleteObject"):
            out.append((f"{action} lock", action, f"{bucket}/{state.lock_key(stack)}", {}))
        if state.kms_key_id:
            lock_via_s3 = {**via_s3, "kms:EncryptionContext:aws:s3:arn": f"{bucket}/{state.lock_key(stack)}"}
            out.append(("kms:GenerateDataKey lock via S3", "kms:GenerateDataKey", kms, lock_via_s3))
    else:
        for item in (f"{state.bucket}/{key}", f"{state.bucket}/{key}-md5"):
            for action in ("dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"):
                out.append((f"{action} {item}", action, table, {"dynamodb:LeadingKeys": item}))
    if state.kms_key_id:
        for action in ("kms:Decrypt", "kms:GenerateDataKey"):
            out.append((f"{action} via S3", action, kms, via_s3))
            out.append((f"{action} direct", action, kms, {**via_s3, "kms:ViaService": f"ssm.{region}.amazonaws.com"}))
    return out


def allowed(document: dict, action: str, resource: str, context: dict) -> bool:
    result = IAMPolicy(json.dumps(strict(document))).is_action_permitted(action, resource,
                                                                          incoming_condition_values=context)
    return result is PermissionResult.PERMITTED


@pytest.mark.parametrize("env", S3_ENVIRONMENTS, ids=lambda e: e.name)
def test_ci_reads_writes_and_locks_the_services_state_and_nothing_else(synth, env):
    document = synthesized_policy(synth, env)
    assert document == ci_state_policy(env)
    matrix: dict[str, list[str]] = {}
    for stack in env.stack_names:
        for what, action, resource, context in requests(env, stack):
            # every key the conditions name is in the request, so no condition passes for lack of it
            needed = {k for k in condition_keys(document) if k.split(":")[0] == action.split(":")[0]}
            if action.startswith("s3:") and action != "s3:ListBucket":
                needed.discard("s3:prefix")
            assert needed <= set(context), (what, needed)
            if allowed(document, action, resource, context):
                matrix.setdefault(stack, []).append(what)
    print(json.dumps(matrix, indent=2))
    services = env.stack_names[2]
    assert set(matrix) == {services}, matrix
    expected = [what for what, *_ in requests(env, services) if not what.endswith(" direct")]
    assert matrix[services] == expected
    # the control: the same evaluation of a policy widened to the bucket lets the access layer in
    wide = json.loads(json.dumps(document).replace(f"/{env.state.state_key(services)}\"", "/*\""))
    vault_state = next(r for r in requests(env, env.stack_names[1]) if r[0] == "get")
    assert allowed(wide, *vault_state[1:]) and not allowed(document, *vault_state[1:])


def test_the_backend_and_the_policy_read_one_state_key(synth):
    env = S3_ENVIRONMENTS[0]
    backend = synth.stack(env.name)["terraform"]["backend"]["s3"]
    assert backend["key"] == env.state.state_key(env.name)
    assert f"{env.state.bucket}/{backend['key']}" in json.dumps(ci_state_policy(env))


def test_local_state_has_no_ci_state_policy(synth):
    local = [e for e in ENVIRONMENTS if not isinstance(e.state, S3State)]
    for env in local:
        assert all(p["name"] != f"hashistack-{env.name}-ci-state"
                   for p in synth.stack(f"{env.name}-infra")["resource"].get("aws_iam_policy", {}).values())
    with pytest.raises(TypeError, match="keeps its state locally"):
        ci_state_policy(local[0])
