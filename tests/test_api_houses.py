"""The JSON search API states a capped count as "more than N", never as N + 1."""

from __future__ import annotations

import pytest

from models import search as search_model
from tests.utils.client import json_body
from tests.utils.factories import make_house, make_user


@pytest.mark.gen_test
async def test_api_total_is_exact_below_the_cap(app, client):
    owner = await make_user(app)
    for i in range(3):
        await make_house(app, owner, title=f"房源{i}")
    result = json_body(await client.get("/api/v1/houses"))
    assert result["total"] == 3 and result["total_capped"] is False
    assert len(result["houses"]) == 3


@pytest.mark.gen_test
async def test_api_total_above_the_cap_says_more(app, client, monkeypatch):
    # A cap of 2 stands in for the real one (thousands of listings) so the test stays small.
    monkeypatch.setattr(search_model, "COUNT_CAP", 2)
    owner = await make_user(app)
    for i in range(3):
        await make_house(app, owner, title=f"房源{i}")
    result = json_body(await client.get("/api/v1/houses"))
    assert result["total"] == 2 and result["total_capped"] is True
    assert len(result["houses"]) == 3
