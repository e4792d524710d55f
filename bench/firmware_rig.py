"""The rig of bench_firmware: peers, process meters, tshark captures, SIPp scenarios, an RTP peer.

Peers come from tests/interop/peers.py (loopback, free ports, hard deadlines, own process
groups); this module adds what a benchmark needs on top:

- `BenchFirmware`: `intercom run` as the tests start it, with production logging (info) and a
  discarding speaker; `HarnessFirmware`: the same code path run by bench/firmware_harness.py,
  which also timestamps button events and answers GET /bench/probe (tasks, transactions, ...).
- `BenchBaresip`: baresip 1.0.0 from the interop template, auto-answering, without the sndfile
  module (it writes two WAV files per call, which a phone does not do).
- `Meter`: CPU (utime+stime from /proc/<pid>/stat and schedstat nanoseconds), RSS, fds, threads,
  context switches of a process.
- `Capture`: tshark on lo with a capture filter; `fields()` reads the capture back.
- SIPp scenario texts (written into the bench's work folder at run time).
- `RtpPeer`: a paced PCMU sender/receiver that sends a noise burst every second and finds it in
  what comes back (cross-correlation), for the audio path delay.

Nothing here reads /work/shared or anything outside the repository at run time.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import random
import signal
import socket
import statistics
import struct
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # C module (stdlib up to 3.12; audioop-lts from 3.13), as the firmware uses

from tests.interop import peers
from tests.interop.peers import LOOPBACK, Baresip, Firmware, Peer, free_port, wait_for

ROOT = Path(__file__).resolve().parents[1]
SPEECH = ROOT / "tests" / "data" / "media" / "speech_de.wav"
CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- small statistics ----------------------------------------------------------------------------


def percentile(values: Sequence[float], p: float) -> float:
    """The p-th percentile (0-100), linear interpolation between closest ranks."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = int(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summary(values: Sequence[float]) -> dict[str, float]:
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "min": min(values),
        "median": statistics.median(values),
        "mean": statistics.fmean(values),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values),
    }


# -- machine -------------------------------------------------------------------------------------


def python_version(python: str) -> str:
    """`sys.version` of an interpreter, whether it runs from a shared libpython (pyenv's
    default build) or has the interpreter linked in (Debian's python3, built with PGO and LTO),
    and which parts of the firmware's media path run compiled there (setup.py) and which as
    Python."""
    code = (
        "import sys; shared = any('libpython' in line for line in open('/proc/self/maps')); "
        "from firmware.runtime.media import BUILD; "
        "print(sys.version.replace(chr(10), ' '), '|', sys.executable, '|', "
        "'shared libpython' if shared else 'libpython linked in', '|', BUILD)"
    )
    out = subprocess.run([python, "-c", code], capture_output=True, text=True, timeout=30)
    return out.stdout.strip() or out.stderr.strip()


def machine() -> dict[str, Any]:
    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    mhz = ""
    with contextlib.suppress(OSError, subprocess.SubprocessError):
        out = subprocess.run(["lscpu"], capture_output=True, text=True, timeout=5).stdout
        for line in out.splitlines():
            if line.startswith(("BogoMIPS", "Hypervisor vendor")):
                mhz += line.split(":", 1)[1].strip() + " "
    versions = {}
    for name, argv in (
        ("baresip", ["baresip", "-h"]),
        ("sipp", ["sipp", "-v"]),
        ("tshark", ["tshark", "-v"]),
    ):
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(argv, capture_output=True, text=True, timeout=5)
            text = out.stdout + out.stderr
            for line in text.splitlines():
                if any(word in line for word in ("baresip v", "SIPp v", "TShark (Wireshark)")):
                    versions[name] = line.strip()
                    break
    return {
        "cpu": model,
        "nproc": os.cpu_count(),
        "cpu_notes": mhz.strip(),
        "python": sys.version.split()[0],
        "kernel": os.uname().release,
        "versions": versions,
        "loadavg_start": os.getloadavg(),
    }


# -- processes -----------------------------------------------------------------------------------


def child_pid(parent: int, timeout: float = 5) -> int:
    """The (first) child of `parent`: the program that `timeout` runs for a Peer."""

    def find() -> int | None:
        with contextlib.suppress(OSError):
            text = Path(f"/proc/{parent}/task/{parent}/children").read_text().split()
            if text:
                return int(text[0])
        return None

    pid: int = wait_for(find, timeout, f"the child of {parent}")
    return pid


class Meter:
    """Resource figures of one process from /proc."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def cpu_s(self) -> float:
        """utime + stime (clock ticks, including exited threads) in seconds."""
        text = Path(f"/proc/{self.pid}/stat").read_text()
        fields = text[text.rindex(")") + 2 :].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK

    def run_ns(self) -> int:
        """Time on the CPU in ns (schedstat of every live thread): finer than clock ticks."""
        total = 0
        for task in os.listdir(f"/proc/{self.pid}/task"):
            with contextlib.suppress(OSError):
                total += int(Path(f"/proc/{self.pid}/task/{task}/schedstat").read_text().split()[0])
        return total

    def status(self) -> dict[str, int]:
        values = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            key, _, rest = line.partition(":")
            if key in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "Threads"):
                values[key] = int(rest.split()[0])
        return values

    def switches(self) -> int:
        """Voluntary + involuntary context switches of every live thread (wake-ups)."""
        total = 0
        for task in os.listdir(f"/proc/{self.pid}/task"):
            with contextlib.suppress(OSError):
                for line in Path(f"/proc/{self.pid}/task/{task}/status").read_text().splitlines():
                    if line.endswith("ctxt_switches:") or "ctxt_switches" in line:
                        total += int(line.split()[-1])
        return total

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def snapshot(self) -> dict[str, Any]:
        status = self.status()
        return {
            "t": time.monotonic(),
            "cpu_s": self.cpu_s(),
            "run_ns": self.run_ns(),
            "switches": self.switches(),
            "rss_kb": status.get("VmRSS", 0),
            "hwm_kb": status.get("VmHWM", 0),
            "anon_kb": status.get("RssAnon", 0),
            "threads": status.get("Threads", 0),
            "fds": self.fds(),
        }


def cpu_between(a: dict[str, Any], b: dict[str, Any]) -> dict[str, float]:
    """Share of one core between two snapshots, by ticks and by schedstat; wake-ups per s."""
    wall = b["t"] - a["t"]
    return {
        "wall_s": wall,
        "cpu_percent_ticks": 100 * (b["cpu_s"] - a["cpu_s"]) / wall,
        "cpu_percent": 100 * (b["run_ns"] - a["run_ns"]) / 1e9 / wall,
        "wakeups_per_s": (b["switches"] - a["switches"]) / wall,
    }


# -- peers ---------------------------------------------------------------------------------------


class BenchFirmware(Firmware):
    """`intercom run` (peers.Firmware) with log level info and a discarding speaker by default.

    `python`: another interpreter to run it with (`python -m firmware run`), one that has the
    project and its dependencies installed; None: this environment's `intercom`."""

    python: str | None = None

    def __init__(
        self,
        workdir: Path,
        sections: dict[str, dict[str, Any]] | None = None,
        deadline_s: float = 120,
    ) -> None:
        base: dict[str, dict[str, Any]] = {
            "log": {"level": "info"},
            "audio": {"speaker_file": ""},
            "call": {"max_call_s": 7200, "max_calls_per_hour": 3600, "inactivity_timeout_s": 60},
            "answer": {"allowed": ["sipp"]},
        }
        for section, values in (sections or {}).items():
            base.setdefault(section, {}).update(values)
        super().__init__(workdir, base, deadline_s)
        # peers.Firmware has the sim board rewrite a JSON state file on every output change (for
        # the tests): file I/O a board does not do (the idle LED blink would write it 1/s).
        self.config.pop("hardware.sim", None)
        self.meter: Meter | None = None

    def command(self) -> list[str]:
        if self.python is None:
            return super().command()
        return [self.python, "-m", "firmware", "run", "--config", str(self.config_path)]

    def start(self) -> BenchFirmware:
        super().start()
        assert self.process is not None
        self.meter = Meter(child_pid(self.process.pid))
        return self

    @property
    def rtp_range(self) -> tuple[int, int]:
        return self.rtp_base, self.rtp_base + 19


class HarnessFirmware(BenchFirmware):
    """The firmware run by bench/firmware_harness.py: the code path of `intercom run`, plus
    `BENCH <what> <time.time()>` lines in its log and GET /bench/probe."""

    name = "harness"
    profile: Path | None = None  # set before start(): cProfile stats written there at exit
    floor: str | None = None  # set before start(): the harness's --floor (glue, io or empty)

    def command(self) -> list[str]:
        python = self.python or sys.executable
        argv = [python, "-m", "bench.firmware_harness", "--config", str(self.config_path)]
        if self.profile is not None:
            argv += ["--profile", str(self.profile)]
        if self.floor is not None:
            argv += ["--floor", self.floor]
        return argv

    def environment(self) -> dict[str, str]:
        return {"PYTHONPATH": str(ROOT)}  # the bench package is not installed

    def probe(self, types: bool = False) -> dict[str, Any]:
        code, body = self.api("GET", "/bench/probe" + ("?types=1" if types else ""))
        assert code == 200, body
        result: dict[str, Any] = body
        return result

    def marks(self, what: str) -> list[float]:
        """time.time() of every `BENCH what` line in the log."""
        prefix = f"BENCH {what} "
        return [
            float(line[len(prefix) :])
            for line in self.log().splitlines()
            if line.startswith(prefix)
        ]


class BenchBaresip(Baresip):
    """baresip 1.0.0 from tests/data/interop/baresip.config.in, minus the sndfile module."""

    def __init__(self, workdir: Path, source: Path, deadline_s: float) -> None:
        account = (
            f"<sip:flat@{LOOPBACK}:@SIP_PORT@>;regint=0;answermode=auto;"
            "audio_codecs=PCMU,PCMA;ptime=20"
        )
        super().__init__(workdir, account, f"aufile,{source}", deadline_s)
        self.meter: Meter | None = None

    def start(self) -> BenchBaresip:
        original = peers.render

        def render(template: str, values: dict[str, Any]) -> str:
            text = original(template, values)
            if template == "baresip.config.in":
                lines = text.splitlines()
                text = "\n".join(ln for ln in lines if "sndfile.so" not in ln) + "\n"
            return text

        peers.render = render  # type: ignore[assignment]
        try:
            super().start()
        finally:
            peers.render = original  # type: ignore[assignment]
        assert self.process is not None
        self.meter = Meter(child_pid(self.process.pid))
        return self

    @property
    def rtp_range(self) -> tuple[int, int]:
        return self.rtp_base, self.rtp_base + 39


def speech_wav(path: Path, seconds: float) -> Path:
    """tests/data/media/speech_de.wav repeated to at least `seconds` (8 kHz mono 16-bit)."""
    import wave

    with wave.open(str(SPEECH)) as reader:
        pcm = reader.readframes(reader.getnframes())
    repeats = int(seconds * 16000 / len(pcm)) + 1
    with wave.open(str(path), "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(8000)
        writer.writeframes(pcm * repeats)
    return path


def speech_ulaw(path: Path) -> Path:
    """The same speech as raw mu-law, for SIPp's rtp_stream (looped by SIPp)."""
    import wave

    with wave.open(str(SPEECH)) as reader:
        pcm = reader.readframes(reader.getnframes())
    path.write_bytes(audioop.lin2ulaw(pcm, 2))
    return path


# -- tshark --------------------------------------------------------------------------------------


class Capture(Peer):
    """tshark on lo with a BPF capture filter, into a pcapng; a hard deadline like every peer."""

    name = "tshark"

    def __init__(self, workdir: Path, bpf: str, label: str, deadline_s: float) -> None:
        super().__init__(workdir)
        self.log_path = workdir / f"tshark-{label}.log"
        self.path = workdir / f"{label}.pcapng"
        self.bpf = bpf
        self.deadline_s = deadline_s

    def start(self) -> Capture:
        self.spawn(
            ["tshark", "-i", "lo", "-f", self.bpf, "-w", str(self.path), "-q"], self.deadline_s
        )
        wait_for(lambda: "Capturing on" in self.log() or not self.running, 15, "tshark to capture")
        if not self.running:
            raise RuntimeError("tshark did not start (root or CAP_NET_RAW needed):\n" + self.log())
        time.sleep(0.2)
        return self

    def stop(self, grace_s: float = 5.0) -> None:
        if self.process is not None and self.process.poll() is None:
            time.sleep(0.3)  # let the last packets reach the file
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGTERM)  # timeout forwards it to tshark
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(grace_s)
        super().stop(grace_s)

    def fields(
        self, display_filter: str, fields: Sequence[str], decode_as: Sequence[str] = ()
    ) -> list[list[str]]:
        argv = ["tshark", "-r", str(self.path), "-o", "rtp.heuristic_rtp:TRUE"]
        for rule in decode_as:
            argv += ["-d", rule]
        argv += ["-Y", display_filter, "-T", "fields", "-E", "separator=\t"]
        for field in fields:
            argv += ["-e", field]
        out = subprocess.run(argv, capture_output=True, text=True, timeout=600, check=True).stdout
        return [line.split("\t") for line in out.splitlines() if line]


def rtp_stream_stats(times: Sequence[float], label: str = "") -> dict[str, Any]:
    """Rate, drift and send intervals of one RTP stream from capture timestamps (s, epoch)."""
    if len(times) < 3:
        return {"label": label, "packets": len(times)}
    intervals = [(b - a) * 1000 for a, b in itertools.pairwise(times)]
    span = times[-1] - times[0]
    # Offset of packet n from the ideal n * 20 ms (from the first packet): its growth is drift.
    offsets = [(t - times[0] - 0.020 * n) * 1000 for n, t in enumerate(times)]
    per_minute = []
    start = times[0]
    index = 0
    while True:
        end = start + 60
        block = []
        while index < len(times) and times[index] < end:
            block.append(times[index])
            index += 1
        if len(block) < 2 or times[-1] < end:
            break
        per_minute.append(len(block) / 60)
        start = end
    # Least-squares slope of offset vs time: drift in ms per minute.
    n = len(times)
    mean_t = statistics.fmean(times)
    mean_o = statistics.fmean(offsets)
    var = sum((t - mean_t) ** 2 for t in times)
    slope = sum((t - mean_t) * (o - mean_o) for t, o in zip(times, offsets, strict=False)) / var
    return {
        "label": label,
        "packets": n,
        "seconds": span,
        "rate_pps": (n - 1) / span,
        "per_minute_pps": per_minute,
        "drift_ms_per_min": slope * 60,
        "offset_end_ms": offsets[-1],
        "offset_range_ms": (min(offsets), max(offsets)),
        "interval_ms": summary(intervals),
        "interval_p1_ms": percentile(intervals, 1),
        "interval_stdev_ms": statistics.pstdev(intervals),
        "late_over_20_5": sum(1 for x in intervals if x > 20.5),
    }


def rtp_times(capture: Capture, src_ports: tuple[int, int]) -> dict[int, list[float]]:
    """Capture timestamps of the audio RTP packets sent from a port range, by source port."""
    low, high = src_ports
    rows = capture.fields(
        f"rtp && rtp.p_type < 96 && udp.srcport >= {low} && udp.srcport <= {high}",
        ["frame.time_epoch", "udp.srcport"],
    )
    streams: dict[int, list[float]] = {}
    for t, port in rows:
        streams.setdefault(int(port), []).append(float(t))
    return streams


def sip_wire_latency(capture: Capture, port: int, status: int = 200) -> list[float]:
    """INVITE in -> first `status` response out, per Call-ID, from the capture (ms)."""
    rows = capture.fields(
        f"sip && udp.port == {port}",
        [
            "frame.time_epoch",
            "udp.dstport",
            "sip.Method",
            "sip.Status-Code",
            "sip.CSeq.method",
            "sip.Call-ID",
        ],
        decode_as=[f"udp.port=={port},sip"],
    )
    invites: dict[str, float] = {}
    out = []
    for t, dst, method, code, cseq_method, call_id in rows:
        if method == "INVITE" and dst == str(port) and call_id not in invites:
            invites[call_id] = float(t)
        elif code == str(status) and cseq_method == "INVITE" and call_id in invites:
            out.append((float(t) - invites.pop(call_id)) * 1000)
            invites[call_id] = float("inf")  # only the first response counts
    return [x for x in out if x >= 0]


# -- SIPp ----------------------------------------------------------------------------------------

_SDP = """v=0
      o=sipp 53655765 2353687637 IN IP[local_ip_type] [local_ip]
      s=-
      c=IN IP[media_ip_type] [media_ip]
      t=0 0
      m=audio {port} RTP/AVP 0 101
      a=rtpmap:0 PCMU/8000
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-15
      a=ptime:20
      a=sendrecv"""

_INVITE = """  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Type: application/sdp
      Content-Length: [len]

      {sdp}
    ]]>
  </send>
"""

_ACK_BYE = """  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Contact: <sip:sipp@[local_ip]:[local_port];transport=[transport]>
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
{middle}
  <send retrans="500">
    <![CDATA[
      BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
      From: <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
  <recv response="200" crlf="true"/>
"""

_ANSWERED = """  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rtd="true"/>
"""


def scenario_media(ulaw: Path) -> str:
    """UAC: INVITE (PCMU), ACK, SIPp's rtp_stream (20 ms PCMU from a looped file) for -d ms, BYE."""
    middle = (
        f'  <nop><action><exec rtp_stream="{ulaw},-1,0"/></action></nop>\n'
        "  <pause/>\n"
        '  <nop><action><exec rtp_stream="pause"/></action></nop>\n'
    )
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="media call">\n'
        + _INVITE.format(sdp=_SDP.format(port="[rtpstream_audio_port]"))
        + _ANSWERED
        + _ACK_BYE.format(middle=middle)
        + "</scenario>\n"
    )


def scenario_peer() -> str:
    """UAC: INVITE whose SDP names the bench's own RTP peer (-key rtp_port N), -d ms, BYE."""
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="peer call">\n'
        + _INVITE.format(sdp=_SDP.format(port="[rtp_port]"))
        + _ANSWERED
        + _ACK_BYE.format(middle="  <pause/>\n")
        + "</scenario>\n"
    )


def scenario_busy() -> str:
    """UAC: INVITE, expect 486 at once, ACK it (same branch: the INVITE's, 3 steps back)."""
    return (
        '<?xml version="1.0" encoding="ISO-8859-1" ?>\n<scenario name="busy">\n'
        + _INVITE.format(sdp=_SDP.format(port="[media_port]"))
        + '  <recv response="100" optional="true"/>\n'
        + '  <recv response="486" rtd="true"/>\n'
        + """  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-3]
      From: <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      Max-Forwards: 70
      Content-Length: 0

    ]]>
  </send>
"""
        + "</scenario>\n"
    )


class BenchSipp(peers.Sipp):
    """peers.Sipp plus the message trace with µs timestamps (-trace_shortmsg, always on)."""

    def start(self, args: Sequence[str]) -> BenchSipp:
        if "-trace_shortmsg" not in args:
            args = [*args, "-trace_shortmsg"]
        super().start(args)
        return self

    def shortmessages(self) -> list[tuple[float, str, str, str, str]]:
        """(epoch s, S|R, call-id, cseq, first line) of every message SIPp sent or received."""
        out = []
        for path in sorted(self.workdir.glob("*_shortmessages.log")):
            for line in path.read_text(errors="replace").splitlines():
                parts = line.split("\t")
                if len(parts) >= 7:
                    out.append((float(parts[2]), parts[3], parts[4], parts[5], parts[6]))
        return out

    def wait_answered(self, timeout: float = 10) -> None:
        """Until the (first) call's INVITE got its 200 OK; RuntimeError on a failure answer."""

        def answered() -> bool:
            finals = self.final_statuses()
            if finals.get("200"):
                return True
            if finals or not self.running:
                raise RuntimeError(f"the call was not answered: {finals}\n{self.errors()[:2000]}")
            return False

        wait_for(answered, timeout, "the call to be answered")
        time.sleep(0.05)  # and ACKed

    def response_times(self, status: int, method: str = "INVITE") -> list[float]:
        """ms from each INVITE SIPp sent to the first `status` response to it."""
        sent: dict[str, float] = {}
        out = []
        for t, direction, call_id, cseq, first in self.shortmessages():
            if direction == "S" and first.startswith(method + " ") and call_id not in sent:
                sent[call_id] = t
            elif (
                direction == "R"
                and first.startswith(f"SIP/2.0 {status} ")
                and cseq.endswith(method)
                and sent.get(call_id, -1) >= 0
            ):
                out.append((t - sent[call_id]) * 1000)
                sent[call_id] = -1.0
        return out

    def final_statuses(self) -> dict[str, int]:
        """How many INVITEs got each final status (by Call-ID, the first final one)."""
        final: dict[str, str] = {}
        for _t, direction, call_id, cseq, first in self.shortmessages():
            if direction == "R" and cseq.endswith("INVITE") and first.startswith("SIP/2.0 "):
                code = first.split()[1]
                if code[0] != "1" and call_id not in final:
                    final[call_id] = code
        counts: dict[str, int] = {}
        for code in final.values():
            counts[code] = counts.get(code, 0) + 1
        return counts


# -- the bench's own RTP peer --------------------------------------------------------------------

FRAME = 160  # samples per 20 ms packet
BURST = 80  # samples (10 ms) of noise, once a second
BURST_OFFSET = 40  # where in its packet the burst starts


def _burst_pcm() -> bytes:
    rng = random.Random(20)
    samples = [int(rng.uniform(-1, 1) * 12000) for _ in range(BURST)]
    return struct.pack(f"<{BURST}h", *samples)


def _locate(window: bytes, template: bytes) -> tuple[int, float] | None:
    """(sample offset, normalised cross-correlation) of the template's best match in the window.

    Coarse: the first 5 ms block with energy; fine: the offset within +-20 ms of it where the
    normalised correlation (findfactor * rms ratio, C speed) peaks."""
    size = len(template) // 2
    block = 40
    blocks = len(window) // 2 // block
    onset = None
    for b in range(blocks):
        if audioop.rms(window[2 * b * block : 2 * (b + 1) * block], 2) > 1000:
            onset = b * block
            break
    if onset is None:
        return None
    template_rms = audioop.rms(template, 2)
    best = (0, -1.0)
    for offset in range(max(0, onset - 160), min(len(window) // 2 - size, onset + 160) + 1):
        segment = window[2 * offset : 2 * (offset + size)]
        energy = audioop.rms(segment, 2)
        if not energy:
            continue
        rho = audioop.findfactor(segment, template) * template_rms / energy
        if rho > best[1]:
            best = (offset, rho)
    return best


class RtpPeer:
    """Sends 20 ms PCMU on an absolute schedule (silence, plus a 10 ms noise burst every second)
    and records what comes back with its arrival time; `delays()` finds every burst in the
    returned audio (audioop.findfit: least-squares cross-correlation) and returns its delay.

    The delay of a burst is (arrival of the packet that carries it back + its offset in that
    packet) - (sending of the packet that carried it + its offset there): the time the sound
    took through the far end, independent of where the 20 ms packet boundaries fall."""

    def __init__(self) -> None:
        self.port = free_port(2)
        self.rtp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtp.bind((LOOPBACK, self.port))
        self.rtp.settimeout(0.2)
        self.rtcp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.rtcp.bind((LOOPBACK, self.port + 1))
        self.rtcp.settimeout(0.2)
        self.remote: tuple[str, int] | None = None
        self.burst = _burst_pcm()
        self.sent_bursts: list[float] = []  # perf_counter of each packet carrying a burst
        self.received: list[tuple[float, int, bytes]] = []  # (perf_counter, seq, pcm)
        self.send_late = 0
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._receive, daemon=True),
            threading.Thread(target=self._drain_rtcp, daemon=True),
        ]
        for thread in self._threads:
            thread.start()

    def start_sending(self) -> None:
        """Start once the far end's RTP address is known (learned from its first packet)."""
        wait_for(lambda: self.remote is not None, 10, "RTP from the firmware")
        thread = threading.Thread(target=self._send, daemon=True)
        self._threads.append(thread)
        thread.start()

    def _send(self) -> None:
        silence = audioop.lin2ulaw(bytes(2 * FRAME), 2)
        frame = bytearray(2 * FRAME)
        frame[2 * BURST_OFFSET : 2 * (BURST_OFFSET + BURST)] = self.burst
        with_burst = audioop.lin2ulaw(bytes(frame), 2)
        ssrc = random.getrandbits(32)
        seq = random.getrandbits(16)
        ts = random.getrandbits(32)
        start = time.perf_counter()
        n = 0
        while not self._stop.is_set():
            due = start + n * 0.020
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            elif delay < -0.005:
                self.send_late += 1
            payload = with_burst if n % 50 == 25 else silence
            header = struct.pack(
                "!BBHII", 0x80, 0 if n else 0x80, seq & 0xFFFF, ts & 0xFFFFFFFF, ssrc
            )
            assert self.remote is not None
            self.rtp.sendto(header + payload, self.remote)
            if payload is with_burst:
                self.sent_bursts.append(time.perf_counter())
            n += 1
            seq += 1
            ts += FRAME

    def _receive(self) -> None:
        while not self._stop.is_set():
            try:
                data, addr = self.rtp.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return
            now = time.perf_counter()
            if len(data) < 12 or data[0] >> 6 != 2:
                continue
            if self.remote is None:
                self.remote = addr
            count = data[0] & 0x0F
            payload_type = data[1] & 0x7F
            if payload_type != 0:
                continue
            seq = struct.unpack("!H", data[2:4])[0]
            self.received.append((now, seq, audioop.ulaw2lin(data[12 + 4 * count :], 2)))

    def _drain_rtcp(self) -> None:
        while not self._stop.is_set():
            try:
                self.rtcp.recvfrom(2048)
            except TimeoutError:
                continue
            except OSError:
                return

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(2)
        self.rtp.close()
        self.rtcp.close()

    def delays(self) -> list[tuple[float, float, float]]:
        """(time since the first burst s, delay ms, match quality 0..1) of every burst found."""
        received = list(self.received)
        if not received or not self.sent_bursts:
            return []
        template = audioop.ulaw2lin(audioop.lin2ulaw(self.burst, 2), 2)
        arrivals = [r[0] for r in received]
        stream = b"".join(r[2] for r in received)
        starts = []  # sample index where each received packet starts
        position = 0
        for r in received:
            starts.append(position)
            position += len(r[2]) // 2
        out = []
        first = self.sent_bursts[0]
        import bisect

        for sent in self.sent_bursts:
            lo = bisect.bisect_left(arrivals, sent)
            hi = bisect.bisect_left(arrivals, sent + 0.5)
            if hi - lo < 3:
                continue
            window = stream[2 * starts[lo] : 2 * (starts[hi - 1] + FRAME)]
            if len(window) < len(template):
                continue
            found = _locate(window, template)
            if found is None:
                continue
            offset, quality = found
            sample = starts[lo] + offset
            packet = bisect.bisect_right(starts, sample) - 1
            inside = sample - starts[packet]
            delay = (arrivals[packet] + inside / 8000) - (sent + BURST_OFFSET / 8000)
            out.append((sent - first, delay * 1000, quality))
        return out

    def arrival_intervals(self) -> list[float]:
        times = [r[0] for r in self.received]
        return [(b - a) * 1000 for a, b in itertools.pairwise(times)]


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
