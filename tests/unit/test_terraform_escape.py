"""Run-time interpolations reach Nomad and consul-template literally through Terraform."""

from __future__ import annotations

import json

import pytest

from hashistack.terraform_escape import escape, unescape

EXAMPLES = [
    ("${NOMAD_VAR_KEY}", "$${NOMAD_VAR_KEY}"),
    ("${NOMAD_ALLOC_ID}", "$${NOMAD_ALLOC_ID}"),
    ("${attr.unique.hostname}", "$${attr.unique.hostname}"),
    ("%{ if true }x%{ endif }", "%%{ if true }x%%{ endif }"),
    ('{{ env "NOMAD_ALLOC_ID" }}', '{{ env "NOMAD_ALLOC_ID" }}'),
    ("cost: $5 and 100%", "cost: $5 and 100%"),
    ("$${already}", "$$${already}"),
]


@pytest.mark.parametrize(("raw", "escaped"), EXAMPLES)
def test_escape_examples(raw, escaped):
    assert escape(raw) == escaped
    assert unescape(escaped) == raw


def test_escaped_json_keeps_its_structure():
    doc = {"Env": {"ID": "${NOMAD_ALLOC_ID}"}, "Tmpl": '{{ with secret "a" }}%{x}{{ end }}'}
    escaped = escape(json.dumps(doc))
    assert json.loads(unescape(escaped)) == doc
    assert "${" not in escaped.replace("$${", "") and "%{" not in escaped.replace("%%{", "")


@pytest.mark.integration
def test_terraform_delivers_the_escaped_strings_literally(tmp_path):
    """terraform itself reads the escaped strings back as the raw ones (an output of a local)."""
    import shutil
    import subprocess

    terraform = shutil.which("terraform")
    if not terraform:
        pytest.skip("terraform is not on PATH: cannot check Terraform's own reading of the escapes")
    values = {f"v{i}": escape(raw) for i, (raw, _) in enumerate(EXAMPLES)}
    (tmp_path / "main.tf.json").write_text(json.dumps({"output": {k: {"value": v} for k, v in values.items()}}))
    env = {"PATH": "/usr/bin:/bin", "CHECKPOINT_DISABLE": "1", "HOME": str(tmp_path), "TF_IN_AUTOMATION": "1"}
    subprocess.run([terraform, "init", "-input=false", "-no-color"], cwd=tmp_path, env=env, check=True,
                   capture_output=True)
    subprocess.run([terraform, "apply", "-auto-approve", "-input=false", "-no-color"], cwd=tmp_path, env=env,
                   check=True, capture_output=True)
    out = subprocess.run([terraform, "output", "-json"], cwd=tmp_path, env=env, check=True, capture_output=True)
    got = {k: v["value"] for k, v in json.loads(out.stdout).items()}
    assert got == {f"v{i}": raw for i, (raw, _) in enumerate(EXAMPLES)}
