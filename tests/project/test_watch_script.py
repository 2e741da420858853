"""make watch: scripts/watch.py against a loopback stand-in of Nomad's HTTP API, the jobs read from
the synthesized services stack, ending with the worst outcome's exit code and a summary."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from scripts import watch as script
from tests.support.http_stub import reply_json

JOBS = {
    "ledger": ({"ID": "ledger", "Type": "service", "Version": 2},
               {"ID": "d-l", "JobVersion": 2, "Status": "successful", "StatusDescription": "Deployment completed "
                "successfully", "TaskGroups": {"ledger": {"DesiredTotal": 2, "HealthyAllocs": 2}}}),
    "my-go-app": ({"ID": "my-go-app", "Type": "service", "Version": 5},
                  {"ID": "d-m", "JobVersion": 5, "Status": "failed", "StatusDescription": "Failed due to unhealthy "
                   "allocations - rolling back to job version 4", "TaskGroups": {"my-go-app": {
                       "DesiredTotal": 2, "HealthyAllocs": 0, "UnhealthyAllocs": 1}}}),
}


class Nomad(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802
        assert self.headers.get("X-Nomad-Token") == "secret-token"
        parts = self.path.strip("/").split("/")
        if parts[:2] == ["v1", "job"] and len(parts) == 3:
            return reply_json(self, JOBS[parts[2]][0])
        if parts[:2] == ["v1", "job"] and parts[3:] == ["deployments"]:
            return reply_json(self, [JOBS[parts[2]][1]])
        if parts[:3] == ["v1", "deployment", "allocations"]:
            return reply_json(self, [{"ID": "abcdef012345", "NodeName": "client-0", "ClientStatus": "failed",
                                      "TaskStates": {"my-go-app": {"State": "dead", "Failed": True, "Events": [
                                          {"Type": "Driver Failure", "DisplayMessage": "image not found"}]}}}])
        return reply_json(self, "not found", 404)

    def log_message(self, *args):
        pass


@pytest.fixture
def nomad(monkeypatch):
    server = ThreadingHTTPServer(("127.0.0.1", 0), Nomad)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("NOMAD_ADDR", f"http://127.0.0.1:{server.server_port}")
    monkeypatch.setenv("NOMAD_TOKEN", "secret-token")
    yield
    server.shutdown()


def test_the_watch_reads_the_stacks_jobs_and_exits_with_the_worst_outcome(nomad, tmp_path, capsys):
    stack = tmp_path / "stacks" / "prod"
    stack.mkdir(parents=True)
    resources = {name: {"jobspec": json.dumps({"Job": {"ID": name}})} for name in ("my-go-app", "ledger")}
    (stack / "cdk.tf.json").write_text(json.dumps({"resource": {"nomad_job": resources}}))
    assert script.main(["--env", "prod", "--outdir", str(tmp_path), "--poll", "0"]) == 3
    out = capsys.readouterr().out
    assert "ledger: v2 successful" in out
    assert "my-go-app: v5 rolled-back, reverted to v4" in out
    assert "task my-go-app (dead, failed): Driver Failure: image not found" in out


def test_without_nomad_addr_it_says_what_to_set(monkeypatch, capsys):
    monkeypatch.delenv("NOMAD_ADDR", raising=False)
    assert script.main(["--env", "prod", "ledger"]) == 1
    assert "NOMAD_ADDR is not set" in capsys.readouterr().err


def test_make_deploy_watches_the_services_stacks_it_deployed(nomad, monkeypatch, capsys):
    assert script.services_stacks("prod-infra,prod-vault") == []
    assert script.services_stacks("prod") == ["prod"]
    assert script.services_stacks("dev*,uat") == ["dev", "uat"]
    watched = []
    monkeypatch.setattr(script, "main", lambda argv: watched.append(argv) or 3)
    assert script.after_deploy("dev-infra,prod") == 3
    assert watched == [["--env", "prod", "--since-ns", "0"]]
    assert script.after_deploy("prod", 123) == 3 and watched[-1] == ["--env", "prod", "--since-ns", "123"]


def test_make_deploy_without_nomad_addr_says_how_to_watch(monkeypatch, capsys):
    monkeypatch.delenv("NOMAD_ADDR", raising=False)
    assert script.after_deploy("uat") == 0
    assert "rollouts not watched: set NOMAD_ADDR" in capsys.readouterr().out
    assert script.after_deploy("uat-infra") == 0


def test_an_unreachable_nomad_is_a_failure_with_the_reason_not_a_traceback(monkeypatch, capsys):
    monkeypatch.setenv("NOMAD_ADDR", "http://127.0.0.1:9")
    assert script.main(["--env", "prod", "--timeout", "0", "ledger"]) == 4
    assert "ledger: ? failed" in capsys.readouterr().out


def test_an_unsynthesized_stack_says_to_synthesize(tmp_path, monkeypatch):
    monkeypatch.setenv("NOMAD_ADDR", "http://127.0.0.1:9")
    with pytest.raises(SystemExit, match=r"'qa' is not synthesized: run HASHISTACK_STACKS=qa make synth"):
        script.main(["--env", "qa", "--outdir", str(tmp_path)])
