"""Messaging pages: 联系房东, the inbox, a thread; and the delivery of what they write.

- ``POST /houses/<id>/contact`` opens the (listing, guest) conversation → /messages/<id>.
- ``GET /messages?page=N`` the inbox, newest first.
- ``GET /messages/<id>?before=M`` a thread (marks it read); ``POST /messages/<id>`` (``body``)
  writes without JavaScript. Only the conversation's guest and host may open it: 404 for
  anyone else, admins included.

The same functions serve the WebSocket (handlers/ws.py): :func:`deliver_message` sends a
stored message to both parties' sockets in every process, with the other party's
unread counts; :func:`announce_order` does it for an order event once its transaction
committed. System messages are stored as JSON (models/messages.py) and put into words
here (:func:`system_text`).
"""

from __future__ import annotations

import json
import logging
import time
from collections import deque

import tornado.web

from handlers.base import REDIS_DOWN, BaseHandler, PageError, page_number, small_int
from handlers.display import public_name
from models import messages
from models.orders import STATUS_LABELS
from services.house_form import fen_to_yuan
from services.ratelimit import RateLimiter

log = logging.getLogger("ihome.messages")

PER_PAGE = 20
MAX_PAGE = 500
THREAD_PAGE = 50
PREVIEW_CHARS = 60
BODY_ERRORS = {"empty": "消息不能为空", "too_long": f"消息最多 {messages.MAX_BODY} 个字"}
CONTACT_ERRORS = {"no_listing": "房源不存在或未上线", "own_listing": "这是你自己的房源"}
TOO_FAST = "发送太频繁，请稍后再试"
BY = {"guest": "房客", "host": "房东"}


def system_text(body: str) -> str:
    """The Chinese sentence of a system message's JSON *body* (models.messages.order_event)."""
    try:
        data = json.loads(body)
        event = data["event"]
    except (ValueError, TypeError, KeyError):
        return "订单状态有更新"
    order = f"订单 #{data.get('order_id', '')}"
    if event == "booked":
        return (f"{order}：房客申请预订 {data.get('check_in')} 至 {data.get('check_out')}，"
                f"共 {data.get('nights')} 晚，总价 ¥{fen_to_yuan(int(data.get('amount_fen') or 0))}，等待房东确认")
    if event == "accepted":
        return f"{order}：房东已接单"
    if event == "rejected":
        return f"{order}：房东已拒绝，原因：{data.get('reason') or '未说明'}"
    if event == "cancelled":
        return f"{order}：{BY.get(data.get('by'), '')}已取消订单"
    if event == "reviewed":
        stars = f"（{data['rating']} 星）" if data.get("rating") else ""
        return f"{order}：房客已评价{stars}，本次入住完成"
    if event == "expired":
        return f"{order}：房东未在入住前确认，申请已过期"
    return f"{order}：状态有更新"


def display_body(message: dict) -> str:
    """What a page or a socket shows for *message*: its text, or the system sentence."""
    return system_text(message["body"]) if message["kind"] == "system" else message["body"]


def message_frame(message: dict, client_id: str | None = None) -> dict:
    """The server → client ``message`` frame of a stored *message* (README, WebSocket protocol)."""
    frame = {"type": "message", "conversation_id": message["conversation_id"], "id": message["id"],
             "sender_id": message["sender_id"], "kind": message["kind"], "body": display_body(message),
             "created_at": message["created_at"]}
    if client_id is not None:
        frame["client_id"] = client_id
    return frame


async def unread_frame(app, user_id: int, conversation_id: int) -> dict:
    """The ``unread`` frame of *user_id*: their total and their count in *conversation_id*."""
    return {"type": "unread", "total": await messages.unread_total(app.db, user_id),
            "conversation_id": conversation_id,
            "count": await messages.unread_of(app.db, conversation_id, user_id)}


async def deliver_message(app, conv: messages.Conversation, message: dict, client_id: str | None = None) -> None:
    """Send a stored *message* live to both parties (every socket, every process) and the
    new unread counts to the party who did not write it. Redis failing costs liveness only."""
    frame = message_frame(message, client_id)
    author = message["sender_id"] if message["sender_id"] is not None else message.get("actor_id")
    for user_id in conv.parties:
        await app.delivery.send(user_id, frame)
    for user_id in conv.parties:
        if user_id != author:
            await app.delivery.send(user_id, await unread_frame(app, user_id, conv.id))


async def announce_order(app, order_id: int) -> None:
    """Deliver the system message of the order event that just committed (see
    models.messages.order_event); called by the order handlers after the model call. Never raises:
    the event is stored, and a client that missed it catches up from MariaDB."""
    try:
        found = await messages.latest_system_of_order(app.db, order_id)
        if found is not None:
            await deliver_message(app, *found)
    except Exception:
        log.warning("order %s: live announcement failed", order_id, exc_info=True)


class SendLimiter:
    """At most ``limit`` messages per user per 60 s (``IHOME_LIMIT_MESSAGE_PER_MINUTE``), shared by
    all processes through Redis; while Redis is away each process counts on its own, so sending
    (stored in MariaDB) keeps working and stays bounded."""

    WINDOW = 60

    def __init__(self, redis, limit: int):
        self.limiter = RateLimiter(redis)
        self.limit = limit
        self.local: dict[int, deque] = {}

    async def allow(self, user_id: int) -> bool:
        """Reserve one message for *user_id*; False when over the limit."""
        if self.limit <= 0:
            return True
        try:
            return (await self.limiter.acquire("message:user", str(user_id), self.limit, self.WINDOW)).allowed
        except REDIS_DOWN as exc:
            log.info("message limit counted in-process (Redis away): %s", exc)
        now = time.monotonic()
        times = self.local.setdefault(user_id, deque())
        while times and now - times[0] >= self.WINDOW:
            times.popleft()
        if len(self.local) > 10000:  # bounded: forget the quiet ones
            for uid in [u for u, t in self.local.items() if not t]:
                del self.local[uid]
        if len(times) >= self.limit:
            return False
        times.append(now)
        return True


def inbox_row(row: dict, user_id: int) -> dict:
    """An inbox row with what the template shows: the other party's public name and the cut preview."""
    text = display_body(row)
    row["preview"] = text if len(text) <= PREVIEW_CHARS else text[:PREVIEW_CHARS] + "…"
    row["other_public_name"] = public_name(row["other_name"])
    row["mine"] = row["sender_id"] == user_id
    return row


class ContactHandler(BaseHandler):
    """POST /houses/<id>/contact: open the conversation with the listing's host → /messages/<id>.
    A visitor who is not logged in is sent to the login form, back to the listing after."""

    async def post(self, house_id: str) -> None:
        if not self.current_user:
            self.redirect(f"/login?next=/houses/{int(house_id)}")
            return
        try:
            conversation_id = await messages.open_conversation(self.db, int(house_id), self.current_user.id)
        except messages.ContactRefused as exc:
            raise PageError(404 if exc.code == "no_listing" else 403, CONTACT_ERRORS[exc.code])
        self.redirect(f"/messages/{conversation_id}")


class InboxHandler(BaseHandler):
    """GET /messages?page=N: the user's conversations, newest first, with unread counts."""

    @tornado.web.authenticated
    async def get(self) -> None:
        page = page_number(self.arg("page", 10), MAX_PAGE)
        user_id = self.current_user.id
        rows, total = await messages.inbox(self.db, user_id, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
        self.render("messages/inbox.html", rows=[inbox_row(r, user_id) for r in rows], page=page,
                    pages=max(1, -(-total // PER_PAGE)), total=total)


class ThreadHandler(BaseHandler):
    """GET /messages/<id>: the thread (oldest first, ``before`` pages back), marked read;
    POST /messages/<id> (``body``): write without JavaScript, then back to the thread."""

    async def conversation(self, conversation_id: str) -> messages.Conversation:
        try:
            return await messages.get_conversation(self.db, int(conversation_id), self.current_user.id)
        except messages.ConversationNotFound:
            raise PageError(404, "对话不存在")

    @tornado.web.authenticated
    async def get(self, conversation_id: str) -> None:
        conv = await self.conversation(conversation_id)
        await self.show(conv)

    async def show(self, conv: messages.Conversation, *, status: int = 200, error: str | None = None,
                   body: str = "") -> None:
        before = small_int(self.get_argument("before", None))
        rows = await messages.thread(self.db, conv.id, before=before, limit=THREAD_PAGE + 1)
        earlier = len(rows) > THREAD_PAGE
        rows = rows[-THREAD_PAGE:]
        user_id = self.current_user.id
        if before is None:  # the newest page is what "read" means
            await messages.mark_read(self.db, conv.id, user_id)
            await self.application.delivery.send(user_id, await unread_frame(self.application, user_id, conv.id))
        extra = await messages.conversation_page(self.db, conv)
        other = extra["people"].get(conv.other(user_id)) or {"name": "", "avatar_key": None}
        order = extra["order"]
        self.set_status(status)
        self.render("messages/thread.html", conv=conv, rows=rows, earlier=earlier, house=extra["house"],
                    other=other, other_name=public_name(other["name"]), order=order,
                    order_label=STATUS_LABELS.get(order["status"], order["status"]) if order else "",
                    role="guest" if user_id == conv.guest_id else "host", display_body=display_body,
                    error=error, body=body, max_body=messages.MAX_BODY,
                    last_id=rows[-1]["id"] if rows else 0)

    async def post(self, conversation_id: str) -> None:
        if not self.current_user:
            raise PageError(403, "请先登录")
        conv = await self.conversation(conversation_id)
        body = self.arg("body", messages.MAX_BODY * 2)
        try:
            messages.clean_body(body)
        except messages.BodyInvalid as exc:
            await self.show(conv, status=400, error=BODY_ERRORS[exc.code], body=body)
            return
        if not await self.application.send_limiter.allow(self.current_user.id):
            self.set_header("Retry-After", str(SendLimiter.WINDOW))
            await self.show(conv, status=429, error=TOO_FAST, body=body)
            return
        conv, message = await messages.send(self.db, conv.id, self.current_user.id, body)
        await deliver_message(self.application, conv, message)
        self.redirect(f"/messages/{conv.id}#m{message['id']}")
