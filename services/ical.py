"""Calendar feeds in RFC 5545 (.ics) with the ``icalendar`` package: a listing's unavailable
nights as a feed, and the nights another platform's feed holds. Pure functions, CPU only
(parsing 1 MB costs tens of milliseconds: callers run :func:`feed_nights` in an executor).
Imports nothing of the project.

Nights are dates: the night of D is the stay from D to D + 1. An all-day event from DTSTART
to DTEND (exclusive, RFC 5545 3.6.1) holds the nights DTSTART … DTEND − 1 day.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass, field
from typing import Iterable

import icalendar

PRODID = "-//iHome//calendar feed//ZH"
MAX_EVENTS = 5000  # a feed with more VEVENTs is refused as a whole (see FeedInvalid)
HORIZON_DAYS = 365  # nights further ahead than this are not imported
DAY = datetime.timedelta(days=1)


class FeedInvalid(Exception):
    """The bytes are not a calendar this module accepts; *reason* is ``garbage`` (not iCalendar,
    or an event whose dates cannot be read) or ``too_many_events`` (over MAX_EVENTS). Nothing of
    such a feed is used: a partial reading would release nights that are still taken."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


@dataclass
class FeedNights:
    """What a feed holds within the window: *nights* (dates), *events* (VEVENTs read, all of
    them, in the window or not)."""
    nights: set[datetime.date] = field(default_factory=set)
    events: int = 0


def runs(nights: Iterable[datetime.date]) -> list[tuple[datetime.date, datetime.date]]:
    """Consecutive *nights* merged into half-open ranges [first, last + 1 day), ascending."""
    out: list[list[datetime.date]] = []
    for night in sorted(set(nights)):
        if out and out[-1][1] == night:
            out[-1][1] = night + DAY
        else:
            out.append([night, night + DAY])
    return [(a, b) for a, b in out]


def build_feed(spans: Iterable[tuple[datetime.date, datetime.date, str, str]], *, stamp: datetime.datetime,
               name: str | None = None) -> bytes:
    """A VCALENDAR with one all-day VEVENT per span ``(start, end, summary, uid)`` (*end*
    exclusive), as .ics bytes. *stamp* is DTSTAMP (an aware datetime, written in UTC); *name*
    becomes X-WR-CALNAME. The summaries are the caller's (no personal data belongs in them)."""
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    if name:
        cal.add("x-wr-calname", name)
    utc = stamp.astimezone(datetime.timezone.utc)
    for start, end, summary, uid in spans:
        event = icalendar.Event()
        event.add("uid", uid)
        event.add("dtstamp", utc)
        event.add("dtstart", start)
        event.add("dtend", end)
        event.add("summary", summary)
        event.add("transp", "OPAQUE")
        cal.add_component(event)
    return cal.to_ical()


def _date_of(prop) -> datetime.date:
    """The date of a DTSTART/DTEND property (a date, or a datetime's own calendar date)."""
    try:
        value = prop.dt
    except Exception:  # icalendar keeps an unreadable value as a "broken" property that raises here
        value = None
    if isinstance(value, datetime.datetime):
        return value.date()
    if isinstance(value, datetime.date):
        return value
    raise FeedInvalid("garbage", "an event date that cannot be read")


def feed_nights(data: bytes, today: datetime.date, *, horizon_days: int = HORIZON_DAYS,
                max_events: int = MAX_EVENTS) -> FeedNights:
    """The nights from *today* to *today* + *horizon_days* (exclusive) that the feed *data*
    holds: every VEVENT except cancelled (STATUS:CANCELLED) and free (TRANSP:TRANSPARENT) ones.
    A timed event holds the nights from its start date to its end date (at least its first
    night); DURATION stands in for a missing DTEND; a missing both holds one night. RRULE
    recurrences are not expanded (the platforms' availability feeds do not use them).

    Raises :class:`FeedInvalid` for bytes that are not iCalendar, an event without a readable
    DTSTART, or more than *max_events* events. Work is bounded by *max_events* and the window.
    """
    text = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if not text[:15].upper().startswith(b"BEGIN:VCALENDAR"):
        raise FeedInvalid("garbage", "not an iCalendar file")
    try:
        cal = icalendar.Calendar.from_ical(text)
    except Exception as exc:  # the parser raises ValueError, and others for odd input
        raise FeedInvalid("garbage", str(exc)[:200]) from exc
    end_of_window = today + datetime.timedelta(days=horizon_days)
    found = FeedNights()
    for event in cal.walk("VEVENT"):
        found.events += 1
        if found.events > max_events:
            raise FeedInvalid("too_many_events", f"> {max_events}")
        if str(event.get("status", "")).upper() == "CANCELLED" or \
                str(event.get("transp", "")).upper() == "TRANSPARENT":
            continue
        if event.get("dtstart") is None:
            raise FeedInvalid("garbage", "an event without DTSTART")
        start = _date_of(event.get("dtstart"))
        if event.get("dtend") is not None:
            end = _date_of(event.get("dtend"))
        elif event.get("duration") is not None:
            try:
                end = event.get("dtstart").dt + event.get("duration").dt
            except Exception as exc:  # a broken or odd DURATION
                raise FeedInvalid("garbage", "an event duration that cannot be read") from exc
            end = end.date() if isinstance(end, datetime.datetime) else end
            if not isinstance(end, datetime.date):
                raise FeedInvalid("garbage", "an event duration that cannot be read")
        else:
            end = start + DAY
        end = max(end, start + DAY)
        # Clamp to the window before counting nights: an event over ten years costs 365 at most.
        first, last = max(start, today), min(end, end_of_window)
        for offset in range(max(0, (last - first).days)):
            found.nights.add(first + datetime.timedelta(days=offset))
    return found
