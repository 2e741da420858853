#!/usr/bin/env python3
"""What this machine has of what `make synth` and `make test` need, on one screen, with the
command that installs each missing piece on Debian/Ubuntu and on macOS.

    python3 scripts/doctor.py            # everything (make doctor)
    python3 scripts/doctor.py --for synth --quiet   # silent unless synth cannot run (make setup)

Standard library only: it runs before .venv exists, with the interpreter the Makefile chose
(``PYTHON``). Exit status: 1 when something the chosen goal requires is missing, else 0 (what
only some tests need is reported; those tests skip with the reason).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from scripts.tools import AWS_PROVIDER_VERSION, MIRROR_DEFAULT, MIRROR_VARIABLE, provider_mirror, terraform_binary  # noqa: E402

NODE_MIN = 20
PYTHON_VERSION = (3, 11)


@dataclass(frozen=True)
class Check:
    name: str
    found: str | None  # what was found (a version, a path), None if missing
    needed_by: str  # "synth" (so test too) or "some tests" (they skip without it)
    debian: str = ""
    macos: str = ""
    note: str = ""

    @property
    def required_for(self) -> set[str]:
        return {"synth", "test"} if self.needed_by == "synth" else set()


def _version(command: list[str], pattern: str = r"(\d+(?:\.\d+)+)") -> str | None:
    if not shutil.which(command[0]):
        return None
    try:
        out = subprocess.run(command, capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return None
    match = re.search(pattern, out.stdout + out.stderr)
    return match.group(1) if match else "(version unknown)"


def _python() -> Check:
    ok = sys.version_info[:2] == PYTHON_VERSION
    found = f"{sys.version.split()[0]} ({sys.executable})"
    has_venv = subprocess.run([sys.executable, "-c", "import venv, ensurepip"], capture_output=True).returncode == 0
    return Check("Python 3.11 with venv", found if ok and has_venv else None, "synth",
                 debian="apt-get install python3.11 python3.11-venv", macos="brew install python@3.11",
                 note="" if ok else f"this is {found}; set PYTHON=/path/to/python3.11"
                 if has_venv else "the venv/ensurepip modules are missing")


def _node() -> Check:
    version = _version(["node", "--version"])
    ok = version is not None and version[0].isdigit() and int(version.split(".")[0]) >= NODE_MIN
    return Check(f"Node.js >= {NODE_MIN} and npm", version if ok and shutil.which("npm") else None, "synth",
                 debian="apt-get install nodejs npm", macos="brew install node",
                 note="the synth's jsii runtime runs the pinned Node 22 that npm installs into node_modules")


def _tool(name: str, needed_by: str, debian: str, macos: str, note: str = "", command: list[str] | None = None,
          ) -> Check:
    found = _version(command) if command else shutil.which(name)
    return Check(name, found, needed_by, debian=debian, macos=macos, note=note)


def _mirror() -> Check:
    mirror = provider_mirror()
    return Check(f"hashicorp/aws {AWS_PROVIDER_VERSION} provider mirror", str(mirror) if mirror else None, "some tests",
                 debian=f"terraform providers mirror {MIRROR_DEFAULT} (online, once), or set {MIRROR_VARIABLE}",
                 macos=f"the same, with {MIRROR_VARIABLE} naming the folder",
                 note="terraform validate/apply of the infra stacks, offline")


def checks() -> list[Check]:
    not_on_mac = "(Linux only: those tests skip on macOS)"
    root = os.geteuid() == 0 if hasattr(os, "geteuid") else False
    return [
        _python(),
        _node(),
        _tool("git", "synth", "apt-get install git", "xcode-select --install", command=["git", "--version"]),
        _tool("terraform", "some tests", "apt-get install terraform (from HashiCorp's apt repository)",
              "brew install hashicorp/tap/terraform", note="the real-engine tests and deploy/diff ($TERRAFORM or PATH)",
              command=[terraform_binary() or "terraform", "version"]),
        _mirror(),
        _tool("mmdebstrap", "some tests", "apt-get install mmdebstrap", not_on_mac,
              note="builds the boot sandbox's Debian root once per machine", command=["mmdebstrap", "--version"]),
        _tool("unshare", "some tests", "apt-get install util-linux", not_on_mac, note="the boot sandbox's namespaces"),
        _tool("cloud-init", "some tests", "apt-get install cloud-init", not_on_mac, note="schema of the user data"),
        _tool("shellcheck", "some tests", "apt-get install shellcheck", "brew install shellcheck",
              command=["shellcheck", "--version"], note="the boot scripts"),
        _tool("apt-ftparchive", "some tests", "apt-get install apt-utils", not_on_mac,
              note="the boot sandbox's package repository"),
        _tool("nft", "some tests", "apt-get install nftables", not_on_mac,
              note="the Nomad clients' task firewall in the real kernel"),
        Check("root", "yes" if root else None, "some tests", debian="run make test as root (CI does)",
              macos=not_on_mac, note="the boot sandbox mounts and chroots"),
    ]


def render(results: list[Check], goal: str) -> str:
    lines = [f"hashistack-cdk doctor ({'make ' + goal if goal != 'all' else 'make synth and make test'}):"]
    for c in results:
        state = "ok" if c.found else ("MISSING" if goal in c.required_for or (goal == "all" and c.required_for)
                                      else "absent")
        need = "synth+test" if c.needed_by == "synth" else "some tests"
        lines.append(f"  {state:<8} {c.name:<38} {need:<11} {c.found or ''}")
        if not c.found:
            lines.append(f"           Debian/Ubuntu: {c.debian}")
            lines.append(f"           macOS: {c.macos}")
        if c.note and not c.found:
            lines.append(f"           ({c.note})")
    lines.append("make test installs cloud-init, shellcheck, mmdebstrap, apt-utils and nftables with apt-get when it runs "
                 "as root on Debian/Ubuntu; tests whose tool is absent skip with the reason.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--for", dest="goal", choices=("synth", "test", "all"), default="all")
    parser.add_argument("--quiet", action="store_true", help="print nothing unless the goal cannot run")
    args = parser.parse_args(argv)
    results = checks()
    missing = [c for c in results if not c.found and args.goal in c.required_for]
    if args.quiet and not missing:
        return 0
    print(render(results, args.goal), file=sys.stderr if args.quiet else sys.stdout)
    if missing:
        print(f"cannot run make {args.goal}: install {', '.join(c.name for c in missing)} (above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
