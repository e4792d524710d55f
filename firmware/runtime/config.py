"""The firmware's configuration: one TOML file, validated at start and by `intercom check-config`.

Every key is declared once in SCHEMA below (type, default, check, one line of help); the README's
configuration table is generated from the same declarations (`intercom check-config --keys`).
Errors name the file and the key and say what is wrong, for example
`door.toml: sip.transport: must be one of udp, tcp (got 'sctp')`.
"""

from __future__ import annotations

import ipaddress
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class ConfigError(ValueError):
    """A configuration problem; the message names the file and the key."""


Check = Callable[[Any], str | None]  # returns what is wrong, or None


@dataclass(frozen=True)
class Key:
    kind: type | tuple[type, ...]
    default: Any
    help: str
    check: Check | None = None


def _one_of(*choices: str) -> Check:
    def check(value: Any) -> str | None:
        if value not in choices:
            names = ", ".join(choice or '""' for choice in choices)
            return f"must be one of {names} (got {value!r})"
        return None

    return check


def _between(low: float, high: float) -> Check:
    def check(value: Any) -> str | None:
        if not low <= value <= high:
            return f"must be between {low:g} and {high:g} (got {value!r})"
        return None

    return check


_HOST_RE = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$")


def parse_host_port(text: str, default_port: int | None = None) -> tuple[str, int]:
    """`host:port`, `[v6]:port` or (with a default port) a bare host -> (host, port)."""
    if text.startswith("["):
        host, sep, rest = text[1:].partition("]")
        ipaddress.IPv6Address(host)
        if not sep:
            raise ValueError("missing ']'")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError("junk after ']'")
    elif text.count(":") > 1:
        ipaddress.IPv6Address(text)  # a bare IPv6 address without a port
        host, port_text = text, ""
    else:
        host, _, port_text = text.partition(":")
        if not _HOST_RE.match(host):
            raise ValueError(f"bad host {host!r}")
    if not port_text:
        if default_port is None:
            raise ValueError("a port is required (host:port)")
        return host, default_port
    # Port 0 picks a free port (tests, and several emulators side by side).
    if not port_text.isdigit() or not 0 <= int(port_text) < 65536:
        raise ValueError(f"bad port {port_text!r}")
    return host, int(port_text)


def _host_port(optional: bool = False, default_port: int | None = None) -> Check:
    def check(value: Any) -> str | None:
        if optional and value == "":
            return None
        try:
            parse_host_port(value, default_port)
        except ValueError as exc:
            return f"must be host:port ({exc})"
        return None

    return check


def _sip_uri(value: Any) -> str | None:
    if not re.match(r"^sips?:[^\s<>\"]+$", value):
        return f"must be a SIP URI like sip:user@host (got {value!r})"
    return None


def _sip_uris(value: Any) -> str | None:
    for i, item in enumerate(value):
        if not isinstance(item, str) or _sip_uri(item):
            return f"item {i + 1}: must be a SIP URI like sip:user@host (got {item!r})"
    return None


def _strings(value: Any) -> str | None:
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item:
            return f"item {i + 1}: must be a non-empty string (got {item!r})"
    return None


def _port_range(value: Any) -> str | None:
    match = re.match(r"^(\d+)-(\d+)$", value)
    if not match:
        return f"must be a range like 10000-10999 (got {value!r})"
    low, high = int(match.group(1)), int(match.group(2))
    if not (1024 <= low < high <= 65535) or (high - low + 1) < 4:
        return (
            f"must be an even-sized range within 1024-65535 with room for 2 calls (got {value!r})"
        )
    return None


def _door_code(value: Any) -> str | None:
    if not re.match(r"^[0-9*#A-D]{1,16}$", value):
        return f"must be 1-16 DTMF digits (0-9 * # A-D) (got {value!r})"
    return None


def _codecs(value: Any) -> str | None:
    # Both G.711 laws are always offered: a door must talk to every phone. Only the order is ours.
    if sorted(value) != ["PCMA", "PCMU"]:
        return f'must list "PCMU" and "PCMA" in the order of preference (got {value!r})'
    return None


def _reject_status(value: Any) -> str | None:
    if value not in (403, 480, 486, 603):
        return f"must be 403, 480, 486 or 603 (got {value!r})"
    return None


# section -> key -> declaration. The top-level keys live in the "" section.
SCHEMA: dict[str, dict[str, Key]] = {
    "": {
        "board": Key(str, "sim", "board profile: a name from board/ or a path to a TOML file"),
    },
    "sip": {
        "user": Key(str, "door", "SIP user name (the user part of our address)"),
        "password": Key(str, "", "digest password (empty: no authentication)"),
        "auth_user": Key(str, "", "digest user name when it differs from `user`"),
        "domain": Key(
            str, "127.0.0.1", "SIP domain: the host part of our address and the registrar's realm"
        ),
        "registrar": Key(
            str, "", "registrar host:port (empty: the domain, port 5060)", _host_port(True, 5060)
        ),
        "register": Key(
            bool, False, "register with the registrar (false: direct peer-to-peer calls)"
        ),
        "listen": Key(
            str, "0.0.0.0:5060", "local SIP address host:port ([::]:5060 for IPv6)", _host_port()
        ),
        "public_address": Key(
            str, "", "address to advertise in Contact/SDP when it differs from listen (NAT)"
        ),
        "transport": Key(str, "udp", "udp or tcp", _one_of("udp", "tcp")),
        "expires": Key(int, 300, "registration lifetime asked for, seconds", _between(60, 86400)),
        "display_name": Key(str, "Door", "display name in From"),
    },
    "call": {
        "targets": Key(list, ["sip:flat@127.0.0.1:5062"], "SIP URIs the button calls", _sip_uris),
        "strategy": Key(
            str,
            "parallel",
            "parallel (ring all, first answer wins) or sequential",
            _one_of("parallel", "sequential"),
        ),
        "ring_timeout_s": Key(
            int, 30, "give up ringing after this long (whole attempt)", _between(5, 600)
        ),
        "target_timeout_s": Key(
            int, 15, "sequential: ring each target this long", _between(3, 600)
        ),
        "max_call_s": Key(int, 180, "hang up a call after this long", _between(10, 7200)),
        "button_during_call": Key(
            str,
            "hangup",
            "what a press in a call does: hangup or ignore",
            _one_of("hangup", "ignore"),
        ),
        "cooldown_s": Key(int, 3, "ignore presses this long after a call ended", _between(0, 600)),
        "max_calls_per_hour": Key(int, 30, "rate limit for button calls", _between(1, 3600)),
        "ringback": Key(
            str,
            "eu",
            "ringback tone cadence the visitor hears: eu, us, uk",
            _one_of("eu", "us", "uk"),
        ),
        "inactivity_timeout_s": Key(
            int, 30, "hang up when no RTP arrived for this long", _between(5, 600)
        ),
    },
    "door": {
        "code": Key(str, "1234#", "DTMF code that opens the door", _door_code),
        "pulse_ms": Key(
            int,
            3000,
            "how long the strike is energised (capped by the board)",
            _between(100, 30000),
        ),
        "max_attempts": Key(int, 3, "wrong codes before the lockout", _between(1, 100)),
        "lockout_s": Key(
            int, 300, "how long the code is locked after too many wrong codes", _between(0, 86400)
        ),
        "hangup_after_open_s": Key(
            int, 0, "hang up this long after the door opened (0: never)", _between(0, 600)
        ),
    },
    "answer": {
        "auto_answer": Key(bool, True, "answer incoming calls from allowed callers"),
        "allowed": Key(
            list, [], "callers to answer: a user name (`flat101`) or a full URI", _strings
        ),
        "delay_s": Key(int, 0, "ring this long before auto-answering", _between(0, 60)),
        "reject_status": Key(
            int, 403, "answer to callers not allowed: 403, 480, 486 or 603", _reject_status
        ),
    },
    "audio": {
        "backend": Key(
            str, "", "alsa, sim, or empty for the board's choice", _one_of("", "alsa", "sim")
        ),
        "capture": Key(str, "", "ALSA capture device (empty: the board's)"),
        "playback": Key(str, "", "ALSA playback device (empty: the board's)"),
        "mic_file": Key(str, "", "sim: WAV file played as the microphone (empty: silence)"),
        "speaker_file": Key(str, "", "sim: WAV file the speaker writes (empty: discard)"),
        "loopback": Key(bool, False, "sim: the speaker's audio comes back as the microphone"),
        "codecs": Key(
            list,
            ["PCMU", "PCMA"],
            "G.711 codecs in order of preference (both are always offered)",
            _codecs,
        ),
        "rtp_ports": Key(str, "10000-10999", "UDP port range for RTP/RTCP", _port_range),
        "jitter_min_ms": Key(
            int,
            20,
            "smallest jitter-buffer delay; it grows at once with the network's jitter",
            _between(20, 200),
        ),
    },
    "api": {
        "listen": Key(str, "127.0.0.1:8080", "HTTP API address host:port", _host_port()),
        "token": Key(str, "", "bearer token (required when listen is not loopback)"),
    },
    "log": {
        "level": Key(
            str,
            "info",
            "debug, info, warning or error",
            _one_of("debug", "info", "warning", "error"),
        ),
    },
}


@dataclass(frozen=True)
class Config:
    """The validated configuration: `values[section][key]`, plus the board overrides."""

    values: Mapping[str, Mapping[str, Any]]
    hardware: Mapping[str, Any] = field(default_factory=dict)
    source: str = "<defaults>"

    def __getitem__(self, section: str) -> Mapping[str, Any]:
        return self.values[section]

    @property
    def board(self) -> str:
        return str(self.values[""]["board"])


def _type_name(kind: type | tuple[type, ...]) -> str:
    names = {
        bool: "true or false",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
    }
    if isinstance(kind, tuple):
        return " or ".join(names[k] for k in kind)
    return names[kind]


def _check_value(where: str, key: Key, value: Any) -> Any:
    # bool is an int in Python: refuse `pulse_ms = true` and `register = 1` alike.
    ok = isinstance(value, key.kind) and not (key.kind is int and isinstance(value, bool))
    if key.kind is float and isinstance(value, int) and not isinstance(value, bool):
        value, ok = float(value), True
    if not ok:
        raise ConfigError(f"{where}: must be {_type_name(key.kind)} (got {value!r})")
    if key.check is not None:
        problem = key.check(value)
        if problem:
            raise ConfigError(f"{where}: {problem}")
    return value


def validate(data: Mapping[str, Any], source: str = "config") -> Config:
    """Check a parsed TOML document against SCHEMA; fill defaults; raise ConfigError."""
    values: dict[str, dict[str, Any]] = {section: {} for section in SCHEMA}
    hardware: dict[str, Any] = {}
    for name, value in data.items():
        if name == "hardware":
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: hardware: must be a table of board overrides")
            hardware = value
        elif name in SCHEMA and name:
            if not isinstance(value, dict):
                raise ConfigError(f"{source}: {name}: must be a table ([{name}])")
            for key, item in value.items():
                if key not in SCHEMA[name]:
                    known = ", ".join(sorted(SCHEMA[name]))
                    raise ConfigError(f"{source}: {name}.{key}: unknown key (known: {known})")
                values[name][key] = _check_value(f"{source}: {name}.{key}", SCHEMA[name][key], item)
        elif name in SCHEMA[""]:
            values[""][name] = _check_value(f"{source}: {name}", SCHEMA[""][name], value)
        else:
            sections = ", ".join(s for s in SCHEMA if s)
            raise ConfigError(
                f"{source}: {name}: unknown key or section (sections: {sections}, hardware)"
            )
    for section, keys in SCHEMA.items():
        for key, declaration in keys.items():
            values[section].setdefault(key, declaration.default)
    _check_combinations(values, source)
    return Config(values, hardware, source)


def _check_combinations(values: dict[str, dict[str, Any]], source: str) -> None:
    sip, api = values["sip"], values["api"]
    if sip["register"] and not sip["password"]:
        raise ConfigError(f"{source}: sip.password: required when sip.register is true")
    host, _ = parse_host_port(api["listen"])
    if not _is_loopback(host) and not api["token"]:
        raise ConfigError(
            f"{source}: api.token: required when api.listen is not a loopback address"
        )


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load(path: str | Path) -> Config:
    """Read and validate a TOML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    return validate(data, str(path))


def defaults() -> Config:
    return validate({}, "<defaults>")


def describe_keys() -> list[tuple[str, str, str]]:
    """(key, default, help) for every key, in declaration order (for the README table)."""
    rows = []
    for section, keys in SCHEMA.items():
        for key, declaration in keys.items():
            name = f"{section}.{key}" if section else key
            default = declaration.default
            shown = str(default).lower() if isinstance(default, bool) else repr(default)
            rows.append((name, shown, declaration.help))
    return rows
