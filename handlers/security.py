"""Security headers on every response, and a static-file handler that refuses bad paths.

Every handler of the site (pages, JSON API, error pages, static and media files)
sends the same fixed set of headers, built once here:

- ``Content-Security-Policy``: scripts, styles, fonts and XHR only from this
  origin, no inline script or style at all (templates keep scripts in
  ``static/js/``, data for them in ``data-*`` attributes or
  ``<script type="application/json">``, which the browser does not run, and
  styles in ``static/css/site.css``); images from this origin plus ``data:``
  (the inline favicon, Bootstrap's SVG icons in its CSS) and ``blob:`` (upload
  previews made with ``URL.createObjectURL``, which only this origin's scripts
  can create); no plugins, no framing, forms post only here.
- ``X-Frame-Options: DENY`` for browsers that predate ``frame-ancestors``.
- ``X-Content-Type-Options: nosniff``, ``Referrer-Policy``, ``Permissions-Policy``.
- ``Server: ihome`` instead of Tornado's name and version.

Private data is never stored by a cache: :func:`apply_cache_policy` adds
``Cache-Control: no-store`` to every response for a logged-in request (the
session cookie is present), on the private areas (:data:`PRIVATE_PREFIXES`),
and on any response that sets a cookie. The same headers for /static and /media
in production come from deploy/nginx.conf, which serves those itself.
"""

from __future__ import annotations

import functools
import re

import tornado.web

#: The policy, one directive per line of the tuple; joined with "; ".
CSP_DIRECTIVES = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data: blob:",
    "font-src 'self'",
    "connect-src 'self'",
    "object-src 'none'",
    "base-uri 'none'",
    "form-action 'self'",
    "frame-ancestors 'none'",
)
CONTENT_SECURITY_POLICY = "; ".join(CSP_DIRECTIVES)

#: Browser features no page of the site uses; denied to the page and to any frame.
PERMISSIONS_POLICY = ", ".join(f"{feature}=()" for feature in (
    "accelerometer", "autoplay", "camera", "display-capture", "encrypted-media", "fullscreen",
    "geolocation", "gyroscope", "magnetometer", "microphone", "midi", "payment", "picture-in-picture",
    "publickey-credentials-get", "screen-wake-lock", "serial", "usb", "xr-spatial-tracking"))

SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Permissions-Policy": PERMISSIONS_POLICY,
    "Cross-Origin-Opener-Policy": "same-origin",
    "Server": "ihome",
}

# apply_security_headers sets these without Tornado's per-response check: checked once here.
if any(re.search(r"[\x00-\x1f\x7f]", value) for value in SECURITY_HEADERS.values()):
    raise ValueError("a control character in a security header")

#: Path prefixes whose pages show one person's data (or an admin's view of everyone's).
PRIVATE_PREFIXES = ("/profile", "/orders/", "/my/", "/admin")

#: Control characters (C0 and DEL) and the backslash: never part of a valid path or local URL.
BAD_PATH_CHARS = re.compile(r"[\x00-\x1f\x7f\\]")

NO_STORE = "no-store"


@functools.lru_cache(maxsize=4)
def policy_for(site_origin: str) -> str:
    """The policy with the WebSocket form of *site_origin* (IHOME_SITE_ORIGIN, e.g.
    ``https://ihome.example`` → ``wss://ihome.example``) added to connect-src, for /ws.

    ``'self'`` already covers the page's own ws:/wss: origin in CSP Level 3 browsers;
    naming it keeps older ones (Safari before 15.4) able to open the socket.
    """
    if not site_origin:
        return CONTENT_SECURITY_POLICY
    ws_origin = "ws" + site_origin[len("http"):] if site_origin.startswith("http") else site_origin
    return CONTENT_SECURITY_POLICY.replace("connect-src 'self'", f"connect-src 'self' {ws_origin}", 1)


def apply_security_headers(handler: tornado.web.RequestHandler) -> None:
    """Set :data:`SECURITY_HEADERS` on *handler*'s response (call from ``set_default_headers``);
    the policy names the site's WebSocket origin when IHOME_SITE_ORIGIN is set (:func:`policy_for`)."""
    # Straight into the response's headers: set_header would check and convert these constant
    # strings again on every response (they are checked once, below the table).
    headers = handler._headers
    for name, value in SECURITY_HEADERS.items():
        headers[name] = value
    site_origin = getattr(getattr(handler.application, "config", None), "site_origin", "")
    if site_origin:
        handler.set_header("Content-Security-Policy", policy_for(site_origin))


def is_private_path(path: str) -> bool:
    """True when *path* (the request path, no query) belongs to a private area of the site."""
    return path.startswith(PRIVATE_PREFIXES)


def needs_no_store(handler: tornado.web.RequestHandler, session_cookie: str) -> bool:
    """True when *handler*'s response must not be kept by any cache.

    That is: the request carries the session cookie *session_cookie* (whatever
    page it is, it may show that person's name, menu or data; a stale or forged
    cookie costs only cacheability), the path is private, or the response sets
    a cookie (a session, flash or XSRF cookie must never be handed to someone else).
    """
    if handler.get_cookie(session_cookie) is not None or is_private_path(handler.request.path):
        return True
    return bool(getattr(handler, "_new_cookie", None))


def apply_cache_policy(handler: tornado.web.RequestHandler, session_cookie: str) -> None:
    """Add ``Cache-Control: no-store`` when :func:`needs_no_store`; call just before the headers go out."""
    if needs_no_store(handler, session_cookie):
        handler.set_header("Cache-Control", NO_STORE)
        handler.clear_header("Expires")
        handler.clear_header("Pragma")


class SafeStaticFileHandler(tornado.web.StaticFileHandler):
    """Tornado's StaticFileHandler with the site's headers and a 400 for malformed paths.

    A NUL byte in a path makes ``os.stat`` raise ``ValueError`` (a 500 in plain
    Tornado); this handler answers 400 for any control character or backslash
    before the file system is asked anything. Used for /static (the
    ``static_handler_class`` setting) and usable for other file directories.
    """

    def set_default_headers(self) -> None:
        apply_security_headers(self)

    def parse_url_path(self, url_path: str) -> str:
        """*url_path* unchanged, or HTTPError 400 when it holds a control character or a backslash."""
        if BAD_PATH_CHARS.search(url_path):
            raise tornado.web.HTTPError(400, "bad character in path")
        return super().parse_url_path(url_path)

    def write_error(self, status_code: int, **kwargs) -> None:
        # A short plain answer: the styled error page needs BaseHandler's session and templates.
        self.set_header("Content-Type", "text/plain; charset=UTF-8")
        self.finish(f"{status_code} {self._reason}\n")
