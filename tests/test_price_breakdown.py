"""One price breakdown wherever money is shown: nights × nightly price = subtotal, the deposit
(押金) as a separate refundable hold stored on the order at booking time, and the total due —
on the booking card (server-rendered, no JS needed), the order page and my orders."""

from __future__ import annotations

import pytest

from services.pricing import Breakdown, breakdown
from tests.utils.booking import make_party
from tests.utils.client import text
from tests.utils.dates import iso


@pytest.fixture
def party(app, login, new_client):
    return lambda **overrides: make_party(app, login, new_client, **overrides)


def test_breakdown_in_fen():
    assert breakdown(28850, 3, 50000) == Breakdown(nights=3, price_fen=28850, subtotal_fen=86550,
                                                   deposit_fen=50000, total_fen=136550)
    assert breakdown(100, 1) == Breakdown(1, 100, 100, 0, 100)


@pytest.mark.parametrize("args", [(100, 0, 0), (-1, 1, 0), (100, 1, -5)])
def test_breakdown_refuses_nonsense(args):
    with pytest.raises(ValueError):
        breakdown(*args)


def breakdown_lines(body: str) -> tuple[str, str, str]:
    """(subtotal, deposit, total) as the full breakdown module shows them."""
    def cell(cls: str) -> str:
        return body.split(f"{cls}\">", 1)[1].split("<", 1)[0]
    return cell("price-subtotal"), cell("price-deposit"), cell("price-total")


@pytest.mark.gen_test
async def test_deposit_is_stored_at_booking_time_and_shown_everywhere(app, party):
    p = await party(price_fen=28850, deposit_fen=50000)
    response = await p.book(1, 4)
    order_id = int(response.headers["Location"].rsplit("/", 1)[1])
    row = await app.db.queryone("SELECT amount_fen, deposit_fen FROM orders WHERE id = %s", order_id)
    assert (row["amount_fen"], row["deposit_fen"]) == (86550, 50000)
    # The listing's deposit changes later: the order keeps what the guest agreed to.
    await app.db.execute("UPDATE houses SET deposit_fen = 99900 WHERE id = %s", p.house["id"])
    page = text(await p.gc.get(f"/orders/{order_id}"))
    assert "预订已提交：3 晚，共 ¥865.50，另付押金 ¥500，等待房东确认" in page
    assert "¥288.50 × 3 晚" in page
    assert breakdown_lines(page) == ("¥865.50", "¥500", "¥1365.50")
    assert "押金<span class=\"text-muted\">（退房后退还）</span>" in page
    assert breakdown_lines(text(await p.lc.get(f"/orders/{order_id}"))) == ("¥865.50", "¥500", "¥1365.50")
    mine = text(await p.gc.get("/my/orders?role=guest"))
    assert ("¥288.50 × 3 晚 = ¥865.50 + 押金 ¥500（可退） · 应付 <strong class=\"price-total\">¥1365.50</strong>"
            in mine)
    assert "应付 <strong class=\"price-total\">¥1365.50</strong>" in text(await p.lc.get("/my/orders?role=landlord"))


@pytest.mark.gen_test
async def test_no_deposit_still_shows_the_line(app, party):
    p = await party(price_fen=20000, deposit_fen=0)
    order_id = await p.order(1, 2)
    assert breakdown_lines(text(await p.gc.get(f"/orders/{order_id}"))) == ("¥200", "¥0", "¥200")


@pytest.mark.gen_test
async def test_booking_card_renders_the_breakdown_without_javascript(app, party):
    p = await party(price_fen=30000, deposit_fen=80000, min_days=1)
    bare = text(await p.anon.get(f"/houses/{p.house['id']}"))
    assert 'class="row small mb-0 price-breakdown"' not in bare
    assert "选择日期后显示总价（另收押金 ¥800，退房后退还）" in bare
    assert 'id="deposit-note">押金 ¥800（入住时收取，退房后退还）' in bare
    dated = text(await p.anon.get(f"/houses/{p.house['id']}?sd={iso(2)}&ed={iso(4)}"))
    assert breakdown_lines(dated) == ("¥600", "¥800", "¥1400")
    assert "¥300 × 2 晚" in dated
    # After a refused booking the card shows the breakdown of what was typed, with the error.
    refused = await p.gc.post(f"/houses/{p.house['id']}/book", {"sd": iso(2), "ed": iso(5), "guests": "9"})
    assert refused.code == 400
    assert breakdown_lines(text(refused)) == ("¥900", "¥800", "¥1700")
