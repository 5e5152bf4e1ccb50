"""Validation of the listing form and of money typed in yuan.

Forms take yuan ("188", "188.5"); the database keeps fen (integers). Every
error message is Chinese and keyed by the form field it concerns.
"""

from __future__ import annotations

import decimal
from typing import Callable

MAX_PRICE_FEN = 10_000_000  # 100,000 yuan a night
# Far above any price, far below where the arithmetic gets expensive: "1E+999990"
# is a valid Decimal whose int() takes tens of seconds of CPU on the event loop,
# and "1E+100000000" * 100 raises decimal.Overflow.
MAX_YUAN = decimal.Decimal(10) ** 12


def parse_yuan(raw: str) -> int:
    """Fen for a yuan amount such as "188" or "188.50"; raises ValueError for anything else
    (negative, more than two decimals, above 10^12 yuan, not a number)."""
    raw = (raw or "").strip()
    try:
        value = decimal.Decimal(raw)
    except decimal.InvalidOperation:
        raise ValueError(raw)
    if not value.is_finite() or value < 0 or value > MAX_YUAN or value.as_tuple().exponent < -2:
        raise ValueError(raw)
    return int(value * 100)


def fen_to_yuan(fen: int | None) -> str:
    """"188" for 18800 fen, "188.50" for 18850; "" for None."""
    if fen is None:
        return ""
    yuan, cents = divmod(int(fen), 100)
    return f"{yuan}" if cents == 0 else f"{yuan}.{cents:02d}"


def _int(raw: str, low: int, high: int) -> int:
    value = int((raw or "").strip())
    if not low <= value <= high:
        raise ValueError(raw)
    return value


def parse_house_form(arg: Callable[[str], str], args: Callable[[str], list[str]],
                     known_facilities: set[int]) -> tuple[dict, list[int], dict[str, str]]:
    """Validate the listing form.

    *arg(name)* gives one stripped field ("" when absent), *args(name)* all values
    of a repeatable one. Returns (values for models.houses.EDITABLE with money in
    fen, facility ids, errors by field name). ``area_id`` is only checked for shape
    here; the handler checks that the area exists.
    """
    errors: dict[str, str] = {}
    values: dict = {}

    def text(name: str, label: str, low: int, high: int) -> None:
        value = arg(name)
        if not low <= len(value) <= high:
            errors[name] = f"{label}须为 {low}–{high} 个字符" if low else f"{label}最多 {high} 个字符"
        values[name] = value

    def number(name: str, label: str, low: int, high: int, default: str | None = None) -> None:
        raw = arg(name) or (default or "")
        try:
            values[name] = _int(raw, low, high)
        except ValueError:
            errors[name] = f"{label}须为 {low}–{high} 之间的整数"

    text("title", "标题", 1, 64)
    text("description", "描述", 0, 2000)
    text("address", "地址", 1, 255)
    text("neighbourhood", "位置描述", 0, 64)
    text("unit", "户型", 0, 32)
    text("beds", "床铺", 0, 64)
    try:
        values["price_fen"] = parse_yuan(arg("price"))
        if not 100 <= values["price_fen"] <= MAX_PRICE_FEN:
            raise ValueError
    except ValueError:
        errors["price"] = "每晚价格须为 1–100000 元，最多两位小数"
    try:
        values["deposit_fen"] = parse_yuan(arg("deposit") or "0")
        if values["deposit_fen"] > MAX_PRICE_FEN:
            raise ValueError
    except ValueError:
        errors["deposit"] = "押金须为 0–100000 元，最多两位小数"
    try:
        values["area_id"] = _int(arg("area_id"), 110000, 820000)
    except ValueError:
        errors["area_id"] = "请选择所在区域"
    number("room_count", "房间数", 1, 50)
    number("acreage", "面积（平方米）", 1, 10000)
    number("capacity", "可住人数", 1, 50)
    number("min_days", "最少入住天数", 1, 365, default="1")
    number("max_days", "最多入住天数", 0, 365, default="0")
    if "min_days" in values and values.get("max_days") and values["max_days"] < values["min_days"]:
        errors["max_days"] = "最多入住天数须为 0（不限）或不少于最少入住天数"
    facility_ids: list[int] = []
    for raw in args("facility"):
        try:
            facility_id = int(raw)
        except ValueError:
            facility_id = -1
        if facility_id not in known_facilities:
            errors["facility"] = "设施选项无效"
            break
        facility_ids.append(facility_id)
    return values, sorted(set(facility_ids)), errors
