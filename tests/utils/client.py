"""A small cookie-keeping test client over Tornado's AsyncHTTPClient.

It never follows redirects and never raises on 4xx/5xx, so tests can assert on
status codes and ``Location`` headers. POSTs carry the ``_xsrf`` field taken from
the XSRF cookie (fetched from a form page first when missing), unless ``xsrf=False``.
"""

from __future__ import annotations

import http.cookies
import json
import re
import secrets
import urllib.parse
from typing import Iterable

import tornado.web
from tornado.httpclient import HTTPResponse

from tests.utils.factories import make_user

XSRF_FIELD_RE = re.compile(r'name="_xsrf" value="([^"]+)"')


def encode_multipart(fields: Iterable[tuple[str, str]], files: Iterable[tuple[str, str, bytes, str]]) -> tuple[bytes, str]:
    """Body and Content-Type for multipart/form-data; files are (field, filename, bytes, content type)."""
    boundary = "----ihome" + secrets.token_hex(12)
    parts: list[bytes] = []
    for name, value in fields:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n'.encode()
                     + str(value).encode() + b"\r\n")
    for name, filename, data, ctype in files:
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                     f"Content-Type: {ctype}\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


class Client:
    """One browser: its own cookie jar against the test server at *base_url*."""

    def __init__(self, http_client, base_url: str):
        self.http_client = http_client
        self.base_url = base_url
        self.cookies: dict[str, str] = {}

    def _store_cookies(self, response: HTTPResponse) -> None:
        for header in response.headers.get_list("Set-Cookie"):
            jar = http.cookies.SimpleCookie()
            jar.load(header)
            for name, morsel in jar.items():
                expired = morsel["max-age"] == "0" or "1970" in (morsel["expires"] or "")
                if expired or morsel.value in ("", '""'):
                    self.cookies.pop(name, None)
                else:
                    self.cookies[name] = morsel.value

    async def fetch(self, method: str, path: str, body: bytes | None = None,
                    headers: dict | None = None) -> HTTPResponse:
        all_headers = {"User-Agent": "ihome-tests"}
        if self.cookies:
            all_headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        all_headers.update(headers or {})
        response = await self.http_client.fetch(
            self.base_url + path, method=method, body=body, headers=all_headers,
            follow_redirects=False, raise_error=False, allow_nonstandard_methods=True)
        self._store_cookies(response)
        return response

    async def get(self, path: str, headers: dict | None = None) -> HTTPResponse:
        return await self.fetch("GET", path, headers=headers)

    async def xsrf_token(self) -> str:
        if "_xsrf" not in self.cookies:
            await self.get("/login")
        return self.cookies["_xsrf"]

    async def post(self, path: str, data: dict | list | None = None, *, files=None,
                   xsrf: bool | str = True, headers: dict | None = None) -> HTTPResponse:
        """POST a form; *data* is a dict or a list of (name, value) pairs (for repeated fields)."""
        fields = list(data.items()) if isinstance(data, dict) else list(data or [])
        if xsrf is True:
            fields.append(("_xsrf", await self.xsrf_token()))
        elif isinstance(xsrf, str):
            fields.append(("_xsrf", xsrf))
        if files:
            body, ctype = encode_multipart(fields, files)
        else:
            body, ctype = urllib.parse.urlencode(fields).encode(), "application/x-www-form-urlencoded"
        return await self.fetch("POST", path, body=body, headers={"Content-Type": ctype, **(headers or {})})

    def login_as(self, app, session) -> None:
        """Use *session* (from app.sessions.create) as this client's login, as the cookie would."""
        from handlers.base import SESSION_COOKIE
        value = tornado.web.create_signed_value(app.config.cookie_secret, SESSION_COOKIE, session.token)
        self.cookies[SESSION_COOKIE] = value.decode()


def text(response: HTTPResponse) -> str:
    return (response.body or b"").decode("utf-8", "replace")


def json_body(response: HTTPResponse):
    return json.loads(response.body)


async def logged_in(client: Client, app, login, **user_fields) -> tuple[Client, dict]:
    """(client, user): a new verified user (factories.make_user) logged in on *client*.

    *login* is the conftest fixture of that name: a session without bcrypt.
    """
    user = await make_user(app, **user_fields)
    await login(client, user)
    return client, user


async def admin_client(app, new_client, login, **user_fields) -> tuple[Client, dict]:
    """(client, admin user): a new browser holding an admin session, as after /admin/login."""
    admin = await make_user(app, admin=True, **user_fields)
    client = new_client()
    await login(client, admin, is_admin=True)
    return client, admin
