"""How `make test` spreads the suite over its pytest-xdist workers (``--dist loadfile``): whole
modules to a worker, so module-scoped set-up (an engine started per environment) runs once, and
the longest modules first, by the seconds tests/support/timing.py measured last time.

pytest-xdist hands a worker its next module while the worker still runs its current one (a worker
runs a test only once it knows the one after it, so it is topped up when two or fewer of its tests
are left). Handed the longest module waiting, a worker whose last test still takes minutes (the
dev-infra apply against moto, mostly the AWS provider's fixed waits) would hold that module back
while the other workers run dry. So a worker whose tests still ahead are expected to take more than
:data:`BUSY_S` seconds is handed the shortest module waiting instead; any other worker gets the
longest.
"""

from __future__ import annotations

import pytest

from tests.support.timing import MODULE_SECONDS_KEY, TEST_SECONDS_KEY, group_of

# Stand-ins for a fresh clone, before a run has measured anything: the slowest modules (real
# engines and tools, copies of the project run end to end), longest first, and the one test that
# takes minutes. Measured figures replace them after the first run.
SLOW_MODULES = (
    "real/test_cluster_real.py", "real/test_extending.py", "real/test_boot_sandbox.py", "real/test_plan_report.py",
    "real/test_bootstrap_vault.py", "real/test_vault_real.py", "real/test_bootstrap_secrets.py", "real/test_bootstrap_cluster.py",
    "stacks/test_stack_selection.py", "real/test_mypy.py", "unit/cluster/test_boot.py", "unit/service/test_go_service.py", "real/test_checkov.py",
    "stacks/test_ingress.py", "real/test_boot_tools.py", "real/test_errors.py",
)
SLOW_TESTS = {"tests/real/test_cluster_real.py::test_dev_infra_applies_and_destroys_against_moto": 150.0}
BUSY_S = 30.0


def expected_seconds(config: pytest.Config) -> tuple[dict[str, float], dict[str, float]]:
    """(seconds per module, by file name; seconds per test, by node id): last run's, else the stand-ins."""
    cache = getattr(config, "cache", None)
    modules = {name: 60.0 - i / 100 for i, name in enumerate(SLOW_MODULES)}  # in the list's order
    tests = dict(SLOW_TESTS)
    if cache is not None:
        modules.update(cache.get(MODULE_SECONDS_KEY, {}))
        tests.update(cache.get(TEST_SECONDS_KEY, {}))
    return modules, tests


def pytest_collection_modifyitems(session, config, items) -> None:
    # The longest modules first (stable: a module's tests stay together, in order); `make test`
    # passes --no-loadscope-reorder, so the work queue keeps this order.
    modules, _ = expected_seconds(config)
    items.sort(key=lambda item: -modules.get(group_of(item.nodeid), 0.0))


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class LongestFirstScheduling(LoadFileScheduling):
        """--dist loadfile, with the next module chosen as the module docstring says."""

        def __init__(self, config, log=None) -> None:
            super().__init__(config, log)
            self.module_s, self.test_s = expected_seconds(config)

        def _ahead_s(self, node) -> float:
            return sum(self.test_s.get(nodeid, 0.0) for unit in self.assigned_work.get(node, {}).values()
                       for nodeid, done in unit.items() if not done)

        def _assign_work_unit(self, node) -> None:
            if len(self.workqueue) > 1 and self._ahead_s(node) > BUSY_S:
                shortest = min(self.workqueue, key=lambda scope: self.module_s.get(group_of(scope), 0.0))
                self.workqueue.move_to_end(shortest, last=False)  # handed out next
            super()._assign_work_unit(node)

    return LongestFirstScheduling(config, log)
