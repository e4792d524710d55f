"""Board profiles: every file in board/ is valid for its model, and bad values are reported with
the file (or the config) and the key."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from hal import (
    ManualScheduler,
    ProfileError,
    available_profiles,
    load_profile,
    open_hal,
    profile_from_config,
)
from hal.profile import BOARD_DIR
from tests.hal.conftest import require_module

PROFILES = available_profiles()
PI_PROFILES = [name for name in PROFILES if load_profile(name).revision]


def test_the_boards_the_issue_asks_for_exist():
    assert set(PROFILES) >= {"rpi-zero-2w", "rpi-3", "rpi-4", "rpi-5", "generic-linux", "sim"}


@pytest.mark.parametrize("name", PROFILES)
def test_every_board_file_parses_and_uses_no_pin_twice(name):
    profile = load_profile(name)
    assert profile.name == name
    assert profile.source == f"board/{name}.toml"
    pins = list(profile.pins().values())
    assert len(pins) == len(set(pins)), f"{name} uses a pin twice: {pins}"
    if profile.gpio in ("gpiozero", "rpigpio", "sim"):
        assert profile.relay is not None and profile.button is not None


@pytest.mark.parametrize("name", PI_PROFILES)
def test_pins_exist_on_the_model(name):
    mock = require_module("gpiozero.pins.mock")
    profile = load_profile(name)
    board = mock.MockFactory(revision=profile.revision).board_info
    for key, pin in profile.pins().items():
        found = [(header.name, info) for header, info in board.find_pin(pin)]
        assert found, f"{name}: {key} = {pin} is not a pin of a {board.model}"
        header, info = found[0]
        assert header == "J8" and "gpio" in info.interfaces, (
            f"{name}: {key} = {pin} is not on the 40-pin header"
        )
        # GPIO2/3 carry fixed 1k8 pull-ups (I2C): an active-high relay module cannot stay off there.
        if key == "relay.pin":
            assert info.pull != "up" or not profile.relay.active_high


@pytest.mark.parametrize("name", PI_PROFILES)
def test_every_pi_profile_builds_on_gpiozeros_mock_of_its_model(name):
    mock = require_module("gpiozero.pins.mock")
    from hal.backends.gpiozero_pins import GpiozeroPins

    profile = load_profile(name, overrides={"audio": {"backend": "none"}})
    factory = mock.MockFactory(revision=profile.revision)
    try:
        with open_hal(
            profile, ManualScheduler(), lambda event: None, pins=GpiozeroPins(factory)
        ) as hal:
            assert hal.relay is not None and not hal.relay.is_energised
            assert set(hal.leds) == set(profile.leds)
    finally:
        factory.close()


@pytest.mark.parametrize("name", PI_PROFILES)
def test_relay_pin_is_pulled_to_its_off_level_while_the_pi_boots(name):
    profile = load_profile(name)
    # BCM2835/2711 datasheets: GPIO0-8 pulled up at reset, GPIO9-27 pulled down.
    assert profile.boot_pull_up == {f"GPIO{n}" for n in range(9)}
    pulled_up = profile.relay.pin in profile.boot_pull_up
    assert pulled_up != profile.relay.active_high


def write_profile(tmp_path: Path, base: str, replace: dict[str, str]) -> Path:
    text = (BOARD_DIR / f"{base}.toml").read_text()
    for old, new in replace.items():
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "custom.toml"
    path.write_text(text)
    return path


FILE_ERRORS = [
    (
        {"max_pulse_ms = 10000": "max_pulse_ms = 50000"},
        "relay.max_pulse_ms: must be an integer between 100 and 30000",
    ),
    (
        {"max_pulse_ms = 10000": "max_pulse_ms = true"},
        "relay.max_pulse_ms: must be an integer between 100 and 30000",
    ),
    (
        {"default_pulse_ms = 3000": "default_pulse_ms = 12000"},
        "relay.default_pulse_ms: the default pulse (12000 ms) must not exceed "
        "relay.max_pulse_ms (10000)",
    ),
    (
        {'pin = "GPIO17"': 'pin = "17"'},
        'relay.pin: must be a GPIO name as gpiozero writes it, e.g. "GPIO17"',
    ),
    ({'pin = "GPIO17"\n': ""}, "relay.pin: missing (required)"),
    ({'pin = "GPIO24"': 'pin = "GPIO17"'}, "leds.door.pin: GPIO17 is already used by relay.pin"),
    (
        {'strike = "fail-secure"': 'strike = "fail-safe"'},
        "relay.contact: a fail-safe strike must be wired to the NC contact",
    ),
    (
        {"rest_ms = 1000": "rest_ms = 1000\nrest_time = 5"},
        "relay.rest_time: unknown key (known keys: ",
    ),
    ({'pull = "up"': 'pull = "high"'}, 'button.pull: must be one of "up", "down", "none"'),
    (
        {'gpio = "gpiozero"': 'gpio = "wiringpi"'},
        'board.gpio: must be one of "gpiozero", "rpigpio", "sim", "none"',
    ),
    (
        {'pin = "GPIO17"': 'pin = "GPIO4"'},
        "relay.pin: GPIO4 is pulled up while the board boots, which energises an active-high "
        "relay module",
    ),
    (
        {"active_high = true\ncontact": "active_high = false\ncontact"},
        "relay.pin: GPIO17 is pulled down while the board boots, which energises an active-low "
        "relay module",
    ),
    (
        {"[audio]": "[audio]\nspeaker_wav = 'x.wav'"},
        'audio.speaker_wav: only used with audio.backend = "wav"',
    ),
    ({"capture_volume = 70": ""}, "audio.capture_volume: needed together with audio.capture_mixer"),
    ({"[leds.door]": "[leds.Door]"}, "leds.Door: LED names are lower-case words"),
    (
        {"[board]": "[boards]"},
        "boards: unknown table (known tables: board, button, relay, leds, door_sensor, audio, sim)",
    ),
    (
        {"hold_ms = 3000": "hold_ms = [3000]"},
        "button.hold_ms: must be an integer between 500 and 60000",
    ),
]


@pytest.mark.parametrize(("replace", "message"), FILE_ERRORS)
def test_errors_name_the_file_and_the_key(tmp_path, replace, message):
    path = write_profile(tmp_path, "rpi-4", replace)
    with pytest.raises(ProfileError) as error:
        load_profile(path)
    assert str(error.value).startswith(f"{path}: {message}")


def test_a_valid_custom_file_loads(tmp_path):
    path = write_profile(tmp_path, "rpi-4", {"default_pulse_ms = 3000": "default_pulse_ms = 5000"})
    assert load_profile(path).relay.default_pulse_ms == 5000


def test_builtin_file_errors_name_board_slash_file(monkeypatch, tmp_path):
    (tmp_path / "rpi-4.toml").write_text(
        (BOARD_DIR / "rpi-4.toml").read_text().replace("max_pulse_ms = 10000", "max_pulse_ms = 99")
    )
    monkeypatch.setattr("hal.profile.BOARD_DIR", tmp_path)
    with pytest.raises(
        ProfileError,
        match=re.escape(
            "board/rpi-4.toml: relay.max_pulse_ms: must be an integer between 100 and 30000"
        ),
    ):
        load_profile("rpi-4")


def test_invalid_toml_is_reported_with_the_file(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[relay\npin = 'GPIO17'\n")
    with pytest.raises(ProfileError, match=rf"^{re.escape(str(path))}: invalid TOML"):
        load_profile(path)


def test_unknown_profile_names_the_known_ones():
    with pytest.raises(
        ProfileError, match="board profile 'rpi-9' not found \\(known: generic-linux, rpi-3, "
    ):
        load_profile("rpi-9")


OVERRIDE_ERRORS = [
    (
        {"relay": {"max_pulse_ms": 50000}},
        "config: hardware.relay.max_pulse_ms: must be an integer between 100 and 30000",
    ),
    (
        {"relay": {"pin": "GPIO5"}},
        "config: hardware.relay.pin: GPIO5 is already used by button.pin",
    ),
    (
        {"relay": {"pin": "GPIO4"}},
        "config: hardware.relay.pin: GPIO4 is pulled up while the board boots",
    ),
    (
        {"relay": {"active_high": False}},
        "config: hardware.relay.active_high: GPIO17 is pulled down while the board boots",
    ),
    ({"relay": {"pinn": "GPIO4"}}, "config: hardware.relay.pinn: unknown key"),
    ({"relay": "GPIO4"}, "config: hardware.relay: must be a table"),
    (
        {"relay": {"pin": {"name": "GPIO4"}}},
        "config: hardware.relay.pin: must be a value, not a table",
    ),
    (
        {"leds": {"door": {"pin": "GPIO17"}}},
        "config: hardware.leds.door.pin: GPIO17 is already used by relay.pin",
    ),
    (
        {"audio": {"backend": "wav", "capture": "hw:1"}},
        'config: hardware.audio.capture: only used with audio.backend = "alsa"',
    ),
    (
        {"sim": {"state_file": "/tmp/x.json"}},
        'config: hardware.sim: only used with board.gpio = "sim"',
    ),
    (
        {"board": {"gpio": "none"}},
        'config: hardware.board.gpio: this board has no GPIO (board.gpio = "none")',
    ),
    (
        {"relay": {"strike": "fail-safe"}},
        "config: hardware.relay.strike: a fail-safe strike must be wired to the NC contact "
        '(contact = "NC")',
    ),
    (
        {"relay": {"max_pulse_ms": 2000}},
        "config: hardware.relay.max_pulse_ms: the default pulse (3000 ms) must not exceed",
    ),
]


@pytest.mark.parametrize(("overrides", "message"), OVERRIDE_ERRORS)
def test_override_errors_name_the_config_key(overrides, message):
    with pytest.raises(ProfileError) as error:
        load_profile("rpi-4", overrides=overrides)
    assert str(error.value).startswith(message)


def test_overrides_apply():
    profile = load_profile(
        "rpi-4",
        overrides={
            "relay": {"pin": "GPIO4", "active_high": False, "max_pulse_ms": 5000},
            "leds": {"status": {"pin": "GPIO25"}},
            "audio": {"backend": "loopback"},  # the file's ALSA keys are then simply unused
        },
    )
    assert (profile.relay.pin, profile.relay.active_high, profile.relay.max_pulse_ms) == (
        "GPIO4",
        False,
        5000,
    )
    assert profile.relay.default_pulse_ms == 3000
    assert profile.leds["status"].pin == "GPIO25" and profile.leds["door"].pin == "GPIO24"
    assert profile.audio.backend == "loopback"
    assert profile.where("relay.pin") == "config: hardware.relay.pin"
    assert profile.where("relay.contact") == "board/rpi-4.toml: relay.contact"


def test_an_external_pull_resistor_makes_any_pin_safe():
    profile = load_profile("rpi-4", overrides={"relay": {"pin": "GPIO4", "external_pull": "down"}})
    assert profile.relay.pin == "GPIO4"


def test_generic_linux_gets_pins_from_the_config():
    relay = {
        "pin": "GPIO17",
        "active_high": True,
        "contact": "NO",
        "strike": "fail-secure",
        "max_pulse_ms": 8000,
        "default_pulse_ms": 2000,
    }
    profile = load_profile(
        "generic-linux", overrides={"board": {"gpio": "gpiozero"}, "relay": relay}
    )
    assert profile.relay.max_pulse_ms == 8000
    assert profile.boot_pull_up is None  # unknown board: not checked
    with pytest.raises(ProfileError, match=r"config: hardware\.relay\.pin: this board has no GPIO"):
        load_profile("generic-linux", overrides={"relay": relay})


def test_profiles_are_immutable():
    profile = load_profile("sim")
    with pytest.raises(AttributeError):
        profile.relay.max_pulse_ms = 60000  # type: ignore[misc]


def test_profile_from_the_firmware_configs_hardware_table():
    hardware = {"profile": "rpi-4", "relay": {"pin": "GPIO27"}, "audio": {"backend": "none"}}
    profile = profile_from_config(hardware)
    assert (profile.name, profile.relay.pin, profile.audio.backend) == ("rpi-4", "GPIO27", "none")
    assert profile_from_config(None).name == "sim"
    assert profile_from_config({}, default="rpi-5").name == "rpi-5"
    with pytest.raises(ProfileError, match=r"^config: hardware\.profile: must be a board name"):
        profile_from_config({"profile": 4})
    with pytest.raises(ProfileError, match=r"^config: hardware\.debug: unknown table"):
        profile_from_config({"profile": "rpi-4", "debug": True})
