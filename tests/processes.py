"""Stopping the servers the tests start (moto, bao, stand-in agents)."""

from __future__ import annotations

import subprocess


def stop_process(proc: subprocess.Popen, timeout: float) -> None:
    """SIGTERM, up to ``timeout`` seconds for a clean exit, then SIGKILL; the process is reaped."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
