"""``/ws``: the site's one WebSocket per browser tab (messages, unread counts).

Authentication is the page's: the signed session cookie, loaded the way BaseHandler
loads it (services/sessions.py), and the account must be active. Without a session
the socket is accepted and closed at once with code 4401 (a browser cannot read an
HTTP status from a refused handshake; it can read a close code); Redis or MariaDB
down at connect → closed with 1013 ("try again later"). ``check_origin`` accepts only
the site's origin: ``IHOME_SITE_ORIGIN`` when set, else the request's own host (see
:meth:`WebSocket.check_origin`).

Revocation after connect: the session is checked again (one Redis round trip) before
every ``send`` and ``read`` frame, and a sweep every ``ws_session_check`` seconds closes
(4401) the sockets whose session key is gone — logout, password change, a disabled
account. So a revoked session cannot write at all, and stops receiving within that
sweep interval.

Limits: ``IHOME_WS_MAX_PER_USER`` sockets per user over all processes (a Redis sorted
set per user whose entries the sweep keeps alive; counted in-process while Redis is
away) — one more is closed with 4429; ``IHOME_LIMIT_MESSAGE_PER_MINUTE`` messages per
user; frames above ``MAX_FRAME_BYTES`` close the socket (1009, Tornado); a client that
leaves ``MAX_PENDING_WRITES`` frames unread is closed (1008) instead of being buffered for;
any other bad frame gets an ``error`` frame and the socket stays open.

Catch-up: the client connects as ``/ws?last_id=N`` with the highest message id it has
and first receives what it missed (from MariaDB), then the live stream. After the
process's subscriber lost Redis and came back, every socket catches up the same way.
The frames are described in README.md ("WebSocket 协议").
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
import urllib.parse
from collections import OrderedDict

import tornado.web
import tornado.websocket

from handlers.base import REDIS_DOWN, SESSION_COOKIE, dependency_down, small_int
from handlers.security import apply_security_headers
from handlers.messages import BODY_ERRORS, TOO_FAST, deliver_message, message_frame, unread_frame
from models import messages, users
from services.background import stop_task

log = logging.getLogger("ihome.ws")

MAX_FRAME_BYTES = 32 * 1024  # a 2,000-character body escaped as JSON fits many times over
CLOSE_UNAUTHORIZED = 4401
CLOSE_TOO_MANY = 4429
CLOSE_TRY_LATER = 1013
CLOSE_TOO_SLOW = 1008  # policy violation: the client does not read its frames
MAX_PENDING_WRITES = 500
SOCKETS_KEY = "ws:sockets:"  # + user id: sorted set of "<process>:<socket>" scored by expiry (Unix s)
SEEN_IDS = 512  # message ids a socket remembers, so a frame that comes twice is sent once
# KEYS[1] the user's set; ARGV: now, expiry, member, max. Returns 1 when the socket may stay.
_CLAIM = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
redis.call('EXPIRE', KEYS[1], math.ceil(ARGV[2] - ARGV[1]) + 60)
return 1
"""


class WebSocket(tornado.websocket.WebSocketHandler):
    """One browser tab's socket. Frames: README.md, "WebSocket 协议"."""

    user_id: int = 0
    session = None
    closed_reason: str | None = None

    def initialize(self) -> None:
        self.seen: OrderedDict[int, None] = OrderedDict()
        self.key = secrets.token_hex(6)
        self.unavailable = False
        self.registered = False
        self.last_id: int | None = None  # the highest message id the client is known to have
        self.conversations: set[int] = set()
        self.pending_writes = 0  # frames handed to Tornado that have not reached the socket yet  # conversations this user is known to be a party of

    # -- handshake -----------------------------------------------------------
    def check_origin(self, origin: str) -> bool:
        """Tornado's hook for requests that look cross-origin: :meth:`origin_allowed`."""
        return self.origin_allowed(origin)

    def origin_allowed(self, origin: str) -> bool:
        """Only the site's own origin may open a socket (no cross-site WebSocket hijacking).

        Checked in :meth:`prepare` for every handshake that has an Origin (every browser's):
        Tornado itself lets an Origin whose host and port match the Host header through
        whatever its scheme, and would not apply IHOME_SITE_ORIGIN to it.

        With ``IHOME_SITE_ORIGIN`` set (e.g. ``https://ihome.example``) the Origin must
        equal it. Otherwise it must name the request's own host: scheme matching the
        request (``X-Forwarded-Proto`` counts behind nginx with xheaders), and host and
        port equal to the Host header's — or just the host name when the Host header
        carries no port (nginx's ``$host`` drops it).
        """
        configured = self.application.config.site_origin
        if configured:
            return origin.rstrip("/").lower() == configured.rstrip("/").lower()
        parsed = urllib.parse.urlsplit(origin.lower())
        expected_scheme = "https" if self.request.protocol == "https" else "http"
        if parsed.scheme != expected_scheme or not parsed.hostname:
            return False
        host = self.request.headers.get("Host", "").lower()
        if not host:
            return False
        if ":" in host.rsplit("]", 1)[-1]:
            return parsed.netloc == host
        return parsed.hostname == host.strip("[]")

    async def prepare(self) -> None:
        origin = self.request.headers.get("Origin")
        if origin is not None and not self.origin_allowed(origin):
            log.info("socket refused for origin %r", origin[:200])
            raise tornado.web.HTTPError(403)
        # The page's session, read before the upgrade; the verdict is given in open().
        raw = self.get_signed_cookie(SESSION_COOKIE, max_age_days=31)
        if raw is None:
            return
        try:
            session = await self.application.sessions.get(raw.decode(), ip=self.request.remote_ip or "")
            user = await users.get_current(self.application.db, session.user_id) if session else None
        except Exception as exc:
            if not dependency_down(exc):
                raise
            log.warning("socket session not loaded: %s", exc)
            self.unavailable = True
            return
        if session is not None and user is not None and user.is_active:
            self.session, self.user_id = session, user.id

    def set_default_headers(self) -> None:
        # The site's headers on the handshake and on refusals (a plain GET is a 400); private always.
        apply_security_headers(self)
        self.set_header("Cache-Control", "no-store")

    async def head(self) -> None:
        """HEAD answers as a GET without an upgrade does: 400."""
        self.set_status(400)
        self.finish()

    def get_compression_options(self):
        return None  # per-message deflate costs ~100 KB per socket; frames are small

    # -- life cycle ----------------------------------------------------------
    async def open(self) -> None:
        if self.unavailable:
            self.close(CLOSE_TRY_LATER, "service unavailable")
            return
        if self.session is None:
            self.close(CLOSE_UNAUTHORIZED, "unauthorized")
            return
        hub = self.application.sockets
        if not await hub.claim(self):
            self.close(CLOSE_TOO_MANY, "too many sockets")
            return
        self.registered = True
        await self.application.delivery.add(self)
        last_id = self.last_id = small_int(self.get_argument("last_id", None))
        try:
            await self.send_unread()
            if last_id is not None:
                await self.catch_up(last_id)
        except Exception as exc:
            if not dependency_down(exc):
                raise
            log.warning("socket start-up of user %s incomplete: %s", self.user_id, exc)

    def on_close(self) -> None:
        if self.registered:
            self.registered = False
            self.application.sockets.forget(self)

    # -- outgoing ------------------------------------------------------------
    def deliver(self, frame: str) -> None:
        """Queue *frame* (JSON text) to the client; a message already sent is skipped. Never raises."""
        if frame.startswith('{"type": "message"'):
            try:
                message_id = int(json.loads(frame)["id"])
            except (ValueError, KeyError, TypeError):
                message_id = 0
            if message_id in self.seen:
                return
            self.remember(message_id)
            self.last_id = max(self.last_id or 0, message_id)
        if self.pending_writes >= MAX_PENDING_WRITES:
            # A client that stops reading must not make the process buffer without bound.
            self.close(CLOSE_TOO_SLOW, "too slow")
            return
        try:
            future = self.write_message(frame)
        except tornado.websocket.WebSocketClosedError:
            return
        if not future.done():
            self.pending_writes += 1
            future.add_done_callback(self._written)

    def _written(self, future) -> None:
        self.pending_writes -= 1
        if not future.cancelled():
            future.exception()  # a closed stream: retrieved, so asyncio does not log it

    def remember(self, message_id: int) -> None:
        self.seen[message_id] = None
        if len(self.seen) > SEEN_IDS:
            self.seen.popitem(last=False)

    def send_json(self, frame: dict) -> None:
        self.deliver(json.dumps(frame, ensure_ascii=False))

    def error(self, message: str) -> None:
        self.send_json({"type": "error", "message": message})

    async def send_unread(self) -> None:
        total = await messages.unread_total(self.application.db, self.user_id)
        self.send_json({"type": "unread", "total": total, "conversation_id": None, "count": None})

    async def catch_up(self, last_id: int) -> None:
        """Send the messages above *last_id* from MariaDB, in pages of CATCH_UP_MAX."""
        for _ in range(50):  # at most 10,000 messages; the client asks again from the last
            rows = await messages.since(self.application.db, self.user_id, last_id)
            for message in rows:
                self.send_json(message_frame(message))
            if len(rows) < messages.CATCH_UP_MAX:
                return
            last_id = rows[-1]["id"]

    # -- incoming ------------------------------------------------------------
    async def on_message(self, raw) -> None:
        """One client frame; Tornado reads the next only after this returns (one at a time)."""
        if self.session is None:
            return
        try:
            frame = json.loads(raw) if isinstance(raw, str) else None
        except ValueError:
            frame = None
        if not isinstance(frame, dict) or frame.get("type") not in ("send", "read"):
            self.error("无法识别的消息格式")
            return
        conversation_id = frame.get("conversation_id")
        if not isinstance(conversation_id, int) or isinstance(conversation_id, bool) or conversation_id <= 0:
            self.error("缺少会话编号")
            return
        try:
            if not await self.session_alive():
                self.close(CLOSE_UNAUTHORIZED, "session ended")
                return
            if frame["type"] == "send":
                await self.on_send(conversation_id, frame)
            else:
                await self.on_read(conversation_id, frame)
        except messages.ConversationNotFound:
            self.error("对话不存在")
        except Exception as exc:
            if not dependency_down(exc):
                log.exception("socket frame of user %s failed", self.user_id)
                self.error("出错了，请稍后再试")
                return
            log.warning("socket frame of user %s: %s", self.user_id, exc)
            self.error("服务暂时不可用，请稍后再试")

    async def session_alive(self) -> bool:
        """True while the socket's session exists; Redis away → asks the revocation log in MariaDB."""
        try:
            return await self.application.sessions.get(self.session.token, touch=False) is not None
        except REDIS_DOWN:
            log_ = self.application.sessions.revocations
            return True if log_ is None else await log_.allows(self.session)

    async def on_send(self, conversation_id: int, frame: dict) -> None:
        body, client_id = frame.get("body"), frame.get("client_id")
        if client_id is not None and (not isinstance(client_id, str) or len(client_id) > 64):
            self.error("client_id 须为不超过 64 个字符的字符串")
            return
        if not isinstance(body, str):
            self.error(BODY_ERRORS["empty"])
            return
        try:
            messages.clean_body(body)
        except messages.BodyInvalid as exc:
            self.send_json({"type": "error", "message": BODY_ERRORS[exc.code], "client_id": client_id})
            return
        # Only a party may write: a stranger is told "not found" before any limit is spent
        # (parties never change, so each conversation is looked up once per socket).
        if conversation_id not in self.conversations:
            await messages.get_conversation(self.application.db, conversation_id, self.user_id)
            if len(self.conversations) < 1000:
                self.conversations.add(conversation_id)
        if not await self.application.send_limiter.allow(self.user_id):
            self.send_json({"type": "error", "message": TOO_FAST, "client_id": client_id})
            return
        conv, message = await messages.send(self.application.db, conversation_id, self.user_id, body)
        await deliver_message(self.application, conv, message, client_id)

    async def on_read(self, conversation_id: int, frame: dict) -> None:
        message_id = frame.get("message_id")
        if message_id is not None and (not isinstance(message_id, int) or isinstance(message_id, bool)
                                       or message_id < 0):
            self.error("message_id 须为非负整数")
            return
        await messages.mark_read(self.application.db, conversation_id, self.user_id, message_id)
        await self.application.delivery.send(self.user_id,
                                             await unread_frame(self.application, self.user_id, conversation_id))


class SocketHub:
    """The per-user socket limit (all processes) and the periodic session sweep of this process.

    *app* gives ``redis``, ``sessions``, ``delivery`` and ``config`` (``ws_max_per_user``,
    ``ws_session_check`` seconds).
    """

    def __init__(self, app):
        self.app = app
        self.process = secrets.token_hex(6)
        self._task: asyncio.Task | None = None
        self._cleanups: set[asyncio.Task] = set()
        self._closed: list[WebSocket] = []
        self._releaser: asyncio.Task | None = None

    def member(self, socket: WebSocket) -> str:
        return f"{self.process}:{socket.key}"

    def _ttl(self) -> float:
        return 3 * self.app.config.ws_session_check

    async def claim(self, socket: WebSocket) -> bool:
        """Count *socket* against its user's limit; False when the user already has the maximum."""
        limit = self.app.config.ws_max_per_user
        if limit <= 0:
            return True
        now = time.time()
        try:
            return bool(await self.app.redis.eval(_CLAIM, 1, SOCKETS_KEY + str(socket.user_id), now,
                                                  now + self._ttl(), self.member(socket), limit))
        except REDIS_DOWN:
            return len(self.app.delivery.sockets.get(socket.user_id, ())) < limit

    async def release(self, sockets: list[WebSocket]) -> None:
        """Give the *sockets*' slots back (one pipelined round trip) and unsubscribe the users
        who have no socket left here (one command)."""
        await self.app.delivery.remove_many(sockets)
        try:
            async with self.app.redis.pipeline(transaction=False) as pipe:
                for socket in sockets:
                    pipe.zrem(SOCKETS_KEY + str(socket.user_id), self.member(socket))
                await pipe.execute()
        except REDIS_DOWN:
            pass  # the entries expire by their score

    def forget(self, socket: WebSocket) -> None:
        """A socket closed: :meth:`release` it soon, in a batch with the others that closed
        meanwhile (a thousand tabs closing at once cost a few Redis round trips, not a
        thousand pooled connections); awaited by :meth:`close`."""
        self._closed.append(socket)
        if self._releaser is None or self._releaser.done():
            self._releaser = asyncio.get_running_loop().create_task(self._release_closed())
            self._cleanups.add(self._releaser)
            self._releaser.add_done_callback(self._cleanups.discard)

    async def _release_closed(self) -> None:
        while self._closed:
            batch, self._closed = self._closed[:1000], self._closed[1000:]
            try:
                await self.release(batch)
            except Exception:
                log.exception("releasing %d closed socket(s) failed", len(batch))

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._sweep_forever())

    async def close(self) -> None:
        """At shutdown: close the sockets still open (1001), give their slots back, stop the sweep."""
        for socket in self.app.delivery.all_sockets():
            socket.close(1001, "server shutting down")
            if socket.registered:
                socket.registered = False
                self.forget(socket)
        if self._cleanups:
            await asyncio.wait(list(self._cleanups), timeout=5)
        task, self._task = self._task, None
        await stop_task(task)

    def close_all(self) -> None:
        """Close every socket of this process with 1001 ("going away"), at shutdown."""
        for socket in self.app.delivery.all_sockets():
            socket.close(1001, "server shutting down")

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.app.config.ws_session_check)
            try:
                await self.sweep()
            except REDIS_DOWN as exc:
                log.info("socket sweep skipped: %s", exc)
            except Exception:
                log.exception("socket sweep failed")

    async def sweep(self) -> int:
        """Close (4401) the sockets whose session is gone and keep the others' limit entries
        alive; returns how many were closed. Two pipelined round trips for all sockets."""
        sockets = [s for s in self.app.delivery.all_sockets() if s.session is not None]
        if not sockets:
            return 0
        from services.sessions import SESSION_PREFIX
        async with self.app.redis.pipeline(transaction=False) as pipe:
            for socket in sockets:
                pipe.exists(SESSION_PREFIX + socket.session.token)
            alive = await pipe.execute()
        expiry = time.time() + self._ttl()
        closed = 0
        async with self.app.redis.pipeline(transaction=False) as pipe:
            for socket, exists in zip(sockets, alive):
                if exists:
                    pipe.zadd(SOCKETS_KEY + str(socket.user_id), {self.member(socket): expiry})
                else:
                    socket.close(CLOSE_UNAUTHORIZED, "session ended")
                    closed += 1
            await pipe.execute()
        return closed

    async def resume_all(self) -> None:
        """After the subscriber came back: every local socket catches up from its last message."""
        for socket in self.app.delivery.all_sockets():
            try:
                await socket.send_unread()
                if socket.last_id is not None:
                    await socket.catch_up(socket.last_id)
            except Exception as exc:
                if not dependency_down(exc):
                    raise
                return
