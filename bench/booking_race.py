"""The booking race: 20 guests post overlapping stays for one listing at the same moment.

Starts the real application on a free loopback port against a scratch MariaDB
database (``ihome_test_bench_<pid>``: created, migrated, seeded with areas and
facilities, dropped afterwards — tests/utils/testdb.py, the routine the tests use)
and a scratch Redis database (flushed before and after), then runs the race a few times on fresh listings. For each round it prints
the orders created, the status codes seen and the per-request latency (min /
median / max, ms, measured by the client from sending to the answer); then the
same figures over all rounds (after a warm-up round) and, for scale, one uncontended booking. It prints
figures; it is not a test.

    .venv/bin/python bench/booking_race.py [--rounds 5] [--guests 20] [--redis-url redis://127.0.0.1:6380/9]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import datetime
import logging
import os
import statistics
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import tornado.httpserver  # noqa: E402
import tornado.netutil  # noqa: E402
from tornado.httpclient import AsyncHTTPClient  # noqa: E402

import server  # noqa: E402
from config import test_settings  # noqa: E402
from models import houses as houses_model  # noqa: E402
from tests.utils.client import Client  # noqa: E402
from tests.utils.testdb import throwaway_database  # noqa: E402

HOUSE = dict(title="压测房源", description="", price_fen=30000, area_id=110105, address="朝阳区压测路 1 号",
             room_count=1, acreage=40, unit="", capacity=2, beds="", deposit_fen=0, min_days=1, max_days=0)


def iso(offset: int) -> str:
    return (datetime.date.today() + datetime.timedelta(days=offset)).isoformat()


def ms(values: list[float]) -> str:
    return (f"min {min(values) * 1000:6.1f}  median {statistics.median(values) * 1000:6.1f}  "
            f"max {max(values) * 1000:6.1f} ms")


async def make_user(app, tag: str) -> dict:
    # No bcrypt here: these users never log in with a password, they get a session directly.
    user_id = await app.db.insert("INSERT INTO users (mobile, name, password_hash) VALUES (%s, %s, %s)",
                                  tag, tag, "!bench")
    return {"id": user_id}


async def browser(app, http, base_url: str, user: dict) -> Client:
    client = Client(http, base_url)
    session = await app.sessions.create(user["id"], ip="127.0.0.1", user_agent="bench")
    client.login_as(app, session)
    await client.xsrf_token()
    return client


async def timed_post(client: Client, path: str, form: dict) -> tuple[int, float]:
    started = time.perf_counter()
    response = await client.post(path, form)
    return response.code, time.perf_counter() - started


async def run(settings, rounds: int, guests: int) -> None:
    app = await server.build_app(settings)
    sockets = tornado.netutil.bind_sockets(0, "127.0.0.1")
    http_server = tornado.httpserver.HTTPServer(app)
    http_server.add_sockets(sockets)
    base_url = f"http://127.0.0.1:{sockets[0].getsockname()[1]}"
    http = AsyncHTTPClient(force_instance=True, max_clients=guests * 2)
    serial = iter(range(13000000000, 14000000000))
    try:
        print(f"app on {base_url}, MariaDB pool max {settings.mysql_pool_max}, {guests} guests per round, "
              f"ranges [1+k, 4+k) with k = i mod 3 (every pair overlaps)")
        all_latency: list[float] = []
        winners: list[float] = []
        all_codes: collections.Counter = collections.Counter()
        # Round 0 is a warm-up (the pool opens its connections, templates compile): shown, not counted.
        for r in range(0, rounds + 1):
            landlord = await make_user(app, str(next(serial)))
            async with app.db.transaction() as tx:
                house_id = await houses_model.create(tx, landlord["id"], HOUSE, [])
            clients = [await browser(app, http, base_url, await make_user(app, str(next(serial))))
                       for _ in range(guests)]
            results = await asyncio.gather(*[
                timed_post(c, f"/houses/{house_id}/book", {"sd": iso(1 + i % 3), "ed": iso(4 + i % 3)})
                for i, c in enumerate(clients)])
            codes = collections.Counter(code for code, _ in results)
            latency = [t for _, t in results]
            orders = await app.db.scalar("SELECT COUNT(*) FROM orders WHERE house_id = %s", house_id)
            nights = await app.db.scalar("SELECT COUNT(*) FROM booked_nights WHERE house_id = %s", house_id)
            winner = [t for code, t in results if code == 302]
            if r:
                all_latency += latency
                winners += winner
                all_codes += codes
            print(f"{'round ' + str(r) if r else 'warm-up'}: orders created {orders}, booked nights {nights}, "
                  f"codes {dict(sorted(codes.items()))}, latency {ms(latency)}, "
                  f"winner {' '.join(f'{t * 1000:.1f}' for t in winner) or '-'} ms")
        print(f"all {rounds} rounds: codes {dict(sorted(all_codes.items()))}, "
              f"latency {ms(all_latency)} over {len(all_latency)} requests; "
              f"the winning booking {ms(winners) if winners else '-'}")

        landlord = await make_user(app, str(next(serial)))
        async with app.db.transaction() as tx:
            house_id = await houses_model.create(tx, landlord["id"], HOUSE, [])
        alone = []
        for i in range(5):
            client = await browser(app, http, base_url, await make_user(app, str(next(serial))))
            code, took = await timed_post(client, f"/houses/{house_id}/book",
                                          {"sd": iso(1 + 3 * i), "ed": iso(3 + 3 * i)})
            assert code == 302, code
            alone.append(took)
        print(f"uncontended booking (5 in a row): latency {ms(alone)}")
    finally:
        http.close()
        http_server.stop()
        await http_server.close_all_connections()
        await server.close_app(app)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--guests", type=int, default=20)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6380/9",
                        help="a scratch Redis database; it is flushed (default: %(default)s)")
    args = parser.parse_args()
    if urlsplit(args.redis_url).path.strip("/") in ("", "0"):
        parser.error("--redis-url must name a scratch database other than 0; it is flushed")
    # 409s are the expected answer of the race; Tornado would log every one.
    logging.getLogger("tornado.access").setLevel(logging.ERROR)
    logging.getLogger("tornado.general").setLevel(logging.ERROR)

    base = test_settings(redis_url=args.redis_url, media_dir=ROOT / "var" / "bench-media")
    db_number = int(urlsplit(args.redis_url).path.strip("/"))
    with throwaway_database(f"ihome_test_bench_{os.getpid()}", base=base, redis_db=db_number) as settings:
        asyncio.run(run(settings, args.rounds, args.guests))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
