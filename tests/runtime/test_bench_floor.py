"""bench/firmware_harness.py's `--floor` pumps tick through a real call's media.

They replace the pump the station builds, and the bench's `floor` rounds compare the firmware's
CPU with theirs. Once, the floors failed at their first tick (the compiled CallMedia takes no
weak references) and the rounds measured an idle process; this runs each floor's ticks here."""

from __future__ import annotations

import random
import time
from typing import Any

import pytest

from bench import firmware_harness
from firmware.core.media import MediaStream
from firmware.core.rtp import RtpPacket
from firmware.core.sdp import MediaParams
from firmware.runtime import media, station
from tests.runtime.loopback import received, udp_socket

pytestmark = pytest.mark.timeout(30)


@pytest.mark.parametrize("kind", firmware_harness.FLOORS)
def test_a_floor_pump_takes_over_once_the_peer_is_heard(
    kind: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(station, "AudioPump", station.AudioPump)  # put back after the test
    firmware_harness._floor(kind)
    pump: Any = station.AudioPump(None, None, media.TonePlayer("eu"), lambda: None)
    assert isinstance(pump, media.AudioPump) and type(pump) is not media.AudioPump
    call = media.CallMedia("call-1", pump.lock)
    ports = media.RtpPorts("127.0.0.1", 41700, 41799)
    peer = udp_socket()
    try:
        port = call.open(ports)
        host, peer_port = peer.getsockname()
        params = MediaParams((host, peer_port), None, 0, "PCMU", 101, 20, "sendrecv")
        now_ms = media._monotonic_ms()
        call.start(params, now_ms, 30000, 20)
        pump.add(call)
        pump.media = call
        sender = MediaStream(
            MediaParams(("127.0.0.1", port), None, 0, "PCMU", None, 20, "sendrecv"),
            random.Random(1),
            now_ms,
        )
        sent: list[list[bytes]] = []  # what the peer got after each tick
        for i in range(10):
            for data, addr in sender.push_capture(bytes(320), now_ms + 20 * i):
                peer.sendto(data, addr)
            time.sleep(0.002)  # on loopback the datagram is there at once; leave it a moment
            with pump.lock:
                pump.tick(time.monotonic())
            sent.append(received(peer))
        stats = call.stats()
        assert stats is not None and stats["packets_received"] >= 1  # the stream heard the peer
        # The first tick is the real one (nothing heard yet): real RTP from the call's stream.
        assert len(sent[0]) == 1 and RtpPacket.parse(sent[0][0]).payload_type == 0
        later = [datagram for tick in sent[2:] for datagram in tick]
        if kind == "empty":
            assert later == []  # nothing at all once the floor has taken over
        else:
            assert later == [firmware_harness._FLOOR_PACKET] * 8  # one per tick
    finally:
        pump.remove(call)
        call.close(0)
        ports.close()
        peer.close()
