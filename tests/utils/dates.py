"""Dates relative to today, as the site sees them (the server runs on this machine's clock)."""

from __future__ import annotations

import datetime


def today() -> datetime.date:
    """Today's date, read at each call so a run that crosses midnight stays consistent."""
    return datetime.date.today()


def day(offset: int) -> datetime.date:
    """The date *offset* days from today (negative for the past)."""
    return today() + datetime.timedelta(days=offset)


def iso(offset: int) -> str:
    """``day(offset)`` as YYYY-MM-DD, the way forms and query strings carry dates."""
    return day(offset).isoformat()
