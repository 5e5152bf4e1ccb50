"""WebSocket clients for the messaging tests: connect to /ws as a test Client's browser would."""

from __future__ import annotations

import asyncio
import json

from tornado.httpclient import HTTPRequest
from tornado.websocket import WebSocketClientConnection, websocket_connect

from models import messages
from tests.utils.client import logged_in
from tests.utils.factories import make_house


async def connect(base_url: str, client=None, *, origin: str | None = None, last_id: int | None = None,
                  cookie: str | None = None) -> WebSocketClientConnection:
    """A socket to ``<base_url>/ws`` carrying *client*'s cookies (or *cookie*), with the page's Origin
    (or *origin*) and ``?last_id=`` when given. Raises HTTPClientError when the handshake is refused."""
    url = "ws" + base_url[len("http"):] + "/ws" + (f"?last_id={last_id}" if last_id is not None else "")
    headers = {"Origin": origin if origin is not None else base_url}
    if cookie is None and client is not None and client.cookies:
        cookie = "; ".join(f"{k}={v}" for k, v in client.cookies.items())
    if cookie:
        headers["Cookie"] = cookie
    return await websocket_connect(HTTPRequest(url, headers=headers, connect_timeout=20, request_timeout=20))


async def frame(conn: WebSocketClientConnection, kind: str | None = None, *, timeout: float = 20.0,
                match=None) -> dict:
    """The next frame (of type *kind*, for which *match(frame)* holds, when given), skipping others.
    Raises AssertionError when the socket closes first; asyncio.TimeoutError after *timeout* s."""
    async def read() -> dict:
        while True:
            raw = await conn.read_message()
            assert raw is not None, f"socket closed ({conn.close_code} {conn.close_reason}) before a {kind} frame"
            data = json.loads(raw)
            if (kind is None or data.get("type") == kind) and (match is None or match(data)):
                return data
    return await asyncio.wait_for(read(), timeout)


async def closed(conn: WebSocketClientConnection, *, timeout: float = 20.0) -> int | None:
    """Read until the server closes the socket; its close code (the client side is closed too)."""
    async def drain():
        while await conn.read_message() is not None:
            pass
    await asyncio.wait_for(drain(), timeout)
    conn.close()  # frees the client side (Tornado warns about a connection never closed)
    return conn.close_code


def send(conn: WebSocketClientConnection, **fields) -> None:
    """Send one JSON frame."""
    conn.write_message(json.dumps(fields, ensure_ascii=False))


async def conversation_pair(app, new_client, login) -> tuple:
    """(guest client, guest, host client, host, conversation id): two logged-in browsers and
    the conversation of the guest about a new listing of the host."""
    guest_client, guest = await logged_in(new_client(), app, login)
    host_client, host = await logged_in(new_client(), app, login)
    house = await make_house(app, host)
    conversation_id = await messages.open_conversation(app.db, house["id"], guest["id"])
    return guest_client, guest, host_client, host, conversation_id
