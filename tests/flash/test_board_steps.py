"""The board steps that change the system itself (Debian packages, the service user), run one by
one with stand-ins for dpkg-query, apt-get, getent, groupadd, useradd, usermod and id: only what
is missing is installed or created, and a second run does nothing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.flash.conftest import REPO

BOARD_SCRIPT = REPO / "firmware/runtime/systemd/install-on-board.sh"

# Each stand-in logs its arguments and answers from the environment the test sets.
STAND_INS = {
    "dpkg-query": """for p in $INSTALLED; do
  [ "$p" = "${@: -1}" ] && { echo installed; exit; }
done
echo not-installed""",
    "apt-get": 'echo "apt-get $*" >>"$LOG"',
    "getent": """case $1 in
  group) for g in $GROUPS_PRESENT; do [ "$g" = "$2" ] && exit 0; done; exit 2 ;;
  passwd) [ -n "$USER_PRESENT" ] && exit 0; exit 2 ;;
esac""",
    "groupadd": 'echo "groupadd $*" >>"$LOG"',
    "useradd": 'echo "useradd $*" >>"$LOG"',
    "usermod": 'echo "usermod $*" >>"$LOG"',
    "id": '[ "$1" = -nG ] || exec /usr/bin/id "$@"\necho "intercom $USER_GROUPS"',
}


def run_step(tmp_path: Path, options: str, step: str, **env: str) -> tuple[str, list[str]]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for name, body in STAND_INS.items():
        (bin_dir / name).write_text(f"#!/bin/bash\n{body}\n")
        (bin_dir / name).chmod(0o755)
    log = tmp_path / "calls.log"
    log.write_text("")
    result = subprocess.run(
        ["bash", "-c", f'source "{BOARD_SCRIPT}" && parse_args deploy {options} && {step}'],
        env={
            "PATH": f"{bin_dir}:{os.environ['PATH']}",
            "LOG": str(log),
            "INSTALLED": "",
            "GROUPS_PRESENT": "",
            "USER_PRESENT": "",
            "USER_GROUPS": "",
            **env,
        },
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout, log.read_text().splitlines()


def test_only_missing_debian_packages_are_installed(tmp_path: Path) -> None:
    stdout, calls = run_step(
        tmp_path, "--extras gpio,alsa", "install_packages", INSTALLED="python3-venv gcc"
    )
    assert "missing of: python3-venv libasound2-dev alsa-utils gcc python3-dev" in stdout
    assert calls[0].startswith("apt-get -q -o DPkg::Lock::Timeout=300 update")
    assert calls[1].endswith(
        "install -y --no-install-recommends libasound2-dev alsa-utils python3-dev"
    )
    assert len(calls) == 2


def test_nothing_is_installed_when_nothing_is_missing_or_with_no_apt(tmp_path: Path) -> None:
    installed = "python3-venv gcc python3-dev"
    stdout, calls = run_step(tmp_path, "--extras rpigpio", "install_packages", INSTALLED=installed)
    assert "all installed" in stdout and calls == []

    stdout, calls = run_step(tmp_path, "--extras gpio,alsa --no-apt", "install_packages")
    assert "skip the Debian packages (--no-apt)" in stdout and calls == []


def test_the_user_and_groups_are_created_once(tmp_path: Path) -> None:
    _, calls = run_step(tmp_path, "", "create_user", GROUPS_PRESENT="audio")
    assert calls == [
        "groupadd --system gpio",
        "useradd --system --user-group --home-dir /var/lib/intercom --no-create-home "
        "--shell /usr/sbin/nologin intercom",
        "usermod -aG gpio intercom",
        "usermod -aG audio intercom",
    ]

    _, calls = run_step(
        tmp_path,
        "",
        "create_user",
        GROUPS_PRESENT="gpio audio",
        USER_PRESENT="yes",
        USER_GROUPS="gpio audio",
    )
    assert calls == []
