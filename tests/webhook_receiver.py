"""A tiny webhook receiver for the tests: a real HTTP server on a free port, in a thread, that
checks every signature the way docs/webhooks.md tells agency systems to."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tracking import webhooks


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    verified: bool

    @property
    def event(self) -> dict[str, Any]:
        return json.loads(self.body)


class Receiver:
    """Answers each POST with the next status of ``answers`` (the last one repeats), or 401
    when the signature does not verify, after ``delay`` seconds (a slow agency system)."""

    def __init__(self, secret: str, answers: list[int] | None = None, delay: float = 0) -> None:
        self.secret, self.delay = secret, delay
        self.answers = list(answers or [200])
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                header = self.headers.get(webhooks.SIGNATURE_HEADER) or ""
                verified = webhooks.verify(receiver.secret, header, body, tolerance=300)
                with receiver._lock:
                    receiver.received.append(Received(dict(self.headers.items()), body, verified))
                    answers = receiver.answers
                    status = answers.pop(0) if len(answers) > 1 else answers[0]
                time.sleep(receiver.delay)
                self.send_response(status if verified else 401)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/xinfang/hook"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
