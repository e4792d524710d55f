"""A flat's phone built from the same core: the emulator's call target and the runtime tests' peer.

It registers nowhere (peer-to-peer on loopback), rings on an incoming call, answers when told (or
by itself), plays a sound source as its microphone, keeps what it hears, sends DTMF by RFC 4733
and can call the door. State changes are reported to `on_change(state)`.
"""

from __future__ import annotations

import logging
import math
import random
from collections.abc import Callable
from typing import Any

from firmware.core import tones
from firmware.core.media import DtmfReceived
from firmware.core.sip import events as sip_events
from firmware.runtime.media import FRAME_BYTES, SILENCE, level_db
from firmware.runtime.station import Addr, Station

log = logging.getLogger("intercom.flat")

IDLE, RINGING, CALLING, IN_CALL = "IDLE", "RINGING", "CALLING", "IN_CALL"


class FrameSource:
    """A microphone made of PCM: loops over `pcm` (20 ms per read), or silence when empty."""

    def __init__(self, pcm: bytes = b"") -> None:
        self.pcm = pcm
        self._offset = 0
        self.xruns = 0

    def read(self) -> bytes:
        if not self.pcm:
            return SILENCE
        frame = self.pcm[self._offset : self._offset + FRAME_BYTES]
        self._offset += FRAME_BYTES
        if len(frame) < FRAME_BYTES:
            self._offset = FRAME_BYTES - len(frame)
            frame += self.pcm[: self._offset]
        return frame

    def close(self) -> None:
        pass


class FrameRecorder:
    """A speaker that keeps the last `max_s` seconds of what it played, and its level."""

    def __init__(self, max_s: float = 120) -> None:
        self.max_bytes = int(max_s * 8000) * 2
        self.pcm = bytearray()
        self.level_db = -90.0
        self.xruns = 0
        self.dropped = 0
        self._frames = 0

    def write(self, frame: bytes) -> bool:
        self.pcm += frame
        if len(self.pcm) > self.max_bytes:
            del self.pcm[: len(self.pcm) - self.max_bytes]
        self._frames += 1
        if self._frames % 10 == 0:
            self.level_db = level_db(frame)
        return True

    def close(self) -> None:
        pass


def tone_pcm(frequency_hz: float, seconds: float = 1.0, level_dbm0: float = -12) -> bytes:
    """A steady sine (a whole number of periods, so it loops without a click)."""
    samples = int(8000 * seconds)
    period = 8000 / math.gcd(8000, int(frequency_hz))
    samples -= samples % int(period)
    pcm: bytes = tones.render([(frequency_hz, level_dbm0)], 0, samples)
    return pcm


class FlatPhone(Station):
    def __init__(
        self,
        user: str = "flat",
        auto_answer: bool = False,
        door_code: str = "1234#",
        microphone: FrameSource | None = None,
        rng: random.Random | None = None,
        on_change: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(rng)
        self.user = user
        self.auto_answer = auto_answer
        self.door_code = door_code
        self.microphone = microphone or FrameSource()
        self.speaker = FrameRecorder()
        self.on_change = on_change or (lambda state: None)
        self.state = IDLE
        self.call_id: str | None = None
        self.peer: str | None = None
        self.dtmf_received: list[str] = []
        self.ended: list[tuple[str, str]] = []  # (call_id, reason) of finished calls

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, rtp_range: tuple[int, int] = (40000, 40999)
    ) -> Addr:
        await self.start_station(
            (host, port),
            host,
            rtp_range,
            {"user": self.user, "domain": host},
            self.microphone,
            self.speaker,
        )
        assert self.local_addr is not None
        return self.local_addr

    async def stop(self) -> None:
        if self.call_id is not None and self.agent is not None:
            self.hangup()
        await self.stop_station()

    @property
    def uri(self) -> str:
        assert self.local_addr is not None
        return f"sip:{self.user}@{self.local_addr[0]}:{self.local_addr[1]}"

    def _set_state(self, state: str) -> None:
        if state != self.state:
            self.state = state
            self.on_change(state)

    # -- controls ----------------------------------------------------------------------------
    def answer(self) -> bool:
        if self.state != RINGING or self.call_id is None:
            return False
        rtp_addr = self.open_media(self.call_id)
        self.agent_send(sip_events.Answer(self.call_id, rtp_addr))
        return True

    def hangup(self) -> bool:
        if self.call_id is None:
            return False
        try:
            self.agent_send(sip_events.Hangup(self.call_id))
        except ValueError as exc:
            log.info("hangup: %s", exc)
        return True

    def send_dtmf(self, digits: str) -> bool:
        media = self.calls.get(self.call_id) if self.call_id else None
        if media is None or media.stream is None:
            return False
        media.send_dtmf(digits, self.now_ms())
        return True

    def open_door(self) -> bool:
        return self.send_dtmf(self.door_code)

    def call(self, target: str) -> bool:
        if self.state != IDLE:
            return False
        call_id = f"{self.rng.getrandbits(64):016x}"
        rtp_addr = self.open_media(call_id)
        self.call_id = self.agent_send(sip_events.PlaceCall(target, rtp_addr, call_id))
        self.peer = target
        self._set_state(CALLING)
        return True

    # -- the station's hooks -----------------------------------------------------------------
    def on_agent_event(self, event: Any, now: int) -> None:
        if isinstance(event, sip_events.IncomingCall):
            if self.call_id is not None:
                self.agent_send(sip_events.Reject(event.call_id, 486))
                return
            self.call_id = event.call_id
            self.peer = event.caller
            self.agent_send(sip_events.Ring(event.call_id))
            self._set_state(RINGING)
            if self.auto_answer:
                self.answer()
        elif isinstance(event, sip_events.CallAnswered | sip_events.CallMediaChanged):
            if event.call_id == self.call_id:
                self.start_media(event.call_id, event.media, now)
                self._set_state(IN_CALL)
        elif isinstance(event, sip_events.CallEnded):
            self.close_media(event.call_id)
            if event.call_id == self.call_id:
                self.ended.append((event.call_id, event.reason))
                self.call_id = None
                self.peer = None
                self._set_state(IDLE)

    def on_media_event(self, media: Any, event: Any, now: int) -> None:
        if isinstance(event, DtmfReceived):
            self.dtmf_received.append(event.digit)
