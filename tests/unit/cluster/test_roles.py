"""The node roles as one table: every role has a row, and each node's boot is built from it (the
agents, packages, units, volumes and hooks), reading exactly the secrets the catalogue says the
role reads."""

from __future__ import annotations

import pytest

from hashistack.cluster.boot import node_boots
from hashistack.cluster.ports import AGENTS
from hashistack.cluster.roles import NODE_ROLES
from hashistack.cluster.secrets import ClusterSecrets
from stacks.environments import ENVIRONMENTS


def test_every_node_role_has_one_row():
    """Every security group that holds nodes (all but the load balancers') is a node role."""
    assert tuple(NODE_ROLES) == AGENTS
    assert all(row.role is role for role, row in NODE_ROLES.items())


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=lambda e: e.name)
def test_each_boot_is_its_rows(env):
    secrets = ClusterSecrets.under(f"/hashistack/{env.name}")
    for role, boot in node_boots(env, secrets).items():
        row = NODE_ROLES[role]
        ci = boot.cloud_init
        assert [p for p, _ in ci.products] == list(row.products)
        assert ci.services[:len(row.services)] == row.services
        assert set(row.os_packages) <= set(ci.os_packages)
        assert [(v.device, v.mount_point, v.size_gib) for v in boot.volumes] == [
            (v.device, v.mount_point, v.size_gib) for v in row.volumes]
        assert boot.lifecycle_hooks == row.lifecycle_hooks
        assert ci.swap_off == row.swap_off
        # the secrets the boot fetches are exactly the ones the catalogue lets this role read
        fetched = {s.ref.parameter for s in ci.secrets}
        assert fetched == {spec.parameter for spec in secrets.read_by(role)}, role
