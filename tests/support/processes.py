"""Stopping the servers the tests start (moto, bao, stand-in agents), and giving the ones a
long chain of waits depends on a head start for the cores."""

from __future__ import annotations

import os
import subprocess


def stop_process(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM, up to ``timeout`` seconds for a clean exit, then SIGKILL; the process is reaped."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def prefer() -> bool:
    """Best effort: runs the calling process at niceness -15, so that the short bursts between a long
    chain of fixed waits (the moto apply: terraform and its moto server) do not wait for a core
    behind the suite's CPU-bound work. Meant as a ``preexec_fn``: a nice value belongs to a thread,
    and the threads and children a program starts inherit it from the thread that exec'd it. Needs
    CAP_SYS_NICE (root); False where it is not permitted, and nothing changes."""
    try:
        os.setpriority(os.PRIO_PROCESS, 0, -15)
    except PermissionError:
        return False
    return True
