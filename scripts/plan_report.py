#!/usr/bin/env python
"""Offline plan report: what a change does to every environment's stacks, as Markdown.

Synthesizes BASE (a git ref, in a temporary worktree) and the working tree side by side, then
compares the stacks resource by resource. No cloud credentials, no network. Each synth is kept
in the cache of scripts/cache.py, keyed by the source's files and the toolchain, so reporting
again against the same base, or on an unchanged tree, does not synthesize it again
(``--no-cache`` synthesizes both).

    python scripts/plan_report.py [--base REF]        # default: merge base with origin/main, else HEAD~1
    python scripts/plan_report.py --base-dir A --head-dir B   # compare two synth outputs

Exit code: 0 nothing changed, 2 something changed, 1 error (terraform plan -detailed-exitcode).
`make plan-report` cannot pass these on (make turns every failure into 2): CI calls this script
directly (see README, "Reviewing changes in a pull request"). ``--output FILE`` writes the report
to FILE instead of stdout.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import hashlib
import difflib
import json
import os
import re
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "constructs"))  # the library, also when run outside the virtualenv's editable install
sys.path.insert(0, str(ROOT))  # scripts.cache, also when run as scripts/plan_report.py

from hashistack.cluster.cloud_init import decode_user_data  # noqa: E402
from hashistack.terraform_escape import unescape  # noqa: E402

NO_CHANGE, CHANGED, ERROR = 0, 2, 1
_SG_RULES = ("aws_vpc_security_group_ingress_rule", "aws_vpc_security_group_egress_rule")
_INTENTIONS = "consul_config_entry_service_intentions."
LARGE = 25
"""A new stack, or one that gains more resources than this, is summarised per type."""


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
            config["user_data"] = decode_user_data(config["user_data"]).splitlines()
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
    intentions_added: list[str] = field(default_factory=list)  # "source → destination (action)"
    intentions_removed: list[str] = field(default_factory=list)
    details: dict[str, list[str]] = field(default_factory=dict)  # added address -> Markdown lines
    labels: dict[str, str] = field(default_factory=dict)  # added job or policy address -> its own name
    new: bool = False  # the stack did not exist before

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed)


def _fmt(value: Any) -> str:
    return "(absent)" if value is None else json.dumps(value, sort_keys=True)


_SG_REF = re.compile(r"^\$\{aws_security_group\.([^.}]+)\.id\}$")


def _group_name(ref: Any, resources: dict[str, dict]) -> str | None:
    """The name of the security group a ``${aws_security_group.X.id}`` reference points at."""
    match = _SG_REF.match(ref) if isinstance(ref, str) else None
    if not match:
        return ref if isinstance(ref, str) else None
    group = resources.get(f"aws_security_group.{match.group(1)}", {})
    return group.get("name") or group.get("name_prefix") or match.group(1)


def _rule_text(address: str, config: dict, resources: dict[str, dict] | None = None) -> str:
    """``ingress 4647/tcp on <group> from <peer>: <description>`` (egress: ``on <group> to <peer>``),
    with security-group references resolved to the groups' names."""
    resources = resources or {}
    ingress = address.startswith("aws_vpc_security_group_ingress_rule")
    port = config.get("from_port")
    ports = f"{port}" if port == config.get("to_port") else f"{port}-{config.get('to_port')}"
    if config.get("ip_protocol") == "-1":
        ports = "all"
    group = _group_name(config.get("security_group_id"), resources)
    peer = (config.get("cidr_ipv4") or config.get("cidr_ipv6") or config.get("prefix_list_id")
            or _group_name(config.get("referenced_security_group_id"), resources) or "?")
    on = f" on {group}" if group else ""
    return f"{'ingress' if ingress else 'egress'} {ports}/{config.get('ip_protocol')}{on} " \
           f"{'from' if ingress else 'to'} {peer}: {config.get('description', '')}"


def intentions(resources: dict[str, dict]) -> set[tuple[str, str, str]]:
    """Every (source, destination, action) of a stack's ``service-intentions`` config entries: one
    entry per destination holds its sources, so an edge is a source within an entry."""
    return {(src.get("name", "?"), config.get("name", "?"), src.get("action", "?"))
            for address, config in resources.items() if address.startswith(_INTENTIONS)
            for src in config.get("sources") or []}


def _intention_text(edge: tuple[str, str, str]) -> str:
    source, destination, action = edge
    return f"`{source}` → `{destination}` ({action})"


_VAULT_READS = re.compile(r'\b(secret|pkiCert)\s+"([^"]+)"')


def duration(ns: Any) -> str:
    """Nanoseconds as Nomad writes durations: ``10s``, ``5m``, ``1h30m``."""
    if not isinstance(ns, int):
        return str(ns)
    seconds, rest = divmod(ns, 1_000_000_000)
    if rest:
        return f"{ns / 1e9:g}s"
    out = ""
    for unit, size in (("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            out += f"{count}{unit}"
    return out or "0s"


def _update_text(update: dict) -> str:
    canary = update.get("Canary") or 0
    kind = f"canary {canary}" + (" (auto-promote)" if update.get("AutoPromote") else " (manual promotion)") \
        if canary else "rolling"
    parts = [kind, f"max_parallel {update.get('MaxParallel')}", f"auto_revert {str(update.get('AutoRevert')).lower()}",
             f"health from {update.get('HealthCheck', 'checks')}"]
    for key, name in (("MinHealthyTime", "min_healthy"), ("HealthyDeadline", "healthy_deadline"),
                      ("ProgressDeadline", "progress_deadline")):
        if key in update:
            parts.append(f"{name} {duration(update[key])}")
    return ", ".join(parts)


def _check_text(check: dict) -> str:
    kind = check.get("Type", "?")
    target = {"http": check.get("Path"), "grpc": check.get("GRPCService")}.get(kind)
    text = f"{kind}" + (f" {target}" if target else "") + f" on `{check.get('PortLabel')}`" \
        + (f" ({check['AddressMode']} address)" if check.get("AddressMode") else "") \
        + f" every {duration(check.get('Interval'))}, timeout {duration(check.get('Timeout'))}"
    restart = check.get("CheckRestart") or {}
    if restart.get("Limit"):
        text += f", restart after {restart['Limit']} failures"
    return text


def job_essentials(job: dict) -> list[str]:
    """What a reviewer checks in a new Nomad job, as Markdown bullets: per group its count, update
    strategy, ports, service registrations and checks, spread; per task its image, resources,
    Vault role and templates with the Vault paths they read."""
    job = job.get("Job", job)
    lines = [f"- job `{job.get('ID')}` ({job.get('Type', 'service')}) in {', '.join(job.get('Datacenters', []))}"
             + (f", namespace `{job['Namespace']}`" if job.get("Namespace") else "")]
    for group in job.get("TaskGroups", []):
        lines.append(f"- group `{group.get('Name')}`: count {group.get('Count')}")
        if group.get("Update"):
            lines.append(f"  - update: {_update_text(group['Update'])}")
        for network in group.get("Networks", []):
            # To 0 (unset) or -1 maps the host port to the same number inside the allocation.
            ports = [f"`{p.get('Label')}` → {p['To'] if (p.get('To') or 0) > 0 else 'same'} (dynamic)"
                     for p in network.get("DynamicPorts", [])]
            ports += [f"`{p.get('Label')}` {p.get('Value')} (static)" for p in network.get("ReservedPorts", [])]
            mode = network.get("Mode", "host")
            lines.append(f"  - ports ({mode}): {', '.join(ports)}" if ports else f"  - network ({mode}), no host port")
        for service in group.get("Services", []):
            lines.append(f"  - service `{service.get('Name')}` on `{service.get('PortLabel')}` "
                         f"({service.get('Provider', 'consul')}), tags {json.dumps(service.get('Tags', []))}")
            lines += [f"    - check {_check_text(check)}" for check in service.get("Checks", [])]
            sidecar = (service.get("Connect") or {}).get("SidecarService")
            if sidecar is not None:
                proxy = sidecar.get("Proxy") or {}
                ups = [f"`{u.get('DestinationName')}` on 127.0.0.1:{u.get('LocalBindPort')}"
                       for u in proxy.get("Upstreams", [])]
                exposed = [f"{e.get('Path')} on `{e.get('ListenerPort')}`"
                           for e in (proxy.get("Expose") or {}).get("Paths", [])]
                lines.append("    - Connect sidecar: upstreams " + (", ".join(ups) or "none")
                             + (f"; exposes {', '.join(exposed)}" if exposed else ""))
        for spread in group.get("Spreads", []):
            lines.append(f"  - spread over `{spread.get('Attribute')}`")
        for task in group.get("Tasks", []):
            config = task.get("Config", {})
            lines.append(f"  - task `{task.get('Name')}` ({task.get('Driver')}): image `{config.get('image')}`")
            res = task.get("Resources", {})
            cpu = f"{res['Cores']} cores" if res.get("Cores") else f"cpu {res.get('CPU')} MHz"
            size = f"{cpu}, memory {res.get('MemoryMB')} MiB"
            if res.get("MemoryMaxMB"):
                size += f" (max {res['MemoryMaxMB']} MiB)"
            lines.append(f"    - resources: {size}")
            if task.get("Vault"):
                lines.append(f"    - Vault role `{task['Vault'].get('Role')}`")
            for template in task.get("Templates", []):
                reads = [f"{func} `{path}`" for func, path in _VAULT_READS.findall(template.get("EmbeddedTmpl", ""))]
                change = template.get("ChangeMode", "restart")
                if change == "signal":
                    change = f"signal {template.get('ChangeSignal')}"
                lines.append(f"    - template `{template.get('DestPath')}` (on change: {change}, perms "
                             f"{template.get('Perms', '0644')}{', as env' if template.get('Envvars') else ''})"
                             + (f": reads {', '.join(reads)}" if reads else ""))
    return lines


def _label(address: str, config: dict) -> str | None:
    """A job's ID or a policy's name: what a reviewer knows them by."""
    if address.startswith("vault_policy."):
        return config.get("name")
    if address.startswith("nomad_job.") and isinstance(config.get("jobspec"), str):
        try:
            job = json.loads(unescape(config["jobspec"]))
        except ValueError:
            return None
        return job.get("Job", job).get("ID")
    return None


def added_details(address: str, config: dict) -> list[str]:
    """The essentials of an added resource a reviewer reads: a job's decoded essentials, a
    policy's HCL; nothing for other types (their address says enough)."""
    if address.startswith("nomad_job.") and isinstance(config.get("jobspec"), str):
        try:
            return job_essentials(json.loads(unescape(config["jobspec"])))
        except ValueError:
            return ["- (jobspec is not JSON)"]
    if address.startswith("vault_policy.") and isinstance(config.get("policy"), str):
        return [f"policy `{config.get('name')}`:", "```hcl", *unescape(config["policy"]).splitlines(), "```"]
    return []


def compare_stack(stack: str, before: dict[str, dict], after: dict[str, dict]) -> StackChange:
    change = StackChange(stack, new=not before and bool(after))
    for address in sorted(set(after) - set(before)):
        change.added.append(address)
        if address.startswith(_SG_RULES):
            change.rules_added.append(_rule_text(address, after[address], after))
        elif details := added_details(address, after[address]):
            change.details[address] = details
        if label := _label(address, after[address]):
            change.labels[address] = label
    for address in sorted(set(before) - set(after)):
        change.removed.append(address)
        if address.startswith(_SG_RULES):
            change.rules_removed.append(_rule_text(address, before[address], before))
    old_edges, new_edges = intentions(before), intentions(after)
    change.intentions_added = [_intention_text(e) for e in sorted(new_edges - old_edges)]
    change.intentions_removed = [_intention_text(e) for e in sorted(old_edges - new_edges)]
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


def _per_type(addresses: list[str]) -> list[str]:
    counts: dict[str, int] = {}
    for address in addresses:
        rtype = address.split(".", 1)[0]
        counts[rtype] = counts.get(rtype, 0) + 1
    return [f"| `{rtype}` | {count} |" for rtype, count in sorted(counts.items())]


def _names(change: StackChange, prefix: str) -> list[str]:
    return sorted(f"`{change.labels.get(a) or a.split('.', 1)[1]}`" for a in change.added if a.startswith(prefix))


def render_added(c: StackChange) -> list[str]:
    """Added resources: each with its essentials; for a new stack (a new environment's) or past
    :data:`LARGE` additions, a count per type with the jobs and policies named."""
    if c.new or len(c.added) > LARGE:
        out = ["", f"**Added** {len(c.added)} resources" + (" (a new stack)" if c.new else "")
               + ", summarised per type:", "", "| type | added |", "|---|---|", *_per_type(c.added)]
        jobs, policies = _names(c, "nomad_job."), _names(c, "vault_policy.")
        if jobs:
            out += ["", f"Nomad jobs: {', '.join(jobs)}"]
        if policies:
            out += ["", f"Vault policies: {', '.join(policies)}"]
        return out
    plain = [f"- `{a}`" for a in c.added if not a.startswith(_SG_RULES) and a not in c.details]
    out = ["", "**Added**", *plain] if plain else []
    for address, lines in c.details.items():
        out += ["", f"**Added** `{address}`", *lines]
    if c.rules_added:
        out += ["", "**Security group rules added**", *[f"- {r}" for r in c.rules_added]]
    return out


def render(changes: list[StackChange], *, base: str, head: str) -> str:
    changed = [c for c in changes if not c.empty]
    out = [f"# Plan report: `{base}` → `{head}`", ""]
    if not changed:
        out.append(f"No changes: all {len(changes)} stacks synthesize to the same resources.")
        return "\n".join(out) + "\n"
    total = sum(len(c.added) + len(c.removed) + len(c.changed) for c in changed)
    out.append(f"{total} resource change(s) in {len(changed)} of {len(changes)} stacks "
               f"(unchanged: {', '.join(c.stack for c in changes if c.empty) or 'none'}).")
    new_stacks = [c for c in changed if c.new]
    if new_stacks:
        out += ["", f"New stacks: {', '.join(f'`{c.stack}` ({len(c.added)} resources)' for c in new_stacks)}."]
    for c in changed:
        out += ["", f"## `{c.stack}`: {len(c.added)} to add, {len(c.changed)} to change, {len(c.removed)} to remove"]
        if c.added:
            out += render_added(c)
        if len(c.removed) > LARGE:
            out += ["", f"**Removed** {len(c.removed)} resources, summarised per type:", "", "| type | removed |",
                    "|---|---|", *_per_type(c.removed)]
        elif c.removed:
            out += ["", "**Removed**", *[f"- `{a}`" for a in c.removed if not a.startswith(_SG_RULES)]]
        if c.rules_removed and len(c.removed) <= LARGE:
            out += ["", "**Security group rules removed**", *[f"- {r}" for r in c.rules_removed]]
        if c.intentions_added:
            out += ["", "**Intentions added** (source → destination)", *[f"- {i}" for i in c.intentions_added]]
        if c.intentions_removed:
            out += ["", "**Intentions removed** (source → destination)", *[f"- {i}" for i in c.intentions_removed]]
        for address, lines in c.changed.items():
            out += ["", f"**Changed** `{address}`", *lines]
    return "\n".join(out) + "\n"


# --- synthesizing -------------------------------------------------------------------------------------

SYNTH_CODE = "import sys; from stacks.app import build_app; build_app(outdir=sys.argv[1]).synth()"
"""Synthesizes the app found on the path into the directory given as the first argument."""


def app_env(tree: Path) -> dict[str, str]:
    """The environment a process needs to run the app of ``tree`` with that tree's own library
    code, on the project's Node 22 (for jsii) with the jsii package cache on, building every stack."""
    env = dict(os.environ)
    env.pop("HASHISTACK_STACKS", None)  # every stack, whatever the calling shell selected
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


def _git(tree: Path, *args: str, stdin: str | None = None) -> str:
    result = subprocess.run(["git", *args], cwd=tree, input=stdin, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args[:2])}: {result.stderr.strip()}")
    return result.stdout


def source_digest(tree: Path, ref: str | None = None) -> str:
    """The app's source, as one digest: the files of commit ``ref``, or with ``ref`` None those of
    the working tree that git tracks or would track (not ignored), each by its path and git blob id.
    A commit and a working tree holding the same files have the same digest, so yesterday's head
    is today's base."""
    entries: dict[str, str] = {}
    if ref is not None:
        try:
            listing = _git(tree, "ls-tree", "-r", "-z", "--full-tree", f"{ref}^{{commit}}")
        except RuntimeError as error:
            raise RuntimeError(f"cannot check out {ref!r}: {error}") from None
        for record in filter(None, listing.split("\0")):
            meta, path = record.split("\t", 1)
            _, kind, blob = meta.split()
            if kind == "blob":
                entries[path] = blob
    else:
        listed = _git(tree, "ls-files", "-z", "--cached", "--others", "--exclude-standard").split("\0")
        paths = sorted({p for p in listed if p and os.path.lexists(tree / p)})
        blobs = _git(tree, "hash-object", "--stdin-paths", stdin="\n".join(paths)).split() if paths else []
        entries = dict(zip(paths, blobs, strict=True))
    digest = hashlib.sha256()
    for path in sorted(entries):
        digest.update(f"{entries[path]} {path}\0".encode())
    return digest.hexdigest()


def toolchain() -> list[str]:
    """What a synth's output depends on besides its source: the synth itself, the interpreter and
    every installed distribution (cdktf, constructs, the provider bindings, jsii), and Node."""
    from importlib import metadata

    node = subprocess.run(["node", "--version"], env=app_env(ROOT), capture_output=True, text=True).stdout.strip()
    dists = sorted({f"{d.metadata['Name']}=={d.version}" for d in metadata.distributions()})
    return [SYNTH_CODE, sys.version, f"node {node}", *dists]


SYNTH_CACHE, SYNTH_CACHE_KEEP = "plan-report-synth", 32
"""The synths of the report's base and head, in the cache of scripts/cache.py (about 1 MB each),
keyed by :func:`source_digest` and :func:`toolchain`: a second report against the same base, or
on an unchanged working tree, synthesizes nothing. The 32 entries used last are kept."""


def default_base(tree: Path = ROOT) -> str:
    """The base a pull request is reviewed against when none is given: the merge base of ``HEAD``
    with ``origin/main``, else ``HEAD~1`` (a branch without a remote, a CI checkout of one commit
    on top of main)."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=tree, capture_output=True, text=True)

    merge = git("merge-base", "HEAD", "origin/main")
    if merge.returncode == 0 and merge.stdout.strip():
        return merge.stdout.strip()
    if git("rev-parse", "--verify", "--quiet", "HEAD~1").returncode == 0:
        return "HEAD~1"
    raise RuntimeError("no base to compare against: no origin/main to take the merge base with and no HEAD~1 "
                       "(a clone of one commit: fetch with --depth 2, or pass --base REF / make plan-report BASE=REF)")


def report_against(base: str, tree: Path = ROOT, *, cache: bool = True) -> tuple[str, int]:
    """Synthesizes ``base`` (in a temporary worktree) and the working tree of ``tree`` side by side
    (each synth is one process; the cache answers for either if it has it), then compares them."""
    from scripts.cache import cached_dir

    with tempfile.TemporaryDirectory(prefix="plan-report-") as tmp:
        tmp_path = Path(tmp)

        def synth_base(outdir: Path) -> None:
            worktree = tmp_path / "base"
            added = subprocess.run(["git", "worktree", "add", "--detach", str(worktree), base], cwd=tree,
                                   capture_output=True, text=True)
            if added.returncode != 0:
                raise RuntimeError(f"cannot check out {base!r}: {added.stderr.strip()}")
            try:
                synthesize(worktree, outdir)
            finally:
                subprocess.run(["git", "worktree", "remove", "--force", str(worktree)], cwd=tree,
                               capture_output=True)

        def synth_head(outdir: Path) -> None:
            synthesize(tree, outdir)

        if cache:
            tools = toolchain()
            jobs = [(source_digest(tree, base), synth_base), (source_digest(tree), synth_head)]

            def run(job) -> Path:
                digest, build = job
                return cached_dir(SYNTH_CACHE, inputs=[digest, *tools], build=build, keep=SYNTH_CACHE_KEEP)
        else:
            jobs = [(tmp_path / "base-out", synth_base), (tmp_path / "head-out", synth_head)]

            def run(job) -> Path:
                outdir, build = job
                build(outdir)
                return outdir

        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            base_out, head_out = pool.map(run, jobs)
        changes = compare(load_stacks(base_out), load_stacks(head_out))
        short = subprocess.run(["git", "rev-parse", "--short", base], cwd=tree, capture_output=True,
                               text=True).stdout.strip() or base
        text = render(changes, base=short, head="working tree")
        return text, CHANGED if any(not c.empty for c in changes) else NO_CHANGE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", help="git ref to compare against (default: merge base with origin/main, else HEAD~1)")
    parser.add_argument("--base-dir", type=Path, help="a synth output to use as the base")
    parser.add_argument("--head-dir", type=Path, help="a synth output to use as the head")
    parser.add_argument("--output", type=Path, help="write the report to this file instead of stdout")
    parser.add_argument("--no-cache", action="store_true",
                        help="synthesize base and head even if the cache (scripts/cache.py) holds them")
    args = parser.parse_args(argv)
    try:
        if args.base_dir or args.head_dir:
            if not (args.base_dir and args.head_dir):
                raise RuntimeError("--base-dir and --head-dir go together")
            changes = compare(load_stacks(args.base_dir), load_stacks(args.head_dir))
            text = render(changes, base=str(args.base_dir), head=str(args.head_dir))
            code = CHANGED if any(not c.empty for c in changes) else NO_CHANGE
        else:
            text, code = report_against(args.base or default_base(), cache=not args.no_cache)
    except Exception as error:  # any failure is exit 1, with the reason
        print(f"plan report failed: {error}", file=sys.stderr)
        return ERROR
    if args.output:
        args.output.write_text(text)
    else:
        sys.stdout.write(text)
    return code


if __name__ == "__main__":
    sys.exit(main())
