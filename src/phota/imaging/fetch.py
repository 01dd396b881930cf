"""Fetch URL image inputs without turning the server into an SSRF proxy.

Guard: every hop (the first URL and each redirect target) is resolved here, every address it resolves
to must be public, and the connection is then made to that checked address - the request URL is
rewritten to the IP while the ``Host`` header and TLS SNI/certificate check keep the original host name
(httpcore's ``sni_hostname`` extension). A DNS answer that changes between check and connect (DNS
rebinding) therefore cannot redirect the connection. Proxies from the environment are ignored
(``trust_env=False``): a proxy would resolve the name itself and defeat the pinning. Only the ports
in ``PHOTA_OUTBOUND_PORTS`` (80 and 443 by default) are connected to, on every hop.

The address rules (:func:`forbidden_reason`, :func:`checked_addresses`, :func:`port_refusal`) are
shared with job callbacks (:mod:`phota.jobs.callbacks`), which are pinned the same way.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Protocol

import anyio
import httpx

from phota.config import Settings
from phota.errors import ImageFetchError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# (host, port) -> the addresses it resolves to, as strings; injectable for tests.
Resolver = Callable[[str, int], Awaitable[list[str]]]
# Ports outbound connections may use; None allows every port (test servers on loopback high ports).
Ports = frozenset[int] | None
DEFAULT_PORTS: frozenset[int] = frozenset({80, 443})


class RefusedAddress(Exception):
    """The destination is not public (the message says why, e.g. "db.internal resolves to a private address")."""


class Unresolvable(Exception):
    """The host name has no address (or the lookup failed or timed out)."""


class UrlFetcher(Protocol):
    async def fetch(self, url: str, name: str) -> bytes:
        """The body of ``url``; raises ImageFetchError naming ``name`` on any failure."""
        ...


USER_AGENT = "phota-image-fetcher/1"
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
METADATA_HOSTS = frozenset({"metadata.google.internal", "metadata.goog", "metadata"})
_METADATA_IPS: frozenset[IPAddress] = frozenset(
    {
        ipaddress.ip_address("169.254.169.254"),  # AWS, GCP, Azure, OpenStack, ...
        ipaddress.ip_address("fd00:ec2::254"),  # AWS IMDS over IPv6
        ipaddress.ip_address("100.100.100.200"),  # Alibaba Cloud
    }
)
_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_UNIQUE_LOCAL = ipaddress.ip_network("fc00::/7")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def forbidden_reason(addr: IPAddress) -> str | None:
    """Why ``addr`` must not be fetched from, or None for a public unicast address."""
    if addr in _METADATA_IPS:
        return "a cloud metadata"
    if isinstance(addr, ipaddress.IPv6Address):
        # IPv6 forms that carry an IPv4 address are judged by that IPv4 address.
        embedded = addr.ipv4_mapped or addr.sixtofour or (addr.teredo[1] if addr.teredo else None)
        if addr in _NAT64:
            embedded = ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
        if embedded is not None:
            return forbidden_reason(embedded)
    checks: list[tuple[bool, str]] = [
        (addr.is_loopback, "a loopback"),
        (addr.is_unspecified, "an unspecified"),
        (addr.is_link_local, "a link-local"),
        (addr.is_multicast, "a multicast"),
        (addr in _CGNAT, "a carrier-grade NAT"),
        (addr in _UNIQUE_LOCAL, "an IPv6 unique-local"),
        (addr.is_reserved, "a reserved"),
        (addr.is_private, "a private"),
        (not addr.is_global, "a non-public"),
    ]
    return next((reason for hit, reason in checks if hit), None)


def default_port(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


def port_refusal(url: httpx.URL, allowed: Ports) -> str | None:
    """Why the URL's port may not be connected to, or None."""
    port = default_port(url)
    if allowed is None or port in allowed:
        return None
    listed = ", ".join(str(p) for p in sorted(allowed))
    return f"port {port} refused; only {listed} (PHOTA_OUTBOUND_PORTS)"


async def checked_addresses(url: httpx.URL, resolve: Resolver, timeout_s: float) -> list[str]:
    """The host's addresses, every one checked to be public; refuses the whole host if any is not.

    Raises :class:`RefusedAddress` or :class:`Unresolvable`. Connecting to exactly these addresses
    (not resolving again) is what makes DNS rebinding harmless.
    """
    host = url.raw_host.decode("ascii")
    if host.lower().rstrip(".") in METADATA_HOSTS:
        raise RefusedAddress("cloud metadata host")
    try:
        answers = [str(ipaddress.ip_address(host))]
    except ValueError:
        try:
            async with asyncio.timeout(timeout_s):
                answers = await resolve(host, default_port(url))
        except (OSError, TimeoutError, UnicodeError):
            answers = []
        if not answers:
            raise Unresolvable(f"could not resolve host {host!r}") from None
    for answer in answers:
        try:
            addr = ipaddress.ip_address(answer.split("%", 1)[0])  # drop an IPv6 zone id
        except ValueError:
            raise Unresolvable(f"could not resolve host {host!r}") from None
        reason = forbidden_reason(addr)
        if reason is not None:
            raise RefusedAddress(f"{host} resolves to {reason} address ({addr})")
    return answers


async def system_resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def _display(url: httpx.URL) -> str:
    """The URL without userinfo or query (signed URLs carry secrets there), for messages."""
    port = f":{url.port}" if url.port else ""
    text = f"{url.scheme}://{url.raw_host.decode('ascii', 'replace')}{port}{url.path}"
    return text if len(text) <= 120 else text[:117] + "..."


class SafeUrlFetcher:
    """:class:`UrlFetcher` for untrusted URLs: SSRF guard, redirect limit, timeouts and a byte cap."""

    def __init__(
        self,
        *,
        allow_private_urls: bool = False,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 20.0,
        max_bytes: int = 30 * 1024 * 1024,
        max_redirects: int = 5,
        total_timeout_s: float | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver | None = None,
        ssl_context: ssl.SSLContext | None = None,
        allowed_ports: Ports = DEFAULT_PORTS,
    ) -> None:
        self.allow_private_urls = allow_private_urls
        self.allowed_ports = allowed_ports
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self._connect_timeout_s = connect_timeout_s
        self._timeout = httpx.Timeout(
            connect=connect_timeout_s, read=read_timeout_s, write=read_timeout_s, pool=connect_timeout_s
        )
        # Read timeouts are per chunk; this bounds a server that trickles bytes, over all hops.
        self._total_timeout_s = total_timeout_s or connect_timeout_s + 3 * read_timeout_s
        self._transport = transport
        self._resolve = resolver or system_resolve
        self._ssl = ssl_context  # e.g. for a private CA; by default certifi's bundle, built on first use

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        resolver: Resolver | None = None,
    ) -> SafeUrlFetcher:
        return cls(
            allow_private_urls=settings.allow_private_urls,
            connect_timeout_s=settings.fetch_connect_timeout_s,
            read_timeout_s=settings.fetch_read_timeout_s,
            max_bytes=settings.fetch_max_bytes,
            max_redirects=settings.fetch_max_redirects,
            transport=transport,
            resolver=resolver,
            allowed_ports=settings.allowed_ports,
        )

    async def warm_up(self) -> None:
        """Pay the first fetch's one-time costs now rather than in the first request that fetches
        (the first profile's photos): the CA bundle, httpcore, and the anyio backend its
        connections use, each loaded on first use (~100 ms together on this machine's CPUs)."""
        httpx.AsyncHTTPTransport(verify=self._ssl_context(), retries=0)
        await anyio.sleep(0)

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            self._ssl = httpx.create_ssl_context()  # once: loading the CA bundle takes tens of ms
        return self._ssl

    async def fetch(self, url: str, name: str) -> bytes:
        current = self._parse(url, name)
        try:
            async with asyncio.timeout(self._total_timeout_s):
                for _ in range(self.max_redirects + 1):
                    result = await self._hop(current, name)
                    if isinstance(result, bytes):
                        return result
                    current = result
        except TimeoutError:
            raise ImageFetchError(f"{name}: timed out fetching {_display(current)}") from None
        limit = self.max_redirects
        raise ImageFetchError(f"{name}: more than {limit} redirects fetching {_display(current)}")

    def _parse(self, url: str, name: str, *, redirect: bool = False) -> httpx.URL:
        what = "redirect target" if redirect else "URL"
        try:
            parsed = httpx.URL(url.strip())
        except (httpx.InvalidURL, ValueError, TypeError):
            raise ImageFetchError(f"{name}: invalid {what}") from None
        if parsed.scheme not in ("http", "https"):
            scheme = parsed.scheme or "none"
            raise ImageFetchError(f"{name}: {what} scheme {scheme!r} refused; only http and https")
        if not parsed.raw_host:
            raise ImageFetchError(f"{name}: {what} has no host")
        refusal = port_refusal(parsed, self.allowed_ports)
        if refusal is not None:
            raise ImageFetchError(f"{name}: {what} {refusal}")
        return parsed

    async def _hop(self, url: httpx.URL, name: str) -> bytes | httpx.URL:
        """One request: the body, or the URL a redirect points to."""
        host = url.raw_host.decode("ascii")
        headers = {"User-Agent": USER_AGENT, "Accept": "image/*,*/*;q=0.5"}
        extensions: dict[str, object] = {}
        if self.allow_private_urls:
            targets = [url]
        else:
            ips = await self._checked_ips(url, name)
            targets = [url.copy_with(host=ip) for ip in ips]
            headers["Host"] = url.netloc.decode("ascii")
            if url.scheme == "https":
                extensions["sni_hostname"] = host
        transport = self._transport or httpx.AsyncHTTPTransport(verify=self._ssl_context(), retries=0)
        # A fresh client per hop: a pooled connection to the same IP must not be reused for another host
        # name, whose certificate it never presented. Only a transport we made is closed.
        client = httpx.AsyncClient(
            transport=transport,
            timeout=self._timeout,
            follow_redirects=False,
            trust_env=False,
        )
        try:
            for i, target in enumerate(targets):
                request = client.build_request("GET", target, headers=headers, extensions=extensions)
                try:
                    response = await client.send(request, stream=True)
                except httpx.ConnectError:
                    if i + 1 < len(targets):
                        continue  # another address of the same host may answer
                    raise ImageFetchError(f"{name}: could not connect to {_display(url)}") from None
                try:
                    return await self._read(response, url, name)
                finally:
                    await response.aclose()
            raise AssertionError("unreachable")  # targets is never empty
        except httpx.TimeoutException:
            raise ImageFetchError(f"{name}: timed out fetching {_display(url)}") from None
        except httpx.HTTPError as exc:
            raise ImageFetchError(f"{name}: fetching {_display(url)} failed ({type(exc).__name__})") from None
        finally:
            if self._transport is None:
                await client.aclose()

    async def _read(self, response: httpx.Response, url: httpx.URL, name: str) -> bytes | httpx.URL:
        status = response.status_code
        if status in _REDIRECTS:
            location = response.headers.get("location")
            if not location:
                raise ImageFetchError(f"{name}: HTTP {status} redirect without Location from {_display(url)}")
            try:
                target = url.join(location)
            except (httpx.InvalidURL, ValueError):
                raise ImageFetchError(f"{name}: invalid redirect target from {_display(url)}") from None
            return self._parse(str(target), name, redirect=True)
        if not 200 <= status < 300:
            raise ImageFetchError(f"{name}: fetching {_display(url)} failed with HTTP {status}")
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise self._too_large(url, name)
        body = bytearray()
        async for chunk in response.aiter_bytes():  # decoded: the cap also bounds gzip bombs
            body += chunk
            if len(body) > self.max_bytes:
                raise self._too_large(url, name)
        return bytes(body)

    def _too_large(self, url: httpx.URL, name: str) -> ImageFetchError:
        return ImageFetchError(f"{name}: {_display(url)} is larger than the {self.max_bytes}-byte limit")

    async def _checked_ips(self, url: httpx.URL, name: str) -> list[str]:
        """The host's addresses, all checked to be public; refuses the whole host if any is not."""
        try:
            return await checked_addresses(url, self._resolve, self._connect_timeout_s)
        except RefusedAddress as exc:
            raise ImageFetchError(f"{name}: refusing to fetch {_display(url)}: {exc}") from None
        except Unresolvable as exc:
            raise ImageFetchError(f"{name}: {exc}") from None
