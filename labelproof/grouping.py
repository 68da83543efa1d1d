"""Work that is cheaper in groups, done by one thread for every caller.

A service answering many requests at once pays a fixed price per round trip: an fsync per
SQLite commit, an HTTP exchange per JSON-RPC call. :class:`GroupWorker` lets each caller hand
in one item and wait for its own result, while a single thread takes every item that arrived
during the previous round as the next group: alone, a caller waits one round as before; under
load, one round serves hundreds. Nothing is cached or reordered: each item is handled in a round
that starts after it was submitted, so it sees what it would have seen alone.

Callers wait on a :class:`concurrent.futures.Future`: ``.result()`` from a thread, or
``await asyncio.wrap_future(...)`` from an event loop.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class GroupWorker(Generic[T, R]):
    """Items in, results out, ``handle`` called on groups of at most ``max_group`` items.

    ``handle(items)`` returns one outcome per item, in order: a result, or an exception
    instance for that item alone. If ``handle`` raises, every item of the group gets that
    exception. A caller whose future was cancelled before its round began is left out.
    """

    def __init__(
        self,
        name: str,
        handle: Callable[[list[T]], Sequence[R | BaseException]],
        max_group: int,
    ) -> None:
        if max_group < 1:
            raise ValueError("max_group must be at least 1")
        self.handle = handle
        self.max_group = max_group
        self.items: queue.SimpleQueue[tuple[T, Future[R]]] = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self.thread.start()

    def submit(self, item: T) -> Future[R]:
        done: Future[R] = Future()
        self.items.put((item, done))
        return done

    def run(self, item: T) -> R:
        """Submit ``item`` and wait for its result (or raise its exception)."""
        return self.submit(item).result()

    def _next_group(self) -> list[tuple[T, Future[R]]]:
        group: list[tuple[T, Future[R]]] = []
        first = True
        while len(group) < self.max_group:
            try:
                entry = self.items.get() if first else self.items.get_nowait()
            except queue.Empty:
                break
            first = False
            # From here on the future cannot be cancelled, so setting it cannot fail.
            if entry[1].set_running_or_notify_cancel():
                group.append(entry)
            elif not group:
                first = True  # nothing taken yet: wait for the next item
        return group

    def _loop(self) -> None:
        while True:
            group = self._next_group()
            try:
                outcomes = self.handle([item for item, _ in group])
                if len(outcomes) != len(group):
                    raise RuntimeError(
                        f"{self.thread.name}: {len(outcomes)} outcomes for {len(group)} items"
                    )
            except BaseException as exc:
                for _, done in group:
                    done.set_exception(exc)
                continue
            for outcome, (_, done) in zip(outcomes, group, strict=True):
                if isinstance(outcome, BaseException):
                    done.set_exception(outcome)
                else:
                    done.set_result(outcome)
