"""Real SIP peers for the interop tests: Kamailio, baresip, SIPp, linphonec, and the door firmware
itself (`intercom run`).

Every peer runs on 127.0.0.1 with ports picked at run time, in its own process group, with a hard
deadline; `stop()` (also on context exit) ends it and its children. Configurations are rendered
from the templates in tests/data/interop/.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Self

import pytest

DATA = Path(__file__).resolve().parents[1] / "data" / "interop"
LOOPBACK = "127.0.0.1"


def require(*tools: str) -> None:
    """Skip when a peer program is missing; in CI (CI set) fail instead: CI installs them all."""
    missing = [tool for tool in tools if shutil.which(tool) is None]
    if missing:
        message = f"missing {', '.join(missing)} (apt-get install: see .ci/apt-packages.txt)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)


def free_port(span: int = 1) -> int:
    """A port (and the `span - 1` after it) free on loopback for both UDP and TCP."""
    for _ in range(200):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.bind((LOOPBACK, 0))
            base = probe.getsockname()[1]
        if base + span > 65535:
            continue
        if all(_port_free(base + i) for i in range(span)):
            return base
    raise RuntimeError("no free loopback port")


def _port_free(port: int) -> bool:
    for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
        with socket.socket(socket.AF_INET, kind) as probe:
            try:
                probe.bind((LOOPBACK, port))
            except OSError:
                return False
    return True


def wait_for(condition: Any, timeout: float, what: str, interval: float = 0.02) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


class Peer:
    """A program started in its own process group with a hard deadline and a log file."""

    name = "peer"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.log_path = workdir / f"{self.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def spawn(
        self,
        argv: Sequence[str],
        deadline_s: float,
        env: dict[str, str] | None = None,
        stdin: Any = subprocess.DEVNULL,
    ) -> None:
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed with the process
        # `timeout` is the hard deadline even if this test process dies before stop().
        self.process = subprocess.Popen(
            ["timeout", "-k", "5", str(int(deadline_s)), *argv],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=stdin,
            cwd=self.workdir,
            env={**os.environ, **(env or {})},
            start_new_session=True,
        )
        log.close()

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self, grace_s: float = 5.0) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(grace_s)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(5)
        # Children that outlived the leader (kamailio forks workers) go too.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def render(template: str, values: dict[str, Any]) -> str:
    text = (DATA / template).read_text()
    for key, value in values.items():
        text = text.replace("@" + key + "@", str(value))
    left = re.findall(r"@[A-Z_]+@", text)
    if left:
        raise ValueError(f"unrendered placeholders in {template}: {left}")
    return text


def options_request(port: int, local_port: int, transport: str = "udp") -> bytes:
    """An OPTIONS to 127.0.0.1:port, sent from local_port."""
    tag = time.monotonic_ns()
    via = f"SIP/2.0/{transport.upper()} {LOOPBACK}:{local_port};rport;branch=z9hG4bK-ping{tag}"
    return (
        f"OPTIONS sip:{LOOPBACK}:{port} SIP/2.0\r\n"
        f"Via: {via}\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:ping@{LOOPBACK}>;tag=ping\r\nTo: <sip:{LOOPBACK}:{port}>\r\n"
        f"Call-ID: ping-{tag}@{LOOPBACK}\r\nCSeq: 1 OPTIONS\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def sip_options(port: int, timeout: float = 0.5, transport: str = "udp") -> int | None:
    """The status of the answer to an OPTIONS to 127.0.0.1:port (None: no answer)."""
    kind = socket.SOCK_DGRAM if transport == "udp" else socket.SOCK_STREAM
    with socket.socket(socket.AF_INET, kind) as sock:
        sock.bind((LOOPBACK, 0))
        sock.settimeout(timeout)
        request = options_request(port, sock.getsockname()[1], transport)
        try:
            if transport == "udp":
                sock.sendto(request, (LOOPBACK, port))
            else:
                sock.connect((LOOPBACK, port))
                sock.sendall(request)
            data = sock.recv(65535)
        except OSError:
            return None
        match = re.match(rb"SIP/2\.0 (\d{3}) ", data)
        return int(match[1]) if match else None


def sip_options_ping(port: int, timeout: float = 0.2) -> bool:
    """True if something answers an OPTIONS on 127.0.0.1:port over UDP."""
    return sip_options(port, timeout) is not None


class Kamailio(Peer):
    """Registrar + proxy with digest auth (users from a table), UDP and TCP on one port.

    Rendered from kamailio.cfg.in with WITH_TRACE on: `requests()` and `registered()` read the
    REQ/REGISTERED lines of its log, `contacts()` asks the location table over the ctl socket.
    """

    name = "kamailio"

    def __init__(
        self,
        workdir: Path,
        users: dict[str, str] | None = None,
        invite_auth: bool = True,
        sha256: bool = False,
        max_expires_s: int = 3600,
        deadline_s: float = 300,
    ) -> None:
        super().__init__(workdir)
        self.port = free_port()
        self.users = users or {"door": "secret", "flat101": "secret", "flat102": "secret"}
        self.invite_auth = invite_auth
        self.sha256 = sha256
        self.max_expires_s = max_expires_s
        self.deadline_s = deadline_s
        self.ctl_socket = workdir / "kamailio_ctl"

    def start(self) -> Kamailio:
        require("kamailio")
        modules = glob.glob("/usr/lib/*/kamailio/modules/")
        if not modules:
            pytest.fail("kamailio modules directory not found")
        users = "\n".join(f'\t$sht(users=>{u}) = "{p}";' for u, p in sorted(self.users.items()))
        config = self.workdir / "kamailio.cfg"
        config.write_text(
            render(
                "kamailio.cfg.in",
                {
                    "PORT": self.port,
                    "RUNDIR": self.workdir,
                    "MPATH": modules[0],
                    "USERS": users,
                    "MAX_EXPIRES": self.max_expires_s,
                },
            )
        )
        argv = [
            "kamailio",
            "-f",
            str(config),
            "-DD",
            "-E",
            "-Y",
            str(self.workdir),
            "-P",
            str(self.workdir / "kamailio.pid"),
            "-A",
            "WITH_TRACE",
        ]
        if not self.invite_auth:
            argv += ["-A", "NO_INVITE_AUTH"]
        if self.sha256:
            argv += ["-A", "WITH_SHA256"]
        self.spawn(argv, self.deadline_s)
        wait_for(lambda: sip_options_ping(self.port) or not self.running, 10, "kamailio to answer")
        if not self.running:
            pytest.fail("kamailio did not start:\n" + self.log()[-3000:])
        return self

    @property
    def addr(self) -> tuple[str, int]:
        return (LOOPBACK, self.port)

    def uri(self, user: str) -> str:
        """The address of record of a user here: sip:user@127.0.0.1:port."""
        return f"sip:{user}@{LOOPBACK}:{self.port}"

    def registered(self, user: str) -> bool:
        return f"REGISTERED sip:{user}@" in self.log()

    def registrations(self, user: str) -> list[dict[str, str]]:
        """The REGISTER requests it accepted for user: {contact, expires, source, transport,
        cid}, oldest first (expires: the Expires header, "<null>" without one)."""
        pattern = re.compile(
            r"REGISTERED sip:" + re.escape(user) + r"@\S+ -> (\S+) expires=(\S+) "
            r"\(([\d.]+:\d+)/(\w+)\) cid=(\S+)"
        )
        return [
            {"contact": m[1], "expires": m[2], "source": m[3], "transport": m[4], "cid": m[5]}
            for m in pattern.finditer(self.log())
        ]

    def requests(self, method: str | None = None) -> list[dict[str, str]]:
        """The requests it received (WITH_TRACE): {method, ruri, from, source, transport, cid}."""
        pattern = re.compile(r"REQ (\S+) (\S+) from (\S+) \(([\d.]+:\d+)/(\w+)\) cid=(\S+)")
        found = [
            {
                "method": m[1],
                "ruri": m[2],
                "from": m[3],
                "source": m[4],
                "transport": m[5],
                "cid": m[6],
            }
            for m in pattern.finditer(self.log())
        ]
        return [r for r in found if method is None or r["method"] == method]

    def contacts(self, user: str) -> list[str]:
        """The contacts bound to user now (the location table, over the ctl socket)."""
        require("kamcmd")
        result = subprocess.run(
            ["kamcmd", "-s", f"unix:{self.ctl_socket}", "ul.lookup", "location", user],
            capture_output=True,
            text=True,
            timeout=10,
        )
        if result.returncode != 0 or "AOR not found" in result.stdout + result.stderr:
            return []
        return re.findall(r"Address:\s*(\S+)", result.stdout)

    def count(self, text: str) -> int:
        return self.log().count(text)


class BaresipControl:
    """A ctrl_tcp client (netstring-framed JSON) that keeps every event it receives."""

    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection((LOOPBACK, port), timeout=5)
        self.events: list[dict[str, Any]] = []
        self._responses: queue.Queue[dict[str, Any]] = queue.Queue()
        self._lock = threading.Lock()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        buffer = b""
        while True:
            try:
                data = self.sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            buffer += data
            while True:
                colon = buffer.find(b":")
                if colon < 0:
                    break
                size = int(buffer[:colon])
                if len(buffer) < colon + 2 + size:
                    break
                message = json.loads(buffer[colon + 1 : colon + 1 + size])
                buffer = buffer[colon + 2 + size :]
                if message.get("event"):
                    with self._lock:
                        self.events.append(message)
                else:
                    self._responses.put(message)

    def command(self, command: str, params: str = "", timeout: float = 5) -> dict[str, Any]:
        body = json.dumps({"command": command, "params": params, "token": "t"}).encode()
        self.sock.sendall(str(len(body)).encode() + b":" + body + b",")
        return self._responses.get(timeout=timeout)

    def event_types(self) -> list[str]:
        with self._lock:
            return [str(e.get("type")) for e in self.events]

    def wait_event(self, kind: str, timeout: float, after: int = 0) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            with self._lock:
                for event in self.events[after:]:
                    if event.get("type") == kind:
                        return event
            return None

        event: dict[str, Any] = wait_for(found, timeout, f"baresip event {kind}")
        return event

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()


class Baresip(Peer):
    """A headless baresip phone: plays a WAV (or a sine), records what it receives, auto-answers."""

    name = "baresip"

    def __init__(self, workdir: Path, account: str, source: str, deadline_s: float = 300) -> None:
        super().__init__(workdir)
        self.sip_port = free_port(2)  # baresip also listens on port+1 for TLS
        self.ctrl_port = free_port()
        self.rtp_base = free_port(40)
        self.account = account.replace("@SIP_PORT@", str(self.sip_port))
        self.source = source
        self.deadline_s = deadline_s
        self.record_dir = workdir / "rec"
        self.control: BaresipControl | None = None

    def start(self) -> Baresip:
        require("baresip")
        self.record_dir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "config").write_text(
            render(
                "baresip.config.in",
                {
                    "SIP_PORT": self.sip_port,
                    "CTRL_PORT": self.ctrl_port,
                    "RTP_LOW": self.rtp_base,
                    "RTP_HIGH": self.rtp_base + 39,
                    "SOURCE": self.source,
                    "RECORD_DIR": self.record_dir,
                    "SRATE": 48000 if self.source.startswith("ausine") else 8000,
                    "CHANNELS": 2 if self.source.startswith("ausine") else 1,
                },
            )
        )
        (self.workdir / "accounts").write_text(self.account + "\n")
        self.spawn(
            ["baresip", "-4", "-f", str(self.workdir), "-t", str(int(self.deadline_s) - 5)],
            self.deadline_s,
        )

        def connected() -> BaresipControl | None:
            if not self.running:
                pytest.fail("baresip exited:\n" + self.log()[-3000:])
            try:
                return BaresipControl(self.ctrl_port)
            except OSError:
                return None

        self.control = wait_for(connected, 10, "baresip ctrl_tcp")
        return self

    @property
    def ctl(self) -> BaresipControl:
        assert self.control is not None, "baresip not started"
        return self.control

    def wait_registered(self, timeout: float = 10) -> None:
        # REGISTER_OK is often sent before the control connection exists: read the log.
        wait_for(
            lambda: "200 OK" in self.log() and "binding" in self.log(),
            timeout,
            f"baresip {self.workdir.name} to register",
        )

    def received_wavs(self) -> list[Path]:
        return sorted(self.record_dir.glob("*-dec.wav"))

    def stop(self, grace_s: float = 5.0) -> None:
        if self.control is not None:
            with contextlib.suppress(Exception):
                self.control.command("quit", timeout=1)
            self.control.close()
            self.control = None
        if self.process is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(3)
        super().stop(grace_s)


class Linphone(Peer):
    """linphonec (liblinphone) as a flat phone: registers, rings, answers by itself (`-a`) or not,
    plays a WAV and records what it hears (files sound card). Commands go to its stdin through a
    FIFO opened read-write (a plain `<` FIFO makes it spin once the writer closes); it needs a
    writable HOME or its core never starts."""

    name = "linphonec"

    def __init__(
        self,
        workdir: Path,
        user: str,
        registrar_port: int,
        password: str = "secret",
        auto_answer: bool = True,
        play: Path | None = None,
        deadline_s: float = 120,
    ) -> None:
        super().__init__(workdir)
        self.user = user
        self.password = password
        self.registrar_port = registrar_port
        self.auto_answer = auto_answer
        self.play = play
        self.deadline_s = deadline_s
        self.sip_port = free_port()
        self.rtp_base = free_port(50)
        self.record = workdir / "received.wav"
        self._fifo: int | None = None

    def start(self) -> Linphone:
        require("linphonec")
        home = self.workdir / "home"
        (home / ".local" / "share" / "linphone").mkdir(parents=True, exist_ok=True)
        rc = self.workdir / "linphonerc"
        rc.write_text(
            render(
                "linphonerc.in",
                {
                    "SIP_PORT": self.sip_port,
                    "AUDIO_PORTS": f"{self.rtp_base}-{self.rtp_base + 19}",
                    "VIDEO_PORTS": f"{self.rtp_base + 20}-{self.rtp_base + 34}",
                    "TEXT_PORTS": f"{self.rtp_base + 35}-{self.rtp_base + 49}",
                    "REGISTRAR_PORT": self.registrar_port,
                    "USER": self.user,
                    "PASSWORD": self.password,
                },
            )
        )
        fifo = self.workdir / "stdin"
        if not fifo.exists():
            os.mkfifo(fifo)
        self._fifo = os.open(fifo, os.O_RDWR)
        argv = ["linphonec", "-c", str(rc), "-d", "0"]
        if self.auto_answer:
            argv.append("-a")
        self.spawn(argv, self.deadline_s, env={"HOME": str(home)}, stdin=self._fifo)
        self.command("soundcard use files")
        if self.play is not None:
            self.command(f"play {self.play}")
        self.command(f"record {self.record}")
        return self

    def command(self, line: str) -> None:
        assert self._fifo is not None, "linphonec not started"
        os.write(self._fifo, line.encode() + b"\n")

    def wait_log(self, text: str, timeout: float, after: int = 0) -> int:
        """Wait for text in the output (from offset after); returns the offset after it."""

        def found() -> int | None:
            if not self.running:
                pytest.fail(f"linphonec exited while waiting for {text!r}:\n" + self.log()[-3000:])
            at = self.log().find(text, after)
            return at + len(text) if at >= 0 else None

        offset: int = wait_for(found, timeout, f"linphonec to print {text!r}")
        return offset

    def wait_registered(self, timeout: float = 10) -> None:
        def registered() -> bool:
            self.command("status register")
            return f"registered, identity=sip:{self.user}@" in self.log()

        wait_for(registered, timeout, "linphonec to register", interval=0.3)

    def stop(self, grace_s: float = 5.0) -> None:
        if self._fifo is not None:
            if self.running:
                with contextlib.suppress(OSError):
                    self.command("quit")
                if self.process is not None:
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self.process.wait(3)
            os.close(self._fifo)
            self._fifo = None
        super().stop(grace_s)


def intercom_program() -> str:
    """The `intercom` console script of the running interpreter's environment."""
    program = Path(sys.executable).parent / "intercom"
    if not program.exists():
        pytest.fail(f"{program} not found: install the project (make test does: pip install -e .)")
    return str(program)


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str | Path):
        return json.dumps(str(value))  # a JSON string is a valid TOML basic string
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(item) for item in value) + "]"
    raise TypeError(f"no TOML for {value!r}")


def toml_document(sections: dict[str, dict[str, Any]]) -> str:
    """A TOML file of tables of scalars and lists (section names may be dotted)."""
    lines = []
    for section, values in sections.items():
        lines.append(f"[{section}]")
        lines += [f"{key} = {_toml_value(value)}" for key, value in values.items()]
        lines.append("")
    return "\n".join(lines)


def merge(*configs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Configuration sections merged key by key, later ones winning."""
    merged: dict[str, dict[str, Any]] = {}
    for config in configs:
        for section, values in config.items():
            merged.setdefault(section, {}).update(values)
    return merged


class Firmware(Peer):
    """The door firmware as a real process: `intercom run --config <workdir>/door.toml`.

    Sim board, audio from/to WAV files, the HTTP API on a free loopback port, SIP on another.
    `sections` are merged into the generated configuration (`{"call": {"targets": [...]}}`).
    The board's output states go to a state file too, so the relay can be checked after the
    process is gone. `stop()` sends SIGTERM and returns the exit code.
    """

    name = "firmware"

    def __init__(
        self,
        workdir: Path,
        sections: dict[str, dict[str, Any]] | None = None,
        deadline_s: float = 120,
    ) -> None:
        super().__init__(workdir)
        self.sip_port = free_port()
        self.api_port = free_port()
        self.rtp_base = free_port(20)
        self.deadline_s = deadline_s
        self.config_path = workdir / "door.toml"
        self.speaker_path = workdir / "speaker.wav"
        self.state_path = workdir / "outputs.json"
        self.exit_code: int | None = None
        config: dict[str, dict[str, Any]] = {
            "sip": {"listen": f"{LOOPBACK}:{self.sip_port}", "domain": LOOPBACK},
            "call": {"cooldown_s": 0, "ring_timeout_s": 20},
            "door": {},
            "answer": {},
            "audio": {
                "backend": "sim",
                "speaker_file": str(self.speaker_path),
                "rtp_ports": f"{self.rtp_base}-{self.rtp_base + 19}",
            },
            "api": {"listen": f"{LOOPBACK}:{self.api_port}"},
            "log": {"level": "debug"},
            "hardware.sim": {"state_file": str(self.state_path)},
        }
        self.config = merge(config, sections or {})

    def command(self) -> list[str]:
        """How the firmware is started (with the configuration written to config_path)."""
        return [intercom_program(), "run", "--config", str(self.config_path)]

    def environment(self) -> dict[str, str]:
        """Variables added to the firmware's environment."""
        return {}

    def start(self) -> Firmware:
        self.config_path.write_text(toml_document(self.config))
        self.spawn(self.command(), self.deadline_s, env=self.environment())

        def up() -> dict[str, Any] | None:
            if not self.running:
                pytest.fail("the firmware exited at start:\n" + self.log()[-3000:])
            try:
                return self.status()
            except OSError:
                return None

        wait_for(up, 15, "the firmware's HTTP API")
        return self

    # -- the HTTP API ------------------------------------------------------------------------
    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """(HTTP status, JSON body) of one API request."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            f"http://{LOOPBACK}:{self.api_port}{path}",
            data=data,
            method=method,
            headers={"Content-Type": "application/json"} if data is not None else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"null")

    def status(self) -> dict[str, Any]:
        code, body = self.api("GET", "/api/status")
        assert code == 200, body
        status: dict[str, Any] = body
        return status

    def post(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        code, answer = self.api("POST", path, body if body is not None else {})
        assert code == 200, f"POST {path}: {code} {answer}"
        result: dict[str, Any] = answer
        return result

    def click(self) -> dict[str, Any]:
        """Press and release the call button (the sim board's input)."""
        return self.post("/api/sim/button", {"action": "click"})

    def hangup(self) -> dict[str, Any]:
        return self.post("/api/hangup")

    def outputs(self) -> list[dict[str, Any]]:
        """Every output change so far: {at_ms, name, active} (at_ms on the firmware's clock)."""
        code, body = self.api("GET", "/api/sim/outputs")
        assert code == 200, body
        history: list[dict[str, Any]] = body["history"]
        return history

    def relay_pulses(self) -> list[tuple[float, float | None]]:
        """(on_ms, off_ms or None while on) of every relay pulse in the output history."""
        pulses: list[tuple[float, float | None]] = []
        for change in self.outputs():
            if change["name"] != "relay":
                continue
            if change["active"]:
                pulses.append((change["at_ms"], None))
            elif pulses and pulses[-1][1] is None:
                pulses[-1] = (pulses[-1][0], change["at_ms"])
        return pulses

    def door_state(self) -> str:
        state: str = self.status()["door"]["state"]
        return state

    def wait_door(self, state: str, timeout: float) -> dict[str, Any]:
        status: dict[str, Any] = wait_for(
            lambda: (s := self.status())["door"]["state"] == state and s,
            timeout,
            f"the door to be {state}",
        )
        return status

    def wait_registration(self, state: str, timeout: float) -> dict[str, Any]:
        registration: dict[str, Any] = wait_for(
            lambda: (r := self.status()["registration"])["state"] == state and r,
            timeout,
            f"the registration to be {state}",
        )
        return registration

    @property
    def uri(self) -> str:
        """The door's own address (for calls straight to it)."""
        user = self.config["sip"].get("user", "door")
        return f"sip:{user}@{LOOPBACK}:{self.sip_port}"

    def board_state(self) -> dict[str, Any]:
        """The sim board's state file: {pid, updated_ms, outputs, inputs} (also after exit)."""
        state: dict[str, Any] = json.loads(self.state_path.read_text())
        return state

    def stop(self, grace_s: float = 10.0) -> int | None:
        """SIGTERM (to `timeout`, which hands it on), wait; the exit code (None if killed)."""
        if self.process is not None and self.exit_code is None:
            if self.process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.process.pid, signal.SIGTERM)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    self.process.wait(grace_s)
            self.exit_code = self.process.poll()
        super().stop()
        return self.exit_code


# -- the firmware tests' set-up: a PBX with these users, flats on baresip, the door -------------

PASSWORD = "secret"
USERS = {name: PASSWORD for name in ("door", "flat101", "flat102", "flat103", "mallory")}


def flat_account(pbx: Kamailio, user: str, answermode: str = "auto") -> str:
    """A baresip account line registering user at the PBX (G.711, 20 ms)."""
    return (
        f"<sip:{user}@{LOOPBACK}:{pbx.port}>;auth_pass={PASSWORD};answermode={answermode};"
        "audio_codecs=PCMU,PCMA;regint=300;ptime=20"
    )


def start_flat(
    stack: contextlib.ExitStack,
    workdir: Path,
    pbx: Kamailio,
    user: str,
    source: Path,
    answermode: str = "auto",
) -> Baresip:
    """A baresip flat phone, registered at the PBX, playing source."""
    phone = stack.enter_context(
        Baresip(workdir / user, flat_account(pbx, user, answermode), f"aufile,{source}", 90)
    )
    phone.start()
    phone.wait_registered()
    return phone


def start_door(
    stack: contextlib.ExitStack,
    workdir: Path,
    pbx: Kamailio | None,
    sections: dict[str, dict[str, Any]],
) -> Firmware:
    """The firmware, registered at the PBX (when there is one) and up."""
    base: dict[str, dict[str, Any]] = {}
    if pbx is not None:
        base["sip"] = {
            "register": True,
            "password": PASSWORD,
            "registrar": f"{LOOPBACK}:{pbx.port}",
        }
    door = stack.enter_context(Firmware(workdir / "door", merge(base, sections), deadline_s=90))
    door.start()
    if pbx is not None:
        door.wait_registration("REGISTERED", 10)
    return door


def stop_door(door: Firmware) -> None:
    """SIGTERM: the firmware must exit 0 with the strike released."""
    code = door.stop()
    assert code == 0, f"exit code {code}:\n" + door.log()[-3000:]
    assert door.board_state()["outputs"]["relay"] is False
    assert "Traceback" not in door.log(), door.log()[-3000:]


@contextlib.contextmanager
def peers(*started: Peer) -> Iterator[tuple[Peer, ...]]:
    """Stop the peers in reverse order (phones before the registrar they unregister from)."""
    try:
        yield started
    finally:
        for peer in reversed(started):
            peer.stop()


class Sipp(Peer):
    """SIPp, bounded: -i 127.0.0.1, its own SIP, control and media ports, no stdin, a global
    timeout. `start(args)` runs it in the background, `wait()` returns its exit code (0: every
    call succeeded, 1: some failed, 255: timeout or fatal); `run(args)` does both."""

    name = "sipp"

    def __init__(self, workdir: Path, deadline_s: float = 60) -> None:
        super().__init__(workdir)
        self.deadline_s = deadline_s
        self.port = free_port()
        self.control_port = free_port()
        self.media_port = free_port(4)  # RTP echo binds media_port and media_port + 2

    def start(self, args: Sequence[str]) -> Sipp:
        require("sipp")
        pcap = self.workdir / "pcap"
        if not pcap.exists():
            pcap.symlink_to("/usr/share/sip-tester")
        argv = [
            "sipp",
            "-i",
            LOOPBACK,
            "-p",
            str(self.port),
            "-cp",
            str(self.control_port),
            "-mp",
            str(self.media_port),
            "-nostdin",
            "-timeout",
            str(int(self.deadline_s) - 5),
            "-timeout_error",
            "-trace_err",
            *args,
        ]
        self.spawn(argv, self.deadline_s)
        return self

    def wait_listening(self, timeout: float = 5) -> None:
        """Until its SIP port is bound (an OPTIONS would count as a failed call of its scenario)."""

        def bound() -> bool:
            if not self.running:
                pytest.fail("sipp exited:\n" + self.log()[-3000:])
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                try:
                    probe.bind((LOOPBACK, self.port))
                except OSError:
                    return True
            return False

        wait_for(bound, timeout, "sipp to listen")

    def wait(self, timeout: float | None = None) -> int:
        assert self.process is not None, "sipp not started"
        return self.process.wait(self.deadline_s + 10 if timeout is None else timeout)

    def run(self, args: Sequence[str]) -> int:
        return self.start(args).wait()

    def errors(self) -> str:
        """What -trace_err wrote (unexpected messages, retransmissions, timeouts)."""
        return "".join(p.read_text(errors="replace") for p in self.workdir.glob("*_errors.log"))


def make_wav(path: Path, *effect: str, seconds: float = 60) -> Path:
    """A mono 8 kHz 16-bit WAV made by sox, e.g. make_wav(p, "synth", "sine", "1000")."""
    require("sox")
    subprocess.run(
        [
            "sox",
            "-n",
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            str(path),
            effect[0],
            str(seconds),
            *effect[1:],
        ],
        check=True,
        timeout=60,
    )
    return path
