"""The offline plan report: on constructed before/after pairs, on the real app, and end to end
on a commit that only bumps one image tag."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.plan_report import CHANGED, NO_CHANGE, compare, load_stacks, main, render

from .conftest import synthesize

ROOT = Path(__file__).resolve().parent.parent


def job(image: str, count: int = 1) -> dict:
    spec = {"Job": {"ID": "web", "TaskGroups": [{"Name": "web", "Count": count, "Tasks": [
        {"Name": "web", "Config": {"image": image}, "Env": {"ID": "${NOMAD_ALLOC_ID}"}}]}]}}
    return {"jobspec": json.dumps(spec).replace("${", "$${"), "json": True}


BEFORE = {
    "dev": {
        "nomad_job.web_job_1": job("web:1.0"),
        "vault_policy.web_policy_1": {"name": "svc-web",
                                      "policy": 'path "secret/data/dev/web" {\n  capabilities = ["read"]\n}\n'},
        "vault_jwt_auth_backend_role.old_1": {"role_name": "old"},
        "aws_vpc_security_group_ingress_rule.in_1": {"from_port": 4647, "to_port": 4647, "ip_protocol": "tcp",
                                                     "referenced_security_group_id": "sg-a", "description": "rpc"},
    },
    "dev-infra": {"aws_vpc.vpc": {"cidr_block": "10.0.0.0/16"}},
}


def after() -> dict:
    stacks = json.loads(json.dumps(BEFORE))
    stacks["dev"]["nomad_job.web_job_1"] = job("web:1.1", count=2)
    stacks["dev"]["vault_policy.web_policy_1"]["policy"] += 'path "pki-int/issue/web" {\n  capabilities = ["update"]\n}\n'
    del stacks["dev"]["vault_jwt_auth_backend_role.old_1"]
    stacks["dev"]["vault_jwt_auth_backend_role.new_1"] = {"role_name": "new"}
    stacks["dev"]["aws_vpc_security_group_ingress_rule.in_2"] = {
        "from_port": 8200, "to_port": 8200, "ip_protocol": "tcp", "cidr_ipv4": "10.200.0.0/24",
        "description": "vault api from operators"}
    return stacks


def test_identical_inputs_report_no_change():
    changes = compare(BEFORE, BEFORE)
    assert all(c.empty for c in changes)
    assert "No changes: all 2 stacks" in render(changes, base="a", head="b")


def test_added_removed_and_changed_resources():
    (dev, infra) = compare(BEFORE, after())
    assert infra.empty
    assert dev.added == ["aws_vpc_security_group_ingress_rule.in_2", "vault_jwt_auth_backend_role.new_1"]
    assert dev.removed == ["vault_jwt_auth_backend_role.old_1"]
    assert sorted(dev.changed) == ["nomad_job.web_job_1", "vault_policy.web_policy_1"]


def test_a_job_change_is_a_field_level_diff_of_the_decoded_job():
    dev = compare(BEFORE, after())[0]
    lines = dev.changed["nomad_job.web_job_1"]
    assert lines == [
        '- `jobspec.Job.TaskGroups[web].Count`: 1 → 2',
        '- `jobspec.Job.TaskGroups[web].Tasks[web].Config.image`: "web:1.0" → "web:1.1"',
    ]


def test_a_policy_change_is_a_line_diff_of_its_hcl():
    lines = compare(BEFORE, after())[0].changed["vault_policy.web_policy_1"]
    assert lines[0] == "```diff" and lines[-1] == "```"
    assert '+path "pki-int/issue/web" {' in lines and '+  capabilities = ["update"]' in lines
    assert not any(line.startswith("-path") for line in lines)


def test_security_group_port_rules_are_listed():
    dev = compare(BEFORE, after())[0]
    assert dev.rules_added == ["ingress 8200/tcp 10.200.0.0/24: vault api from operators"]
    text = render(compare(BEFORE, after()), base="a", head="b")
    assert "**Security group port rules**\n- added: ingress 8200/tcp 10.200.0.0/24" in text
    assert "## `dev`: 2 to add, 2 to change, 1 to remove" in text


def test_the_real_app_with_one_image_bump(synth, tmp_path, monkeypatch):
    from stacks.apps import my_go_app

    monkeypatch.setattr(my_go_app, "IMAGE", "registry.example.com/platform/my-go-app:9.9.9")
    bumped = synthesize(tmp_path / "bumped")
    exit_code = main(["--base-dir", str(synth.outdir), "--head-dir", str(bumped.outdir)])
    assert exit_code == CHANGED
    changes = {c.stack: c for c in compare(load_stacks(synth.outdir), load_stacks(bumped.outdir))}
    assert sorted(s for s, c in changes.items() if not c.empty) == ["dev", "prod", "uat"]
    for name in ("dev", "uat", "prod"):
        c = changes[name]
        assert not c.added and not c.removed and len(c.changed) == 1
        (lines,) = c.changed.values()
        assert lines == ['- `jobspec.Job.TaskGroups[my-go-app].Tasks[my-go-app].Config.image`: '
                         '"registry.example.com/platform/my-go-app:1.4.2" → "registry.example.com/platform/my-go-app:9.9.9"']
    assert main(["--base-dir", str(synth.outdir), "--head-dir", str(synth.outdir)]) == NO_CHANGE


def test_bad_arguments_exit_1(capsys):
    assert main(["--base-dir", "x"]) == 1
    assert "--base-dir and --head-dir go together" in capsys.readouterr().err


@pytest.mark.integration
def test_end_to_end_on_a_commit_that_bumps_one_image_tag(tmp_path):
    if not shutil.which("git"):
        pytest.skip("git not on PATH")
    clone = tmp_path / "repo"
    subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
    for name in ("stacks", "constructs", "services", "scripts", "main.py"):  # the working tree, as it is now
        src, dst = ROOT / name, clone / name
        if src.is_dir():
            shutil.rmtree(dst, ignore_errors=True)
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, dst)
    git = ["git", "-C", str(clone), "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "base"], check=True)
    app = clone / "stacks" / "apps" / "my_go_app.py"
    app.write_text(app.read_text().replace("my-go-app:1.4.2", "my-go-app:1.4.3"))
    subprocess.run([*git, "commit", "-qam", "bump my-go-app"], check=True)

    run = subprocess.run([sys.executable, str(clone / "scripts" / "plan_report.py"), "--base", "HEAD~1"],
                         cwd=clone, capture_output=True, text=True)
    assert run.returncode == CHANGED, run.stderr
    assert "3 resource change(s) in 3 of 9 stacks" in run.stdout
    assert run.stdout.count('Config.image`: "registry.example.com/platform/my-go-app:1.4.2" → '
                           '"registry.example.com/platform/my-go-app:1.4.3"') == 3
