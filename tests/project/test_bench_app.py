"""The benchmark's synthetic app still builds with the library as it is (it is run only by
`make bench`, so a library change that breaks it would otherwise go unnoticed)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_scale_app_synthesizes_one_service_per_environment(tmp_path):
    spec = importlib.util.spec_from_file_location("scale_app", ROOT / "scripts" / "scale_app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module.build(1, str(tmp_path)).synth()
    from stacks.environments import ENVIRONMENTS

    stacks = sorted(p.name for p in (tmp_path / "stacks").iterdir())
    assert stacks == sorted(env.name for env in ENVIRONMENTS)
    for name in stacks:
        jobs = json.loads((tmp_path / "stacks" / name / "cdk.tf.json").read_text())["resource"]["nomad_job"]
        assert len(jobs) == 1
