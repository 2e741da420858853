"""The first apply of ``<env>-vault`` as the bootstrap tests run it. terraform-provider-vault
cannot be had offline, so this script applies the synthesized stack with the Vault harness's
applier (tests/support/vault_engine.py: ``StackApplier`` makes the provider's HTTP calls, resource by
resource, references resolved as Terraform would), with Nomad's JWKS and the identity
providers' discovery replaced by the harness's loopback stand-in, as the real-engine tests do.

Usage: ``python tests/support/bootstrap_vault_apply.py RECORD [STACK_JSON | --fail]``. It runs as the
bootstrap runs ``cdktf deploy``: VAULT_ADDR, VAULT_TOKEN (the initial root token) and
VAULT_CACERT come from the environment, with CONSUL_HTTP_TOKEN and CONSUL_CACERT for the stack's
Consul half (not applied here: no Consul engine runs offline). RECORD receives the token it was given, so that the test
can check afterwards that the bootstrap revoked it (a test-only file in the test's temp
directory). ``--fail`` exits 3 after recording, as a failed apply would.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from tests.support import vault_engine as engine  # noqa: E402


def provider_address(stack: dict, provider: str, environ) -> str | None:
    """A provider block's ``address`` resolved as Terraform would: a literal, or ``${var.X}`` from
    ``TF_VAR_X`` else the variable's default; None when the block sets no address."""
    import re

    blocks = (stack.get("provider") or {}).get(provider) or [{}]
    value = blocks[0].get("address")
    if value is None:
        return None
    m = re.fullmatch(r"\$\{var\.([A-Za-z0-9_]+)\}", value)
    if not m:
        return value
    name = m.group(1)
    return environ.get(f"TF_VAR_{name}") or (stack.get("variable") or {}).get(name, {}).get("default")


def main(record: str, stack_json: str | None = None) -> int:
    addr, token = os.environ["VAULT_ADDR"], os.environ["VAULT_TOKEN"]
    Path(record).write_text(token)
    if stack_json is None:
        return 0
    if stack_json == "--fail":
        print(f"failing on purpose; token {token}; consul token {os.environ.get('CONSUL_HTTP_TOKEN')}; "
              f"consul CA {'given' if os.environ.get('CONSUL_CACERT') else 'absent'}", file=sys.stderr)
        return 3
    ca_file = os.environ.get("VAULT_CACERT")
    if ca_file:  # hvac's child-token client verifies with requests' default bundle: make it the cluster CA
        os.environ["REQUESTS_CA_BUNDLE"] = ca_file
    stack = json.loads(Path(stack_json).read_text())
    # The provider's address as terraform-provider-vault takes it: the ``address`` argument, and
    # VAULT_ADDR only when the argument is unset (provider.go: ``DefaultFunc:
    # schema.EnvDefaultFunc("VAULT_ADDR", nil)``); a variable from TF_VAR_<name> or its default.
    addr = provider_address(stack, "vault", os.environ) or addr
    try:
        import socket
        from urllib.parse import urlsplit

        socket.getaddrinfo(urlsplit(addr).hostname, None)
    except OSError as e:
        print(f"Error: failed to reach Vault at {addr}: dial tcp: lookup {urlsplit(addr).hostname}: {e}",
              file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as workdir:
        jwks = engine.JwksStandIn(Path(workdir)).start()
        try:
            def override(rtype: str, _name: str, attrs: dict) -> dict:
                if rtype == "vault_jwt_auth_backend" and "jwks_url" in attrs:
                    return {**attrs, "jwks_url": jwks.url, "jwks_ca_pem": jwks.ca_pem}
                if rtype == "vault_jwt_auth_backend" and "oidc_discovery_url" in attrs:
                    return {**attrs, "oidc_discovery_url": jwks.issuer, "oidc_discovery_ca_pem": jwks.ca_pem}
                return attrs

            variables = {name: f"test-{name}" for name, v in (stack.get("variable") or {}).items()
                         if "default" not in v}
            client = engine.hvac.Client(url=addr, token=token, verify=ca_file or True, timeout=30)
            applier = engine.StackApplier(client, override=override, variables=variables)
            applied = applier.apply_stack(stack)
        finally:
            jwks.stop()
    print(f"applied {len(applied)} resources; not applied: {sorted(applier.not_applied)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
