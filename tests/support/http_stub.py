"""Small pieces shared by the tests' loopback HTTP stand-ins (http.server handlers)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler


def reply_json(handler: BaseHTTPRequestHandler, document: object, status: int = 200) -> None:
    """Answers the handler's request with ``status`` and ``document`` as JSON."""
    body = json.dumps(document).encode()
    handler.send_response(status)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
