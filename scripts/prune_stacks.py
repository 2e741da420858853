"""Removes from a synth output the stack directories the app no longer produces (a stack renamed
or an environment removed), as ``cdktf synth`` does; a selective synth (``HASHISTACK_STACKS``)
keeps every stack the app still has, synthesized this time or not.

    python scripts/prune_stacks.py cdktf.out
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def prune(outdir: Path, produced: set[str]) -> list[str]:
    """Deletes ``outdir``'s stack directories that are neither in ``produced`` nor in this synth's
    manifest; returns their names."""
    manifest = json.loads((outdir / "manifest.json").read_text())
    keep = produced | set(manifest["stacks"])
    removed = [d.name for d in sorted((outdir / "stacks").iterdir()) if d.is_dir() and d.name not in keep]
    for name in removed:
        shutil.rmtree(outdir / "stacks" / name)
    return removed


def main(argv: list[str]) -> int:
    from stacks.app import stack_names  # the app's stacks, without loading cdktf or a provider

    prune(Path(argv[0]), set(stack_names()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
