"""The first apply of ``<env>-vault`` as the bootstrap tests run it: ``terraform-provider-vault``
cannot be had offline, so this script makes the provider's HTTP calls for the stack's
``vault_policy`` (``PUT sys/policies/acl/<name>``) and ``vault_auth_backend`` (``POST
sys/auth/<path>``) resources, the part of the stack the operator login path needs. The other
resource types (mounts, PKI, JWT backends) are listed, not applied: applying the whole stack to
OpenBao is tests/vault_engine.py's work.

Usage: ``python tests/bootstrap_vault_apply.py RECORD [STACK_JSON | --fail]`` (``--fail``: exit 3
after recording, as a failed apply would). It runs as the bootstrap
runs ``cdktf deploy``: VAULT_ADDR, VAULT_TOKEN (the initial root token) and VAULT_CACERT come from
the environment. RECORD receives the token it was given, so that the test can check afterwards
that the bootstrap revoked it (a test-only file in the test's temp directory).
"""

from __future__ import annotations

import json
import os
import sys
from collections import Counter
from pathlib import Path

import requests


def main(record: str, stack_json: str | None = None) -> int:
    addr, token = os.environ["VAULT_ADDR"], os.environ["VAULT_TOKEN"]
    verify = os.environ.get("VAULT_CACERT") or True
    Path(record).write_text(token)
    if stack_json is None:
        return 0
    if stack_json == "--fail":
        print(f"failing on purpose; token {token}", file=sys.stderr)
        return 3
    resources = json.loads(Path(stack_json).read_text()).get("resource", {})
    session = requests.Session()
    session.headers["X-Vault-Token"] = token

    def call(method: str, path: str, body: dict) -> None:
        r = session.request(method, f"{addr}/v1/{path}", json=body, verify=verify, timeout=30)
        if r.status_code not in (200, 204):
            raise SystemExit(f"{method} {path}: HTTP {r.status_code} {r.text[:300]}")

    applied: Counter = Counter()
    for a in resources.get("vault_auth_backend", {}).values():
        call("POST", f"sys/auth/{a.get('path') or a['type']}", {"type": a["type"],
                                                                 "description": a.get("description", "")})
        applied["vault_auth_backend"] += 1
    for a in resources.get("vault_policy", {}).values():
        call("PUT", f"sys/policies/acl/{a['name']}", {"policy": a["policy"]})
        applied["vault_policy"] += 1
    others = sorted(t for t in resources if t not in applied)
    print(f"applied {dict(sorted(applied.items()))}; not applied here: {others}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
