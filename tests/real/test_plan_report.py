"""The offline plan report: on constructed before/after pairs, on the real app, through
`make plan-report`, and end to end by running the README's CI snippet on a branch that only bumps
one image tag."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from scripts.plan_report import CHANGED, NO_CHANGE, compare, load_stacks, main, render
from stacks.environments import ENVIRONMENTS

from tests.conftest import synthesize

ROOT = Path(__file__).resolve().parents[2]


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


def test_security_group_rules_are_listed_with_ports_and_peers():
    dev = compare(BEFORE, after())[0]
    assert dev.rules_added == ["ingress 8200/tcp from 10.200.0.0/24: vault api from operators"]
    text = render(compare(BEFORE, after()), base="a", head="b")
    assert "**Security group rules added**\n- ingress 8200/tcp from 10.200.0.0/24: vault api from operators" in text
    assert "## `dev`: 2 to add, 2 to change, 1 to remove" in text


def test_security_group_references_read_as_the_groups_names():
    groups = {"aws_security_group.nomad_1": {"name": "hs-dev-nomad-server"},
              "aws_security_group.client_1": {"name_prefix": "hs-dev-nomad-client-"}}
    rule = {"from_port": 4647, "to_port": 4647, "ip_protocol": "tcp", "description": "nomad rpc",
            "security_group_id": "${aws_security_group.nomad_1.id}",
            "referenced_security_group_id": "${aws_security_group.client_1.id}"}
    egress = {"from_port": 443, "to_port": 443, "ip_protocol": "tcp", "description": "https out",
              "security_group_id": "${aws_security_group.client_1.id}", "cidr_ipv4": "0.0.0.0/0"}
    (dev,) = compare({"dev": groups}, {"dev": {**groups, "aws_vpc_security_group_ingress_rule.r_1": rule,
                                               "aws_vpc_security_group_egress_rule.e_1": egress}})
    assert dev.rules_added == ["egress 443/tcp on hs-dev-nomad-client- to 0.0.0.0/0: https out",
                               "ingress 4647/tcp on hs-dev-nomad-server from hs-dev-nomad-client-: nomad rpc"]


EXISTING = {"vault_jwt_auth_backend_role.other_1": {"role_name": "other"}}  # the stack is not new


def test_an_added_policy_shows_its_hcl():
    policy = {"name": "svc-web", "policy": 'path "secret/data/dev/web" {\n  capabilities = ["read"]\n}\n'}
    (dev,) = compare({"dev": EXISTING}, {"dev": {**EXISTING, "vault_policy.web_policy_1": policy}})
    text = render([dev], base="a", head="b")
    assert ('**Added** `vault_policy.web_policy_1`\npolicy `svc-web`:\n```hcl\npath "secret/data/dev/web" {\n'
            '  capabilities = ["read"]\n}\n```') in text


def real_job(synth, stack: str, name: str) -> tuple[str, dict]:
    """The address and config of the ``nomad_job`` of service ``name`` in a synthesized stack."""
    for address, config in load_stacks(synth.outdir)[stack].items():
        if address.startswith("nomad_job.") and f'"ID":"{name}"' in config["jobspec"].replace(" ", ""):
            return address, config
    raise AssertionError(f"no job {name} in {stack}")


def test_an_added_job_shows_its_decoded_essentials(synth):
    address, config = real_job(synth, "prod", "ledger")
    (prod,) = compare({"prod": EXISTING}, {"prod": {**EXISTING, address: config}})
    lines = prod.details[address]
    assert lines[0] == "- job `ledger` (service) in dc1, namespace `default`"
    assert "- group `ledger`: count 2" in lines
    assert ("  - update: canary 2 (auto-promote), max_parallel 2, auto_revert true, health from checks, "
            "min_healthy 10s, healthy_deadline 5m, progress_deadline 10m") in lines
    assert "  - network (bridge), no host port" in lines
    assert '  - service `ledger` on `9090` (consul), tags ["grpc", "env-prod"]' in lines
    assert ("    - check grpc ledger.v1.Ledger on `9090` (alloc address) every 5s, timeout 1s, restart after 3 "
            "failures") in lines
    assert "    - Connect sidecar: upstreams none" in lines
    address, config = real_job(synth, "prod", "my-go-app")
    (app,) = compare({"prod": EXISTING}, {"prod": {**EXISTING, address: config}})
    assert "    - Connect sidecar: upstreams `ledger` on 127.0.0.1:9091" in app.details[address]
    assert "  - task `ledger` (docker): image `registry.example.com/platform/ledger:0.9.3`" in lines
    assert "    - resources: cpu 1000 MHz, memory 1024 MiB" in lines
    assert "    - Vault role `ledger`" in lines
    assert ("    - template `secrets/ledger-database.env` (on change: restart, perms 0400, as env): "
            "reads secret `secret/data/prod/ledger/database`") in lines
    assert ("    - template `secrets/tls/bundle.pem` (on change: restart, perms 0400): "
            "reads pkiCert `pki-int/issue/ledger`") in lines
    assert "\n".join(lines) in render([prod], base="a", head="b")


def test_a_new_environment_is_summarised_per_stack_and_type(synth):
    head = load_stacks(synth.outdir)
    env = ENVIRONMENTS[-1]
    base = {name: stack for name, stack in head.items() if name not in env.stack_names}
    changes = compare(base, head)
    text = render(changes, base="a", head="b")
    new = {c.stack for c in changes if c.new}
    assert new == set(env.stack_names)
    infra = next(c for c in changes if c.stack == f"{env.name}-infra")
    assert len(infra.added) > 100
    rules = sum(1 for a in infra.added if a.startswith("aws_vpc_security_group_ingress_rule."))
    assert f"**Added** {len(infra.added)} resources (a new stack), summarised per type:" in text
    assert f"| `aws_vpc_security_group_ingress_rule` | {rules} |" in text
    assert "- ingress " not in text  # not one line per rule
    from stacks.apps import services

    jobs = sorted(spec.name for spec in services(env).deployed)  # the services and the proxy
    assert f"Nomad jobs: {', '.join(f'`{n}`' for n in jobs)}" in text
    assert "Vault policies: `" in text
    assert "- job `" not in text and "```hcl" not in text
    assert len(text.splitlines()) < 120


def test_a_few_additions_to_an_existing_stack_are_listed_one_by_one(synth):
    head = load_stacks(synth.outdir)
    env = ENVIRONMENTS[0]
    job_address, _ = real_job(synth, env.name, "my-go-app")
    base = {**head, env.name: {a: c for a, c in head[env.name].items() if a != job_address}}
    text = render(compare(base, head), base="a", head="b")
    assert f"**Added** `{job_address}`\n- job `my-go-app` (service)" in text
    assert "summarised per type" not in text


def test_the_real_app_with_one_image_bump(synth, tmp_path, monkeypatch):
    from stacks.apps import my_go_app

    monkeypatch.setattr(my_go_app, "IMAGE", "registry.example.com/platform/my-go-app:9.9.9")
    # the service and access layers: the infra layer reads no service (stacks/infra.py), so a
    # service's image cannot reach it, and building it would only load the AWS provider
    layers = [name for e in ENVIRONMENTS for name in e.stack_names[1:]]
    bumped = synthesize(tmp_path / "bumped", stacks=",".join(layers))
    base = tmp_path / "base"
    for name in layers:
        shutil.copytree(synth.outdir / "stacks" / name, base / "stacks" / name)
    exit_code = main(["--base-dir", str(base), "--head-dir", str(bumped.outdir)])
    assert exit_code == CHANGED
    changes = {c.stack: c for c in compare(load_stacks(base), load_stacks(bumped.outdir))}
    assert sorted(changes) == sorted(layers)
    assert sorted(s for s, c in changes.items() if not c.empty) == sorted(e.name for e in ENVIRONMENTS)
    for name in (e.name for e in ENVIRONMENTS):
        c = changes[name]
        assert not c.added and not c.removed and len(c.changed) == 1
        (lines,) = c.changed.values()
        assert lines == ['- `jobspec.Job.Meta.version`: "1.4.2" → "9.9.9"',
                         '- `jobspec.Job.TaskGroups[my-go-app].Tasks[my-go-app].Config.image`: '
                         '"registry.example.com/platform/my-go-app:1.4.2" → "registry.example.com/platform/my-go-app:9.9.9"']
    assert main(["--base-dir", str(synth.outdir), "--head-dir", str(synth.outdir)]) == NO_CHANGE


def intention_entry(destination: str, *sources: str, action: str = "allow") -> dict:
    return {"name": destination, "sources": [{"name": s, "action": action, "description": "d"} for s in sources]}


def test_intentions_added_and_removed_are_listed_as_edges():
    # Given the access layer's entries (one per destination), when a source joins one entry, an
    # entry appears and another goes, then the report lists the edges, not the entries.
    before = {"dev-vault": {
        "consul_config_entry_service_intentions.deny_1": intention_entry("*", "*", action="deny"),
        "consul_config_entry_service_intentions.ledger_1": intention_entry("ledger", "web"),
        "consul_config_entry_service_intentions.search_1": intention_entry("search", "web"),
    }}
    after = {"dev-vault": {
        "consul_config_entry_service_intentions.deny_1": intention_entry("*", "*", action="deny"),
        "consul_config_entry_service_intentions.ledger_1": intention_entry("ledger", "batch", "web"),
        "consul_config_entry_service_intentions.web_1": intention_entry("web", "ingress-proxy"),
    }}
    (vault,) = compare(before, after)
    assert vault.intentions_added == ["`batch` → `ledger` (allow)", "`ingress-proxy` → `web` (allow)"]
    assert vault.intentions_removed == ["`web` → `search` (allow)"]
    text = render([vault], base="a", head="b")
    assert ("**Intentions added** (source → destination)\n- `batch` → `ledger` (allow)\n"
            "- `ingress-proxy` → `web` (allow)") in text
    assert "**Intentions removed** (source → destination)\n- `web` → `search` (allow)" in text
    assert compare(before, before)[0].intentions_added == []


TRIAL_UPSTREAM = """

# The trial: one more upstream for this service, nothing else.
_SERVICE_BEFORE_TRIAL = service


def service(env):
    import dataclasses

    from hashistack.service import Upstream

    spec = _SERVICE_BEFORE_TRIAL(env)
    return dataclasses.replace(spec, upstreams=(*spec.upstreams, Upstream({target!r}, {port})))
"""


@pytest.mark.integration
def test_adding_one_upstream_changes_exactly_one_intention_per_environment(synth, tmp_path):
    # Given a copy of the project where one service module (the first in the mesh) declares one
    # more upstream, a service of the app it does not call yet,
    from stacks.apps import service_modules, service_specs

    from tests.support.project_copy import copy_project, run

    env = ENVIRONMENTS[0]
    mesh = [m for m in service_modules() if m.service(env).registration == "consul"]
    if len(mesh) < 2:
        pytest.fail("the app needs two services registered in Consul for this trial")
    module = mesh[0]
    spec = module.service(env)
    source = spec.service_name or spec.name
    calls = {u.service for e in ENVIRONMENTS for u in module.service(e).upstreams}
    target = next(s.service_name or s.name for s in service_specs(env)
                  if s.registration == "consul" and (s.service_name or s.name) not in calls | {source})
    taken = {spec.port, *spec.extra_ports.values(), *(u.local_port for u in spec.upstreams)}
    port = next(p for p in range(19000, 20000) if p not in taken)
    project = copy_project(tmp_path / "project")
    path = project / "stacks" / "apps" / f"{module.__name__.rsplit('.', 1)[1]}.py"
    path.write_text(path.read_text() + TRIAL_UPSTREAM.format(target=target, port=port))
    # when the copy's service and access layers are synthesized (an upstream is the business of
    # those two: <env>-infra holds nothing of Consul, unit/consul/test_workload_identity.py) and the plan report
    # compares them with the same stacks of this checkout's synth,
    layers = [name for e in ENVIRONMENTS for name in e.stack_names[1:]]
    out, base = tmp_path / "out", tmp_path / "base"
    synthesized = run([sys.executable, "main.py"], project, CDKTF_OUTDIR=str(out), HASHISTACK_STACKS=",".join(layers))
    assert synthesized.returncode == 0, synthesized.stderr[-3000:]
    assert sorted(p.name for p in (out / "stacks").iterdir()) == sorted(layers)
    for name in layers:
        shutil.copytree(synth.outdir / "stacks" / name, base / "stacks" / name)
    report = run([sys.executable, "scripts/plan_report.py", "--base-dir", str(base), "--head-dir", str(out)], project)
    assert report.returncode == CHANGED, report.stderr[-2000:]
    # then each environment's access layer gains exactly the one edge, and nothing else anywhere
    # reads as an intention change.
    edge = f"- `{source}` → `{target}` (allow)"
    sections = re.split(r"^## ", report.stdout, flags=re.M)[1:]
    intention_lines = {s.split(":", 1)[0].strip("`"): [line for line in s.splitlines() if " → `" in line]
                       for s in sections}
    assert {stack: lines for stack, lines in intention_lines.items() if lines} == {
        e.stack_names[1]: [edge] for e in ENVIRONMENTS}
    assert report.stdout.count("**Intentions added**") == len(ENVIRONMENTS)
    assert "**Intentions removed**" not in report.stdout
    changes = {c.stack: c for c in compare(load_stacks(base), load_stacks(out))}
    for e in ENVIRONMENTS:
        assert changes[e.stack_names[1]].intentions_added == [edge[2:]]


def test_bad_arguments_exit_1(capsys):
    assert main(["--base-dir", "x"]) == 1
    assert "--base-dir and --head-dir go together" in capsys.readouterr().err


def readme_ci_snippet() -> str:
    """The README's CI step for the plan report, verbatim."""
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", readme, flags=re.S)
    (snippet,) = [b for b in blocks if "scripts/plan_report.py --base origin/main" in b]
    return snippet


def project_copy(dest: Path) -> Path:
    """A git repository holding the working tree's app, committed on ``main``, sharing this
    checkout's installed .venv and node_modules."""
    subprocess.run(["git", "init", "-q", "-b", "main", str(dest)], check=True)
    for name in ("stacks", "constructs", "services", "scripts", "main.py", "cdktf.json"):
        src, dst = ROOT / name, dest / name
        if src.is_dir():
            shutil.copytree(src, dst, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, dst)
    (dest / ".gitignore").write_text(".venv\nnode_modules\nplan.md\n")
    git = ["git", "-C", str(dest), "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "base"], check=True)
    for name in (".venv", "node_modules"):
        (dest / name).symlink_to(ROOT / name)
    return dest


@pytest.mark.integration
def test_the_readme_ci_snippet_on_an_image_bump_and_on_an_error(tmp_path):
    """The snippet as CI runs it (bash -e): a branch that bumps one image tag gets a report and a
    passing step; a report that cannot be made fails the step. This synthesizes twice."""
    if not shutil.which("git"):
        pytest.skip("git not on PATH")
    snippet = readme_ci_snippet()
    origin = project_copy(tmp_path / "origin")
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(origin), str(clone)], check=True)
    for name in (".venv", "node_modules"):
        (clone / name).symlink_to(ROOT / name)
    app = clone / "stacks" / "apps" / "my_go_app.py"
    app.write_text(app.read_text().replace("my-go-app:1.4.2", "my-go-app:1.4.3"))

    run = subprocess.run(["bash", "-e", "-c", snippet], cwd=clone, capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert run.stdout == ""
    report = (clone / "plan.md").read_text()
    n = len(ENVIRONMENTS)
    assert report.startswith("# Plan report: `")
    assert f"{n} resource change(s) in {n} of {3 * n} stacks" in report
    assert report.count('Config.image`: "registry.example.com/platform/my-go-app:1.4.2" → '
                        '"registry.example.com/platform/my-go-app:1.4.3"') == n

    # the same step in a repository without origin/main: the report fails, and so does the step
    failed = subprocess.run(["bash", "-e", "-c", snippet], cwd=origin, capture_output=True, text=True)
    assert failed.returncode == 1
    assert "plan report failed:" in failed.stderr


@pytest.mark.integration
def test_make_plan_report_prints_only_the_report_and_fails_only_on_error(synth, tmp_path):
    """`make plan-report` exits 0 whether or not something changed (make cannot pass 2 on), non-zero
    when the report fails, and writes nothing but the report to stdout."""
    if not shutil.which("make"):
        pytest.skip("make not on PATH")
    head = tmp_path / "head"
    shutil.copytree(synth.outdir, head)
    for path in (head / "stacks").glob("*/cdk.tf.json"):
        path.write_text(path.read_text().replace("my-go-app:1.4.2", "my-go-app:1.4.3"))

    def make(args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["make", "--no-print-directory", "plan-report", f"PLAN_ARGS={args}"], cwd=ROOT,
                              capture_output=True, text=True)

    changed = make(f"--base-dir {synth.outdir} --head-dir {head}")
    assert changed.returncode == 0, changed.stderr
    assert changed.stdout.startswith("# Plan report: `") and "plan_report.py" not in changed.stdout
    assert "my-go-app:1.4.3" in changed.stdout
    same = make(f"--base-dir {synth.outdir} --head-dir {synth.outdir}")
    assert same.returncode == 0 and "No changes" in same.stdout
    error = make(f"--base-dir {synth.outdir}")
    assert error.returncode != 0 and "plan report failed: --base-dir and --head-dir go together" in error.stderr
    assert error.stdout == ""


def test_a_jobs_essentials_show_its_expose_paths():
    from hashistack.service import HealthCheck, ServiceSpec, plan_service
    from scripts.plan_report import job_essentials
    from stacks.environments import DEV

    plan = plan_service(ServiceSpec(name="web", image="example/web:1.0", health=HealthCheck.http("/health")), DEV)
    lines = job_essentials(plan.job.to_api())
    assert "  - ports (bridge): `expose-health` → same (dynamic)" in lines
    assert "    - Connect sidecar: upstreams none; exposes /health on `expose-health`" in lines
    assert "    - check http /health on `expose-health` every 10s, timeout 2s, restart after 3 failures" in lines


def test_the_synth_cache_key_is_the_source_files_wherever_they_are(tmp_path):
    """The report's synths are cached by source_digest: a commit and a working tree holding the
    same files share it (yesterday's head is today's base); any edited, added or removed file
    that git does not ignore changes it, an ignored one does not."""
    from scripts.plan_report import source_digest

    if not shutil.which("git"):
        pytest.skip("git not on PATH")
    repo = tmp_path / "repo"
    git = ["git", "-C", str(repo), "-c", "user.email=ci@example.com", "-c", "user.name=ci"]
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    (repo / "stacks").mkdir()
    (repo / "stacks" / "app.py").write_text("IMAGE = 'web:1.0'\n")
    (repo / ".gitignore").write_text("cdktf.out/\n")
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "base"], check=True)
    committed = source_digest(repo, "main")
    assert source_digest(repo) == committed
    (repo / "cdktf.out").mkdir()
    (repo / "cdktf.out" / "manifest.json").write_text("{}")
    assert source_digest(repo) == committed  # ignored
    (repo / "stacks" / "app.py").write_text("IMAGE = 'web:1.1'\n")
    edited = source_digest(repo)
    assert edited != committed
    (repo / "stacks" / "new.py").write_text("")
    assert source_digest(repo) not in (committed, edited)  # untracked, not ignored
    (repo / "stacks" / "new.py").unlink()
    (repo / "stacks" / "app.py").unlink()
    assert source_digest(repo) not in (committed, edited)
    subprocess.run([*git, "checkout", "-q", "--", "stacks/app.py"], check=True)
    assert source_digest(repo) == committed
    with pytest.raises(RuntimeError, match="cannot check out 'origin/main'"):
        source_digest(repo, "origin/main")
