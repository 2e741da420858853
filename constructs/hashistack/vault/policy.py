"""Vault policies as typed models, rendered to HCL and linted.

A :class:`Policy` is a name and a list of :class:`Rule` (path + capabilities). :meth:`Policy.lint`
rejects what a generator should never emit for an application: KV v2 paths without ``data/`` or
``metadata/``, mount-wide wildcards, ``sudo``, unknown capabilities, and PKI paths other than
``issue/<role>``. :meth:`Policy.grants` answers whether a request would be allowed, which is how a
service proves that every path its templates read is covered.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import Checker

__all__ = ["CAPABILITIES", "Policy", "Rule"]

CAPABILITIES = frozenset({"create", "read", "update", "patch", "delete", "list", "sudo", "deny", "subscribe"})


_LEGACY = {
    "read": '["read", "list"]',
    "write": '["create", "read", "update", "delete", "list"]',
    "sudo": '["create", "read", "update", "delete", "list", "sudo"]',
    "deny": '["deny"]',
}


def _unquote(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@dataclass(frozen=True, kw_only=True)
class Rule:
    """``path "<path>" { capabilities = [...] }``; a trailing ``*`` or a ``+`` segment globs."""

    path: str
    capabilities: tuple[str, ...]
    comment: str | None = None

    def matches(self, request_path: str) -> bool:
        return bool(self._pattern().fullmatch(request_path))

    def _pattern(self) -> re.Pattern[str]:
        glob = self.path.endswith("*")
        body = self.path[:-1] if glob else self.path
        regex = "/".join("[^/]+" if seg == "+" else re.escape(seg) for seg in body.split("/"))
        return re.compile(regex + (".*" if glob else ""))

    def render(self) -> str:
        caps = ", ".join(_quote(c) for c in self.capabilities)
        head = f"# {self.comment}\n" if self.comment else ""
        return f"{head}path {_quote(self.path)} {{\n  capabilities = [{caps}]\n}}\n"


@dataclass(frozen=True, kw_only=True)
class Policy:
    """A named Vault policy.

    :param kv_mounts: the KV v2 mounts its paths may touch (their paths must say ``data/`` or
        ``metadata/``).
    :param pki_mounts: the PKI mounts its paths may touch (an application may only ``update``
        ``<mount>/issue/<role>``).
    :param application: lint as an application policy (no ``sudo``, no wildcards, least privilege).
    """

    name: str
    rules: tuple[Rule, ...]
    description: str | None = None
    kv_mounts: tuple[str, ...] = ()
    pki_mounts: tuple[str, ...] = ()
    application: bool = True
    read_only: bool = False

    @staticmethod
    def from_hcl(text: str, *, name: str, where: str = "", **lint_options) -> "Policy":
        """Parses a policy's HCL (``path "..." { capabilities = [...] }`` blocks). The legacy
        ``policy = "write"`` form is rejected with the capabilities to use instead."""
        import hcl2

        check = Checker(f"{where + ': ' if where else ''}vault policy {_quote(name)}")
        try:
            parsed = hcl2.loads(text)
        except Exception as error:  # the parser's own exception types vary by version
            check.fail("hcl", text[:60], f"is not valid HCL ({type(error).__name__}: {str(error)[:120]})")
        rules = []
        for block in parsed.get("path", []):
            for raw_path, body in block.items():
                path = _unquote(raw_path)
                if "policy" in body:
                    legacy = _unquote(str(body["policy"]))
                    check.fail(f"path[{path}].policy", legacy,
                               "the legacy policy = \"...\" form is not accepted; write capabilities = "
                               f"{_LEGACY.get(legacy, '[...]')}")
                caps = tuple(_unquote(str(c)) for c in body.get("capabilities", []))
                rules.append(Rule(path=path, capabilities=caps))
        return Policy(name=name, rules=tuple(rules), **lint_options)

    def render(self) -> str:
        """The policy as HCL text, rules in the order given."""
        head = f"# {self.description}\n\n" if self.description else ""
        return head + "\n".join(rule.render() for rule in self.rules)

    def grants(self, request_path: str, capability: str) -> bool:
        """Whether this policy allows ``capability`` on ``request_path`` (exact paths and globs;
        an explicit ``deny`` wins)."""
        matching = [r for r in self.rules if r.matches(request_path)]
        if any("deny" in r.capabilities for r in matching):
            return False
        return any(capability in r.capabilities for r in matching)

    def lint(self, *, where: str = "") -> "Policy":
        """Raises HashistackError for the first rule a generator should never emit."""
        check = Checker(f"{where + ': ' if where else ''}vault policy {_quote(self.name)}")
        check.require(bool(self.rules), "rules", [], "a policy needs at least one path rule")
        seen: set[str] = set()
        for rule in self.rules:
            field = f"path[{rule.path}]"
            check.require(rule.path not in seen, field, rule.path, "list each path once; merge the capabilities")
            seen.add(rule.path)
            check.require(bool(rule.capabilities), f"{field}.capabilities", [], "grant at least one capability")
            for cap in rule.capabilities:
                check.require(cap in CAPABILITIES, f"{field}.capabilities", cap,
                              f"use capabilities from {sorted(CAPABILITIES)} (the legacy policy = \"write\" form "
                              "is not accepted)")
            if self.read_only:
                check.require(set(rule.capabilities) <= {"read", "list"}, f"{field}.capabilities",
                              rule.capabilities, "a read-only policy holds only read and list")
            mount, _, rest = rule.path.partition("/")
            if self.application:
                check.require(rule.path not in ("*", "+") and not (rest in ("*", "") and rule.path.endswith("*")),
                              field, rule.path, "no mount-wide wildcards in an application policy; grant exact paths")
                check.require("sudo" not in rule.capabilities, f"{field}.capabilities", "sudo",
                              "an application policy never holds sudo")
            if mount in self.kv_mounts and not (rest == "config" and not self.application):
                # only a platform policy may touch the mount's own settings (max versions, CAS)
                check.require(rest.startswith(("data/", "metadata/")), field, rule.path,
                              f"a KV v2 path reads through {mount}/data/<path> (or lists through "
                              f"{mount}/metadata/<path>)")
            if mount in self.pki_mounts and self.application:
                check.require(rest.startswith("issue/") and "*" not in rest and rule.capabilities == ("update",),
                              field, rule.path,
                              f"an application only gets [\"update\"] on {mount}/issue/<role>; never root/, "
                              "sign-verbatim or config/")
        return self
