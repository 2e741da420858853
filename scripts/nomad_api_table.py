#!/usr/bin/env python3
"""Generates the table of Nomad API struct fields and their Go types from Nomad's ``api`` package.

Usage::

    scripts/nomad_api_table.py PATH_TO_NOMAD_CHECKOUT --version 1.10 --tag v1.10.5 [--commit SHA]

``PATH_TO_NOMAD_CHECKOUT`` is a directory holding Nomad's source at the tag (for example from
``git archive v1.10.5 api | tar -x -C /tmp/nomad-1.10.5``). The script reads every non-test
``api/*.go`` file, collects each ``type X struct { ... }`` with its fields (the JSON key is the
``json:"..."`` tag name when there is one, else the Go field name; ``json:"-"`` fields are
skipped; embedded structs contribute their fields) and writes
``constructs/hashistack/nomad/api_tables/nomad_<major>_<minor>.py`` (or ``--out``), a plain
Python module: ``VERSION``, ``SOURCE`` (tag and commit) and ``STRUCTS`` = {struct: {key: go_type}},
sorted so the output is byte-identical for the same input.

The job model's tests walk every rendered job with this table (``hashistack.nomad.api_fields``):
a key that is not a field, or a value whose JSON type Go's ``encoding/json`` would refuse for
the field's type, is reported by path.
"""

from __future__ import annotations

import argparse
import pprint
import re
import sys
from pathlib import Path

_STRUCT_START = re.compile(r"^type\s+([A-Z]\w*)\s+struct\s*\{\s*$")
_FIELD = re.compile(r"^([A-Z]\w*(?:\s*,\s*[A-Z]\w*)*)\s+([^`]+?)\s*(`[^`]*`)?\s*$")
_EMBEDDED = re.compile(r"^\*?([A-Z]\w*)\s*(`[^`]*`)?\s*$")
_JSON_TAG = re.compile(r'json:"([^"]*)"')
_ALIAS = re.compile(r"^type\s+([A-Z]\w*)\s+(?!struct\b)([\w.\[\]*]+)\s*$")


def _strip_comment(line: str) -> str:
    # Struct field lines carry no '//' inside strings except in tags, which use backquotes.
    if "`" in line:
        head, _, rest = line.partition("`")
        tag, _, tail = rest.partition("`")
        return head + "`" + tag + "`" + tail.split("//", 1)[0]
    return line.split("//", 1)[0]


def parse_go_file(text: str) -> tuple[dict[str, dict[str, str]], dict[str, list[str]], dict[str, str]]:
    """(fields per struct, embedded struct names per struct, named non-struct types) of one file."""
    structs: dict[str, dict[str, str]] = {}
    embedded: dict[str, list[str]] = {}
    aliases: dict[str, str] = {}
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        alias = _ALIAS.match(line)
        if alias:
            aliases[alias.group(1)] = alias.group(2)
        m = _STRUCT_START.match(line)
        i += 1
        if not m:
            continue
        name = m.group(1)
        fields: dict[str, str] = {}
        embeds: list[str] = []
        depth = 1
        while i < len(lines) and depth > 0:
            raw = _strip_comment(lines[i]).strip()
            i += 1
            if not raw:
                continue
            if depth > 1:  # inside an inline struct type: its fields are not this struct's
                depth += raw.count("{") - raw.count("}")
                continue
            if raw == "}":
                depth -= 1
                continue
            f = _FIELD.match(raw)
            if f:
                names = [n.strip() for n in f.group(1).split(",")]
                go_type = f.group(2).strip()
                tag = f.group(3) or ""
                if go_type.endswith("{"):  # an inline struct type
                    depth += 1
                    go_type = "struct{}"
                json_tag = _JSON_TAG.search(tag)
                json_name = json_tag.group(1).split(",")[0] if json_tag else ""
                if json_name == "-":
                    continue
                for field_name in names:
                    fields[json_name or field_name] = go_type
                continue
            e = _EMBEDDED.match(raw)
            if e:
                embeds.append(e.group(1))
        structs[name] = fields
        embedded[name] = embeds
    return structs, embedded, aliases


def build_table(checkout: Path) -> tuple[dict[str, dict[str, str]], dict[str, str]]:
    api = checkout / "api"
    if not api.is_dir():
        raise SystemExit(f"{checkout}: no api/ directory: pass the root of a Nomad source checkout")
    structs: dict[str, dict[str, str]] = {}
    embedded: dict[str, list[str]] = {}
    aliases: dict[str, str] = {}
    for path in sorted(api.glob("*.go")):
        if path.name.endswith("_test.go"):
            continue
        s, e, a = parse_go_file(path.read_text(encoding="utf-8"))
        structs.update(s)
        embedded.update(e)
        aliases.update(a)

    def flatten(name: str, seen: tuple[str, ...] = ()) -> dict[str, str]:
        out: dict[str, str] = {}
        for inner in embedded.get(name, []):
            if inner in structs and inner not in seen:
                out.update(flatten(inner, seen + (name,)))
        out.update(structs[name])
        return out

    table = {name: dict(sorted(flatten(name).items())) for name in sorted(structs)}
    return table, dict(sorted(aliases.items()))


def render_module(table: dict, aliases: dict, *, version: str, tag: str, commit: str) -> str:
    header = (
        f'"""Nomad {version} API struct fields and Go types: generated by scripts/nomad_api_table.py from\n'
        f"Nomad's api/*.go at {tag}{f' ({commit})' if commit else ''}. Do not edit by hand; regenerate.\n"
        '"""\n\n'
    )
    body = (
        f"VERSION = {version!r}\n"
        f"SOURCE = {f'github.com/hashicorp/nomad {tag} api/*.go' + (f' @ {commit}' if commit else '')!r}\n\n"
        "# Named non-struct types of the package (type X Y): resolved when checking values.\n"
        f"ALIASES: dict[str, str] = {pprint.pformat(aliases, width=110, sort_dicts=True)}\n\n"
        "# struct -> {JSON key: Go type}\n"
        f"STRUCTS: dict[str, dict[str, str]] = {pprint.pformat(table, width=110, sort_dicts=True)}\n"
    )
    return header + body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("checkout", type=Path, help="root of a Nomad source checkout at the tag")
    parser.add_argument("--version", required=True, help="the Nomad minor version the table stands for, e.g. 1.10")
    parser.add_argument("--tag", required=True, help="the git tag the checkout is at, e.g. v1.10.5")
    parser.add_argument("--commit", default="", help="the commit of that tag, recorded in the table")
    parser.add_argument("--out", type=Path, help="output module (default: the library's api_tables/)")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"\d+\.\d+", args.version):
        parser.error(f"--version {args.version!r}: use MAJOR.MINOR, e.g. 1.10")
    table, aliases = build_table(args.checkout)
    out = args.out or (Path(__file__).resolve().parent.parent / "constructs" / "hashistack" / "nomad" / "api_tables"
                       / f"nomad_{args.version.replace('.', '_')}.py")
    out.write_text(render_module(table, aliases, version=args.version, tag=args.tag, commit=args.commit),
                   encoding="utf-8")
    print(f"{out}: {len(table)} structs from {args.tag}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
