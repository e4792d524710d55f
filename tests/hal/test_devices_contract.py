"""The device contract, run unchanged over every GPIO backend that can run here and two wirings.

Backends: sim, gpiozero on its own MockFactory (Pi 4 revision), RPi.GPIO through a stand-in module.
Inputs are driven at the pin and outputs read at the pin, so polarity is tested end to end.
"""

from __future__ import annotations

import contextlib
import itertools

import pytest

from hal import (
    LED_PATTERNS,
    ButtonHeld,
    ButtonPressed,
    ButtonReleased,
    DoorClosed,
    DoorOpened,
    ManualScheduler,
    RelaySwitched,
)
from tests.hal.rigs import BACKENDS, WIRINGS, make_rig


@pytest.fixture(params=[(b, w) for b in BACKENDS for w in WIRINGS], ids=lambda p: f"{p[0]}/{p[1]}")
def rig(request):
    backend, wiring = request.param
    if backend == "gpiozero-mock":
        from tests.hal.conftest import require_module

        require_module("gpiozero")
    built = make_rig(backend, wiring)
    yield built
    built.close()


def relay_events(rig):
    return [(e.energised, e.reason) for e in rig.events if isinstance(e, RelaySwitched)]


def button_events(rig):
    return [e for e in rig.events if isinstance(e, (ButtonPressed, ButtonHeld, ButtonReleased))]


# outputs


def test_outputs_start_off_and_never_flick_on(rig):
    for device in ["relay", *(f"leds.{name}" for name in rig.profile.leds)]:
        assert not rig.is_active(device), device
        assert not rig.ever_driven_active(device), f"{device} was driven active while being created"
    assert not rig.boot_level_active("relay"), "the board's boot pull energises the relay"
    assert not rig.hal.relay.is_energised


def test_pulse_energises_then_releases(rig):
    relay = rig.hal.relay
    assert relay.pulse(500) == 500
    assert rig.is_active("relay")
    rig.advance(499)
    assert rig.is_active("relay")
    rig.advance(2)
    assert not rig.is_active("relay")
    assert relay_events(rig) == [(True, "command"), (False, "pulse_end")]


def test_pulse_default_comes_from_the_profile(rig):
    assert rig.hal.relay.pulse() == rig.profile.relay.default_pulse_ms


def test_pulse_is_capped_whatever_the_caller_asks(rig):
    cap = rig.profile.relay.max_pulse_ms
    assert rig.hal.relay.pulse(10 * cap) == cap
    rig.advance(cap - 1)
    assert rig.is_active("relay")
    rig.advance(2)
    assert not rig.is_active("relay")


def test_on_is_capped_too(rig):
    cap = rig.profile.relay.max_pulse_ms
    assert rig.hal.relay.on() == cap
    rig.advance(cap + 1)
    assert not rig.is_active("relay")


def test_repeated_pulses_extend_only_up_to_the_cap_from_the_first_energising(rig):
    relay = rig.hal.relay
    rest = rig.profile.relay.rest_ms
    assert rig.profile.relay.max_pulse_ms == 10_000
    assert relay.pulse(3000) == 3000
    for _ in range(3):  # at 2000, 4000, 6000 ms: each extends the end to now + 3000
        rig.advance(2000)
        assert relay.pulse(3000) == 3000
    assert relay.pulse(1000) == 3000  # a shorter pulse never cuts it short
    rig.advance(2000)  # 8000 ms after energising
    assert relay.pulse(3000) == 2000  # capped at energising + 10000
    rig.advance(1999)
    assert rig.is_active("relay")
    rig.advance(2)
    assert not rig.is_active("relay")
    assert relay.pulse(3000) == 0  # resting
    assert not rig.is_active("relay")
    rig.advance(rest)
    assert relay.pulse(300) == 300
    assert relay_events(rig) == [(True, "command"), (False, "pulse_end"), (True, "command")]


def test_a_repeating_command_cannot_hold_the_strike_beyond_the_cap(rig):
    relay = rig.hal.relay
    cap = rig.profile.relay.max_pulse_ms
    rest = rig.profile.relay.rest_ms
    for _ in range(3000):  # "open" every 10 ms for 30 s: a stuck DTMF digit, a bouncing key
        relay.pulse(5000)
        rig.advance(10)
    changes = [e for e in rig.events if isinstance(e, RelaySwitched)]
    assert changes[0].energised
    periods = [(on.at_ms, off.at_ms) for on, off in zip(changes[::2], changes[1::2], strict=False)]
    assert periods, "the relay never switched off"
    assert all(off - on <= cap for on, off in periods)
    assert all(later[0] - earlier[1] >= rest for earlier, later in itertools.pairwise(periods))
    energised_ms = sum(off - on for on, off in periods)
    assert energised_ms <= 30_000 * cap / (cap + rest) + cap


def test_off_switches_off_and_starts_the_rest(rig):
    relay = rig.hal.relay
    relay.pulse(5000)
    rig.advance(100)
    relay.off()
    assert not rig.is_active("relay")
    assert relay.pulse(100) == 0
    assert relay_events(rig) == [(True, "command"), (False, "command")]
    rig.advance(10_000)  # the cancelled pulse timer must not fire into a later pulse
    assert relay_events(rig) == [(True, "command"), (False, "command")]


def test_pulse_rejects_nonsense(rig):
    for bad in (0, -5, 2.5, True):
        with pytest.raises(ValueError):
            rig.hal.relay.pulse(bad)
    assert not rig.is_active("relay")


def test_watchdog_switches_off_when_the_pulse_timer_was_lost():
    class LosingScheduler(ManualScheduler):
        """Every timer is lost: the loop was stalled, a handle was cancelled by mistake..."""

        def call_later(self, delay, callback, *args):
            return super().call_later(delay, lambda *a: None)

    for backend in ("sim", "rpigpio-fake"):
        rig = make_rig(backend, scheduler=LosingScheduler())
        try:
            relay = rig.hal.relay
            relay.pulse(500)
            rig.advance(499)
            assert relay.enforce_deadline() is False
            assert rig.is_active("relay")
            rig.advance(100)
            assert rig.is_active("relay"), "the timer was lost, so only the watchdog can help"
            assert relay.enforce_deadline() is True
            assert not rig.is_active("relay")
            assert relay_events(rig)[-1] == (False, "watchdog")
            assert relay.enforce_deadline() is False
        finally:
            rig.close()


def test_close_switches_every_output_off(rig):
    rig.hal.relay.on()
    for led in rig.hal.leds.values():
        led.on()
    rig.hal.close()
    assert not rig.is_active("relay")
    for name in rig.profile.leds:
        # A released pin goes back to its boot pull: an LED wired active-low on a pulled-down
        # pin glows again (cosmetic; the relay's pin is checked to make this impossible for it).
        assert not rig.is_active(f"leds.{name}") or rig.boot_level_active(f"leds.{name}")
    rig.hal.close()  # again: harmless


def test_all_off_is_immediate_and_silent(rig):
    rig.hal.relay.on()
    rig.hal.leds["status"].show(LED_PATTERNS["CALLING"])
    count = len(rig.events)
    rig.hal.all_off()
    assert not rig.is_active("relay")
    assert not rig.is_active("leds.status")
    assert len(rig.events) == count
    rig.advance(2000)
    assert not rig.is_active("leds.status"), "a blink timer survived all_off()"


def sample(rig, device, every_ms, count):
    levels = []
    for _ in range(count):
        levels.append(rig.is_active(device))
        rig.advance(every_ms)
    return levels


def test_led_patterns(rig):
    led = rig.hal.leds["status"]
    led.show(LED_PATTERNS["CALLING"])  # 500 lit, 500 dark
    rig.advance(250)
    assert sample(rig, "leds.status", 500, 4) == [True, False, True, False]
    led.show(LED_PATTERNS["ERROR"])  # 100 lit, 150 dark, 100 lit, 650 dark
    rig.advance(25)
    assert sample(rig, "leds.status", 100, 10) == [
        True,
        False,
        False,
        True,
        False,
        False,
        False,
        False,
        False,
        False,
    ]
    led.on()
    assert sample(rig, "leds.status", 700, 3) == [True, True, True]
    led.off()
    assert sample(rig, "leds.status", 700, 3) == [False, False, False]


def test_showing_the_same_pattern_again_does_not_restart_it(rig):
    led = rig.hal.leds["status"]
    led.blink(300, 300)
    rig.advance(250)
    led.blink(300, 300)
    rig.advance(100)
    assert not rig.is_active("leds.status")  # at 350 ms: in the dark half of the first cycle
    assert led.pattern.steps_ms == (300, 300)


# inputs


def press(rig, length_ms, device="button"):
    rig.drive(device, True)
    rig.advance(length_ms)
    rig.drive(device, False)
    rig.advance(100)


def test_button_press_of_100_ms_is_reported_once_with_timestamps(rig):
    start = rig.now_ms()
    press(rig, 100)
    assert button_events(rig) == [ButtonPressed(start), ButtonReleased(start + 100, 100)]


@pytest.mark.parametrize("spike_ms", [1, 2, 5, 10, 20])
def test_button_spikes_are_ignored(rig, spike_ms):
    for _ in range(20):
        press(rig, spike_ms)
    assert button_events(rig) == []
    assert not rig.hal.button.is_pressed


def test_bouncing_button_counts_once(rig):
    for _ in range(5):
        rig.drive("button", True)
        rig.advance(1)
        rig.drive("button", False)
        rig.advance(1)
    press(rig, 120)
    assert [type(e) for e in button_events(rig)] == [ButtonPressed, ButtonReleased]


def test_button_held(rig):
    start = rig.now_ms()
    hold_ms = rig.profile.button.hold_ms
    rig.drive("button", True)
    rig.advance(hold_ms + 10)
    assert rig.hal.button.is_pressed
    rig.drive("button", False)
    rig.advance(100)
    assert button_events(rig) == [
        ButtonPressed(start),
        ButtonHeld(start + hold_ms, hold_ms),
        ButtonReleased(start + hold_ms + 10, hold_ms + 10),
    ]


def test_door_sensor(rig):
    door = rig.hal.door_sensor
    rig.drive("door_sensor", False)  # the reed contact closes: the door is shut
    rig.advance(100)
    assert not door.is_open
    rig.events.clear()
    start = rig.now_ms()
    press(rig, 5, device="door_sensor")  # a knock on the frame
    rig.drive("door_sensor", True)
    rig.advance(100)
    assert door.is_open
    rig.drive("door_sensor", False)
    rig.advance(100)
    assert not door.is_open
    doors = [e for e in rig.events if isinstance(e, (DoorOpened, DoorClosed))]
    assert doors == [DoorOpened(start + 105), DoorClosed(start + 205)]


def test_inputs_stop_reporting_after_close(rig):
    rig.hal.close()
    rig.events.clear()
    # A backend may refuse to drive a released pin; silence is what matters.
    with contextlib.suppress(Exception):
        press(rig, 100)
    assert rig.events == []


def test_led_patterns_cover_the_door_states_of_the_core():
    # firmware/core/door.py: SetLed(state) with these states.
    door_states = {"IDLE", "REGISTERED", "CALLING", "IN_CALL", "DOOR_OPEN", "ERROR"}
    assert door_states <= set(LED_PATTERNS)
    patterns = [LED_PATTERNS[state] for state in door_states]
    looks = {(pattern.steps_ms, pattern.steady_lit) for pattern in patterns}
    assert len(looks) == len(door_states), "two door states look the same on the LED"
