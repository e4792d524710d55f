"""flash.sh over a real SSH connection (Debian's sshd on loopback) into a --prefix "board".

Without systemd the board side starts the unit's ExecStart itself, so every health check here is
answered by a real `intercom run` from the installed release venv.
"""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from firmware import __version__
from tests.flash.conftest import Board, snapshot, wheel_version, write_config

pytestmark = pytest.mark.slow

# What a restart may change on the board: the pid file and the firmware's log.
RUNTIME = ("run/", "var/")


def installed_files(board: Board) -> dict[str, str]:
    return {k: v for k, v in snapshot(board.root).items() if not k.startswith(RUNTIME)}


def start_from(board: Board, config: Path, wheel: Path) -> str:
    """Make `wheel` current with `config` (a reuse when it is so already); return the release."""
    board.flash("--config", str(config), "--replace-config", "--wheel", str(wheel))
    assert board.status()["version"] == wheel_version(wheel)
    return board.current()


def test_first_install_then_a_second_run_changes_nothing_but_the_restart(
    fresh_board: Board, tmp_path: Path
) -> None:
    board = fresh_board
    config = write_config(tmp_path / "door.toml", board.api_port)

    first = board.flash("--config", str(config))  # builds the wheel of this checkout

    assert "healthy: intercom" in first.stdout
    status = board.status()
    assert status["version"] == __version__
    assert status["registration"]["state"] == "DISABLED"
    assert board.current().startswith("releases/")
    assert board.config.read_bytes() == config.read_bytes()
    assert stat.S_IMODE(board.config.stat().st_mode) == 0o600
    assert f"ExecStart={board.opt}/current/venv/bin/intercom run" in board.unit.read_text()
    pid = board.pidfile.read_text()
    before = installed_files(board)

    second = board.flash("--config", str(config))

    assert installed_files(board) == before, "the second run changed files on the board"
    assert "is installed already: reused" in second.stdout
    assert "intercom.service unchanged" in second.stdout
    assert "is current already" in second.stdout
    assert board.pidfile.read_text() != pid, "the firmware was not restarted"
    assert board.status()["version"] == __version__


def test_upgrade_keeps_the_boards_config(
    board: Board, tmp_path: Path, wheels: dict[str, Path]
) -> None:
    config = write_config(tmp_path / "door.toml", board.api_port)
    old_release = start_from(board, config, wheels["base"])
    edited = config.read_text().replace("[api]", "# edited on the board\n[api]")
    board.config.write_text(edited)

    result = board.flash("--config", str(config), "--wheel", str(wheels["v2"]))

    assert board.config.read_text() == edited
    assert "kept: the board's config differs" in result.stdout
    assert board.current() != old_release
    assert board.status()["version"] == wheel_version(wheels["v2"])
    assert old_release.removeprefix("releases/") in board.releases(), "kept for a rollback"


def test_a_failed_health_check_rolls_back_release_and_config(
    board: Board, tmp_path: Path, wheels: dict[str, Path]
) -> None:
    good = write_config(tmp_path / "good.toml", board.api_port)
    good_release = start_from(board, good, wheels["v2"])
    # Registration can never succeed: nothing listens on the discard port.
    bad = write_config(
        tmp_path / "bad.toml",
        board.api_port,
        register=True,
        password="secret",
        registrar="127.0.0.1:9",
    )

    result = board.flash(
        "--config",
        str(bad),
        "--replace-config",
        "--wheel",
        str(wheels["v3"]),
        "--health-timeout",
        "4",
        check=False,
    )

    assert result.returncode == 1, board.report(result)
    assert "health check failed after 4 s: not registered: registration" in result.stderr
    assert "restored the previous config" in result.stdout
    assert "the previous version is back" in result.stdout
    assert board.current() == good_release
    assert board.config.read_bytes() == good.read_bytes()
    assert board.status()["version"] == wheel_version(wheels["v2"])


def test_replace_config_and_keep_fewer_releases(
    board: Board, tmp_path: Path, wheels: dict[str, Path]
) -> None:
    old = write_config(tmp_path / "old.toml", board.api_port)
    release = start_from(board, old, wheels["v2"])
    releases = len(board.releases())  # 3 after the tests above: base, v2 and the failed v3
    new = write_config(tmp_path / "new.toml", board.api_port, display_name="Front door")

    result = board.flash(
        "--config", str(new), "--replace-config", "--wheel", str(wheels["v2"]), "--keep", "2"
    )

    assert len(board.releases()) == min(releases, 2)
    assert release.removeprefix("releases/") in board.releases()
    assert "replaced (the old one is" in result.stdout
    assert board.config.read_bytes() == new.read_bytes()
    previous = board.config.with_name("intercom.toml.previous")
    assert previous.read_bytes() == old.read_bytes()
    for path in (board.config, previous):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert board.current() == release


def test_dry_run_changes_nothing_on_the_board(
    board: Board, tmp_path: Path, wheels: dict[str, Path]
) -> None:
    config = write_config(tmp_path / "door.toml", board.api_port)
    start_from(board, config, wheels["v2"])
    other = write_config(tmp_path / "other.toml", board.api_port, display_name="Other")
    before = snapshot(board.root)

    result = board.flash(
        "--dry-run", "--config", str(other), "--replace-config", "--wheel", str(wheels["v3"])
    )

    assert snapshot(board.root) == before  # the pid file and the log included
    steps = [line for line in result.stdout.splitlines() if line.startswith("==> ")]
    for expected in (
        "validate the config",
        "copy the payload",
        "board: install the firmware",
        "board: install the config",
        "board: stop the firmware",
        "board: make the new release current",
        "board: start the firmware",
        "board: wait for the health check",
        "board: if the health check failed: roll back",
        "board: remove old releases",
    ):
        assert any(expected in line for line in steps), (expected, result.stdout)
    assert result.stdout.rstrip().endswith("dry run: nothing was done")
