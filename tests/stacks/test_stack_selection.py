"""Stack selection (HASHISTACK_STACKS): the daily service deploy builds and loads only its stack.

Given the app's stacks, when a selection names some of them, then only those are built, each
byte-identical to the same stack in a full synth, and a service or Vault stack built in a fresh
process (as `cdktf synth` runs the app) never imports the AWS provider.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hashistack import HashistackError
from stacks.app import STACKS_VARIABLE, select_stacks, stack_names
from stacks.environments import ENVIRONMENTS

from tests.conftest import ALL_STACKS, Synth, synthesize_alone

ROOT = Path(__file__).resolve().parents[2]
AWS = "cdktf_cdktf_provider_aws"

# Runs main.py exactly as `cdktf synth` does (cdktf.json: `.venv/bin/python main.py`, output
# directory from CDKTF_OUTDIR), then reports which provider packages the process imported.
RUN_MAIN = """
import json, runpy, sys
try:
    runpy.run_path("main.py", run_name="__main__")
    code = 0
except SystemExit as done:
    code = done.code
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules if m.startswith("cdktf_cdktf_provider")})))
sys.exit(code)
"""


def run_main(selection: str, outdir: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, STACKS_VARIABLE: selection, "CDKTF_OUTDIR": str(outdir)}
    return subprocess.run([sys.executable, "-c", RUN_MAIN], cwd=ROOT, env=env, capture_output=True, text=True)


def files_of(outdir: Path, stack: str) -> dict[str, bytes]:
    folder = outdir / "stacks" / stack
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# --- the selection rule (no jsii) ----------------------------------------------------------------

NAMES = stack_names()


@pytest.mark.parametrize("selection", [None, "", "  ", "*"])
def test_unset_blank_or_star_selects_every_stack(selection):
    assert select_stacks(selection, NAMES) == set(NAMES)


def test_a_name_selects_that_stack_only():
    assert select_stacks("prod", NAMES) == {"prod"}


def test_globs_and_names_combine_comma_separated():
    assert select_stacks("*-vault, dev", NAMES) == {f"{e.name}-vault" for e in ENVIRONMENTS} | {"dev"}
    assert select_stacks("prod*", NAMES) == {"prod", "prod-infra", "prod-vault"}
    assert select_stacks("uat,,uat", NAMES) == {"uat"}


def test_names_are_exact_and_case_sensitive():
    with pytest.raises(HashistackError):
        select_stacks("Prod", NAMES)
    with pytest.raises(HashistackError):
        select_stacks("pro", NAMES)


def test_rejects_an_unknown_name_listing_the_stacks():
    with pytest.raises(HashistackError) as error:
        select_stacks("prod,prd", NAMES)
    message = str(error.value)
    assert message.startswith(f"app: {STACKS_VARIABLE} = 'prod,prd': no stack is named 'prd'; the stacks are ")
    assert ", ".join(NAMES) in message
    assert "\n" not in message


def test_rejects_a_glob_that_matches_nothing():
    with pytest.raises(HashistackError, match=r"no stack matches '\*-network'; the stacks are dev-infra, "):
        select_stacks("*-network", NAMES)


# --- a selected stack is the same stack as in the full synth ----------------------------------------

@pytest.mark.parametrize("name", ALL_STACKS)
def test_a_selected_stack_is_byte_identical_to_the_full_synth(synth: Synth, tmp_path, name):
    alone = synthesize_alone(name, tmp_path)  # the run's early synth builds each stack alone too
    assert alone.stack_names() == [name]
    expected = files_of(synth.outdir, name)
    assert expected and files_of(alone.outdir, name) == expected
    manifest = json.loads((alone.outdir / "manifest.json").read_text())
    assert sorted(manifest["stacks"]) == [name]


# --- the process model of `cdktf synth`: a fresh process running main.py -----------------------------

def test_prod_alone_never_loads_the_aws_provider_and_matches_the_full_synth(synth: Synth, tmp_path):
    result = run_main("prod", tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    # the probe sees the provider the stack does use (Nomad), and AWS is not among them
    providers = json.loads(result.stdout.strip().splitlines()[-1])
    assert "cdktf_cdktf_provider_nomad" in providers and AWS not in providers
    assert sorted(p.name for p in (tmp_path / "stacks").iterdir()) == ["prod"]
    assert files_of(tmp_path, "prod") == files_of(synth.outdir, "prod")


def test_every_vault_and_service_stack_builds_without_the_aws_provider(synth: Synth, tmp_path):
    wanted = [name for env in ENVIRONMENTS for name in env.stack_names[1:]]  # all but <env>-infra
    result = run_main(",".join(wanted), tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert AWS not in json.loads(result.stdout.strip().splitlines()[-1])
    assert sorted(p.name for p in (tmp_path / "stacks").iterdir()) == sorted(wanted)
    for name in wanted:
        assert files_of(tmp_path, name) == files_of(synth.outdir, name), name


def test_importing_the_test_modules_loads_no_provider_package():
    """Every pytest-xdist worker imports every test module to collect it: one that imported a
    provider package at module level (through a library module that does) would cost each worker
    the AWS provider's load, most of a full synth, before its first test."""
    code = ("import importlib, pathlib, sys; [importlib.import_module(f'tests.{p.stem}') for p in "
            "sorted(pathlib.Path('tests').glob('test_*.py'))]; "
            "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith('cdktf_cdktf_provider')}))")
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                            env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "constructs"), str(ROOT)])})
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout == "[]\n"


def test_main_fails_on_an_unknown_stack_with_the_list_of_stacks(tmp_path):
    result = run_main("prdo", tmp_path)
    assert result.returncode == 1
    # one line, no traceback (main.py prints a HashistackError once)
    lines = [line for line in result.stderr.splitlines() if "HASHISTACK_STACKS" in line]
    assert lines == [f"error: app: {STACKS_VARIABLE} = 'prdo': no stack is named 'prdo'; the stacks are "
                     f"{', '.join(NAMES)} (give names or globs such as '*-vault', comma-separated, or unset it "
                     "to build all)"]
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "stacks").exists()


# --- make deploy / make diff ---------------------------------------------------------------------

def make(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in (STACKS_VARIABLE, "MAKEFLAGS", "MAKELEVEL")}
    return subprocess.run(["make", "--no-print-directory", *args], cwd=ROOT, env=env, capture_output=True, text=True)


@pytest.mark.parametrize("target", ["deploy", "diff"])
def test_make_target_without_env_lists_the_stacks(target):
    result = make(target)
    assert result.returncode == 2
    assert f"make {target} ENV=<stack>" in result.stderr
    assert " ".join(NAMES) in result.stderr


@pytest.mark.integration
def test_make_diff_hands_the_stack_to_the_app_through_the_cdktf_cli():
    # An unknown stack makes the app itself fail while `cdktf diff` synthesizes: the selection
    # reached main.py through the pinned CLI, and nothing was synthesized or planned.
    result = make("diff", "ENV=prdo")
    assert result.returncode != 0
    assert f"{STACKS_VARIABLE} = 'prdo': no stack is named 'prdo'; the stacks are {', '.join(NAMES)}" \
        in result.stdout + result.stderr
