"""How dates and names are shown on pages: month calendars and public names."""

from __future__ import annotations

import calendar
import datetime

CALENDAR_MONTHS = 3  # months of availability the listing page shows
WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


def day_label(day: datetime.date) -> str:
    """A calendar day as screen readers say it: "11月25日 星期三" (the month grid's caption names the year)."""
    return f"{day.month}月{day.day}日 {WEEKDAYS[day.weekday()]}"


def add_months(day: datetime.date, months: int) -> datetime.date:
    """The first day of the month *months* after *day*'s month."""
    index = day.year * 12 + day.month - 1 + months
    return datetime.date(index // 12, index % 12 + 1, 1)


def calendar_months(first: datetime.date, count: int, booked: set[datetime.date],
                    today: datetime.date) -> list[dict]:
    """*count* months from *first*'s month, for templates/houses/calendar.html.

    Each month is {"key": "YYYY-MM", "title": "2025年5月", "weeks": [[day or None] × 7]}
    with weeks starting on Monday; a day is {"day": 12, "date": "YYYY-MM-DD",
    "state": "past" | "booked" | "free", "label": "5月12日 星期一"} (see :func:`day_label`).
    """
    months = []
    cal = calendar.Calendar(firstweekday=0)
    for i in range(count):
        start = add_months(first, i)
        weeks = []
        for week in cal.monthdatescalendar(start.year, start.month):
            cells = []
            for day in week:
                if day.month != start.month:
                    cells.append(None)
                    continue
                state = "booked" if day in booked else "past" if day < today else "free"
                cells.append({"day": day.day, "date": day.isoformat(), "state": state, "label": day_label(day)})
            weeks.append(cells)
        months.append({"key": f"{start.year:04d}-{start.month:02d}",
                       "title": f"{start.year}年{start.month}月", "weeks": weeks})
    return months


def public_name(name: str) -> str:
    """A user's name as strangers see it: a name that is still the mobile number
    (the default at sign-up) shows as 139****0001."""
    if len(name) == 11 and name.isdigit():
        return f"{name[:3]}****{name[7:]}"
    return name
