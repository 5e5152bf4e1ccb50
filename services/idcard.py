"""Mainland resident identity card numbers (GB 11643-1999).

An 18-character number is: 6 digits of address code, 8 digits of birth date
(YYYYMMDD), 3 digits of sequence (odd for men, even for women), and a check
character. The check character is ``"10X98765432"[Σ(digitᵢ × weightᵢ) mod 11]``
with the weights below (2^(17-i) mod 11), so one mistyped digit or two swapped
neighbours are always caught.
"""

from __future__ import annotations

import datetime
import re

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
CHECK_CHARS = "10X98765432"
_FORMAT_RE = re.compile(r"^[0-9]{17}[0-9X]$")
EARLIEST_BIRTH = datetime.date(1900, 1, 1)


def normalise_id_card(value: str) -> str:
    """*value* stripped of surrounding spaces, with a lowercase check ``x`` made ``X``."""
    return (value or "").strip().upper()


def check_char(first17: str) -> str:
    """The GB 11643-1999 check character for the first 17 digits *first17*."""
    total = sum(int(d) * w for d, w in zip(first17, WEIGHTS))
    return CHECK_CHARS[total % 11]


def birth_date(id_card: str) -> datetime.date | None:
    """The birth date in a normalised 18-character *id_card*, or None when it is not a real date."""
    try:
        return datetime.date(int(id_card[6:10]), int(id_card[10:12]), int(id_card[12:14]))
    except ValueError:
        return None


def validate_id_card(value: str, *, today: datetime.date | None = None) -> str | None:
    """Why *value* is not a valid 18-digit resident ID (a Chinese message), or None when it is.

    Checks, in order: 17 digits plus a digit or X (lowercase x accepted), a real
    birth date between 1900-01-01 and *today* (default: the local date), and the
    check character. Callers store :func:`normalise_id_card` of the value.
    """
    id_card = normalise_id_card(value)
    if not id_card:
        return "请输入身份证号"
    if len(id_card) != 18 or not _FORMAT_RE.match(id_card):
        return "身份证号须为 18 位，前 17 位是数字，最后一位是数字或 X"
    born = birth_date(id_card)
    if born is None or not EARLIEST_BIRTH <= born <= (today or datetime.date.today()):
        return "身份证号中的出生日期无效"
    if check_char(id_card[:17]) != id_card[17]:
        return "身份证号校验位不正确，请检查是否输错"
    return None


def mask_id_card(value: str) -> str:
    """*value* with all but the first 3 and last 4 characters hidden: ``110***********002X``."""
    id_card = normalise_id_card(value)
    if len(id_card) <= 7:
        return "*" * len(id_card)
    return id_card[:3] + "*" * (len(id_card) - 7) + id_card[-4:]
