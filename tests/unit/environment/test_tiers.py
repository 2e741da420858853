"""Tier rules as data: one TierPolicy row per tier, and no other code asks which tier it is."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from hashistack import Tier
from hashistack.environment import TIER_POLICY, TierPolicy

LIBRARY = Path(__file__).resolve().parents[3] / "constructs" / "hashistack"


def test_every_tier_has_one_row_and_the_rows_differ_only_in_data():
    assert set(TIER_POLICY) == set(Tier)
    assert all(isinstance(row, TierPolicy) and Tier(tier).policy is row for tier, row in TIER_POLICY.items())
    dev, staging, prod = (TIER_POLICY[t] for t in (Tier.DEVELOPMENT, Tier.STAGING, Tier.PRODUCTION))
    # development is the permissive row, production the strictest, staging between them
    assert dev.plain_http and dev.local_state and dev.userpass_login and not dev.awaits_deployments
    assert not staging.plain_http and staging.awaits_deployments and not staging.web_firewall_required
    assert prod.job.min_count == prod.default_count == 2 and prod.default_canary and prod.min_azs == 3
    assert (dev.job.min_count, staging.job.min_count) == (0, 0)
    assert set(prod.server_counts) <= set(staging.server_counts) <= set(dev.server_counts)


def test_no_code_outside_the_table_branches_on_the_tier():
    """A rule that differs by tier reads its row (``tier.policy.<rule>``); a comparison with a
    Tier member anywhere else in the library would be a second home for a tier rule."""
    found = []
    for path in sorted(LIBRARY.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if re.search(r"\b(is|is not|==|!=)\s+Tier\.[A-Z]+|Tier\.[A-Z]+\s+(if|else)\b", code):
                found.append(f"{path.relative_to(LIBRARY)}:{number}: {line.strip()}")
    allowed = {"environment/environment.py"}  # is_production, a fact about the environment, not a rule
    assert [f for f in found if f.split(":")[0] not in allowed] == []
    assert len(found) <= 1, found


def test_a_row_is_frozen():
    row = Tier.PRODUCTION.policy
    try:
        row.min_azs = 1  # type: ignore[misc]
    except dataclasses.FrozenInstanceError:
        pass
    else:
        raise AssertionError("a tier's row changed")
