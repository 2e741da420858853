"""Construct paths kept on the Python side are the paths the jsii runtime gives."""

from __future__ import annotations

from cdktf import App

from hashistack.paths import path_of
from hashistack.service import HealthCheck, ServiceSpec, Tls, VaultSecret
from hashistack.service.go_service import GoService
from hashistack.stack import EnvironmentStack
from stacks.environments import DEV


def test_the_paths_the_library_derives_are_the_nodes_paths():
    app = App(outdir="/tmp/hashistack-paths")
    stack = EnvironmentStack(app, "dev", environment=DEV)
    stack.add_nomad_provider()
    stack.add_vault_provider()
    service = GoService(stack, ServiceSpec(
        name="web", image="registry.example.com/team/web:1.0.0", tls=Tls(), health=HealthCheck.http(
            "/health", tls="skip-verify"), secrets=(VaultSecret.kv("web/config", mount_at="/app/s/config.json"),)))
    access = service.vault_access
    assert access is not None and access.policy and access.jwt_role and access.pki_role
    for construct in (stack, service, access.policy, access.jwt_role, access.pki_role):
        assert path_of(construct) == construct.node.path
    assert path_of(service) == "dev/web"
