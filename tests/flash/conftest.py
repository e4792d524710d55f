"""Fixtures for the flash.sh tests: a real sshd on loopback, a wheelhouse, and wheels of other
versions for upgrades and rollbacks.

- `sshd` (module): Debian's /usr/sbin/sshd on a free loopback port, host and client keys made
  here, its own config (no PAM, keys from the temp dir), `-D` under `timeout`, stopped at the end.
- `wheelhouse` (session): the wheels of the firmware's dependencies, pinned to the versions this
  Python has installed, downloaded once into pytest's cache (.pytest_cache/d/flash-wheelhouse),
  so the board's pip installs offline (`flash.sh --wheelhouse`).
- `wheels` (session): sip_intercom wheels built from this checkout with versions changed, so
  that an upgrade and a rollback have a real "other release".
- `Board`: a --prefix directory reached over SSH; `flash(...)` runs flash.sh against it. Every
  process started under the prefix is stopped at the end. `fresh_board` is new for each test,
  `board` is shared by a module's tests.

Missing programs skip the tests, except with CI set, where they fail (`require`).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
FLASH = REPO / "flash.sh"
SSHD = "/usr/sbin/sshd"
WHEEL_SOURCES = ("pyproject.toml", "README.md", "LICENSE", "firmware", "hal", "board")
FLASH_TIMEOUT_S = 150


def require(*programs: str) -> None:
    """Skip when a program is missing; with CI set fail instead (CI installs them all)."""
    missing = [
        program
        for program in programs
        if not (os.path.isabs(program) and os.access(program, os.X_OK))
        and shutil.which(program) is None
    ]
    if missing:
        message = f"missing {', '.join(missing)} (apt-get install: see .ci/apt-packages.txt)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def unavailable(message: str) -> None:
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)
    return value


def snapshot(root: Path) -> dict[str, str]:
    """Every path under root -> its type, mode and content hash (or symlink target)."""
    state = {}
    for path in sorted(root.rglob("*")):
        stat = path.lstat()
        key = str(path.relative_to(root))
        if path.is_symlink():
            state[key] = f"link {os.readlink(path)}"
        elif path.is_dir():
            state[key] = f"dir {stat.st_mode:o}"
        else:
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
            state[key] = f"file {stat.st_mode:o} {digest}"
    return state


# -- sshd ------------------------------------------------------------------------------------


@dataclass
class Ssh:
    port: int
    key: Path
    known_hosts: Path
    user: str

    @property
    def target(self) -> str:
        return f"{self.user}@127.0.0.1"

    def options(self) -> list[str]:
        return [
            "--port",
            str(self.port),
            "-i",
            str(self.key),
            "--ssh-option",
            f"UserKnownHostsFile={self.known_hosts}",
        ]


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "flash-test", "-f", str(path)],
        check=True,
        timeout=30,
    )


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ssh]:
    require(SSHD, "ssh", "ssh-keygen", "timeout")
    home = tmp_path_factory.mktemp("sshd")
    _keygen(home / "host_key")
    _keygen(home / "client_key")
    shutil.copy(home / "client_key.pub", home / "authorized_keys")
    port = free_port()
    config = home / "sshd_config"
    config.write_text(
        f"Port {port}\n"
        "ListenAddress 127.0.0.1\n"
        f"HostKey {home / 'host_key'}\n"
        f"AuthorizedKeysFile {home / 'authorized_keys'}\n"
        f"PidFile {home / 'sshd.pid'}\n"
        "StrictModes no\n"
        "UsePAM no\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "PermitRootLogin prohibit-password\n"
        "LogLevel ERROR\n"
    )
    if os.geteuid() == 0:
        # Debian's sshd refuses to start without its privilege separation directory, which
        # systemd-tmpfiles creates on a booted system.
        os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    log = (home / "sshd.log").open("w")
    process = subprocess.Popen(
        ["timeout", "-k", "5", "900", SSHD, "-D", "-e", "-f", str(config)],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:

        def listening() -> bool:
            if process.poll() is not None:
                raise RuntimeError(f"sshd exited: {(home / 'sshd.log').read_text()}")
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", port)) == 0

        wait_for(listening, 10, "sshd to listen")
        user = pwd.getpwuid(os.geteuid()).pw_name
        yield Ssh(port, home / "client_key", home / "known_hosts", user)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


# -- wheels ----------------------------------------------------------------------------------


def _dependency_pins() -> list[str]:
    """name==version for every distribution sip-intercom needs here, as installed."""
    from packaging.requirements import Requirement

    pins: dict[str, str] = {}
    todo = [
        str(Requirement(r).name)
        for r in metadata.requires("sip-intercom") or []
        if not Requirement(r).marker or Requirement(r).marker.evaluate({"extra": ""})
    ]
    while todo:
        dist = metadata.distribution(todo.pop())
        name = re.sub(r"[-_.]+", "-", dist.metadata["Name"]).lower()
        if name in pins:
            continue
        pins[name] = dist.version
        for text in dist.requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return sorted(f"{name}=={version}" for name, version in pins.items())


@pytest.fixture(scope="session")
def wheelhouse(request: pytest.FixtureRequest) -> Path:
    directory = Path(request.config.cache.mkdir("flash-wheelhouse"))
    pins = _dependency_pins()
    manifest = directory / "pins.txt"
    if manifest.is_file() and manifest.read_text().split() == pins:
        return directory
    for old in directory.glob("*.whl"):
        old.unlink()
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            str(directory),
            *pins,
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if result.returncode != 0:
        unavailable(f"cannot download the dependency wheels (offline?): {result.stderr[-500:]}")
    manifest.write_text("\n".join(pins) + "\n")
    return directory


def _build_wheels(root: Path, versions: dict[str, str]) -> dict[str, Path]:
    """Build one wheel of this checkout per entry, with firmware.__version__ replaced."""
    jobs = {}
    for name, version in versions.items():
        source = root / name / "src"
        source.mkdir(parents=True)
        for item in WHEEL_SOURCES:
            if (REPO / item).is_dir():
                shutil.copytree(
                    REPO / item,
                    source / item,
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
                )
            else:
                shutil.copy(REPO / item, source / item)
        init = source / "firmware" / "__init__.py"
        text, count = re.subn(
            r'__version__ = "[^"]*"', f'__version__ = "{version}"', init.read_text()
        )
        assert count == 1
        init.write_text(text)
        jobs[name] = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--quiet",
                "--disable-pip-version-check",
                "--no-deps",
                "--wheel-dir",
                str(root / name),
                str(source),
            ],
            env={**os.environ, "SOURCE_DATE_EPOCH": "315532800"},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
    wheels = {}
    for name, job in jobs.items():
        output, _ = job.communicate(timeout=300)
        if job.returncode != 0:
            unavailable(f"cannot build a wheel (pip wheel needs setuptools from PyPI): {output}")
        (wheels[name],) = (root / name).glob("sip_intercom-*.whl")
    return wheels


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`base` (this checkout as it is), `v2` and `v3`: the same code with other versions."""
    from firmware import __version__

    label = "." if "+" in __version__ else "+"
    versions = {
        "base": __version__,
        "v2": f"{__version__}{label}flashtest2",
        "v3": f"{__version__}{label}flashtest3",
    }
    return _build_wheels(tmp_path_factory.mktemp("wheels"), versions)


def wheel_version(wheel: Path) -> str:
    return wheel.name.split("-")[1]


# -- the board -------------------------------------------------------------------------------


def write_config(path: Path, api_port: int, **sip: Any) -> Path:
    lines = ['board = "sim"', "", "[sip]", 'listen = "127.0.0.1:0"']
    lines += [f"{key} = {_toml(value)}" for key, value in sip.items()]
    lines += ["", "[api]", f'listen = "127.0.0.1:{api_port}"', ""]
    path.write_text("\n".join(lines))
    return path


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    return str(value)


class Board:
    """A --prefix "board" reached over SSH; `flash()` runs flash.sh against it."""

    def __init__(self, root: Path, ssh: Ssh, wheelhouse: Path) -> None:
        self.root = root
        self.ssh = ssh
        self.wheelhouse = wheelhouse
        self.api_port = free_port()
        self.opt = root / "opt" / "intercom"
        self.config = root / "etc" / "intercom" / "intercom.toml"
        self.unit = root / "etc" / "systemd" / "system" / "intercom.service"
        self.pidfile = root / "run" / "intercom.pid"

    def flash(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        command = [
            str(FLASH),
            "--prefix",
            str(self.root),
            "--wheelhouse",
            str(self.wheelhouse),
            "--no-apt",
            "--python",
            sys.executable,
            *self.ssh.options(),
            *args,
            self.ssh.target,
        ]
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=FLASH_TIMEOUT_S, cwd=REPO
        )
        if check and result.returncode != 0:
            raise AssertionError(f"flash.sh failed ({result.returncode}):\n{self.report(result)}")
        return result

    @staticmethod
    def report(result: subprocess.CompletedProcess[str]) -> str:
        return f"--- stdout\n{result.stdout}--- stderr\n{result.stderr}"

    def current(self) -> str:
        return os.readlink(self.opt / "current")

    def releases(self) -> list[str]:
        return sorted(path.name for path in (self.opt / "releases").iterdir())

    def status(self) -> dict[str, Any]:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        url = f"http://127.0.0.1:{self.api_port}/api/status"
        with opener.open(url, timeout=5) as answer:
            return dict(json.load(answer))

    def stop(self) -> None:
        stop_processes_under(self.root)


def stop_processes_under(root: Path) -> None:
    """Kill every process whose command line names a path under root (a firmware, relay-off)."""
    marker = str(root).encode() + b"/"
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
        except OSError:
            continue
        if marker in cmdline:
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(entry.name), signal.SIGKILL)


@contextlib.contextmanager
def new_board(root: Path, ssh: Ssh, wheelhouse: Path) -> Iterator[Board]:
    root.mkdir()
    made = Board(root, ssh, wheelhouse)
    try:
        yield made
    finally:
        made.stop()


@pytest.fixture
def fresh_board(tmp_path: Path, sshd: Ssh, wheelhouse: Path) -> Iterator[Board]:
    """A board nothing was installed on."""
    with new_board(tmp_path / "board", sshd, wheelhouse) as made:
        yield made


@pytest.fixture(scope="module")
def board(tmp_path_factory: pytest.TempPathFactory, sshd: Ssh, wheelhouse: Path) -> Iterator[Board]:
    """One board for a module's tests (a fresh venv per release costs seconds): each test first
    flashes the state it starts from, which reuses the release when it is there already."""
    with new_board(tmp_path_factory.mktemp("shared") / "board", sshd, wheelhouse) as made:
        yield made
