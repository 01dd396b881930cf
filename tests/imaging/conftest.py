"""Fixtures for the imaging tests: the shared photos and a real HTTP server on 127.0.0.1."""

from __future__ import annotations

import contextlib
import http.server
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.photos import photo_path


def photo(name: str) -> Path:
    return photo_path(name)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class _Handler(http.server.BaseHTTPRequestHandler):
    """Routes: /photo/<file>, /bytes/<n>[?length=0], /liar, /redirect/<k>, /loop, /slow, /status/<code>."""

    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.server.hits.append(self.path)
        self.server.hosts.append(self.headers.get("Host", ""))
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        head, _, rest = parts.path.strip("/").partition("/")
        if head == "photo":
            self._send(200, photo(rest).read_bytes())
        elif head == "bytes":
            self._send(200, b"x" * int(rest), length=query.get("length") != ["0"])
        elif head == "liar":  # claims a huge body, sends a few bytes
            self.send_response(200)
            self.send_header("Content-Length", str(10**12))
            self.end_headers()
            self.wfile.write(b"x" * 10)
        elif head == "redirect":
            hops = int(rest)
            target = query.get("to", ["/photo/df_p01_img5.webp"])[0]
            self._redirect(f"/redirect/{hops - 1}?to={target}" if hops > 1 else target)
        elif head == "loop":
            self._redirect("/loop")
        elif head == "slow":
            time.sleep(float(query.get("s", ["3"])[0]))
            self._send(200, b"late")
        elif head == "status":
            self._send(int(rest), b"nope")
        else:
            self._send(404, b"not found")

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _send(self, status: int, body: bytes, *, length: bool = True) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "application/octet-stream")
        if length:
            self.send_header("Content-Length", str(len(body)))
        else:  # no length: the body ends when the connection closes
            self.send_header("Connection", "close")
            self.close_connection = True
        self.end_headers()
        # The client may give up early, as it should for oversized bodies.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    hits: list[str]
    hosts: list[str]


class LocalServer:
    def __init__(self) -> None:
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.hits = []
        self.httpd.hosts = []
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    @property
    def hits(self) -> list[str]:
        return self.httpd.hits

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(scope="module")
def server() -> Iterator[LocalServer]:
    srv = LocalServer()
    yield srv
    srv.close()


@pytest.fixture
def fresh_server(server: LocalServer) -> LocalServer:
    server.hits.clear()
    server.httpd.hosts.clear()
    return server


class TlsServer:
    """HTTPS on 127.0.0.1 with a self-signed certificate for ``cert_host`` (and only that name)."""

    def __init__(self, cert_host: str, directory: Path) -> None:
        import ssl

        cert, key = _self_signed(cert_host, directory)
        self.cafile = str(cert)
        self.httpd = _Server(("127.0.0.1", 0), _Handler)
        self.httpd.hits = []
        self.httpd.hosts = []
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _self_signed(host: str, directory: Path) -> tuple[Path, Path]:
    import datetime

    x509 = pytest.importorskip("cryptography.x509", reason="needed to make a test certificate")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(hours=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(host)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / f"{host}.crt", directory / f"{host}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem, pkcs8 = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    key_path.write_bytes(key.private_bytes(pem, pkcs8, serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[TlsServer]:
    srv = TlsServer("img.test", tmp_path)
    yield srv
    srv.close()
