"""make plan / make apply: a saved plan applied exactly, and refused once another apply changed the
state after it was made (Terraform's own "Saved plan is stale"), on a stack of Terraform's built-in
terraform_data resources with local state, so no provider or network is involved."""

from __future__ import annotations

import json

import pytest

from scripts.saved_plan import PlanError, apply, plan
from scripts.tools import terraform_binary

pytestmark = pytest.mark.integration


def stack(root, value: str) -> None:
    directory = root / "cdktf.out" / "stacks" / "demo"
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "cdk.tf.json").write_text(json.dumps({
        "terraform": {"backend": {"local": {"path": str(root / "demo.tfstate")}}},
        "resource": {"terraform_data": {"release": {"input": value}}},
    }))


@pytest.fixture
def root(tmp_path):
    if terraform_binary() is None:
        pytest.skip("terraform not found (set TERRAFORM or put terraform on PATH)")
    return tmp_path


def test_the_reviewed_plan_is_applied_and_a_stale_one_refused(root):
    stack(root, "0.9.3")
    first, text = plan(root, "demo")
    assert first.name == "demo.tfplan" and 'input  = "0.9.3"' in text.read_text()
    apply(root, first)
    assert '"0.9.3"' in (root / "demo.tfstate").read_text()

    stack(root, "0.9.4")
    reviewed, _ = plan(root, "demo")
    (root / "plans" / "reviewed.tfplan").write_bytes(reviewed.read_bytes())
    stack(root, "0.9.5")
    other, _ = plan(root, "demo")
    apply(root, other)  # another apply comes first
    stale = root / "plans" / "demo.tfplan"
    stale.write_bytes((root / "plans" / "reviewed.tfplan").read_bytes())
    with pytest.raises(PlanError, match=r"PLAN = demo\.tfplan: stale: demo's state changed after the plan was made "
                                        r"\(another apply came first\); make plan ENV=demo again"):
        apply(root, stale)
    assert '"0.9.5"' in (root / "demo.tfstate").read_text()


def test_a_missing_stack_or_plan_says_what_to_run(root):
    with pytest.raises(PlanError, match=r"no synthesized stack 'prod': run HASHISTACK_STACKS=prod make synth first"):
        plan(root, "prod")
    with pytest.raises(PlanError, match=r"no such plan: make plan ENV=<stack> writes plans/<stack>\.tfplan"):
        apply(root, root / "plans" / "prod.tfplan")


def test_a_plan_is_applied_from_a_fresh_checkout_that_only_has_the_plan(root, tmp_path):
    """The CI job that applies after the approval downloads plans/ into a fresh checkout: the stack
    is synthesized again there (make apply does), and terraform is initialized before the apply."""
    stack(root, "1.0.0")
    made, _ = plan(root, "demo")
    fresh = tmp_path / "fresh"
    (fresh / "plans").mkdir(parents=True)
    (fresh / "plans" / "demo.tfplan").write_bytes(made.read_bytes())
    with pytest.raises(PlanError, match=r"no synthesized stack 'demo' to apply the plan in"):
        apply(fresh, fresh / "plans" / "demo.tfplan")
    stack(fresh, "1.0.0")  # the synth make apply runs, with the state where the plan's backend names it
    (fresh / "cdktf.out" / "stacks" / "demo" / "cdk.tf.json").write_text(
        (root / "cdktf.out" / "stacks" / "demo" / "cdk.tf.json").read_text())
    apply(fresh, fresh / "plans" / "demo.tfplan")
    assert '"1.0.0"' in (root / "demo.tfstate").read_text()
