"""flash.sh's command line: --help documents every option, and mistakes are refused before
anything happens."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.flash.conftest import FLASH, REPO, write_config


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(FLASH), *args], capture_output=True, text=True, timeout=60, cwd=REPO)


def test_help_documents_every_option() -> None:
    result = run("--help")
    assert result.returncode == 0
    help_text = result.stdout
    script = FLASH.read_text()
    parser = script[script.index("parse_args() {") : script.index("value() {")]
    options = set()
    for line in parser.splitlines():
        line = line.strip()
        if line.startswith("-") and ")" in line:
            for option in line.split(")")[0].split("|"):
                options.add(option.strip())
    options.discard("-*")
    assert {"--config", "--board", "--root", "--dry-run", "--prefix", "--port"} <= options
    for option in sorted(options):
        assert f" {option}" in help_text, f"{option} is not in --help"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bogus", "pi@door"], "unknown option --bogus"),
        (["--board", "rpi-4"], "give the board as [user@]host, or --root DIR"),
        (["pi@door"], "give --config FILE (or at least --board NAME)"),
        (["--board", "rpi-9", "pi@door"], "board profile 'rpi-9' not found"),
        (["--board", "rpi-4", "--keep", "1", "pi@door"], "--keep: 2 or more"),
        (["--board", "rpi-4", "--python", "python 3", "pi@door"], "--python: a plain path"),
        (["--board", "rpi-4", "--root", "/nonexistent"], "--root /nonexistent: no such directory"),
    ],
)
def test_mistakes_are_refused(args: list[str], message: str) -> None:
    result = run("--dry-run", *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "==> build" not in result.stdout


def test_board_and_config_must_agree(tmp_path: Path) -> None:
    config = write_config(tmp_path / "door.toml", 8080)  # board = "sim"
    result = run("--dry-run", "--config", str(config), "--board", "rpi-4", "pi@door")
    assert result.returncode == 1
    assert "--board rpi-4, but" in result.stderr and "board = 'sim'" in result.stderr


SCRIPTS = [FLASH, REPO / "firmware/runtime/systemd/install-on-board.sh"]


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda path: path.name)
def test_script_syntax_and_shellcheck(script: Path) -> None:
    assert subprocess.run(["bash", "-n", str(script)], timeout=30).returncode == 0
    if shutil.which("shellcheck") is None:
        pytest.skip("shellcheck is not installed (optional: the scripts are kept clean with it)")
    result = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout
