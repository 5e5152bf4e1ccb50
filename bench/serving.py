"""What the benchmarks share to run a server of their own: a free port, waiting for it, stopping it,
and the demo data they serve.

Imported as ``from bench.serving import …`` (the benchmarks put the project root on sys.path).
"""

from __future__ import annotations

import asyncio
import signal
import socket
import subprocess
import time
import urllib.request

def free_port() -> int:
    """A TCP port on 127.0.0.1 nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(url: str, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Poll *url* (GET) until it answers; SystemExit when *proc* exits first or after *timeout* seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"{proc.args} exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"{url} did not answer within {timeout:.0f} s")


def stop(proc: subprocess.Popen) -> None:
    """SIGTERM (the server's graceful shutdown), then SIGKILL if it is still there after 15 s."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def seed_demo_data(settings, guest_mobile: str, guest_password: str) -> None:
    """The demo listings with photos (models.seed) and a guest account, in *settings*' database
    (the guest's bcrypt cost is 4: benchmarks measure pages, not hashing)."""
    import bcrypt

    from models import users
    from models.db import create_database
    from models.seed import seed_demo
    from services.images import ImageStore

    async def run() -> None:
        db = await create_database(settings)
        try:
            await seed_demo(db, ImageStore(settings.media_dir, max_bytes=settings.upload_max_bytes,
                                           max_pixels=settings.upload_max_pixels), progress=False)
            hashed = bcrypt.hashpw(guest_password.encode(), bcrypt.gensalt(rounds=4)).decode()
            await users.create(db, guest_mobile, hashed)
        finally:
            await db.close()
    asyncio.run(run())
