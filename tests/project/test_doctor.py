"""`make doctor` (scripts/doctor.py): what the machine lacks, named with its install commands, and
silent at the start of `make setup` when nothing the goal requires is missing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def doctor(*args: str, path: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": os.environ["PATH"] if path is None else path}
    return subprocess.run([sys.executable, str(ROOT / "scripts" / "doctor.py"), *args], env=env,
                          capture_output=True, text=True, timeout=60)


def test_quiet_setup_check_says_nothing_when_synth_can_run():
    # this machine runs the suite: it has Python 3.11 (this interpreter), Node and git
    result = doctor("--for", "synth", "--quiet")
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_a_machine_without_node_is_told_how_to_install_it(tmp_path):
    """Given a PATH with none of the tools, the synth check fails, names Node and git with the
    Debian/Ubuntu and macOS commands, and says what cannot run; the optional tools are listed as
    absent, not as blocking."""
    result = doctor("--for", "synth", "--quiet", path=str(tmp_path))
    assert result.returncode == 1
    lines = result.stderr.splitlines()
    assert lines[0] == "hashistack-cdk doctor (make synth):"
    node = next(i for i, line in enumerate(lines) if "Node.js >= 20 and npm" in line)
    assert lines[node].split()[0] == "MISSING"
    assert lines[node + 1].strip() == "Debian/Ubuntu: apt-get install nodejs npm"
    assert lines[node + 2].strip() == "macOS: brew install node"
    assert any(line.split()[:2] == ["absent", "terraform"] for line in lines)
    assert lines[-1] == "cannot run make synth: install Node.js >= 20 and npm, git (above)"


def test_the_full_screen_fits_one_screen():
    result = doctor()
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("hashistack-cdk doctor (make synth and make test):")
    assert len(result.stdout.splitlines()) <= 40
