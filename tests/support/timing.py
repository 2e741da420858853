"""Where the suite's time goes: seconds per test group (a test module) and per integration test
(marker ``integration``: a real tool or engine), printed after the run and, when ``HASHISTACK_TEST_TIMES`` names a file, written there as JSON (``make bench`` reads it).

Session-wide set-up (the shared synth) is reported on its own line rather than billed to
whichever test needed it first. Under pytest-xdist the groups are summed over the workers (the
synth line counts each worker's wait for the one synth too), so the sum can exceed the wall
time; the wall time is given too.
"""

from __future__ import annotations

import json
import os
import time
from collections import defaultdict
from pathlib import Path

import pytest

TIMES_VARIABLE = "HASHISTACK_TEST_TIMES"
MODULE_SECONDS_KEY = "hashistack/module-seconds"
"""pytest's cache entry (.pytest_cache) holding the last measured seconds per test module, which
tests/support/scheduling.py uses to hand out the slowest modules first."""
TEST_SECONDS_KEY = "hashistack/test-seconds"
"""The same for each test that took a second or more (tests/support/scheduling.py: what a worker still has
ahead of it)."""

_pending: list[tuple[str, float]] = []  # session set-ups finished in this process, not yet reported
_groups: dict[str, float] = defaultdict(float)
_setups: dict[str, float] = defaultdict(float)
_integration: dict[str, float] = defaultdict(float)
_tests: dict[str, float] = defaultdict(float)
_started = time.perf_counter()


def record_session_setup(name: str, seconds: float) -> None:
    """Report ``seconds`` of session-wide set-up under ``name`` instead of the current test."""
    _pending.append((name, seconds))


def group_of(nodeid: str) -> str:
    return nodeid.split("::", 1)[0].removeprefix("tests/")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    # The report copies the item's user_properties: they carry the set-up time to the process
    # that prints the summary (the xdist controller serializes them from its workers). They stay
    # on the item for its later phases too, so each entry names the phase it belongs to.
    while _pending:
        name, seconds = _pending.pop()
        item.user_properties.append(("session_setup", (name, seconds, call.when)))
    yield


def pytest_runtest_logreport(report) -> None:
    seconds = report.duration
    for key, value in report.user_properties:
        if key == "session_setup" and value[2] == report.when:
            name, setup, _ = value
            _setups[name] += setup
            seconds -= setup
    _groups[group_of(report.nodeid)] += seconds
    _tests[report.nodeid] += seconds
    if "integration" in report.keywords:
        _integration[report.nodeid.removeprefix("tests/")] += seconds


def pytest_sessionstart(session) -> None:
    global _started
    _started = time.perf_counter()


def pytest_terminal_summary(terminalreporter, config) -> None:
    if hasattr(config, "workerinput") or not _groups:
        return
    wall = time.perf_counter() - _started
    workers = getattr(config.option, "numprocesses", None) or 1
    rows = sorted(_groups.items(), key=lambda kv: -kv[1])
    setups = sorted(_setups.items(), key=lambda kv: -kv[1])
    terminalreporter.write_sep("-", f"seconds per test group (wall {wall:.1f} s, {workers} worker(s))")
    integration = sorted(_integration.items(), key=lambda kv: -kv[1])
    for name, seconds in [*(("session set-up: " + n, s) for n, s in setups), *rows]:
        terminalreporter.write_line(f"{seconds:8.1f}  {name}")
    if integration:
        slow = [(n, s) for n, s in integration if s >= 1.0]
        terminalreporter.write_line(f"integration tests ({len(integration) - len(slow)} more under 1 s):")
        for name, seconds in slow:
            terminalreporter.write_line(f"{seconds:8.1f}    {name}")
    cache = getattr(config, "cache", None)
    if cache is not None:  # merged, so that a run of a few modules keeps the others' figures
        cache.set(MODULE_SECONDS_KEY, {**cache.get(MODULE_SECONDS_KEY, {}),
                                       **{n: round(s, 1) for n, s in rows}})
        measured = {**cache.get(TEST_SECONDS_KEY, {}), **{n: round(s, 1) for n, s in _tests.items()}}
        cache.set(TEST_SECONDS_KEY, {n: s for n, s in sorted(measured.items()) if s >= 1.0})
    target = os.environ.get(TIMES_VARIABLE)
    if target:
        Path(target).write_text(json.dumps({
            "wall_s": round(wall, 1), "workers": workers,
            "session_setup_s": {n: round(s, 1) for n, s in setups},
            "groups_s": {n: round(s, 1) for n, s in rows},
            "integration_s": {n: round(s, 1) for n, s in integration},
        }, indent=2, sort_keys=True) + "\n")
