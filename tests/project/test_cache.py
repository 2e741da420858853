"""The test set-up cache: outside the clone, keyed by its inputs, built once, never half-built."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from scripts.cache import CACHE_VARIABLE, cache_key, cache_root, cached_dir

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    monkeypatch.setenv(CACHE_VARIABLE, str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_default_location_is_outside_the_clone(monkeypatch, tmp_path):
    monkeypatch.delenv(CACHE_VARIABLE, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert cache_root() == tmp_path / "hashistack-cdk"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert ROOT not in cache_root().parents


def test_built_once_then_reused(cache):
    builds = []

    def build(into: Path) -> None:
        builds.append(into)
        (into / "rootfs").write_text("built")

    first = cached_dir("sandbox", inputs=["bookworm"], build=build)
    again = cached_dir("sandbox", inputs=["bookworm"], build=build)
    assert first == again and first.parent == cache and len(builds) == 1
    assert (first / "rootfs").read_text() == "built"


def test_key_follows_the_inputs_and_file_contents(tmp_path):
    script = tmp_path / "setup.sh"
    script.write_text("echo one\n")
    before = cache_key(["bookworm", script])
    assert cache_key(["bookworm", script]) == before
    assert cache_key(["trixie", script]) != before
    script.write_text("echo two\n")
    assert cache_key(["bookworm", script]) != before
    assert cache_key(["ab", "c"]) != cache_key(["a", "bc"])


def test_a_failed_build_leaves_no_entry(cache):
    def broken(into: Path) -> None:
        (into / "half").write_text("x")
        raise RuntimeError("mmdebstrap failed")

    with pytest.raises(RuntimeError, match="mmdebstrap failed"):
        cached_dir("sandbox", inputs=["bookworm"], build=broken)
    assert [p.name for p in cache.iterdir() if not p.name.endswith(".lock")] == []
    built = cached_dir("sandbox", inputs=["bookworm"], build=lambda into: (into / "ok").write_text("y"))
    assert (built / "ok").is_file()


def test_concurrent_builders_build_once(cache):
    builds, results = [], []

    def build(into: Path) -> None:
        builds.append(1)
        time.sleep(0.3)
        (into / "done").write_text("z")

    threads = [threading.Thread(target=lambda: results.append(cached_dir("wheel", inputs=["1"], build=build)))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and len(set(results)) == 1 and (results[0] / "done").is_file()


def test_keep_bounds_a_names_entries_to_the_ones_used_last(cache):
    made = [cached_dir("synth", inputs=[str(i)], build=lambda into: None, keep=2) for i in range(3)]
    assert [p.is_dir() for p in made] == [False, True, True]
    other = cached_dir("sandbox", inputs=["bookworm"], build=lambda into: None)  # another name: untouched
    assert cached_dir("synth", inputs=["1"], build=lambda into: pytest.fail("rebuilt"), keep=2) == made[1]
    again = cached_dir("synth", inputs=["3"], build=lambda into: None, keep=2)
    assert [p.is_dir() for p in (made[1], made[2], again, other)] == [True, False, True, True]
    assert sorted(p.name for p in cache.glob("synth-*.lock")) == sorted(f"{p.name}.lock" for p in (made[1], again))
