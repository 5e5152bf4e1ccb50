"""The bcrypt cost is configuration: cheap in tests, never below 12 in production."""

from __future__ import annotations

import bcrypt
import pytest

from config import ConfigError, load_settings, test_settings
from services.passwords import check_password, hash_password


def test_bcrypt_cost_defaults_to_12():
    assert load_settings({"IHOME_ENV": "test"}).bcrypt_rounds == 12


def test_bcrypt_cost_can_be_lowered_outside_production():
    assert load_settings({"IHOME_ENV": "test", "IHOME_BCRYPT_ROUNDS": "4"}).bcrypt_rounds == 4
    assert load_settings({"IHOME_ENV": "development", "IHOME_BCRYPT_ROUNDS": "5"}).bcrypt_rounds == 5


@pytest.mark.parametrize("rounds", ["4", "11"])
def test_production_refuses_a_bcrypt_cost_below_12(rounds):
    with pytest.raises(ConfigError, match="IHOME_BCRYPT_ROUNDS of at least 12"):
        load_settings({"IHOME_ENV": "production", "IHOME_COOKIE_SECRET": "x" * 40,
                       "IHOME_BCRYPT_ROUNDS": rounds})


@pytest.mark.parametrize("raw", ["3", "32", "twelve", ""])
def test_bcrypt_cost_outside_bcrypts_range_is_refused(raw):
    with pytest.raises(ConfigError, match="IHOME_BCRYPT_ROUNDS"):
        load_settings({"IHOME_ENV": "test", "IHOME_BCRYPT_ROUNDS": raw})


def test_the_test_suite_uses_the_cheapest_cost():
    assert test_settings().bcrypt_rounds == 4


@pytest.mark.gen_test
async def test_hash_uses_the_configured_cost_and_checks():
    hashed = await hash_password("Test#pass2024", rounds=5)
    assert hashed.startswith("$2b$05$")
    assert bcrypt.checkpw(b"Test#pass2024", hashed.encode())
    assert await check_password("Test#pass2024", hashed, rounds=5) is True
    assert await check_password("wrong#pass2024", hashed, rounds=5) is False
    # An unknown account is checked against a dummy hash of the configured cost: False, no error.
    assert await check_password("Test#pass2024", None, rounds=5) is False
