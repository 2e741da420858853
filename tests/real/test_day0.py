"""Day 0 to first request, rehearsed in the README's order (tests/support/day0.py): for every
environment, a fresh account's bring-up reaches the point where every job of ``<env>`` can be
placed. tests/real/test_day0_regressions.py puts back each seam that broke it before."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from hashistack.environment import Tier
from stacks.environments import ENVIRONMENTS
from tests.support.day0 import readme_commands, rehearse

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def keyholder(tmp_path_factory) -> Path:
    """A recovery keyholder's exported public key (outside development the bootstrap encrypts each
    recovery key to one; the README's bring-up lists them first)."""
    if shutil.which("gpg") is None:
        pytest.skip("gpg is not installed (Debian package gnupg): it makes the keyholder's key for uat and prod")
    home = tmp_path_factory.mktemp("gnupg")
    home.chmod(0o700)

    def gpg(*args: str) -> bytes:
        return subprocess.run(["gpg", "--homedir", str(home), "--batch", "--pinentry-mode", "loopback",
                               "--passphrase", "", *args], check=True, capture_output=True, timeout=120).stdout

    gpg("--quick-generate-key", "Rehearsal Keyholder <keyholder@example.com>", "ed25519", "default", "never")
    fpr = gpg("--list-keys", "--with-colons").decode().split("fpr:::::::::")[1].split(":")[0]
    gpg("--quick-add-key", fpr, "cv25519", "encr", "never")
    path = home / "keyholder.asc"
    path.write_bytes(gpg("--export", "--armor", "keyholder@example.com"))
    return path


def test_the_readme_bring_up_is_the_rehearsals_script():
    commands = readme_commands()
    assert [c.split()[1] for c in commands] == ["bootstrap", "deploy", "tunnel", "bootstrap", "deploy"]
    assert commands[0].endswith("PHASE=secrets") and commands[3].split()[-2:] == ["PHASE=cluster", "TUNNEL=1"]
    assert commands[4].endswith("TUNNEL=1")


@pytest.mark.parametrize("env", ENVIRONMENTS, ids=[e.name for e in ENVIRONMENTS])
def test_a_fresh_environment_comes_up_in_the_readmes_order_and_every_job_can_be_placed(
        env, synth, moto_servers, monkeypatch, tmp_path, request):
    keys = () if env.tier is Tier.DEVELOPMENT else (request.getfixturevalue("keyholder"),)
    findings = rehearse(env, synth, moto_servers, monkeypatch, tmp_path, keyholders=keys)
    assert findings == [], "\n".join(map(str, findings))
