"""Live delivery of frames to WebSockets in any process, over Redis pub/sub.

Every user has a channel, ``ws:user:<user_id>``. Each process keeps ONE subscriber
connection (its own Redis client, without the command timeout of the page client,
since a subscriber waits for as long as nobody writes) and subscribes it to the
channels of the users who have a socket open on this process; the first socket of a
user subscribes, the last one to close unsubscribes. A frame published for a user
reaches every socket of theirs on every process.

What this carries is only ever what MariaDB already holds: a lost frame (Redis down
while it was published, a subscriber reconnecting) costs liveness, never data. When
the subscriber connection comes back after a failure, every local socket is told
(``on_resume``) so it can catch up from MariaDB by the last id it has; callers also
hand frames to local sockets directly (:meth:`Delivery.local`), so a sender's own
process answers even while Redis is away.

Sockets are any objects with a ``deliver(frame_json: str)`` method; this module
imports nothing of the project.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from typing import Awaitable, Callable, Protocol

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from services.background import stop_task

log = logging.getLogger("ihome.delivery")

CHANNEL_PREFIX = "ws:user:"


class Socket(Protocol):
    user_id: int

    def deliver(self, frame: str) -> None:
        """Queue *frame* (JSON text) to the client; must not raise."""


def channel(user_id: int) -> str:
    """The pub/sub channel of *user_id*."""
    return f"{CHANNEL_PREFIX}{int(user_id)}"


class Delivery:
    """The process's pub/sub subscriber and its registry of local sockets.

    *publisher* is the app's redis.asyncio client (commands); *subscriber_url* the Redis
    URL the subscriber connection opens (its own client, created by :meth:`start`);
    *connect_timeout* seconds bounds opening it. *on_resume* (optional coroutine function
    with no arguments) runs after the subscriber reconnected following a failure.
    """

    def __init__(self, publisher, subscriber_url: str, *, connect_timeout: float = 1.0,
                 on_resume: Callable[[], Awaitable[None]] | None = None):
        self.publisher = publisher
        self.subscriber_url = subscriber_url
        self.connect_timeout = connect_timeout
        self.on_resume = on_resume
        self.sockets: dict[int, set] = {}
        self._client = None
        self._pubsub = None
        self._task: asyncio.Task | None = None
        self._closing = False
        self.connected = asyncio.Event()
        self.origin = secrets.token_hex(8)  # tags this process's publications
        self.received = 0  # frames read from the subscriber (a figure for tests and the bench)

    # -- life cycle --------------------------------------------------------------
    def start(self) -> None:
        """Start the subscriber loop on the running event loop (idempotent)."""
        if self._task is None or self._task.done():
            self._closing = False
            self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        """Stop the loop and close the subscriber connection (at shutdown)."""
        self._closing = True
        task, self._task = self._task, None
        await stop_task(task)
        await self._drop()

    async def _drop(self) -> None:
        self.connected.clear()
        pubsub, client, self._pubsub, self._client = self._pubsub, self._client, None, None
        for thing in (pubsub, client):
            if thing is not None:
                try:
                    await thing.aclose()
                except Exception:  # a dead connection may fail to close: nothing left to do
                    pass

    async def _run(self) -> None:
        """Subscribe to the local users' channels, read and dispatch; reconnect with back-off."""
        delay, failed = 0.1, False
        while not self._closing:
            try:
                self._client = aioredis.Redis.from_url(
                    self.subscriber_url, decode_responses=True, socket_connect_timeout=self.connect_timeout,
                    socket_keepalive=True, health_check_interval=15)
                self._pubsub = self._client.pubsub(ignore_subscribe_messages=True)
                # A channel of its own, so the connection is in subscribe mode even with no user here.
                await self._pubsub.subscribe(f"ws:process:{self.origin}", *[channel(u) for u in self.sockets])
                self.connected.set()
                delay = 0.1
                if failed and self.on_resume is not None:
                    failed = False
                    asyncio.get_running_loop().create_task(self._resume())
                while not self._closing:
                    message = await self._pubsub.get_message(ignore_subscribe_messages=True, timeout=30.0)
                    if message is not None and message.get("type") == "message":
                        self.received += 1
                        self._dispatch(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if not failed:
                    log.warning("pub/sub subscriber lost, reconnecting: %s", exc)
                failed = True
            except Exception:  # a bug must not end live delivery for the whole process
                log.exception("pub/sub loop failed")
                failed = True
            await self._drop()
            if not self._closing:
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)

    async def _resume(self) -> None:
        try:
            await self.on_resume()
        except Exception:
            log.exception("catch-up after the subscriber came back failed")

    def _dispatch(self, name: str, data: str) -> None:
        if not name.startswith(CHANNEL_PREFIX):
            return
        origin, _, frame = data.partition("\n")
        if origin == self.origin:
            return
        try:
            user_id = int(name[len(CHANNEL_PREFIX):])
        except ValueError:
            return
        self.local(user_id, frame)

    # -- sockets -----------------------------------------------------------------
    async def add(self, socket: Socket) -> None:
        """Register *socket* (its ``user_id``); the user's first socket here subscribes the channel.
        Never raises: while Redis is away the channel is subscribed when the loop reconnects."""
        users = self.sockets.setdefault(socket.user_id, set())
        first = not users
        users.add(socket)
        if first and self._pubsub is not None and self.connected.is_set():
            try:
                await self._pubsub.subscribe(channel(socket.user_id))
            except (RedisError, OSError) as exc:
                log.warning("subscribe for user %s failed (retried on reconnect): %s", socket.user_id, exc)

    async def remove(self, socket: Socket) -> None:
        """Forget *socket*; the user's last socket here unsubscribes the channel. Never raises."""
        await self.remove_many([socket])

    async def remove_many(self, sockets: list) -> None:
        """Forget *sockets*; the channels of users left without a socket here are unsubscribed
        in one command. Never raises."""
        gone = []
        for socket in sockets:
            users = self.sockets.get(socket.user_id)
            if users is None:
                continue
            users.discard(socket)
            if not users:
                del self.sockets[socket.user_id]
                gone.append(channel(socket.user_id))
        if gone and self._pubsub is not None and self.connected.is_set():
            try:
                await self._pubsub.unsubscribe(*gone)
            except (RedisError, OSError) as exc:
                log.info("unsubscribe of %d channel(s) failed: %s", len(gone), exc)

    def all_sockets(self) -> list:
        """Every socket registered in this process."""
        return [s for users in self.sockets.values() for s in users]

    def local(self, user_id: int, frame: str) -> int:
        """Hand *frame* (JSON text) to *user_id*'s sockets in this process; returns how many."""
        users = self.sockets.get(user_id)
        if not users:
            return 0
        for socket in list(users):
            socket.deliver(frame)
        return len(users)

    async def send(self, user_id: int, frame: dict) -> bool:
        """Deliver *frame* to every socket of *user_id*: this process's at once, the others'
        through Redis. False when the publish failed (Redis away: the other processes'
        sockets catch up from MariaDB when they reconnect). Never raises a Redis error."""
        text = json.dumps(frame, ensure_ascii=False)
        self.local(user_id, text)
        try:
            # Tagged with this process, whose own sockets already have it (see _dispatch).
            await self.publisher.publish(channel(user_id), f"{self.origin}\n{text}")
            return True
        except (RedisError, OSError) as exc:
            log.warning("publish for user %s failed: %s", user_id, exc)
            return False
