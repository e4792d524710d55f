"""`intercom relay-off --config FILE`: drive the door-strike relay off, and touch nothing else.

The systemd unit runs this after the firmware has stopped, however it stopped (`ExecStopPost=`),
so a firmware that died while the strike was energised cannot leave the door open until the next
start. It builds only the relay's output line, from the same board profile, backend and polarity
the firmware uses. No other pin is claimed or driven: the button and door contact are inputs with
pulls that must not change under a running installation's feet, LEDs are harmless, and audio
devices stay closed.

It imports neither the HTTP server nor the firmware's runtime, so it still works when the
firmware itself cannot start (a broken dependency, a crash at import).

The line is created inactive (no glitch through the active level), driven inactive once more and
released. After release the pin keeps its level or falls back to the board's boot pull, which
holds the module off as well (board/README.md, *Relay safety*).
"""

from __future__ import annotations

import argparse
import sys

from firmware.runtime import config
from hal import BoardProfile, HalError, ManualScheduler, load_profile
from hal.factory import default_pins
from hal.lines import PinBackend


def relay_profile(cfg: config.Config) -> BoardProfile:
    """The board profile with the config's `[hardware]` overrides, as the firmware builds it.

    `[hardware.audio]` is left out: the audio settings cannot move the relay, and their checks
    depend on the firmware's `[audio]` section, which this command does not need.
    """
    overrides = {k: v for k, v in cfg.hardware.items() if k not in ("profile", "audio")}
    return load_profile(cfg.board, overrides)


def switch_off(profile: BoardProfile, pins: PinBackend | None = None) -> str:
    """Drive the profile's relay off; say what was done. `pins` replaces the backend (tests)."""
    relay = profile.relay
    if relay is None:
        return f"board {profile.name}: no relay, nothing to do"
    if pins is None:
        pins = default_pins(profile, ManualScheduler())
    if pins is None:  # board.gpio = "none"; the profile loader refuses a relay there anyway
        return f"board {profile.name}: no GPIO, nothing to do"
    try:
        line = pins.output("relay", relay.pin, relay.active_high)
        try:
            line.set(False)
        finally:
            line.close()
    finally:
        pins.close()
    level = "low" if relay.active_high else "high"
    return f"relay {relay.pin} off ({level}, board {profile.name})"


def command(args: argparse.Namespace) -> int:
    """The `relay-off` subcommand: 0 when the relay is off (or the board has none), 1 on errors."""
    try:
        cfg = config.load(args.config)
        print(switch_off(relay_profile(cfg)))
    except (config.ConfigError, HalError) as exc:
        print(f"relay-off: error: {exc}", file=sys.stderr)
        return 1
    return 0
