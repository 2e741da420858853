"""The library and the app type-check (mypy, pinned, configured in mypy.ini): GoService's props,
the settings models and the stacks are checked as an editor would check a user's code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from scripts.cache import cache_root

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.integration
def test_library_and_app_pass_mypy():
    result = subprocess.run([sys.executable, "-m", "mypy", "--no-error-summary", "--cache-dir",
                             str(cache_root() / "mypy")],
                            cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]


def test_a_misspelt_prop_is_a_type_error(tmp_path):
    """What the signatures buy a user: mypy flags a misspelt GoService prop before synth does, and
    a provider resource stays fully typed with the project's typings/ (only the provider packages'
    __init__ is stood in for there, not the submodules that hold the resources)."""
    pytest.importorskip("mypy", reason="mypy is pinned in requirements.txt")
    user = tmp_path / "user.py"
    user.write_text("from cdktf_cdktf_provider_aws.vpc import Vpc\n"
                    "from hashistack.service import ServiceSpec\n"
                    "from hashistack.service.go_service import GoService\n"
                    "def build(stack) -> None:\n"
                    "    GoService(stack, ServiceSpec(name='web', image='registry.example.com/web:1.0.0', memory_mb=256))\n"
                    "    Vpc(stack, 'vpc', cidr_block=10)\n")
    config = tmp_path / "mypy.ini"
    config.write_text(f"[mypy]\nmypy_path = {ROOT / 'constructs'}:{ROOT / 'typings'}\nfollow_imports = silent\n"
                      "ignore_missing_imports = True\n")
    # mypy's incremental cache outside the clone (scripts/cache.py's root): the library and the
    # providers it imports are re-read only when they change; user.py is checked every time
    cache = cache_root() / "mypy-user"
    result = subprocess.run([sys.executable, "-m", "mypy", "--config-file", str(config), "--cache-dir", str(cache),
                             str(user)], cwd=tmp_path, capture_output=True, text=True, timeout=900)
    assert result.returncode == 1, result.stdout
    assert '"memory_mb" for "ServiceSpec"' in result.stdout, result.stdout
    assert 'Argument "cidr_block" to "Vpc" has incompatible type "int"; expected "str | None"' in result.stdout, \
        result.stdout
