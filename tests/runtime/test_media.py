"""The audio pump's thread over 127.0.0.1: RTP both ways with a peer made of the core's
MediaStream, symmetric RTP, DTMF and the inactivity timeout reaching the loop, the RTCP BYE at
the end, tones, and the pump idling when there is nothing to do.

Each test runs twice: on the pump as installed (compiled on Linux, see setup.py) and on its
source as the interpreter runs it, with the socket module's SocketPair, as on a board."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import Any

import pytest

from firmware.core import rtcp
from firmware.core.media import (
    DtmfReceived,
    MediaStream,
    MediaTimedOut,
    RemoteAddressLearned,
)
from firmware.core.rtp import RtpPacket
from firmware.core.sdp import MediaParams
from firmware.runtime import datagrams
from firmware.runtime import media as installed_pump
from firmware.runtime.datagrams import RTCP, RTP, SO_TIMESTAMPNS
from firmware.runtime.flat import FrameRecorder, FrameSource, tone_pcm
from firmware.runtime.media import _monotonic_ms
from tests.runtime.audio_check import rms, tone_share
from tests.runtime.loopback import received, udp_socket
from tests.runtime.waiting import until

pytestmark = pytest.mark.timeout(30)


@pytest.fixture(params=["installed", "source"])
def pump(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The pump's module: as installed, or its source with the socket module's SocketPair."""
    if request.param == "installed":
        return installed_pump
    monkeypatch.setattr(datagrams, "SocketPair", datagrams.PySocketPair)
    source = installed_pump.source_module()
    assert source.AUDIO_PUMP == "Python"
    return source


class Rig:
    """A pump with a microphone playing 1 kHz and a recording speaker, and a call on it."""

    def __init__(self, pump: Any) -> None:
        self.module = pump
        self.speaker = FrameRecorder()
        self.events: list[Any] = []
        self.pump = pump.AudioPump(
            FrameSource(tone_pcm(1000, 1.0)), self.speaker, pump.TonePlayer("eu"), self.on_events
        )
        self.media = pump.CallMedia("call-1", self.pump.lock)

    def on_events(self) -> None:  # what Station.process() does with the media's events
        self.events += self.media.take_events()

    def start_call(self, params: MediaParams, inactivity_ms: int = 30000) -> int:
        port = self.media.open(self.module.RtpPorts("127.0.0.1", 41300, 41399))
        self.pump.add(self.media)
        self.media.start(params, _monotonic_ms(), inactivity_ms, 20)
        self.pump.media = self.media
        self.pump.wake()
        return port


def test_a_call_both_ways_with_symmetric_rtp_dtmf_and_a_bye_at_the_end(pump: Any) -> None:
    async def scenario() -> None:
        rig = Rig(pump)
        rig.pump.start()
        peer_rtp, peer_rtcp = udp_socket(), udp_socket()
        try:
            # The peer's SDP names a port nobody listens on; it sends from peer_rtp (a NAT).
            sdp_addr = ("127.0.0.1", 9)
            port = rig.start_call(
                MediaParams(sdp_addr, peer_rtcp.getsockname(), 0, "PCMU", 101, 20, "sendrecv")
            )
            await until(lambda: rig.pump.running, what="the pump to tick")
            peer = MediaStream(
                MediaParams(
                    ("127.0.0.1", port), ("127.0.0.1", port + 1), 0, "PCMU", 101, 20, "sendrecv"
                ),
                random.Random(7),
                _monotonic_ms(),
            )
            heard: list[bytes] = []
            voice = tone_pcm(440, 1.0)
            for i in range(40):  # 800 ms of 440 Hz from the peer, paced by the test
                frame = voice[i * 320 : (i + 1) * 320]
                for data, addr in peer.push_capture(frame, _monotonic_ms()):
                    peer_rtp.sendto(data, addr)
                if i == 20:
                    peer.send_dtmf("5", _monotonic_ms())
                heard += received(peer_rtp)
                await asyncio.sleep(0.02)
            await until(lambda: any(isinstance(e, DtmfReceived) for e in rig.events), what="DTMF")
            await asyncio.sleep(0.1)  # the jitter buffer plays out what it still holds

            learned = [e for e in rig.events if isinstance(e, RemoteAddressLearned)]
            assert learned and learned[0].addr == peer_rtp.getsockname()
            assert [e.digit for e in rig.events if isinstance(e, DtmfReceived)] == ["5"]
            # The door's audio came back to where the peer's packets came from, in sequence.
            heard += received(peer_rtp)
            packets = [RtpPacket.parse(data) for data in heard]
            assert len(packets) >= 20 and {p.payload_type for p in packets} == {0}
            numbers = [p.sequence_number for p in packets]
            assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))
            door_audio = MediaStream(
                MediaParams(("127.0.0.1", port), None, 0, "PCMU", None, 20, "recvonly"),
                random.Random(8),
                0,
                jitter_min_ms=20,
            )
            for n, data in enumerate(heard):
                door_audio.receive_rtp(data, ("127.0.0.1", port), n * 20)
            pcm = b"".join(door_audio.pull_playout(n * 20) for n in range(len(heard)))
            assert tone_share(pcm[-3200:], 1000) > 0.8
            # The peer's 440 Hz reached the speaker: at least 400 ms of its 800 ms, in 20 ms
            # frames (the DTMF event replaces some of the peer's audio, and the edges are not
            # pure tone).
            played = bytes(rig.speaker.pcm)
            shares = [tone_share(played[i : i + 320], 440) for i in range(0, len(played), 320)]
            assert sum(1 for share in shares if share > 0.8) >= 20, [round(x, 2) for x in shares]
            assert rig.pump.speaker_db > -30 and rig.pump.mic_db > -30
            stats = rig.media.stats()
            assert stats is not None and stats["packets_received"] >= 30

            rig.pump.remove(rig.media)
            rig.media.close(_monotonic_ms())
            await until(lambda: not rig.pump.running, what="the pump to idle")
            reports = [rtcp.parse_compound(data) for data in received(peer_rtcp)]
            assert any(isinstance(p, rtcp.Bye) for report in reports for p in report)
            assert rig.media.rtp is None and rig.media.stats() is not None
        finally:
            rig.pump.stop()
            peer_rtp.close()
            peer_rtcp.close()
        assert rig.pump._thread is None  # joined

    asyncio.run(scenario())


def test_the_inactivity_timeout_reaches_the_loop(pump: Any) -> None:
    async def scenario() -> None:
        rig = Rig(pump)
        rig.pump.start()
        silent_peer = udp_socket()
        try:
            addr = silent_peer.getsockname()
            rig.start_call(
                MediaParams(addr, (addr[0], addr[1] + 1), 0, "PCMU", 101, 20, "sendrecv"),
                inactivity_ms=200,
            )
            timeout = await until(
                lambda: [e for e in rig.events if isinstance(e, MediaTimedOut)], what="timeout"
            )
            assert timeout[0].idle_ms >= 200
            assert received(silent_peer)  # the door kept sending meanwhile
        finally:
            rig.pump.remove(rig.media)
            rig.media.close(_monotonic_ms())
            rig.pump.stop()
            silent_peer.close()

    asyncio.run(scenario())


def test_tones_run_the_pump_and_it_idles_when_they_end(pump: Any) -> None:
    async def scenario() -> None:
        rig = Rig(pump)
        rig.pump.start()
        try:
            assert not rig.pump.running
            rig.pump.player.play("confirm")  # one-shot: the pump stops by itself after it
            rig.pump.wake()
            await until(lambda: rig.pump.running, what="the beep to start")
            await until(lambda: not rig.pump.running, what="the beep to end")
            assert rms(bytes(rig.speaker.pcm)) > 100

            rig.pump.player.play("ringback")  # repeats until stopped
            rig.pump.wake()
            await until(lambda: rig.pump.running, what="ringback")
            ticks = rig.pump.ticks
            await until(lambda: rig.pump.ticks > ticks + 10, what="ringback ticks")
            assert rig.pump.running
            rig.pump.player.stop()
            await until(lambda: not rig.pump.running, what="ringback to stop")
            assert rig.pump.late_ticks == 0
        finally:
            rig.pump.stop()

    asyncio.run(scenario())


@pytest.mark.skipif(SO_TIMESTAMPNS is None, reason="kernel arrival stamps are Linux's")
def test_a_datagram_read_later_keeps_its_arrival_time_and_an_oversized_one_comes_empty(
    pump: Any,
) -> None:
    ports = pump.RtpPorts("127.0.0.1", 41400, 41499)
    rtp, _rtcp, port = ports.open_pair()
    sockets = datagrams.SocketPair(rtp, _rtcp)
    sender = udp_socket()
    try:
        # The kernel switches its stamps on a moment after the first socket asks (RtpPorts
        # keeps them on from then): wait for that, as a door does between start and a call.
        deadline = time.monotonic() + 2
        while True:
            sender.sendto(b"probe", ("127.0.0.1", port))
            time.sleep(0.03)
            now_ms = _monotonic_ms()
            probe = pump._receive(sockets, RTP, now_ms, time.monotonic_ns() - time.time_ns())
            if probe is not None and probe[2] <= now_ms - 20:
                break
            assert time.monotonic() < deadline, "the kernel never stamped a datagram"
        before_ms = _monotonic_ms()  # before sending: a busy machine may pause us after it
        sender.sendto(bytes(5000), ("127.0.0.1", port))  # larger than any packet we read
        sender.sendto(b"rtp", ("127.0.0.1", port))
        time.sleep(0.1)  # read a tick or five later, as a busy pump would
        now_ms = _monotonic_ms()
        clock_offset_ns = time.monotonic_ns() - time.time_ns()
        oversized = pump._receive(sockets, RTP, now_ms, clock_offset_ns)
        assert oversized is not None and oversized[0] == b""  # handed on empty: a counted drop
        datagram = pump._receive(sockets, RTP, now_ms, clock_offset_ns)
        assert datagram is not None
        data, addr, arrived_ms = datagram
        assert data == b"rtp" and addr == sender.getsockname()
        assert before_ms - 1 <= arrived_ms <= now_ms - 50  # when it came, not when it was read
        assert pump._receive(sockets, RTP, now_ms, 0) is None
    finally:
        rtp.close()
        _rtcp.close()
        ports.close()
        sender.close()


def test_what_arrived_before_the_answer_is_never_played(pump: Any) -> None:
    lock = threading.Lock()
    media = pump.CallMedia("early", lock)
    port = media.open(pump.RtpPorts("127.0.0.1", 41500, 41599))
    sender = udp_socket()
    try:
        sender.sendto(b"early media", ("127.0.0.1", port))
        sender.sendto(b"early rtcp", ("127.0.0.1", port + 1))
        time.sleep(0.05)
        addr = sender.getsockname()
        media.start(MediaParams(addr, addr, 0, "PCMU", 101, 20, "sendrecv"), 0, 30000, 20)
        sockets = datagrams.SocketPair(media.rtp, media.rtcp)
        assert pump._receive(sockets, RTP, 0, 0) is None
        assert pump._receive(sockets, RTCP, 0, 0) is None
    finally:
        media.close(0)
        sender.close()
    assert media.rtp is None and media.rtcp is None
