"""Real servers and real network faults for the outage tests (never the shared services).

- :class:`PrivateRedis`: a redis-server process of the test's own on a free port,
  with its data in a temporary directory, that a test may stop, restart, snapshot
  and restore.
- :class:`FaultProxy`: a TCP proxy in front of a real server, on the test's loop,
  that forwards bytes until told to refuse connections, or, when a client sends
  given bytes, to cut every connection or to stall that one (never answer it).
- :class:`SilentServer`: accepts connections and never answers (a stalled server).
- :func:`serving`: an application built for given settings (dependencies that may
  be down) behind the real HTTPServer of server.py, on a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _redis_command(port: int, *words: str, timeout: float = 2.0) -> bytes:
    """Send one inline command to the Redis on *port*; its raw reply (one read)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall((" ".join(words) + "\r\n").encode())
        return sock.recv(65536)


class PrivateRedis:
    """A redis-server of this test only, in *directory* (RDB file ``dump.rdb``).

    *appendonly* switches AOF on (as production runs); off, a restart loads the
    RDB file, which is what :meth:`restore` replaces.
    """

    def __init__(self, directory: Path, *, appendonly: bool = False):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.appendonly = appendonly
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server and wait (bounded) until it answers PING."""
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--dir", str(self.dir),
             "--dbfilename", "dump.rdb", "--save", "", "--appendonly", "yes" if self.appendonly else "no",
             "--appendfsync", "always", "--logfile", str(self.dir / "redis.log")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(500):
            try:
                if _redis_command(self.port, "PING", timeout=0.2).startswith(b"+PONG"):
                    return
            except OSError:
                pass
            if self.process.poll() is not None:
                break
            time.sleep(0.01)
        raise RuntimeError(f"private redis-server on port {self.port} did not start; see {self.dir}/redis.log")

    def stop(self) -> None:
        """Stop the server without saving; waits for the process to end."""
        if self.process is None:
            return
        try:
            _redis_command(self.port, "SHUTDOWN", "NOSAVE")
        except OSError:
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        self.process = None

    def snapshot(self, dest: Path) -> Path:
        """SAVE now and copy the RDB file to *dest* (a snapshot, as a backup would be)."""
        assert _redis_command(self.port, "SAVE").startswith(b"+OK")
        shutil.copyfile(self.dir / "dump.rdb", dest)
        return dest

    def restore(self, snapshot: Path) -> None:
        """Stop, put *snapshot* in place of the data, start again (a new run_id)."""
        self.stop()
        for aof in list(self.dir.glob("appendonly*")) + [self.dir / "appendonlydir"]:
            shutil.rmtree(aof, ignore_errors=True) if aof.is_dir() else aof.unlink(missing_ok=True)
        shutil.copyfile(snapshot, self.dir / "dump.rdb")
        self.start()


class FaultProxy:
    """Forwards 127.0.0.1:<port> to *target_port* until told otherwise (see the module docstring).

    Create with ``await FaultProxy.start(target_port)`` on the loop that will use it.
    """

    def __init__(self, target_port: int):
        self.target_port = target_port
        self.port = free_port()
        self.cut_on: bytes | None = None
        self.stall_on: bytes | None = None
        self.cuts = 0
        self.stalls = 0
        self._server: asyncio.base_events.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    @classmethod
    async def start(cls, target_port: int) -> "FaultProxy":
        proxy = cls(target_port)
        await proxy.accept()
        return proxy

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def accept(self) -> None:
        """Listen (again): new connections are forwarded."""
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port, reuse_address=True)

    async def refuse(self) -> None:
        """Close every connection and stop listening: connecting is refused."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    def cut_when_sent(self, pattern: bytes) -> None:
        """When a client next sends bytes containing *pattern*, drop them, cut every
        connection and refuse new ones (until :meth:`accept`)."""
        self.cut_on = pattern

    def stall_when_sent(self, pattern: bytes) -> None:
        """When a client next sends bytes containing *pattern*, swallow them and everything
        that client sends after: its connection stays open and is never answered."""
        self.stall_on = pattern

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.add(up_writer)

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, from_client: bool) -> None:
            try:
                while data := await src.read(65536):
                    if from_client and self.stall_on is not None and self.stall_on in data:
                        self.stall_on = None
                        self.stalls += 1
                        while await src.read(65536):  # a stalled server: reads, never answers
                            pass
                        return
                    if from_client and self.cut_on is not None and self.cut_on in data:
                        self.cut_on = None
                        self.cuts += 1
                        await self.refuse()
                        return
                    dst.write(data)
                    await dst.drain()
            except (OSError, asyncio.IncompleteReadError):
                pass
            finally:
                dst.transport.abort()
        await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))
        self._writers.discard(writer)
        self._writers.discard(up_writer)

    async def close(self) -> None:
        await self.refuse()


class SilentServer:
    """Accepts TCP connections on a free port and never sends a byte (a stalled server).

    Create with ``await SilentServer.start()``; ``accepted`` counts connections.
    """

    def __init__(self):
        self.port = free_port()
        self.accepted = 0
        self._server = None
        self._writers: set[asyncio.StreamWriter] = set()

    @classmethod
    async def start(cls) -> "SilentServer":
        server = cls()
        server._server = await asyncio.start_server(server._handle, "127.0.0.1", server.port)
        return server

    def stall_when_sent(self, pattern: bytes) -> None:
        """When a client next sends bytes containing *pattern*, swallow them and everything
        that client sends after: its connection stays open and is never answered."""
        self.stall_on = pattern

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.accepted += 1
        self._writers.add(writer)
        try:
            while await reader.read(65536):  # swallow whatever comes, answer nothing
                pass
        except OSError:
            pass
        finally:
            writer.transport.abort()
            self._writers.discard(writer)

    async def close(self) -> None:
        self._server.close()
        for writer in list(self._writers):
            writer.transport.abort()
        await self._server.wait_closed()


@contextlib.asynccontextmanager
async def serving(settings):
    """``async with serving(settings) as (app, base_url)``: server.build_app(settings) behind
    server.create_http_server (its timeouts included) on a free port; all closed after."""
    import server

    app = await server.build_app(settings)
    http = server.create_http_server(app)
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    sock.setblocking(False)
    http.add_sockets([sock])
    try:
        yield app, f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        http.stop()
        await http.close_all_connections()
        await server.close_app(app)
