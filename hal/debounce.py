"""Debounce and minimum-press logic: pure, no clock, no threads, table-tested.

Both classes take the raw level with the time it was seen (`update(active, now_ms)`), expose the
next time they need to look again (`next_deadline()`, ms or None) and are woken then with
`handle_timer(now_ms)`: the same shape as every waiting object in the core.

A change counts only when the raw level has held it *without interruption* for a window. A run of
spikes (mains hum on a long cable, a relay coil switching nearby) never adds up to a press, however
many there are, because every spike restarts the count.
"""

from __future__ import annotations

from typing import Union

from hal.events import ButtonHeld, ButtonPressed, ButtonReleased, DoorClosed, DoorOpened

_NEVER = float("-inf")

Change = tuple[bool, float]  # (new debounced level, ms when the raw level took it)
ButtonEvent = Union[ButtonPressed, ButtonHeld, ButtonReleased]
DoorEvent = Union[DoorOpened, DoorClosed]


class Debouncer:
    """The debounced level of a noisy input.

    The level becomes active once the raw input has been active for `rise_ms` without a break,
    and inactive once it has been inactive for `fall_ms`. Time never goes backwards: an update
    older than one already seen is taken as happening now.
    """

    def __init__(self, rise_ms: float, fall_ms: float, initial: bool = False) -> None:
        if rise_ms < 0 or fall_ms < 0:
            raise ValueError("debounce windows must not be negative")
        self.rise_ms = rise_ms
        self.fall_ms = fall_ms
        self.value = initial
        self.raw = initial
        self._raw_since = _NEVER
        self._now = _NEVER

    def update(self, raw: bool, now_ms: float) -> list[Change]:
        changes = self.handle_timer(now_ms)
        if raw != self.raw:
            self.raw = raw
            self._raw_since = self._now
        return changes + self.handle_timer(self._now)

    def handle_timer(self, now_ms: float) -> list[Change]:
        self._now = max(self._now, now_ms)
        deadline = self.next_deadline()
        if deadline is not None and self._now >= deadline:
            self.value = self.raw
            return [(self.value, self._raw_since)]
        return []

    def next_deadline(self) -> float | None:
        if self.raw == self.value:
            return None
        return self._raw_since + (self.rise_ms if self.raw else self.fall_ms)


class PressFilter:
    """A push button: press, held and release events from a bouncing, noisy contact.

    - A press counts once the contact has been closed for `min_press_ms` (at least `bounce_ms`)
      without a break; shorter spikes are ignored.
    - A release counts once it has been open for `bounce_ms`; shorter drops during a press are
      contact bounce and do not end it.
    - `ButtonHeld` is sent once, `hold_ms` after the press began, if the contact is closed then.
    - A button already closed at start-up is not a press: it must open first (a stuck button or a
      shorted cable must not ring the flat on every boot).
    """

    def __init__(
        self,
        bounce_ms: float,
        min_press_ms: float,
        hold_ms: float | None = None,
        initial_active: bool = False,
    ) -> None:
        self._level = Debouncer(max(bounce_ms, min_press_ms), bounce_ms, initial_active)
        self._hold_ms = hold_ms
        self._locked = initial_active
        self._pressed_at = _NEVER
        self._held_sent = False

    @property
    def is_pressed(self) -> bool:
        return self._level.value and not self._locked

    def update(self, active: bool, now_ms: float) -> list[ButtonEvent]:
        events = self.handle_timer(now_ms)
        for level, at_ms in self._level.update(active, now_ms):
            events.extend(self._on_change(level, at_ms))
        events.extend(self._check_held(now_ms))
        return events

    def handle_timer(self, now_ms: float) -> list[ButtonEvent]:
        events: list[ButtonEvent] = []
        for level, at_ms in self._level.handle_timer(now_ms):
            events.extend(self._on_change(level, at_ms))
        events.extend(self._check_held(now_ms))
        return events

    def next_deadline(self) -> float | None:
        candidates = (self._level.next_deadline(), self._held_deadline())
        deadlines = [deadline for deadline in candidates if deadline is not None]
        return min(deadlines) if deadlines else None

    def _check_held(self, now_ms: float) -> list[ButtonEvent]:
        held_at = self._held_deadline()
        if held_at is None or now_ms < held_at:
            return []
        self._held_sent = True
        return [ButtonHeld(held_at, held_at - self._pressed_at)]

    def _held_deadline(self) -> float | None:
        if self._hold_ms is None or self._held_sent or not self.is_pressed or not self._level.raw:
            return None
        return self._pressed_at + self._hold_ms

    def _on_change(self, pressed: bool, at_ms: float) -> list[ButtonEvent]:
        if self._locked:
            if not pressed:
                self._locked = False  # released after start-up: from now on presses count
            return []
        if pressed:
            self._pressed_at = at_ms
            self._held_sent = False
            return [ButtonPressed(at_ms)]
        return [ButtonReleased(at_ms, at_ms - self._pressed_at)]


class DoorFilter:
    """A door contact: `DoorOpened` / `DoorClosed` once the contact has settled for `bounce_ms`.

    The state at start-up is the door's state, not an event (read `is_open`).
    """

    def __init__(self, bounce_ms: float, initial_open: bool) -> None:
        self._level = Debouncer(bounce_ms, bounce_ms, initial_open)

    @property
    def is_open(self) -> bool:
        return self._level.value

    def update(self, active: bool, now_ms: float) -> list[DoorEvent]:
        return [self._event(change) for change in self._level.update(active, now_ms)]

    def handle_timer(self, now_ms: float) -> list[DoorEvent]:
        return [self._event(change) for change in self._level.handle_timer(now_ms)]

    def next_deadline(self) -> float | None:
        return self._level.next_deadline()

    @staticmethod
    def _event(change: Change) -> DoorEvent:
        is_open, at_ms = change
        return DoorOpened(at_ms) if is_open else DoorClosed(at_ms)
