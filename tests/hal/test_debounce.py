"""Debounce and minimum-press tables for the pure filters in hal.debounce."""

from __future__ import annotations

import pytest

from hal.debounce import Debouncer, DoorFilter, PressFilter
from hal.events import ButtonHeld, ButtonPressed, ButtonReleased, DoorClosed, DoorOpened


def run(filter_, edges, end_ms):
    """Feed (t_ms, level) edges; wake the filter at each deadline exactly, as a timer would."""
    events = []
    pending = list(edges)
    while True:
        deadline = filter_.next_deadline()
        next_edge = pending[0][0] if pending else None
        if next_edge is not None and (deadline is None or next_edge <= deadline):
            at_ms, level = pending.pop(0)
            events += filter_.update(level, at_ms)
        elif deadline is not None and deadline <= end_ms:
            events += filter_.handle_timer(deadline)
        else:
            return events


def pulse(start_ms, length_ms):
    return [(start_ms, True), (start_ms + length_ms, False)]


# bounce 20 ms, minimum press 50 ms, held after 3000 ms
BUTTON = dict(bounce_ms=20, min_press_ms=50, hold_ms=3000)

SPIKES = [1, 2, 5, 10, 15, 20, 49]

PRESS_TABLE = [
    ("clean 100 ms press", pulse(0, 100), [ButtonPressed(0), ButtonReleased(100, 100)]),
    (
        "contact bounce at both ends",
        [
            *[(0, True), (1, False), (2, True), (4, False), (5, True)],  # closing, bouncing
            *[(105, False), (106, True), (107, False)],  # opening, bouncing
        ],
        [ButtonPressed(5), ButtonReleased(107, 102)],
    ),
    (
        "a 5 ms drop inside a press is bounce, not a release",
        [(0, True), (60, False), (65, True), (200, False)],
        [ButtonPressed(0), ButtonReleased(200, 200)],
    ),
    (
        "two presses",
        pulse(0, 100) + pulse(300, 100),
        [ButtonPressed(0), ButtonReleased(100, 100), ButtonPressed(300), ButtonReleased(400, 100)],
    ),
    (
        "held",
        pulse(0, 3500),
        [ButtonPressed(0), ButtonHeld(3000, 3000), ButtonReleased(3500, 3500)],
    ),
    (
        "released just before the hold time: no ButtonHeld",
        pulse(0, 2990),
        [ButtonPressed(0), ButtonReleased(2990, 2990)],
    ),
    (
        "a short drop across the hold time delays ButtonHeld until the contact is back",
        [(0, True), (2995, False), (3005, True), (4000, False)],
        [ButtonPressed(0), ButtonHeld(3000, 3000), ButtonReleased(4000, 4000)],
    ),
    (
        "mains hum: 1 ms spikes every 10 ms for a second",
        [edge for t in range(0, 1000, 10) for edge in pulse(t, 1)],
        [],
    ),
    (
        "49 ms spike train with 5 ms gaps",
        [edge for t in range(0, 540, 54) for edge in pulse(t, 49)],
        [],
    ),
]


@pytest.mark.parametrize("length_ms", SPIKES)
def test_spikes_shorter_than_the_minimum_press_are_ignored(length_ms):
    assert run(PressFilter(**BUTTON), pulse(0, length_ms), end_ms=10_000) == []


@pytest.mark.parametrize(
    ("name", "edges", "expected"), PRESS_TABLE, ids=[row[0] for row in PRESS_TABLE]
)
def test_press_table(name, edges, expected):
    assert run(PressFilter(**BUTTON), edges, end_ms=10_000) == expected


def test_a_100_ms_press_is_counted_once_and_known_after_the_minimum_press():
    press = PressFilter(**BUTTON)
    assert press.update(True, 0) == []
    assert press.next_deadline() == 50
    assert press.handle_timer(49) == []
    assert press.handle_timer(50) == [ButtonPressed(0)]
    assert press.is_pressed
    assert press.update(False, 100) == []
    assert press.handle_timer(120) == [ButtonReleased(100, 100)]
    assert not press.is_pressed
    assert press.next_deadline() is None


def test_button_closed_at_start_up_is_not_a_press_until_it_opens():
    press = PressFilter(**BUTTON, initial_active=True)
    assert not press.is_pressed
    events = run(press, [(100, False), (500, True), (700, False)], end_ms=10_000)
    assert events == [ButtonPressed(500), ButtonReleased(700, 200)]


def test_a_late_update_is_taken_as_now():
    press = PressFilter(**BUTTON)
    press.update(True, 0)
    assert press.handle_timer(60) == [ButtonPressed(0)]
    # An edge stamped before the last wake-up (queued behind a timer) is not allowed to go back.
    assert press.update(False, 55) == []
    assert press.handle_timer(80) == [ButtonReleased(60, 60)]


def test_zero_windows_report_at_once():
    press = PressFilter(bounce_ms=0, min_press_ms=0)
    assert press.update(True, 5) == [ButtonPressed(5)]
    assert press.update(False, 7) == [ButtonReleased(7, 2)]


DEBOUNCER_TABLE = [
    # rise, fall, edges, changes
    (10, 30, pulse(0, 9), []),
    (10, 30, pulse(0, 10), [(True, 0), (False, 10)]),
    (10, 30, [(0, True), (50, False), (70, True)], [(True, 0)]),
    (10, 30, [(0, True), (50, False), (80, True)], [(True, 0), (False, 50), (True, 80)]),
]


@pytest.mark.parametrize(("rise", "fall", "edges", "changes"), DEBOUNCER_TABLE)
def test_debouncer_table(rise, fall, edges, changes):
    assert run(Debouncer(rise, fall), edges, end_ms=1000) == changes


def test_door_filter_reports_settled_changes_only():
    door = DoorFilter(bounce_ms=50, initial_open=False)
    assert not door.is_open
    edges = [*pulse(0, 20), (100, True), (300, False)]
    assert run(door, edges, end_ms=1000) == [DoorOpened(100), DoorClosed(300)]


def test_door_filter_starts_in_the_state_it_reads():
    door = DoorFilter(bounce_ms=50, initial_open=True)
    assert door.is_open
    assert run(door, [], end_ms=1000) == []


def test_negative_windows_are_refused():
    with pytest.raises(ValueError):
        Debouncer(-1, 10)
