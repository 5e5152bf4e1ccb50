"""爱家 entry point: options, the Application, start-up and graceful shutdown.

    python server.py --port=8000 [--address=127.0.0.1] [--debug] [--xheaders]

Settings come from the environment (see config.py); command-line options, when
given, override the port, address, debug and xheaders settings.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import signal
from pathlib import Path

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.backoff import ExponentialWithJitterBackoff
import tornado.httpserver
import tornado.options
import tornado.web
from tornado.options import define, options

import config
from handlers import api, auth, hosting, houses, security, ui_modules
from handlers import orders
from handlers import admin
from handlers import profile
from handlers import health
from handlers.base import NotFoundHandler
from handlers import media
from handlers import language
from handlers import messages, ws
from handlers import favourites, hosts, sharing
from handlers import calendar_sync
from handlers.uploads import SMALL_BODY_BYTES
from models import lifecycle
from models.calendar_sync import CalendarSyncer
from models import profile as profile_model
from models.db import Database, create_database
from models.revocations import RevocationLog
from services.cache import Cache
from services.delivery import Delivery
from services.captcha import CaptchaService
from services.crypto import DataKeyError, FieldCipher
from services import i18n
from services.images import ImageStore
from services.iplocation import IPLocator
from services.safe_fetch import fetch_body
from services.sessions import SessionStore

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("ihome.server")

define("port", type=int, default=None, help="port to listen on (default IHOME_PORT or 8000)")
define("address", type=str, default=None, help="address to bind (default IHOME_ADDRESS or 127.0.0.1)")
define("debug", type=bool, default=None, help="autoreload and uncompiled templates")
define("xheaders", type=bool, default=None, help="trust X-Real-IP / X-Forwarded-For from nginx")
define("access_log", type=bool, default=None,
       help="log every request (default: yes, but not with IHOME_ENV=production, where nginx logs them); "
            "4xx and 5xx answers are logged either way")

ID = r"([0-9]{1,18})"


def routes() -> list:
    """The whole route table of the site, in one place."""
    return [
        (r"/", houses.HomeHandler),
        (r"/register", auth.RegisterHandler),
        (r"/captcha/([A-Za-z0-9_-]{1,64})\.png", auth.CaptchaHandler),
        (r"/login", auth.LoginHandler),
        (r"/logout", auth.LogoutHandler),
        (r"/locale", language.LocaleHandler),
        # listings
        (r"/houses", houses.SearchHandler),
        (r"/houses/new", hosting.HouseNewHandler),
        (rf"/houses/{ID}", houses.HouseDetailHandler),
        (rf"/houses/{ID}/edit", hosting.HouseEditHandler),
        (rf"/houses/{ID}/delete", hosting.HouseDeleteHandler),
        (rf"/houses/{ID}/images", hosting.HouseImagesHandler),
        (rf"/houses/{ID}/images/{ID}/delete", hosting.HouseImageDeleteHandler),
        (rf"/houses/{ID}/images/{ID}/cover", hosting.HouseImageCoverHandler),
        (rf"/houses/{ID}/revision/withdraw", hosting.RevisionWithdrawHandler),
        (rf"/houses/{ID}/calendar/block", hosting.CalendarBlockHandler),
        (rf"/houses/{ID}/calendar/unblock", hosting.CalendarUnblockHandler),
        (r"/my/houses", hosting.MyHousesHandler),
        # messages (guests and hosts), live over /ws
        (rf"/houses/{ID}/contact", messages.ContactHandler),
        (r"/messages", messages.InboxHandler),
        (rf"/messages/{ID}", messages.ThreadHandler),
        (r"/ws", ws.WebSocket),
        # orders (bookings)
        (rf"/houses/{ID}/book", houses.BookHandler),
        (r"/my/orders", orders.MyOrdersHandler),
        (rf"/orders/{ID}", orders.OrderHandler),
        (rf"/orders/{ID}/(accept|reject|release|cancel|review)", orders.OrderActionHandler),
        # profile and account security
        (r"/profile", profile.ProfileHandler),
        (r"/profile/avatar", profile.AvatarHandler),
        (r"/profile/password", profile.PasswordHandler),
        (r"/profile/auth", profile.RealNameHandler),
        (r"/profile/sessions", profile.SessionsHandler),
        # admin
        (r"/admin/login", admin.AdminLoginHandler),
        (r"/admin", admin.AdminDashboardHandler),
        (r"/admin/houses", admin.AdminHousesHandler),
        (rf"/admin/houses/{ID}", admin.AdminHouseHandler),
        (rf"/admin/houses/{ID}/approve", admin.AdminHouseApproveHandler),
        (rf"/admin/houses/{ID}/reject", admin.AdminHouseRejectHandler),
        (rf"/admin/houses/{ID}/offline", admin.AdminHouseOfflineHandler),
        (rf"/admin/houses/{ID}/revision/approve", admin.AdminRevisionApproveHandler),
        (rf"/admin/houses/{ID}/revision/reject", admin.AdminRevisionRejectHandler),
        (r"/admin/users", admin.AdminUsersHandler),
        (rf"/admin/users/{ID}", admin.AdminUserHandler),
        (rf"/admin/users/{ID}/disable", admin.AdminUserDisableHandler),
        (rf"/admin/users/{ID}/enable", admin.AdminUserEnableHandler),
        (r"/admin/orders", admin.AdminOrdersHandler),
        (r"/admin/logins", admin.AdminLoginsHandler),
        # JSON API
        (r"/api/v1/areas", api.AreasApiHandler),
        (r"/api/v1/houses", api.HousesApiHandler),
        (rf"/api/v1/houses/{ID}/availability", api.HouseAvailabilityApiHandler),
        (r"/api/v1/location", api.LocationApiHandler),
        # favourites (收藏), host pages, sharing (QR code, the stay's calendar file)
        (rf"/houses/{ID}/favourite", favourites.FavouriteHandler),
        (rf"/houses/{ID}/unfavourite", favourites.UnfavouriteHandler),
        (r"/my/favourites", favourites.MyFavouritesHandler),
        (r"/my/favourites/ids", favourites.FavouriteIdsHandler),
        (rf"/users/{ID}", hosts.HostPageHandler),
        (rf"/houses/{ID}/qr.svg", sharing.QrCodeHandler),  # "." unescaped: tests walk the table filling in ids
        (rf"/orders/{ID}/stay.ics", sharing.StayCalendarHandler),
        # 日历同步: the listing's iCal export, external feeds imported as blocks (models/calendar_sync.py)
        (rf"/houses/{ID}/calendar.ics", calendar_sync.CalendarExportHandler),  # "." unescaped, as qr.svg
        (rf"/houses/{ID}/calendar/export/reset", calendar_sync.ExportResetHandler),
        (rf"/houses/{ID}/calendar/feeds", calendar_sync.FeedAddHandler),
        (rf"/houses/{ID}/calendar/feeds/{ID}/delete", calendar_sync.FeedDeleteHandler),
        (rf"/houses/{ID}/calendar/feeds/{ID}/sync", calendar_sync.FeedSyncHandler),
        # operations
        (r"/healthz", health.HealthHandler),
    ]


class IHomeApplication(tornado.web.Application):
    """The 爱家 web application.

    Receives its dependencies instead of creating them, so tests build it with
    their own: *db* (models.db.Database over an aiomysql pool), *redis* (a
    redis.asyncio client with decode_responses=True), *settings* (config.Settings),
    and optionally *images* (ImageStore) and *locator* (IPLocator).
    """

    def __init__(self, settings: config.Settings, db: Database, redis, *,
                 images: ImageStore | None = None, locator=None):
        self.config = settings
        self.db = db
        self.redis = redis
        self.images = images or ImageStore(settings.media_dir, max_bytes=settings.upload_max_bytes,
                                           max_pixels=settings.upload_max_pixels)
        self.locator = locator
        # Encrypts ID-card numbers at rest (models/profile.py); IHOME_DATA_KEY.
        self.cipher = FieldCipher(settings.data_key)
        i18n.load_catalogues()  # the compiled gettext catalogues of locale/ (tornado.locale)
        self.cache = Cache(redis, settings.cache_ttl)
        self.captcha = CaptchaService(redis, settings.captcha_ttl)
        self.sessions = SessionStore(redis, idle_ttl=settings.session_idle_ttl,
                                     absolute_ttl=settings.session_absolute_ttl,
                                     admin_idle_ttl=settings.admin_session_idle_ttl,
                                     revocations=RevocationLog(db))
        # Successful requests in the log too (errors always are); nginx keeps the access log in production.
        self.log_all_requests = settings.env != "production"
        # Live messages: this process's pub/sub subscriber and sockets (started by build_app).
        self.sockets = ws.SocketHub(self)
        self.delivery = Delivery(redis, settings.redis_url, connect_timeout=settings.timeouts.redis_connect,
                                 on_resume=self.sockets.resume_all)
        self.send_limiter = messages.SendLimiter(redis, settings.limits.message_per_minute)
        # External calendar feeds: ``await app.fetch_feed(url) -> bytes`` (SSRF-guarded, 1 MB, timeouts).
        self.fetch_feed = functools.partial(fetch_body, allow_private=settings.ical_allow_private)
        self.inflight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        settings.media_dir.mkdir(parents=True, exist_ok=True)
        super().__init__(
            # /media goes through an access check (handlers/media.py): private listings' photos.
            routes() + [(r"/media/(.*)", media.MediaHandler, {"path": str(settings.media_dir)})],
            template_path=str(ROOT / "templates"),
            static_path=str(ROOT / "static"),
            static_handler_class=security.SafeStaticFileHandler,  # site headers; 400 for bad paths
            # gzip for text answers (HTML, CSS, JS, JSON, SVG) when the client asks for it. The ETag
            # and the page cache keep the plain body (the transform runs as the bytes go out); the
            # XSRF token in pages is masked afresh per response, so compression does not leak it (BREACH).
            compress_response=True,
            ui_modules=ui_modules,
            cookie_secret=settings.cookie_secret,
            xsrf_cookies=True,
            xsrf_cookie_kwargs={"httponly": False, "samesite": "Lax"},
            login_url="/login",
            default_handler_class=NotFoundHandler,
            debug=settings.debug,
            autoescape="xhtml_escape",
            # A peer that stops answering pings is dropped, so dead sockets do not pile up.
            websocket_ping_interval=settings.ws_ping_interval,
            websocket_ping_timeout=settings.ws_ping_interval,
            websocket_max_message_size=ws.MAX_FRAME_BYTES,
        )

    async def announce_order(self, order_id: int) -> None:
        """Deliver live the system message an order event just wrote (call after its transaction
        committed; never raises). See handlers/messages.py."""
        await messages.announce_order(self, order_id)

    def log_request(self, handler: tornado.web.RequestHandler) -> None:
        """Tornado's request log line, skipped for answers below 400 unless ``log_all_requests``
        (formatting and writing a line per request was 6 % of a cached page's time)."""
        if self.log_all_requests or handler.get_status() >= 400:
            super().log_request(handler)

    def request_started(self) -> None:
        """Count a request in flight (BaseHandler.prepare), so shutdown can wait for it."""
        self.inflight += 1
        self._idle.clear()

    def request_finished(self) -> None:
        """Count a request as done (BaseHandler.on_finish); the last one wakes :meth:`wait_idle`."""
        self.inflight = max(0, self.inflight - 1)
        if self.inflight == 0:
            self._idle.set()

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until no request is in flight; False when *timeout* seconds passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except asyncio.TimeoutError:
            return False


def create_redis(settings: config.Settings):
    """A redis.asyncio client for settings.redis_url (str responses) that survives outages.

    Short connect and command timeouts (settings.timeouts), so a dead or stalled
    Redis costs a request a second, not a hang; a blocking pool that waits at
    most ``redis_pool`` seconds for a free connection instead of opening
    without bound; connection errors retried twice with a short jittered
    back-off (a pooled connection that went stale when Redis restarted is
    replaced by the retry instead of failing the request) — but not timeouts,
    which would multiply the wait on a stalled server; and a PING on
    connections idle for ``redis_health_check`` seconds before they are used.
    """
    t = settings.timeouts
    pool = aioredis.BlockingConnectionPool.from_url(
        settings.redis_url,
        decode_responses=True,
        max_connections=settings.redis_max_connections,
        timeout=t.redis_pool,
        socket_connect_timeout=t.redis_connect,
        socket_timeout=t.redis_socket,
        socket_keepalive=True,
        health_check_interval=t.redis_health_check,
        retry=Retry(ExponentialWithJitterBackoff(base=0.05, cap=0.25), retries=2,
                    supported_errors=(RedisConnectionError,)),
    )
    return aioredis.Redis.from_pool(pool)


async def build_app(settings: config.Settings) -> IHomeApplication:
    """Create the pool, Redis client and IP locator on the running loop, and the Application."""
    db = await create_database(settings)
    redis = create_redis(settings)
    try:
        app = IHomeApplication(settings, db, redis, locator=IPLocator.from_settings(settings, redis))
        app.delivery.start()
        app.sockets.start()
        return app
    except BaseException:  # close what was opened, or the pool's __del__ complains later
        await db.close()
        await redis.aclose()
        raise


async def close_app(app: IHomeApplication) -> None:
    """Close the IP locator's HTTP client, the cache's and sessions' background work, the pool and Redis."""
    if app.locator is not None:
        app.locator.close()
    await app.sockets.close()
    await app.delivery.close()
    await app.cache.close()
    await app.sessions.close()
    await app.db.close()
    await app.redis.aclose()


def create_http_server(app: IHomeApplication) -> tornado.httpserver.HTTPServer:
    """The HTTPServer for *app*, configured from app.config.

    With ``xheaders`` (IHOME_XHEADERS=1 or --xheaders, for running behind nginx)
    the client address is taken from ``X-Real-IP`` / ``X-Forwarded-For``;
    without it those headers are ignored, since any client can send them.
    """
    return tornado.httpserver.HTTPServer(app, xheaders=app.config.xheaders,
                                         # Every route refuses a body over 64 KB before reading it;
                                         # the upload routes raise their own limit after their checks
                                         # (handlers/uploads.py).
                                         max_body_size=SMALL_BODY_BYTES,
                                         # Idle keep-alive and slow (slowloris) clients are cut off.
                                         idle_connection_timeout=app.config.timeouts.http_idle,
                                         body_timeout=app.config.timeouts.http_body)


async def main() -> None:
    tornado.options.parse_command_line()
    settings = config.load_settings()
    overrides = {k: getattr(options, k) for k in ("port", "address", "debug", "xheaders")
                 if getattr(options, k) is not None}
    settings = settings.replace(**overrides)
    app = await build_app(settings)
    if options.access_log is not None:
        app.log_all_requests = options.access_log
    try:
        # A wrong IHOME_DATA_KEY stops the server here, not page by page.
        await profile_model.check_data_key(app.db, app.cipher)
    except DataKeyError as exc:
        await close_app(app)
        raise SystemExit(f"IHOME_DATA_KEY cannot decrypt the stored ID-card numbers: {exc}")
    server = create_http_server(app)
    server.listen(settings.port, settings.address)
    log.info("爱家 serving on http://%s:%d (%s)", settings.address, settings.port, settings.env)
    # The order calendar: unanswered requests expire, stays complete after check-out (models/lifecycle.py).
    settler = lifecycle.Settler(app.db, app.cache.invalidate_houses)
    settler.start()
    # External calendar feeds, every IHOME_ICAL_SYNC_MINUTES, one run at a time over all processes.
    ical_syncer = CalendarSyncer(app.db, app.redis, app.fetch_feed, app.cache.invalidate_houses,
                                 interval=settings.ical_sync_minutes * 60)
    ical_syncer.start()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()

    log.info("shutting down: no new connections, finishing %d in-flight request(s)", app.inflight)
    server.stop()
    app.sockets.close_all()  # 1001 "going away": the pages reconnect (to another process behind nginx)
    if not await app.wait_idle(settings.shutdown_grace):
        log.warning("gave up waiting for %d request(s) after %.0f s", app.inflight, settings.shutdown_grace)
    await server.close_all_connections()
    await settler.stop()
    await ical_syncer.stop()
    await close_app(app)
    log.info("stopped")


if __name__ == "__main__":
    asyncio.run(main())
