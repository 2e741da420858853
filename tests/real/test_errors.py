"""What a user sees when synth stops on bad input: the HashistackError's one line, once, exit 1;
the traceback only with HASHISTACK_DEBUG=1. Each case synthesizes a broken copy of the app in a
subprocess, as `make synth` runs it."""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

from tests.support.project_copy import copy_project, run

UNKNOWN_PROP = "my-go-app: memory_mb = 256: not a GoService prop"


@pytest.fixture
def broken_service(tmp_path) -> Path:
    """The project with a misspelled GoService prop (memory_mb) in my-go-app."""
    project = copy_project(tmp_path / "project")
    module = project / "stacks" / "apps" / "my_go_app.py"
    text = module.read_text()
    assert "        port=8080,\n" in text
    module.write_text(text.replace("        port=8080,\n", "        port=8080, memory_mb=256,\n", 1))
    return project


@pytest.fixture
def broken_environment(tmp_path) -> Path:
    """The project with four Nomad servers in prod (production needs 3 or 5)."""
    project = copy_project(tmp_path / "project")
    module = project / "stacks" / "environments.py"
    text = module.read_text()
    old = 'nomad=NomadSettings(address="https://nomad.prod.example.internal:4646", server_count=3,'
    assert old in text
    module.write_text(text.replace(old, old.replace("server_count=3", "server_count=4")))
    return project


def test_an_environment_error_is_one_line_without_a_traceback(broken_environment, tmp_path):
    """Environments are checked as stacks/environments.py is imported, before any jsii start-up."""
    result = run([sys.executable, "main.py"], broken_environment, CDKTF_OUTDIR=str(tmp_path / "out"),
                 HASHISTACK_DEBUG="")
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        'error: environment "prod": nomad.server_count = 4: a production environment runs 3 or 5 (an odd quorum '
        'that survives 1 or 2 failures) Nomad servers']
    assert result.stdout == ""


@pytest.mark.integration
def test_make_synth_prints_a_construct_error_once(broken_service):
    if not shutil.which("make"):
        pytest.skip("make not on PATH")
    result = run(["make", "--no-print-directory", "synth"], broken_service, HASHISTACK_DEBUG="")
    assert result.returncode != 0
    lines = result.stderr.splitlines()
    assert lines[0].startswith("error: " + UNKNOWN_PROP)
    assert "Traceback" not in result.stderr and result.stderr.count("memory_mb = 256") == 1
    assert all(re.match(r"make(\[\d+\])?: \*\*\* ", line) for line in lines[1:])  # only make's own line
    assert result.stdout == ""


def test_a_service_error_arrives_before_any_provider_package_loads(broken_service, tmp_path):
    """The services of the selected environments are planned before any stack is built, so the
    error does not wait for the AWS provider (most of a full synth) to load for dev-infra."""
    code = ("import sys, main; status = main.main(); loaded = sorted({m.split('.')[0] for m in sys.modules} & "
            "{'jsii', 'constructs', 'cdktf', 'cdktf_cdktf_provider_aws', 'cdktf_cdktf_provider_nomad', "
            "'cdktf_cdktf_provider_vault'}); print(status, loaded)")
    result = run([sys.executable, "-c", code], broken_service, CDKTF_OUTDIR=str(tmp_path / "out"), HASHISTACK_DEBUG="")
    assert result.stdout == "1 []\n", result.stderr[-2000:]
    assert result.stderr.startswith("error: " + UNKNOWN_PROP) and result.stderr.count("\n") == 1


def test_the_debug_flag_adds_the_traceback(broken_environment, tmp_path):
    result = run([sys.executable, "main.py"], broken_environment, CDKTF_OUTDIR=str(tmp_path / "out"),
                 HASHISTACK_DEBUG="1")
    assert result.returncode == 1
    assert result.stderr.startswith("Traceback (most recent call last):")
    assert ('hashistack.errors.HashistackError: environment "prod": nomad.server_count = 4: a production '
            'environment runs 3 or 5') in result.stderr


def test_other_errors_keep_their_traceback(tmp_path):
    project = copy_project(tmp_path / "project")
    module = project / "stacks" / "environments.py"
    module.write_text(module.read_text() + "\nQA = undefined_name\n")
    result = run([sys.executable, "main.py"], project, CDKTF_OUTDIR=str(tmp_path / "out"), HASHISTACK_DEBUG="")
    assert result.returncode == 1
    assert "Traceback (most recent call last):" in result.stderr
    assert "NameError: name 'undefined_name' is not defined" in result.stderr


@pytest.mark.integration
def test_a_selective_make_synth_keeps_the_other_stacks(tmp_path):
    """`HASHISTACK_STACKS=prod make synth` (the README's daily deploy) rebuilds prod and leaves the
    other stacks' output where a full synth put it."""
    if not shutil.which("make"):
        pytest.skip("make not on PATH")
    project = copy_project(tmp_path / "project")
    stacks = project / "cdktf.out" / "stacks"
    for name in ("dev-infra", "uat-vault"):  # as a full synth left them
        (stacks / name).mkdir(parents=True)
        (stacks / name / "cdk.tf.json").write_text("{}")
    (stacks / "renamed-stack").mkdir()
    result = run(["make", "--no-print-directory", "synth"], project, HASHISTACK_STACKS="prod")
    assert result.returncode == 0, result.stderr
    assert sorted(d.name for d in stacks.iterdir()) == ["dev-infra", "prod", "uat-vault"]
