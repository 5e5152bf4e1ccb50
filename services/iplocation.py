"""Where a client address is: country, province and city, for display.

:class:`IPLocator` answers in this order:

1. invalid strings → ``source="unknown"``, nothing is looked up;
2. loopback, private, reserved and link-local addresses → ``本机`` / ``局域网``,
   ``source="local"``, answered here and never sent to a provider;
3. the Redis cache (key ``ip:{ip}``, JSON of the four fields);
4. an HTTP JSON provider (``IHOME_IPLOOKUP_URL``, fields mapped by
   ``IHOME_IPLOOKUP_FIELDS``), cached for ``cache_ttl`` seconds;
5. when the provider fails in any way (connection refused, timeout, non-200,
   malformed JSON, a failed status check, no mapped field), the offline
   RIR allocation table shipped in the ``iptocc`` wheel, country level only,
   cached for the short ``failure_ttl`` so a dead provider is asked again soon
   but not on every request.

``locate`` never raises for provider or cache trouble (a location is decoration on
a page, not worth a 500); only cancellation propagates.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
from dataclasses import asdict, dataclass
from typing import Any, Iterable
from urllib.parse import quote

import iptocc
from redis.exceptions import RedisError
from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

log = logging.getLogger(__name__)

SOURCES = ("provider", "offline", "local", "unknown")
CACHE_PREFIX = "ip:"
LOCATION_FIELDS = ("country", "province", "city")

# ISO 3166-1 alpha-2 → the name a Chinese reader expects; codes not listed are
# shown as the bare code, which is still better than nothing.
COUNTRY_NAMES = {
    "CN": "中国", "HK": "中国香港", "MO": "中国澳门", "TW": "中国台湾",
    "US": "美国", "CA": "加拿大", "MX": "墨西哥", "BR": "巴西", "AR": "阿根廷",
    "GB": "英国", "IE": "爱尔兰", "FR": "法国", "DE": "德国", "NL": "荷兰",
    "BE": "比利时", "LU": "卢森堡", "CH": "瑞士", "AT": "奥地利", "IT": "意大利",
    "ES": "西班牙", "PT": "葡萄牙", "SE": "瑞典", "NO": "挪威", "FI": "芬兰",
    "DK": "丹麦", "PL": "波兰", "CZ": "捷克", "UA": "乌克兰", "RU": "俄罗斯",
    "TR": "土耳其", "GR": "希腊", "IL": "以色列", "AE": "阿联酋", "SA": "沙特阿拉伯",
    "IN": "印度", "PK": "巴基斯坦", "JP": "日本", "KR": "韩国", "KP": "朝鲜",
    "MN": "蒙古", "SG": "新加坡", "MY": "马来西亚", "TH": "泰国", "VN": "越南",
    "PH": "菲律宾", "ID": "印度尼西亚", "KH": "柬埔寨", "MM": "缅甸", "LA": "老挝",
    "KZ": "哈萨克斯坦", "AU": "澳大利亚", "NZ": "新西兰", "ZA": "南非", "EG": "埃及",
    "NG": "尼日利亚", "KE": "肯尼亚",
}

LOOPBACK_LABEL = "本机"
LAN_LABEL = "局域网"
UNKNOWN_LABEL = "未知"


@dataclass(frozen=True)
class Location:
    """Where an address is. Empty strings mean "not known at this level".

    ``source`` is one of :data:`SOURCES`: ``provider`` (the HTTP service),
    ``offline`` (the packaged country table), ``local`` (loopback/private,
    answered without lookup; the text is in ``country``) or ``unknown``.
    """

    country: str
    province: str
    city: str
    source: str

    def label(self) -> str:
        """A short display string: "中国 广东 深圳", "中国", "局域网", "本机" or "未知".

        A part equal to the one before it is dropped, so a municipality whose
        province and city share a name ("北京 北京") shows once.
        """
        parts: list[str] = []
        for part in (self.country, self.province, self.city):
            if part and (not parts or parts[-1] != part):
                parts.append(part)
        return " ".join(parts) or UNKNOWN_LABEL


UNKNOWN = Location("", "", "", "unknown")
LOOPBACK = Location(LOOPBACK_LABEL, "", "", "local")
LAN = Location(LAN_LABEL, "", "", "local")


class ProviderError(Exception):
    """The provider's answer could not be used (raised and caught inside this module)."""


@dataclass(frozen=True)
class FieldMap:
    """How to read a provider's JSON, parsed from ``IHOME_IPLOOKUP_FIELDS``.

    The text is comma-separated ``name=path`` pairs. ``country``, ``province``
    and ``city`` name our fields; ``path`` is a JSON field, dotted for nesting
    (``data.city``; a number steps into a list). ``name=path:value`` is a check
    instead: the field at ``path`` must equal ``value`` (a non-string JSON value
    is compared in its JSON spelling, so ``code=code:0`` and ``ok=ok:true`` work),
    otherwise the answer is a provider failure.
    """

    fields: tuple[tuple[str, tuple[str, ...]], ...]
    checks: tuple[tuple[tuple[str, ...], str], ...]

    @classmethod
    def parse(cls, text: str) -> "FieldMap":
        """Parse *text*; raises ValueError when it is malformed or maps no location field."""
        fields: dict[str, tuple[str, ...]] = {}
        checks: list[tuple[tuple[str, ...], str]] = []
        for item in text.split(","):
            item = item.strip()
            if not item:
                continue
            name, sep, spec = item.partition("=")
            name, spec = name.strip(), spec.strip()
            if not sep or not name or not spec:
                raise ValueError(f"iplookup field map entry must be name=jsonfield, got {item!r}")
            path_text, colon, expected = spec.partition(":")
            path = tuple(p for p in path_text.strip().split("."))
            if not all(path):
                raise ValueError(f"iplookup field map has an empty JSON path in {item!r}")
            if colon:
                checks.append((path, expected.strip()))
            elif name in LOCATION_FIELDS:
                fields[name] = path
            else:
                raise ValueError(f"iplookup field map: {name!r} is not one of {', '.join(LOCATION_FIELDS)} "
                                 "and has no :value check")
        if not fields:
            raise ValueError("iplookup field map maps none of country, province, city")
        return cls(tuple(fields.items()), tuple(checks))

    def extract(self, document: Any) -> Location:
        """The provider Location in *document* (parsed JSON); raises ProviderError when unusable."""
        if not isinstance(document, dict):
            raise ProviderError(f"answer is a JSON {type(document).__name__}, not an object")
        for path, expected in self.checks:
            actual = _dig(document, path)
            if _scalar_text(actual) != expected:
                raise ProviderError(f"{'.'.join(path)} is {actual!r}, not {expected!r}")
        values = {name: _scalar_text(_dig(document, path)) or "" for name, path in self.fields}
        if not any(values.values()):
            raise ProviderError("answer has none of the mapped location fields")
        return Location(values.get("country", ""), values.get("province", ""),
                        values.get("city", ""), "provider")


def _dig(document: Any, path: tuple[str, ...]) -> Any:
    """The value at dotted *path* in *document*, or None when any step is missing."""
    value = document
    for step in path:
        if isinstance(value, dict):
            value = value.get(step)
        elif isinstance(value, list) and step.isdigit() and int(step) < len(value):
            value = value[int(step)]
        else:
            return None
    return value


def _scalar_text(value: Any) -> str | None:
    """Strings as they are, other JSON scalars in their JSON spelling, containers as None."""
    if value is None or isinstance(value, (dict, list)):
        return None
    if isinstance(value, str):
        return value.strip()
    return json.dumps(value)


def local_location(addr: ipaddress.IPv4Address | ipaddress.IPv6Address) -> Location | None:
    """本机 for loopback, 局域网 for any other non-public address, None for a public one."""
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        # ::ffff:10.0.0.1 is an IPv4 client seen through a dual-stack socket.
        addr = addr.ipv4_mapped
    if addr.is_loopback:
        return LOOPBACK
    # is_global is False for RFC 1918, CGNAT 100.64/10, documentation and other
    # special ranges; the explicit checks cover multicast and reserved blocks
    # that is_global lets through. None of these mean anything to a provider.
    if (not addr.is_global or addr.is_private or addr.is_reserved or addr.is_link_local
            or addr.is_multicast or addr.is_unspecified):
        return LAN
    return None


def offline_location(ip: str) -> Location:
    """Country-level answer from the RIR table in the ``iptocc`` wheel (no I/O, ~1 µs).

    Province and city are always empty; an address the table does not know is UNKNOWN.
    """
    code = iptocc.country_code(ip)
    if not code:
        return UNKNOWN
    return Location(COUNTRY_NAMES.get(code.upper(), code.upper()), "", "", "offline")


def _classify(ip: str) -> Location | str:
    """The final answer for invalid and non-public addresses, else the normalised address.

    Normalising (``2400:3200:0::1`` → ``2400:3200::1``) gives one cache key and
    one provider request per address, whatever its spelling.
    """
    try:
        addr = ipaddress.ip_address(ip.strip())
    except (ValueError, AttributeError):
        return UNKNOWN
    return local_location(addr) or addr.compressed


def _decode(raw: str | None) -> Location | None:
    """The Location in a cache entry, or None when absent or unreadable."""
    if raw is None:
        return None
    try:
        data = json.loads(raw)
        location = Location(**{name: str(data[name]) for name in (*LOCATION_FIELDS, "source")})
    except (ValueError, TypeError, KeyError):
        return None  # an entry from another version of this code; look it up again
    return location if location.source in SOURCES else None


class IPLocator:
    """Looks addresses up through the provider chain described in the module docstring.

    *redis* is a ``redis.asyncio.Redis`` made with ``decode_responses=True``; the
    caller owns it. *url_template* contains ``{ip}``. Timeouts and TTLs are
    seconds. At most *max_concurrency* provider requests are in flight at once;
    more wait their turn (the wait is not part of the request timeout).

    The HTTP client is made on first use, on the running loop; call
    :meth:`close` when done with the locator.
    """

    def __init__(self, redis, *, url_template: str, field_map: str, connect_timeout: float,
                 request_timeout: float, max_concurrency: int, cache_ttl: int, failure_ttl: int) -> None:
        if "{ip}" not in url_template:
            raise ValueError(f"iplookup URL template must contain {{ip}}, got {url_template!r}")
        if max_concurrency < 1:
            raise ValueError("iplookup max_concurrency must be at least 1")
        self.redis = redis
        self.url_template = url_template
        self.field_map = FieldMap.parse(field_map)
        self.connect_timeout = connect_timeout
        self.request_timeout = request_timeout
        self.max_concurrency = max_concurrency
        self.cache_ttl = cache_ttl
        self.failure_ttl = failure_ttl
        self._semaphore = asyncio.Semaphore(max_concurrency)
        self._http: AsyncHTTPClient | None = None

    @classmethod
    def from_settings(cls, settings, redis) -> "IPLocator":
        """A locator configured from the ``iplookup_*`` fields of a config.Settings."""
        return cls(
            redis,
            url_template=settings.iplookup_url,
            field_map=settings.iplookup_fields,
            connect_timeout=settings.iplookup_connect_timeout,
            request_timeout=settings.iplookup_request_timeout,
            max_concurrency=settings.iplookup_max_concurrency,
            cache_ttl=settings.iplookup_cache_ttl,
            failure_ttl=settings.iplookup_failure_ttl,
        )

    def close(self) -> None:
        """Close the HTTP client (the Redis client belongs to the caller)."""
        if self._http is not None:
            self._http.close()
            self._http = None

    async def locate(self, ip: str) -> Location:
        """The Location of *ip* (IPv4 or IPv6 text). Never raises but for cancellation."""
        answer = _classify(ip)
        if isinstance(answer, Location):
            return answer
        key = CACHE_PREFIX + answer
        cached = await self._cache_get(key)
        if cached is not None:
            return cached
        location, ttl = await self._lookup(answer)
        await self._cache_set({key: (location, ttl)})
        return location

    async def locate_many(self, ips: Iterable[str]) -> dict[str, Location]:
        """{ip: Location} for each distinct string in *ips*. Never raises but for cancellation.

        The cache is read with one MGET and written with one pipeline; the
        uncached addresses go to the provider in parallel with ``asyncio.gather``
        (bounded by max_concurrency), so N uncached lookups take about one
        provider round trip when N ≤ max_concurrency.
        """
        answers: dict[str, Location | str] = {ip: _classify(ip) for ip in ips}
        pending = list(dict.fromkeys(a for a in answers.values() if isinstance(a, str)))
        found: dict[str, Location] = {}
        if pending:
            found = await self._cache_get_many(pending)
            misses = [ip for ip in pending if ip not in found]
            looked_up = await asyncio.gather(*(self._lookup(ip) for ip in misses))
            await self._cache_set({CACHE_PREFIX + ip: result for ip, result in zip(misses, looked_up)})
            found.update((ip, location) for ip, (location, _) in zip(misses, looked_up))
        return {ip: answer if isinstance(answer, Location) else found[answer]
                for ip, answer in answers.items()}

    async def _lookup(self, ip: str) -> tuple[Location, int]:
        """(Location, cache TTL in seconds) for a public *ip*: the provider's, else offline."""
        try:
            return await self._ask_provider(ip), self.cache_ttl
        except ProviderError as exc:
            log.warning("ip lookup of %s failed, answering offline: %s", ip, exc)
            return offline_location(ip), self.failure_ttl

    def _client(self) -> AsyncHTTPClient:
        if self._http is None:
            # Our own instance: the shared one keeps whatever max_clients it was
            # first made with (10 by default), and requests queued inside it time
            # out after the connect timeout. Matching max_clients to the semaphore
            # means the queue is never used.
            self._http = AsyncHTTPClient(force_instance=True, max_clients=self.max_concurrency)
        return self._http

    async def _ask_provider(self, ip: str) -> Location:
        """The provider's Location for *ip*; raises ProviderError for any failure."""
        request = HTTPRequest(
            self.url_template.replace("{ip}", quote(ip, safe=":")),
            method="GET",
            headers={"Accept": "application/json"},
            connect_timeout=self.connect_timeout,
            request_timeout=self.request_timeout,
            follow_redirects=False,
        )
        async with self._semaphore:
            try:
                response = await self._client().fetch(request, raise_error=False)
            except HTTPClientError as exc:  # timeouts and closed streams (code 599)
                raise ProviderError(f"{exc}") from None
            except (OSError, ValueError) as exc:  # refused, unreachable, DNS, TLS; bad URL
                raise ProviderError(f"{type(exc).__name__}: {exc}") from None
        if response.code != 200:
            raise ProviderError(f"HTTP {response.code}")
        try:
            document = json.loads(response.body)
        except ValueError as exc:
            raise ProviderError(f"malformed JSON: {exc}") from None
        return self.field_map.extract(document)

    async def _cache_get(self, key: str) -> Location | None:
        try:
            raw = await self.redis.get(key)
        except RedisError as exc:
            log.warning("ip location cache read failed: %s", exc)
            return None
        return _decode(raw)

    async def _cache_get_many(self, ips: list[str]) -> dict[str, Location]:
        """{ip: cached Location} for those of *ips* in the cache."""
        try:
            raws = await self.redis.mget([CACHE_PREFIX + ip for ip in ips])
        except RedisError as exc:
            log.warning("ip location cache read failed: %s", exc)
            return {}
        decoded = ((ip, _decode(raw)) for ip, raw in zip(ips, raws))
        return {ip: location for ip, location in decoded if location is not None}

    async def _cache_set(self, entries: dict[str, tuple[Location, int]]) -> None:
        """Store {key: (Location, TTL seconds)} in one round trip."""
        if not entries:
            return
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key, (location, ttl) in entries.items():
                    pipe.set(key, json.dumps(asdict(location), ensure_ascii=False), ex=ttl)
                await pipe.execute()
        except RedisError as exc:
            log.warning("ip location cache write failed: %s", exc)

