"""The public host page's queries (``GET /users/<id>``): who the host is, their public
listings, the reviews their listings received and how quickly they answer guests.

Nothing private is read here: no mobile number, no real name, no ID card (only whether
the verification was done), no street address.
"""

from __future__ import annotations

import datetime

from models.db import Database
from models.search import PUBLIC, cards

MAX_LISTINGS = 60  # listings the page shows at most
REPLY_WINDOW = datetime.timedelta(hours=24)
RATE_CONVERSATIONS = 200  # the host's most recent conversations the response rate looks at


async def profile(db: Database, user_id: int) -> dict | None:
    """{id, name, avatar_key, verified (bool), created_at} of an active account; None for an
    unknown or disabled one (their page does not exist)."""
    row = await db.queryone(
        "SELECT id, name, avatar_key, (id_card IS NOT NULL) AS verified, created_at "
        "FROM users WHERE id = %s AND is_active = 1", user_id)
    if row is not None:
        row["verified"] = bool(row["verified"])
    return row


async def listings(db: Database, owner_id: int, limit: int = MAX_LISTINGS) -> list[dict]:
    """The public listing cards (models.search.CARD_COLUMNS) of *owner_id*, newest first
    (ix_houses_owner, then one card query for the page's ids)."""
    rows = await db.query(f"SELECT h.id FROM houses h WHERE h.owner_id = %s AND {PUBLIC} "
                          "ORDER BY h.created_at DESC, h.id DESC LIMIT %s", owner_id, limit)
    return await cards(db, [row["id"] for row in rows])


async def review_summary(db: Database, owner_id: int) -> dict:
    """{count, average}: the reviews of all of *owner_id*'s listings (whatever their status now),
    from the rating columns kept on ``houses`` (models/ratings.py); average to one decimal, None
    without reviews."""
    row = await db.queryone("SELECT COALESCE(SUM(rating_count), 0) AS n, COALESCE(SUM(rating_sum), 0) AS total "
                            "FROM houses WHERE owner_id = %s", owner_id)
    n = int(row["n"])
    return {"count": n, "average": round(int(row["total"]) / n + 1e-9, 1) if n else None}


async def recent_reviews(db: Database, owner_id: int, limit: int = 20) -> list[dict]:
    """The newest reviews of *owner_id*'s listings: [{rating, comment, created_at, author_name,
    author_avatar_key, house_id, house_title, house_public (bool)}]."""
    rows = await db.query(
        f"SELECT r.rating, r.comment, r.created_at, u.name AS author_name, u.avatar_key AS author_avatar_key, "
        f"h.id AS house_id, h.title AS house_title, ({PUBLIC}) AS house_public "
        "FROM houses h JOIN reviews r ON r.house_id = h.id JOIN users u ON u.id = r.author_id "
        "WHERE h.owner_id = %s ORDER BY r.created_at DESC, r.id DESC LIMIT %s", owner_id, limit)
    for row in rows:
        row["house_public"] = bool(row["house_public"])
    return rows


# The host's conversations by last activity (ix_conversations_host), each with its question's id,
# then the question by primary key and the reply: both ranges of ix_messages_conversation, forced —
# left alone MariaDB read the sender index (every message the host ever sent, once per conversation):
# 150–250 ms for 200 conversations of 5 messages, against 7–16 ms forced. Arguments: host id, limit.
RATE_SQL = (
    "SELECT m.created_at AS asked_at, (SELECT MIN(r.created_at) FROM messages r "
    "FORCE INDEX (ix_messages_conversation) WHERE r.conversation_id = q.cid AND r.id > q.ask_id "
    "AND r.kind = 'text' AND r.sender_id = q.host_id) AS replied_at "
    "FROM (SELECT c.id AS cid, c.host_id, (SELECT MIN(f.id) FROM messages f "
    "FORCE INDEX (ix_messages_conversation) WHERE f.conversation_id = c.id AND f.kind = 'text' "
    "AND f.sender_id = c.guest_id) AS ask_id "
    "FROM conversations c WHERE c.host_id = %s ORDER BY c.last_message_id DESC LIMIT %s) q "
    "JOIN messages m ON m.id = q.ask_id")


async def response_rate(db: Database, host_id: int, now: datetime.datetime) -> dict:
    """How often *host_id* answers a guest within 24 hours.

    Over the host's RATE_CONVERSATIONS most recently active conversations in which the guest wrote:
    the guest's first text message is the question, the host's first text message after it
    the answer (system messages of order events count as neither). A conversation counts once
    it was answered or its question is 24 hours old (a question asked an hour ago and not yet
    answered is still undecided). Returns {"counted": n, "answered": m (within 24 h),
    "percent": round(100 m / n) or None when n is 0}.
    """
    rows = await db.query(RATE_SQL, host_id, RATE_CONVERSATIONS)
    counted = answered = 0
    for row in rows:
        asked, replied = row["asked_at"], row["replied_at"]
        if replied is None and now - asked < REPLY_WINDOW:
            continue
        counted += 1
        if replied is not None and replied - asked <= REPLY_WINDOW:
            answered += 1
    return {"counted": counted, "answered": answered,
            "percent": round(100 * answered / counted) if counted else None}
