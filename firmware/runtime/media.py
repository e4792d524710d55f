"""RTP/RTCP sockets for calls, and the 20 ms audio pump that moves sound between them and the HAL.

`RtpPorts` hands out RTP/RTCP socket pairs (even RTP port, RTCP on the next) from the configured
range. A `CallMedia` owns one pair and, once the call is answered, the core `MediaStream` that
speaks RTP on it. The `AudioPump` ticks every 20 ms on an absolute schedule from the loop's
monotonic clock (never from ALSA blocking: file and null PCMs are unpaced, a USB card drifts). It
runs only while it has work: a call with media, or a tone to play; idle, it stops.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import socket
from collections.abc import Callable
from typing import Any

from firmware.core import tones
from firmware.core.media import MediaStream

try:  # the C module: in the standard library up to 3.12, the audioop-lts package from 3.13
    import audioop
except ImportError:  # pragma: no cover - audioop-lts is a dependency on 3.13+
    audioop = None  # type: ignore[assignment]

log = logging.getLogger("intercom.media")

FRAME_MS = 20
FRAME_BYTES = 320
SILENCE = bytes(FRAME_BYTES)
Addr = tuple[str, int]


def mix(a: bytes, b: bytes | None) -> bytes:
    """Sum two 20 ms frames with saturation."""
    if b is None:
        return a
    return bytes(audioop.add(a, b, 2))


def level_db(frame: bytes) -> float:
    """RMS level in dBFS (-90 for silence)."""
    rms = audioop.rms(frame, 2)
    return max(-90.0, 20 * math.log10(rms / 32768)) if rms else -90.0


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, deliver: Callable[[bytes, Addr], None]) -> None:
        self.deliver = deliver

    def datagram_received(
        self, data: bytes, addr: tuple[str, int] | tuple[str, int, int, int]
    ) -> None:
        self.deliver(data, (addr[0], addr[1]))

    def error_received(self, exc: Exception) -> None:
        log.debug("RTP socket error: %s", exc)


class RtpPorts:
    """Socket pairs from a port range: RTP on an even port, RTCP on the next one."""

    def __init__(self, host: str, low: int, high: int) -> None:
        self.host = host
        self.low = low + (low & 1)
        self.high = high
        self._next = self.low

    def open_pair(self) -> tuple[socket.socket, socket.socket, int]:
        """Bind an RTP/RTCP socket pair now (so the port can go into SDP at once).

        Raises OSError when no pair in the range is free."""
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        span = (self.high - self.low + 1) // 2
        for _ in range(span):
            port = self._next
            self._next = port + 2 if port + 3 <= self.high else self.low
            pair = []
            try:
                for offset in (0, 1):
                    sock = socket.socket(family, socket.SOCK_DGRAM)
                    pair.append(sock)
                    sock.setblocking(False)
                    sock.bind((self.host, port + offset))
            except OSError:
                for sock in pair:
                    sock.close()
                continue
            return pair[0], pair[1], port
        raise OSError(f"no free RTP port pair in {self.low}-{self.high}")


class CallMedia:
    """The RTP side of one call: its socket pair and, once answered, its MediaStream."""

    def __init__(self, call_id: str, on_activity: Callable[[], None]) -> None:
        self.call_id = call_id
        self.stream: MediaStream | None = None
        self.rtp: Any = None
        self.rtcp: Any = None
        self.port = 0
        self._on_activity = on_activity
        self._now_ms: Callable[[], int] = lambda: 0
        self._attaching: asyncio.Task[None] | None = None
        self._closed = False

    def open(self, ports: RtpPorts, now_ms: Callable[[], int]) -> int:
        """Bind the socket pair now; attach it to the loop in the background."""
        self._now_ms = now_ms
        rtp_sock, rtcp_sock, self.port = ports.open_pair()
        loop = asyncio.get_running_loop()
        self._attaching = loop.create_task(self._attach(rtp_sock, rtcp_sock))
        return self.port

    async def _attach(self, rtp_sock: socket.socket, rtcp_sock: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        rtp = rtcp = None
        try:
            rtp, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self._rtp_in), sock=rtp_sock
            )
            rtcp, _ = await loop.create_datagram_endpoint(
                lambda: _Datagrams(self._rtcp_in), sock=rtcp_sock
            )
        finally:
            if rtcp is None or self._closed:  # failed, or the call ended while attaching
                for transport in (rtp, rtcp):
                    if transport is not None:
                        transport.close()
                rtp_sock.close()
                rtcp_sock.close()
                rtp = rtcp = None
        self.rtp, self.rtcp = rtp, rtcp

    def start(self, params: Any, now_ms: int, inactivity_ms: int, jitter_min_ms: int) -> None:
        if self.stream is not None:
            self.stream.update(params, now_ms)
            return
        rng = random.SystemRandom()
        self.stream = MediaStream(
            params,
            rng,
            now_ms,
            inactivity_timeout_ms=inactivity_ms,
            jitter_min_ms=jitter_min_ms,
        )

    def _rtp_in(self, data: bytes, addr: Addr) -> None:
        if self.stream is not None:
            self.stream.receive_rtp(data, addr, self._now_ms())
            self._on_activity()

    def _rtcp_in(self, data: bytes, addr: Addr) -> None:
        if self.stream is not None:
            self.stream.receive_rtcp(data, addr, self._now_ms())
            self._on_activity()

    def send_rtp(self, datagrams: list[tuple[bytes, Addr]]) -> None:
        if self.rtp is None:  # still attaching (the first few ms of a call)
            return
        for data, addr in datagrams:
            self.rtp.sendto(data, addr)

    def flush_rtcp(self) -> None:
        if self.stream is None or self.rtcp is None:
            return
        for data, addr in self.stream.datagrams_to_send():
            self.rtcp.sendto(data, addr)

    def close(self, now_ms: int) -> None:
        self._closed = True
        if self.stream is not None:
            self.stream.close(now_ms)
            self.flush_rtcp()
        for transport in (self.rtp, self.rtcp):
            if transport is not None:
                transport.close()
        self.rtp = self.rtcp = None


class TonePlayer:
    """The tone the door speaker plays locally (ringback, busy) and the one-shot confirmation
    beep, which is mixed into both the speaker and the microphone (so the flat hears it too)."""

    def __init__(self, country: str) -> None:
        self.country = country
        self.local: Any = None  # a repeating tones.Tone
        self.beep: Any = None  # a one-shot tone

    def play(self, name: str) -> None:
        if name == "ringback":
            self.local = tones.ringback(self.country)
        elif name == "busy":
            self.local = tones.busy(self.country)
        elif name == "confirm":
            self.beep = tones.confirmation()
        else:
            raise ValueError(f"unknown tone {name!r}")

    def stop(self) -> None:
        self.local = None

    @property
    def active(self) -> bool:
        return self.local is not None or self.beep is not None

    def frames(self) -> tuple[bytes | None, bytes | None]:
        """(for the speaker only, for speaker and microphone) for the next 20 ms."""
        local = self.local.read(160) if self.local is not None else None
        beep = None
        if self.beep is not None:
            beep = self.beep.read(160)
            if self.beep.done:
                self.beep = None
        return local, beep


class AudioPump:
    """Every 20 ms: microphone -> RTP, RTP -> speaker, tones mixed in; runs only when needed."""

    def __init__(
        self,
        audio_in: Any,
        audio_out: Any,
        player: TonePlayer,
        now_ms: Callable[[], int],
        after_tick: Callable[[], None],
    ) -> None:
        self.audio_in = audio_in
        self.audio_out = audio_out
        self.player = player
        self.now_ms = now_ms
        self.after_tick = after_tick
        self.media: CallMedia | None = None
        self.speaker_db = -90.0
        self.mic_db = -90.0
        self.ticks = 0
        self.late_ticks = 0
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    def wake(self) -> None:
        """Start ticking if there is something to do (idempotent)."""
        if not self.running and self._has_work():
            self._task = asyncio.get_running_loop().create_task(self._run())

    def _has_work(self) -> bool:
        return self.player.active or (self.media is not None and self.media.stream is not None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while self._has_work():
            self.tick()
            next_at += FRAME_MS / 1000
            delay = next_at - loop.time()
            if delay < -0.1:  # more than 5 frames behind (a stalled loop): start a new schedule
                self.late_ticks += 1
                next_at = loop.time()
                delay = 0
            await asyncio.sleep(delay)

    def tick(self) -> None:
        now = self.now_ms()
        self.ticks += 1
        mic = self.audio_in.read() if self.audio_in is not None else None
        if mic is None:
            mic = SILENCE
        local, beep = self.player.frames()
        stream = self.media.stream if self.media is not None else None
        if stream is not None:
            self.media.send_rtp(stream.push_capture(mix(mic, beep), now))  # type: ignore[union-attr]
            speaker = stream.pull_playout(now)
        else:
            speaker = SILENCE
        speaker = mix(mix(speaker, local), beep)
        if self.audio_out is not None:
            self.audio_out.write(speaker)
        if self.ticks % 10 == 0:
            self.speaker_db = level_db(speaker)
            self.mic_db = level_db(mic)
        self.after_tick()

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            self._task = None
