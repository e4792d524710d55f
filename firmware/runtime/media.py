"""RTP/RTCP sockets for calls, and the audio pump: the thread that moves sound between them and
the HAL every 20 ms.

`RtpPorts` hands out RTP/RTCP socket pairs (even RTP port, RTCP on the next) from the configured
range. A `CallMedia` owns one pair and, once the call is answered, the core `MediaStream` that
speaks RTP on it. The `AudioPump` is the media thread. Every 20 ms, on an absolute schedule from
the monotonic clock (never from ALSA blocking: file and null PCMs are unpaced, a USB card
drifts), it reads what arrived on the calls' sockets, moves microphone -> RTP and RTP ->
speaker, and runs the streams' timers (RTCP, inactivity). It ticks only while it has work, a
call with media or a tone to play; idle, it waits on an Event and costs nothing.

Why a thread, and one wake-up per tick: on the asyncio loop the 20 ms path cost 5x baresip's CPU
(a loop turn, a Future and a pass over the station per packet and per tick), and SIP or HTTP
work delayed the next RTP packet. Here the thread wakes once per 20 ms and the asyncio loop only
when a stream has events for it (a DTMF digit, a timeout), through `call_soon_threadsafe`. The
packets read at a tick keep their true arrival times: the kernel stamps each one as it arrives
(SO_TIMESTAMPNS), and the jitter buffer measures the network's jitter from those.

On Linux setup.py compiles this module with media.pxd: the classes' state is in C fields and a
tick calls the stream and the socket pair as C functions, with no interpreter in between (after
each 20 ms sleep that cold interpreter work cost more than the pump's own code; figures in
docs/benchmarks.md). The source is the same; elsewhere it runs as Python.

Threads: the asyncio loop thread does SIP, HTTP and the door (the relay, LEDs and buttons stay
there: nothing here touches them). The pump's thread and the loop share the streams, the sockets
and the pump's call list; every use of them holds `AudioPump.lock` on either side (the core's
MediaStream is plain single-threaded code, and with the lock it only ever sees one thread at a
time). The loop never holds the lock for long (a start, a stats() copy, a close), so a tick
waits at most that long. The HAL audio devices are used by the pump's thread only (read, write)
and closed after `AudioPump.stop()` has joined it.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import logging
import math
import random
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from time import monotonic, monotonic_ns, sleep, time_ns
from typing import Any

from firmware.core import media as core_media
from firmware.core import tones
from firmware.core.media import MediaStream
from firmware.runtime import datagrams
from firmware.runtime.datagrams import RTCP, RTP, SO_TIMESTAMPNS

try:  # the C module: in the standard library up to 3.12, the audioop-lts package from 3.13
    import audioop
except ImportError:  # pragma: no cover - audioop-lts is a dependency on 3.13+
    audioop = None  # type: ignore[assignment]

log = logging.getLogger("intercom.media")

# Whether setup.py's Cython builds are what runs (see setup.py): the core's media path, this
# module (the pump, with media.pxd), and the pump's socket work (datagrams.py).
MEDIA_CORE = "Python" if core_media.__file__.endswith(".py") else "compiled"
AUDIO_PUMP = "Python" if __file__.endswith(".py") else "compiled"
SOCKET_IO = datagrams.IMPLEMENTATION
# For --version and the start-up log: e.g. "compiled: media core, audio pump, RTP sockets".
_COMPILED = [
    name
    for name, how in (
        ("media core", MEDIA_CORE),
        ("audio pump", AUDIO_PUMP),
        ("RTP sockets", SOCKET_IO),
    )
    if how == "compiled"
]
BUILD = "compiled: " + ", ".join(_COMPILED) if _COMPILED else "all Python"

FRAME_MS = 20
FRAME_TIME_S = FRAME_MS / 1000
FRAME_BYTES = 320
SILENCE = bytes(FRAME_BYTES)
MAX_LATE_S = 0.1  # a tick this late (5 frames: a stalled process) starts a new schedule
MAX_DATAGRAMS_PER_TICK = 64  # per socket: a flood cannot hold the lock for long
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


def source_module() -> Any:
    """A second copy of this module, run from its source by the interpreter, beside setup.py's
    build of it: what boards and macOS run, for the tests and bench_pump to run too."""
    path = Path(__file__).with_name("media.py")
    spec = importlib.util.spec_from_file_location("firmware.runtime.media_source", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _monotonic_ms() -> int:
    return int(monotonic() * 1000)  # the clock of the asyncio loop's time(), in ms


class RtpPorts:
    """Socket pairs from a port range: RTP on an even port, RTCP on the next one."""

    def __init__(self, host: str, low: int, high: int) -> None:
        self.host = host
        self.low = low + (low & 1)
        self.high = high
        self._next = self.low
        # Linux switches its receive stamps on lazily (deferred work) when the first socket asks
        # and off when the last one closes; a datagram that arrives meanwhile is stamped when it
        # is read. This socket keeps them on, so a call's first packets get true arrival times.
        self._stamps_on: socket.socket | None = None
        if SO_TIMESTAMPNS is not None:
            self._stamps_on = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self._stamps_on.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)

    def close(self) -> None:
        if self._stamps_on is not None:
            self._stamps_on.close()
            self._stamps_on = None

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
                    if SO_TIMESTAMPNS is not None:
                        sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
                    sock.bind((self.host, port + offset))
            except OSError:
                for sock in pair:
                    sock.close()
                continue
            return pair[0], pair[1], port
        raise OSError(f"no free RTP port pair in {self.low}-{self.high}")


class CallMedia:
    """The RTP side of one call: its socket pair and, once answered, its MediaStream.

    The loop thread starts, asks and closes it (the public methods); the pump's thread receives,
    sends and runs the timers (the `pump_` methods, called with the lock held). `stream` is set
    once, on the loop thread; read it there only to test for None.
    """

    def __init__(self, call_id: str, lock: threading.Lock) -> None:
        self.call_id = call_id
        self.lock = lock  # the pump's
        self.stream: MediaStream | None = None
        self.rtp: socket.socket | None = None
        self.rtcp: socket.socket | None = None
        self.port = 0
        self._sockets: Any = None  # a datagrams.SocketPair of the two, while they are open

    # -- the loop thread ---------------------------------------------------------------------
    def open(self, ports: RtpPorts) -> int:
        """Bind the socket pair now; the port to put in SDP. OSError if no pair is free."""
        self.rtp, self.rtcp, self.port = ports.open_pair()
        self._sockets = datagrams.SocketPair(self.rtp, self.rtcp)
        return self.port

    def start(self, params: Any, now_ms: int, inactivity_ms: int, jitter_min_ms: int) -> None:
        with self.lock:
            if self.stream is not None:
                self.stream.update(params, now_ms)
                return
            for channel in (RTP, RTCP):  # what came before the answer: never played
                while _receive(self._sockets, channel, 0, 0):
                    pass
            self.stream = MediaStream(
                params,
                random.SystemRandom(),
                now_ms,
                inactivity_timeout_ms=inactivity_ms,
                jitter_min_ms=jitter_min_ms,
                # The tone detector is a third of a tick's CPU: only when the peer cannot send
                # RFC 4733 events (one that offers them and still sends tones is not heard).
                detect_inband_dtmf=params.dtmf_payload_type is None,
            )

    def receive_info(self, content_type: str, body: bytes, now_ms: int) -> None:
        """A SIP INFO DTMF body; ValueError (dtmf.DtmfError) for one we cannot read."""
        with self.lock:
            if self.stream is not None:
                self.stream.receive_info(content_type, body, now_ms)

    def send_dtmf(self, digits: str, now_ms: int) -> None:
        """Queue digits to send (RFC 4733 or in-band, as negotiated); ValueError for a non-digit."""
        with self.lock:
            if self.stream is not None:
                self.stream.send_dtmf(digits, now_ms)

    def stats(self) -> dict[str, Any] | None:
        with self.lock:
            return self.stream.stats() if self.stream is not None else None

    def take_events(self) -> list[Any]:
        """The stream's events (DTMF, timeout, address learned, ...) since the last call."""
        with self.lock:
            events: list[Any] = []
            if self.stream is not None:
                while (event := self.stream.next_event()) is not None:
                    events.append(event)
            return events

    def close(self, now_ms: int) -> None:
        """Send the RTCP BYE and close the sockets (after `AudioPump.remove`)."""
        with self.lock:
            if self.stream is not None:
                self.stream.close(now_ms)
                self.pump_send_rtcp()
            for sock in (self.rtp, self.rtcp):
                if sock is not None:
                    sock.close()
            self.rtp = self.rtcp = self._sockets = None

    # -- the pump's thread, lock held ---------------------------------------------------------
    def pump_receive(self, now_ms: int, clock_offset_ns: int) -> None:
        """Hand what arrived since the last tick to the stream, with its arrival times.

        Rounds of one datagram from each socket that has one (RTP first), at most
        MAX_DATAGRAMS_PER_TICK rounds."""
        stream = self.stream
        sockets = self._sockets
        if stream is None or sockets is None:
            return
        for _ in range(MAX_DATAGRAMS_PER_TICK):
            waiting = sockets.waiting()
            if not waiting:
                return
            if waiting & (1 << RTP):
                datagram = _receive(sockets, RTP, now_ms, clock_offset_ns)
                if datagram is not None:
                    stream.receive_rtp(datagram[0], datagram[1], datagram[2])
            if waiting & (1 << RTCP):
                datagram = _receive(sockets, RTCP, now_ms, clock_offset_ns)
                if datagram is not None:
                    stream.receive_rtcp(datagram[0], datagram[1], datagram[2])

    def pump_send_rtp(self, packets: list[tuple[bytes, Addr]]) -> None:
        _send(self._sockets, RTP, packets)

    def pump_send_rtcp(self) -> None:
        if self.stream is not None:
            _send(self._sockets, RTCP, self.stream.datagrams_to_send())

    def pump_timers(self, now_ms: int) -> None:
        """RTCP reports and the inactivity timeout of the stream, when due."""
        stream = self.stream
        if stream is None:
            return
        deadline = stream.next_deadline()
        if deadline is not None and deadline <= now_ms:
            stream.handle_timer(now_ms)
            self.pump_send_rtcp()


def _receive(
    sockets: Any, channel: int, now_ms: int, clock_offset_ns: int
) -> tuple[bytes, Addr, int] | None:
    """One waiting datagram of the channel as (data, addr, arrival in monotonic ms), or None.

    clock_offset_ns is monotonic minus real time: it turns the kernel's stamp into our clock."""
    try:
        datagram = sockets.receive(channel)
    except OSError as exc:  # an ICMP error reported on the socket
        log.debug("RTP socket error: %s", exc)
        return None
    if datagram is None:
        return None
    data, addr, stamp = datagram
    arrived_ms = now_ms
    if stamp:
        stamp_ms = (stamp + clock_offset_ns) // 1_000_000
        # Bounded: a step of the real-time clock since the arrival must not reorder time.
        if stamp_ms < now_ms:
            arrived_ms = stamp_ms if stamp_ms > now_ms - 1000 else now_ms - 1000
    return data, addr, arrived_ms


def _send(sockets: Any, channel: int, packets: list[tuple[bytes, Addr]]) -> None:
    if sockets is None:  # closed: the call is over
        return
    for data, addr in packets:
        try:
            sockets.send(channel, data, addr)
        except OSError as exc:  # a full send buffer or an unreachable peer: RTP is never late
            log.debug("RTP send to %s failed: %s", addr, exc)


class TonePlayer:
    """The tone the door speaker plays locally (ringback, busy) and the one-shot confirmation
    beep, which is mixed into both the speaker and the microphone (so the flat hears it too).

    play() and stop() come from the loop thread, frames() from the pump's: its own lock keeps
    a tone from being replaced halfway through a frame."""

    def __init__(self, country: str) -> None:
        self.country = country
        self.local: Any = None  # a repeating tones.Tone
        self.beep: Any = None  # a one-shot tone
        self._lock = threading.Lock()

    def play(self, name: str) -> None:
        with self._lock:
            if name == "ringback":
                self.local = tones.ringback(self.country)
            elif name == "busy":
                self.local = tones.busy(self.country)
            elif name == "confirm":
                self.beep = tones.confirmation()
            else:
                raise ValueError(f"unknown tone {name!r}")

    def stop(self) -> None:
        with self._lock:
            self.local = None

    def is_playing(self) -> bool:
        """A tone or a beep to play. A method, not a property: the compiled pump calls it as a C
        function every tick."""
        return self.local is not None or self.beep is not None

    def frames(self) -> tuple[bytes | None, bytes | None]:
        """(for the speaker only, for speaker and microphone) for the next 20 ms."""
        with self._lock:
            local = self.local.read(160) if self.local is not None else None
            beep = None
            if self.beep is not None:
                beep = self.beep.read(160)
                if self.beep.done:
                    self.beep = None
            return local, beep


class AudioPump:
    """The media thread: every 20 ms what arrived -> the streams, microphone -> RTP, RTP ->
    speaker, tones mixed in, the streams' timers. Ticks only while there is a call with media or
    a tone; `on_events` runs on the loop when a stream has events for it.

    Besides what `lock` guards, the loop reads `running`, `ticks`, `late_ticks`, `speaker_db`
    and `mic_db` without it (each one value, written whole: at worst a tick old) and assigns
    `media` and `audio_in`, which a tick reads once at its start."""

    def __init__(
        self, audio_in: Any, audio_out: Any, player: TonePlayer, on_events: Callable[[], None]
    ) -> None:
        self.audio_in = audio_in  # may be swapped by the loop (the emulator's microphone)
        self.audio_out = audio_out
        self.player = player
        self.on_events = on_events
        self.lock = threading.Lock()
        self.media: CallMedia | None = None  # the call the speaker and microphone belong to
        self.speaker_db = -90.0
        self.mic_db = -90.0
        self.ticks = 0
        self.late_ticks = 0
        self._calls: list[CallMedia] = []  # every call with sockets: received, timed
        self._wakeup = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._failed = False  # a tick raised: no ticking until the next wake()
        self._next_tick: float | None = None  # monotonic s; None while idle
        self._events_posted = False

    @property
    def running(self) -> bool:
        """Ticking (a call with media or a tone)."""
        return self._next_tick is not None

    # -- the loop thread ---------------------------------------------------------------------
    def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._thread = threading.Thread(target=self._run, name="audio-pump", daemon=True)
        self._thread.start()

    def add(self, media: CallMedia) -> None:
        """Read the call's sockets from now on (once its stream has started)."""
        with self.lock:
            self._calls.append(media)

    def remove(self, media: CallMedia) -> None:
        """Stop using the call (before it closes its sockets)."""
        with self.lock:
            if media in self._calls:
                self._calls.remove(media)
            if self.media is media:
                self.media = None

    def wake(self) -> None:
        """Look for work again (a stream started, a tone to play); idempotent."""
        with self.lock:
            self._failed = False
        self._wakeup.set()

    def stop(self) -> None:
        """End the thread and wait for it (then the HAL may close the audio devices)."""
        with self.lock:
            self._stopping = True
        self._wakeup.set()
        if self._thread is not None:  # at most a tick's sleep away
            self._thread.join(timeout=5)
            self._thread = None

    def _deliver_events(self) -> None:
        # Cleared before on_events() drains: an event queued after the drain posts again.
        self._events_posted = False
        self.on_events()

    # -- the pump's thread -------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            with self.lock:
                if self._stopping:
                    return
                delay = self._tick_if_due()
            if delay is not None:
                sleep(delay)  # ticking: new work is seen at the next tick, 20 ms at most
                continue
            # Idle until wake(). Whoever adds work changes the state before set(), so a wake-up
            # between the check above and this wait returns at once, and clear() then loses
            # nothing: the check runs again before the next wait.
            self._wakeup.wait()
            self._wakeup.clear()

    def _has_work(self) -> bool:
        if self.player.is_playing():
            return True
        for media in self._calls:  # noqa: SIM110 - no generator to build every tick
            if media.stream is not None:
                return True
        return False

    def _tick_if_due(self) -> float | None:
        """Tick when the schedule says so; seconds until the next tick (None: idle)."""
        if self._failed or not self._has_work():
            self._next_tick = None
            return None
        now = monotonic()
        next_tick = self._next_tick
        if next_tick is None:
            next_tick = now  # the first tick at once
        if now >= next_tick:
            try:
                self.tick(now)
            except Exception:
                log.exception("media: the audio tick failed; stopped until the next call or tone")
                self._failed = True
                self._next_tick = None
                return None
            self._post_events()
            # An absolute schedule: no drift, and a tick a little late is caught up at once.
            next_tick += FRAME_TIME_S
            if next_tick < now - MAX_LATE_S:
                self.late_ticks += 1
                next_tick = now
        self._next_tick = next_tick
        delay = next_tick - monotonic()
        return delay if delay > 0.0 else 0.0

    def tick(self, now: float) -> None:
        """One 20 ms frame at monotonic time `now` (the pump's thread, lock held)."""
        now_ms = int(now * 1000)
        clock_offset_ns = monotonic_ns() - time_ns()
        for call in self._calls:
            call.pump_receive(now_ms, clock_offset_ns)
        self.ticks += 1
        audio_in = self.audio_in
        mic = audio_in.read() if audio_in is not None else None
        if mic is None:
            mic = SILENCE
        # frames() takes the player's lock: only when a tone plays (mostly none in a call).
        local, beep = self.player.frames() if self.player.is_playing() else (None, None)
        media = self.media
        stream = media.stream if media is not None else None
        if media is not None and stream is not None:
            sound = mic if beep is None else mix(mic, beep)
            media.pump_send_rtp(stream.push_capture(sound, now_ms))
            speaker = stream.pull_playout(now_ms)
        else:
            speaker = SILENCE
        if local is not None or beep is not None:  # mostly neither during a call
            speaker = mix(mix(speaker, local), beep)
        if self.audio_out is not None:
            self.audio_out.write(speaker)
        if self.ticks % 10 == 0:
            self.speaker_db = level_db(speaker)
            self.mic_db = level_db(mic)
        for call in self._calls:
            call.pump_timers(now_ms)

    def _post_events(self) -> None:
        """Wake the loop (once until it has run) when a stream has events for it."""
        if self._events_posted or self._loop is None:
            return
        for media in self._calls:
            if media.stream is not None and media.stream.has_output():
                self._events_posted = True
                with contextlib.suppress(RuntimeError):  # the loop is closed: the process ends
                    self._loop.call_soon_threadsafe(self._deliver_events)
                return
