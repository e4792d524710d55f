"""Configuration: defaults, every kind of error names the file and the key, the CLI check."""

import subprocess
import sys
from pathlib import Path

import pytest

from firmware.runtime import config
from firmware.runtime.cli import main

GOOD = """
board = "rpi-4"
[sip]
user = "door"
password = "secret"
domain = "fritz.box"
register = true
transport = "tcp"
listen = "[::]:5070"
[call]
targets = ["sip:**610@fritz.box", "sip:flat@192.0.2.7:5062"]
strategy = "sequential"
[door]
code = "1234#"
pulse_ms = 2500
[answer]
allowed = ["flat101", "sip:flat102@fritz.box"]
[hardware.relay]
pin = "GPIO5"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "door.toml"
    path.write_text(text)
    return path


def test_defaults_are_valid_and_complete() -> None:
    cfg = config.defaults()
    for section, keys in config.SCHEMA.items():
        assert set(cfg[section]) == set(keys)
    assert cfg["sip"]["register"] is False and cfg["audio"]["codecs"] == ["PCMU", "PCMA"]


def test_good_file_loads_with_overrides(tmp_path: Path) -> None:
    cfg = config.load(write(tmp_path, GOOD))
    assert cfg.board == "rpi-4"
    assert cfg["sip"]["transport"] == "tcp" and cfg["door"]["pulse_ms"] == 2500
    assert cfg["call"]["ring_timeout_s"] == 30  # default filled in
    assert cfg.hardware == {"relay": {"pin": "GPIO5"}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('[sip]\ntransport = "sctp"', "sip.transport: must be one of udp, tcp (got 'sctp')"),
        ("[door]\npulse_ms = true", "door.pulse_ms: must be an integer (got True)"),
        ("[door]\npulse_ms = 60000", "door.pulse_ms: must be between 100 and 30000"),
        ('[door]\ncode = "12x"', "door.code: must be 1-16 DTMF digits"),
        ('[call]\ntargets = ["flat101"]', "call.targets: item 1: must be a SIP URI"),
        ('[sip]\nlisten = "0.0.0.0"', "sip.listen: must be host:port (a port is required"),
        ('[sip]\nlisten = "[::1:5060"', "sip.listen: must be host:port"),
        (
            '[sip]\nregister = true\npassword = ""',
            "sip.password: required when sip.register is true",
        ),
        ('[api]\nlisten = "0.0.0.0:8080"', "api.token: required when api.listen is not a loopback"),
        ('[audio]\nrtp_ports = "10-20"', "audio.rtp_ports: must be an even-sized range"),
        ('[audio]\ncodecs = ["opus"]', 'audio.codecs: must list "PCMU" and "PCMA"'),
        ('[audio]\ncodecs = ["PCMA"]', 'audio.codecs: must list "PCMU" and "PCMA"'),
        ('[audio]\nbackend = "pulse"', 'audio.backend: must be one of "", alsa, sim'),
        ("[sip]\nexpire = 300", "sip.expire: unknown key (known: "),
        ("[sipp]\nuser = 'x'", "sipp: unknown key or section"),
        ("sip = 3", "sip: must be a table ([sip])"),
        ("[answer]\nreject_status = 404", "answer.reject_status: must be 403, 480, 486 or 603"),
    ],
)
def test_errors_name_file_and_key(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(config.ConfigError) as info:
        config.load(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)


def test_unreadable_and_invalid_toml(tmp_path: Path) -> None:
    with pytest.raises(config.ConfigError, match="cannot read"):
        config.load(tmp_path / "missing.toml")
    with pytest.raises(config.ConfigError, match="not valid TOML"):
        config.load(write(tmp_path, "[sip\nuser="))
    (tmp_path / "bin.toml").write_bytes(b"\xff\xfe")
    with pytest.raises(config.ConfigError, match="not UTF-8"):
        config.load(tmp_path / "bin.toml")


def test_cli_check_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check-config", str(write(tmp_path, GOOD))]) == 0
    assert "ok (board rpi-4, tcp on [::]:5070)" in capsys.readouterr().out
    assert main(["check-config", str(write(tmp_path, '[door]\ncode = ""'))]) == 1
    assert "door.code" in capsys.readouterr().err


def test_console_entry_point_and_module_run() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "firmware", "--version"], capture_output=True, text=True, timeout=30
    )
    assert out.returncode == 0 and out.stdout.startswith("intercom ")
