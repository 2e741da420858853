"""The release manifest: read, checked, rendered, and applied by the synth to a service's image and
its job's meta."""

from __future__ import annotations

import dataclasses
import json

import pytest

from hashistack import HashistackError
from hashistack.releases import Release, ReleaseManifest
from hashistack.service import ServiceSpec, plan_service
from stacks.environments import PROD

IMAGE = "registry.example.com/platform/ledger:0.9.3"


def test_a_manifest_reads_renders_and_reads_back_the_same(tmp_path):
    path = tmp_path / "prod.toml"
    path.write_text('[ledger]\nversion = "0.9.4"\nrevision = "3f2c1ab"\n\n[my-go-app]\nversion = "sha256:' + "a" * 64
                    + '"\n')
    manifest = ReleaseManifest.load(path, "prod")
    assert manifest.releases["ledger"] == Release(version="0.9.4", revision="3f2c1ab")
    path.write_text(manifest.render())
    assert ReleaseManifest.load(path, "prod") == manifest
    assert ReleaseManifest.load(tmp_path / "absent.toml", "prod").releases == {}


@pytest.mark.parametrize("text, message", [
    ('[ledger]\nversion = "latest"\n', r"\[ledger\]: version = 'latest': a release names one build"),
    ('[ledger]\nversion = "0.9.4\\n"\n', r"\[ledger\]: version = '0\.9\.4\\n': use an image tag"),
    ('[ledger]\nversion = "0.9.4"\nrevision = "main"\n', r"revision = 'main': use the git commit"),
    ('[ledger]\ntag = "0.9.4"\n', r"\[ledger\] = \{'tag': '0\.9\.4'\}: give version = "),
    ('[Ledger]\nversion = "1"\n', r"\[Ledger\]: not a service name"),
    ('[ledger\nversion = "1"\n', r"prod\.toml: .*: write one \[<service>\] table per service"),
])
def test_a_bad_manifest_is_refused_naming_the_file_the_service_and_the_value(tmp_path, text, message):
    path = tmp_path / "prod.toml"
    path.write_text(text)
    with pytest.raises(HashistackError, match=message):
        ReleaseManifest.load(path, "prod")


def test_an_entry_for_a_service_the_environment_does_not_have_is_refused(tmp_path):
    path = tmp_path / "prod.toml"
    path.write_text('[ledgr]\nversion = "0.9.4"\n')
    with pytest.raises(HashistackError, match=r"\[ledgr\]: no service of environment 'prod' has this name; the "
                                              r"services: \['ledger', 'my-go-app'\]"):
        ReleaseManifest.load(path, "prod").check_services(["ledger", "my-go-app"])


@pytest.mark.parametrize("version, image", [
    ("0.9.4", "registry.example.com/platform/ledger:0.9.4"),
    ("sha256:" + "b" * 64, "registry.example.com/platform/ledger@sha256:" + "b" * 64),
])
def test_the_job_runs_the_release_and_says_so(version, image):
    spec = ServiceSpec(name="ledger", image=IMAGE, port=9090, port_label="grpc",
                       release=Release(version=version, revision="3f2c1ab"))
    from hashistack.service import HealthCheck

    spec = dataclasses.replace(spec, health=HealthCheck.grpc(tls="plain"))
    job = json.loads(plan_service(spec, PROD).jobspec)["Job"]
    assert job["TaskGroups"][0]["Tasks"][0]["Config"]["image"] == image
    assert job["Meta"]["version"] == version and job["Meta"]["revision"] == "3f2c1ab"


def test_without_a_release_the_job_says_its_images_tag():
    from hashistack.service import HealthCheck

    spec = ServiceSpec(name="ledger", image=IMAGE, port=9090, port_label="grpc", health=HealthCheck.grpc(tls="plain"))
    assert json.loads(plan_service(spec, PROD).jobspec)["Job"]["Meta"]["version"] == "0.9.3"
