"""GET /api/v1/houses with the search page's new parameters: guests, a whole city, the rating sort."""

from __future__ import annotations

import pytest

from models import ratings
from tests.utils.client import json_body
from tests.utils.factories import make_house, make_user


@pytest.mark.gen_test
async def test_api_cards_have_ratings_and_no_street_address(app, client):
    owner = await make_user(app)
    rated = await make_house(app, owner, address="朝阳区秘密路 9 号", neighbourhood="望京SOHO附近")
    plain = await make_house(app, owner, area_id=440305, capacity=6)
    async with app.db.transaction() as tx:
        await ratings.add(tx, rated["id"], 5)
        await ratings.add(tx, rated["id"], 4)
    body = json_body(await client.get("/api/v1/houses?sort=rating"))
    assert [h["id"] for h in body["houses"]] == [rated["id"], plain["id"]]
    first = body["houses"][0]
    assert first["rating_count"] == 2 and first["rating_average"] == 4.5
    assert body["houses"][1]["rating_average"] is None
    assert first["neighbourhood"] == "望京SOHO附近"
    assert all("address" not in h for h in body["houses"])
    assert "秘密路" not in (await client.get("/api/v1/houses")).body.decode()
    city = json_body(await client.get("/api/v1/houses?area_id=440300&guests=5"))
    assert [h["id"] for h in city["houses"]] == [plain["id"]]
    refused = await client.get("/api/v1/houses?guests=0")
    assert refused.code == 400 and "guests" in json_body(refused)["error"]["message"]
