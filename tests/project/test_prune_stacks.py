"""`make synth`'s clean-up: stacks the app no longer produces go, a selective synth keeps the rest."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from scripts.prune_stacks import prune

ROOT = Path(__file__).resolve().parents[2]


def out_with(tmp_path: Path, dirs: list[str], manifest: list[str]) -> Path:
    out = tmp_path / "cdktf.out"
    for name in dirs:
        (out / "stacks" / name).mkdir(parents=True)
    (out / "manifest.json").write_text(json.dumps({"stacks": {name: {} for name in manifest}}))
    return out


def test_a_selective_synth_keeps_the_stacks_it_did_not_build(tmp_path):
    out = out_with(tmp_path, ["dev", "dev-infra", "prod", "gone"], manifest=["prod"])
    assert prune(out, produced={"dev", "dev-infra", "prod"}) == ["gone"]
    assert sorted(d.name for d in (out / "stacks").iterdir()) == ["dev", "dev-infra", "prod"]


def test_the_script_reads_the_apps_stacks(tmp_path):
    out = out_with(tmp_path, ["dev-infra", "prod", "qa-old"], manifest=["prod"])
    subprocess.run([sys.executable, str(ROOT / "scripts" / "prune_stacks.py"), str(out)], check=True, cwd=ROOT)
    assert sorted(d.name for d in (out / "stacks").iterdir()) == ["dev-infra", "prod"]
