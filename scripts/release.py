"""Promote, roll back and list the releases of the environments: each is a change to a release
manifest (``releases/<env>.toml``) shown as a diff to commit and review, never a change to Nomad
behind Terraform's back. ``make deploy ENV=<env>`` then deploys what the manifest says.

    python scripts/release.py promote SERVICE --from uat --to prod
    python scripts/release.py rollback SERVICE --env prod [--to VERSION]
    python scripts/release.py history --env prod
"""

from __future__ import annotations

import argparse
import difflib
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "constructs"))

from hashistack import HashistackError  # noqa: E402
from hashistack.releases import Release, ReleaseManifest  # noqa: E402


@dataclass(frozen=True)
class Change:
    """One commit of a manifest's history: what it changed, service by service."""

    commit: str
    date: str
    subject: str
    changes: tuple[tuple[str, Release | None, Release | None], ...]  # (service, before, after)
    unreadable: str = ""
    """Why this commit's manifest could not be read (a rule it predates), if so."""


def manifest_path(root: Path, env: str) -> Path:
    return root / "releases" / f"{env}.toml"


def _environments() -> dict:
    from stacks.environments import ENVIRONMENTS

    return {e.name: e for e in ENVIRONMENTS}


def _check(env: str, service: str | None = None) -> None:
    """The environment exists and, when given, the service is one of its services."""
    envs = _environments()
    if env not in envs:
        raise HashistackError(f"environment = {env!r}: not an environment of the app; use one of {sorted(envs)}")
    if service is not None:
        from stacks.apps import service_names

        names = service_names(envs[env])
        if service not in names:
            raise HashistackError(f"SERVICE = {service!r}: not a service of {env!r}; use one of {sorted(names)}")


def _write(root: Path, manifest: ReleaseManifest, message: str) -> str:
    """Writes ``manifest`` and returns the diff and how to commit it."""
    path = manifest_path(root, manifest.environment)
    before = path.read_text() if path.is_file() else ""
    after = manifest.render()
    if before == after:
        return f"{path.relative_to(root)}: unchanged, nothing to commit\n"
    path.parent.mkdir(exist_ok=True)
    path.write_text(after)
    rel = str(path.relative_to(root))
    diff = "".join(difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                        f"a/{rel}", f"b/{rel}"))
    return f"{diff}\nreview, then: git commit -m {message!r} {rel}\n"


def load(root: Path, env: str) -> ReleaseManifest:
    return ReleaseManifest.load(manifest_path(root, env), env)


def promote(root: Path, service: str, source: str, target: str) -> str:
    """``target``'s release of ``service`` set to ``source``'s."""
    release = load(root, source).releases.get(service)
    if release is None:
        raise HashistackError(f"{manifest_path(root, source).relative_to(root)}: [{service}]: {source!r} has no "
                              f"release of {service!r} to promote; give it one first (a version = \"...\" entry)")
    manifest = load(root, target)
    current = manifest.releases.get(service)
    message = (f"release: {service} {release.version} to {target} (from {source}"
               + (f", was {current.version})" if current else ")"))
    return _write(root, manifest.with_release(service, release), message)


def history(root: Path, env: str) -> list[Change]:
    """Every commit that changed ``env``'s manifest, newest first, with what it changed."""
    rel = str(manifest_path(root, env).relative_to(root))

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, text=True)

    log = git("log", "--format=%H%x09%ad%x09%s", "--date=short", "--", rel)
    if log.returncode != 0:
        raise HashistackError(f"{rel}: no history: {log.stderr.strip() or 'not a git repository'}")

    def releases_at(ref: str) -> dict[str, Release]:
        # "./": the path from the project, wherever it sits in the repository
        shown = git("show", f"{ref}:./{rel}")
        if shown.returncode != 0:
            return {}
        return dict(ReleaseManifest.parse(shown.stdout, env, f"{rel} at {ref[:10]}").releases)

    out = []
    for line in log.stdout.splitlines():
        commit, date, subject = line.split("\t", 2)
        try:
            before, after = releases_at(f"{commit}^"), releases_at(commit)
        except HashistackError as error:  # an old commit that a later rule refuses: shown, not fatal
            out.append(Change(commit=commit[:10], date=date, subject=subject, changes=(), unreadable=str(error)))
            continue
        changes = tuple((name, before.get(name), after.get(name)) for name in sorted(set(before) | set(after))
                        if before.get(name) != after.get(name))
        out.append(Change(commit=commit[:10], date=date, subject=subject, changes=changes))
    return out


def rollback(root: Path, service: str, env: str, to: str | None = None) -> str:
    """``env``'s release of ``service`` set back to the one it ran before the current one (or to
    ``to``, a version it ran), revision included, through the same reviewed path as a promotion.
    Rolling back twice goes further back, never forward to the release rolled back from."""
    manifest = load(root, env)
    current = manifest.releases.get(service)
    ran = [after for change in history(root, env) for name, _, after in change.changes
           if name == service and after is not None]  # newest first
    if to is None:
        if current is not None and any(r.version == current.version for r in ran):
            # before the current version first ran here
            first = max(i for i, r in enumerate(ran) if r.version == current.version)
            ran_before = ran[first + 1:]
        else:
            ran_before = ran
        target = next((r for r in ran_before if current is None or r.version != current.version), None)
        if target is None:
            raise HashistackError(f"{manifest_path(root, env).relative_to(root)}: [{service}]: no earlier release of "
                                  f"{service!r} in {env!r}'s history to roll back to")
    else:
        target = next((r for r in ran if r.version == to), None)
        if target is None:
            raise HashistackError(f"TO = {to!r}: {service!r} never ran this version in {env!r}; its releases there: "
                                  f"{list(dict.fromkeys(r.version for r in ran)) or 'none'}")
    if current is not None and current == target:
        return f"{service} already runs {target.version} in {env}, nothing to roll back\n"
    message = f"release: roll {service} back to {target.version} in {env}" + (
        f" (from {current.version})" if current else "")
    return _write(root, manifest.with_release(service, target), message)


def render_history(env: str, changes: list[Change]) -> str:
    if not changes:
        return f"no release of {env} yet (releases/{env}.toml has no history)\n"
    def shown(release: Release | None) -> str:
        if release is None:
            return "-"
        return release.version + (f" ({release.revision})" if release.revision else "")

    lines = [f"releases of {env}, newest first:"]
    for c in changes:
        what = c.unreadable and f"unreadable: {c.unreadable}" or ", ".join(
            f"{name} {shown(before)} -> {shown(after)}" for name, before, after in c.changes) or "(no change)"
        lines.append(f"{c.date}  {c.commit}  {what}  ({c.subject})")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("promote")
    p.add_argument("service")
    p.add_argument("--from", dest="source", required=True)
    p.add_argument("--to", dest="target", required=True)
    r = sub.add_parser("rollback")
    r.add_argument("service")
    r.add_argument("--env", required=True)
    r.add_argument("--to")
    h = sub.add_parser("history")
    h.add_argument("--env", required=True)
    args = parser.parse_args(argv)
    try:
        if args.command == "promote":
            _check(args.source, args.service)
            _check(args.target, args.service)
            sys.stdout.write(promote(ROOT, args.service, args.source, args.target))
        elif args.command == "rollback":
            _check(args.env, args.service)
            sys.stdout.write(rollback(ROOT, args.service, args.env, args.to))
        else:
            _check(args.env)
            sys.stdout.write(render_history(args.env, history(ROOT, args.env)))
    except HashistackError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
