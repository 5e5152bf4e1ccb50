"""Reading what the server-rendered pages and redirects say: field errors, new ids."""

from __future__ import annotations

import html
import re

from tornado.httpclient import HTTPResponse

from tests.utils.client import text

# templates/modules/field_error.html: one element per field with a message.
FIELD_ERROR_RE = re.compile(r'data-field="([^"]+)">([^<]*)<')


def field_errors(body: str) -> dict[str, str]:
    """{field: message} for every message shown next to a form field (unescaped, stripped)."""
    return {field: html.unescape(message).strip() for field, message in FIELD_ERROR_RE.findall(body)}


def field_error(body: str, field: str) -> str | None:
    """The message shown next to *field*, or None when there is none."""
    return field_errors(body).get(field)


def _redirect_id(response: HTTPResponse, pattern: str) -> int:
    assert response.code == 302, (response.code, text(response)[:1500])
    location = response.headers["Location"]
    match = re.fullmatch(pattern, location)
    assert match, location
    return int(match.group(1))


def order_id_of(response: HTTPResponse) -> int:
    """The new order's id from a booking's redirect to ``/orders/<id>`` (asserts it is one)."""
    return _redirect_id(response, r"/orders/(\d+)")


def house_id_of(response: HTTPResponse) -> int:
    """The new listing's id from a publish's redirect to ``/houses/<id>/edit[#photos]``."""
    return _redirect_id(response, r"/houses/(\d+)/edit(?:#\w+)?")
