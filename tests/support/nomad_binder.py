"""Nomad's JWT login, as a test model (STAND-IN: no Nomad binary runs here), after Nomad v1.10.2
``nomad/acl_endpoint.go`` (``Login``) and ``lib/auth/binder.go``: the login token's issuer must be
the method's discovery URL and one of its audiences a bound audience; the claims named in
``ClaimMappings`` become ``value.<name>``; every binding rule whose selector matches (go-bexpr,
``github.com/hashicorp/go-bexpr``: the subset ``==``, ``!=``, ``and``, ``or``, ``not``, parentheses
and double-quoted strings, which is all the platform writes) binds its role; a login binding
nothing is refused. The token's signature is not checked here: that is Nomad's JWKS code, not
the platform's configuration."""

from __future__ import annotations

import base64
import json
import re
import time

_TOKEN = re.compile(r'\s*(\(|\)|==|!=|"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_.]*)')


def claims_of(jwt: str) -> dict:
    payload = jwt.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def unsigned_jwt(claims: dict) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(claims)}."


def _tokens(text: str) -> list[str]:
    out, pos = [], 0
    while pos < len(text.rstrip()):
        m = _TOKEN.match(text, pos)
        if not m:
            raise ValueError(f"selector: cannot parse {text[pos:]!r}")
        out.append(m.group(1))
        pos = m.end()
    return out


def matches(selector: str, values: dict[str, str]) -> bool:
    """go-bexpr's verdict on ``selector`` over ``{"value": values}``; an empty selector matches."""
    if not selector.strip():
        return True
    tokens = _tokens(selector)

    def expr(i: int) -> tuple[bool, int]:
        left, i = term(i)
        while i < len(tokens) and tokens[i] == "or":
            right, i = term(i + 1)
            left = left or right
        return left, i

    def term(i: int) -> tuple[bool, int]:
        left, i = factor(i)
        while i < len(tokens) and tokens[i] == "and":
            right, i = factor(i + 1)
            left = left and right
        return left, i

    def factor(i: int) -> tuple[bool, int]:
        if tokens[i] == "not":
            value, i = factor(i + 1)
            return not value, i
        if tokens[i] == "(":
            value, i = expr(i + 1)
            if tokens[i] != ")":
                raise ValueError(f"selector: unbalanced parentheses in {selector!r}")
            return value, i + 1
        selector_path, op, literal = tokens[i:i + 3]
        if not selector_path.startswith("value.") or op not in ("==", "!=") or not literal.startswith('"'):
            raise ValueError(f"selector: unsupported {' '.join(tokens[i:i + 3])!r}")
        found = values.get(selector_path[len("value."):])
        equal = found is not None and found == json.loads(literal)
        return (equal if op == "==" else not equal), i + 3

    value, end = expr(0)
    if end != len(tokens):
        raise ValueError(f"selector: trailing {tokens[end:]!r}")
    return value


def login(method: dict, rules: list[dict], jwt: str) -> tuple[int, object]:
    """(HTTP status, the roles bound or Nomad's refusal) for a login with ``jwt`` at ``method``."""
    claims = claims_of(jwt)
    config = method["Config"]
    if claims.get("iss") != config["OIDCDiscoveryURL"]:
        return 400, "failed to validate JWT: invalid issuer (iss) claim"
    audiences = claims.get("aud")
    audiences = [audiences] if isinstance(audiences, str) else list(audiences or [])
    if not set(audiences) & set(config.get("BoundAudiences") or []):
        return 400, "failed to validate JWT: invalid audience (aud) claim"
    if claims.get("exp", 0) < time.time():
        return 400, "failed to validate JWT: token is expired (exp)"
    values = {name: str(claims[claim]).lower() if isinstance(claims[claim], bool) else str(claims[claim])
              for claim, name in (config.get("ClaimMappings") or {}).items() if claim in claims}
    roles = sorted({r["BindName"] for r in rules if r["AuthMethod"] == method["Name"] and r["BindType"] == "role"
                    and matches(r.get("Selector", ""), values)})
    if not roles:
        return 400, "no role or policy bindings matched"
    return 200, roles
