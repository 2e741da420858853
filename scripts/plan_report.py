#!/usr/bin/env python
"""Offline plan report: what a change does to every environment's stacks, as Markdown.

Synthesizes BASE (a git ref, in a temporary worktree) and the working tree, then compares the
stacks resource by resource. No cloud credentials, no network.

    python scripts/plan_report.py [--base REF]        # default: merge base with origin/main, else HEAD~1
    python scripts/plan_report.py --base-dir A --head-dir B   # compare two synth outputs

Exit code: 0 nothing changed, 2 something changed, 1 error (terraform plan -detailed-exitcode).
"""

from __future__ import annotations

import argparse
import base64
import difflib
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "constructs"))  # the library, also when run outside the virtualenv's editable install

from hashistack.terraform_escape import unescape  # noqa: E402

NO_CHANGE, CHANGED, ERROR = 0, 2, 1
_SG_RULES = ("aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule")


# --- reading stacks --------------------------------------------------------------------------------

def strip_metadata(value: Any) -> Any:
    """A synthesized document without cdktf's ``//`` metadata (construct paths and ids)."""
    if isinstance(value, dict):
        return {k: strip_metadata(v) for k, v in value.items() if k != "//"}
    if isinstance(value, list):
        return [strip_metadata(v) for v in value]
    return value


def load_stacks(outdir: Path) -> dict[str, dict[str, dict]]:
    """``{stack: {"type.name": resource config}}`` of a synth output directory."""
    stacks = {}
    for path in sorted((outdir / "stacks").glob("*/cdk.tf.json")):
        doc = json.loads(path.read_text())
        resources = {}
        for rtype, items in doc.get("resource", {}).items():
            for name, config in items.items():
                resources[f"{rtype}.{name}"] = strip_metadata(config)
        stacks[path.parent.name] = resources
    return stacks


# --- diffs -------------------------------------------------------------------------------------------

def _key_of(item: Any) -> str | None:
    if isinstance(item, dict):
        for key in ("Name", "Label", "DestPath", "target", "path"):
            if isinstance(item.get(key), str):
                return item[key]
    return None


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """Leaf paths of a document; list items are named by their Name/Label/DestPath when they have one."""
    out: dict[str, Any] = {}
    if isinstance(value, dict):
        if not value and prefix:
            out[prefix] = {}
        for k in sorted(value):
            out.update(flatten(value[k], f"{prefix}.{k}" if prefix else str(k)))
    elif isinstance(value, list):
        keys = [_key_of(v) for v in value]
        named = all(keys) and len(set(keys)) == len(keys)
        if not value and prefix:
            out[prefix] = []
        for i, item in enumerate(value):
            out.update(flatten(item, f"{prefix}[{keys[i] if named else i}]"))
    else:
        out[prefix] = value
    return out


def field_diff(before: Any, after: Any) -> list[tuple[str, Any, Any]]:
    """(path, before, after) for every leaf that differs; a missing side is None."""
    a, b = flatten(before), flatten(after)
    return [(p, a.get(p), b.get(p)) for p in sorted(set(a) | set(b)) if a.get(p) != b.get(p)]


def _decoded(address: str, config: dict) -> Any:
    """The readable form of a resource: a job decoded, a policy as lines, user data decoded."""
    config = dict(config)
    if address.startswith("nomad_job.") and isinstance(config.get("jobspec"), str):
        config["jobspec"] = json.loads(unescape(config["jobspec"]))
    if address.startswith("aws_launch_template.") and isinstance(config.get("user_data"), str):
        try:
            config["user_data"] = base64.b64decode(config["user_data"]).decode().splitlines()
        except ValueError:
            pass
    return config


@dataclass
class StackChange:
    stack: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    changed: dict[str, list[str]] = field(default_factory=dict)  # address -> Markdown lines
    rules_added: list[str] = field(default_factory=list)
    rules_removed: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def _fmt(value: Any) -> str:
    return "(absent)" if value is None else json.dumps(value, sort_keys=True)


def _rule_text(address: str, config: dict) -> str:
    direction = "ingress" if address.startswith("aws_vpc_security_group_ingress_rule") else "egress"
    port = config.get("from_port")
    ports = f"{port}" if port == config.get("to_port") else f"{port}-{config.get('to_port')}"
    peer = config.get("cidr_ipv4") or config.get("cidr_ipv6") or config.get("referenced_security_group_id", "?")
    return f"{direction} {ports}/{config.get('ip_protocol')} {peer}: {config.get('description', '')}"


def compare_stack(stack: str, before: dict[str, dict], after: dict[str, dict]) -> StackChange:
    change = StackChange(stack)
    for address in sorted(set(after) - set(before)):
        change.added.append(address)
        if address.startswith(_SG_RULES):
            change.rules_added.append(_rule_text(address, after[address]))
    for address in sorted(set(before) - set(after)):
        change.removed.append(address)
        if address.startswith(_SG_RULES):
            change.rules_removed.append(_rule_text(address, before[address]))
    for address in sorted(set(before) & set(after)):
        if before[address] == after[address]:
            continue
        old, new = _decoded(address, before[address]), _decoded(address, after[address])
        if address.startswith("vault_policy."):
            lines = ["```diff", *[line.rstrip("\n") for line in difflib.unified_diff(
                unescape(old.get("policy", "")).splitlines(), unescape(new.get("policy", "")).splitlines(),
                "before", "after", lineterm="")], "```"]
            others = [d for d in field_diff({k: v for k, v in old.items() if k != "policy"},
                                            {k: v for k, v in new.items() if k != "policy"})]
            lines += [f"- `{p}`: {_fmt(a)} → {_fmt(b)}" for p, a, b in others]
        else:
            lines = [f"- `{p}`: {_fmt(a)} → {_fmt(b)}" for p, a, b in field_diff(old, new)]
        change.changed[address] = lines
    return change


def compare(before: dict[str, dict[str, dict]], after: dict[str, dict[str, dict]]) -> list[StackChange]:
    return [compare_stack(s, before.get(s, {}), after.get(s, {})) for s in sorted(set(before) | set(after))]


def render(changes: list[StackChange], *, base: str, head: str) -> str:
    changed = [c for c in changes if not c.empty]
    out = [f"# Plan report: `{base}` → `{head}`", ""]
    if not changed:
        out.append(f"No changes: all {len(changes)} stacks synthesize to the same resources.")
        return "\n".join(out) + "\n"
    total = sum(len(c.added) + len(c.removed) + len(c.changed) for c in changed)
    out.append(f"{total} resource change(s) in {len(changed)} of {len(changes)} stacks "
               f"(unchanged: {', '.join(c.stack for c in changes if c.empty) or 'none'}).")
    for c in changed:
        out += ["", f"## `{c.stack}`: {len(c.added)} to add, {len(c.changed)} to change, {len(c.removed)} to remove"]
        if c.added:
            out += ["", "**Added**", *[f"- `{a}`" for a in c.added if not a.startswith(_SG_RULES)]]
        if c.removed:
            out += ["", "**Removed**", *[f"- `{a}`" for a in c.removed if not a.startswith(_SG_RULES)]]
        if c.rules_added or c.rules_removed:
            out += ["", "**Security group port rules**", *[f"- added: {r}" for r in c.rules_added],
                    *[f"- removed: {r}" for r in c.rules_removed]]
        for address, lines in c.changed.items():
            out += ["", f"**Changed** `{address}`", *lines]
    return "\n".join(out) + "\n"


# --- synthesizing -------------------------------------------------------------------------------------

SYNTH_CODE = "import sys; from stacks.app import build_app; build_app(outdir=sys.argv[1]).synth()"
"""Synthesizes the app found on the path into the directory given as the first argument."""


def app_env(tree: Path) -> dict[str, str]:
    """The environment a process needs to run the app of ``tree`` with that tree's own library
    code, on the project's Node 22 (for jsii) with the jsii package cache on."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(tree / "constructs"), str(tree)])
    node_bin = ROOT / "node_modules" / ".bin"
    if node_bin.is_dir():
        env["PATH"] = f"{node_bin}{os.pathsep}{env.get('PATH', '')}"
    env.setdefault("JSII_RUNTIME_PACKAGE_CACHE", "enabled")
    return env


def synthesize(tree: Path, outdir: Path) -> None:
    """Synthesizes the app of ``tree`` (its own library code) into ``outdir``."""
    result = subprocess.run([sys.executable, "-c", SYNTH_CODE, str(outdir)], cwd=tree, env=app_env(tree),
                            capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"synth of {tree} failed:\n{result.stderr[-3000:]}")


def default_base() -> str:
    for args in (["git", "merge-base", "HEAD", "origin/main"], ["git", "rev-parse", "--verify", "HEAD~1"]):
        result = subprocess.run(args, cwd=ROOT, capture_output=True, text=True)
        if result.returncode == 0:
            return result.stdout.strip()
    raise RuntimeError("no BASE given and neither origin/main nor HEAD~1 exists; pass --base REF")


def report_against(base: str, tree: Path = ROOT) -> tuple[str, int]:
    with tempfile.TemporaryDirectory(prefix="plan-report-") as tmp:
        tmp_path = Path(tmp)
        worktree = tmp_path / "base"
        subprocess.run(["git", "worktree", "add", "--detach", str(worktree), base], cwd=tree, check=True,
                       capture_output=True, text=True)
        try:
            synthesize(worktree, tmp_path / "base-out")
            synthesize(tree, tmp_path / "head-out")
            changes = compare(load_stacks(tmp_path / "base-out"), load_stacks(tmp_path / "head-out"))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=tree, capture_output=True)
        short = subprocess.run(["git", "rev-parse", "--short", base], cwd=tree, capture_output=True,
                               text=True).stdout.strip() or base
        text = render(changes, base=short, head="working tree")
        return text, CHANGED if any(not c.empty for c in changes) else NO_CHANGE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", help="git ref to compare against (default: merge base with origin/main, else HEAD~1)")
    parser.add_argument("--base-dir", type=Path, help="a synth output to use as the base")
    parser.add_argument("--head-dir", type=Path, help="a synth output to use as the head")
    args = parser.parse_args(argv)
    try:
        if args.base_dir or args.head_dir:
            if not (args.base_dir and args.head_dir):
                raise RuntimeError("--base-dir and --head-dir go together")
            changes = compare(load_stacks(args.base_dir), load_stacks(args.head_dir))
            text = render(changes, base=str(args.base_dir), head=str(args.head_dir))
            code = CHANGED if any(not c.empty for c in changes) else NO_CHANGE
        else:
            text, code = report_against(args.base or default_base())
    except Exception as error:  # any failure is exit 1, with the reason
        print(f"plan report failed: {error}", file=sys.stderr)
        return ERROR
    sys.stdout.write(text)
    return code


if __name__ == "__main__":
    sys.exit(main())
