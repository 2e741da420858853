"""Which Vault paths a consul-template template reads, and with which capability: the one parser
every check and the policy derivation use.

consul-template runs Go's ``text/template``: an action is ``{{ ... }}`` (``{{-``/``-}}`` trim
space, ``{{/* */}}`` is a comment), and a string argument is a double-quoted string (Go escapes)
or a raw string in backquotes. Its Vault functions (consul-template v0.41, ``template/funcs.go``
and ``dependency/vault_*.go``) and the capability each needs on its path:

- ``secret "path"``: a read (``read``); with data arguments, ``secret "path" "k=v"``, a write
  (``update``), e.g. a PKI issue;
- ``secrets "path"``: a LIST of the path's keys (``list``);
- ``pkiCert "path" "k=v"...``: a write to a PKI issue endpoint (``update``).

A call whose path is not a string literal (``secret (printf ...)``, ``secret $path``, a
pipeline ``... | secret``) is returned with ``path=None``: its path is known only at render time.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

__all__ = ["VaultCall", "vault_calls"]

FUNCTIONS = {"secret": "read", "secrets": "list", "pkiCert": "update"}

# Go text/template lexemes inside an action: comments, strings (interpreted, raw), characters,
# the action's end, and everything else one token at a time.
_LEXEME = re.compile(r'''
    (?P<comment>/\*.*?\*/)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<char>'(?:[^'\\\n]|\\.)+')
  | (?P<end>-?\s*\}\})
  | (?P<space>\s+)
  | (?P<word>[$.]?[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<other>.)
''', re.S | re.X)


@dataclass(frozen=True)
class VaultCall:
    """One call of a Vault function in a template: the function, the literal path (``None`` when
    built at render time), the capability it needs, and the action's text."""

    function: str
    path: str | None
    capability: str
    action: str


def _literal(kind: str, text: str) -> str:
    return text[1:-1] if kind == "raw" else json.loads(text)


def _actions(text: str) -> list[list[tuple[str, str]]]:
    """The token lists of the template's actions (comments and spaces dropped)."""
    actions, pos = [], 0
    while (start := text.find("{{", pos)) >= 0:
        pos = start + 2
        tokens: list[tuple[str, str]] = []
        while pos < len(text):
            m = _LEXEME.match(text, pos)
            assert m is not None  # the last alternative matches any character
            pos = m.end()
            kind = m.lastgroup or "other"
            if kind == "end":
                break
            if kind not in ("space", "comment"):
                tokens.append((kind, m.group()))
        actions.append(tokens)
    return actions


def vault_calls(text: str) -> list[VaultCall]:
    """Every Vault function call in ``text``, in order."""
    calls = []
    for tokens in _actions(text):
        action = " ".join(t for _, t in tokens).removeprefix("- ").strip()
        for i, (kind, word) in enumerate(tokens):
            if kind != "word" or word not in FUNCTIONS:
                continue
            args: list[str | None] = []
            for arg_kind, arg in tokens[i + 1:]:
                if arg_kind in ("string", "raw"):
                    args.append(_literal(arg_kind, arg))
                    continue
                if not args:
                    args.append(None)  # a variable, a field, a parenthesised call: built at render time
                break
            if not args:  # ``... | secret``: the path is the pipeline's value
                args = [None]
            path = args[0]
            capability = FUNCTIONS[word]
            if word == "secret" and len(args) > 1:
                capability = "update"  # secret "path" "k=v" writes
            calls.append(VaultCall(function=word, path=path, capability=capability, action=action))
    return calls
