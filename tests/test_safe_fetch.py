"""The SSRF-guarded fetch of external calendar feeds (services/safe_fetch.py), against a real
HTTP server on loopback (tests/utils/ical_server.py).

Private, loopback, link-local and other non-public addresses are refused after DNS resolution
(IP literals and names alike) unless allowed; each redirect is checked the same way; slow,
oversized and non-200 answers become FetchError kinds, never other exceptions.
"""

from __future__ import annotations

import asyncio

import pytest

from services.safe_fetch import FetchError, address_allowed, check_url, fetch_bounded
from tests.utils.ical_server import IcalServer, Resource, ics
from tests.utils.dates import day


@pytest.fixture
def feeds(io_loop):
    server = IcalServer().start()
    yield server
    io_loop.run_sync(server.stop)


def loopback_only(address: str) -> bool:
    """The rule the redirect tests use: the feed server's 127.0.0.1 passes, nothing else private does."""
    return address == "127.0.0.1" or address_allowed(address)


async def kind_of(url: str, **options) -> str:
    with pytest.raises(FetchError) as caught:
        await fetch_bounded(url, **options)
    return caught.value.kind


def test_address_rules():
    for address in ("127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "::1", "fe80::1",
                    "fc00::1", "224.0.0.1", "0.0.0.0", "100.64.0.1", "240.0.0.1", "::ffff:127.0.0.1",
                    "::ffff:10.0.0.1", "not an address"):
        assert not address_allowed(address), address
    for address in ("93.184.216.34", "8.8.8.8", "2606:4700:4700::1111"):
        assert address_allowed(address), address


def test_only_http_and_https_with_a_host():
    for url in ("ftp://example.com/a.ics", "file:///etc/passwd", "gopher://x/", "http:///nohost",
                "javascript:alert(1)", "", "http://example.com:99999/", "https://" + "a" * 1000):
        with pytest.raises(FetchError) as caught:
            check_url(url)
        assert caught.value.kind == "scheme", url
    assert check_url("https://example.com/cal.ics").hostname == "example.com"


@pytest.mark.gen_test(timeout=30)
async def test_private_addresses_are_refused_before_connecting(feeds):
    url = feeds.serve("/a.ics", Resource(body=ics((day(3), day(5)))))
    for target in (url, feeds.url("/a.ics", "localhost"), feeds.url("/a.ics", "[::1]"),
                   "http://10.0.0.1/a.ics", "http://169.254.169.254/latest/meta-data/",
                   "http://[fe80::1]/a.ics", "http://0.0.0.0/a.ics"):
        assert await kind_of(target, connect_timeout=2, request_timeout=2) == "refused", target
    # Nothing reached the server: the check is made on the resolved address, before connecting.
    assert feeds.hits["/a.ics"] == 0
    # Allowed (tests only), the same URL is fetched.
    fetched = await fetch_bounded(url, allow_private=True)
    assert b"BEGIN:VEVENT" in fetched.body and feeds.hits["/a.ics"] == 1


@pytest.mark.gen_test(timeout=30)
async def test_a_redirect_to_a_private_address_is_refused(feeds):
    for target in ("http://169.254.169.254/latest/meta-data/", "http://10.0.0.7/cal.ics",
                   feeds.url("/secret.ics", "127.0.0.2")):  # loopback, but not the one the rule lets through
        feeds.serve("/go.ics", Resource(redirect=target))
        assert await kind_of(feeds.url("/go.ics"), address_ok=loopback_only) == "refused", target
    assert feeds.hits["/secret.ics"] == 0


@pytest.mark.gen_test(timeout=30)
async def test_redirects_are_followed_three_times_at_most(feeds):
    body = ics((day(1), day(2)))
    feeds.serve("/final.ics", Resource(body=body))
    for i in range(1, 5):  # /r1 → /r2 → /r3 → /r4 → /final
        feeds.serve(f"/r{i}", Resource(redirect=f"/r{i + 1}" if i < 4 else "/final.ics"))
    fetched = await fetch_bounded(feeds.url("/r2"), allow_private=True)  # three redirects: fine
    assert fetched.body == body and fetched.url.endswith("/final.ics")
    assert await kind_of(feeds.url("/r1"), allow_private=True) == "redirects"  # four: refused
    # A redirect to another scheme is refused as well.
    feeds.serve("/ftp", Resource(redirect="ftp://example.com/a.ics"))
    assert await kind_of(feeds.url("/ftp"), allow_private=True) == "scheme"


@pytest.mark.gen_test(timeout=30)
async def test_timeout_size_status_and_network_failures_have_kinds(feeds):
    gate = asyncio.Event()
    feeds.serve("/slow.ics", Resource(body=b"BEGIN:VCALENDAR", gate=gate))  # answers when the test says so
    assert await kind_of(feeds.url("/slow.ics"), allow_private=True, connect_timeout=0.5, request_timeout=0.5) == "timeout"
    gate.set()
    feeds.serve("/huge.ics", Resource(size=3 * 1024 * 1024))
    assert await kind_of(feeds.url("/huge.ics"), allow_private=True) == "too_large"
    feeds.serve("/small-cap.ics", Resource(body=b"x" * 2000))
    assert await kind_of(feeds.url("/small-cap.ics"), allow_private=True, max_bytes=1000) == "too_large"
    assert (await fetch_bounded(feeds.url("/small-cap.ics"), allow_private=True, max_bytes=2000)).body == b"x" * 2000
    with pytest.raises(FetchError) as caught:
        await fetch_bounded(feeds.url("/missing.ics"), allow_private=True)
    assert (caught.value.kind, caught.value.detail) == ("status", "404")
    feeds.serve("/boom.ics", Resource(status=500, body=b"oops"))
    assert await kind_of(feeds.url("/boom.ics"), allow_private=True) == "status"
    # A port nobody listens on.
    closed = IcalServer().start()
    port = closed.port
    await closed.stop()
    assert await kind_of(f"http://127.0.0.1:{port}/a.ics", allow_private=True) == "network"
    assert await kind_of("http://no-such-host.invalid/a.ics", connect_timeout=3) in ("dns", "network")
