"""The project's layout cannot shadow the libraries it depends on."""

from __future__ import annotations

from pathlib import Path

import constructs

ROOT = Path(__file__).resolve().parents[2]


def test_constructs_resolves_to_the_installed_library():
    # constructs/ at the top level is the library's distribution root; if it ever became a
    # package it would shadow the `constructs` library that cdktf imports.
    assert constructs.Construct.__module__.startswith("constructs")
    assert "site-packages" in Path(constructs.__file__).parts
    assert not (ROOT / "constructs" / "__init__.py").exists()


def test_no_other_folder_is_named_constructs():
    offenders = [
        p for p in ROOT.rglob("constructs")
        if p.is_dir() and p != ROOT / "constructs"
        and not {".venv", "node_modules", ".git"} & set(p.relative_to(ROOT).parts)
    ]
    assert offenders == []


def test_hashistack_is_importable_from_the_library_root():
    import hashistack

    assert Path(hashistack.__file__).resolve().parent == ROOT / "constructs" / "hashistack"
    assert hashistack.__version__
