"""Rows for tests, made through the production model functions so they cannot drift.

Users come from models/users.py ``create`` (its random default name), the real-name
fields from models/profile.py (the ID card encrypted as the site stores it), a
disabled account from models/admin.py; listings from models/houses.py ``create``.
Each factory writes in one transaction and returns the stored row.
"""

from __future__ import annotations

import itertools

from models import admin as admin_model
from models import houses as houses_model
from models import profile as profile_model
from models import users as users_model
from services.passwords import hash_password

PASSWORD = "Test#pass2024"
VALID_ID_CARD = "11010519491231002X"
REAL_NAME = "测试用户"
# Mobiles only need to be unique within one test (every test starts from empty tables);
# 139… never meets the 137…/138… numbers some tests spell out.
_mobiles = itertools.count(13900000001)
# bcrypt cost → the hash of PASSWORD at that cost: one hash per cost per process.
_password_hashes: dict[int, str] = {}


async def password_hash(rounds: int) -> str:
    """A bcrypt hash of PASSWORD at cost *rounds* (the app's ``config.bcrypt_rounds``), made once."""
    if rounds not in _password_hashes:
        _password_hashes[rounds] = await hash_password(PASSWORD, rounds)
    return _password_hashes[rounds]


def next_mobile() -> str:
    """An 11-digit mobile number no other call in this process returns."""
    return str(next(_mobiles))


async def make_user(app, *, mobile: str | None = None, name: str | None = None, verified: bool = True,
                    admin: bool = False, active: bool = True) -> dict:
    """Create an account whose password is PASSWORD, as sign-up and the profile pages would.

    *name* defaults to the site's random default name; *verified* records the real
    name REAL_NAME and VALID_ID_CARD; *admin* and *active* set the flags.
    Returns the ``users`` row (``password_hash`` included, ``id_card`` encrypted).
    """
    hashed = await password_hash(app.config.bcrypt_rounds)
    async with app.db.transaction() as tx:
        user_id = await users_model.create(tx, mobile or next_mobile(), hashed, is_admin=admin)
        if name is not None:
            await profile_model.set_name(tx, user_id, name)
        if verified:
            await profile_model.set_real_name(tx, user_id, REAL_NAME, VALID_ID_CARD, app.cipher)
        if not active:
            await admin_model.set_user_active(tx, user_id, False)
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
