"""Fetching a URL that a user typed (an external calendar feed) without letting it reach inside.

A URL given by a user must not make the server talk to its own network (server-side request
forgery): loopback, private, link-local (cloud metadata at 169.254.169.254), multicast,
reserved and other non-global addresses are refused unless *allow_private* (tests, with
IHOME_ICAL_ALLOW_PRIVATE=1). The check sits in the resolver that Tornado's TCP client asks for
the addresses it then connects to, so the address checked is the address used: no second DNS
lookup between check and connect (DNS rebinding), and IP literals pass the same check.
Redirects are followed by hand (at most MAX_REDIRECTS), each new URL going through the same
scheme and address checks. The body is read through ``streaming_callback`` and the fetch stops
at *max_bytes*. Imports nothing of the project.

    body = await fetch_bounded("https://example.com/cal.ics", allow_private=False)
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import urllib.parse
from dataclasses import dataclass

from tornado.httpclient import HTTPRequest
from tornado.netutil import DefaultLoopResolver, Resolver
from tornado.simple_httpclient import HTTPTimeoutError, SimpleAsyncHTTPClient

MAX_BYTES = 1024 * 1024  # a feed larger than this is refused (a year of nights is ~50 KB)
MAX_REDIRECTS = 3
MAX_URL_CHARS = 1000
CONNECT_TIMEOUT = 5.0  # seconds, DNS included
REQUEST_TIMEOUT = 15.0  # seconds for the whole answer
REDIRECT_CODES = (301, 302, 303, 307, 308)
USER_AGENT = "iHome-calendar-sync/1.0"


class FetchError(Exception):
    """The fetch did not give a usable body. *kind* is one of ``scheme`` (not http/https or no
    host), ``refused`` (an address that is not public), ``dns`` (the name does not resolve),
    ``timeout``, ``too_large`` (over *max_bytes*), ``status`` (an answer other than 200;
    *detail* is the code), ``redirects`` (more than MAX_REDIRECTS, or one without Location),
    ``network`` (connection refused, reset, TLS …). *detail* is a short text for logs and hosts."""

    def __init__(self, kind: str, detail: str = ""):
        super().__init__(kind, detail)
        self.kind = kind
        self.detail = detail


@dataclass
class Fetched:
    """A 200 answer: *body* (at most max_bytes bytes), the *url* it came from after redirects."""
    body: bytes
    url: str


def address_allowed(address: str) -> bool:
    """True when *address* (an IPv4 or IPv6 literal, possibly with a %scope) is a public one."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_private or ip.is_loopback or ip.is_link_local
                                 or ip.is_reserved or ip.is_unspecified)


def check_url(url: str) -> urllib.parse.SplitResult:
    """*url* split, or FetchError(``scheme``) unless it is http(s) with a host and a sane length."""
    if not url or len(url) > MAX_URL_CHARS:
        raise FetchError("scheme", "empty or too long")
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 — raises ValueError for a port that is no number or out of range
    except ValueError as exc:
        raise FetchError("scheme", str(exc)) from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise FetchError("scheme", parts.scheme or "no scheme")
    return parts


class GuardedResolver(Resolver):
    """Resolves with the loop's getaddrinfo and refuses (FetchError ``refused``) when any of the
    addresses is not public: a name with one private address among public ones is refused too,
    since the client might pick that one."""

    def initialize(self, allowed=address_allowed) -> None:  # Configurable's constructor hook
        self.allowed = allowed  # (address str) -> bool
        self.inner = DefaultLoopResolver()

    async def resolve(self, host: str, port: int, family: socket.AddressFamily = socket.AF_UNSPEC):
        try:
            found = await self.inner.resolve(host, port, family)
        except socket.gaierror as exc:
            raise FetchError("dns", host) from exc
        if not found:
            raise FetchError("dns", host)
        for _family, sockaddr in found:
            if not self.allowed(sockaddr[0]):
                raise FetchError("refused", f"{host} → {sockaddr[0]}")
        return found


async def fetch_bounded(url: str, *, allow_private: bool = False, max_bytes: int = MAX_BYTES,
                        connect_timeout: float = CONNECT_TIMEOUT, request_timeout: float = REQUEST_TIMEOUT,
                        max_redirects: int = MAX_REDIRECTS, address_ok=None) -> Fetched:
    """GET *url* (http/https) and return its 200 body, at most *max_bytes* bytes.

    Timeouts are seconds (*connect_timeout* includes DNS); the whole redirect chain must be done
    within *connect_timeout* + *request_timeout*. Raises :class:`FetchError` for everything that goes wrong, never
    another exception type (a bug aside). *address_ok* ``(address) -> bool`` replaces the
    public-address rule (tests: let the loopback feed server through, but not a redirect's target);
    *allow_private* lets every address through."""
    allowed = (lambda _address: True) if allow_private else (address_ok or address_allowed)
    # The whole redirect chain shares one deadline: a host's "sync now" waits this long at most.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + connect_timeout + request_timeout
    client = SimpleAsyncHTTPClient(force_instance=True, resolver=GuardedResolver(allowed=allowed),
                                   max_clients=1, max_body_size=max_bytes + 1)
    try:
        for _ in range(max_redirects + 1):
            check_url(url)
            left = deadline - loop.time()
            if left <= 0:
                raise FetchError("timeout", "redirect chain took too long")
            chunks: list[bytes] = []
            size = [0]
            declared = [0]  # the answer's Content-Length, when it has one

            def keep(chunk: bytes) -> None:
                # The client's max_body_size (max_bytes + 1) cuts the stream before this sees more
                # than max_bytes: the count reaching max_bytes on a closed stream means "too large".
                size[0] += len(chunk)
                if size[0] <= max_bytes:
                    chunks.append(chunk)

            def header(line: str) -> None:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length" and value.strip().isdigit():
                    declared[0] = int(value.strip())

            def too_large() -> bool:
                return size[0] >= max_bytes or declared[0] > max_bytes

            request = HTTPRequest(url, method="GET", follow_redirects=False, streaming_callback=keep, header_callback=header,
                                  connect_timeout=min(connect_timeout, left), request_timeout=left,
                                  user_agent=USER_AGENT, decompress_response=True,
                                  headers={"Accept": "text/calendar, */*;q=0.5"})
            try:
                response = await client.fetch(request, raise_error=False)
            except FetchError:
                raise
            except HTTPTimeoutError as exc:
                raise FetchError("timeout", str(exc)) from exc
            except Exception as exc:  # connection refused, reset, TLS, a body cut short …
                if too_large():
                    raise FetchError("too_large", f"> {max_bytes} bytes") from exc
                raise FetchError("network", f"{type(exc).__name__}: {exc}"[:200]) from exc
            if too_large() and size[0] > max_bytes:  # (a body of exactly max_bytes passes)
                raise FetchError("too_large", f"> {max_bytes} bytes")
            if response.code in REDIRECT_CODES:
                location = response.headers.get("Location")
                if not location:
                    raise FetchError("redirects", "redirect without Location")
                url = urllib.parse.urljoin(url, location)
                continue
            if response.code != 200:
                raise FetchError("status", str(response.code))
            return Fetched(b"".join(chunks), url)
        raise FetchError("redirects", f"more than {max_redirects}")
    finally:
        client.close()


async def fetch_body(url: str, **options) -> bytes:
    """:func:`fetch_bounded`'s body only (same *options*, same errors)."""
    return (await fetch_bounded(url, **options)).body
