"""CPU cost of one call's media path per 20 ms packet, receive and send, on this machine.

    .venv/bin/python -m bench bench_media_path

Receive: RTP parse and source checks, jitter buffer, G.711 decode, loss concealment (on good
frames: the delay line) and in-band DTMF detection, i.e. ``MediaStream.receive_rtp`` plus
``pull_playout`` once per packet. Send: G.711 encode and packetisation, ``push_capture``. Both on
speech (tests/data/media/speech_*.wav). Also the stages one by one, and the share of one core a
call takes (50 packets a second each way). Goal: both directions together under 0.5 %.

Those loops run warm: every packet finds the code and data of the one before it in the caches.
The audio pump does not: it sleeps 20 ms between ticks, and each tick finds them cold. The cold
part (``--cold-ticks N``, default 500; 0 skips it) replays that: per tick one packet in, one
frame captured and one played, each timed, then a 20 ms sleep. These are the figures to compare
when changing the core for the firmware's CPU per call (the process figures of bench_firmware
need minutes of alternating rounds to rise above their noise; these need seconds).
"""

import pathlib
import statistics
import time

from firmware.core import dtmf, g711, jitter, plc, rtp, wav
from firmware.core.media import MediaStream
from firmware.core.sdp import MediaParams
from firmware.runtime import media as media_pump
from firmware.runtime.datagrams import RTP, SocketPair

DATA = pathlib.Path(__file__).resolve().parents[1] / "tests" / "data" / "media"
DOOR = ("192.168.1.10", 40000)
FLAT = ("192.168.1.20", 50000)


class _Random:
    def __init__(self, seed):
        self.state = seed

    def getrandbits(self, bits):
        self.state = (self.state * 6364136223846793005 + 1442695040888963407) & ((1 << 64) - 1)
        return self.state >> (64 - bits)


def _params(remote):
    return MediaParams(remote, (remote[0], remote[1] + 1), 0, "PCMU", 101, 20, "sendrecv")


def speech_frames():
    pcm = b"".join(wav.read_pcm8k(p.read_bytes()) for p in sorted(DATA.glob("speech_*.wav")))
    return [pcm[i : i + 320] for i in range(0, len(pcm) - 319, 320)]


def speech_datagrams(frames, passes=1):
    """The frames as one sender's 20 ms PCMU packets, `passes` times over (sequence numbers and
    timestamps run on)."""
    sender = MediaStream(_params(FLAT), _Random(1), 0, rtcp_interval_ms=10**9)
    out = []
    for i in range(passes * len(frames)):
        out.extend(data for data, _addr in sender.push_capture(frames[i % len(frames)], 20 * i))
    return out


def _best_us(run, packets, repeats=7):
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best / packets * 1e6


def cold_ticks(frames, datagrams, ticks):
    """Median µs of (socket in, receive, capture, playout, socket out, the core's three) when
    each tick follows a 20 ms sleep.

    Around the core each tick does the pump's socket work on loopback, as the firmware does
    before and after it, with the pump's own code (datagrams.SocketPair and the pump's
    `_receive`): poll, recvmsg with the kernel's arrival stamp, sendto. The core's cost is what
    it adds to that (the first use of a library function in a tick pays for all)."""
    ports = media_pump.RtpPorts("127.0.0.1", 47000, 47999)
    door_rtp, door_rtcp, door_port = ports.open_pair()
    peer_rtp, peer_rtcp, _peer_port = ports.open_pair()
    try:
        door = SocketPair(door_rtp, door_rtcp)
        peer = SocketPair(peer_rtp, peer_rtcp)
        to_door = ("127.0.0.1", door_port)
        to_peer = peer_rtp.getsockname()
        stream = MediaStream(
            _params(DOOR), _Random(4), 0, rtcp_interval_ms=10**9, detect_inband_dtmf=False
        )
        clock = time.perf_counter_ns
        rows = []
        for i in range(min(ticks, len(datagrams))):  # one pass: no sequence number repeats
            peer.send(RTP, datagrams[i], to_door)
            time.sleep(0.02)
            now = 20 * i
            t0 = clock()
            door.waiting()
            data, _addr, _arrived = media_pump._receive(door, RTP, now, 0)
            t1 = clock()
            stream.receive_rtp(data, DOOR, now)
            t2 = clock()
            out = stream.push_capture(frames[i], now)
            t3 = clock()
            stream.pull_playout(now + 7)
            t4 = clock()
            for packet, _to in out:
                door.send(RTP, packet, to_peer)
            t5 = clock()
            while media_pump._receive(peer, RTP, now, 0) is not None:
                pass
            rows.append((t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t4 - t1))
    finally:
        for sock in (door_rtp, door_rtcp, peer_rtp, peer_rtcp):
            sock.close()
        ports.close()
    rows = rows[len(rows) // 10 :]  # the jitter buffer fills, the allocator settles
    return [statistics.median(column) / 1000 for column in zip(*rows, strict=True)]


def main(argv):
    cold = 500
    if "--cold-ticks" in argv:
        cold = int(argv[argv.index("--cold-ticks") + 1])
    frames = speech_frames()
    n = len(frames)
    datagrams = speech_datagrams(frames)
    assert len(datagrams) == n

    def send_path():
        stream = MediaStream(_params(FLAT), _Random(2), 0, rtcp_interval_ms=10**9)
        for i, frame in enumerate(frames):
            stream.push_capture(frame, 20 * i)

    def receive_path(detect=True):
        def run():
            stream = MediaStream(
                _params(DOOR), _Random(3), 0, rtcp_interval_ms=10**9, detect_inband_dtmf=detect
            )
            for i, data in enumerate(datagrams):
                now = 20 * i
                stream.receive_rtp(data, DOOR, now)
                stream.pull_playout(now + 7)
            assert stream.stats()["concealed_ms"] == 0

        return run

    parsed = [rtp.RtpPacket.parse(d) for d in datagrams]
    payloads = [p.payload for p in parsed]
    decoded = [g711.decode("PCMU", p) for p in payloads]

    def stage_parse():
        for d in datagrams:
            rtp.RtpPacket.parse(d)

    def stage_receiver():
        receiver = rtp.RtpReceiver([0, 101], 8000, 0)
        for i, p in enumerate(parsed):
            receiver.receive(p, DOOR, 20 * i)

    def stage_jitter():
        jb = jitter.JitterBuffer()
        for i, p in enumerate(parsed):
            jb.put(p.timestamp, p.payload, 20 * i)
            jb.get(20 * i + 7)

    def stage_decode():
        decode = g711.decoder("PCMU")
        for p in payloads:
            decode(p, 2)

    def stage_plc():
        concealer = plc.Concealer()
        for pcm in decoded:
            concealer.good(pcm)

    def stage_dtmf(fast=True):
        def run():
            detector = dtmf.DtmfDetector(fast=fast)
            for pcm in decoded:
                detector.feed(pcm)

        return run

    def stage_encode():
        encode = g711.encoder("PCMU")
        for frame in frames:
            encode(frame, 2)

    rows = [
        ("receive: whole path (MediaStream)", receive_path(True)),
        ("receive: whole path, no in-band DTMF", receive_path(False)),
        ("  RTP parse", stage_parse),
        ("  source checks and statistics", stage_receiver),
        ("  jitter buffer put + get", stage_jitter),
        ("  G.711 decode", stage_decode),
        ("  concealer delay line (good frames)", stage_plc),
        ("  in-band DTMF detection (audioop kernels)", stage_dtmf(True)),
        ("  in-band DTMF detection (pure Python)", stage_dtmf(False)),
        ("send: whole path (MediaStream)", send_path),
        ("  G.711 encode", stage_encode),
    ]
    print("media path on %d packets of 20 ms speech (g711 backend: %s)" % (n, g711.BACKEND))
    results = {}
    for name, run in rows:
        results[name] = _best_us(run, n)
        print("%-44s %8.1f us/packet" % (name, results[name]))
    rx = results["receive: whole path (MediaStream)"]
    tx = results["send: whole path (MediaStream)"]
    share = (rx + tx) * 50 / 1e6 * 100
    print("one call, 50 packets/s each way: %.1f us + %.1f us per 20 ms" % (rx, tx))
    print(
        "CPU share of one core: %.3f %% (goal < 0.5 %%): %s"
        % (share, "ok" if share < 0.5 else "MISSED")
    )
    if cold > 0:
        socket_in, rx_us, capture_us, playout_us, socket_out, core_us = cold_ticks(
            frames, datagrams, cold
        )
        print(
            "cold, each tick after a 20 ms sleep (median of the ticks after the first 10 %%; "
            "%s):" % media_pump.BUILD
        )
        print(
            "  core: receive_rtp %.1f us, push_capture %.1f us, pull_playout %.1f us: %.1f us/tick"
            % (rx_us, capture_us, playout_us, core_us)
        )
        print("  sockets: poll + recvmsg %.1f us, sendto %.1f us" % (socket_in, socket_out))
    return 0 if share < 0.5 else 1
