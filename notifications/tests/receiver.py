"""A local stand-in for Discord's webhook endpoint: records requests, answers as scripted.

Runs http.server on 127.0.0.1, port 0, in a thread. Each POST, PATCH or PUT takes the next scripted
`Reply` (status, JSON or text body, headers, a delay before answering); with no script left it
answers like Discord with `?wait=true`: 200 and a message object.
"""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Reply:
    status: int = 200
    body: Any = None  # dict/list → JSON, str → text/html, None → a Discord message object
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


@dataclass(frozen=True)
class Received:
    at: float  # time.monotonic() on arrival
    method: str
    path: str
    query: str
    headers: dict[str, str]
    json: Any
    status: int  # what the receiver answered (a slow answer may never reach the client)


class WebhookReceiver:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._script: list[Reply] = []
        self._received: list[Received] = []
        self._next_id = 900_000
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                receiver._handle(self)

            def do_PATCH(self) -> None:  # an interaction's response being edited
                receiver._handle(self)

            def do_PUT(self) -> None:  # application commands being registered
                receiver._handle(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # stderr noise; the path holds the token

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    @property
    def port(self) -> int:
        return self._server.server_address[1]

    def webhook_url(self, webhook_id: int = 111, token: str = "tok-secret") -> str:  # noqa: S107  (a test double)
        return f"http://127.0.0.1:{self.port}/api/webhooks/{webhook_id}/{token}"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self._received.clear()

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handle(self, request: BaseHTTPRequestHandler) -> None:
        length = int(request.headers.get("Content-Length") or 0)
        raw = request.rfile.read(length)
        parts = urlsplit(request.path)
        with self._lock:
            reply = self._script.pop(0) if self._script else Reply()
            self._received.append(
                Received(
                    at=time.monotonic(),
                    method=request.command,
                    path=parts.path,
                    query=parts.query,
                    headers={k.lower(): v for k, v in request.headers.items()},
                    json=json.loads(raw) if raw else None,
                    status=reply.status,
                )
            )
            self._next_id += 1
            message_id = str(self._next_id)
        if reply.delay:
            time.sleep(reply.delay)
        body = reply.body if reply.body is not None else {"id": message_id, "type": 0}
        if isinstance(body, str):
            data, content_type = body.encode(), "text/html"
        else:
            data, content_type = json.dumps(body).encode(), "application/json"
        try:
            request.send_response(reply.status)
            request.send_header("Content-Type", content_type)
            request.send_header("Content-Length", str(len(data)))
            for name, value in reply.headers.items():
                request.send_header(name, value)
            request.end_headers()
            request.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up waiting (a timeout test)
