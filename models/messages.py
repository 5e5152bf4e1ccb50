"""SQL for messaging: ``conversations``, ``messages`` and ``conversation_reads``.

A conversation belongs to one (listing, guest) pair; its parties are the guest and
the listing's host (``host_id``, the owner when it was opened). Every message is
written here, in a transaction, before anything delivers it (services/delivery.py
only carries what MariaDB already holds, so nothing acknowledged is ever lost).

Message ids only grow, across all conversations: a client that has seen id N asks
for ``id > N`` (:func:`since`) to catch up after a reconnect, and the inbox is
ordered by ``conversations.last_message_id``.

Unread counts are kept, not counted: each party has a ``conversation_reads`` row
whose ``unread`` is the number of messages from the other side after the last one
they read. A message adds one to the other party's row and zeroes the writer's (who
has obviously read the thread); reading sets it from a count of what is left. So the
header's total (:func:`unread_total`) is one range read of an index.

Locking: a write locks the conversation row first (``SELECT … FOR UPDATE``), so
messages of one conversation are written one at a time and ``last_message_id`` and the
counts never go backwards. Order events call :func:`order_event` inside the order's own
transaction, after it has locked the listing row; opening a conversation
(:func:`open_conversation`) locks the listing row first as well, so the two queue
up instead of deadlocking on the unique key.

System messages (order events) store a JSON object as their body, e.g.
``{"event": "booked", "order_id": 7, "check_in": "2026-12-01", …}``; the pages put it
into words (handlers/messages.py), so no user-visible sentence lives here.
"""

from __future__ import annotations

import datetime
import json
from dataclasses import dataclass

from models.db import Database, Transaction

MAX_BODY = 2000  # characters, after stripping
#: Order events and the party whose action each one records by default.
ORDER_EVENTS = {"booked": "guest", "accepted": "host", "rejected": "host", "cancelled": "guest",
                "reviewed": "guest", "expired": None}
MESSAGE_COLUMNS = "m.id, m.conversation_id, m.sender_id, m.actor_id, m.kind, m.body, m.created_at"
CATCH_UP_MAX = 200  # messages one catch-up returns at most (the client asks again from the last)


class MessageError(Exception):
    """Base of the neutral errors here; ``code`` says which one (handlers put it into words)."""

    code = "error"


class BodyInvalid(MessageError):
    """The text is empty after stripping (``code`` "empty") or longer than MAX_BODY ("too_long")."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


class ConversationNotFound(MessageError):
    """No such conversation, or the user is not one of its two parties (callers cannot tell which)."""

    code = "not_found"


class ContactRefused(MessageError):
    """A conversation cannot be opened: ``code`` "no_listing" (unknown, deleted or not public)
    or "own_listing" (the host writing to themselves)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


@dataclass(frozen=True)
class Conversation:
    """The parties of a conversation (ids)."""

    id: int
    house_id: int
    guest_id: int
    host_id: int

    def other(self, user_id: int) -> int:
        """The party that is not *user_id*."""
        return self.host_id if user_id == self.guest_id else self.guest_id

    @property
    def parties(self) -> tuple[int, int]:
        return (self.guest_id, self.host_id)


def clean_body(raw: str) -> str:
    """*raw* stripped; raises :class:`BodyInvalid` unless it is 1–MAX_BODY characters then."""
    body = (raw or "").strip()
    if not body:
        raise BodyInvalid("empty")
    if len(body) > MAX_BODY:
        raise BodyInvalid("too_long")
    return body


def message_dict(row: dict) -> dict:
    """A message row as the socket and the pages send it: created_at as ISO 8601 text."""
    created = row["created_at"]
    return {"id": int(row["id"]), "conversation_id": int(row["conversation_id"]),
            "sender_id": row["sender_id"], "actor_id": row.get("actor_id"), "kind": row["kind"],
            "body": row["body"],
            "created_at": created.isoformat() if isinstance(created, datetime.datetime) else str(created)}


async def _ensure(tx: Transaction, house_id: int, guest_id: int, host_id: int) -> int:
    """The id of the (house_id, guest_id) conversation, created with both parties' read rows
    the first time; the conversation row is locked (FOR UPDATE) when this returns."""
    find = "SELECT id FROM conversations WHERE house_id = %s AND guest_id = %s FOR UPDATE"
    conversation_id = await tx.scalar(find, house_id, guest_id)
    if conversation_id is not None:
        return int(conversation_id)
    # A twin may insert it meanwhile: the duplicate becomes a no-op (not INSERT IGNORE, whose
    # warning would also hide a broken foreign key).
    await tx.execute("INSERT INTO conversations (house_id, guest_id, host_id) VALUES (%s, %s, %s) "
                     "ON DUPLICATE KEY UPDATE id = id", house_id, guest_id, host_id)
    conversation_id = await tx.scalar(find, house_id, guest_id)
    await tx.executemany(
        "INSERT INTO conversation_reads (conversation_id, user_id) VALUES (%s, %s) "
        "ON DUPLICATE KEY UPDATE user_id = user_id",
        [(conversation_id, guest_id), (conversation_id, host_id)])
    return int(conversation_id)


async def open_conversation(db: Database, house_id: int, guest_id: int) -> int:
    """The conversation of *guest_id* about *house_id*, created the first time; returns its id.

    The listing must be online (raises :class:`ContactRefused` "no_listing" otherwise, or
    when unknown) and not the guest's own ("own_listing"). An existing conversation is
    returned whatever the listing's state now.
    """
    async with db.transaction() as tx:
        house = await tx.queryone("SELECT id, owner_id, status FROM houses WHERE id = %s FOR UPDATE", house_id)
        if house is None or house["status"] == "deleted":
            raise ContactRefused("no_listing")
        if house["owner_id"] == guest_id:
            raise ContactRefused("own_listing")
        existing = await tx.scalar("SELECT id FROM conversations WHERE house_id = %s AND guest_id = %s",
                                   house_id, guest_id)
        if existing is not None:
            return int(existing)
        if house["status"] != "online":
            raise ContactRefused("no_listing")
        return await _ensure(tx, house_id, guest_id, house["owner_id"])


async def _add(tx: Transaction, conv: Conversation, *, sender_id: int | None, actor_id: int | None,
               kind: str, body: str) -> dict:
    """Insert a message into *conv* (locked by the caller) and move the counts; returns the message.
    Four statements: the message, last_message_id, and both parties' read rows in one UPDATE."""
    created = datetime.datetime.now().replace(microsecond=0)
    message_id = await tx.insert(
        "INSERT INTO messages (conversation_id, sender_id, actor_id, kind, body, created_at) "
        "VALUES (%s, %s, %s, %s, %s, %s)", conv.id, sender_id, actor_id, kind, body, created)
    await tx.execute("UPDATE conversations SET last_message_id = %s WHERE id = %s", message_id, conv.id)
    author = sender_id if sender_id is not None else actor_id
    # The writer has read everything up to their own message; the other party has one more unread.
    await tx.execute(
        "UPDATE conversation_reads SET last_read_message_id = IF(user_id <=> %s, %s, last_read_message_id), "
        "unread = IF(user_id <=> %s, 0, unread + 1) WHERE conversation_id = %s",
        author, message_id, author, conv.id)
    return message_dict({"id": message_id, "conversation_id": conv.id, "sender_id": sender_id,
                         "actor_id": actor_id, "kind": kind, "body": body, "created_at": created})


async def _locked(tx: Transaction, conversation_id: int) -> Conversation | None:
    row = await tx.queryone("SELECT id, house_id, guest_id, host_id FROM conversations WHERE id = %s FOR UPDATE",
                            conversation_id)
    return Conversation(**{k: int(v) for k, v in row.items()}) if row else None


async def send(db: Database, conversation_id: int, sender_id: int, body: str) -> tuple[Conversation, dict]:
    """Store a text message of *sender_id* in the conversation: (the conversation, the message dict).

    *body* is cleaned by :func:`clean_body` (raises :class:`BodyInvalid`); raises
    :class:`ConversationNotFound` when there is no such conversation or *sender_id* is
    not a party. One transaction: the message, ``last_message_id`` and both unread rows.
    """
    text = clean_body(body)
    async with db.transaction() as tx:
        conv = await _locked(tx, conversation_id)
        if conv is None or sender_id not in conv.parties:
            raise ConversationNotFound(conversation_id)
        message = await _add(tx, conv, sender_id=sender_id, actor_id=None, kind="text", body=text)
    return conv, message


async def order_event(tx: Transaction, order_id: int, event: str, by: str | None = None) -> dict:
    """Write the system message of an order event, inside the order's own transaction.

    *event* is a key of ORDER_EVENTS; *by* ("guest" | "host" | None) is whose action it
    was (default: ORDER_EVENTS[event]). The conversation of the order's (listing, guest)
    is created when it does not exist yet, so every booking has one. The body is JSON:
    the event, the order id, and what the event needs (dates, nights, total in fen;
    the rejection's reason; the review's rating). Returns the message dict.
    """
    if event not in ORDER_EVENTS:
        raise ValueError(f"unknown order event {event!r}")
    by = ORDER_EVENTS[event] if by is None else by
    order = await tx.queryone(
        "SELECT o.id, o.house_id, o.guest_id, o.check_in, o.check_out, o.nights, o.amount_fen, o.reject_reason, "
        "h.owner_id, (SELECT rating FROM reviews r WHERE r.order_id = o.id) AS rating "
        "FROM orders o JOIN houses h ON h.id = o.house_id WHERE o.id = %s", order_id)
    conversation_id = await _ensure(tx, order["house_id"], order["guest_id"], order["owner_id"])
    conv = await _locked(tx, conversation_id)
    data: dict = {"event": event, "order_id": int(order["id"]), "by": by}
    if event == "booked":
        data.update(check_in=order["check_in"].isoformat(), check_out=order["check_out"].isoformat(),
                    nights=int(order["nights"]), amount_fen=int(order["amount_fen"]))
    elif event == "rejected":
        data["reason"] = order["reject_reason"] or ""
    elif event == "reviewed" and order["rating"] is not None:
        data["rating"] = int(order["rating"])
    actor = {"guest": conv.guest_id, "host": conv.host_id}.get(by or "")
    return await _add(tx, conv, sender_id=None, actor_id=actor, kind="system",
                      body=json.dumps(data, ensure_ascii=False))


async def get_conversation(db: Database, conversation_id: int, user_id: int) -> Conversation:
    """The conversation when *user_id* is one of its parties; raises :class:`ConversationNotFound`."""
    row = await db.queryone("SELECT id, house_id, guest_id, host_id FROM conversations WHERE id = %s",
                            conversation_id)
    if row is None or user_id not in (row["guest_id"], row["host_id"]):
        raise ConversationNotFound(conversation_id)
    return Conversation(**{k: int(v) for k, v in row.items()})


async def conversation_page(db: Database, conv: Conversation) -> dict:
    """What the thread page shows beside the messages: the listing (id, title, price_fen,
    cover_key, status), both parties (name, avatar_key) and the latest order of this
    guest on this listing (id, status, check_in, check_out, amount_fen) or None."""
    house = await db.queryone(
        "SELECT h.id, h.title, h.price_fen, h.status, "
        "(SELECT storage_key FROM house_images i WHERE i.id = h.cover_image_id) AS cover_key "
        "FROM houses h WHERE h.id = %s", conv.house_id)
    people = await db.query("SELECT id, name, avatar_key FROM users WHERE id IN (%s, %s)",
                            conv.guest_id, conv.host_id)
    order = await db.queryone(
        "SELECT id, status, check_in, check_out, nights, amount_fen FROM orders "
        "WHERE guest_id = %s AND house_id = %s ORDER BY id DESC LIMIT 1", conv.guest_id, conv.house_id)
    return {"house": house, "people": {int(p["id"]): p for p in people}, "order": order}


async def thread(db: Database, conversation_id: int, *, before: int | None = None, limit: int = 50) -> list[dict]:
    """Up to *limit* messages of the conversation, oldest first: the newest ones, or the
    newest ones with an id below *before* ("earlier messages")."""
    if before is None:
        rows = await db.query(f"SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = %s "
                              "ORDER BY m.id DESC LIMIT %s", conversation_id, limit)
    else:
        rows = await db.query(f"SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = %s "
                              "AND m.id < %s ORDER BY m.id DESC LIMIT %s", conversation_id, before, limit)
    return [message_dict(r) for r in reversed(rows)]


async def since(db: Database, user_id: int, after_id: int, limit: int = CATCH_UP_MAX) -> list[dict]:
    """The messages of all of *user_id*'s conversations with an id above *after_id*, oldest
    first, at most *limit* (a reconnecting client's catch-up)."""
    rows = await db.query(
        f"SELECT {MESSAGE_COLUMNS} FROM conversation_reads r "
        "JOIN messages m ON m.conversation_id = r.conversation_id AND m.id > %s "
        "WHERE r.user_id = %s ORDER BY m.id LIMIT %s", after_id, user_id, limit)
    return [message_dict(r) for r in rows]


async def mark_read(db: Database, conversation_id: int, user_id: int, message_id: int | None = None) -> int:
    """Mark the conversation read by *user_id* up to *message_id* (default: its last message);
    returns the conversation's unread count for the user afterwards. Never moves backwards.
    Raises :class:`ConversationNotFound` when *user_id* is not a party."""
    async with db.transaction() as tx:
        conv = await _locked(tx, conversation_id)
        if conv is None or user_id not in conv.parties:
            raise ConversationNotFound(conversation_id)
        last = await tx.scalar("SELECT last_message_id FROM conversations WHERE id = %s", conversation_id)
        upto = int(last or 0) if message_id is None else min(int(message_id), int(last or 0))
        current = await tx.scalar("SELECT last_read_message_id FROM conversation_reads "
                                  "WHERE conversation_id = %s AND user_id = %s", conversation_id, user_id)
        upto = max(upto, int(current or 0))
        left = await tx.scalar(
            "SELECT COUNT(*) FROM messages WHERE conversation_id = %s AND id > %s "
            "AND NOT (COALESCE(sender_id, actor_id, 0) <=> %s)", conversation_id, upto, user_id)
        await tx.execute("UPDATE conversation_reads SET last_read_message_id = %s, unread = %s "
                         "WHERE conversation_id = %s AND user_id = %s", upto, int(left), conversation_id, user_id)
    return int(left)


async def unread_total(db: Database, user_id: int) -> int:
    """The user's unread messages over all conversations (one range read of ix_reads_unread)."""
    total = await db.scalar("SELECT COALESCE(SUM(unread), 0) FROM conversation_reads "
                            "WHERE user_id = %s AND unread > 0", user_id)
    return int(total or 0)


async def unread_of(db: Database, conversation_id: int, user_id: int) -> int:
    """The user's unread count in one conversation (0 when not a party)."""
    value = await db.scalar("SELECT unread FROM conversation_reads WHERE conversation_id = %s AND user_id = %s",
                            conversation_id, user_id)
    return int(value or 0)


async def inbox(db: Database, user_id: int, *, limit: int, offset: int = 0) -> tuple[list[dict], int]:
    """The user's conversations that have messages, newest first: (rows, total). Each row:
    id, house_id, guest_id, host_id, last_message_id, unread, house_title, cover_key,
    other_id, other_name, other_avatar_key, and the last message's kind, body, created_at."""
    total = await db.scalar(
        "SELECT (SELECT COUNT(*) FROM conversations WHERE guest_id = %s AND last_message_id IS NOT NULL) + "
        "(SELECT COUNT(*) FROM conversations WHERE host_id = %s AND last_message_id IS NOT NULL)", user_id, user_id)
    rows = await db.query(
        "SELECT c.id, c.house_id, c.guest_id, c.host_id, c.last_message_id, r.unread, h.title AS house_title, "
        "(SELECT storage_key FROM house_images i WHERE i.id = h.cover_image_id) AS cover_key, "
        "u.id AS other_id, u.name AS other_name, u.avatar_key AS other_avatar_key, "
        "m.kind, m.body, m.created_at, m.sender_id "
        "FROM (SELECT id, last_message_id FROM conversations WHERE guest_id = %s AND last_message_id IS NOT NULL "
        "      UNION ALL "
        "      SELECT id, last_message_id FROM conversations WHERE host_id = %s AND last_message_id IS NOT NULL "
        "      ORDER BY last_message_id DESC LIMIT %s OFFSET %s) AS page "
        "JOIN conversations c ON c.id = page.id "
        "JOIN conversation_reads r ON r.conversation_id = c.id AND r.user_id = %s "
        "JOIN houses h ON h.id = c.house_id "
        "JOIN users u ON u.id = IF(c.guest_id = %s, c.host_id, c.guest_id) "
        "JOIN messages m ON m.id = c.last_message_id "
        "ORDER BY c.last_message_id DESC",
        user_id, user_id, limit, offset, user_id, user_id)
    return rows, int(total or 0)


async def latest_system_of_order(db: Database, order_id: int) -> tuple[Conversation, dict] | None:
    """(conversation, its newest system message) of the order's (listing, guest) pair, or None;
    for announcing an order event live once its transaction has committed."""
    conv = await db.queryone(
        "SELECT c.id, c.house_id, c.guest_id, c.host_id FROM orders o "
        "JOIN conversations c ON c.house_id = o.house_id AND c.guest_id = o.guest_id WHERE o.id = %s", order_id)
    if conv is None:
        return None
    row = await db.queryone(f"SELECT {MESSAGE_COLUMNS} FROM messages m WHERE m.conversation_id = %s "
                            "AND m.kind = 'system' ORDER BY m.id DESC LIMIT 1", conv["id"])
    if row is None:
        return None
    return Conversation(**{k: int(v) for k, v in conv.items()}), message_dict(row)
