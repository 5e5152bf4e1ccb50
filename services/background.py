"""Background tasks of a process (replays, subscribers, periodic work): stopping them at shutdown."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger("ihome.background")


async def stop_task(task: asyncio.Task | None) -> None:
    """Cancel *task* (None or already done: nothing to do) and wait until it has stopped.

    Shutdown must not fail because a background task did: its CancelledError is the
    expected end, and any other error it ended with is logged, not raised."""
    if task is None or task.done():
        return
    task.cancel()
    try:
        await task
    except asyncio.CancelledError:
        pass
    except Exception:
        log.exception("background task %r failed while stopping", task.get_name())
