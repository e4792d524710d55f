"""Real SIP peers for the interop tests: Kamailio, baresip, SIPp and linphonec.

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
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

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

    def __enter__(self) -> Peer:
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


def sip_options_ping(port: int, timeout: float = 0.2) -> bool:
    """True if something answers an OPTIONS on 127.0.0.1:port over UDP."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((LOOPBACK, 0))
        sock.settimeout(timeout)
        local = sock.getsockname()[1]
        request = (
            f"OPTIONS sip:{LOOPBACK}:{port} SIP/2.0\r\n"
            f"Via: SIP/2.0/UDP {LOOPBACK}:{local};branch=z9hG4bK-ping{time.monotonic_ns()}\r\n"
            "Max-Forwards: 70\r\n"
            f"From: <sip:ping@{LOOPBACK}>;tag=ping\r\nTo: <sip:{LOOPBACK}:{port}>\r\n"
            f"Call-ID: ping-{time.monotonic_ns()}@{LOOPBACK}\r\nCSeq: 1 OPTIONS\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
        sock.sendto(request, (LOOPBACK, port))
        try:
            data = sock.recv(65535)
        except OSError:
            return False
        return data.startswith(b"SIP/2.0 ")


class Kamailio(Peer):
    """Registrar + proxy with digest auth (users from a table), UDP and TCP on one port."""

    name = "kamailio"

    def __init__(
        self,
        workdir: Path,
        users: dict[str, str] | None = None,
        invite_auth: bool = True,
        deadline_s: float = 300,
    ) -> None:
        super().__init__(workdir)
        self.port = free_port()
        self.users = users or {"door": "secret", "flat101": "secret", "flat102": "secret"}
        self.invite_auth = invite_auth
        self.deadline_s = deadline_s

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
        self.spawn(argv, self.deadline_s)
        wait_for(lambda: sip_options_ping(self.port) or not self.running, 10, "kamailio to answer")
        if not self.running:
            pytest.fail("kamailio did not start:\n" + self.log()[-3000:])
        return self

    @property
    def addr(self) -> tuple[str, int]:
        return (LOOPBACK, self.port)

    def registered(self, user: str) -> bool:
        return f"REGISTERED sip:{user}@" in self.log()

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


@contextlib.contextmanager
def peers(*started: Peer) -> Iterator[tuple[Peer, ...]]:
    """Stop the peers in reverse order (phones before the registrar they unregister from)."""
    try:
        yield started
    finally:
        for peer in reversed(started):
            peer.stop()


def sipp(
    args: Sequence[str], workdir: Path, timeout_s: float = 60
) -> subprocess.CompletedProcess[str]:
    """Run sipp to completion (bounded): -i 127.0.0.1, explicit ports, no stdin."""
    require("sipp")
    pcap = workdir / "pcap"
    if not pcap.exists():
        pcap.symlink_to("/usr/share/sip-tester")
    argv = [
        "timeout",
        "-k",
        "5",
        str(int(timeout_s)),
        "sipp",
        "-i",
        LOOPBACK,
        "-nostdin",
        "-timeout",
        str(int(timeout_s) - 5),
        "-timeout_error",
        *args,
    ]
    return subprocess.run(argv, cwd=workdir, capture_output=True, text=True, timeout=timeout_s + 10)


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
