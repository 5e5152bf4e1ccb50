"""Memory under hostile and heavy uploads: the server process's RSS idle, at peak and 10 s after.

Starts ``python server.py`` as a subprocess on a free loopback port against a
scratch MariaDB database (``ihome_test_bench_mem_<pid>``: created, migrated,
seeded, dropped afterwards — tests/utils/testdb.py), a scratch Redis database
(flushed before and after) and a temporary media folder (removed afterwards),
then runs these phases one after the other, each with N (default 8) concurrent
clients:

* ``uploads``: N logged-in landlords each upload the largest body the photo route
  accepts: 10 photos of just under 10 MB each (noise JPEGs, about 12 megapixels).
* ``decode-limit``: N uploads of 10 PNGs each just under the listing photo's
  decoded-bytes limit (the most memory one accepted photo can take).
* ``anonymous``: N anonymous 60 MB POSTs (half to /login, half to an upload route),
  each client sending its whole body until the server answers or hangs up.
* ``bomb-avatars``: N logged-in users each post a 6300x6300 PNG avatar (a few
  hundred KB on disk, ~120 MB decoded).

For each phase it prints the answers seen, the peak RSS (the kernel's VmHWM,
reset before the phase by writing 5 to /proc/<pid>/clear_refs, and the highest
VmRSS sampled every 20 ms) and the RSS 10 s after the phase ended, each also as
a ratio of the idle baseline; and checks the targets (peak < 400 MB, back under
150 MB within 10 s). The exit status is 1 when a target is missed. Everything
it started (the server, its database, Redis keys, files) is stopped or removed
at the end, also on Ctrl-C.

    .venv/bin/python bench/memory.py [--clients 8] [--settle 10] [--redis-url redis://127.0.0.1:6380/11]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import collections
import io
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402
from tornado.httpclient import AsyncHTTPClient  # noqa: E402
from bench.serving import free_port, stop  # noqa: E402

import server  # noqa: E402
from config import test_settings  # noqa: E402
from models import houses as houses_model  # noqa: E402
from services.images import PHOTO_MAX_DECODED_BYTES  # noqa: E402
from tests.utils.client import Client, encode_multipart  # noqa: E402
from tests.utils.images import zero_png  # noqa: E402
from tests.utils.testdb import throwaway_database  # noqa: E402

MB = 1024 * 1024
PEAK_TARGET = 400 * MB
SETTLED_TARGET = 150 * MB
HOUSE = dict(title="内存压测", description="", price_fen=30000, area_id=110105, address="朝阳区压测路 2 号",
             room_count=1, acreage=40, unit="", capacity=2, beds="", deposit_fen=0, min_days=1, max_days=0)


# -- measuring ----------------------------------------------------------------------

def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of *pid*, bytes."""
    values = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(("VmRSS:", "VmHWM:")):
                name, amount, _unit = line.split()
                values[name.rstrip(":")] = int(amount) * 1024
    return values


def reset_peak(pid: int) -> bool:
    """Reset the kernel's peak-RSS mark (VmHWM) of *pid*; False where the kernel does not allow it."""
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


class Sampler:
    """Reads VmRSS of *pid* every *interval* seconds in a thread; keeps the highest."""

    def __init__(self, pid: int, interval: float = 0.02):
        self.pid, self.interval = pid, interval
        self.highest = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.highest = max(self.highest, proc_status(self.pid)["VmRSS"])
            except (OSError, KeyError):
                return
            self._stop.wait(self.interval)

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()


def mb(n: int) -> str:
    return f"{n / MB:6.1f} MB"


# -- payloads -----------------------------------------------------------------------

def noise_jpeg(max_bytes: int) -> bytes:
    """A noise JPEG (the worst case for size) as large as possible under *max_bytes*."""
    w, h = 3300, 2640
    while True:
        img = Image.frombytes("RGB", (w, h), os.urandom(w * h * 3))
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=95)
        if buf.tell() <= max_bytes - 4096:
            return buf.getvalue()
        w, h = int(w * 0.97), int(h * 0.97)


def limit_png() -> bytes:
    """An RGB PNG just under the listing photo's decoded-bytes limit."""
    side = int((PHOTO_MAX_DECODED_BYTES / 3) ** 0.5) - 8
    return zero_png(side, side)


# -- clients ------------------------------------------------------------------------

async def upload(client: Client, path: str, field: str, files: list[tuple[str, bytes, str]]) -> int:
    token = await client.xsrf_token()
    body, ctype = encode_multipart([("_xsrf", token)], [(field, name, data, kind) for name, data, kind in files])
    response = await client.fetch("POST", path, body=body, headers={
        "Content-Type": ctype, "X-XSRFToken": token, "Accept": "application/json"})
    return response.code


async def big_anonymous_post(port: int, path: str, size: int) -> str:
    """Send a *size*-byte POST body to *path* as fast as the server takes it, reading its
    answer meanwhile. Returns "<status> after <MB sent>" ("closed" when no answer came)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: multipart/form-data; boundary=x\r\n"
            f"Content-Length: {size}\r\n\r\n").encode()
    chunk = b"\0" * (256 * 1024)
    answer = asyncio.ensure_future(reader.read(4096))
    sent = 0
    try:
        writer.write(head)
        while sent < size and not answer.done():
            n = min(len(chunk), size - sent)
            writer.write(chunk[:n])
            await writer.drain()
            sent += n
        raw = await asyncio.wait_for(answer, 30)
    except (ConnectionError, asyncio.TimeoutError):
        raw = answer.result() if answer.done() and not answer.exception() else b""
    finally:
        if not answer.done():
            answer.cancel()
        writer.close()
    match = re.match(rb"HTTP/1\.1 (\d{3})", raw or b"")
    return f"{match[1].decode() if match else 'closed'} after {sent // MB} MB"


# -- the run ------------------------------------------------------------------------

async def phase(name: str, pid: int, settle: float, work) -> dict:
    reset_ok = reset_peak(pid)
    before = proc_status(pid)["VmRSS"]
    with Sampler(pid) as sampler:
        started = time.perf_counter()
        results = await work()
        took = time.perf_counter() - started
    hwm = proc_status(pid)["VmHWM"] if reset_ok else 0
    peak = max(sampler.highest, hwm)
    # Back to normal? Sample each 0.5 s for *settle* seconds; report the last and the first under target.
    under_at = None
    waited = 0.0
    while waited < settle:
        await asyncio.sleep(0.5)
        waited += 0.5
        rss = proc_status(pid)["VmRSS"]
        if under_at is None and rss < SETTLED_TARGET:
            under_at = waited
    after = proc_status(pid)["VmRSS"]
    codes = collections.Counter(str(r) for r in results)
    return {"name": name, "codes": dict(sorted(codes.items())), "took": took, "before": before,
            "peak": peak, "after": after, "under_at": under_at}


async def run(settings, env: dict, clients_n: int, settle: float) -> int:
    port = free_port()
    log_path = Path(env["IHOME_MEDIA_DIR"]).parent / "server.log"
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, str(ROOT / "server.py"), f"--port={port}", "--address=127.0.0.1",
                             "--logging=warning"], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    app = None
    http = AsyncHTTPClient(force_instance=True, max_clients=clients_n * 2,
                           max_body_size=256 * MB, max_buffer_size=256 * MB,
                           defaults={"connect_timeout": 10, "request_timeout": 600})
    try:
        base_url = f"http://127.0.0.1:{port}"
        await wait_until_up(base_url, http, proc)
        app = await server.build_app(settings)  # this process's handle on the same DB/Redis: users and sessions

        async def browser(tag: str, *, landlord: bool) -> tuple[Client, int | None]:
            user_id = await app.db.insert("INSERT INTO users (mobile, name, password_hash) VALUES (%s, %s, %s)",
                                          tag, tag, "!bench")
            house_id = None
            if landlord:
                async with app.db.transaction() as tx:
                    house_id = await houses_model.create(tx, user_id, HOUSE, [])
            client = Client(http, base_url)
            client.login_as(app, await app.sessions.create(user_id, ip="127.0.0.1", user_agent="bench"))
            await client.xsrf_token()
            return client, house_id

        serial = iter(range(15000000000, 16000000000))
        landlords = [await browser(str(next(serial)), landlord=True) for _ in range(clients_n)]
        users = [await browser(str(next(serial)), landlord=False) for _ in range(clients_n)]
        await http.fetch(base_url + "/", raise_error=False)  # warm-up: templates compiled
        await asyncio.sleep(1)
        idle = proc_status(proc.pid)["VmRSS"]

        print("making payloads ...", flush=True)
        jpeg = noise_jpeg(settings.upload_max_bytes)
        png = limit_png()
        bomb = zero_png(6300, 6300)
        print(f"server pid {proc.pid} on {base_url}; {clients_n} concurrent clients per phase; "
              f"decode slots per process = cpu count = {os.cpu_count()}")
        print(f"payloads: upload = 10 x {len(jpeg) / MB:.2f} MB noise JPEG "
              f"({Image.open(io.BytesIO(jpeg)).size[0]}x{Image.open(io.BytesIO(jpeg)).size[1]}); "
              f"decode-limit = 10 x PNG {Image.open(io.BytesIO(png)).size} ({len(png) / 1024:.0f} KB file); "
              f"bomb avatar = PNG 6300x6300 ({len(bomb) / 1024:.0f} KB file)")
        print(f"idle baseline RSS {mb(idle)}")

        phases = [
            ("uploads", lambda: asyncio.gather(*(
                upload(c, f"/houses/{h}/images", "image", [(f"{i}.jpg", jpeg, "image/jpeg") for i in range(10)])
                for c, h in landlords))),
            ("decode-limit", lambda: asyncio.gather(*(
                upload(c, f"/houses/{h}/images", "image", [(f"{i}.png", png, "image/png") for i in range(10)])
                for c, h in landlords))),
            ("anonymous", lambda: asyncio.gather(*(
                big_anonymous_post(port, "/login" if i % 2 else f"/houses/{landlords[0][1]}/images", 60 * MB)
                for i in range(clients_n)))),
            ("bomb-avatars", lambda: asyncio.gather(*(
                upload(c, "/profile/avatar", "avatar", [("bomb.png", bomb, "image/png")]) for c, _ in users))),
        ]
        failed = 0
        print(f"{'phase':<13} {'answers':<28} {'took':>7}  {'peak RSS':>10} {'x idle':>7}  "
              f"{'+' + str(int(settle)) + ' s RSS':>10} {'x idle':>7}  under 150 MB after")
        for name, work in phases:
            r = await phase(name, proc.pid, settle, work)
            ok_peak = r["peak"] < PEAK_TARGET
            ok_after = r["under_at"] is not None
            failed += (not ok_peak) + (not ok_after)
            print(f"{name:<13} {str(r['codes']):<28} {r['took']:6.1f}s  {mb(r['peak'])} {r['peak'] / idle:6.2f}x  "
                  f"{mb(r['after'])} {r['after'] / idle:6.2f}x  "
                  f"{(str(r['under_at']) + ' s') if ok_after else 'NO'}"
                  f"{'' if ok_peak else '   PEAK OVER 400 MB'}", flush=True)
        print(f"targets: peak < 400 MB and back under 150 MB within {settle:g} s: "
              f"{'met' if not failed else f'{failed} missed'}")
        return 1 if failed else 0
    finally:
        http.close()
        if app is not None:
            await server.close_app(app)
        stop(proc)
        log.close()
        errors = [line for line in log_path.read_text(errors="replace").splitlines()
                  if " 500 " in line or "Traceback" in line or "ERROR" in line]
        if errors:
            print(f"server log: {len(errors)} error line(s), first: {errors[0][:200]}")


async def wait_until_up(base_url: str, http, proc) -> None:
    for _ in range(300):
        if proc.poll() is not None:
            raise SystemExit(f"server exited with {proc.returncode}")
        try:
            await http.fetch(base_url + "/healthz", raise_error=False, request_timeout=2)
            return
        except (OSError, ConnectionError):
            await asyncio.sleep(0.1)
        except Exception:
            await asyncio.sleep(0.1)
    raise SystemExit("server did not start")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--settle", type=float, default=10.0, help="seconds to watch RSS after each phase")
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6380/11",
                        help="a scratch Redis database; it is flushed (default: %(default)s)")
    args = parser.parse_args()
    if urlsplit(args.redis_url).path.strip("/") in ("", "0"):
        parser.error("--redis-url must name a scratch database other than 0; it is flushed")
    scratch = Path(tempfile.mkdtemp(prefix="ihome-bench-memory-"))
    media = scratch / "media"
    media.mkdir()
    try:
        base = test_settings(redis_url=args.redis_url, media_dir=media)
        db_number = int(urlsplit(args.redis_url).path.strip("/"))
        with throwaway_database(f"ihome_test_bench_mem_{os.getpid()}", base=base, redis_db=db_number) as settings:
            env = {k: v for k, v in os.environ.items() if not k.startswith("IHOME_")}
            env.update(IHOME_ENV="development", IHOME_MYSQL_URL=settings.mysql_url,
                       IHOME_REDIS_URL=settings.redis_url, IHOME_COOKIE_SECRET=settings.cookie_secret,
                       IHOME_MEDIA_DIR=str(media), IHOME_BCRYPT_ROUNDS="4",
                       IHOME_DATA_KEY=settings.data_key or base64.urlsafe_b64encode(secrets.token_bytes(32)).decode())
            return asyncio.run(run(settings, env, args.clients, args.settle))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
