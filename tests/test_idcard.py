"""services.idcard: the GB 11643-1999 checksum, birth dates, lengths and masking."""

from __future__ import annotations

import datetime

import pytest

from services.idcard import mask_id_card, normalise_id_card, validate_id_card
from tests.utils.factories import VALID_ID_CARD


def reference_check_char(first17: str) -> str:
    """The check character computed the way the standard defines it: weights 2^(17-i) mod 11,
    check value (12 - Σ mod 11) mod 11 with 10 written X. Independent of the code under test."""
    total = sum(int(d) * pow(2, 17 - i, 11) for i, d in enumerate(first17))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


# 11010519491231002X is the example of the standard's own explanatory material.
VALID = [VALID_ID_CARD, "44030419900307123X", "310104200002294568", "510107198511150075"]


@pytest.mark.parametrize("id_card", VALID)
def test_valid_numbers(id_card):
    assert reference_check_char(id_card[:17]) == id_card[17]
    assert validate_id_card(id_card) is None


def test_lowercase_x_is_accepted_and_normalised():
    assert validate_id_card("11010519491231002x") is None
    assert normalise_id_card(" 11010519491231002x ") == "11010519491231002X"


@pytest.mark.parametrize("id_card", [
    "110105194912310021",   # X expected
    "440304199003071231",
    "310104200002294567",
    "510107198511150070",
])
def test_bad_checksum(id_card):
    assert "校验位" in validate_id_card(id_card)


def test_every_single_digit_mistake_is_caught():
    base = "510107198511150075"
    for position in range(17):
        for digit in "0123456789":
            if digit == base[position]:
                continue
            changed = base[:position] + digit + base[position + 1:]
            assert validate_id_card(changed) is not None, changed


@pytest.mark.parametrize("birth", ["19900230", "19901301", "19900001", "19900100", "19010229", "18991231"])
def test_bad_birth_date(birth):
    # The check character is right, so only the date can be the problem.
    first17 = "440304" + birth + "123"
    assert "出生日期" in validate_id_card(first17 + reference_check_char(first17))


def test_birth_date_in_the_future_is_refused():
    first17 = "440304" + "20300101" + "123"
    id_card = first17 + reference_check_char(first17)
    assert "出生日期" in validate_id_card(id_card)
    assert validate_id_card(id_card, today=datetime.date(2031, 1, 1)) is None


def test_leap_day_is_a_real_date():
    assert validate_id_card("310104200002294568") is None  # 2000-02-29


@pytest.mark.parametrize("id_card", [
    "11010519491231002",      # 17
    "11010519491231002X1",    # 19
    "110105194912310",        # 15, the old format
    "1101051949123100XX",     # X only at the end
    "11010519491231A02X",
    "１１０１０５１９４９１２３１００２Ｘ",  # full-width digits
])
def test_wrong_length_or_characters(id_card):
    assert "18 位" in validate_id_card(id_card)


def test_empty():
    assert validate_id_card("") == "请输入身份证号"
    assert validate_id_card("   ") == "请输入身份证号"


def test_mask_keeps_first_three_and_last_four():
    assert mask_id_card("11010519491231002X") == "110***********002X"
    assert mask_id_card("11010519491231002x") == "110***********002X"
    assert len(mask_id_card("510107198511150075")) == 18
    assert mask_id_card("510107198511150075").count("*") == 11
