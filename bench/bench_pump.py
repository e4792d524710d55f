"""The audio pump as a process: CPU per second of one call, the compiled pump against the same
source run as Python, in alternating runs.

    .venv/bin/python -m bench bench_pump [--pairs 10] [--seconds 12]

Each run is a child process: the firmware's AudioPump thread with one call (a WAV microphone, a
discarded speaker, the core's MediaStream) on loopback, and a peer in a second process that sends
20 ms PCMU speech every 20 ms and reads what comes back. Measured: the child's CPU (all threads,
/proc schedstat) over `--seconds` after a 2 s start. The runs alternate setup.py's build of
firmware/runtime/media.py (the pump with media.pxd) and that module's source run by the
interpreter, each with the same compiled core and socket pair, so both see the same machine; the
report gives each one's median and the paired differences. bench_firmware measures the whole
firmware against baresip under SIPp but needs minutes of rounds to rise above this machine's
noise; this needs the pump only, and pairs.
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import statistics
import subprocess
import sys
import time

from bench.bench_media_path import speech_datagrams, speech_frames
from bench.firmware_rig import Meter

ROOT = pathlib.Path(__file__).resolve().parents[1]

# The peer: sends the datagrams on an absolute 20 ms schedule and drains what the pump sends.
PEER = r"""
import socket, sys, time
port, peer_port, seconds = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
data = sys.stdin.buffer.read()
size = int.from_bytes(data[:4], "big")
datagrams = [data[4 + i : 4 + i + size] for i in range(0, len(data) - 4, size)]
sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
sock.bind(("127.0.0.1", peer_port))
sock.setblocking(False)
due = time.monotonic()
end = due + seconds
i = 0
while due < end:
    sock.sendto(datagrams[i % len(datagrams)], ("127.0.0.1", port))
    i += 1
    while True:
        try:
            sock.recv(4096)
        except BlockingIOError:
            break
    due += 0.02
    time.sleep(max(0.0, due - time.monotonic()))
"""


async def _child_run(pump_kind, seconds, port_base):
    from firmware.core.sdp import MediaParams
    from firmware.runtime import media as pump_module
    from hal.backends.sim_audio import DiscardOut, WavIn

    if pump_module.AUDIO_PUMP != "compiled":
        raise SystemExit("no compiled audio pump here")
    if pump_kind == "python":
        pump_module = pump_module.source_module()
    ports = pump_module.RtpPorts("127.0.0.1", port_base, port_base + 99)
    mic = WavIn(sorted((ROOT / "tests/data/media").glob("speech_*.wav"))[0], True, "microphone")
    pump = pump_module.AudioPump(mic, DiscardOut(), pump_module.TonePlayer("de"), lambda: None)
    pump.start()
    call = pump_module.CallMedia("bench", pump.lock)
    port = call.open(ports)
    peer_port = port_base + 100
    remote = ("127.0.0.1", peer_port)
    params = MediaParams(remote, ("127.0.0.1", peer_port + 1), 0, "PCMU", 101, 20, "sendrecv")
    call.start(params, int(time.monotonic() * 1000), 30000, 20)
    pump.add(call)
    with pump.lock:
        pump.media = call
    pump.wake()
    payload = speech_datagrams(speech_frames(), passes=3)  # a few minutes of speech
    size = len(payload[0])
    peer = subprocess.Popen(
        [sys.executable, "-c", PEER, str(port), str(peer_port), str(seconds + 4)],
        stdin=subprocess.PIPE,
    )
    try:
        peer.stdin.write(size.to_bytes(4, "big") + b"".join(payload))
        peer.stdin.close()
        await asyncio.sleep(2)
        meter = Meter(os.getpid())
        cpu, start = meter.run_ns(), time.monotonic()
        await asyncio.sleep(seconds)
        cpu, elapsed = meter.run_ns() - cpu, time.monotonic() - start
        stats = call.stats()
    finally:
        pump.stop()
        peer.kill()
        peer.wait(timeout=10)
        call.close(0)
        ports.close()
    late = pump.late_ticks
    print(f"{cpu / elapsed / 1e7:.4f} {stats['packets_received']} {stats['packets_sent']} {late}")


def _run_child(pump_kind, seconds, port_base):
    command = [sys.executable, "-m", "bench", "bench_pump", "--child", pump_kind]
    out = subprocess.run(
        [*command, str(seconds), str(port_base)],
        capture_output=True,
        text=True,
        timeout=seconds + 60,
        cwd=ROOT,
    )
    if out.returncode != 0:
        raise SystemExit(f"bench_pump child ({pump_kind}) failed:\n{out.stderr}")
    percent, received, sent, late = out.stdout.splitlines()[-1].split()
    if int(received) < seconds * 45 or int(sent) < seconds * 45 or int(late):
        raise SystemExit(f"bench_pump child ({pump_kind}): the call did not run: {out.stdout}")
    return float(percent)


def main(argv):
    if argv[:1] == ["--child"]:
        asyncio.run(_child_run(argv[1], float(argv[2]), int(argv[3])))
        return 0
    pairs, seconds = 10, 12.0
    if "--pairs" in argv:
        pairs = int(argv[argv.index("--pairs") + 1])
    if "--seconds" in argv:
        seconds = float(argv[argv.index("--seconds") + 1])
    from firmware.runtime.media import AUDIO_PUMP, BUILD

    if AUDIO_PUMP != "compiled":
        print("no compiled audio pump here (not Linux, or no C compiler): nothing to compare")
        return 1
    print(f"the audio pump, one call, {pairs} pairs of {seconds:g} s ({BUILD})")
    port_base = 46000 + (os.getpid() % 40) * 200
    results = {"compiled": [], "python": []}
    for pair in range(pairs):
        order = ("compiled", "python") if pair % 2 == 0 else ("python", "compiled")
        for pump_kind in order:
            results[pump_kind].append(_run_child(pump_kind, seconds, port_base))
        print(
            f"  pair {pair + 1}: compiled pump {results['compiled'][-1]:.3f} %, "
            f"Python pump {results['python'][-1]:.3f} %"
        )
    compiled, python = results["compiled"], results["python"]
    saved = [p - c for c, p in zip(compiled, python, strict=True)]
    median_saved = statistics.median(saved)
    print(
        f"CPU per call-second: compiled pump {statistics.median(compiled):.3f} % of a core, "
        f"the same source as Python {statistics.median(python):.3f} % (medians); paired "
        f"difference {median_saved:.3f} points, {median_saved / statistics.median(python):.0%} "
        f"(compiled lower in {sum(s > 0 for s in saved)} of {pairs} pairs)"
    )
    return 0
