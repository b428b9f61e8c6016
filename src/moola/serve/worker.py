"""The one thread that runs inference, so the backend is never called from two threads at once.

A backend is not thread-safe (:mod:`moola.serve.backends`). FastAPI would run a blocking
endpoint on any of its pool's threads; this worker serialises every call on one thread
instead of a lock, which also keeps torch's OpenMP pool on one thread rather than one per
request thread. The event loop stays free to accept and validate requests meanwhile.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import torch

T = TypeVar("T")


def _set_threads(threads: int | None) -> None:
    if threads is not None:
        torch.set_num_threads(threads)


class Worker:
    """Runs calls one at a time, in arrival order, on its own thread."""

    def __init__(self, *, threads: int | None = None) -> None:
        """``threads``: torch's intra-op threads, set on the worker thread (None: torch's)."""
        self._pool = ThreadPoolExecutor(
            max_workers=1,
            thread_name_prefix="moola-serve-inference",
            initializer=_set_threads,
            initargs=(threads,),
        )

    async def run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
