"""A stand-in for the RPi.GPIO module (which only imports on a Pi), for the contract tests.

It follows RPi.GPIO's documented behaviour where the HAL depends on it: BCM numbering, `setup()`
with `initial` sets the level as the pin becomes an output, pulls set an input's idle level,
`add_event_detect()` calls back with the channel, and using an unset channel raises RuntimeError.
It records every level each pin took so a test can see a glitch.
"""

from __future__ import annotations

import types

BCM, BOARD = 11, 10
IN, OUT = 1, 0
LOW, HIGH = 0, 1
PUD_OFF, PUD_DOWN, PUD_UP = 20, 21, 22
RISING, FALLING, BOTH = 31, 32, 33


def make_module() -> types.ModuleType:
    state = {"mode": None, "pins": {}}
    module = types.ModuleType("RPi.GPIO")
    for name, value in dict(
        BCM=BCM, BOARD=BOARD, IN=IN, OUT=OUT, LOW=LOW, HIGH=HIGH, PUD_OFF=PUD_OFF,
        PUD_DOWN=PUD_DOWN, PUD_UP=PUD_UP, RISING=RISING, FALLING=FALLING, BOTH=BOTH,
    ).items():  # fmt: skip
        setattr(module, name, value)

    def pin(channel):
        if state["mode"] != BCM:
            raise RuntimeError("Please set pin numbering mode using GPIO.setmode()")
        if channel not in range(28):
            raise ValueError("The channel sent is invalid on a Raspberry Pi")
        return state["pins"].setdefault(
            channel, {"direction": None, "level": LOW, "levels": [], "callback": None}
        )

    def setwarnings(flag):
        pass

    def setmode(mode):
        state["mode"] = mode

    def setup(channel, direction, pull_up_down=PUD_OFF, initial=-1):
        p = pin(channel)
        p["direction"] = direction
        if direction == OUT:
            level = LOW if initial == -1 else initial
        else:
            level = {PUD_UP: HIGH, PUD_DOWN: LOW, PUD_OFF: p["level"]}[pull_up_down]
        p["level"] = level
        p["levels"].append(level)

    def output(channel, level):
        p = pin(channel)
        if p["direction"] != OUT:
            raise RuntimeError("The GPIO channel has not been set up as an OUTPUT")
        p["level"] = HIGH if level else LOW
        p["levels"].append(p["level"])

    def input_(channel):
        p = pin(channel)
        if p["direction"] is None:
            raise RuntimeError("You must setup() the GPIO channel first")
        return p["level"]

    def add_event_detect(channel, edge, callback=None, bouncetime=None):
        p = pin(channel)
        if p["direction"] != IN:
            raise RuntimeError("You must setup() the GPIO channel as an input first")
        if p["callback"] is not None:
            raise RuntimeError("Conflicting edge detection already enabled for this GPIO channel")
        p["callback"] = callback

    def remove_event_detect(channel):
        pin(channel)["callback"] = None

    def cleanup(channel=None):
        for number in [channel] if channel is not None else list(state["pins"]):
            p = state["pins"].get(number)
            if p is not None:
                p.update(direction=None, callback=None)

    def drive(channel, level):
        """Test helper: the outside world pulls an input to `level`."""
        p = pin(channel)
        assert p["direction"] == IN, "only inputs can be driven from outside"
        if p["level"] != level:
            p["level"] = level
            p["levels"].append(level)
            if p["callback"] is not None:
                p["callback"](channel)

    module.setwarnings = setwarnings
    module.setmode = setmode
    module.setup = setup
    module.output = output
    module.input = input_
    module.add_event_detect = add_event_detect
    module.remove_event_detect = remove_event_detect
    module.cleanup = cleanup
    module.drive = drive
    module.state = state
    return module
