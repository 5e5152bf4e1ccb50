"""WebSocket figures: memory per idle socket, and message latency across two processes.

    .venv/bin/python bench/websocket.py [--idle 1000,10000] [--users 1000] [--rate 100] [--seconds 20]
                                        [--redis-db 24]

Starts two ``server.py`` processes (A and B, IHOME_ENV=test, the message limit off) on free
loopback ports over a throw-away database (tests/utils/testdb.py) and one Redis db, creates the
users and their sessions directly (no bcrypt), then:

1. **Idle sockets.** Opens sockets to A (one per user, 100 handshakes at a time) up to each
   count of ``--idle`` and reads A's RSS (``/proc/<pid>/status`` VmRSS) before and after:
   RSS per idle connection = (after − before) / count. Target < 50 KB. The soft limit on open
   files is raised to the hard one first (the server inherits it); counts above what it
   allows are skipped with a note.
2. **Latency.** ``--users`` users connected, half on A (guests) and half on B (hosts), in
   pairs that share a conversation. Guests send ``--rate`` messages per second in all for
   ``--seconds``; each message's latency is the time from the guest's ``send`` frame to the
   host's socket on the other process receiving it (both clients are in this process: one
   clock). Prints p50/p99 (target p99 < 50 ms) and, measured meanwhile, ``GET /`` on A
   (one request every 100 ms): its count of answers by status and p50/p99.

The machine is shared: read the figures as this run's, and run it when it is quiet.
Everything started here is stopped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis.asyncio as aioredis  # noqa: E402
import tornado.web  # noqa: E402
from tornado.httpclient import AsyncHTTPClient, HTTPRequest  # noqa: E402
from tornado.websocket import websocket_connect  # noqa: E402
from bench.serving import free_port  # noqa: E402

from config import test_settings  # noqa: E402
from models.db import create_database  # noqa: E402
from services.sessions import SessionStore  # noqa: E402
from tests.utils.testdb import throwaway_database  # noqa: E402

SESSION_COOKIE = "ihome_session"
HANDSHAKES_AT_ONCE = 100


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


async def make_users(settings, count: int) -> tuple[list[int], list[str]]:
    """*count* users (a dummy password hash: nobody logs in with it) and a session cookie each."""
    db = await create_database(settings, bounded=False)
    redis = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        start = int(await db.scalar("SELECT COALESCE(MAX(id), 0) FROM users")) + 1
        rows = [(f"170{i:08d}", f"bench{i}", "x" * 60) for i in range(start, start + count)]
        for at in range(0, len(rows), 1000):
            await db.executemany("INSERT INTO users (mobile, name, password_hash) VALUES (%s, %s, %s)",
                                 rows[at:at + 1000])
        ids = [r["id"] for r in await db.query("SELECT id FROM users WHERE id >= %s ORDER BY id", start)]
        store = SessionStore(redis, idle_ttl=3600, absolute_ttl=7200, admin_idle_ttl=600)
        cookies = []
        for user_id in ids:
            session = await store.create(user_id, ip="127.0.0.1", user_agent="bench")
            value = tornado.web.create_signed_value(settings.cookie_secret, SESSION_COOKIE, session.token)
            cookies.append(f"{SESSION_COOKIE}={value.decode()}")
        return ids, cookies
    finally:
        await db.close()
        await redis.aclose()


async def make_pairs(settings, guests: list[int], hosts: list[int]) -> list[int]:
    """A listing per host and a conversation (guest i, host i) about it; the conversation ids."""
    from models import messages

    db = await create_database(settings, bounded=False)
    try:
        conversation_ids = []
        for guest_id, host_id in zip(guests, hosts):
            house_id = await db.insert(
                "INSERT INTO houses (owner_id, area_id, title, price_fen, address, room_count, acreage, unit, "
                "capacity, beds, deposit_fen, min_days, max_days, status) "
                "VALUES (%s, 110105, 'bench', 10000, 'bench', 1, 10, '', 1, '', 0, 1, 0, 'online')", host_id)
            conversation_ids.append(await messages.open_conversation(db, house_id, guest_id))
        return conversation_ids
    finally:
        await db.close()


def start_server(settings, port: int, workdir: Path, name: str) -> subprocess.Popen:
    env = {**os.environ, "IHOME_ENV": "test", "IHOME_MYSQL_URL": settings.mysql_url,
           "IHOME_REDIS_URL": settings.redis_url, "IHOME_COOKIE_SECRET": settings.cookie_secret,
           "IHOME_DATA_KEY": settings.data_key, "IHOME_MEDIA_DIR": str(workdir / "media"),
           "IHOME_LIMIT_MESSAGE_PER_MINUTE": "0", "IHOME_WS_MAX_PER_USER": "5"}
    log = open(workdir / f"{name}.log", "w")
    return subprocess.Popen([sys.executable, "server.py", f"--port={port}", "--access_log=false"], cwd=ROOT,
                            env=env, stdout=log, stderr=subprocess.STDOUT)


async def wait_up(url: str, proc: subprocess.Popen) -> None:
    client = AsyncHTTPClient()
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(f"{url} exited")
        try:
            await client.fetch(url + "/healthz", raise_error=False, request_timeout=2)
            return
        except OSError:
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not start")


async def connect(url: str, cookie: str, on_message=None):
    request = HTTPRequest("ws" + url[len("http"):] + "/ws", headers={"Cookie": cookie, "Origin": url},
                          connect_timeout=60, request_timeout=60)
    conn = await websocket_connect(request, on_message_callback=on_message)
    return conn


async def open_many(url: str, cookies: list[str], on_message=None) -> list:
    """A socket per cookie, HANDSHAKES_AT_ONCE at a time. A socket the server closed at once
    (1013: a dependency was too busy to load its session) is opened again, as the page's
    script would after its back-off; how many needed that is printed."""
    gate = asyncio.Semaphore(HANDSHAKES_AT_ONCE)
    callback = on_message or (lambda _: None)

    async def one(cookie):
        async with gate:
            return await connect(url, cookie, on_message=callback)
    conns = list(await asyncio.gather(*[one(c) for c in cookies]))
    retried = 0
    for _ in range(5):
        await asyncio.sleep(1.0)
        closed = [i for i, conn in enumerate(conns) if conn.close_code is not None]
        if not closed:
            break
        retried += len(closed)
        for i in closed:
            conns[i] = await one(cookies[i])
    if retried:
        print(f"  ({retried} socket(s) were closed at once by the server and opened again)")
    return conns


async def idle_figures(url: str, pid: int, cookies: list[str], counts: list[int], nofile: int) -> None:
    warm = await connect(url, cookies[0], on_message=lambda _: None)  # first socket: imports, buffers
    await asyncio.sleep(1)
    warm.close()
    await asyncio.sleep(1)
    for count in counts:
        if count + 200 > nofile:
            print(f"idle {count}: skipped (open files limit {nofile})")
            continue
        before = rss_kb(pid)
        started = time.monotonic()
        conns = await open_many(url, cookies[:count])
        took = time.monotonic() - started
        await asyncio.sleep(2)
        after = rss_kb(pid)
        print(f"idle {count:>6} sockets: RSS {before / 1024:.1f} MB → {after / 1024:.1f} MB, "
              f"{(after - before) * 1024 / count / 1024:.1f} KB per socket (opened in {took:.1f} s)")
        for conn in conns:
            conn.close()
        await asyncio.sleep(3)


async def latency_figures(url_a: str, url_b: str, guests: list[str], hosts: list[str], conversations: list[int],
                          rate: float, seconds: float) -> None:
    sent_at: dict[str, float] = {}
    latencies: list[float] = []

    def on_host_frame(raw):
        if raw is None:
            return
        frame = json.loads(raw)
        if frame.get("type") == "message" and frame.get("client_id") in sent_at:
            latencies.append((time.perf_counter() - sent_at.pop(frame["client_id"])) * 1000)

    guest_conns = await open_many(url_a, guests)
    host_conns = await open_many(url_b, hosts, on_host_frame)
    await asyncio.sleep(2)  # B's subscriber has every host's channel
    home: list[tuple[int, float]] = []
    stop = asyncio.Event()

    async def poll_home():
        client = AsyncHTTPClient()
        while not stop.is_set():
            started = time.perf_counter()
            response = await client.fetch(url_a + "/", raise_error=False, request_timeout=10)
            home.append((response.code, (time.perf_counter() - started) * 1000))
            await asyncio.sleep(0.1)
    poller = asyncio.get_running_loop().create_task(poll_home())
    total = int(rate * seconds)
    lost = 0  # messages not sent because a socket of the pair had been closed
    started = time.perf_counter()
    for i in range(total):
        due = started + i / rate
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        pair = random.randrange(len(guest_conns))
        if guest_conns[pair].close_code is not None or host_conns[pair].close_code is not None:
            lost += 1
            continue
        client_id = f"b{i}"
        sent_at[client_id] = time.perf_counter()
        guest_conns[pair].write_message(json.dumps({"type": "send", "conversation_id": conversations[pair],
                                                    "body": f"bench {i}", "client_id": client_id}))
    deadline = time.perf_counter() + 10
    while sent_at and time.perf_counter() < deadline:
        await asyncio.sleep(0.1)
    stop.set()
    await poller
    achieved = total / (time.perf_counter() - started)
    print(f"latency A→B, {len(guests) + len(hosts)} users connected, {rate:.0f} msg/s asked "
          f"({achieved:.0f} achieved incl. drain): {len(latencies)}/{total - lost} arrived ({lost} skipped), "
          f"p50 {percentile(latencies, 50):.1f} ms, p99 {percentile(latencies, 99):.1f} ms, "
          f"max {max(latencies):.1f} ms")
    codes = {}
    for code, _ in home:
        codes[code] = codes.get(code, 0) + 1
    times = [t for _, t in home]
    print(f"GET / on A meanwhile: {codes}, p50 {statistics.median(times):.1f} ms, "
          f"p99 {percentile(times, 99):.1f} ms")
    for conn in guest_conns + host_conns:
        conn.close()


async def run(args, settings, workdir: Path, nofile: int) -> None:
    idle_counts = [int(c) for c in args.idle.split(",") if c]
    need = max(idle_counts + [args.users])
    print(f"creating {need} users and sessions …")
    ids, cookies = await make_users(settings, need)
    half = args.users // 2
    conversations = await make_pairs(settings, ids[:half], ids[half:2 * half])
    port_a, port_b = free_port(), free_port()
    url_a, url_b = f"http://127.0.0.1:{port_a}", f"http://127.0.0.1:{port_b}"
    proc_a = start_server(settings, port_a, workdir, "a")
    proc_b = start_server(settings, port_b, workdir, "b")
    try:
        await wait_up(url_a, proc_a)
        await wait_up(url_b, proc_b)
        await idle_figures(url_a, proc_a.pid, cookies, idle_counts, nofile)
        await latency_figures(url_a, url_b, cookies[:half], cookies[half:2 * half], conversations,
                              args.rate, args.seconds)
    finally:
        for proc in (proc_a, proc_b):
            proc.terminate()
        for proc in (proc_a, proc_b):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--idle", default="1000,10000", help="idle socket counts, comma-separated")
    parser.add_argument("--users", type=int, default=1000, help="users connected during the latency run")
    parser.add_argument("--rate", type=float, default=100.0, help="messages per second, in all")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--redis-db", type=int, default=24)
    args = parser.parse_args()
    nofile = raise_nofile()
    workdir = ROOT / "var" / "bench" / f"websocket-{os.getpid()}"
    workdir.mkdir(parents=True, exist_ok=True)
    base = test_settings(cookie_secret=secrets.token_urlsafe(48))
    with throwaway_database(f"ihome_test_bench_ws_{os.getpid()}", base=base, redis_db=args.redis_db) as settings:
        asyncio.run(run(args, settings, workdir, nofile))
    return 0


if __name__ == "__main__":
    sys.exit(main())
