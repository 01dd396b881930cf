"""Local wire-format servers standing in for the providers.

Each fake is a real HTTP server on 127.0.0.1 (a threaded ``http.server`` on its own socket)
that parses requests the way its provider does, records them so tests can assert what the
adapter sent, and answers with the provider's success or error shapes. Tests script the
next answers of a route with :meth:`FakeServer.queue`.
"""

from __future__ import annotations

import contextlib
import email.parser
import email.policy
import functools
import io
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from PIL import Image


@dataclass
class UploadedFile:
    field: str
    filename: str | None
    content_type: str
    data: bytes

    @property
    def image(self) -> Image.Image:
        return Image.open(io.BytesIO(self.data))


@dataclass
class Recorded:
    """One request as the provider would see it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    json: Any = None
    form: dict[str, list[str]] = field(default_factory=dict)
    files: list[UploadedFile] = field(default_factory=list)


@dataclass
class Reply:
    status: int = 200
    json: Any = None
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FakeServer:
    """Base of the per-provider fakes: subclasses implement ``route`` and ``respond``."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.scripts: dict[str, deque[Reply]] = {}
        self.delay = 0.0  # added before every answer (slow provider, benchmarks)
        self.lock = threading.Lock()
        # Concurrency, observed rather than timed: requests in flight now and at most.
        self.in_flight: dict[str, int] = {}
        self.max_in_flight: dict[str, int] = {}  # route -> most requests in flight at once
        self._gates: dict[str, threading.Barrier] = {}
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    # --- provider behaviour ---------------------------------------------------------------

    def route(self, rec: Recorded) -> str:
        raise NotImplementedError

    def respond(self, route: str, rec: Recorded) -> Reply:
        raise NotImplementedError

    # --- test controls -----------------------------------------------------------------------

    def queue(self, route: str, *replies: Reply) -> None:
        with self.lock:
            self.scripts.setdefault(route, deque()).extend(replies)

    def hold_until_concurrent(self, route: str, count: int, timeout: float = 10.0) -> None:
        """Hold answers on ``route`` until ``count`` of its requests are in flight at once.

        A client that sends its calls one after the other never gets there: each call waits out
        ``timeout`` and ``max_in_flight`` shows it, however loaded the machine is.
        """
        self._gates[route] = threading.Barrier(count, timeout=timeout)

    def reset(self) -> None:
        with self.lock:
            self.requests.clear()
            self.scripts.clear()
            self.delay = 0.0
            self.in_flight.clear()
            self.max_in_flight.clear()
            self._gates.clear()
        self.on_reset()

    def on_reset(self) -> None:
        pass

    def sent(self, route: str) -> list[Recorded]:
        return [r for r in list(self.requests) if self.route(r) == route]

    # --- plumbing -------------------------------------------------------------------------------

    def dispatch(self, rec: Recorded) -> Reply:
        route = self.route(rec)
        with self.lock:
            self.requests.append(rec)
            script = self.scripts.get(route)
            scripted = script.popleft() if script else None
            self.in_flight[route] = self.in_flight.get(route, 0) + 1
            self.max_in_flight[route] = max(self.max_in_flight.get(route, 0), self.in_flight[route])
            gate = self._gates.get(route)
        try:
            if gate is not None:
                # Too few arrived in time: answer anyway, max_in_flight tells.
                with contextlib.suppress(threading.BrokenBarrierError):
                    gate.wait()
            reply = scripted or self.respond(route, rec)
            wait = self.delay + reply.delay
            if wait:
                time.sleep(wait)
            return reply
        finally:
            with self.lock:  # a reset() while this request was in flight cleared the count
                self.in_flight[route] = self.in_flight.get(route, 1) - 1

    def start(self) -> str:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else headers and body wait out delayed ACKs (40 ms)

            def log_message(self, format: str, *args: object) -> None:
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                body = self.rfile.read(length) if length else b""
                split = urlsplit(self.path)
                rec = Recorded(
                    method=self.command,
                    path=split.path,
                    query=parse_qs(split.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                _parse_body(rec)
                reply = server.dispatch(rec)
                payload = reply.body if reply.json is None else json.dumps(reply.json).encode()
                try:
                    self.send_response(reply.status)
                    headers = {"content-type": "application/json"} if reply.json is not None else {}
                    headers.update(reply.headers)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    self.send_header("content-length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout tests)

            do_GET = do_POST = _handle

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}"
        return self.url

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()


def _parse_body(rec: Recorded) -> None:
    ctype = rec.headers.get("content-type", "")
    if ctype.startswith("application/json") and rec.body:
        rec.json = json.loads(rec.body)
    elif ctype.startswith("multipart/form-data"):
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            b"Content-Type: " + ctype.encode() + b"\r\n\r\n" + rec.body
        )
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            filename = part.get_filename()
            payload = part.get_payload(decode=True)
            data = payload if isinstance(payload, bytes) else b""
            if filename is not None:
                rec.files.append(UploadedFile(str(name), filename, part.get_content_type(), data))
            else:
                rec.form.setdefault(str(name), []).append(data.decode())


@functools.lru_cache(maxsize=32)
def png_bytes(width: int = 32, height: int = 24, colour: tuple[int, int, int] = (200, 120, 40)) -> bytes:
    """A solid PNG; made once per size and colour (a 1024 px one takes ~30 ms, per answer a fake gives)."""
    buf = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buf, "PNG")
    return buf.getvalue()
