"""Small pieces shared by the tests' loopback HTTP stand-ins (http.server handlers)."""

from __future__ import annotations

import json
from http.server import BaseHTTPRequestHandler


def reply_json(handler: BaseHTTPRequestHandler, document: object) -> None:
    """Answers the handler's request with 200 and ``document`` as JSON."""
    body = json.dumps(document).encode()
    handler.send_response(200)
    handler.send_header("Content-Type", "application/json")
    handler.send_header("Content-Length", str(len(body)))
    handler.end_headers()
    handler.wfile.write(body)
