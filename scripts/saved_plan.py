"""A reviewed plan, applied exactly: the approval step for shared environments.

    python scripts/saved_plan.py plan STACK      # cdktf.out/stacks/STACK -> plans/STACK.tfplan and .txt
    python scripts/saved_plan.py apply PLAN      # applies that plan and nothing else

``plan`` runs ``terraform plan -out`` in the synthesized stack and writes the plan's readable text
beside it, for the approval. ``apply`` applies exactly that file; Terraform itself refuses a plan
whose state changed after it was made ("Saved plan is stale": another apply came first), and so
does this command, saying to plan and review again.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from scripts.tools import terraform_binary  # noqa: E402

STALE = "Saved plan is stale"


class PlanError(Exception):
    pass


def _terraform(stack_dir: Path, *args: str) -> subprocess.CompletedProcess:
    binary = terraform_binary()
    if binary is None:
        raise PlanError("terraform not found: install it or set TERRAFORM (make doctor)")
    return subprocess.run([binary, f"-chdir={stack_dir}", *args], capture_output=True, text=True)


def _step(stack_dir: Path, stack: str, *args: str) -> subprocess.CompletedProcess:
    """One terraform command in ``stack``'s directory, its failure a PlanError with terraform's words."""
    result = _terraform(stack_dir, *args)
    if result.returncode != 0:
        raise PlanError(f"terraform {args[0]} of {stack} failed:\n{result.stderr or result.stdout}")
    return result


def plan(root: Path, stack: str) -> tuple[Path, Path]:
    """The saved plan of ``stack`` and its readable text, under ``root/plans``."""
    stack_dir = root / "cdktf.out" / "stacks" / stack
    if not (stack_dir / "cdk.tf.json").is_file():
        raise PlanError(f"{stack_dir.relative_to(root)}: no synthesized stack {stack!r}: run "
                        f"HASHISTACK_STACKS={stack} make synth first")
    plans = root / "plans"
    plans.mkdir(exist_ok=True)
    out, text = plans / f"{stack}.tfplan", plans / f"{stack}.txt"
    _step(stack_dir, stack, "init", "-input=false", "-no-color")
    _step(stack_dir, stack, "plan", "-input=false", "-no-color", f"-out={out}")
    text.write_text(_step(stack_dir, stack, "show", "-no-color", str(out)).stdout)
    return out, text


def apply(root: Path, plan_file: Path) -> str:
    """Applies exactly ``plan_file`` (``plans/<stack>.tfplan``) to its stack."""
    if not plan_file.is_file():
        raise PlanError(f"PLAN = {str(plan_file)!r}: no such plan: make plan ENV=<stack> writes plans/<stack>.tfplan")
    stack = plan_file.name.removesuffix(".tfplan")
    stack_dir = root / "cdktf.out" / "stacks" / stack
    if not (stack_dir / "cdk.tf.json").is_file():
        raise PlanError(f"{stack_dir.relative_to(root)}: no synthesized stack {stack!r} to apply the plan in: run "
                        f"HASHISTACK_STACKS={stack} make synth (make apply does)")
    # a fresh checkout (the CI job that applies after the approval) has no providers installed yet
    _step(stack_dir, stack, "init", "-input=false", "-no-color")
    result = _terraform(stack_dir, "apply", "-input=false", "-no-color", str(plan_file.resolve()))
    if result.returncode != 0:
        if STALE in (result.stderr + result.stdout):
            raise PlanError(f"PLAN = {plan_file.name}: stale: {stack}'s state changed after the plan was made "
                            f"(another apply came first); make plan ENV={stack} again and review the new plan")
        raise PlanError(f"terraform apply of {plan_file.name} failed:\n{result.stderr or result.stdout}")
    return result.stdout


def main(argv: list[str]) -> int:
    try:
        if len(argv) == 2 and argv[0] == "plan":
            out, text = plan(ROOT, argv[1])
            print(f"saved plan: {out.relative_to(ROOT)}\nfor review:  {text.relative_to(ROOT)}\n"
                  f"once approved: make apply PLAN={out.relative_to(ROOT)}")
        elif len(argv) == 2 and argv[0] == "apply":
            sys.stdout.write(apply(ROOT, Path(argv[1])))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except PlanError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
