"""A listing's rating, denormalised on ``houses`` (rating_count, rating_sum, rating_avg).

Cards and the rating sort read these columns instead of aggregating ``reviews`` (one
index read at 100,000 listings); :func:`add` keeps them in step inside the transaction
that stores the review (models/orders.py ``review``), migration 0041 backfilled them.
"""

from __future__ import annotations

from models.db import Database, Transaction

RATING_MIN, RATING_MAX = 1, 5


async def add(tx: Transaction, house_id: int, rating: int) -> None:
    """Count one more review of *rating* (1–5) for *house_id*; call inside the review's transaction.

    rating_avg is assigned first, from the old count and sum, so the statement means the same
    whether MariaDB assigns left to right or simultaneously. Raises ValueError for a rating
    outside 1–5 (the caller validated it already; a bad one must not skew every card).
    """
    if not RATING_MIN <= rating <= RATING_MAX:
        raise ValueError(f"rating must be {RATING_MIN}–{RATING_MAX}, got {rating!r}")
    await tx.execute(
        "UPDATE houses SET rating_avg = ROUND((rating_sum + %s) / (rating_count + 1), 2), "
        "rating_count = rating_count + 1, rating_sum = rating_sum + %s WHERE id = %s",
        rating, rating, house_id)


def average(row: dict) -> float | None:
    """The mean rating of a row holding rating_count and rating_sum, to one decimal; None without reviews."""
    count = int(row.get("rating_count") or 0)
    if not count:
        return None
    return round(int(row["rating_sum"]) / count + 1e-9, 1)


async def recount(db: Database | Transaction, house_id: int) -> None:
    """Recompute *house_id*'s rating columns from ``reviews`` (repairs; the backfill's rule)."""
    await db.execute(
        "UPDATE houses h LEFT JOIN (SELECT house_id, COUNT(*) AS n, SUM(rating) AS total FROM reviews "
        "WHERE house_id = %s GROUP BY house_id) r ON r.house_id = h.id "
        "SET h.rating_count = COALESCE(r.n, 0), h.rating_sum = COALESCE(r.total, 0), "
        "h.rating_avg = COALESCE(ROUND(r.total / r.n, 2), 0) WHERE h.id = %s", house_id, house_id)
