"""A real geolocation provider on 127.0.0.1, for the IP-location tests and bench.

It is a Tornado HTTPServer on an ephemeral loopback port that answers
``GET /json/{ip}`` the way ip-api.com does (``{"status": "success",
"country": ..., "regionName": ..., "city": ...}``), or with a nested shape
(``{"code": 0, "data": {...}}``). Its behaviour is set through attributes that
tests change between requests:

- ``delay``: seconds to wait before answering (longer than the client's
  request timeout makes a timeout);
- ``mode``: ``"ok"``, ``"error"`` (HTTP 500), ``"malformed"`` (200, not JSON),
  ``"fail"`` (200, ``status: fail`` as ip-api says for reserved ranges);
- ``shape``: ``"ip-api"`` or ``"nested"``;
- ``group``: when above 0, requests are held and let go in groups of that many
  (the first ``group`` requests wait until all of them have arrived, then the
  next ``group``, …). A client that asks one address at a time never completes
  a group and runs into its own timeout, so a test proves parallel lookups by
  construction, without a stopwatch.

It records what reached it: ``requests`` (the IPs, in arrival order; compare
them as sets or sorted lists, concurrent requests arrive in any order),
``answered`` and ``abandoned`` (the IPs whose client got an answer, or gave up
first), ``in_flight`` and ``max_in_flight``. ``await provider.wait_abandoned(n)``
returns once *n* clients have given up. Start and stop it on the loop that uses it::

    async with ProviderServer(delay=0.2) as provider:
        url = provider.url_template  # http://127.0.0.1:PORT/json/{ip}?lang=zh-CN
"""

from __future__ import annotations

import asyncio
import json

from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

# What the provider says for an address it has no entry for.
DEFAULT_ANSWER = ("中国", "广东", "深圳")
IPAPI_FIELDS = "country=country,province=regionName,city=city,status=status:success"
NESTED_FIELDS = "country=data.country,province=data.region,city=data.city,code=code:0"


class LookupHandler(RequestHandler):
    """GET /json/{ip}: one lookup, shaped by the ProviderServer's attributes."""

    def initialize(self, provider: "ProviderServer") -> None:
        self.provider = provider
        self.gone = asyncio.Event()
        self.ip = ""

    def on_connection_close(self) -> None:
        # The client gave up (its timeout): stop waiting instead of sleeping on.
        if not self.gone.is_set() and self.ip:
            self.provider.record_abandoned(self.ip)
        self.gone.set()

    async def get(self, ip: str) -> None:
        provider = self.provider
        self.ip = ip
        provider.requests.append(ip)
        provider.in_flight += 1
        provider.max_in_flight = max(provider.max_in_flight, provider.in_flight)
        try:
            provider.waiting.add(self.gone)
            try:
                await self.wait_for_group(len(provider.requests))
                if provider.delay and not self.gone.is_set():
                    try:
                        await asyncio.wait_for(self.gone.wait(), provider.delay)
                    except asyncio.TimeoutError:
                        pass
            finally:
                provider.waiting.discard(self.gone)
            if self.gone.is_set():
                return
            provider.answered.append(ip)
            self.respond(ip)
        finally:
            provider.in_flight -= 1

    async def wait_for_group(self, arrival: int) -> None:
        """With ``provider.group`` set, wait until the group of the *arrival*-th request is complete."""
        size = self.provider.group
        if size <= 0:
            return
        last = -(-arrival // size) * size  # the arrival that completes this request's group
        complete = self.provider.group_event(last)
        if arrival == last:
            complete.set()
        gone = asyncio.ensure_future(self.gone.wait())
        done = asyncio.ensure_future(complete.wait())
        try:
            await asyncio.wait({gone, done}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
            done.cancel()

    def respond(self, ip: str) -> None:
        mode = self.provider.mode
        if mode == "error":
            self.set_status(500)
            self.finish("internal error")
            return
        self.set_header("Content-Type", "application/json; charset=utf-8")
        if mode == "malformed":
            self.finish('{"status": "success", "country": ')
            return
        country, province, city = self.provider.answers.get(ip, DEFAULT_ANSWER)
        if mode == "fail":
            body = {"status": "fail", "message": "reserved range", "query": ip}
        elif self.provider.shape == "nested":
            body = {"code": 0, "data": {"country": country, "region": province, "city": city}}
        else:
            body = {"status": "success", "country": country, "regionName": province,
                    "city": city, "query": ip}
        self.finish(json.dumps(body, ensure_ascii=False))

    def write_error(self, status_code: int, **kwargs) -> None:
        self.finish(f"error {status_code}")


class ProviderServer:
    """The loopback provider; see the module docstring. Times are seconds."""

    def __init__(self, *, delay: float = 0.0, mode: str = "ok", shape: str = "ip-api",
                 answers: dict[str, tuple[str, str, str]] | None = None, group: int = 0) -> None:
        self.delay = delay
        self.mode = mode
        self.shape = shape
        self.group = group
        self.answers = dict(answers or {})
        self.requests: list[str] = []
        self.answered: list[str] = []
        self.abandoned: list[str] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self.waiting: set[asyncio.Event] = set()
        self._groups: dict[int, asyncio.Event] = {}
        self._abandoned_changed: asyncio.Event | None = None
        self.port = 0
        self._server: HTTPServer | None = None

    @property
    def url_template(self) -> str:
        """The IHOME_IPLOOKUP_URL that points at this server."""
        return f"http://127.0.0.1:{self.port}/json/{{ip}}?lang=zh-CN"

    @property
    def field_map(self) -> str:
        """The IHOME_IPLOOKUP_FIELDS that reads this server's current shape."""
        return NESTED_FIELDS if self.shape == "nested" else IPAPI_FIELDS

    def reset_counts(self) -> None:
        """Forget the requests seen so far (groups start again from the next request)."""
        self.requests.clear()
        self.answered.clear()
        self.abandoned.clear()
        self._groups.clear()
        self.max_in_flight = self.in_flight

    def group_event(self, last_arrival: int) -> asyncio.Event:
        """The event set when the request numbered *last_arrival* (1-based) arrives."""
        return self._groups.setdefault(last_arrival, asyncio.Event())

    def record_abandoned(self, ip: str) -> None:
        self.abandoned.append(ip)
        if self._abandoned_changed is not None:
            self._abandoned_changed.set()

    async def wait_abandoned(self, count: int, timeout: float = 30.0) -> None:
        """Return once *count* clients have given up; *timeout* (seconds) only guards against a hang."""
        async def reached() -> None:
            while len(self.abandoned) < count:
                self._abandoned_changed = asyncio.Event()
                await self._abandoned_changed.wait()
        await asyncio.wait_for(reached(), timeout)

    async def start(self) -> "ProviderServer":
        """Listen on 127.0.0.1 on a free port (must be called on the running loop)."""
        app = Application([(r"/json/(.+)", LookupHandler, {"provider": self})])
        sockets = bind_sockets(0, "127.0.0.1")
        self.port = sockets[0].getsockname()[1]
        self._server = HTTPServer(app)
        self._server.add_sockets(sockets)
        return self

    async def stop(self) -> None:
        """Stop listening, wake delayed handlers and close every connection."""
        if self._server is None:
            return
        self._server.stop()
        for event in list(self.waiting):
            event.set()
        await self._server.close_all_connections()
        self._server = None

    async def __aenter__(self) -> "ProviderServer":
        return await self.start()

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()
