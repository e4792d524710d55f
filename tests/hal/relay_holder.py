"""A small firmware stand-in for the safety tests: build the sim HAL on an asyncio loop, energise
the relay, say so, then wait to be killed.

    python -m tests.hal.relay_holder STATE_FILE hold    # energise, print ENERGISED, wait
    python -m tests.hal.relay_holder STATE_FILE crash   # energise, then die of an unhandled error
    python -m tests.hal.relay_holder STATE_FILE idle    # just start (a restart), print READY, wait
"""

from __future__ import annotations

import asyncio
import sys

from hal import guard_outputs, load_profile, open_hal


async def main(state_file: str, mode: str) -> None:
    loop = asyncio.get_running_loop()
    overrides = {"sim": {"state_file": state_file}, "relay": {"max_pulse_ms": 30000}}
    with open_hal(load_profile("sim", overrides), loop, on_event=lambda event: None) as hal:
        guard_outputs(hal)
        assert hal.relay is not None
        if mode == "idle":
            print("READY", flush=True)
        else:
            hal.relay.on()
            print("ENERGISED", flush=True)
        if mode == "crash":
            await asyncio.sleep(0.1)
            raise RuntimeError("simulated firmware bug")
        await asyncio.sleep(60)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
