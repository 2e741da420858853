"""Each node role's rendered user data checked by the real tools: Debian's `cloud-init schema`
on the cloud-config, `shellcheck` on every shell script it writes (the boot script and the
clients' drain script), for every environment."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from stacks.environments import ENVIRONMENTS

from tests.support.boot_docs import ROLES, cloud_config, launch_templates, scripts, user_data_text

pytestmark = pytest.mark.integration

CASES = [(env, role) for env in ENVIRONMENTS for role in ROLES]
IDS = [f"{env.name}-{role.value}" for env, role in CASES]


def tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        pytest.skip(f"{name} not found (make test installs it with apt-get: see the Makefile's apt-tools)")
    return path


def schema(path) -> subprocess.CompletedProcess:
    return subprocess.run([tool("cloud-init"), "schema", "--config-file", str(path)], capture_output=True, text=True)


def test_cloud_init_schema_rejects_a_malformed_document(tmp_path):
    """The tool is a real check: a runcmd that is not a list and a bad write_files entry fail it."""
    bad = tmp_path / "bad.yaml"
    bad.write_text('#cloud-config\n{"runcmd": "echo", "write_files": [{"path": 1, "permissions": ["x"]}]}\n')
    result = schema(bad)
    assert result.returncode != 0 and "runcmd" in (result.stdout + result.stderr)


@pytest.mark.parametrize("env, role", CASES, ids=IDS)
def test_user_data_passes_cloud_init_schema(synth, tmp_path, env, role):
    text = user_data_text(launch_templates(synth, env)[role])
    path = tmp_path / "user-data"
    path.write_text(text)
    result = schema(path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Valid cloud-config" in result.stdout


CLOUD_INIT_PARTS = """
import sys
from cloudinit import user_data
message = user_data.UserDataProcessor({}).process(sys.stdin.buffer.read())
for part in message.walk():
    if not part.is_multipart():
        sys.stdout.write(part.get_content_type() + "\\n" + part.get_payload(decode=True).decode())
"""


@pytest.mark.parametrize("env, role", CASES, ids=IDS)
def test_cloud_init_reads_the_compressed_user_data_as_shipped(synth, env, role):
    """The launch template ships the cloud-config gzip-compressed, within the budget; Debian's
    cloud-init (its own user-data processor, with the system's python3) decompresses it to the
    exact document."""
    import base64

    from hashistack.cluster.cloud_init import USER_DATA_BUDGET

    python = "/usr/bin/python3"
    probe = subprocess.run([python, "-c", "import cloudinit"], capture_output=True)
    if probe.returncode != 0:
        pytest.skip("Debian's cloud-init Python package is not installed (make test installs cloud-init)")
    template = launch_templates(synth, env)[role]
    raw = base64.b64decode(template["user_data"])
    assert raw[:2] == b"\x1f\x8b" and len(raw) <= USER_DATA_BUDGET < 16384
    result = subprocess.run([python, "-c", CLOUD_INIT_PARTS], input=raw, capture_output=True, check=True)
    assert result.stdout.decode() == "text/cloud-config\n" + user_data_text(template)


def test_shellcheck_finds_the_unchecked_secret_fetch_of_the_old_boot(tmp_path):
    """The old boot wrote `printf ... "$(aws ssm get-parameter ...)"`: a failed fetch left an empty
    gossip key. shellcheck flags that pattern (SC2312 with all checks on), as a control that the
    check below can fail."""
    old = tmp_path / "old.sh"
    old.write_text('#!/bin/bash\nset -euo pipefail\nprintf "encrypt = \\"%s\\"\\n" "$(aws ssm get-parameter)" > f\n')
    result = subprocess.run([tool("shellcheck"), "--enable=all", str(old)], capture_output=True, text=True)
    assert result.returncode != 0 and "SC2312" in result.stdout


@pytest.mark.parametrize("env, role", CASES, ids=IDS)
def test_every_boot_script_passes_shellcheck(synth, tmp_path, env, role):
    found = scripts(cloud_config(user_data_text(launch_templates(synth, env)[role])))
    assert "/usr/local/sbin/hashistack-boot" in found
    for i, (path, content) in enumerate(sorted(found.items())):
        script = tmp_path / f"script-{i}.sh"
        script.write_text(content)
        result = subprocess.run([tool("shellcheck"), "--severity=style", "--shell=bash", str(script)],
                                capture_output=True, text=True)
        assert result.returncode == 0, f"{path}:\n{result.stdout}"
