"""`intercom relay-off`, the unit's ExecStopPost: it switches off a relay a dead firmware left
energised, and claims no other pin."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from firmware.runtime import config
from firmware.runtime.relay_off import relay_profile, switch_off
from hal import load_profile
from tests.flash.conftest import REPO
from tests.hal.conftest import require_module

UNIT = REPO / "firmware/runtime/systemd/intercom.service"


def relay_off(config_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "firmware", "relay-off", "--config", str(config_file)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )


def state(path: Path) -> dict[str, dict[str, bool]]:
    return dict(json.loads(path.read_text()))


@pytest.mark.timeout(60)
def test_switches_off_the_relay_a_killed_firmware_left_energised(tmp_path: Path) -> None:
    state_file = tmp_path / "hal-state.json"
    holder = subprocess.Popen(
        [sys.executable, "-m", "tests.hal.relay_holder", str(state_file), "hold"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "ENERGISED"
        holder.send_signal(signal.SIGKILL)  # no handler runs: the relay stays on
        holder.wait(timeout=10)
    finally:
        if holder.poll() is None:
            holder.kill()
        holder.communicate(timeout=10)
    assert state(state_file)["outputs"]["relay"] is True
    door = tmp_path / "door.toml"
    door.write_text(f'board = "sim"\n\n[hardware.sim]\nstate_file = "{state_file}"\n')

    result = relay_off(door)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "relay GPIO17 off (low, board sim)"
    # Only the relay was built: the LEDs and inputs of the sim board were not touched.
    assert state(state_file)["outputs"] == {"relay": False}
    assert state(state_file)["inputs"] == {}


def test_claims_only_the_relay_pin_and_never_drives_it_active() -> None:
    mock = require_module("gpiozero.pins.mock")
    from hal.backends.gpiozero_pins import GpiozeroPins

    factory = mock.MockFactory(revision="c03111")
    try:
        message = switch_off(load_profile("rpi-4"), GpiozeroPins(factory))
        assert message == "relay GPIO17 off (low, board rpi-4)"
        (pin,) = factory.pins.values()  # not the button, door contact or LED pins
        assert pin.info.name == "GPIO17"
        assert not any(change.state for change in pin.states)
    finally:
        factory.close()


def test_uses_the_configs_hardware_overrides() -> None:
    cfg = config.validate(
        {"board": "rpi-4", "hardware": {"relay": {"pin": "GPIO27"}, "audio": {"backend": "none"}}}
    )
    profile = relay_profile(cfg)
    assert profile.relay is not None and profile.relay.pin == "GPIO27"


def test_a_board_without_relay_is_fine_and_a_bad_config_is_an_error(tmp_path: Path) -> None:
    bare = tmp_path / "bare.toml"
    bare.write_text('board = "generic-linux"\n')
    result = relay_off(bare)
    assert result.returncode == 0 and "no relay, nothing to do" in result.stdout

    broken = tmp_path / "broken.toml"
    broken.write_text('board = "rpi-4"\n[hardware.relay]\npin = "GPIO4"\n')  # pulled up at boot
    result = relay_off(broken)
    assert result.returncode == 1
    assert result.stderr.startswith("relay-off: error: config: hardware.relay.pin: GPIO4")


def test_the_unit_runs_it_after_every_stop() -> None:
    unit = UNIT.read_text()
    assert (
        "ExecStopPost=@OPT@/current/venv/bin/intercom relay-off --config @ETC@/intercom.toml"
        in (unit)
    )
