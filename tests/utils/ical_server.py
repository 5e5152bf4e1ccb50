"""A real HTTP server on loopback that plays another platform's calendar feeds.

It runs on the test's own IOLoop (pytest-tornado), on a free port of 127.0.0.1. Each path
serves a :class:`Resource`: a body (an .ics file or garbage), a status, a delay before the
answer (a slow server), a redirect, a body of N bytes streamed in chunks (an oversized feed),
or a gate that holds the answer until the test opens it. ``hits`` counts the requests per path,
``arrived`` is set when a gated request has come in (tests wait on events, never on time).

    server = IcalServer(); server.start()
    server.serve("/a.ics", Resource(body=ics_bytes))
    url = server.url("/a.ics")
    ...
    server.stop()
"""

from __future__ import annotations

import asyncio
import collections
import datetime
from dataclasses import dataclass, field

import tornado.httpserver
import tornado.iostream
import tornado.web
from tornado.testing import bind_unused_port


@dataclass
class Resource:
    """What one path answers: *body* with *status*, after *delay* seconds; or a redirect to
    *redirect*; or *size* bytes of filler streamed in 64 KB chunks; *gate*: wait for it first."""
    body: bytes = b""
    status: int = 200
    delay: float = 0.0
    redirect: str | None = None
    size: int | None = None
    gate: asyncio.Event | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    content_type: str = "text/calendar; charset=utf-8"


def ics(*spans: tuple[datetime.date, datetime.date], uid_prefix: str = "ev") -> bytes:
    """A small VCALENDAR with one all-day event per (start, end exclusive), CRLF line ends."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//other platform//test//EN"]
    for i, (start, end) in enumerate(spans):
        lines += ["BEGIN:VEVENT", f"UID:{uid_prefix}-{i}@other.example", "DTSTAMP:20260101T000000Z",
                  f"DTSTART;VALUE=DATE:{start:%Y%m%d}", f"DTEND;VALUE=DATE:{end:%Y%m%d}",
                  "SUMMARY:Reserved", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return ("\r\n".join(lines) + "\r\n").encode()


class _FeedHandler(tornado.web.RequestHandler):
    def initialize(self, server: "IcalServer") -> None:
        self.server = server

    async def get(self, path: str) -> None:
        path = "/" + path
        self.server.hits[path] += 1
        resource = self.server.resources.get(path)
        if resource is None:
            self.set_status(404)
            self.finish("not found")
            return
        resource.arrived.set()
        if resource.gate is not None:
            await resource.gate.wait()
        if resource.delay:
            await asyncio.sleep(resource.delay)
        if resource.redirect is not None:
            self.redirect(resource.redirect, status=302)
            return
        self.set_status(resource.status)
        self.set_header("Content-Type", resource.content_type)
        if resource.size is not None:
            chunk = b"X" * 65536
            sent = 0
            while sent < resource.size:
                part = chunk[: resource.size - sent]
                self.write(part)
                sent += len(part)
                try:
                    await self.flush()
                except tornado.iostream.StreamClosedError:  # the client gave up: what we expect
                    return
            self.finish()
            return
        self.finish(resource.body)


class IcalServer:
    """The loopback feed server (see the module docstring)."""

    def __init__(self) -> None:
        self.resources: dict[str, Resource] = {}
        self.hits: collections.Counter[str] = collections.Counter()
        self._http: tornado.httpserver.HTTPServer | None = None
        self.port = 0

    def start(self) -> "IcalServer":
        sock, self.port = bind_unused_port()
        app = tornado.web.Application([(r"/(.*)", _FeedHandler, {"server": self})])
        self._http = tornado.httpserver.HTTPServer(app)
        self._http.add_sockets([sock])
        return self

    def serve(self, path: str, resource: Resource) -> str:
        """Serve *resource* at *path*; returns its URL."""
        self.resources[path] = resource
        return self.url(path)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    async def stop(self) -> None:
        for resource in self.resources.values():
            if resource.gate is not None:
                resource.gate.set()
        if self._http is not None:
            self._http.stop()
            await self._http.close_all_connections()
