"""What a Consul agent needs before it reports ready, and what its tokens may do, as a test
model (STAND-IN: no Consul binary runs here). Rules from Consul's source, v1.21 line:

- ``agent/agent.go`` ``(*Agent).Start`` begins with ``AutoConfig.InitialConfiguration``
  (agent/auto-config/auto_config.go); with ``auto_encrypt { tls = true }`` that blocks until an
  ``AutoEncrypt.Sign`` RPC succeeds, retried forever (agent/auto-config/auto_encrypt.go). The
  request carries the agent token (``acl.tokens.agent``, else the default token:
  agent/token/store.go ``AgentToken``); the server resolves it and needs ``node:write`` on the
  agent's node (agent/consul/leader_connect_ca.go ``AuthorizeAndSignCertificate``). A token the
  servers do not know fails with "ACL not found", and the agent tries again.
- ``READY=1`` (the packaged unit is ``Type=notify``, with systemd's default 90 s
  ``TimeoutStartSec``) is sent only by ``(*Agent).JoinLAN`` after a successful LAN join
  (agent/agent.go, agent/systemd/notify.go), reached through ``retry_join`` once ``Start``
  returned (agent/retry_join.go): no ``retry_join``, or no server to join, and it is never sent.
- Without auto-encrypt ``Start`` makes no RPC; a token the servers do not know yet only makes
  anti-entropy fail and retry every 15-30 s (agent/ae/ae.go) until it exists.
- ACL rules: ``<resource>_prefix "<prefix>" { policy = ... }`` and exact-name blocks; a name
  takes its exact rule, else the longest prefix it starts with (acl/policy_authorizer.go); a
  token's policies merge segment by segment, ``deny`` first (acl/policy_merger.go); a token with
  ``global-management`` may do anything (acl/policy.go).
"""

from __future__ import annotations

from tests.support.hcl import parse

LEVEL = {"deny": 0, "read": 1, "list": 1, "write": 2}
MANAGEMENT_POLICY_ID = "00000000-0000-0000-0000-000000000001"


def merge(into: dict, more: dict) -> dict:
    """Merge one parsed config file into the others (later files add to and override earlier)."""
    for key, value in more.items():
        if key.startswith("__"):
            continue
        have = into.get(key)
        if isinstance(have, list) and isinstance(value, list) and have and value \
                and isinstance(have[0], dict) and isinstance(value[0], dict) and len(have) == len(value) == 1:
            merge(have[0], value[0])
        elif isinstance(have, dict) and isinstance(value, dict):
            merge(have, value)
        else:
            into[key] = value
    return into


def _first(cfg: dict, *path: str) -> dict:
    node: object = cfg
    for key in path:
        if not isinstance(node, dict):
            return {}
        node = node.get(key) or [{}]
        node = node[0] if isinstance(node, list) and node else node
    return node if isinstance(node, dict) else {}


def agent_token(cfg: dict) -> str | None:
    tokens = _first(cfg, "acl", "tokens")
    return tokens.get("agent") or tokens.get("default")


FILE_KEYS = ("ca_file", "cert_file", "key_file", "tls_cert_file", "tls_key_file", "tls_client_ca_file",
             "leader_ca_cert_file")
CA_KEYS = ("ca_file", "grpc_ca_file", "tls_client_ca_file", "leader_ca_cert_file")


def named_files(cfg: dict, keys: tuple[str, ...]) -> list[str]:
    """Every path a parsed config names under one of ``keys``, at any depth, sorted."""
    found: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k in keys and isinstance(v, str):
                    found.append(v)
                else:
                    walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(cfg)
    return sorted(set(found))


def referenced_files(product: str, cfg: dict) -> list[str]:
    """Every certificate, key and CA file a product's config names that the agent loads at start
    (each must be readable by the agent's user, or the agent exits). Nomad's
    ``consul.grpc_ca_file`` is not among them: Nomad only hands it to Envoy (the deploy step
    checks it)."""
    return named_files(cfg, FILE_KEYS)


def start_returns(cfg: dict, *, known_tokens: dict) -> str | None:
    """None when ``(*Agent).Start`` returns, else what it waits for."""
    if not cfg.get("encrypt"):
        return "no gossip key (encrypt): the agent cannot join an encrypted LAN pool"
    if _first(cfg, "auto_encrypt").get("tls") and not cfg.get("server"):
        token = agent_token(cfg)
        if token is None:
            return "auto_encrypt.tls with no agent token: AutoEncrypt.Sign is denied, Start waits forever"
        if token not in known_tokens:
            return ("auto_encrypt.tls: Start waits until the Consul servers accept the agent token "
                    "(AutoEncrypt.Sign, retried forever); the servers know no such token yet")
    return None


def not_ready(cfg: dict, *, servers: bool, known_tokens: dict) -> str | None:
    """None when the agent sends READY=1 at this moment, else why it does not."""
    why = start_returns(cfg, known_tokens=known_tokens)
    if why:
        return why + "; no READY=1, so systemd fails the start after TimeoutStartSec"
    if not cfg.get("retry_join"):
        return "no retry_join: the agent never joins, READY=1 is never sent"
    if not servers:
        return "no Consul server has started: no LAN join, no READY=1"
    return None


def _rules(policy: dict) -> dict:
    return parse(policy.get("Rules") or "")


def _precedence(a: str, b: str) -> str:
    """The merged access of two policies' rules on one segment: deny, then write, then list, then
    read (acl/policy_merger.go ``takesPrecedenceOver``)."""
    order = ["read", "list", "write", "deny"]
    return max(a, b, key=lambda x: order.index(x) if x in order else -1)


def level(tokens: dict, policies: dict, secret: str | None, resource: str, name: str = "") -> int:
    """The token's access to the ``resource`` called ``name``: the token's policies merged segment
    by segment, then the exact rule for ``name`` if there is one, else the longest prefix rule that
    ``name`` starts with (acl/policy_authorizer.go ``getPolicy``); no rule: default deny."""
    token = tokens.get(secret or "")
    if token is None:
        return -1
    exact: dict[str, str] = {}
    prefix: dict[str, str] = {}
    whole: str | None = None
    for ref in token.get("Policies") or []:
        if ref.get("ID") == MANAGEMENT_POLICY_ID:
            return LEVEL["write"]
        policy = policies.get(ref.get("Name"))
        if policy is None:
            continue
        rules = _rules(policy)
        for kind, into in (("", exact), ("_prefix", prefix)):
            for block in rules.get(f"{resource}{kind}") or []:
                if not isinstance(block, dict):
                    continue
                for segment, body in block.items():
                    if isinstance(body, dict) and not segment.startswith("__"):
                        into[segment] = _precedence(into.get(segment, ""), str(body.get("policy")))
        if isinstance(rules.get(resource), str):  # acl = "write", operator = "read"
            whole = _precedence(whole or "", rules[resource])
    if whole is not None and not exact and not prefix:
        access = whole
    elif name in exact:
        access = exact[name]
    else:
        matching = [p for p in prefix if name.startswith(p)]
        access = prefix[max(matching, key=len)] if matching else "deny"
    return LEVEL.get(access, 0)


def grants(tokens: dict, policies: dict, secret: str | None, resource: str, access: str, name: str = "") -> bool:
    return level(tokens, policies, secret, resource, name) >= LEVEL[access]


def token_problem(cfg: dict, tokens: dict, policies: dict) -> str | None:
    """Why the agent's own registration still fails (anti-entropy), or None."""
    token = agent_token(cfg)
    if token not in tokens:
        return "its agent token is still unknown to Consul (anti-entropy keeps failing)"
    node = str(cfg.get("node_name") or "")
    if not grants(tokens, policies, token, "node", "write", node):
        return f"its agent token lacks node:write on its node {node!r} (the node cannot register)"
    return None


def serves_on_loopback(product: str, node, port: int) -> str | None:
    """Whether the server's config serves its API on the node's loopback at ``port`` (where the
    Session Manager agent connects)."""
    if product == "consul":
        cfg = node.config("/etc/consul.d")
        https = str(_first(cfg, "addresses").get("https", cfg.get("client_addr", "127.0.0.1"))).split()
        served = int(_first(cfg, "ports").get("https", -1))
        ok = "127.0.0.1" in https and served == port
        return None if ok else f"Consul serves HTTPS on {https} port {served}"
    if product == "nomad":
        cfg = node.config("/etc/nomad.d")
        bind = str(_first(cfg, "addresses").get("http", cfg.get("bind_addr", "127.0.0.1")))
        served = int(_first(cfg, "ports").get("http", 4646))
        ok = bind in ("0.0.0.0", "127.0.0.1") and served == port
        return None if ok else f"Nomad serves HTTP on {bind} port {served}"
    cfg = node.config("/etc/vault.d")
    listeners = [b.get("tcp", {}) for b in cfg.get("listener") or []]
    addresses = [str(listener.get("address", "127.0.0.1:8200")) for listener in listeners]
    ok = any(a in (f"0.0.0.0:{port}", f"127.0.0.1:{port}") for a in addresses)
    return None if ok else f"Vault listens on {addresses}"
