"""The HAL on a real asyncio loop: the loop is the scheduler, and a press from another thread (as
gpiozero's and RPi.GPIO's callbacks arrive) reaches the loop only through call_soon_threadsafe."""

from __future__ import annotations

import asyncio
import threading

import pytest

from hal import ButtonPressed, ButtonReleased, RelaySwitched, load_profile, open_hal

pytestmark = pytest.mark.timeout(20)


def test_button_from_a_thread_and_relay_timer_on_the_loop():
    async def scenario():
        loop = asyncio.get_running_loop()
        loop_thread = threading.get_ident()
        events = []
        threads = set()

        def on_event(event):
            threads.add(threading.get_ident())
            events.append(event)

        with open_hal(load_profile("sim"), loop, on_event) as hal:
            presser = threading.Thread(target=hal.sim.press)
            presser.start()
            presser.join()
            await asyncio.sleep(0.12)  # longer than min_press_ms (50)
            hal.sim.release()
            await asyncio.sleep(0.05)  # longer than bounce_ms (20)
            assert hal.relay.pulse(150) == 150
            await asyncio.sleep(0.25)
            assert not hal.relay.is_energised
        return events, threads, loop_thread

    events, threads, loop_thread = asyncio.run(scenario())
    assert [type(e) for e in events] == [
        ButtonPressed,
        ButtonReleased,
        RelaySwitched,
        RelaySwitched,
    ]
    assert 100 <= events[1].held_ms <= 250
    assert events[3].reason == "pulse_end"
    assert 140 <= events[3].at_ms - events[2].at_ms <= 300
    assert threads == {loop_thread}, "events must be delivered on the loop's thread"
