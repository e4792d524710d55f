"""A SIP station on asyncio: the core's user agent with its transports, one timer, the calls'
RTP sockets and media streams, and the 20 ms audio pump.

The door firmware (app.py) and the emulator's flat phone (flat.py) are both stations. After every
input (a datagram, a timer, a command, events from the media streams) `process()` sends what the
core produced, hands events to `on_agent_event` / `on_media_event`, lets the subclass run its own
commands (`step`), and arms ONE timer at the earliest deadline. The media streams live on the
audio pump's thread (see media.py): it runs their timers and calls `process()` on the loop when
they have events; here they are only started, asked and closed, through `CallMedia`.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import re
from collections.abc import Callable
from typing import Any

from firmware.core.md5 import md5_hex
from firmware.core.sip.agent import AgentConfig, UserAgent
from firmware.runtime.media import AudioPump, CallMedia, RtpPorts, TonePlayer
from firmware.runtime.transport import SipTransport

log = logging.getLogger("intercom")

Addr = tuple[str, int]
Tracer = Callable[[str, bytes, Addr], None]

# CPython's C hashes; a MicroPython build injects firmware.core.md5 instead.
HASHES = {
    "MD5": lambda data: hashlib.md5(data).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
    "SHA-512-256": lambda data: hashlib.new("sha512_256", data).hexdigest(),
}
assert HASHES["MD5"](b"abc") == md5_hex(b"abc")

_CALL_ID_RE = re.compile(rb"^(?:Call-ID|i)[ \t]*:[ \t]*(\S+)", re.IGNORECASE | re.MULTILINE)
_CSEQ_RE = re.compile(rb"^CSeq[ \t]*:[ \t]*\d+[ \t]+(\S+)", re.IGNORECASE | re.MULTILINE)


def describe(data: bytes) -> tuple[str, str]:
    """(label, call_id) of a SIP message for traces: `INVITE`, `180 Ringing (INVITE)`."""
    first = data.split(b"\r\n", 1)[0].decode("utf-8", "replace")
    if first.startswith("SIP/2.0 "):
        label = first[8:]
        cseq = _CSEQ_RE.search(data)
        if cseq:
            label += " (" + cseq.group(1).decode("utf-8", "replace") + ")"
    else:
        label = first.split(" ", 1)[0]
    match = _CALL_ID_RE.search(data)
    return label, match.group(1).decode("utf-8", "replace") if match else ""


class Station:
    def __init__(self, rng: random.Random | None = None) -> None:
        self.rng = rng or random.SystemRandom()
        self.loop: asyncio.AbstractEventLoop | None = None
        self.agent: UserAgent | None = None
        self.sip: SipTransport | None = None
        self.pump: AudioPump | None = None
        self.rtp_ports: RtpPorts | None = None
        self.calls: dict[str, CallMedia] = {}
        self.active_call: str | None = None
        self.local_addr: Addr | None = None
        self.tracers: list[Tracer] = []
        self.inactivity_ms = 30000
        self.jitter_min_ms = 20
        self._timer: asyncio.TimerHandle | None = None
        self._processing = False

    def now_ms(self) -> int:
        assert self.loop is not None
        return int(self.loop.time() * 1000)

    async def start_station(
        self,
        bind: Addr,
        advertised_host: str,
        rtp_range: tuple[int, int],
        agent_options: dict[str, Any],
        audio_in: Any,
        audio_out: Any,
        tones_country: str = "eu",
    ) -> None:
        """Bind SIP (UDP+TCP) and build the agent, the RTP port pool and the audio pump."""
        self.loop = asyncio.get_running_loop()
        self.sip = SipTransport(self._on_datagram, self._on_send_failed, self._on_connection_lost)
        bound = await self.sip.start(*bind)
        self.local_addr = (advertised_host, bound[1])
        self.agent = UserAgent(
            AgentConfig(self.local_addr, **agent_options), self.rng, HASHES, self.now_ms()
        )
        self.rtp_ports = RtpPorts(bind[0], *rtp_range)
        self.pump = AudioPump(audio_in, audio_out, TonePlayer(tones_country), self.process)
        self.pump.start()

    async def stop_station(self) -> None:
        for call_id in list(self.calls):
            self.close_media(call_id)
        if self.pump is not None:
            self.pump.stop()
        if self.rtp_ports is not None:
            self.rtp_ports.close()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self.sip is not None:
            await self.sip.close()

    # -- hooks for subclasses ----------------------------------------------------------------
    def on_agent_event(self, event: Any, now: int) -> None:
        raise NotImplementedError

    def on_media_event(self, media: CallMedia, event: Any, now: int) -> None:
        raise NotImplementedError

    def step(self, now: int) -> bool:
        """Run the subclass's own pending commands; True if anything happened."""
        return False

    def deadlines(self) -> list[int | None]:
        """The subclass's own deadlines (besides the agent's and the media streams')."""
        return []

    def on_timer(self, now: int) -> None:
        """The subclass's own timers are due."""

    # -- driving the core --------------------------------------------------------------------
    def _on_datagram(self, data: bytes, addr: Addr, transport: str) -> None:
        assert self.agent is not None
        for tracer in self.tracers:
            tracer("in", data, addr)
        self.agent.receive(data, addr, self.now_ms(), transport)
        self.process()

    def _on_connection_lost(self, addr: Addr, transport: str) -> None:
        """A TCP connection closed: if our registration lives on it, the agent registers again."""
        if self.agent is not None:
            self.agent.connection_lost(addr, transport, self.now_ms())
            self.process()

    def _on_send_failed(self, addr: Addr, transport: str) -> None:
        """A send could not be done (DNS, TCP refused): the transactions to addr fail now."""
        if self.agent is None:
            return
        self.agent.transport_failed(addr, transport, self.now_ms())
        self.process()

    def agent_send(self, command: Any) -> Any:
        """Send a command to the agent (it raises on misuse, e.g. an unknown call)."""
        assert self.agent is not None
        result = self.agent.send(command, self.now_ms())
        self.process()
        return result

    def _on_timer(self) -> None:
        self._timer = None
        now = self.now_ms()
        assert self.agent is not None
        self.agent.handle_timer(now)
        self.on_timer(now)
        self.process()

    def process(self) -> None:
        """Move everything the core produced, until nothing moves; then arm the timer."""
        if self._processing:
            return  # re-entered from a callback: the running pass picks it up
        self._processing = True
        try:
            for _ in range(1000):
                if not self._process_once():
                    break
        finally:
            self._processing = False
        self._arm_timer()

    def _process_once(self) -> bool:
        agent, sip = self.agent, self.sip
        assert agent is not None and sip is not None
        now = self.now_ms()
        moved = False
        for data, addr, transport in agent.datagrams_to_send():
            for tracer in self.tracers:
                tracer("out", data, addr)
            sip.send(data, addr, transport)
        while (event := agent.next_event()) is not None:
            moved = True
            self.on_agent_event(event, now)
        for media in list(self.calls.values()):
            for media_event in media.take_events():
                moved = True
                self.on_media_event(media, media_event, now)
        return self.step(now) or moved

    def _arm_timer(self) -> None:
        if self.loop is None or self.agent is None:
            return
        deadlines = [self.agent.next_deadline(), *self.deadlines()]  # media: the pump's thread
        due = min((d for d in deadlines if d is not None), default=None)
        if self._timer is not None:
            if due is not None and abs(self._timer.when() * 1000 - due) < 1:
                return
            self._timer.cancel()
            self._timer = None
        if due is not None:
            self._timer = self.loop.call_at(due / 1000, self._on_timer)

    # -- media -------------------------------------------------------------------------------
    def open_media(self, call_id: str) -> Addr:
        """Bind the call's RTP/RTCP sockets now; the (host, port) to put in SDP. OSError if none."""
        assert self.rtp_ports is not None and self.local_addr is not None
        assert self.pump is not None
        media = CallMedia(call_id, self.pump.lock)
        port = media.open(self.rtp_ports)
        self.pump.add(media)
        self.calls[call_id] = media
        return (self.local_addr[0], port)

    def start_media(self, call_id: str, params: Any, now: int) -> None:
        media = self.calls.get(call_id)
        if media is None or params is None:
            log.warning("call %s: no media to start", call_id)
            return
        media.start(params, now, self.inactivity_ms, self.jitter_min_ms)
        self.active_call = call_id
        assert self.pump is not None
        self.pump.media = media
        self.pump.wake()

    def close_media(self, call_id: str) -> dict[str, Any] | None:
        """Close the call's media; returns its final statistics (None if it never started)."""
        media = self.calls.pop(call_id, None)
        if media is None:
            return None
        stats = media.stats()
        if self.pump is not None:
            self.pump.remove(media)
        media.close(self.now_ms())
        if self.active_call == call_id:
            self.active_call = None
        return stats

    def active_stats(self) -> dict[str, Any] | None:
        media = self.calls.get(self.active_call) if self.active_call else None
        return media.stats() if media is not None else None
