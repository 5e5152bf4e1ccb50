"""Typed settings for 爱家, read from the environment.

Every setting has an ``IHOME_…`` environment variable; :func:`load_settings` reads
them once at start-up and refuses to start in production with a missing or
placeholder cookie secret. Tests build their own object with :func:`test_settings`.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping
from urllib.parse import unquote, urlsplit

ROOT = Path(__file__).resolve().parent
VAR_DIR = ROOT / "var"

ENVIRONMENTS = ("development", "test", "production")
DEFAULT_MYSQL_URL = "mysql://ihome:ihome-local@127.0.0.1:3307/ihome"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6380/0"
# A public JSON geolocation service that needs no key, over HTTPS (visitors' addresses
# must not cross the network in clear; ip-api.com's free tier is HTTP only); {ip} is
# replaced. ipwho.is answers {"success": true, "country": …, "region": …, "city": …},
# in Chinese with lang=zh-CN, and {"success": false, "message": …} for reserved ranges.
DEFAULT_IPLOOKUP_URL = "https://ipwho.is/{ip}?lang=zh-CN"
DEFAULT_IPLOOKUP_FIELDS = "country=country,province=region,city=city,ok=success:true"
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "please-change-me"}
# bcrypt cost: production never goes below 12; tests may go down to bcrypt's minimum, 4.
PRODUCTION_MIN_BCRYPT_ROUNDS = 12
BCRYPT_ROUNDS_RANGE = (4, 31)


class ConfigError(Exception):
    """Raised when the environment describes a configuration that cannot run."""


@dataclass(frozen=True)
class MySQLParams:
    """Connection parameters parsed from a ``mysql://user:pass@host:port/db`` URL."""

    host: str
    port: int
    user: str
    password: str
    db: str

    @classmethod
    def from_url(cls, url: str) -> "MySQLParams":
        """Parse *url*; raises :class:`ConfigError` when it is not a mysql:// URL with a database."""
        parts = urlsplit(url)
        if parts.scheme not in ("mysql", "mysql+pymysql") or not parts.path.strip("/"):
            raise ConfigError(f"IHOME_MYSQL_URL must look like mysql://user:pass@host:port/db, got {url!r}")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 3306,
            user=unquote(parts.username or "root"),
            password=unquote(parts.password or ""),
            db=parts.path.strip("/"),
        )

    def url(self, db: str | None = None) -> str:
        """The URL again, optionally for another database *db* on the same server."""
        from urllib.parse import quote

        return (f"mysql://{quote(self.user, safe='')}:{quote(self.password, safe='')}@{self.host}:{self.port}/"
                f"{db or self.db}")


@dataclass(frozen=True)
class Limits:
    """Rate limits; each is ``IHOME_LIMIT_<NAME>`` in the environment (upper case).

    Counts are attempts, windows are seconds; a count of 0 switches that limit
    off (services/ratelimit.py). README.md lists them under "限流 / Rate limits".
    """

    # Failed logins an account may collect per window before an address that
    # has failed for it is refused; addresses that have not may go on trying up
    # to login_per_mobile_total (so the owner still gets in during an attack).
    login_per_mobile: int = 5
    login_per_mobile_total: int = 20
    # Failed logins per address per window that are free; each one past them
    # waits twice as long as the last (login_ip_backoff seconds first, at most
    # login_ip_backoff_cap): a back-off, not a wall, for addresses shared by many.
    login_per_ip: int = 20
    login_ip_backoff: int = 10
    login_ip_backoff_cap: int = 5 * 60
    login_window: int = 15 * 60
    register_per_ip: int = 10
    register_window: int = 60 * 60
    captcha_per_ip: int = 60
    captcha_window: int = 10 * 60
    # Messages (text) a user may send per minute, over the socket and the form alike.
    message_per_minute: int = 30
    # Listings a member may save to 收藏 per minute (removing is not limited).
    favourite_per_minute: int = 60


@dataclass(frozen=True)
class Timeouts:
    """How long anything may wait on a dependency or a client, in seconds; each is
    ``IHOME_TIMEOUT_<NAME>`` in the environment (upper case). README.md lists them.

    MariaDB: ``mysql_connect`` opens a TCP connection, ``mysql_acquire`` bounds
    getting a pooled connection (connecting and logging in included),
    ``mysql_statement`` is the server's ``max_statement_time`` for page queries
    and ``mysql_tx_statement`` for statements inside transactions (they may wait
    for row locks); the client gives up one second after the server's limit.
    Redis: connect, each command (``redis_socket``), waiting for a pooled
    connection, and how long a connection may sit idle before it is checked
    with PING. HTTP: a keep-alive connection idle this long is closed, and a
    request body must arrive within ``http_body``. ``healthz`` bounds each
    check of GET /healthz; ``retry_after`` is the Retry-After of a 503.
    """

    mysql_connect: float = 2.0
    mysql_acquire: float = 3.0
    mysql_statement: float = 3.0
    mysql_tx_statement: float = 10.0
    redis_connect: float = 0.5
    redis_socket: float = 1.0
    redis_pool: float = 1.0
    redis_health_check: float = 10.0
    http_idle: float = 20.0
    http_body: float = 30.0
    healthz: float = 0.4
    retry_after: int = 10


@dataclass(frozen=True)
class Settings:
    """All settings of one process. Durations are seconds, sizes bytes."""

    env: str = "development"
    mysql_url: str = DEFAULT_MYSQL_URL
    redis_url: str = DEFAULT_REDIS_URL
    port: int = 8000
    address: str = "127.0.0.1"
    cookie_secret: str = ""
    # IHOME_DATA_KEY: key(s) encrypting ID-card numbers at rest (services/crypto.py).
    data_key: str = ""
    media_dir: Path = VAR_DIR / "media"
    # IHOME_MEDIA_ACCEL_REDIRECT: behind nginx, the internal location (e.g. "/_media/") that
    # sends /media files after the app's access check (X-Accel-Redirect); "" = the app sends them.
    media_accel_redirect: str = ""
    debug: bool = False
    xheaders: bool = False
    mysql_pool_min: int = 1
    mysql_pool_max: int = 20
    mysql_pool_recycle: int = 3600
    redis_max_connections: int = 64
    bcrypt_rounds: int = 12
    session_idle_ttl: int = 7 * 24 * 3600
    session_absolute_ttl: int = 30 * 24 * 3600
    admin_session_idle_ttl: int = 30 * 60
    captcha_ttl: int = 5 * 60
    cache_ttl: int = 10 * 60
    upload_max_bytes: int = 10 * 1024 * 1024
    upload_max_pixels: int = 40_000_000
    iplookup_url: str = DEFAULT_IPLOOKUP_URL
    iplookup_fields: str = DEFAULT_IPLOOKUP_FIELDS
    iplookup_connect_timeout: float = 1.5
    iplookup_request_timeout: float = 1.5
    iplookup_max_concurrency: int = 20
    iplookup_cache_ttl: int = 7 * 24 * 3600
    iplookup_failure_ttl: int = 60
    shutdown_grace: float = 10.0
    # Messaging (handlers/ws.py). IHOME_SITE_ORIGIN: the origin pages are served from, e.g.
    # "https://ihome.example" — the only Origin /ws accepts ("" = the request's own host).
    site_origin: str = ""
    ws_max_per_user: int = 5  # IHOME_WS_MAX_PER_USER: open sockets per user, all processes
    ws_ping_interval: float = 25.0  # seconds between pings; a peer that misses the next one is dropped
    ws_session_check: float = 60.0  # seconds between checks that the sockets' sessions still exist
    # IHOME_FREE_CANCEL_HOURS: a guest may cancel free of charge until this many hours before
    # check-in (14:00 local on the check-in day, models/lifecycle.py); after that only the host
    # can release the stay. 0–720.
    free_cancel_hours: int = 24
    # IHOME_LOCALES: the languages visitors may get (services/i18n.py), comma-separated codes
    # from i18n.LANGUAGES; zh_CN always. English joins the default once its catalogue is complete.
    locales: tuple[str, ...] = ("zh_CN",)
    # 日历同步 (models/calendar_sync.py). IHOME_ICAL_SYNC_MINUTES: minutes between syncs of the
    # external calendar feeds (1–1440). IHOME_ICAL_ALLOW_PRIVATE=1 lets feeds point at private,
    # loopback and link-local addresses — for tests only (it opens the server's own network).
    ical_sync_minutes: float = 30.0
    ical_allow_private: bool = False
    limits: Limits = field(default_factory=Limits)
    timeouts: Timeouts = field(default_factory=Timeouts)

    @property
    def mysql(self) -> MySQLParams:
        return MySQLParams.from_url(self.mysql_url)

    @property
    def is_production(self) -> bool:
        return self.env == "production"

    def replace(self, **changes) -> "Settings":
        """A copy with *changes* applied (tests use this)."""
        return dataclasses.replace(self, **changes)


def _accel_prefix(value: str) -> str:
    """IHOME_MEDIA_ACCEL_REDIRECT: "" or a local path such as "/_media/" (ConfigError otherwise)."""
    value = value.strip()
    if value and (not value.startswith("/") or value.startswith("//") or any(c in value for c in "?#\\ ")):
        raise ConfigError(f"IHOME_MEDIA_ACCEL_REDIRECT must be a path like /_media/, got {value!r}")
    return value


def _site_origin(value: str) -> str:
    """IHOME_SITE_ORIGIN: "" or scheme://host[:port] without a path (ConfigError otherwise)."""
    value = value.strip().rstrip("/")
    if not value:
        return ""
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path or parts.query:
        raise ConfigError(f"IHOME_SITE_ORIGIN must look like https://ihome.example, got {value!r}")
    return value


def _whole(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}")


def _ical_sync_minutes(raw: str) -> float:
    """IHOME_ICAL_SYNC_MINUTES: 1–1440 minutes (ConfigError otherwise)."""
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"IHOME_ICAL_SYNC_MINUTES must be a number of minutes, got {raw!r}")
    if not 1 <= value <= 1440:
        raise ConfigError(f"IHOME_ICAL_SYNC_MINUTES must be 1–1440, got {raw!r}")
    return value


def _bool(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes", "on")


def _dev_cookie_secret() -> str:
    """A secret generated once per checkout and kept in var/, so sessions survive restarts."""
    path = VAR_DIR / "cookie_secret"
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(value)
    os.chmod(tmp, 0o600)
    tmp.rename(path)
    return value


def _dev_data_key() -> str:
    """A data key generated once per checkout and kept in var/, so encrypted rows stay readable."""
    from services.crypto import generate_key

    path = VAR_DIR / "data_key"
    if path.exists():
        return path.read_text().strip()
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    value = generate_key()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(value)
    os.chmod(tmp, 0o600)
    tmp.rename(path)
    return value


def _data_key(raw: str, env: str) -> str:
    """IHOME_DATA_KEY checked; production refuses to start without one, development makes one."""
    from services.crypto import generate_key, parse_keys

    if not raw.strip():
        if env == "production":
            raise ConfigError("production needs IHOME_DATA_KEY: 32 random bytes in URL-safe base64, e.g. "
                              "python -c 'import base64, os; print(base64.urlsafe_b64encode(os.urandom(32)).decode())'")
        return _dev_data_key() if env == "development" else generate_key()
    try:
        parse_keys(raw)
    except ValueError as exc:
        raise ConfigError(f"IHOME_DATA_KEY: {exc}") from None
    return raw.strip()


def _limits_from_env(environ: Mapping[str, str]) -> Limits:
    values = {}
    for f in dataclasses.fields(Limits):
        raw = environ.get(f"IHOME_LIMIT_{f.name.upper()}")
        if raw is not None:
            try:
                values[f.name] = int(raw)
            except ValueError:
                raise ConfigError(f"IHOME_LIMIT_{f.name.upper()} must be a whole number, got {raw!r}")
    return Limits(**values)


def _bcrypt_rounds(raw: str, env: str) -> int:
    """IHOME_BCRYPT_ROUNDS as an int in bcrypt's range; production refuses less than 12."""
    low, high = BCRYPT_ROUNDS_RANGE
    try:
        rounds = int(raw)
    except ValueError:
        raise ConfigError(f"IHOME_BCRYPT_ROUNDS must be a whole number, got {raw!r}")
    if not low <= rounds <= high:
        raise ConfigError(f"IHOME_BCRYPT_ROUNDS must be between {low} and {high}, got {rounds}")
    if env == "production" and rounds < PRODUCTION_MIN_BCRYPT_ROUNDS:
        raise ConfigError(f"production needs IHOME_BCRYPT_ROUNDS of at least {PRODUCTION_MIN_BCRYPT_ROUNDS}, "
                          f"got {rounds}")
    return rounds


def _timeouts_from_env(environ: Mapping[str, str]) -> Timeouts:
    values = {}
    for f in dataclasses.fields(Timeouts):
        name = f"IHOME_TIMEOUT_{f.name.upper()}"
        raw = environ.get(name)
        if raw is None:
            continue
        try:
            value = int(raw) if f.type in (int, "int") else float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number of seconds, got {raw!r}")
        if not value > 0:
            raise ConfigError(f"{name} must be more than 0, got {raw!r}")
        values[f.name] = value
    return Timeouts(**values)


def _free_cancel_hours(raw: str) -> int:
    """IHOME_FREE_CANCEL_HOURS as whole hours, 0–720 (30 days); ConfigError otherwise."""
    try:
        hours = int(raw)
    except ValueError:
        hours = -1
    if not 0 <= hours <= 720:
        raise ConfigError(f"IHOME_FREE_CANCEL_HOURS must be whole hours from 0 to 720, got {raw!r}")
    return hours


def _locales(raw: str) -> tuple[str, ...]:
    """IHOME_LOCALES as a tuple of language codes, zh_CN first; ConfigError for an unknown code."""
    from services.i18n import DEFAULT, LANGUAGES

    codes = [DEFAULT]
    for code in (part.strip() for part in raw.split(",")):
        if not code or code in codes:
            continue
        if code not in LANGUAGES:
            raise ConfigError(f"IHOME_LOCALES: unknown language {code!r} (known: {', '.join(LANGUAGES)})")
        codes.append(code)
    return tuple(codes)


def load_settings(environ: Mapping[str, str] | None = None) -> Settings:
    """Build :class:`Settings` from *environ* (default ``os.environ``).

    Raises :class:`ConfigError` for an unknown ``IHOME_ENV``, a malformed URL or
    number, production without a real ``IHOME_COOKIE_SECRET``, or a bcrypt cost
    (``IHOME_BCRYPT_ROUNDS``) outside 4–31, or below 12 in production, or a missing
    (production) or malformed ``IHOME_DATA_KEY``.
    """
    env_vars = os.environ if environ is None else environ
    env = env_vars.get("IHOME_ENV", "development")
    if env not in ENVIRONMENTS:
        raise ConfigError(f"IHOME_ENV must be one of {', '.join(ENVIRONMENTS)}, got {env!r}")
    secret = env_vars.get("IHOME_COOKIE_SECRET", "")
    if env == "production" and (secret.strip().lower() in PLACEHOLDER_SECRETS or len(secret) < 32):
        raise ConfigError("production needs IHOME_COOKIE_SECRET: a random string of 32 or more characters")
    if not secret:
        secret = _dev_cookie_secret() if env == "development" else secrets.token_urlsafe(48)
    try:
        port = int(env_vars.get("IHOME_PORT", "8000"))
    except ValueError:
        raise ConfigError("IHOME_PORT must be a port number")
    bcrypt_rounds = _bcrypt_rounds(env_vars.get("IHOME_BCRYPT_ROUNDS", str(PRODUCTION_MIN_BCRYPT_ROUNDS)), env)
    data_key = _data_key(env_vars.get("IHOME_DATA_KEY", ""), env)
    settings = Settings(
        env=env,
        mysql_url=env_vars.get("IHOME_MYSQL_URL", DEFAULT_MYSQL_URL),
        redis_url=env_vars.get("IHOME_REDIS_URL", DEFAULT_REDIS_URL),
        port=port,
        address=env_vars.get("IHOME_ADDRESS", "127.0.0.1"),
        cookie_secret=secret,
        data_key=data_key,
        media_dir=Path(env_vars.get("IHOME_MEDIA_DIR", str(VAR_DIR / "media"))),
        media_accel_redirect=_accel_prefix(env_vars.get("IHOME_MEDIA_ACCEL_REDIRECT", "")),
        debug=_bool(env_vars.get("IHOME_DEBUG", "0")),
        xheaders=_bool(env_vars.get("IHOME_XHEADERS", "0")),
        site_origin=_site_origin(env_vars.get("IHOME_SITE_ORIGIN", "")),
        ws_max_per_user=_whole(env_vars, "IHOME_WS_MAX_PER_USER", 5),
        iplookup_url=env_vars.get("IHOME_IPLOOKUP_URL", DEFAULT_IPLOOKUP_URL),
        iplookup_fields=env_vars.get("IHOME_IPLOOKUP_FIELDS", DEFAULT_IPLOOKUP_FIELDS),
        bcrypt_rounds=bcrypt_rounds,
        free_cancel_hours=_free_cancel_hours(env_vars.get("IHOME_FREE_CANCEL_HOURS", "24")),
        locales=_locales(env_vars.get("IHOME_LOCALES", "zh_CN")),
        ical_sync_minutes=_ical_sync_minutes(env_vars.get("IHOME_ICAL_SYNC_MINUTES", "30")),
        ical_allow_private=_bool(env_vars.get("IHOME_ICAL_ALLOW_PRIVATE", "0")),
        limits=_limits_from_env(env_vars),
        timeouts=_timeouts_from_env(env_vars),
    )
    settings.mysql  # validate the URL now, not at first query
    return settings


def _test_data_key() -> str:
    from services.crypto import generate_key

    return generate_key()


def test_settings(**overrides) -> Settings:
    """Settings for the test suite: the local test servers, a fresh secret, no debug."""
    base = Settings(
        env="test",
        mysql_url=os.environ.get("IHOME_TEST_MYSQL_URL", DEFAULT_MYSQL_URL),
        redis_url=os.environ.get("IHOME_TEST_REDIS_URL", DEFAULT_REDIS_URL),
        cookie_secret=secrets.token_urlsafe(48),
        data_key=_test_data_key(),
        media_dir=VAR_DIR / "test-media",
        iplookup_url="http://127.0.0.1:9/{ip}",  # tests point this at their own provider
        bcrypt_rounds=BCRYPT_ROUNDS_RANGE[0],  # bcrypt's cheapest cost: hashing is not what tests test
    )
    return base.replace(**overrides)


# pytest would collect test_settings as a test when imported into a test module.
test_settings.__test__ = False
