"""A cache for slow, reproducible work (a sandbox root filesystem, an unpacked tool, a synth of
a given source tree), kept outside the clone and keyed by its inputs, so a fresh clone or a second
worktree on the same machine reuses it and a change to any input builds a new entry.

    root = cached_dir("debian-root", inputs=["bookworm", "apt: curl jq", Path("tests/support/sandbox.py")],
                      build=lambda into: mmdebstrap(into))

Where: ``$HASHISTACK_CACHE``, else ``$XDG_CACHE_HOME/hashistack-cdk``, else
``~/.cache/hashistack-cdk``. An entry is built into a temporary sibling and renamed into place
only when ``build`` returns, so an interrupted build leaves no entry; a lock file makes
concurrent builders (pytest-xdist workers, other clones) wait for the first one. ``keep=N`` bounds
a name's entries to the N used last (for entries made often, such as the plan report's synths).
Deleting the directory is always safe.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterable

CACHE_VARIABLE = "HASHISTACK_CACHE"


def cache_root() -> Path:
    explicit = os.environ.get(CACHE_VARIABLE)
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "hashistack-cdk"


def cache_key(inputs: Iterable[str | bytes | Path]) -> str:
    """A digest of the inputs in order: strings and bytes as given, a file by its path's name and
    its content, a directory by the names and contents of its files."""
    digest = hashlib.sha256()

    def feed(tag: bytes, data: bytes) -> None:
        digest.update(tag + len(data).to_bytes(8, "big") + data)

    for item in inputs:
        if isinstance(item, Path):
            files = sorted(p for p in item.rglob("*") if p.is_file()) if item.is_dir() else [item]
            for file in files:
                feed(b"n", file.relative_to(item).as_posix().encode() if item.is_dir() else file.name.encode())
                feed(b"f", file.read_bytes())
        elif isinstance(item, bytes):
            feed(b"b", item)
        else:
            feed(b"s", item.encode())
    return digest.hexdigest()[:16]


def cached_dir(name: str, *, inputs: Iterable[str | bytes | Path], build: Callable[[Path], None],
               keep: int | None = None) -> Path:
    """The directory ``<cache>/<name>-<key of inputs>``, built by ``build(into)`` if absent. With
    ``keep``, the entries of ``name`` beyond the ``keep`` used last are removed."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    entry = root / f"{name}-{cache_key(inputs)}"
    if not entry.is_dir():
        with open(root / f"{entry.name}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not entry.is_dir():  # else built by another process while this one waited
                scratch = Path(tempfile.mkdtemp(prefix=f".{entry.name}-", dir=root))
                try:
                    build(scratch)
                    scratch.rename(entry)
                except BaseException:
                    shutil.rmtree(scratch, ignore_errors=True)
                    raise
    if keep is not None:
        _prune(root, name, keep, used=entry)
    return entry


def _prune(root: Path, name: str, keep: int, used: Path) -> None:
    """Marks ``used`` as the entry of ``name`` (``<name>-<16 hex digits>``) used last, then removes
    the entries beyond the ``keep`` used last. The mark is a modification time later than every
    other entry's: file times tick in the kernel's coarse clock, so entries used in a row within
    a few milliseconds would otherwise tie."""
    pattern = re.compile(re.escape(name) + r"-[0-9a-f]{16}")
    entries = [p for p in root.iterdir() if pattern.fullmatch(p.name) and p.is_dir()]
    latest = max((p.stat().st_mtime_ns for p in entries if p != used), default=0)
    now = max(time.time_ns(), latest + 1)
    os.utime(used, ns=(now, now))
    for old in sorted(entries, key=lambda p: p.stat().st_mtime_ns, reverse=True)[keep:]:
        shutil.rmtree(old, ignore_errors=True)
        (root / f"{old.name}.lock").unlink(missing_ok=True)
