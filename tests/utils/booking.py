"""A host with a listing and a guest, each logged in with their own browser, for the booking tests."""

from __future__ import annotations

from types import SimpleNamespace

from tests.utils.dates import iso
from tests.utils.factories import make_house, make_user
from tests.utils.pages import order_id_of


async def make_party(app, login, new_client, **house_overrides) -> SimpleNamespace:
    """landlord, guest, stranger (users), house (row), lc/gc/sc (their logged-in browsers),
    anon (a browser without a session) and ``await p.order(sd, ed, guests=1)`` → a new order id
    (day offsets from today; asserts the booking went through)."""
    landlord, guest, stranger = await make_user(app), await make_user(app), await make_user(app)
    house = await make_house(app, landlord, **house_overrides)
    p = SimpleNamespace(landlord=landlord, guest=guest, stranger=stranger, house=house,
                        lc=new_client(), gc=new_client(), sc=new_client(), anon=new_client())
    await login(p.lc, landlord)
    await login(p.gc, guest)
    await login(p.sc, stranger)

    async def book(sd: int, ed: int, guests: int | str = 1, client=None):
        return await (client or p.gc).post(f"/houses/{house['id']}/book",
                                            {"sd": iso(sd), "ed": iso(ed), "guests": str(guests)})

    async def order(sd: int, ed: int, guests: int | str = 1) -> int:
        return order_id_of(await book(sd, ed, guests))

    p.book, p.order = book, order
    return p


async def move_stay(app, order_id: int, check_in, check_out) -> None:
    """Set an order's dates through the database (the tests' way of letting time pass)."""
    await app.db.execute("UPDATE orders SET check_in = %s, check_out = %s WHERE id = %s",
                         check_in, check_out, order_id)
