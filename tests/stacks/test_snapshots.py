"""One reviewed snapshot per (environment, stack). Update deliberately: `pytest --snapshot-update`
after reading the diff (see README, "Reviewing changes")."""

from __future__ import annotations

import pytest
from syrupy.extensions.json import JSONSnapshotExtension

from tests.conftest import ALL_STACKS
from tests.support.readable import readable


@pytest.fixture
def json_snapshot(snapshot):
    return snapshot.use_extension(JSONSnapshotExtension)


@pytest.mark.parametrize("name", ALL_STACKS)
def test_stack_snapshot(synth, json_snapshot, name):
    assert readable(synth.stack(name)) == json_snapshot
