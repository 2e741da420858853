"""The deploy watcher against a stand-in of Nomad 1.10's deployment and allocation endpoints
(api/deployments.go, api/allocations.go; statuses and descriptions from nomad/structs/structs.go):
a success, a failed canary that Nomad reverts, a failure without a revert, a system job whose
allocations fail, and a rollout Nomad never decides."""

from __future__ import annotations

from hashistack.releases.watch import watch


class FakeNomad:
    """Answers the watcher's GETs from scripted documents: each poll of the deployment (or of the
    allocations, for a system job) takes the next one, the last one repeating."""

    def __init__(self, job: dict, polls: list, allocations: list | None = None) -> None:
        self.job, self.polls, self.allocations, self.calls = job, list(polls), allocations or [], []
        self.evaluations: list = []

    def get(self, path: str):
        self.calls.append(path)
        if path == f"/v1/job/{self.job['ID']}":
            return 200, self.job
        if path.endswith("/deployments") or path.endswith("/allocations") and "/deployment/" not in path:
            document = self.polls[0] if len(self.polls) == 1 else self.polls.pop(0)
            # a service job's poll is its newest deployment, or the whole list when scripted as one
            return 200, document if isinstance(document, list) or path.endswith("/allocations") else [document]
        if path.startswith("/v1/deployment/allocations/"):
            return 200, self.allocations
        if path.endswith("/evaluations"):
            return 200, self.evaluations
        return 404, "not found"


def deployment(status: str, description: str, *, version=4, healthy=0, desired=2, canaries=1, placed=1,
               unhealthy=0, index=10) -> dict:
    return {"ID": f"d-{version}", "CreateIndex": index, "JobID": "ledger", "JobVersion": version, "Status": status,
            "StatusDescription": description,
            "TaskGroups": {"ledger": {"DesiredTotal": desired, "HealthyAllocs": healthy, "UnhealthyAllocs": unhealthy,
                                      "DesiredCanaries": canaries, "PlacedCanaries": ["a"] * placed,
                                      "Promoted": False, "AutoRevert": True}}}


FAILED_ALLOCATION = {"ID": "0f1e2d3c-aaaa", "NodeName": "client-1", "ClientStatus": "failed",
                     "DeploymentStatus": {"Healthy": False},
                     "TaskStates": {"ledger": {"State": "dead", "Failed": True, "Events": [
                         {"Type": "Driver", "DisplayMessage": "Downloading image"},
                         {"Type": "Started", "DisplayMessage": "Task started by client"},
                         {"Type": "Terminated", "DisplayMessage": "OOM Killed"},
                         {"Type": "Not Restarting", "DisplayMessage": "Exceeded allowed attempts 2 in interval 30m0s"},
                     ]}}}


def run(nomad: FakeNomad, **kw):
    said: list[str] = []
    clock = iter(range(0, 100000, 2))
    outcome = watch(nomad.get, nomad.job["ID"], sleep=lambda s: None, clock=lambda: next(clock), say=said.append, **kw)
    return outcome, said


def test_a_successful_rollout_reports_its_progress_once_per_change():
    nomad = FakeNomad({"ID": "ledger", "Type": "service", "Version": 4}, [
        deployment("running", "Deployment is running", healthy=0),
        deployment("running", "Deployment is running", healthy=0),
        deployment("running", "Deployment is running pending automatic promotion", healthy=1),
        deployment("successful", "Deployment completed successfully", healthy=2)])
    outcome, said = run(nomad)
    assert (outcome.status, outcome.version, outcome.exit_code) == ("successful", 4, 0)
    assert said == ["ledger v4: running: ledger 0/2 healthy, canaries 1/1",
                    "ledger v4: running: ledger 1/2 healthy, canaries 1/1",
                    "ledger v4: successful: ledger 2/2 healthy, canaries 1/1"]


def test_a_failed_canary_that_nomad_reverts_says_why_and_to_which_version():
    nomad = FakeNomad({"ID": "ledger", "Type": "service", "Version": 4}, [
        deployment("running", "Deployment is running"),
        deployment("failed", "Failed due to unhealthy allocations - rolling back to job version 3", unhealthy=1)],
        allocations=[FAILED_ALLOCATION, {"ID": "ok", "ClientStatus": "running", "DeploymentStatus": {"Healthy": True},
                                         "TaskStates": {"ledger": {"State": "running"}}}])
    outcome, _ = run(nomad)
    assert (outcome.status, outcome.reverted_to, outcome.exit_code) == ("rolled-back", 3, 3)
    assert outcome.summary().startswith("ledger: v4 rolled-back, reverted to v3 in ")
    (failure,) = outcome.failures
    assert failure.startswith("allocation 0f1e2d3c on client-1, task ledger (dead, failed): ")
    assert "Terminated: OOM Killed" in failure and "Not Restarting: Exceeded allowed attempts" in failure


def test_a_failure_without_a_revert_is_its_own_exit_code():
    nomad = FakeNomad({"ID": "ledger", "Type": "service", "Version": 1}, [
        deployment("failed", "Failed due to progress deadline - no stable job version to auto revert to",
                   version=1)], allocations=[FAILED_ALLOCATION])
    outcome, _ = run(nomad)
    assert (outcome.status, outcome.reverted_to, outcome.exit_code) == ("failed", None, 4)
    assert "no stable job version" in outcome.description


def test_a_system_job_is_followed_through_its_allocations_since_nomad_gives_it_no_deployment():
    running = {"ID": "r1", "JobVersion": 7, "ClientStatus": "running", "TaskStates": {"traefik": {"State": "running"}}}
    pending = {"ID": "p1", "JobVersion": 7, "ClientStatus": "pending", "TaskStates": {}}
    old = {"ID": "o1", "JobVersion": 6, "ClientStatus": "complete", "TaskStates": {}}
    nomad = FakeNomad({"ID": "ingress-proxy", "Type": "system", "Version": 7},
                      [[running, pending, old], [running, dict(running, ID="r2"), old]])
    outcome, said = run(nomad)
    assert (outcome.status, outcome.version) == ("successful", 7)
    assert said == ["ingress-proxy v7 (system): 1/2 allocations running",
                    "ingress-proxy v7 (system): 2/2 allocations running"]
    assert not any("/deployment" in call for call in nomad.calls)
    broken = dict(FAILED_ALLOCATION, JobVersion=7)
    nomad = FakeNomad({"ID": "ingress-proxy", "Type": "system", "Version": 7}, [[running, broken]])
    outcome, _ = run(nomad)
    assert (outcome.status, outcome.exit_code) == ("failed", 4)
    assert "nothing reverts them" in outcome.description and "OOM Killed" in outcome.failures[0]


def test_a_rollout_nomad_never_decides_times_out_with_its_own_code():
    nomad = FakeNomad({"ID": "ledger", "Type": "service", "Version": 4}, [deployment("running", "Deployment is running")])
    outcome, _ = run(nomad, timeout_s=10)
    assert (outcome.status, outcome.exit_code) == ("timed-out", 5)


def test_a_job_nomad_does_not_know_is_a_failure():
    outcome = watch(lambda path: (404, "job not found"), "nope", sleep=lambda s: None, say=lambda line: None)
    assert outcome.status == "failed" and "HTTP 404" in outcome.description


def test_a_revert_that_happened_before_the_watch_started_is_still_a_rollback():
    """Nomad reverts by registering the stable version again (version 5 here, a copy of 3), with a
    deployment of its own: the newest deployment then runs or succeeds, and the rollout that failed
    is the one before it."""
    failed = deployment("failed", "Failed due to unhealthy allocations - rolling back to job version 3", version=4,
                        index=10)
    revert = deployment("successful", "Deployment completed successfully", version=5, index=20, healthy=2)
    nomad = FakeNomad({"ID": "ledger", "Type": "service", "Version": 5}, [[revert, failed]],
                      allocations=[FAILED_ALLOCATION])
    outcome, _ = run(nomad)
    assert (outcome.status, outcome.version, outcome.reverted_to) == ("rolled-back", 4, 3)
    assert "OOM Killed" in outcome.failures[0]
    assert nomad.calls[-1] == "/v1/deployment/allocations/d-4"


def test_a_rollout_nomad_cannot_place_fails_with_the_reasons_once_blocked_long_enough():
    """A placement that cannot be placed never starts its progress deadline: only the blocked
    evaluation (FailedTGAllocs) says why, and Terraform would wait its whole timeout."""
    unplaced = deployment("running", "Deployment is running", placed=0)
    unplaced["TaskGroups"]["ledger"]["PlacedAllocs"] = 0
    nomad = FakeNomad({"ID": "ledger", "Type": "service", "Version": 4}, [unplaced])
    nomad.evaluations = [
        {"ID": "e1", "CreateIndex": 5, "Status": "complete", "FailedTGAllocs": {}},
        {"ID": "e2", "CreateIndex": 9, "Status": "blocked", "FailedTGAllocs": {"ledger": {
            "NodesEvaluated": 3, "ConstraintFiltered": {"${attr.consul.grpc} > 0": 1},
            "DimensionExhausted": {"memory": 2}}}}]
    outcome, _ = run(nomad, blocked_s=10)
    assert (outcome.status, outcome.exit_code) == ("failed", 4)
    assert outcome.description.startswith("Nomad cannot place it (blocked evaluation): group ledger: 3 clients "
                                          "evaluated, ${attr.consul.grpc} > 0 (1); memory exhausted (2)")
    assert outcome.seconds >= 10


def test_a_job_this_deploy_did_not_change_is_unchanged_whatever_its_history():
    """An old failed-and-reverted rollout is not this deploy's: the job was last submitted before it."""
    failed = deployment("failed", "Failed due to unhealthy allocations - rolling back to job version 3", version=4,
                        index=10)
    revert = deployment("successful", "Deployment completed successfully", version=5, index=20)
    nomad = FakeNomad({"ID": "ledger", "Type": "service", "Version": 5, "SubmitTime": 1_000}, [[revert, failed]])
    outcome, _ = run(nomad, since_ns=2_000)
    assert (outcome.status, outcome.version, outcome.exit_code) == ("successful", 5, 0)
    assert outcome.description.startswith("unchanged")


def test_the_new_versions_deployment_is_waited_for_not_the_previous_ones_result():
    """In dev (detach = true) the watch may start before Nomad created the new version's deployment."""
    previous = deployment("successful", "Deployment completed successfully", version=5, index=10, healthy=2)
    new = deployment("successful", "Deployment completed successfully", version=6, index=20, healthy=2)
    nomad = FakeNomad({"ID": "ledger", "Type": "service", "Version": 6, "SubmitTime": 5_000},
                      [[previous], [previous], [new, previous]])
    outcome, said = run(nomad, since_ns=4_000)
    assert (outcome.status, outcome.version) == ("successful", 6)
    assert said == ["ledger v6: successful: ledger 2/2 healthy, canaries 1/1"]


def test_a_system_jobs_drained_or_lost_allocations_do_not_hold_it_back():
    running = {"ID": "r1", "JobVersion": 2, "ClientStatus": "running", "DesiredStatus": "run",
               "TaskStates": {"traefik": {"State": "running"}}}
    drained = {"ID": "d1", "JobVersion": 2, "ClientStatus": "complete", "DesiredStatus": "stop", "TaskStates": {}}
    replaced = dict(FAILED_ALLOCATION, JobVersion=2, DesiredStatus="stop")
    nomad = FakeNomad({"ID": "ingress-proxy", "Type": "system", "Version": 2}, [[running, drained, replaced]])
    outcome, _ = run(nomad)
    assert (outcome.status, outcome.description) == ("successful", "1 allocations running")
