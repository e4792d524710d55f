"""The firmware: the core's user agent and door controller wired to sockets, the HAL and HTTP.

The agent and the door are driven from the asyncio loop with `now_ms` from the loop's monotonic
clock. After every input (a datagram, a HAL event, an HTTP action, a timer, events the media
thread posts) `_process()` sends what the core produced, hands events on, runs commands, and
arms ONE timer at the earliest deadline of the agent and the door. The call's media stream runs
on the audio pump's thread (see firmware/runtime/media.py).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import ctypes
import ipaddress
import logging
import random
import re
import signal
import socket
import time
from collections.abc import Callable
from typing import Any

from firmware import __version__
from firmware.core import door as door_core
from firmware.core.media import DtmfReceived, MediaTimedOut
from firmware.core.sip import events as sip_events
from firmware.runtime import http_api, httpd
from firmware.runtime.config import Config, parse_host_port
from firmware.runtime.logs import one_line
from firmware.runtime.media import BUILD, CallMedia
from firmware.runtime.sdnotify import Notifier
from firmware.runtime.station import Addr, Station, describe
from hal import LED_PATTERNS, Hal, open_hal, profile_from_config
from hal import events as hal_events

log = logging.getLogger("intercom")


def board_profile(cfg: Config) -> Any:
    """The HAL profile: the config's `board`, its `[hardware]` overrides, and [audio]."""
    hardware = {key: value for key, value in cfg.hardware.items()}
    audio_cfg = cfg["audio"]
    audio = dict(hardware.get("audio", {}))
    if audio_cfg["backend"] == "alsa":
        audio["backend"] = "alsa"
    elif audio_cfg["backend"] == "sim":
        audio["backend"] = "wav"
    if audio_cfg["loopback"]:
        audio["backend"] = "loopback"
    for key in ("capture", "playback"):
        if audio_cfg[key]:
            audio[key] = audio_cfg[key]
    if audio_cfg["mic_file"]:
        audio["microphone_wav"] = audio_cfg["mic_file"]
        audio["microphone_loop"] = True
    if audio_cfg["speaker_file"]:
        audio["speaker_wav"] = audio_cfg["speaker_file"]
    if audio:
        hardware["audio"] = audio
    hardware["profile"] = cfg.board
    return profile_from_config(hardware)


def _local_ip_towards(host: str) -> str:
    """The address this machine uses to reach host (a routing lookup: nothing is sent)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect((host, 9))
        return str(probe.getsockname()[0])


class EventBus:
    """The last events (for /api/status) and the live subscribers of /api/events."""

    def __init__(self, keep: int = 100) -> None:
        self.recent: collections.deque[dict[str, Any]] = collections.deque(maxlen=keep)
        self.subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self.t0 = time.monotonic()

    def publish(self, kind: str, **fields: Any) -> dict[str, Any]:
        event = {"type": kind, "t_ms": int((time.monotonic() - self.t0) * 1000), **fields}
        if kind not in ("level", "sip"):
            self.recent.append(event)
        for queue in list(self.subscribers):
            if queue.qsize() < 500:  # a stalled client loses events, not memory
                queue.put_nowait(event)
        return event

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.subscribers.add(queue)
        return queue

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self.subscribers.discard(queue)


def _release_free_heap() -> None:
    """Give the heap that start-up left free back to the system, once the firmware is up.

    Importing and compiling (the SIP regexes, the config, the HTTP server) free about 1.5 MB that
    glibc would otherwise keep for the life of the process, a twentieth of its RSS. Where the C
    library has no malloc_trim (musl, macOS) this does nothing."""
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return
    trim(0)


class Firmware(Station):
    """One door: the station plus the door controller, the HAL and the HTTP API."""

    def __init__(self, cfg: Config, rng: random.Random | None = None) -> None:
        super().__init__(rng)
        self.cfg = cfg
        self.bus = EventBus()
        self.notifier = Notifier()
        self.peer_names: dict[Addr, str] = {}
        self.hal: Hal | None = None
        self.door: door_core.DoorController | None = None
        self.api_addr: Addr | None = None
        self.registration: dict[str, Any] = {"state": "DISABLED"}
        self.last_stats: dict[str, Any] | None = None
        self.inactivity_ms = cfg["call"]["inactivity_timeout_s"] * 1000
        self.jitter_min_ms = cfg["audio"]["jitter_min_ms"]
        self._relay_watchdog: asyncio.TimerHandle | None = None
        self._http: httpd.Server | None = None
        self._stopped = asyncio.Event()
        self._ignored: dict[str, str] = {}
        self._started_ms = 0
        self._door_state = ""
        self.tracers.append(self._trace)

    # -- start and stop ----------------------------------------------------------------------
    async def start(self, extra_routes: list[httpd.Route] | None = None) -> None:
        cfg = self.cfg
        loop = asyncio.get_running_loop()
        self.hal = open_hal(board_profile(cfg), loop, self._on_hal_event)
        try:
            await self._start_sip()
            now = self.now_ms()
            self._started_ms = now
            self.door = door_core.DoorController(cfg.values, self.rng, now)
            for name, led in self.hal.leds.items():
                if name != "door":
                    led.show(LED_PATTERNS["IDLE"])
            if cfg["sip"]["register"]:
                self.agent_send(sip_events.Register())
            else:
                self.door.handle(
                    sip_events.RegistrationChanged("DISABLED", None, "no registrar"), now
                )
            self.process()
            await self._start_http(extra_routes)
        except BaseException:
            await self.stop_station()
            self.hal.close()
            raise
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        self.notifier.ready(f"SIP on {_fmt_addr(self.local_addr)}")
        self.notifier.start_watchdog(loop)
        log.info(
            "intercom %s up: SIP %s/%s, API http://%s, board %s, %s",
            __version__,
            _fmt_addr(self.local_addr),
            cfg["sip"]["transport"],
            _fmt_addr(self.api_addr),
            cfg.board,
            BUILD,
        )
        _release_free_heap()

    async def _start_sip(self) -> None:
        sip, audio = self.cfg["sip"], self.cfg["audio"]
        host, port = parse_host_port(sip["listen"])
        advertised = sip["public_address"] or host
        if _is_ip(advertised) and ipaddress.ip_address(advertised).is_unspecified:
            advertised = _local_ip_towards(self._first_peer_host())
        registrar = None
        if sip["register"]:
            registrar_addr = parse_host_port(sip["registrar"] or sip["domain"], 5060)
            registrar = f"sip:{_uri_host(registrar_addr[0])}:{registrar_addr[1]}"
            self.peer_names[registrar_addr] = "registrar"
        low, high = (int(part) for part in audio["rtp_ports"].split("-"))
        assert self.hal is not None
        await self.start_station(
            (host, port),
            advertised,
            (low, high),
            {
                "user": sip["user"],
                "domain": sip["domain"],
                "display_name": sip["display_name"] or None,
                "transport": sip["transport"],
                "registrar": registrar,
                "username": sip["auth_user"] or None,
                "password": sip["password"] or None,
                "expires_s": sip["expires"],
                "codecs": audio["codecs"],
            },
            self.hal.audio_in,
            self.hal.audio_out,
            self.cfg["call"]["ringback"],
        )

    def _first_peer_host(self) -> str:
        sip = self.cfg["sip"]
        if sip["register"]:
            return parse_host_port(sip["registrar"] or sip["domain"], 5060)[0]
        for target in self.cfg["call"]["targets"]:
            match = re.match(r"^sips?:(?:[^@]*@)?(\[[^\]]+\]|[^:;>]+)", target)
            if match:
                return match.group(1).strip("[]")
        return "127.0.0.1"

    async def _start_http(self, extra_routes: list[httpd.Route] | None) -> None:
        api = self.cfg["api"]
        host, port = parse_host_port(api["listen"])
        sim = self if self.hal is not None and self.hal.sim is not None else None
        routes = http_api.routes(self, sim) + (extra_routes or [])
        server = httpd.Server(routes, token=api["token"], static=self.panel_dir())
        try:
            self.api_addr = await server.start(host, port)
        except OSError as exc:
            raise OSError(f"HTTP API on {host}:{port}: {exc.strerror} (api.listen)") from None
        self._http = server

    def panel_dir(self) -> Any:
        """The static web panel, when the emulator serves one (see emulator.py)."""
        return None

    def _on_signal(self, sig: int) -> None:
        # Safety first: the strike is locked before anything else happens.
        if self.hal is not None:
            self.hal.all_off()
        log.info("%s: shutting down", signal.Signals(sig).name)
        self.request_stop()

    def request_stop(self) -> None:
        self._stopped.set()

    async def wait_stopped(self) -> None:
        await self._stopped.wait()

    async def stop(self, grace_s: float = 2.0) -> None:
        """Hang up, unregister (bounded wait), close everything, outputs off."""
        self.notifier.stopping()
        if self.hal is not None:
            self.hal.all_off()
        if self.agent is not None:
            with contextlib.suppress(Exception):
                self.agent_send(sip_events.Shutdown())
            deadline = time.monotonic() + grace_s
            while time.monotonic() < deadline and self._sip_busy():
                await asyncio.sleep(0.05)
        await self.stop_station()
        if self._http is not None:
            await self._http.close()  # also ends the event streams
            self._http = None
        if self.loop is not None:
            for sig in (signal.SIGTERM, signal.SIGINT):
                self.loop.remove_signal_handler(sig)
        if self.hal is not None:
            self.hal.close()
        log.info("intercom stopped")

    def _sip_busy(self) -> bool:
        """Still hanging up calls or waiting for the un-REGISTER's answer."""
        return bool(self.calls) or self.registration.get("state") == "UNREGISTERING"

    # -- HAL events --------------------------------------------------------------------------
    def _on_hal_event(self, event: Any) -> None:
        if self.door is None:
            return  # still starting
        now = self.now_ms()
        if isinstance(event, hal_events.ButtonPressed):
            self.bus.publish("log", level="info", text="button pressed")
            self.door.handle(door_core.ButtonPressed(), now)
        elif isinstance(event, hal_events.DoorOpened | hal_events.DoorClosed):
            is_open = isinstance(event, hal_events.DoorOpened)
            self.bus.publish("output", name="door_sensor", value="open" if is_open else "closed")
            self.door.handle(door_core.DoorSensorChanged(is_open), now)
        elif isinstance(event, hal_events.RelaySwitched):
            self._on_relay(event)
        self.process()

    def _on_relay(self, event: Any) -> None:
        assert self.hal is not None and self.loop is not None
        relay = self.hal.relay
        until = relay.off_at_ms if relay is not None and event.energised else None
        self.bus.publish(
            "output",
            name="relay",
            value="on" if event.energised else "off",
            remaining_ms=max(0, int(until - self.now_ms())) if until is not None else 0,
            reason=event.reason,
        )
        log.info("relay %s (%s)", "on" if event.energised else "off", event.reason)
        door_led = self.hal.leds.get("door")
        if door_led is not None:
            pattern = "ON" if event.energised else "OFF"
            door_led.show(LED_PATTERNS[pattern])
            self.bus.publish("output", name="door", value=pattern)
        if self._relay_watchdog is not None:
            self._relay_watchdog.cancel()
            self._relay_watchdog = None
        if until is not None:
            # An independent check after the pulse should have ended: never trust one timer.
            delay_s = max(0, until - self.now_ms()) / 1000 + 0.25
            self._relay_watchdog = self.loop.call_later(delay_s, self._check_relay)

    def _check_relay(self) -> None:
        self._relay_watchdog = None
        relay = self.hal.relay if self.hal is not None else None
        if relay is not None and relay.enforce_deadline():
            log.error("relay watchdog: the pulse timer did not end the pulse; forced off")

    # -- the station's hooks -----------------------------------------------------------------
    def deadlines(self) -> list[int | None]:
        return [self.door.next_deadline()] if self.door is not None else []

    def on_timer(self, now: int) -> None:
        if self.door is not None:
            self.door.handle_timer(now)

    def step(self, now: int) -> bool:
        assert self.door is not None
        moved = False
        while (command := self.door.next_command()) is not None:
            moved = True
            self._execute(command, now)
        self._publish_door_state()
        return moved

    def on_agent_event(self, event: Any, now: int) -> None:
        assert self.door is not None
        if isinstance(event, sip_events.RegistrationChanged):
            self.registration = {
                "state": event.state,
                "status": event.status,
                "reason": event.reason,
                "expires_s": event.expires_s,
            }
            detail = f" ({event.status} {event.reason})" if event.status else ""
            if event.state == "RETRYING" and not event.status and event.reason:
                detail = f" ({event.reason})"  # no response, transport error
            log.info("registration %s%s", event.state, detail)
            self.bus.publish("registration", **self.registration)
            if event.state == "RETRYING":
                why = detail.strip(" ()") or "no answer"
                self.bus.publish("error", text=f"registration failed ({why}); retrying")
            self.notifier.status(f"registration {event.state}")
        elif isinstance(event, sip_events.IncomingCall):
            log.info("incoming call %s from %s", event.call_id, event.caller)
            self.bus.publish("log", level="info", text=f"incoming call from {event.caller}")
        elif isinstance(event, sip_events.CallRinging):
            log.info("call %s: %s", event.call_id, event.status)
        elif isinstance(event, sip_events.CallAnswered):
            self.start_media(event.call_id, event.media, now)
            codec = event.media.codec if event.media is not None else "no media"
            log.info("call %s answered (%s)", event.call_id, codec)
            self.bus.publish("log", level="info", text=f"call answered ({codec})")
        elif isinstance(event, sip_events.CallMediaChanged):
            self.start_media(event.call_id, event.media, now)
        elif isinstance(event, sip_events.InfoReceived):
            media = self.calls.get(event.call_id)
            if media is not None and media.stream is not None:
                try:
                    media.receive_info(event.content_type, event.body, now)
                except ValueError as exc:
                    log.warning("INFO in call %s ignored: %s", event.call_id, exc)
        elif isinstance(event, sip_events.CallEnded):
            status = f" ({event.status})" if event.status else ""
            log.info("call %s ended: %s%s", event.call_id, event.reason, status)
            self.bus.publish("log", level="info", text=f"call ended: {event.reason}{status}")
            stats = self.close_media(event.call_id)
            if stats is not None:
                self.last_stats = stats
                self.bus.publish("stats", **_public_stats(stats))
        elif isinstance(event, sip_events.MessageDropped):
            reason = one_line(event.reason)
            log.warning("dropped SIP message from %s: %s", _fmt_addr(event.addr), reason)
            self.bus.publish("log", level="warning", text=f"dropped SIP message: {reason}")
            return
        self.door.handle(event, now)

    def on_media_event(self, media: CallMedia, event: Any, now: int) -> None:
        assert self.door is not None
        if isinstance(event, DtmfReceived):
            log.info("call %s: DTMF %s (%s)", media.call_id, event.digit, event.source)
            self.bus.publish("log", level="info", text=f"DTMF {event.digit} ({event.source})")
            self.door.handle(event, now)
        elif isinstance(event, MediaTimedOut):
            log.warning("call %s: no RTP for %d ms", media.call_id, event.idle_ms)
            self.door.handle(event, now)
        else:
            log.debug("call %s: %s", media.call_id, event)

    # -- door commands -----------------------------------------------------------------------
    def _execute(self, command: Any, now: int) -> None:
        assert self.hal is not None and self.pump is not None and self.door is not None
        if isinstance(command, sip_events.PlaceCall | sip_events.Answer):
            call_id = command.call_id
            try:
                rtp_addr = self.open_media(call_id)
            except OSError as exc:
                log.error("call %s: %s", call_id, exc)
                self.bus.publish("error", text=str(exc))
                if isinstance(command, sip_events.Answer):
                    self._send_to_agent(sip_events.Reject(call_id, 500), now)
                else:
                    self.door.handle(sip_events.CallEnded(call_id, "local error"), now)
                return
            if isinstance(command, sip_events.PlaceCall):
                log.info("calling %s (call %s)", command.target, call_id)
                self._send_to_agent(sip_events.PlaceCall(command.target, rtp_addr, call_id), now)
            else:
                self._send_to_agent(sip_events.Answer(call_id, rtp_addr), now)
        elif isinstance(command, sip_events.Ring | sip_events.Reject | sip_events.Hangup):
            self._send_to_agent(command, now)
        elif isinstance(command, door_core.PulseRelay):
            granted = self.hal.relay.pulse(command.pulse_ms) if self.hal.relay is not None else 0
            if not granted:
                log.warning("relay pulse of %d ms refused (resting or no relay)", command.pulse_ms)
        elif isinstance(command, door_core.SetLed):
            for name, led in sorted(self.hal.leds.items()):
                if name != "door":
                    led.show(LED_PATTERNS[command.state])
                    self.bus.publish("output", name=name, value=command.state)
        elif isinstance(command, door_core.PlayTone):
            self.pump.player.play(command.name)
            self.pump.wake()
        elif isinstance(command, door_core.StopTone):
            self.pump.player.stop()
        elif isinstance(command, door_core.DoorUnlocked):
            log.info(
                "door opened by %s via %s (call %s)", command.by, command.method, command.call_id
            )
            self.bus.publish(
                "door_opened", by=command.by, method=command.method, call_id=command.call_id
            )
        elif isinstance(command, door_core.CodeRejected):
            log.warning(
                "door code rejected from %s: %s (%s attempts left)",
                command.by,
                command.reason,
                command.attempts_left,
            )
            self.bus.publish("log", level="warning", text=f"wrong door code ({command.reason})")
        elif isinstance(command, door_core.InputIgnored):
            self._ignored[command.source] = command.reason
            log.info("%s ignored: %s", command.source, command.reason)
            self.bus.publish(
                "log", level="warning", text=f"{command.source} ignored: {command.reason}"
            )
        else:
            log.error("unknown door command %r", command)

    def _publish_door_state(self) -> None:
        assert self.door is not None
        if self.door.state != self._door_state:
            self._door_state = self.door.state
            self.bus.publish("door", state=self.door.state)

    def _send_to_agent(self, command: Any, now: int) -> None:
        assert self.agent is not None
        try:
            self.agent.send(command, now)
        except (KeyError, ValueError) as exc:
            # The door may act on a call the agent just ended (a race, not a bug): log it.
            log.info("%s not sent: %s", type(command).__name__, exc)

    # -- tracing for the ladder --------------------------------------------------------------
    def _trace(self, direction: str, data: bytes, addr: Addr) -> None:
        if not self.bus.subscribers:
            return
        label, call_id = describe(data)
        peer = self.peer_names.get(addr, _fmt_addr(addr))
        source, target = ("door", peer) if direction == "out" else (peer, "door")
        self.bus.publish(
            "sip",
            dir=direction,
            label=label,
            call_id=call_id,
            peer=_fmt_addr(addr),
            **{"from": source, "to": target},
        )

    # -- what the HTTP API calls -------------------------------------------------------------
    def status(self) -> dict[str, Any]:
        assert self.door is not None and self.hal is not None
        relay = self.hal.relay
        now = self.now_ms()
        stats = self.active_stats()
        remaining = 0
        if relay is not None and relay.is_energised and relay.off_at_ms is not None:
            remaining = max(0, int(relay.off_at_ms - now))
        return {
            "version": __version__,
            "uptime_s": (now - self._started_ms) // 1000,
            "board": self.hal.profile.name,
            "sip": {"local": _fmt_addr(self.local_addr), "transport": self.cfg["sip"]["transport"]},
            "registration": self.registration,
            "door": self.door.status(),
            "call": {"call_id": self.active_call, "stats": _public_stats(stats) if stats else None},
            "last_call_stats": _public_stats(self.last_stats) if self.last_stats else None,
            "relay": {
                "on": bool(relay is not None and relay.is_energised),
                "remaining_ms": remaining,
            },
            "leds": {name: led.pattern.name for name, led in sorted(self.hal.leds.items())},
            "door_sensor": (
                {"open": self.hal.door_sensor.is_open} if self.hal.door_sensor is not None else None
            ),
            "audio": {
                "speaker_db": round(self.pump.speaker_db, 1) if self.pump else None,
                "mic_db": round(self.pump.mic_db, 1) if self.pump else None,
            },
            "events": list(self.bus.recent)[-20:],
        }

    def _door_action(self, event: Any, source: str) -> dict[str, Any]:
        assert self.door is not None
        self._ignored.pop(source, None)
        self.door.handle(event, self.now_ms())
        self.process()
        reason = self._ignored.pop(source, None)
        if reason is not None:
            return {"ok": False, "error": reason}
        return {"ok": True, "state": self.door.state}

    def open_door(self, source: str) -> dict[str, Any]:
        return self._door_action(door_core.DoorOpenRequested(source), source)

    def place_call(self, source: str) -> dict[str, Any]:
        return self._door_action(door_core.CallRequested(source), source)

    def hangup(self, source: str) -> dict[str, Any]:
        return self._door_action(door_core.HangupRequested(source), source)

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        return self.bus.subscribe()

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self.bus.unsubscribe(queue)

    def recent_events(self) -> list[dict[str, Any]]:
        return list(self.bus.recent)[-50:]

    # -- the sim HAL's controls --------------------------------------------------------------
    def sim_button(self, action: str) -> dict[str, Any]:
        assert self.hal is not None and self.hal.sim is not None
        if self.hal.button is None:
            return {"ok": False, "error": "this board has no button"}
        if action == "press":
            self.hal.sim.press("button")
        elif action == "release":
            self.hal.sim.release("button")
        else:
            self.hal.sim.tap("button")
        return {"ok": True}

    def sim_door_sensor(self, is_open: bool) -> dict[str, Any]:
        assert self.hal is not None and self.hal.sim is not None
        if self.hal.door_sensor is None:
            return {"ok": False, "error": "this board has no door sensor"}
        self.hal.sim.set_input("door_sensor", is_open)
        return {"ok": True}

    def sim_outputs(self) -> dict[str, Any]:
        assert self.hal is not None and self.hal.sim is not None
        return {
            "history": [_jsonable(entry) for entry in self.hal.sim.history],
            "outputs": _jsonable(self.hal.sim.outputs()),
        }


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
        return True
    except ValueError:
        return False


def _uri_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def _fmt_addr(addr: Any) -> str:
    if not addr:
        return ""
    return f"{_uri_host(addr[0])}:{addr[1]}"


def _public_stats(stats: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "codec",
        "packets_sent",
        "packets_received",
        "packets_lost",
        "loss_percent",
        "jitter_ms",
        "rtt_ms",
        "playout_delay_ms",
        "concealed_ms",
        "dtmf_received",
    )
    return {key: stats.get(key) for key in keys}


def _jsonable(entry: Any) -> Any:
    if isinstance(entry, dict):
        return {k: _jsonable(v) for k, v in entry.items()}
    if isinstance(entry, tuple | list):
        return [_jsonable(v) for v in entry]
    if hasattr(entry, "__dict__"):
        return {k: _jsonable(v) for k, v in vars(entry).items() if not k.startswith("_")}
    return entry


async def run(cfg: Config, ready: Callable[[Firmware], None] | None = None) -> int:
    """Run the firmware until SIGTERM/SIGINT (or request_stop()); outputs off on every exit."""
    firmware = Firmware(cfg)
    try:
        await firmware.start()
        if ready is not None:
            ready(firmware)
        await firmware.wait_stopped()
    finally:
        await firmware.stop()
    return 0
