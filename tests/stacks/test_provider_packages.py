"""The provider packages load one submodule at a time (hashistack.provider_packages), and nothing
else changes: the jsii runtime can still resolve every type of every package, and a synth gives the
same bytes as with the packages imported whole."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from hashistack.provider_packages import PACKAGES, submodule_fqn_map

from tests.conftest import Synth

ROOT = Path(__file__).resolve().parents[2]


def package_dir(package: str) -> Path:
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, package
    return Path(list(spec.submodule_search_locations)[0])


def assembly(package: str) -> dict:
    """The package's jsii assembly (the ``.jsii`` file in its ``_jsii/*.jsii.tgz``)."""
    (tgz,) = (package_dir(package) / "_jsii").glob("*.jsii.tgz")
    with tarfile.open(tgz) as archive:
        member = archive.extractfile("package/.jsii")
        assert member is not None
        return json.load(member)


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "constructs"), str(ROOT)])})


@pytest.mark.integration  # reads each installed assembly (37 MB for AWS)
@pytest.mark.parametrize("package", PACKAGES)
def test_the_submodule_map_names_every_submodule_of_the_assembly(package):
    """Given the package's assembly, the map the runtime is given names exactly its submodules,
    each an importable module of the package."""
    jsii = assembly(package)
    fqns = submodule_fqn_map(package, str(package_dir(package)), jsii["name"])
    assert set(fqns) == set(jsii["submodules"])
    assert all((package_dir(package) / module.rsplit(".", 1)[1] / "__init__.py").is_file() for module in fqns.values())


def test_a_submodule_loads_alone_and_an_unloaded_type_still_resolves():
    """Given hashistack imported, when one Nomad resource is imported, then its package's other
    submodules stay unloaded, attribute access still imports one, and the runtime resolves a type
    of a submodule nobody imported by importing that submodule."""
    result = run_python(
        "import json, sys\n"
        "import hashistack\n"
        "from cdktf_cdktf_provider_nomad.job import Job\n"
        "import cdktf_cdktf_provider_nomad as nomad\n"
        "loaded = lambda: sorted(m.split('.')[1] for m in sys.modules\n"
        "                        if m.startswith('cdktf_cdktf_provider_nomad.') and not m.endswith('._private'))\n"
        "first = loaded()\n"
        "volume = nomad.csi_volume.CsiVolume\n"
        "from jsii import _reference_map\n"
        "found = _reference_map._try_import_type_module('@cdktf/provider-nomad.aclPolicy.AclPolicy')\n"
        "print(json.dumps([first, loaded(), found, volume.__name__]))\n")
    assert result.returncode == 0, result.stderr[-3000:]
    first, after, found, volume = json.loads(result.stdout.splitlines()[-1])
    assert first == ["_jsii", "job"]
    assert found and volume == "CsiVolume"
    assert set(after) - set(first) == {"csi_volume", "acl_policy"}


@pytest.mark.integration
def test_a_synth_is_byte_identical_with_the_packages_imported_whole(synth: Synth, tmp_path):
    """Given the Vault, Consul and Nomad packages imported whole before hashistack (as any program
    that imports them first gets them), the access and service stacks of every environment
    synthesize to the bytes of the suite's synth (which loads them one submodule at a time)."""
    from stacks.environments import ENVIRONMENTS

    stacks = [name for env in ENVIRONMENTS for name in env.stack_names[1:]]
    result = run_python(
        "import sys\n"
        "import cdktf_cdktf_provider_vault, cdktf_cdktf_provider_consul, cdktf_cdktf_provider_nomad\n"
        "assert len([m for m in sys.modules if m.startswith('cdktf_cdktf_provider_vault.')]) > 200\n"
        "from stacks.app import build_app\n"
        f"build_app(outdir={str(tmp_path)!r}, stacks={','.join(stacks)!r}).synth()\n")
    assert result.returncode == 0, result.stderr[-3000:]
    for name in stacks:
        assert (tmp_path / "stacks" / name / "cdk.tf.json").read_bytes() == \
            (synth.outdir / "stacks" / name / "cdk.tf.json").read_bytes(), name
