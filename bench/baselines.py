"""The two baselines every page benchmark is compared with, run as their own process.

    python bench/baselines.py hello --port 9001
    python bench/baselines.py floor --port 9002 --mysql-url mysql://… --redis-url redis://…

- ``hello``: a bare Tornado "Hello, world" handler — the most this machine and
  Tornado can serve; a page's ``ratio_hello`` is its rate divided by this one's.
- ``floor``: a Tornado handler doing what the cheapest real page must do — one
  aiomysql SELECT by primary key and one Redis GET — on the project's own pool and
  client settings; ``ratio_floor`` is a page's rate divided by this one's.

Both log nothing per request (as the site does not either in production behind
nginx). They stop on SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tornado.web  # noqa: E402

import server  # noqa: E402
from config import test_settings  # noqa: E402
from models.db import create_database  # noqa: E402


class HelloHandler(tornado.web.RequestHandler):
    def get(self) -> None:
        self.write("Hello, world")


class FloorHandler(tornado.web.RequestHandler):
    """One SELECT by key and one Redis GET: the least work a dynamic page can do."""

    async def get(self) -> None:
        row = await self.application.db.queryone("SELECT id, title, price_fen FROM houses WHERE id = %s",
                                                 self.application.house_id)
        cached = await self.application.redis.get("bench:floor")
        self.write({"house": row and row["id"], "cached": cached})


async def serve(kind: str, port: int, mysql_url: str | None, redis_url: str | None) -> None:
    logging.getLogger("tornado.access").setLevel(logging.ERROR)
    closers = []
    if kind == "hello":
        app = tornado.web.Application([(r"/", HelloHandler)])
    else:
        settings = test_settings(mysql_url=mysql_url, redis_url=redis_url)
        app = tornado.web.Application([(r"/", FloorHandler)])
        app.db = await create_database(settings)
        app.redis = server.create_redis(settings)
        app.house_id = await app.db.scalar("SELECT MIN(id) FROM houses") or 1
        await app.redis.set("bench:floor", "x" * 200)
        closers = [app.db.close, app.redis.aclose]
    http_server = app.listen(port, "127.0.0.1")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"{kind} listening on 127.0.0.1:{port}", flush=True)
    await stop.wait()
    http_server.stop()
    for close in closers:
        await close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("hello", "floor"))
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mysql-url")
    parser.add_argument("--redis-url")
    args = parser.parse_args()
    if args.kind == "floor" and not (args.mysql_url and args.redis_url):
        parser.error("floor needs --mysql-url and --redis-url")
    asyncio.run(serve(args.kind, args.port, args.mysql_url, args.redis_url))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
