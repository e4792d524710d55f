"""The clock and timers the devices run on: asyncio's shape, so the runtime passes its event loop.

Devices never start threads or sleep. They ask the scheduler for a timer (`call_later`) and read
its clock (`time`, seconds, monotonic). Backend threads (gpiozero, RPi.GPIO callbacks) hand their
work to the loop only through `call_soon_threadsafe`.

`ManualScheduler` is the fake for tests and offline tools: time moves only when told to.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from collections import deque
from typing import Any, Callable, Protocol


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Scheduler(Protocol):
    """What the HAL needs from an event loop; `asyncio.AbstractEventLoop` fits as it is.

    `time()` must be safe to call from any thread (asyncio's is `time.monotonic()`).
    """

    def time(self) -> float: ...

    def call_later(
        self, delay: float, callback: Callable[..., object], *args: Any
    ) -> TimerHandle: ...

    def call_soon_threadsafe(self, callback: Callable[..., object], *args: Any) -> object: ...


class _ManualTimer:
    __slots__ = ("args", "callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[..., object], args: tuple[Any, ...]):
        self.when = when
        self.callback = callback
        self.args = args
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualScheduler:
    """A scheduler whose clock moves only in `advance()`; callbacks run in the calling thread.

    `call_soon_threadsafe` may be called from any thread; the callbacks run at the next
    `advance()` (or `run_ready()`), before any timer, in the order they were queued: the same
    order an asyncio loop gives.
    """

    def __init__(self, start_s: float = 1000.0) -> None:
        self._now = start_s
        self._timers: list[tuple[float, int, _ManualTimer]] = []
        self._sequence = itertools.count()
        self._ready: deque[tuple[Callable[..., object], tuple[Any, ...]]] = deque()
        self._lock = threading.Lock()

    def time(self) -> float:
        return self._now

    def call_later(self, delay: float, callback: Callable[..., object], *args: Any) -> _ManualTimer:
        timer = _ManualTimer(self._now + max(0.0, delay), callback, args)
        heapq.heappush(self._timers, (timer.when, next(self._sequence), timer))
        return timer

    def call_soon_threadsafe(self, callback: Callable[..., object], *args: Any) -> None:
        with self._lock:
            self._ready.append((callback, args))

    def run_ready(self) -> None:
        """Run the callbacks queued by `call_soon_threadsafe` (and any they queue)."""
        while True:
            with self._lock:
                if not self._ready:
                    return
                callback, args = self._ready.popleft()
            callback(*args)

    def advance(self, seconds: float) -> None:
        """Move the clock forward, running queued callbacks and every timer that falls due."""
        if seconds < 0:
            raise ValueError("time does not go backwards")
        end = self._now + seconds
        self.run_ready()
        while self._timers and self._timers[0][0] <= end:
            when, _, timer = heapq.heappop(self._timers)
            if timer.cancelled:
                continue
            self._now = max(self._now, when)
            timer.callback(*timer.args)
            self.run_ready()
        self._now = end

    def advance_ms(self, ms: float) -> None:
        self.advance(ms / 1000.0)

    def pending_timers(self) -> int:
        return sum(1 for _, _, timer in self._timers if not timer.cancelled)
