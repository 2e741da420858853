"""Loopback stand-ins for the Consul and Nomad ACL endpoints the bootstrap calls: a test
double, not the products. No Consul or Nomad binary can be had here; ``make e2e`` runs the
bootstrap against the real agents where they are installed.

Only the endpoints the bootstrap uses exist, and their request and response bodies, status codes
and error texts follow the products' HTTP API documentation and handlers:

- Consul (developer.hashicorp.com/consul/api-docs/acl, .../acl/policies, .../acl/tokens;
  agent/acl_endpoint.go, v1.21): ``PUT /v1/acl/bootstrap`` (``BootstrapSecret``; once done,
  403 ``Permission denied: ACL bootstrap no longer allowed (reset index: N)``),
  ``GET /v1/acl/token/self`` (403 ``ACL not found`` for an unknown token),
  ``GET /v1/acl/policy/name/:name`` (404 when absent), ``PUT /v1/acl/policy[/:id]``,
  ``PUT /v1/acl/token[/:accessor]`` (``SecretID`` may be chosen; policies linked by ``Name``).
  Errors are plain text, as Consul writes them.
- Nomad (developer.hashicorp.com/nomad/api-docs/acl/tokens, .../acl/policies;
  nomad/acl_endpoint.go, v1.10): ``POST /v1/acl/bootstrap`` (``BootstrapSecret``; once done,
  400 ``ACL bootstrap already done (reset index: N)``), ``GET /v1/acl/token/self`` (403
  ``ACL token not found``), ``GET|POST /v1/acl/policy/:name`` (404 ``ACL policy not found``),
  ``POST /v1/acl/token`` (Nomad chooses both ids).

Every request is logged (method, path) so tests can assert that a second run writes nothing.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

GLOBAL_MANAGEMENT = {"ID": "00000000-0000-0000-0000-000000000001", "Name": "global-management"}


class _Handler(BaseHTTPRequestHandler):
    standin: "StandIn"

    def log_message(self, *args) -> None:  # quiet
        pass

    def _body(self) -> dict:
        n = int(self.headers.get("Content-Length") or 0)
        return json.loads(self.rfile.read(n)) if n else {}

    def _send(self, status: int, body: object = None) -> None:
        data = b"" if body is None else (body.encode() if isinstance(body, str) else json.dumps(body).encode())
        self.send_response(status)
        self.send_header("Content-Type", "text/plain" if isinstance(body, str) else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _dispatch(self) -> None:
        s = self.standin
        with s.lock:
            s.log.append((self.command, self.path))
            body = self._body() if self.command in ("PUT", "POST") else {}
            status, answer = s.handle(self.command, self.path, self.headers.get(s.token_header), body)
        self._send(status, answer)

    do_GET = do_PUT = do_POST = do_DELETE = _dispatch


class StandIn:
    token_header = ""

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        """``tls``: (certificate PEM, key PEM) to serve HTTPS with, as the product's server
        would with its agent certificate; plain HTTP without."""
        self.lock = threading.Lock()
        self.log: list[tuple[str, str]] = []
        self.tokens: dict[str, dict] = {}  # by SecretID
        self.policies: dict[str, dict] = {}  # by Name
        self.index = 10
        self.bootstrapped = False
        handler = type("Handler", (_Handler,), {"standin": self})
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        scheme = "http"
        if tls is not None:
            import ssl
            import tempfile

            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            with tempfile.TemporaryDirectory() as d:
                cert, key = f"{d}/cert.pem", f"{d}/key.pem"
                for path, pem in ((cert, tls[0]), (key, tls[1])):
                    with open(path, "w") as f:
                        f.write(pem)
                context.load_cert_chain(cert, key)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
            scheme = "https"
        self.port = self.server.server_address[1]
        self.url = f"{scheme}://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def writes(self) -> list[tuple[str, str]]:
        return [(m, p) for m, p in self.log if m in ("PUT", "POST")]

    def _next(self) -> int:
        self.index += 1
        return self.index

    def management(self, secret: str | None) -> bool:
        token = self.tokens.get(secret or "")
        return bool(token) and self.is_management(token)

    def handle(self, method: str, path: str, token: str | None, body: dict) -> tuple[int, object]:
        raise NotImplementedError


class ConsulStandIn(StandIn):
    token_header = "X-Consul-Token"

    def is_management(self, token: dict) -> bool:
        return any(p["ID"] == GLOBAL_MANAGEMENT["ID"] for p in token["Policies"])

    def _token(self, secret: str, accessor: str | None, description: str, policies: list[dict]) -> dict:
        index = self._next()
        return {"AccessorID": accessor or str(uuid.uuid4()), "SecretID": secret, "Description": description,
                "Policies": policies, "Local": False, "CreateTime": "2026-11-25T12:00:00Z", "Hash": "",
                "CreateIndex": index, "ModifyIndex": index}

    def bootstrap_with(self, secret: str) -> None:
        self.tokens[secret] = self._token(secret, None, "Bootstrap Token (Global Management)", [GLOBAL_MANAGEMENT])
        self.bootstrapped = True

    def handle(self, method, path, token, body):
        if (method, path) == ("PUT", "/v1/acl/bootstrap"):
            if self.bootstrapped:
                return 403, "Permission denied: ACL bootstrap no longer allowed (reset index: 0)"
            secret = body.get("BootstrapSecret") or str(uuid.uuid4())
            self.bootstrap_with(secret)
            return 200, self.tokens[secret]
        if (method, path) == ("GET", "/v1/acl/token/self"):
            found = self.tokens.get(token or "")
            return (200, found) if found else (403, "ACL not found")
        if not self.management(token):
            return 403, "Permission denied: token with AccessorID '' lacks permission 'acl:write'"
        if method == "GET" and (m := re.fullmatch(r"/v1/acl/policy/name/(.+)", path)):
            found = self.policies.get(m.group(1))
            return (200, found) if found else (404, "Requested policy does not exist: ACL not found")
        if (method, path) == ("PUT", "/v1/acl/policy"):
            if body["Name"] in self.policies:
                return 400, f"Invalid Policy: A Policy with Name {body['Name']!r} already exists"
            index = self._next()
            policy = {"ID": str(uuid.uuid4()), "Name": body["Name"], "Description": body.get("Description", ""),
                      "Rules": body.get("Rules", ""), "Datacenters": None, "Hash": "", "CreateIndex": index,
                      "ModifyIndex": index}
            self.policies[body["Name"]] = policy
            return 200, policy
        if method == "PUT" and (m := re.fullmatch(r"/v1/acl/policy/([0-9a-f-]{36})", path)):
            policy = next((p for p in self.policies.values() if p["ID"] == m.group(1)), None)
            if policy is None:
                return 400, "Invalid Policy: Cannot find policy"
            policy.update(Rules=body.get("Rules", ""), Description=body.get("Description", ""),
                          ModifyIndex=self._next())
            return 200, policy
        if method == "PUT" and (m := re.fullmatch(r"/v1/acl/token(?:/([0-9a-f-]{36}))?", path)):
            links = []
            for link in body.get("Policies") or []:
                policy = self.policies.get(link.get("Name"))
                if policy is None:
                    return 400, f"Invalid Policy: Cannot find policy {link.get('Name')!r}"
                links.append({"ID": policy["ID"], "Name": policy["Name"]})
            secret = body.get("SecretID") or str(uuid.uuid4())
            existing = next((t for t in self.tokens.values() if t["AccessorID"] == m.group(1)), None)
            if m.group(1) and existing is None:
                return 400, "Cannot find token to update"
            if existing is None and secret in self.tokens:
                return 400, "Invalid Token: SecretID is already in use"
            self.tokens[secret] = self._token(secret, m.group(1), body.get("Description", ""), links)
            return 200, self.tokens[secret]
        return 405, f"{method} {path} is not part of this stand-in"


def _go_duration_s(text: object) -> float | None:
    m = re.fullmatch(r"(?:(\d+)h)?(?:(\d+)m)?(?:(\d+(?:\.\d+)?)s)?", str(text))
    if not m or not any(m.groups()):
        return None
    hours, minutes, seconds = (float(g or 0) for g in m.groups())
    return hours * 3600 + minutes * 60 + seconds


def _auth_method_problem(body: dict) -> str | None:
    """Nomad v1.10.2's refusal of an auth method, if any (nomad/structs/acl.go,
    ``ACLAuthMethod.Validate`` and ``ACLAuthMethodConfig.Validate``): the name, the token locality,
    the type, MaxTokenTTL within the servers' ACL token TTL bounds (defaults 1m and 24h,
    ``acl.token_min_expiration_ttl``/``token_max_expiration_ttl``), and a JWT method's key source."""
    if not re.fullmatch(r"[a-zA-Z0-9-]{1,128}", str(body.get("Name", ""))):
        return f"invalid name '{body.get('Name')}'"
    if body.get("TokenLocality") not in ("local", "global"):
        return f"invalid token locality '{body.get('TokenLocality')}'"
    if body.get("Type") not in ("OIDC", "JWT"):
        return f"invalid token type '{body.get('Type')}'"
    ttl = _go_duration_s(body.get("MaxTokenTTL"))
    if ttl is None or not 60 <= ttl <= 24 * 3600:
        return f"invalid MaxTokenTTL value '{body.get('MaxTokenTTL')}' (should be between 1m0s and 24h0m0s)"
    config = body.get("Config") or {}
    if body["Type"] == "JWT" and not any(config.get(k) for k in ("JWKSURL", "JWTValidationPubKeys",
                                                                  "OIDCDiscoveryURL")):
        return "JWT auth method requires JWKSURL, JWTValidationPubKeys or OIDCDiscoveryURL"
    return None


class NomadStandIn(StandIn):
    token_header = "X-Nomad-Token"

    def is_management(self, token: dict) -> bool:
        return token["Type"] == "management"

    def _token(self, secret: str, name: str, kind: str, policies: list[str] | None) -> dict:
        index = self._next()
        return {"AccessorID": str(uuid.uuid4()), "SecretID": secret, "Name": name, "Type": kind,
                "Policies": policies, "Roles": None, "Global": kind == "management",
                "CreateTime": "2026-11-25T12:00:00Z", "ExpirationTime": None, "CreateIndex": index,
                "ModifyIndex": index}

    def bootstrap_with(self, secret: str) -> None:
        self.tokens[secret] = self._token(secret, "Bootstrap Token", "management", None)
        self.bootstrapped = True

    def __init__(self, tls: tuple[str, str] | None = None) -> None:
        super().__init__(tls)
        self.roles: dict[str, dict] = {}  # by ID
        self.auth_methods: dict[str, dict] = {}  # by Name
        self.binding_rules: dict[str, dict] = {}  # by ID
        # Nomad's default scheduler configuration (nomad/config.go DefaultConfig, v1.10.2)
        self.scheduler = {"SchedulerAlgorithm": "binpack", "MemoryOversubscriptionEnabled": False,
                          "RejectJobRegistration": False, "PauseEvalBroker": False,
                          "PreemptionConfig": {"SystemSchedulerEnabled": True, "SysBatchSchedulerEnabled": False,
                                               "BatchSchedulerEnabled": False, "ServiceSchedulerEnabled": False},
                          "CreateIndex": 5, "ModifyIndex": 5}

    def login(self, method_name: str, jwt: str) -> tuple[int, object]:
        """``POST /v1/acl/login``: a token carrying the roles the method's binding rules bind
        (tests/support/nomad_binder.py), or Nomad's refusal."""
        from tests.support.nomad_binder import login

        method = self.auth_methods.get(method_name)
        if method is None:
            return 400, f"auth method {method_name} not found"
        status, roles = login(method, list(self.binding_rules.values()), jwt)
        if status != 200:
            return status, roles
        unknown = [r for r in roles if not any(x["Name"] == r for x in self.roles.values())]
        if unknown:
            return 400, f"role {unknown[0]} not found"
        secret = str(uuid.uuid4())
        token = self._token(secret, f"{method_name} login", "client", None)
        token["Roles"] = [{"Name": r} for r in roles]
        self.tokens[secret] = token
        return 200, token

    def policies_of(self, secret: str) -> list[str]:
        """The policies a token holds, directly and through its roles."""
        token = self.tokens[secret]
        direct = list(token.get("Policies") or [])
        for link in token.get("Roles") or []:
            role = next(r for r in self.roles.values() if r["Name"] == link["Name"])
            direct += [p["Name"] for p in role["Policies"]]
        return sorted(set(direct))

    def _ci_login_objects(self, method: str, path: str, body: dict) -> tuple[int, object] | None:
        """ACL roles, auth methods, binding rules and the scheduler configuration (management only)."""
        if path == "/v1/operator/scheduler/configuration":
            if method == "GET":
                return 200, {"SchedulerConfig": dict(self.scheduler), "KnownLeader": True}
            self.scheduler.update(body, ModifyIndex=self._next())
            return 200, {"Updated": True}
        if m := re.fullmatch(r"/v1/acl/role/name/([A-Za-z0-9-]+)", path):
            found = next((r for r in self.roles.values() if r["Name"] == m.group(1)), None)
            return (200, found) if found else (404, "ACL role not found")
        if path == "/v1/acl/role" or (m := re.fullmatch(r"/v1/acl/role/([0-9a-f-]{36})", path)):
            unknown = [p["Name"] for p in body.get("Policies") or [] if p["Name"] not in self.policies]
            if unknown:
                return 400, f"cannot find policy {unknown[0]}"
            role_id = body.get("ID") or str(uuid.uuid4())
            self.roles[role_id] = {**body, "ID": role_id, "ModifyIndex": self._next()}
            return 200, self.roles[role_id]
        if m := re.fullmatch(r"/v1/acl/auth-method(?:/([A-Za-z0-9-]+))?", path):
            if method == "GET":
                found = self.auth_methods.get(m.group(1) or "")
                return (200, found) if found else (404, "ACL auth method not found")
            problem = _auth_method_problem(body)
            if problem:
                return 400, problem
            self.auth_methods[body["Name"]] = {**body, "ModifyIndex": self._next()}
            return 200, self.auth_methods[body["Name"]]
        if (method, path) == ("GET", "/v1/acl/binding-rules"):
            return 200, list(self.binding_rules.values())
        if (method, path) == ("POST", "/v1/acl/binding-rule"):
            from tests.support.nomad_binder import matches

            if body.get("AuthMethod") not in self.auth_methods:
                return 400, "auth method not found"
            if body.get("BindType") not in ("role", "policy", "management") or (
                    body.get("BindType") != "management" and not body.get("BindName")):
                return 400, f"invalid bind type {body.get('BindType')!r} or missing bind name"
            try:
                matches(body.get("Selector", ""), {})
            except ValueError as e:
                return 400, f"selector is invalid: {e}"
            rule_id = str(uuid.uuid4())
            self.binding_rules[rule_id] = {**body, "ID": rule_id}
            return 200, self.binding_rules[rule_id]
        if method == "DELETE" and (m := re.fullmatch(r"/v1/acl/binding-rule/([0-9a-f-]{36})", path)):
            self.binding_rules.pop(m.group(1), None)
            return 200, None
        return None

    def handle(self, method, path, token, body):
        if (method, path) == ("POST", "/v1/acl/login"):
            return self.login(body.get("AuthMethodName", ""), body.get("LoginToken", ""))
        if (method, path) == ("POST", "/v1/acl/bootstrap"):
            if self.bootstrapped:
                return 400, "ACL bootstrap already done (reset index: 0)"
            secret = body.get("BootstrapSecret") or str(uuid.uuid4())
            self.bootstrap_with(secret)
            return 200, self.tokens[secret]
        if (method, path) == ("GET", "/v1/acl/token/self"):
            found = self.tokens.get(token or "")
            return (200, found) if found else (403, "ACL token not found")
        if not self.management(token):
            return 403, "Permission denied"
        if m := re.fullmatch(r"/v1/acl/policy/([A-Za-z0-9-]+)", path):
            if method == "GET":
                found = self.policies.get(m.group(1))
                return (200, found) if found else (404, "ACL policy not found")
            index = self._next()
            self.policies[m.group(1)] = {"Name": body["Name"], "Description": body.get("Description", ""),
                                         "Rules": body.get("Rules", ""), "CreateIndex": index, "ModifyIndex": index}
            return 200, None
        if handled := self._ci_login_objects(method, path, body):
            return handled
        if (method, path) == ("POST", "/v1/acl/token"):
            unknown = [p for p in body.get("Policies") or [] if p not in self.policies]
            if unknown:
                return 400, f"policy does not exist: {unknown[0]}"
            secret = str(uuid.uuid4())
            self.tokens[secret] = self._token(secret, body.get("Name", ""), body.get("Type", "client"),
                                              body.get("Policies"))
            return 200, self.tokens[secret]
        return 405, f"{method} {path} is not part of this stand-in"
