"""Board profiles: load `board/<name>.toml`, apply the firmware config's `[hardware]` overrides,
validate, and return frozen dataclasses.

    profile = load_profile("rpi-4", overrides={"relay": {"pin": "GPIO27"}})
    profile = profile_from_config(config["hardware"])  # [hardware] profile = "rpi-4"

Every error names where the value came from and its key, so the user knows which line to fix:

    board/rpi-4.toml: relay.max_pulse_ms: must be an integer between 100 and 30000
    config: hardware.relay.pin: GPIO4 is pulled up while the board boots, ...

The schema is documented in board/README.md; this module is its single source of truth.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

from hal.errors import ProfileError

BOARD_DIR = Path(__file__).resolve().parent.parent / "board"

GPIO_BACKENDS = ("gpiozero", "rpigpio", "sim", "none")
AUDIO_BACKENDS = ("alsa", "wav", "loopback", "none")
PULLS = ("up", "down", "none")
CONTACTS = ("NO", "NC")
STRIKES = ("fail-secure", "fail-safe")
# A fail-secure strike opens when powered: it must hang on the normally-open contact. A fail-safe
# strike (or maglock) opens when unpowered: it must hang on the normally-closed contact. Either
# way a de-energised relay is a locked door; no other wiring is accepted.
CONTACT_FOR_STRIKE = {"fail-secure": "NO", "fail-safe": "NC"}

_PIN_RE = re.compile(r"GPIO([0-9]|[1-4][0-9]|5[0-3])")
_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,31}")
_PROFILE_NAME_RE = re.compile(r"[a-z0-9][a-z0-9-]*")
_REQUIRED: Any = object()  # default for keys that must be present


@dataclass(frozen=True)
class ButtonConfig:
    pin: str
    pull: str
    active_high: bool
    bounce_ms: int
    min_press_ms: int
    hold_ms: int


@dataclass(frozen=True)
class RelayConfig:
    pin: str
    active_high: bool
    contact: str
    strike: str
    external_pull: str
    default_pulse_ms: int
    max_pulse_ms: int
    rest_ms: int


@dataclass(frozen=True)
class LedConfig:
    pin: str
    active_high: bool


@dataclass(frozen=True)
class DoorSensorConfig:
    pin: str
    pull: str
    active_high: bool  # the level that means "door open"
    bounce_ms: int


@dataclass(frozen=True)
class AudioConfig:
    backend: str
    capture: str = "default"
    playback: str = "default"
    mixer_device: str = "default"
    playback_mixer: str | None = None
    playback_volume: int | None = None
    capture_mixer: str | None = None
    capture_volume: int | None = None
    microphone_wav: Path | None = None
    microphone_loop: bool = False
    speaker_wav: Path | None = None
    # where each value came from, for error messages raised when the device is opened
    origins: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    def where(self, key: str) -> str:
        return self.origins.get(key, f"audio.{key}")


@dataclass(frozen=True)
class SimConfig:
    state_file: Path | None = None


@dataclass(frozen=True)
class BoardProfile:
    name: str
    source: str
    model: str
    revision: str | None
    gpio: str
    boot_pull_up: frozenset[str] | None  # None: unknown for this board, not checked
    button: ButtonConfig | None
    relay: RelayConfig | None
    leds: Mapping[str, LedConfig]
    door_sensor: DoorSensorConfig | None
    audio: AudioConfig
    sim: SimConfig
    origins: Mapping[str, str] = field(compare=False, repr=False)

    def where(self, key: str) -> str:
        """Where a value came from: `board/rpi-4.toml: relay.pin`, `config: hardware.relay.pin`."""
        return self.origins.get(key, f"{self.source}: {key}")

    def pins(self) -> dict[str, str]:
        """Every pin in use, keyed by the profile key naming it (`relay.pin`, `leds.status.pin`)."""
        used: dict[str, str] = {}
        if self.button:
            used["button.pin"] = self.button.pin
        if self.relay:
            used["relay.pin"] = self.relay.pin
        for name, led in self.leds.items():
            used[f"leds.{name}.pin"] = led.pin
        if self.door_sensor:
            used["door_sensor.pin"] = self.door_sensor.pin
        return used


def available_profiles() -> list[str]:
    return sorted(path.stem for path in BOARD_DIR.glob("*.toml"))


def load_profile(
    name_or_path: str | Path, overrides: Mapping[str, Any] | None = None
) -> BoardProfile:
    """Load a board profile by name (`rpi-4`) or path, with `[hardware]` overrides applied."""
    path, label = _locate(name_or_path)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ProfileError(f"{label}: cannot read: {exc.strerror or exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{label}: invalid TOML: {exc}") from exc
    origins: dict[str, str] = {}
    merged = _merge({}, data, "", lambda key: f"{label}: {key}", origins)
    if overrides:
        merged = _merge(merged, overrides, "", lambda key: f"config: hardware.{key}", origins)
    return _Builder(path.stem, label, merged, origins).build()


def profile_from_config(hardware: Mapping[str, Any] | None, default: str = "sim") -> BoardProfile:
    """The profile the firmware config's `[hardware]` table asks for.

    [hardware]
    profile = "rpi-4"          # a name from board/ or a path; default: `default`
    [hardware.relay]           # any table of the profile's shape overrides it
    pin = "GPIO27"
    """
    hardware = dict(hardware or {})
    name = hardware.pop("profile", default)
    if not isinstance(name, str) or not name.strip():
        raise ProfileError("config: hardware.profile: must be a board name (rpi-4) or a path")
    return load_profile(name, overrides=hardware)


def _locate(name_or_path: str | Path) -> tuple[Path, str]:
    text = str(name_or_path)
    if isinstance(name_or_path, str) and _PROFILE_NAME_RE.fullmatch(text):
        path = BOARD_DIR / f"{text}.toml"
        if not path.is_file():
            known = ", ".join(available_profiles())
            raise ProfileError(f"board profile {text!r} not found (known: {known})")
        return path, f"board/{text}.toml"
    return Path(name_or_path), text


def _merge(
    base: dict[str, Any],
    update: Mapping[str, Any],
    prefix: str,
    label: Callable[[str], str],
    origins: dict[str, str],
) -> dict[str, Any]:
    """Deep-merge `update` into `base`, recording in `origins` where each key's value came from."""
    merged = dict(base)
    for key, value in update.items():
        dotted = f"{prefix}{key}"
        if isinstance(value, Mapping):
            current = merged.get(key, {})
            if not isinstance(current, dict):
                raise ProfileError(f"{label(dotted)}: must be a value, not a table")
            origins.setdefault(dotted, label(dotted))
            merged[key] = _merge(current, value, f"{dotted}.", label, origins)
        else:
            if isinstance(merged.get(key), dict):
                raise ProfileError(f"{label(dotted)}: must be a table")
            merged[key] = value
            origins[dotted] = label(dotted)
    return merged


class _Section:
    """Typed reads from one table; remembers which keys were read so the rest can be rejected."""

    def __init__(self, builder: _Builder, key: str, data: Mapping[str, Any]) -> None:
        self.builder = builder
        self.key = key
        self.data = data
        self.read: set[str] = set()

    def where(self, name: str) -> str:
        return self.builder.where(f"{self.key}.{name}")

    def fail(self, name: str, message: str) -> ProfileError:
        return ProfileError(f"{self.where(name)}: {message}")

    def _get(self, name: str, default: Any) -> Any:
        self.read.add(name)
        if name in self.data:
            return self.data[name]
        if default is _REQUIRED:
            raise self.fail(name, "missing (required)")
        return default

    def integer(self, name: str, low: int, high: int, default: Any = _REQUIRED) -> int:
        value = self.optional_integer(name, low, high, default)
        assert value is not None
        return value

    def optional_integer(self, name: str, low: int, high: int, default: Any = None) -> int | None:
        value = self._get(name, default)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high
        ):
            raise self.fail(name, f"must be an integer between {low} and {high}")
        return value

    def boolean(self, name: str, default: Any = _REQUIRED) -> bool:
        value = self._get(name, default)
        if not isinstance(value, bool):
            raise self.fail(name, "must be true or false")
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: Any = _REQUIRED) -> str:
        value = self._get(name, default)
        if value not in choices:
            raise self.fail(name, "must be one of " + ", ".join(f'"{c}"' for c in choices))
        return str(value)

    def text(self, name: str, default: Any = _REQUIRED) -> str:
        value = self.optional_text(name, default)
        assert value is not None
        return value

    def optional_text(self, name: str, default: Any = None) -> str | None:
        value = self._get(name, default)
        if value is not None and (not isinstance(value, str) or not value.strip()):
            raise self.fail(name, "must be a non-empty string")
        return value

    def optional_path(self, name: str) -> Path | None:
        value = self.optional_text(name)
        return Path(value).expanduser() if value is not None else None

    def pin(self, name: str = "pin") -> str:
        value = self._get(name, _REQUIRED)
        if not isinstance(value, str) or not _PIN_RE.fullmatch(value):
            raise self.fail(name, 'must be a GPIO name as gpiozero writes it, e.g. "GPIO17"')
        return value

    def pin_list(self, name: str) -> frozenset[str] | None:
        value = self._get(name, None)
        if value is None:
            return None
        if not isinstance(value, list) or not all(
            isinstance(pin, str) and _PIN_RE.fullmatch(pin) for pin in value
        ):
            raise self.fail(name, 'must be a list of GPIO names, e.g. ["GPIO0", "GPIO1"]')
        return frozenset(value)

    def finish(self) -> None:
        for name in self.data:
            if name not in self.read:
                known = ", ".join(sorted(self.read))
                raise self.fail(name, f"unknown key (known keys: {known})")


class _Builder:
    SECTIONS = ("board", "button", "relay", "leds", "door_sensor", "audio", "sim")

    def __init__(
        self, name: str, label: str, data: dict[str, Any], origins: dict[str, str]
    ) -> None:
        self.name = name
        self.label = label
        self.data = data
        self.origins = origins

    def where(self, key: str) -> str:
        return self.origins.get(key, f"{self.label}: {key}")

    def blame(self, *keys: str) -> str:
        """For a rule between several keys: the one the config set (what the user just changed)."""
        for key in keys:
            if self.where(key).startswith("config:"):
                return self.where(key)
        return self.where(keys[0])

    def section(self, key: str, required: bool = False) -> _Section | None:
        if key not in self.data:
            if required:
                raise ProfileError(f"{self.where(key)}: missing table [{key}]")
            return None
        value = self.data[key]
        if not isinstance(value, dict):
            raise ProfileError(f"{self.where(key)}: must be a table")
        return _Section(self, key, value)

    def build(self) -> BoardProfile:
        for key in self.data:
            if key not in self.SECTIONS:
                known = ", ".join(self.SECTIONS)
                raise ProfileError(f"{self.where(key)}: unknown table (known tables: {known})")
        board = self.section("board", required=True)
        assert board is not None
        model = board.text("model")
        revision = board.optional_text("revision")
        if revision is not None and not re.fullmatch(r"[0-9a-f]{4,8}", revision):
            raise board.fail("revision", 'must be a Raspberry Pi revision code, e.g. "c03111"')
        gpio = board.choice("gpio", GPIO_BACKENDS)
        boot_pull_up = board.pin_list("boot_pull_up")
        board.finish()

        button = self.button()
        relay = self.relay()
        leds = self.leds()
        door_sensor = self.door_sensor()
        audio = self.audio()
        sim = self.sim(gpio)

        profile = BoardProfile(
            name=self.name,
            source=self.label,
            model=model,
            revision=revision,
            gpio=gpio,
            boot_pull_up=boot_pull_up,
            button=button,
            relay=relay,
            leds=MappingProxyType(leds),
            door_sensor=door_sensor,
            audio=audio,
            sim=sim,
            origins=MappingProxyType(dict(self.origins)),
        )
        self.check_pins(profile)
        return profile

    def button(self) -> ButtonConfig | None:
        s = self.section("button")
        if s is None:
            return None
        config = ButtonConfig(
            pin=s.pin(),
            pull=s.choice("pull", PULLS),
            active_high=s.boolean("active_high"),
            bounce_ms=s.integer("bounce_ms", 0, 1000, default=20),
            min_press_ms=s.integer("min_press_ms", 0, 5000, default=50),
            hold_ms=s.integer("hold_ms", 500, 60000, default=3000),
        )
        s.finish()
        return config

    def relay(self) -> RelayConfig | None:
        s = self.section("relay")
        if s is None:
            return None
        pin = s.pin()
        active_high = s.boolean("active_high")
        contact = s.choice("contact", CONTACTS)
        strike = s.choice("strike", STRIKES)
        external_pull = s.choice("external_pull", PULLS, default="none")
        max_pulse_ms = s.integer("max_pulse_ms", 100, 30000)
        default_pulse_ms = s.integer("default_pulse_ms", 100, 30000)
        rest_ms = s.integer("rest_ms", 0, 60000, default=1000)
        s.finish()
        if default_pulse_ms > max_pulse_ms:
            where = self.blame("relay.default_pulse_ms", "relay.max_pulse_ms")
            raise ProfileError(
                f"{where}: the default pulse ({default_pulse_ms} ms) must not exceed "
                f"relay.max_pulse_ms ({max_pulse_ms})"
            )
        needed = CONTACT_FOR_STRIKE[strike]
        if needed != contact:
            raise ProfileError(
                f"{self.blame('relay.contact', 'relay.strike')}: a {strike} strike must be wired "
                f'to the {needed} contact (contact = "{needed}"), so that a de-energised relay '
                "keeps the door locked"
            )
        return RelayConfig(
            pin=pin,
            active_high=active_high,
            contact=contact,
            strike=strike,
            external_pull=external_pull,
            default_pulse_ms=default_pulse_ms,
            max_pulse_ms=max_pulse_ms,
            rest_ms=rest_ms,
        )

    def leds(self) -> dict[str, LedConfig]:
        s = self.section("leds")
        if s is None:
            return {}
        leds: dict[str, LedConfig] = {}
        for name, table in s.data.items():
            s.read.add(name)
            if not _NAME_RE.fullmatch(name):
                raise s.fail(name, "LED names are lower-case words, e.g. leds.status")
            if not isinstance(table, dict):
                raise s.fail(name, f"must be a table ([leds.{name}] with pin and active_high)")
            led = _Section(self, f"leds.{name}", table)
            leds[name] = LedConfig(pin=led.pin(), active_high=led.boolean("active_high", True))
            led.finish()
        return leds

    def door_sensor(self) -> DoorSensorConfig | None:
        s = self.section("door_sensor")
        if s is None:
            return None
        config = DoorSensorConfig(
            pin=s.pin(),
            pull=s.choice("pull", PULLS),
            active_high=s.boolean("active_high"),
            bounce_ms=s.integer("bounce_ms", 0, 5000, default=50),
        )
        s.finish()
        return config

    def audio(self) -> AudioConfig:
        s = self.section("audio", required=True)
        assert s is not None
        backend = s.choice("backend", AUDIO_BACKENDS)
        values: dict[str, Any] = {
            "capture": s.text("capture", "default"),
            "playback": s.text("playback", "default"),
            "mixer_device": s.text("mixer_device", "default"),
            "playback_mixer": s.optional_text("playback_mixer"),
            "playback_volume": s.optional_integer("playback_volume", 0, 100),
            "capture_mixer": s.optional_text("capture_mixer"),
            "capture_volume": s.optional_integer("capture_volume", 0, 100),
            "microphone_wav": s.optional_path("microphone_wav"),
            "microphone_loop": s.boolean("microphone_loop", False),
            "speaker_wav": s.optional_path("speaker_wav"),
        }
        origins = MappingProxyType({key: s.where(key) for key in (*values, "backend")})
        config = AudioConfig(backend=backend, origins=origins, **values)
        s.finish()
        only = {
            "alsa": (
                "capture",
                "playback",
                "mixer_device",
                "playback_mixer",
                "playback_volume",
                "capture_mixer",
                "capture_volume",
            ),
            "wav": ("microphone_wav", "microphone_loop", "speaker_wav"),
        }
        # A key for another backend is a mistake if it was set where the backend was chosen, or
        # later (the config). Keys of the board file are simply unused when the config switches
        # the backend (say, to "loopback" on a Pi).
        backend_from_config = s.where("backend").startswith("config:")
        for owner, keys in only.items():
            for key in keys:
                if key not in s.data or backend == owner:
                    continue
                if s.where(key).startswith("config:") or not backend_from_config:
                    raise s.fail(key, f'only used with audio.backend = "{owner}"')
        for mixer, volume in (
            ("playback_mixer", "playback_volume"),
            ("capture_mixer", "capture_volume"),
        ):
            if (mixer in s.data) != (volume in s.data):
                missing = volume if mixer in s.data else mixer
                raise s.fail(missing, f"needed together with audio.{mixer} / audio.{volume}")
        return config

    def sim(self, gpio: str) -> SimConfig:
        s = self.section("sim")
        if s is None:
            return SimConfig()
        config = SimConfig(state_file=s.optional_path("state_file"))
        s.finish()
        if gpio != "sim":
            raise ProfileError(f'{self.where("sim")}: only used with board.gpio = "sim"')
        return config

    def check_pins(self, profile: BoardProfile) -> None:
        used: dict[str, str] = {}
        for key, pin in profile.pins().items():
            if profile.gpio == "none":
                raise ProfileError(
                    f"{self.blame(key, 'board.gpio')}: this board has no GPIO "
                    '(board.gpio = "none"); '
                    'set board.gpio to "gpiozero" or "rpigpio" to use pins'
                )
            if pin in used:
                raise ProfileError(f"{self.where(key)}: {pin} is already used by {used[pin]}")
            used[pin] = key
        relay = profile.relay
        if relay is None or profile.boot_pull_up is None or profile.gpio == "sim":
            return
        if relay.external_pull != "none":
            boot_pull = relay.external_pull
        else:
            boot_pull = "up" if relay.pin in profile.boot_pull_up else "down"
        safe_pull = "down" if relay.active_high else "up"
        if boot_pull != safe_pull:
            kind = "active-high" if relay.active_high else "active-low"
            where = self.blame("relay.pin", "relay.active_high", "relay.external_pull")
            raise ProfileError(
                f"{where}: {relay.pin} is pulled {boot_pull} while the board "
                f"boots, which energises an {kind} relay module before the firmware runs; "
                f"use a pin that is pulled {safe_pull} at boot, or fit an external "
                f'pull-{safe_pull} resistor and set relay.external_pull = "{safe_pull}"'
            )
