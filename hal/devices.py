"""The devices: button, door sensor, relay, LEDs. Timing policy lives here, on the scheduler.

Every method is called on the runtime's loop thread (`force_off()` and `close()` also from a
signal handler on the main thread). Backend callbacks from other threads enter only through
`scheduler.call_soon_threadsafe`.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Callable, Protocol, Sequence

from hal.debounce import DoorFilter, PressFilter
from hal.events import COMMAND, PULSE_END, WATCHDOG, HalEvent, RelaySwitched
from hal.lines import InputLine, OutputLine
from hal.profile import ButtonConfig, DoorSensorConfig, RelayConfig
from hal.scheduler import Scheduler, TimerHandle

EventSink = Callable[[HalEvent], None]


def _now_ms(scheduler: Scheduler) -> float:
    return scheduler.time() * 1000.0


class _Filter(Protocol):
    def update(self, active: bool, now_ms: float) -> Sequence[HalEvent]: ...

    def handle_timer(self, now_ms: float) -> Sequence[HalEvent]: ...

    def next_deadline(self) -> float | None: ...


class _InputDevice:
    """Feeds a line's edges into a pure filter and keeps one timer armed at its next deadline."""

    def __init__(
        self, line: InputLine, scheduler: Scheduler, on_event: EventSink, filter_: _Filter
    ) -> None:
        self._line = line
        self._scheduler = scheduler
        self._on_event = on_event
        self._filter = filter_
        self._timer: TimerHandle | None = None
        self._armed_ms: float | None = None
        self._closed = False
        line.watch(self._edge_from_backend)
        # The filter started from a read taken before watching: catch a change in between.
        self._edge(line.read(), _now_ms(scheduler))

    def _edge_from_backend(self, active: bool) -> None:
        # Any thread. The time is taken here, at the edge, so a busy loop cannot stretch a spike.
        if self._closed:
            return
        at_ms = _now_ms(self._scheduler)
        with contextlib.suppress(RuntimeError):  # the loop has closed: we are shutting down
            self._scheduler.call_soon_threadsafe(self._edge, active, at_ms)

    def _edge(self, active: bool, at_ms: float) -> None:
        if not self._closed:
            self._deliver(self._filter.update(active, at_ms))

    def _wake(self) -> None:
        # asyncio may run a timer up to its clock resolution early: the deadline is what counts.
        now_ms = max(_now_ms(self._scheduler), self._armed_ms or 0.0)
        self._timer = None
        self._armed_ms = None
        if not self._closed:
            self._deliver(self._filter.handle_timer(now_ms))

    def _deliver(self, events: Sequence[HalEvent]) -> None:
        deadline = self._filter.next_deadline()
        if deadline != self._armed_ms:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if deadline is not None:
                delay_s = max(0.0, deadline - _now_ms(self._scheduler)) / 1000.0
                self._timer = self._scheduler.call_later(delay_s, self._wake)
            self._armed_ms = deadline
        for event in events:
            self._on_event(event)

    def close(self) -> None:
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._line.watch(None)
        self._line.close()


class Button(_InputDevice):
    """The call button: `ButtonPressed`, `ButtonHeld`, `ButtonReleased` (see `PressFilter`)."""

    def __init__(
        self, line: InputLine, config: ButtonConfig, scheduler: Scheduler, on_event: EventSink
    ) -> None:
        self._press = PressFilter(
            config.bounce_ms, config.min_press_ms, config.hold_ms, initial_active=line.read()
        )
        super().__init__(line, scheduler, on_event, self._press)

    @property
    def is_pressed(self) -> bool:
        return self._press.is_pressed


class DoorSensor(_InputDevice):
    """The door contact: `DoorOpened` / `DoorClosed` after `bounce_ms` of steady level."""

    def __init__(
        self, line: InputLine, config: DoorSensorConfig, scheduler: Scheduler, on_event: EventSink
    ) -> None:
        self._door = DoorFilter(config.bounce_ms, initial_open=line.read())
        super().__init__(line, scheduler, on_event, self._door)

    @property
    def is_open(self) -> bool:
        return self._door.is_open


class Relay:
    """The door-strike relay. Off means de-energised means locked (the profile checks the wiring).

    The rules, all measured on the scheduler's clock:

    1. The relay is created off.
    2. `pulse(ms)` energises it for `min(ms, max_pulse_ms)`; `on()` is a pulse of `max_pulse_ms`.
    3. An energised period never lasts longer than `max_pulse_ms` from the moment it began:
       a repeated `pulse()` while energised may extend the period, but only up to that bound,
       and never shortens it.
    4. After every energised period the relay rests for `rest_ms`; a `pulse()` during the rest is
       refused (it returns 0). So a bouncing or repeating command can energise the strike at most
       `max_pulse_ms` out of every `max_pulse_ms + rest_ms`.
    5. The pulse ends by a scheduler timer. `enforce_deadline()`, which the runtime calls on its
       regular tick, switches the relay off if that timer did not fire in time.
    """

    def __init__(
        self, line: OutputLine, config: RelayConfig, scheduler: Scheduler, on_event: EventSink
    ) -> None:
        self._line = line
        self._config = config
        self._scheduler = scheduler
        self._on_event = on_event
        self._timer: TimerHandle | None = None
        self._energised = False
        self._began_ms = 0.0
        self._off_at_ms: float | None = None
        self._rest_until_ms = float("-inf")
        self._line.set(False)

    @property
    def is_energised(self) -> bool:
        return self._energised

    @property
    def off_at_ms(self) -> float | None:
        """When the current energised period ends (scheduler ms), or None when off."""
        return self._off_at_ms

    @property
    def max_pulse_ms(self) -> int:
        return self._config.max_pulse_ms

    def pulse(self, pulse_ms: int | None = None) -> int:
        """Energise for `pulse_ms` (default: the profile's), capped by the rules above.

        Returns the ms granted from now: 0 if refused because the relay is resting.
        """
        ms = self._config.default_pulse_ms if pulse_ms is None else pulse_ms
        if isinstance(ms, bool) or not isinstance(ms, int) or ms <= 0:
            raise ValueError(f"pulse_ms must be a positive integer, not {pulse_ms!r}")
        now_ms = _now_ms(self._scheduler)
        if not self._energised and now_ms < self._rest_until_ms:
            return 0
        began_ms = self._began_ms if self._energised else now_ms
        off_at_ms = min(now_ms + ms, began_ms + self._config.max_pulse_ms)
        if self._energised and self._off_at_ms is not None and off_at_ms <= self._off_at_ms:
            return round(self._off_at_ms - now_ms)
        if not self._energised:
            try:
                self._line.set(True)
            except BaseException:
                self._line.set(False)
                raise
            self._energised = True
            self._began_ms = now_ms
            switched = True
        else:
            switched = False
        if self._timer is not None:
            self._timer.cancel()
        self._off_at_ms = off_at_ms
        self._timer = self._scheduler.call_later((off_at_ms - now_ms) / 1000.0, self._pulse_ended)
        if switched:  # after the deadline is set, so listeners can read `off_at_ms`
            self._on_event(RelaySwitched(now_ms, True, COMMAND))
        return round(off_at_ms - now_ms)

    def on(self) -> int:
        """Energise until `off()`, but never longer than `max_pulse_ms` (rule 3)."""
        return self.pulse(self._config.max_pulse_ms)

    def off(self) -> None:
        self._switch_off(COMMAND)

    def enforce_deadline(self) -> bool:
        """The watchdog: switch off if the period is overdue. True if it had to."""
        if self._energised and (
            self._off_at_ms is None or _now_ms(self._scheduler) >= self._off_at_ms
        ):
            self._switch_off(WATCHDOG)
            return True
        return False

    def force_off(self) -> None:
        """Off at once without events: for shutdown paths and signal handlers."""
        self._switch_off(COMMAND, emit=False)

    def close(self) -> None:
        self.force_off()
        self._line.close()

    def _pulse_ended(self) -> None:
        self._timer = None
        self._switch_off(PULSE_END)

    def _switch_off(self, reason: str, emit: bool = True) -> None:
        self._line.set(False)  # first, and always: idempotent and cheap
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._energised:
            now_ms = _now_ms(self._scheduler)
            self._energised = False
            self._off_at_ms = None
            self._rest_until_ms = now_ms + self._config.rest_ms
            if emit:
                self._on_event(RelaySwitched(now_ms, False, reason))


@dataclass(frozen=True)
class LedPattern:
    """A repeating light pattern: `steps_ms` alternate lit, dark, lit, dark...; empty = steady."""

    name: str
    steps_ms: tuple[int, ...] = ()
    steady_lit: bool = False

    def __post_init__(self) -> None:
        if len(self.steps_ms) % 2 or any(
            isinstance(ms, bool) or not isinstance(ms, int) or ms < 10 for ms in self.steps_ms
        ):
            raise ValueError(
                f"LED pattern {self.name!r}: steps_ms must be lit/dark pairs of 10 ms or more"
            )


# Named after the door states of the core's `SetLed(state)`, so the runtime can show
# `LED_PATTERNS[command.state]`; OFF and ON are what `Led.off()` and `Led.on()` show.
OFF = LedPattern("OFF")
ON = LedPattern("ON", steady_lit=True)
IDLE = LedPattern("IDLE")  # starting, not registered yet: dark
REGISTERED = LedPattern("REGISTERED", (100, 1900))  # heartbeat: alive and registered
CALLING = LedPattern("CALLING", (500, 500))  # ringing the flat
IN_CALL = LedPattern("IN_CALL", steady_lit=True)  # talking
DOOR_OPEN = LedPattern("DOOR_OPEN", (100, 100))  # strike energised
ERROR = LedPattern("ERROR", (100, 150, 100, 650))  # double blink: registration failing, a fault

LED_PATTERNS = {
    pattern.name: pattern
    for pattern in (OFF, ON, IDLE, REGISTERED, CALLING, IN_CALL, DOOR_OPEN, ERROR)
}


class Led:
    """An indicator LED showing one `LedPattern` at a time, stepped by scheduler timers."""

    def __init__(self, line: OutputLine, scheduler: Scheduler) -> None:
        self._line = line
        self._scheduler = scheduler
        self._pattern = OFF
        self._step = 0
        self._lit = False
        self._timer: TimerHandle | None = None
        self._line.set(False)

    @property
    def pattern(self) -> LedPattern:
        return self._pattern

    @property
    def is_lit(self) -> bool:
        return self._lit

    def on(self) -> None:
        self.show(ON)

    def off(self) -> None:
        self.show(OFF)

    def blink(self, on_ms: int, off_ms: int) -> None:
        self.show(LedPattern("BLINK", (on_ms, off_ms)))

    def show(self, pattern: LedPattern) -> None:
        """Show `pattern`; showing the pattern already shown does not restart it."""
        if pattern == self._pattern:
            return
        self._cancel()
        self._pattern = pattern
        self._step = 0
        if pattern.steps_ms:
            self._run_step()
        else:
            self._set(pattern.steady_lit)

    def force_off(self) -> None:
        self._cancel()
        self._pattern = OFF
        self._set(False)

    def close(self) -> None:
        self.force_off()
        self._line.close()

    def _run_step(self) -> None:
        self._set(self._step % 2 == 0)
        delay_s = self._pattern.steps_ms[self._step] / 1000.0
        self._timer = self._scheduler.call_later(delay_s, self._next_step)

    def _next_step(self) -> None:
        self._timer = None
        self._step = (self._step + 1) % len(self._pattern.steps_ms)
        self._run_step()

    def _set(self, lit: bool) -> None:
        self._line.set(lit)
        self._lit = lit

    def _cancel(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
