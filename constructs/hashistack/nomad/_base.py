"""What the job model's modules share: durations, pruning, the signal set and small checks."""

from __future__ import annotations

import re
from typing import Any

from ..errors import Checker
from .vault_calls import vault_calls

_NS = 1_000_000_000


SIGNALS = frozenset({
    "SIGABRT", "SIGALRM", "SIGBUS", "SIGCONT", "SIGFPE", "SIGHUP", "SIGILL", "SIGINT", "SIGIO", "SIGIOT", "SIGKILL",
    "SIGNULL", "SIGPIPE", "SIGPROF", "SIGQUIT", "SIGSEGV", "SIGSTOP", "SIGSYS", "SIGTERM", "SIGTRAP", "SIGTSTP",
    "SIGTTIN", "SIGTTOU", "SIGUSR1", "SIGUSR2", "SIGWINCH", "SIGXCPU", "SIGXFSZ",
})
"""The signal names Nomad 1.10.2 accepts: consul-template v0.41.0 (its go.mod) signals/signals_unix.go
``SignalLookup``, which ``signals.Parse`` reads in the template hook and the docker driver, and which the
client fingerprints as ``attr.os.signals``, the attribute the scheduler constrains a job's signals on
(nomad/structs/structs.go): an unknown name leaves the job with no feasible client."""


UNHANDLED_SIGNALS = frozenset({"SIGKILL", "SIGSTOP", "SIGNULL"})
"""No program can handle SIGKILL or SIGSTOP, and SIGNULL delivers nothing: never a reload signal."""


_ENV_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


_PERMS = re.compile(r"^0?[0-7]{3}$")


_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*(:[A-Za-z0-9_][A-Za-z0-9_.-]*)?")


_INTERPOLATION = re.compile(r"^\$\{[A-Za-z_][A-Za-z0-9_.]*\}$")


def _dynamic_vault_read(data: str) -> str | None:
    """The first action calling a Vault function with a path built at render time ((printf ...),
    $var, .Field, a pipeline), if any."""
    return next((call.action for call in vault_calls(data) if call.path is None), None)


TASK_DIRS = ("local", "secrets", "alloc")


def is_port_number(value: object) -> bool:
    """A service or check port given as a literal number ("8080") instead of a port label:
    Nomad resolves it as that port (client/serviceregistration/address.go, GetAddress)."""
    return isinstance(value, str) and value.isdigit() and not value.startswith("0") and 1 <= int(value) <= 65535


def ns(seconds: float | None) -> int | None:
    """Seconds as integer nanoseconds (Go's time.Duration), None stays None."""
    return None if seconds is None else int(round(seconds * _NS))


def _prune(value: Any) -> Any:
    """Drops None, empty lists and empty maps, recursively; keeps False and 0."""
    if isinstance(value, dict):
        out = {k: _prune(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v is not None and v != [] and v != {}}
    if isinstance(value, (list, tuple)):
        return [_prune(v) for v in value]
    return value


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _positive(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0


def signal_problem(value: object, *, handled: bool) -> str | None:
    """None for a signal name Nomad accepts (one a program can handle, with ``handled``), else the fix."""
    if not isinstance(value, str) or value not in SIGNALS:
        return f"use an upper-case signal name Nomad knows: {', '.join(sorted(SIGNALS - UNHANDLED_SIGNALS))}"
    if handled and value in UNHANDLED_SIGNALS:
        return "a program cannot handle SIGKILL or SIGSTOP, and SIGNULL delivers nothing: use e.g. 'SIGHUP'"
    return None


def _check_signal(check: Checker, field_name: str, value: str | None, required: bool, why: str,
                  *, handled: bool = False) -> None:
    if value is None:
        check.require(not required, field_name, value, why)
        return
    problem = signal_problem(value, handled=handled)
    check.require(problem is None, field_name, value, problem or "")
