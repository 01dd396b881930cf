from __future__ import annotations

import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable

import httpx
import pytest

from phota.config import Settings
from phota.errors import ImageFetchError
from phota.imaging.fetch import SafeUrlFetcher, forbidden_reason
from tests.imaging.conftest import LocalServer, TlsServer, photo

pytestmark = pytest.mark.anyio

WEBP = "df_p01_img5.webp"
PUBLIC_IP = "93.184.215.14"


def open_fetcher(**kw: object) -> SafeUrlFetcher:
    """Fetcher for the local test server: private addresses and any port allowed, short timeouts."""
    args: dict[str, object] = {
        "allow_private_urls": True,
        "allowed_ports": None,
        "connect_timeout_s": 2.0,
        "read_timeout_s": 2.0,
    }
    args.update(kw)
    return SafeUrlFetcher(**args)  # type: ignore[arg-type]


def table_resolver(table: dict[str, list[str]]) -> Callable[[str, int], Awaitable[list[str]]]:
    async def resolve(host: str, port: int) -> list[str]:
        if host not in table:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return table[host]

    return resolve


async def fetch_error(fetcher: SafeUrlFetcher, url: str, name: str = "images[2]") -> str:
    with pytest.raises(ImageFetchError) as info:
        await fetcher.fetch(url, name)
    assert info.value.message.startswith(name)
    return info.value.message


# --- against a real server on 127.0.0.1 ------------------------------------------------------------


async def test_fetches_a_photo(fresh_server: LocalServer) -> None:
    data = await open_fetcher().fetch(fresh_server.url(f"/photo/{WEBP}"), "images[0]")
    assert data == photo(WEBP).read_bytes()


async def test_from_settings() -> None:
    settings = Settings(
        allow_private_urls=True, fetch_max_bytes=123, fetch_max_redirects=2, fetch_connect_timeout_s=1.5
    )
    fetcher = SafeUrlFetcher.from_settings(settings)
    assert (fetcher.allow_private_urls, fetcher.max_bytes, fetcher.max_redirects) == (True, 123, 2)
    assert not SafeUrlFetcher.from_settings(Settings()).allow_private_urls


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]", "2130706433"])
async def test_loopback_is_refused_unless_allowed(fresh_server: LocalServer, host: str) -> None:
    message = await fetch_error(SafeUrlFetcher(allowed_ports=None), fresh_server.url(f"/photo/{WEBP}", host=host))
    assert "refusing to fetch" in message and "loopback" in message
    assert fresh_server.hits == []  # refused before any connection


async def test_http_error_status_is_named(fresh_server: LocalServer) -> None:
    message = await fetch_error(open_fetcher(), fresh_server.url("/status/404"))
    assert "HTTP 404" in message and "/status/404" in message
    assert "HTTP 503" in await fetch_error(open_fetcher(), fresh_server.url("/status/503"))


async def test_redirects_are_followed_up_to_the_limit(fresh_server: LocalServer) -> None:
    fetcher = open_fetcher(max_redirects=3)
    assert await fetcher.fetch(fresh_server.url("/redirect/3"), "x") == photo(WEBP).read_bytes()
    message = await fetch_error(fetcher, fresh_server.url("/redirect/4"))
    assert "more than 3 redirects" in message
    assert "more than 3 redirects" in await fetch_error(fetcher, fresh_server.url("/loop"))
    no_redirects = open_fetcher(max_redirects=0)
    assert "more than 0 redirects" in await fetch_error(no_redirects, fresh_server.url("/redirect/1"))


async def test_redirect_to_another_scheme_is_refused(fresh_server: LocalServer) -> None:
    message = await fetch_error(open_fetcher(), fresh_server.url("/redirect/1?to=file:///etc/passwd"))
    assert "redirect target scheme 'file' refused" in message


async def test_body_over_the_cap_with_content_length(fresh_server: LocalServer) -> None:
    fetcher = open_fetcher(max_bytes=1000)
    assert len(await fetcher.fetch(fresh_server.url("/bytes/1000"), "x")) == 1000
    assert "larger than the 1000-byte limit" in await fetch_error(fetcher, fresh_server.url("/bytes/1001"))
    # A declared length over the cap is refused without reading the body: /liar sends 10 of its
    # 10**12 bytes and holds the connection, so reading would end in a timeout, not this message.
    assert "larger than" in await fetch_error(fetcher, fresh_server.url("/liar"))


async def test_body_over_the_cap_without_content_length(fresh_server: LocalServer) -> None:
    fetcher = open_fetcher(max_bytes=100_000)
    assert len(await fetcher.fetch(fresh_server.url("/bytes/100000?length=0"), "x")) == 100_000
    message = await fetch_error(fetcher, fresh_server.url("/bytes/5000000?length=0"))
    assert "larger than the 100000-byte limit" in message


async def test_slow_server_times_out(fresh_server: LocalServer) -> None:
    # The server answers after 3 s: a fetch that waited for it would succeed instead.
    message = await fetch_error(open_fetcher(read_timeout_s=0.3), fresh_server.url("/slow?s=3"))
    assert "timed out" in message


async def test_total_deadline_bounds_the_whole_fetch(fresh_server: LocalServer) -> None:
    # The answer comes after 2 s, inside the 5 s read timeout: only the 0.4 s total deadline fails it.
    fetcher = open_fetcher(read_timeout_s=5, total_timeout_s=0.4)
    assert "timed out" in await fetch_error(fetcher, fresh_server.url("/slow?s=2"))


async def test_unreachable_host() -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    message = await fetch_error(open_fetcher(), f"http://127.0.0.1:{port}/a.jpg")
    assert "could not connect" in message


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://example.com/a.jpg", "scheme 'ftp' refused"),
        ("file:///etc/passwd", "scheme 'file' refused"),
        ("http:///nohost", "no host"),
        ("http://[::1/", "invalid URL"),
        ("http://example.com:x/", "invalid URL"),
    ],
)
async def test_bad_urls(url: str, reason: str) -> None:
    assert reason in await fetch_error(SafeUrlFetcher(), url)


# --- SSRF guard with a scripted resolver and transport ------------------------------------------------


class Recorder:
    """A transport standing in for the internet; answers by Host header and records what it saw."""

    def __init__(self, routes: dict[str, httpx.Response]) -> None:
        self.routes = routes
        self.seen: list[httpx.Request] = []

    def transport(self) -> httpx.MockTransport:
        def handle(request: httpx.Request) -> httpx.Response:
            self.seen.append(request)
            return self.routes[request.headers["host"]]

        return httpx.MockTransport(handle)


def guarded(recorder: Recorder, table: dict[str, list[str]], **kw: object) -> SafeUrlFetcher:
    return SafeUrlFetcher(transport=recorder.transport(), resolver=table_resolver(table), **kw)  # type: ignore[arg-type]


async def test_public_host_connects_to_the_checked_ip_with_original_host_and_sni() -> None:
    rec = Recorder({"img.example.com": httpx.Response(200, content=b"ok")})
    fetcher = guarded(rec, {"img.example.com": [PUBLIC_IP]})
    assert await fetcher.fetch("https://img.example.com/a.jpg?sig=secret", "x") == b"ok"
    (request,) = rec.seen
    assert request.url.host == PUBLIC_IP and request.url.scheme == "https"
    assert request.url.path == "/a.jpg" and request.url.query == b"sig=secret"
    assert request.headers["host"] == "img.example.com"
    assert request.extensions["sni_hostname"] == "img.example.com"


async def test_resolution_is_checked_and_pinned_on_every_hop() -> None:
    """A public first hop redirecting to an internal name: the second hop is refused after DNS."""
    rec = Recorder(
        {
            "cdn.example.com": httpx.Response(302, headers={"Location": "http://internal.example.com/x"}),
            "internal.example.com": httpx.Response(200, content=b"secret"),
        }
    )
    fetcher = guarded(rec, {"cdn.example.com": [PUBLIC_IP], "internal.example.com": ["10.1.2.3"]})
    message = await fetch_error(fetcher, "http://cdn.example.com/a.jpg")
    assert "internal.example.com resolves to a private address (10.1.2.3)" in message
    assert [r.headers["host"] for r in rec.seen] == ["cdn.example.com"]


@pytest.mark.parametrize(
    ("location", "reason"),
    [
        ("http://169.254.169.254/latest/meta-data/", "cloud metadata"),
        ("http://[fd00:ec2::254]/latest/meta-data/", "cloud metadata"),
        ("http://metadata.google.internal/computeMetadata/v1/", "cloud metadata host"),
        ("http://[::ffff:10.0.0.1]/", "private"),
        ("http://[::1]/", "loopback"),
        ("http://0.0.0.0/", "unspecified"),
        ("http://100.64.1.1/", "carrier-grade NAT"),
        ("http://224.0.0.251/", "multicast"),
        ("http://[fd12:3456::1]/", "unique-local"),
        ("http://[fe80::1]/", "link-local"),
        ("http://240.0.0.1/", "reserved"),
        ("http://[2002:7f00:1::]/", "loopback"),  # 6to4 wrapping 127.0.0.1
    ],
)
async def test_redirect_to_internal_addresses_is_refused(location: str, reason: str) -> None:
    rec = Recorder({"cdn.example.com": httpx.Response(301, headers={"Location": location})})
    fetcher = guarded(rec, {"cdn.example.com": [PUBLIC_IP]})
    message = await fetch_error(fetcher, "http://cdn.example.com/a.jpg")
    assert "refusing to fetch" in message and reason in message
    assert len(rec.seen) == 1


async def test_only_ports_80_and_443_by_default() -> None:
    """Other ports reach services never meant for users' URLs: refused on the first hop and on redirects."""
    rec = Recorder(
        {
            "cdn.example.com": httpx.Response(301, headers={"Location": "http://cdn.example.com:6379/"}),
            "cdn.example.com:8443": httpx.Response(200, content=b"ok"),
        }
    )
    table = {"cdn.example.com": [PUBLIC_IP]}
    message = await fetch_error(guarded(rec, table), "http://cdn.example.com/a.jpg")
    assert "redirect target port 6379 refused" in message and len(rec.seen) == 1
    message = await fetch_error(guarded(rec, table), "https://cdn.example.com:8443/a.jpg")
    assert "URL port 8443 refused" in message and len(rec.seen) == 1  # refused before connecting
    # A port the operator allowed is fetched (negative control).
    allowed = guarded(rec, table, allowed_ports=frozenset({80, 443, 8443}))
    assert await allowed.fetch("https://cdn.example.com:8443/a.jpg", "x") == b"ok"
    assert Settings(outbound_ports="80, 443,8443").allowed_ports == {80, 443, 8443}
    assert Settings(outbound_ports="*").allowed_ports is None
    assert SafeUrlFetcher.from_settings(Settings()).allowed_ports == {80, 443}


async def test_any_private_answer_refuses_the_host() -> None:
    rec = Recorder({"mixed.example.com": httpx.Response(200, content=b"x")})
    fetcher = guarded(rec, {"mixed.example.com": [PUBLIC_IP, "192.168.0.10"]})
    assert "private" in await fetch_error(fetcher, "http://mixed.example.com/")
    assert rec.seen == []


async def test_dns_rebinding_cannot_move_the_connection() -> None:
    """The resolver answers public once, then loopback: the request still goes to the checked IP."""
    answers = iter([[PUBLIC_IP], ["127.0.0.1"]])

    async def rebinding(host: str, port: int) -> list[str]:
        return next(answers)

    rec = Recorder({"rebind.example.com": httpx.Response(200, content=b"x")})
    fetcher = SafeUrlFetcher(transport=rec.transport(), resolver=rebinding)
    await fetcher.fetch("http://rebind.example.com/", "x")
    assert rec.seen[0].url.host == PUBLIC_IP


async def test_dns_failure() -> None:
    rec = Recorder({})
    message = await fetch_error(guarded(rec, {}), "http://nowhere.invalid/a.jpg")
    assert "could not resolve host 'nowhere.invalid'" in message


async def test_allow_private_skips_the_guard() -> None:
    rec = Recorder({"10.0.0.5": httpx.Response(200, content=b"lan")})
    fetcher = guarded(rec, {}, allow_private_urls=True)
    assert await fetcher.fetch("http://10.0.0.5/a.jpg", "x") == b"lan"


def test_forbidden_reason_table() -> None:
    def reason(text: str) -> str | None:
        return forbidden_reason(ipaddress.ip_address(text))

    assert reason("8.8.8.8") is None
    assert reason("2606:4700:4700::1111") is None
    assert reason("64:ff9b::808:808") is None  # NAT64 of 8.8.8.8
    assert reason("64:ff9b::a00:1") == "a private"  # NAT64 of 10.0.0.1
    assert reason("127.0.0.1") == "a loopback"
    assert reason("::ffff:169.254.169.254") == "a cloud metadata"
    assert reason("100.100.100.200") == "a cloud metadata"
    assert reason("172.16.0.1") == "a private"
    assert reason("198.18.0.1") is not None


# --- real TLS through the IP pinning ---------------------------------------------------------------------


async def test_https_to_a_pinned_ip_verifies_the_original_host_name(
    tls_server: TlsServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Connects to the resolved IP, yet SNI, certificate check and Host use the URL's name."""
    import phota.imaging.fetch as fetch_module

    # Let the loopback test server count as public; everything else about the guarded path is real.
    monkeypatch.setattr(fetch_module, "forbidden_reason", lambda addr: None)
    ctx = ssl.create_default_context(cafile=tls_server.cafile)
    fetcher = SafeUrlFetcher(
        resolver=table_resolver({"img.test": ["127.0.0.1"], "evil.test": ["127.0.0.1"]}),
        ssl_context=ctx,
        allowed_ports=None,
    )
    data = await fetcher.fetch(f"https://img.test:{tls_server.port}/photo/{WEBP}", "x")
    assert data == photo(WEBP).read_bytes()
    assert tls_server.httpd.hosts == [f"img.test:{tls_server.port}"]
    # Same IP, but the certificate does not cover this name: the handshake must fail.
    message = await fetch_error(fetcher, f"https://evil.test:{tls_server.port}/photo/{WEBP}")
    assert "could not connect" in message
    assert len(tls_server.httpd.hits) == 1
