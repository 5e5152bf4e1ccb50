"""日历同步: a listing's calendar shared with other platforms through iCal (RFC 5545) feeds.

Export: ``calendar_exports`` keeps one random token per listing (migration 0082). The feed at
``/houses/<id>/calendar.ics?token=…`` lists every night an order holds and every blocked night
(:func:`export_feed`); resetting the token makes the old URL stop working at once.

Import: up to MAX_FEEDS external URLs per listing in ``calendar_feeds`` (migration 0080). A sync
of one feed (:func:`sync_feed`) fetches it (services/safe_fetch.py), reads its nights
(services/ical.py, in an executor) and applies them (:func:`apply_feed`) in ONE transaction that
locks the listing row first (models.houses.locked_write, the booking code's lock order):

- the feed's nights from today to HORIZON_DAYS ahead become host blocks tagged with the feed
  (``house_blocks.feed_id``, migration 0081), each night a ``booked_nights`` row, so the primary
  key (house_id, night) keeps an imported night and a booking apart, whichever comes first;
- nights the feed no longer lists are released — only that feed's blocks, never the host's
  own blocks, another feed's or an order;
- a night already held here (an order, the host's block, another feed) is not taken again and is
  reported in the feed's ``clashes`` (shown to the host on the edit page), never dropped silently.

A failed fetch or an unreadable feed changes no block: the feed's status says what happened
(``last_error`` is a short code, see :data:`ERROR_KINDS`) and the nights stay as the last good sync
left them.

The periodic task (:class:`CalendarSyncer`) runs in every server process, one run at a time across
processes through a Redis lock (SET NX EX), fetching the feeds in parallel with a bound.
"""

from __future__ import annotations

import asyncio
import datetime
import hmac
import json
import logging
import secrets
from dataclasses import dataclass
from typing import Awaitable, Callable, Iterable

import pymysql
import tornado.ioloop

from models import houses, lifecycle
from models.db import Database, Transaction, is_duplicate_key
from services import ical
from services.background import stop_task
from services.safe_fetch import FetchError

log = logging.getLogger("ihome.calendar_sync")

MAX_FEEDS = 3  # external feeds per listing
HORIZON_DAYS = ical.HORIZON_DAYS  # nights further ahead than this are not imported
EXPORT_PAST_DAYS = 30  # the export starts this many days back (recent stays stay visible elsewhere)
EXPORT_AHEAD_DAYS = houses.BLOCK_HORIZON_DAYS  # … and ends this far ahead
MAX_CLASHES_KEPT = 400  # clashes stored per feed (the window holds HORIZON_DAYS nights at most)
TOKEN_BYTES = 32
# last_error codes: the fetch's kinds (services.safe_fetch.FetchError), the parser's reasons
# (services.ical.FeedInvalid), "conflict" (a night taken while writing) and "busy" (the listing
# stayed locked). "status" carries the HTTP code after a colon, e.g. "status:404".
ERROR_KINDS = ("scheme", "refused", "dns", "timeout", "too_large", "status", "redirects", "network",
               "garbage", "too_many_events", "conflict", "busy")

LOCK_KEY = "calendar-sync:lock"
LOCK_TTL = 900  # seconds: a run that dies keeps others out this long at most
RUN_LIMIT = 300  # feeds one run syncs at most (oldest sync first); the rest wait for the next run
CONCURRENCY = 8  # feeds fetched at once
# Release the lock only when it is still ours (a run that outlived LOCK_TTL must not free another's).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end"


class CalendarSyncError(Exception):
    """Base of the neutral errors here; nothing was written when one is raised."""


class TooManyFeeds(CalendarSyncError):
    """The listing already has MAX_FEEDS feeds."""


class DuplicateFeed(CalendarSyncError):
    """The listing already has a feed with this URL."""


class FeedNotFound(CalendarSyncError):
    """No such feed on this listing (or it was deleted meanwhile)."""


@dataclass
class SyncResult:
    """What one feed's sync did: *status* ``ok`` or ``error`` (*error* its code), nights *added*
    and *released*, the *clashes* [{night, by}] and whether the listing's calendar *changed*."""
    status: str
    error: str | None = None
    added: int = 0
    released: int = 0
    clashes: list | None = None
    changed: bool = False


# -- export ---------------------------------------------------------------------------------

async def export_token(db: Database, house_id: int) -> str:
    """The listing's export token, made on first use (43 URL-safe characters)."""
    token = await db.scalar("SELECT token FROM calendar_exports WHERE house_id = %s", house_id)
    if token is None:  # first use; a twin request's token wins if it came first (both then read it)
        await db.execute("INSERT INTO calendar_exports (house_id, token) VALUES (%s, %s) "
                         "ON DUPLICATE KEY UPDATE token = token", house_id, secrets.token_urlsafe(TOKEN_BYTES))
        token = await db.scalar("SELECT token FROM calendar_exports WHERE house_id = %s", house_id)
    return token


async def reset_token(db: Database, house_id: int) -> str:
    """Replace the listing's export token (the old one stops working); returns the new one."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    await db.execute("INSERT INTO calendar_exports (house_id, token) VALUES (%s, %s) "
                     "ON DUPLICATE KEY UPDATE token = VALUES(token), created_at = CURRENT_TIMESTAMP",
                     house_id, token)
    return token


async def token_matches(db: Database, house_id: int, token: str) -> bool:
    """True when *token* is the listing's current export token (compared in constant time)."""
    if not token or len(token) > 64:
        return False
    stored = await db.scalar("SELECT token FROM calendar_exports WHERE house_id = %s", house_id)
    return stored is not None and hmac.compare_digest(stored.encode(), token.encode())


async def unavailable_spans(db: Database, house_id: int, today: datetime.date,
                            now: datetime.datetime) -> list[tuple[datetime.date, datetime.date, str]]:
    """The listing's unavailable nights from EXPORT_PAST_DAYS back to EXPORT_AHEAD_DAYS ahead as
    merged ranges ``(start, end exclusive, kind)``, kind ``order`` (a guest's order holds them)
    or ``block`` (the host's or an imported block). Requests expired at *now* hold nothing."""
    rows = await db.query(
        "SELECT bn.night, bn.order_id IS NOT NULL AS booked FROM booked_nights bn "
        "LEFT JOIN orders o ON o.id = bn.order_id "
        "WHERE bn.house_id = %s AND bn.night >= %s AND bn.night < %s "
        "AND NOT (o.id IS NOT NULL AND o.status = 'pending' AND o.check_in <= %s) ORDER BY bn.night",
        house_id, today - datetime.timedelta(days=EXPORT_PAST_DAYS),
        today + datetime.timedelta(days=EXPORT_AHEAD_DAYS), lifecycle.expired_through(now))
    spans = []
    for kind in ("order", "block"):
        nights = [r["night"] for r in rows if bool(r["booked"]) == (kind == "order")]
        spans.extend((start, end, kind) for start, end in ical.runs(nights))
    return sorted(spans)


async def export_feed(db: Database, house_id: int, *, today: datetime.date, now: datetime.datetime,
                      summaries: dict[str, str], uid_domain: str, name: str | None = None) -> bytes:
    """The listing's .ics feed: one all-day event per run of unavailable nights. *summaries* maps
    ``order``/``block`` to the event's SUMMARY (the caller's words; no guest data goes in);
    UIDs are ``<house>-<start>-<kind>@<uid_domain>``, stable while the run is unchanged."""
    spans = [(start, end, summaries[kind], f"{house_id}-{start.isoformat()}-{kind}@{uid_domain}")
             for start, end, kind in await unavailable_spans(db, house_id, today, now)]
    return ical.build_feed(spans, stamp=now.astimezone(datetime.timezone.utc), name=name)


# -- feeds ------------------------------------------------------------------------------------

def _feed_row(row: dict) -> dict:
    row = dict(row)
    try:
        row["clashes"] = json.loads(row["clashes"]) if row.get("clashes") else []
    except ValueError:
        row["clashes"] = []
    return row


async def feeds(db: Database, house_id: int) -> list[dict]:
    """The listing's feeds, oldest first: [{id, url, created_at, last_sync_at, last_status,
    last_error, last_event_count, last_night_count, clashes: [{night, by}]}]."""
    rows = await db.query("SELECT * FROM calendar_feeds WHERE house_id = %s ORDER BY id LIMIT %s",
                          house_id, MAX_FEEDS * 2)
    return [_feed_row(r) for r in rows]


async def feed(db: Database, house_id: int, feed_id: int) -> dict | None:
    """One feed of the listing (as :func:`feeds` gives them), or None."""
    row = await db.queryone("SELECT * FROM calendar_feeds WHERE id = %s AND house_id = %s", feed_id, house_id)
    return _feed_row(row) if row else None


async def add_feed(db: Database, house_id: int, url: str) -> int:
    """Add the feed *url* (already checked by the caller) to the listing; returns its id.
    Raises TooManyFeeds, DuplicateFeed, houses.ListingGone, houses.ListingBusy."""
    async def work(tx: Transaction, house: dict) -> int:
        rows = await tx.query("SELECT url FROM calendar_feeds WHERE house_id = %s FOR UPDATE", house_id)
        if any(r["url"] == url for r in rows):
            raise DuplicateFeed(url)
        if len(rows) >= MAX_FEEDS:
            raise TooManyFeeds(house_id)
        return await tx.insert("INSERT INTO calendar_feeds (house_id, url) VALUES (%s, %s)", house_id, url)
    return await houses.locked_write(db, house_id, work)


async def delete_feed(db: Database, house_id: int, feed_id: int) -> int:
    """Remove the feed and release the nights it blocked; returns how many were released.
    Raises FeedNotFound, houses.ListingGone, houses.ListingBusy."""
    async def work(tx: Transaction, house: dict) -> int:
        if await tx.queryone("SELECT id FROM calendar_feeds WHERE id = %s AND house_id = %s FOR UPDATE",
                             feed_id, house_id) is None:
            raise FeedNotFound(feed_id)
        released = await tx.scalar("SELECT COUNT(*) FROM booked_nights bn JOIN house_blocks hb ON hb.id = bn.block_id "
                                   "WHERE hb.feed_id = %s", feed_id)
        await tx.execute("DELETE FROM house_blocks WHERE feed_id = %s", feed_id)  # their nights cascade
        await tx.execute("DELETE FROM calendar_feeds WHERE id = %s", feed_id)
        return int(released or 0)
    return await houses.locked_write(db, house_id, work)


# -- applying a feed --------------------------------------------------------------------------

async def apply_feed(db: Database, house_id: int, feed_id: int, parsed: ical.FeedNights,
                     today: datetime.date, now: datetime.datetime) -> SyncResult:
    """Make the feed's blocks hold exactly the nights of *parsed* in [today, today + HORIZON_DAYS)
    that nothing else holds, in one transaction under the listing's lock; record the sync on the
    feed. Raises FeedNotFound, houses.ListingGone, houses.ListingBusy, and pymysql's duplicate-key
    error if a night was taken by a writer that bypassed the listing lock (nothing written)."""
    end = today + datetime.timedelta(days=HORIZON_DAYS)
    wanted = {n for n in parsed.nights if today <= n < end}

    async def work(tx: Transaction, house: dict) -> SyncResult:
        if await tx.queryone("SELECT id FROM calendar_feeds WHERE id = %s AND house_id = %s FOR UPDATE",
                             feed_id, house_id) is None:
            raise FeedNotFound(feed_id)
        await lifecycle.settle_house(tx, house_id, now)  # expired requests hold no nights
        rows = await tx.query(
            "SELECT bn.night, bn.order_id, hb.feed_id FROM booked_nights bn "
            "LEFT JOIN house_blocks hb ON hb.id = bn.block_id "
            "WHERE bn.house_id = %s AND bn.night >= %s AND bn.night < %s", house_id, today, end)
        mine = {r["night"] for r in rows if r["order_id"] is None and r["feed_id"] == feed_id}
        others = {r["night"]: ("order" if r["order_id"] is not None else "feed" if r["feed_id"] else "host")
                  for r in rows if r["night"] not in mine}
        clashes = [{"night": n.isoformat(), "by": others[n]} for n in sorted(wanted & others.keys())]
        target = wanted - others.keys()
        changed = target != mine
        if changed:
            blocks = await tx.query("SELECT id FROM house_blocks WHERE feed_id = %s FOR UPDATE", feed_id)
            if blocks:
                await tx.executemany("DELETE FROM house_blocks WHERE id = %s", [(b["id"],) for b in blocks])
            for start, stop in ical.runs(target):
                await houses.insert_block(tx, house_id, start, stop, feed_id)
        await tx.execute(
            "UPDATE calendar_feeds SET last_sync_at = %s, last_status = 'ok', last_error = NULL, "
            "last_event_count = %s, last_night_count = %s, clashes = %s WHERE id = %s",
            now, parsed.events, len(target), json.dumps(clashes[:MAX_CLASHES_KEPT]), feed_id)
        return SyncResult("ok", added=len(target - mine), released=len(mine - target), clashes=clashes,
                          changed=changed)
    return await houses.locked_write(db, house_id, work)


async def record_failure(db: Database, feed_id: int, error: str, now: datetime.datetime) -> None:
    """Note a failed sync on the feed (*error*: a code of ERROR_KINDS, maybe ``:detail``); its
    blocks, counts and clashes stay as the last good sync left them."""
    await db.execute("UPDATE calendar_feeds SET last_sync_at = %s, last_status = 'error', last_error = %s "
                     "WHERE id = %s", now, error[:300], feed_id)


Fetch = Callable[[str], Awaitable[bytes]]


async def sync_feed(db: Database, feed_row: dict, fetch: Fetch, *, today: datetime.date | None = None,
                    now: datetime.datetime | None = None) -> SyncResult:
    """Fetch, read and apply one feed (*feed_row* needs id, house_id, url). *fetch* is
    ``await fetch(url) -> bytes`` raising services.safe_fetch.FetchError. Fetch and parse
    failures are recorded on the feed and returned (status ``error``), never raised; database
    failures are raised (the caller logs them). Raises FeedNotFound, houses.ListingGone."""
    now = now or datetime.datetime.now()
    today = today or now.date()
    feed_id, house_id = feed_row["id"], feed_row["house_id"]
    error = None
    try:
        body = await fetch(feed_row["url"])
        parsed = await tornado.ioloop.IOLoop.current().run_in_executor(None, ical.feed_nights, body, today)
        return await apply_feed(db, house_id, feed_id, parsed, today, now)
    except FetchError as exc:
        error = f"{exc.kind}:{exc.detail}" if exc.kind == "status" else exc.kind
    except ical.FeedInvalid as exc:
        error = exc.reason
    except houses.ListingBusy:
        error = "busy"
    except pymysql.err.MySQLError as exc:
        if not is_duplicate_key(exc):
            raise
        error = "conflict"
    log.info("calendar feed %s of listing %s not synced: %s", feed_id, house_id, error)
    await record_failure(db, feed_id, error, now)
    return SyncResult("error", error=error)


async def due_feeds(db: Database, synced_before: datetime.datetime, limit: int = RUN_LIMIT) -> list[dict]:
    """Feeds of listings that are not deleted and not synced since *synced_before*, least
    recently synced first (never synced first). Every process ticks, each run after the lock
    holder's sees the feeds it just synced as not due."""
    return await db.query(
        "SELECT f.id, f.house_id, f.url FROM calendar_feeds f JOIN houses h ON h.id = f.house_id "
        "WHERE h.status <> 'deleted' AND (f.last_sync_at IS NULL OR f.last_sync_at < %s) "
        "ORDER BY f.last_sync_at IS NOT NULL, f.last_sync_at, f.id LIMIT %s", synced_before, limit)


# -- the periodic task ---------------------------------------------------------------------------

class CalendarSyncer:
    """Syncs every feed every *interval* seconds (tornado.ioloop.PeriodicCallback, with *jitter*
    as a fraction of the interval), in every server process; a Redis lock (``LOCK_KEY``, SET NX
    EX LOCK_TTL) lets one run at a time across processes, the others skip theirs.

    *fetch* is ``await fetch(url) -> bytes`` (services.safe_fetch.fetch_bounded with the site's
    settings); *on_changed* is awaited with the ids of listings whose calendar changed (the page
    and search caches refresh them). A run never raises: Redis or MariaDB failing is logged and
    the run skipped (the next tick tries again). Counters for tests and logs: *runs* (ticks
    that finished), *runs_done* (runs that held the lock and did the work), *feeds_synced*.
    """

    def __init__(self, db: Database, redis, fetch: Fetch, on_changed: Callable[[list[int]], Awaitable[None]],
                 *, interval: float, jitter: float = 0.2, concurrency: int = CONCURRENCY,
                 lock_ttl: int = LOCK_TTL, clock=datetime.datetime.now):
        self.db = db
        self.redis = redis
        self.fetch = fetch
        self.on_changed = on_changed
        self.interval = interval
        self.jitter = jitter
        self.concurrency = concurrency
        self.lock_ttl = lock_ttl
        self.clock = clock
        self.runs = 0
        self.runs_done = 0
        self.feeds_synced = 0
        self._callback: tornado.ioloop.PeriodicCallback | None = None
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        """Start ticking (the first run one interval from now); call on the running loop."""
        if self._callback is None:
            self._callback = tornado.ioloop.PeriodicCallback(self._tick, self.interval * 1000, jitter=self.jitter)
            self._callback.start()

    def _tick(self) -> None:
        if self._task is not None and not self._task.done():
            return  # the previous run is still going in this process
        self._task = asyncio.get_running_loop().create_task(self.run_once(), name="calendar-sync")

    async def stop(self) -> None:
        """Stop ticking and wait for (cancel) a run in progress; its lock expires by itself
        (or is released when the cancellation reaches the release)."""
        if self._callback is not None:
            self._callback.stop()
            self._callback = None
        task, self._task = self._task, None
        await stop_task(task)

    async def run_once(self) -> dict | None:
        """One run: ``{"skipped": True}`` when another run holds the lock, ``{"feeds": n, "ok": k,
        "errors": e, "house_ids": [...]}`` when this one did the work, None when it failed (logged)."""
        try:
            token = secrets.token_hex(8)
            try:
                if not await self.redis.set(LOCK_KEY, token, nx=True, ex=self.lock_ttl):
                    return {"skipped": True}
            except Exception:
                log.exception("calendar sync skipped: the lock could not be taken")
                return None
            try:
                self.runs_done += 1
                return await self._work()
            finally:
                try:
                    await self.redis.eval(_RELEASE, 1, LOCK_KEY, token)
                except Exception as exc:  # it expires by itself
                    log.warning("calendar sync lock not released: %s", exc)
        except asyncio.CancelledError:
            raise
        except Exception:  # the task must outlive a failing database or cache
            log.exception("calendar sync failed; next try in %.0f s", self.interval)
            return None
        finally:
            self.runs += 1

    async def _work(self) -> dict:
        now = self.clock()
        # A feed synced in the last half interval (by another process's run) is not due yet.
        rows = await due_feeds(self.db, now - datetime.timedelta(seconds=self.interval / 2))
        gate = asyncio.Semaphore(self.concurrency)

        async def one(row: dict) -> SyncResult | None:
            async with gate:
                try:
                    return await sync_feed(self.db, row, self.fetch, today=now.date(), now=now)
                except (FeedNotFound, houses.ListingGone):
                    return None  # deleted while the run went on
                except Exception:
                    log.exception("calendar feed %s not synced", row["id"])
                    return None
                finally:
                    self.feeds_synced += 1

        results = await asyncio.gather(*(one(r) for r in rows))
        changed = sorted({r["house_id"] for r, res in zip(rows, results) if res is not None and res.changed})
        if changed:
            await self.on_changed(changed)
        return {"feeds": len(rows), "ok": sum(1 for r in results if r and r.status == "ok"),
                "errors": sum(1 for r in results if r and r.status == "error"), "house_ids": changed}


def summarise_clashes(clashes: Iterable[dict], limit: int = 10) -> tuple[list[str], int]:
    """(the first *limit* clashing nights as ISO dates, how many there are in all)."""
    nights = [c["night"] for c in clashes]
    return nights[:limit], len(nights)


async def panel(db: Database, house_id: int) -> dict:
    """What the edit page shows: {token (made on first use), feeds (as :func:`feeds`), max_feeds}."""
    return {"token": await export_token(db, house_id), "feeds": await feeds(db, house_id), "max_feeds": MAX_FEEDS}
