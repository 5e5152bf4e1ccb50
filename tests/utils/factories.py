"""Rows for tests, written straight to the real test database."""

from __future__ import annotations

import functools
import itertools

import bcrypt

from models import houses as houses_model

PASSWORD = "Test#pass2024"
VALID_ID_CARD = "11010519491231002X"
_mobiles = itertools.count(13900000001)


@functools.lru_cache(maxsize=1)
def password_hash() -> str:
    """One real bcrypt (cost 12) hash of PASSWORD, computed once per test run."""
    return bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=12)).decode()


def next_mobile() -> str:
    return str(next(_mobiles))


async def make_user(app, *, mobile: str | None = None, name: str | None = None, verified: bool = True,
                    admin: bool = False, active: bool = True) -> dict:
    """Insert a user whose password is PASSWORD; returns the row."""
    mobile = mobile or next_mobile()
    user_id = await app.db.insert(
        "INSERT INTO users (mobile, name, password_hash, real_name, id_card, is_admin, is_active) "
        "VALUES (%s, %s, %s, %s, %s, %s, %s)",
        mobile, name or mobile, password_hash(), "测试用户" if verified else None,
        VALID_ID_CARD if verified else None, int(admin), int(active))
    return await app.db.queryone("SELECT * FROM users WHERE id = %s", user_id)


HOUSE_DEFAULTS = dict(title="测试房源", description="安静整洁", price_fen=28800, area_id=110105,
                      address="朝阳区测试路 1 号", room_count=2, acreage=60, unit="两室一厅", capacity=3,
                      beds="双人床", deposit_fen=50000, min_days=1, max_days=0)


async def make_house(app, owner: dict, *, status: str = "online", facilities=(1, 3), **overrides) -> dict:
    """Insert a listing of *owner* (defaults above, money in fen); returns the row."""
    values = {**HOUSE_DEFAULTS, **overrides}
    async with app.db.transaction() as tx:
        house_id = await houses_model.create(tx, owner["id"], values, list(facilities), status=status)
    return await app.db.queryone("SELECT * FROM houses WHERE id = %s", house_id)


def house_form(**overrides) -> dict:
    """A valid listing form as a browser posts it (money in yuan)."""
    form = dict(title="阳光两居室", description="近地铁", price="288", deposit="500", area_id="110105",
                address="朝阳区建国路 88 号", room_count="2", acreage="60", unit="两室一厅", capacity="3",
                beds="双人床", min_days="1", max_days="0")
    form.update(overrides)
    return form
