"""gzip: text answers (HTML, CSS, JS, JSON, SVG) are compressed when the client asks (issue 13).

The app's ``compress_response`` setting: ``Accept-Encoding: gzip`` gives ``Content-Encoding: gzip``
and ``Vary: Accept-Encoding``; without the header the plain bytes. The anonymous page cache keeps
the plain HTML (the transform runs on output), and its ETag / 304 keep working for both encodings.
Pictures (already compressed) are never gzipped.
"""

from __future__ import annotations

import gzip
import mimetypes

import pytest
import tornado.web

from tests.utils.factories import make_house, make_user

GZIP = {"Accept-Encoding": "gzip", "User-Agent": "ihome-tests"}
PLAIN = {"Accept-Encoding": "identity", "User-Agent": "ihome-tests"}


async def raw(http_client, base_url: str, path: str, headers: dict):
    """GET *path* without the client's own decompression (the bytes as sent)."""
    return await http_client.fetch(base_url + path, headers=headers, decompress_response=False,
                                   follow_redirects=False, raise_error=False)


def static_path(app, name: str) -> str:
    return tornado.web.StaticFileHandler.make_static_url(app.settings, name)


@pytest.mark.gen_test
async def test_text_answers_are_gzipped_when_asked(app, http_client, base_url):
    owner = await make_user(app)
    house = await make_house(app, owner, title="压缩测试房源")
    paths = {
        "/": "text/html",
        "/houses": "text/html",
        f"/houses/{house['id']}": "text/html",
        "/login": "text/html",
        static_path(app, "css/site.css"): "text/css",
        static_path(app, "js/booking.js"): "javascript",
        static_path(app, "vendor/bootstrap/css/bootstrap.min.css"): "text/css",
        "/api/v1/areas": "application/json",
    }
    for path, kind in paths.items():
        zipped = await raw(http_client, base_url, path, GZIP)
        plain = await raw(http_client, base_url, path, PLAIN)
        assert zipped.code == plain.code == 200, path
        assert kind in zipped.headers["Content-Type"], path
        assert zipped.headers.get("Content-Encoding") == "gzip", path
        assert "Accept-Encoding" in zipped.headers.get("Vary", ""), path
        assert "Content-Encoding" not in plain.headers, path
        assert "Accept-Encoding" in plain.headers.get("Vary", ""), path  # caches keep both apart
        body = gzip.decompress(zipped.body)
        assert len(zipped.body) < len(body), path
        if kind != "text/html":  # pages carry a fresh XSRF token each time
            assert body == plain.body, path


def test_svg_is_compressible_and_pictures_are_not(app):
    # SVG files are served as image/svg+xml and that type is in the gzip transform's list
    # (a small favicon stays under the transform's 1 KB minimum, so it is checked here).
    assert any(t is tornado.web.GZipContentEncoding for t in app.transforms)
    assert mimetypes.guess_type("favicon.svg")[0] == "image/svg+xml"  # what StaticFileHandler sends
    encoding = tornado.web.GZipContentEncoding.__new__(tornado.web.GZipContentEncoding)
    assert encoding._compressible_type("image/svg+xml")
    assert encoding._compressible_type("application/json")
    assert not encoding._compressible_type("image/jpeg") and not encoding._compressible_type("image/webp")
    assert not encoding._compressible_type("font/woff2")


@pytest.mark.gen_test
async def test_cached_page_keeps_its_etag_and_304_under_gzip(app, http_client, base_url):
    owner = await make_user(app)
    await make_house(app, owner, title="缓存压缩")
    first = await raw(http_client, base_url, "/", GZIP)          # renders and keeps the page
    hits = app.cache.page_hits
    second = await raw(http_client, base_url, "/", GZIP)         # from the cache, compressed on the way out
    plain = await raw(http_client, base_url, "/", PLAIN)
    assert app.cache.page_hits - hits == 2
    assert second.headers["Content-Encoding"] == "gzip" and "Content-Encoding" not in plain.headers
    # The cache holds plain HTML: the compressed and the plain answer are the same page.
    assert gzip.decompress(second.body) == plain.body
    assert "缓存压缩".encode() in plain.body
    etag = second.headers["Etag"]
    assert etag == plain.headers["Etag"]
    assert first.headers["Etag"]
    for headers in (GZIP, PLAIN):
        again = await raw(http_client, base_url, "/", {**headers, "If-None-Match": etag})
        assert again.code == 304 and not again.body
