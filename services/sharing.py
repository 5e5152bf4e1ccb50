"""Sharing files: a listing's QR code (SVG, the ``qrcode`` package) and a stay's calendar
file (RFC 5545 .ics, the ``icalendar`` package). Pure functions of their arguments, CPU only
(a QR code costs ~8 ms: callers run :func:`qr_svg` in an executor). Imports nothing of the project.
"""

from __future__ import annotations

import datetime

import icalendar
import qrcode
import qrcode.constants
import qrcode.image.svg

MAX_URL_CHARS = 512  # a QR code of a longer text is refused (ValueError): a listing URL is ~40
PRODID = "-//iHome//stay//ZH"


def qr_svg(url: str) -> bytes:
    """The QR code of *url* as a standalone SVG document (UTF-8 bytes, one <path>, 2-module border,
    error correction M, black on white). The same *url* always gives the same bytes.
    Raises ValueError for an empty text or one longer than MAX_URL_CHARS."""
    if not url or len(url) > MAX_URL_CHARS:
        raise ValueError("QR text must be 1–%d characters" % MAX_URL_CHARS)
    code = qrcode.QRCode(error_correction=qrcode.constants.ERROR_CORRECT_M, border=2,
                         image_factory=qrcode.image.svg.SvgPathFillImage)
    code.add_data(url)
    code.make(fit=True)
    return code.make_image().to_string(encoding="utf-8")


def stay_calendar(*, uid: str, summary: str, check_in: datetime.date, check_out: datetime.date,
                  stamp: datetime.datetime, location: str | None = None, description: str | None = None,
                  url: str | None = None) -> bytes:
    """A VCALENDAR with one all-day VEVENT from *check_in* to *check_out* (DTEND is exclusive:
    the check-out day itself, as RFC 5545 says for all-day events), as .ics bytes.

    *uid* stays the same for the same stay (so a second import updates, not duplicates);
    *stamp* is DTSTAMP (an aware datetime, written in UTC); *location*, *description* and
    *url* are left out when None. Raises ValueError when check_out is not after check_in.
    """
    if check_out <= check_in:
        raise ValueError("check_out must be after check_in")
    cal = icalendar.Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    event = icalendar.Event()
    event.add("uid", uid)
    event.add("dtstamp", stamp.astimezone(datetime.timezone.utc))
    event.add("dtstart", check_in)
    event.add("dtend", check_out)
    event.add("summary", summary)
    event.add("transp", "OPAQUE")
    if location:
        event.add("location", location)
    if description:
        event.add("description", description)
    if url:
        event.add("url", url)
    cal.add_component(event)
    return cal.to_ical()
