"""SQL for reading ``reviews`` (they are written by models.orders.review, which completes the order)."""

from __future__ import annotations

from models.db import Database


async def for_house(db: Database, house_id: int, limit: int = 50) -> list[dict]:
    """The newest reviews of *house_id*: [{id, rating, comment, created_at, author_name,
    author_avatar_key, check_in, nights}]."""
    return await db.query(
        "SELECT r.id, r.rating, r.comment, r.created_at, u.name AS author_name, "
        "u.avatar_key AS author_avatar_key, o.check_in, o.nights "
        "FROM reviews r JOIN users u ON u.id = r.author_id JOIN orders o ON o.id = r.order_id "
        "WHERE r.house_id = %s ORDER BY r.created_at DESC, r.id DESC LIMIT %s", house_id, limit)


async def summary(db: Database, house_id: int) -> dict:
    """{count, average}: how many reviews *house_id* has and their mean rating
    (a float rounded to one decimal, None without reviews)."""
    row = await db.queryone("SELECT COUNT(*) AS count, AVG(rating) AS average FROM reviews WHERE house_id = %s",
                            house_id)
    average = None if row["average"] is None else round(float(row["average"]), 1)
    return {"count": int(row["count"]), "average": average}
