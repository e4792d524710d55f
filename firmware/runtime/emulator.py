"""`intercom emulate`: the firmware on a simulated board plus an embedded flat phone, with the web
panel at http://127.0.0.1:8080.

Without a config the door calls the embedded flat (a second user agent from the same core, on
its own loopback port) and auto-answers it. With a config the door uses that config's SIP account
and targets (ring your real softphone from the laptop); the flat still runs, so "call the door"
works. The door's microphone can be switched between a bundled voice clip, a tone, silence and
the laptop's microphone; with `--audio alsa` (the default when ALSA's default devices open) the
door also plays through the laptop's speaker.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import webbrowser
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from firmware.core import wav
from firmware.runtime import config as config_module
from firmware.runtime.app import Firmware
from firmware.runtime.flat import IN_CALL, FlatPhone, FrameSource, tone_pcm
from firmware.runtime.http_api import packaged_panel
from firmware.runtime.httpd import HttpError, Request, Response, Route, json_response
from firmware.runtime.media import SILENCE
from hal import AudioDeviceError, BackendMissingError, open_audio
from hal.profile import AudioConfig

log = logging.getLogger("intercom.emulator")

MIC_SOURCES = ("voice", "tone", "silence", "laptop")


def voice_clip() -> bytes:
    """The bundled voice clip (8 kHz mono PCM)."""
    data = (Path(__file__).resolve().parent / "assets" / "voice.wav").read_bytes()
    pcm: bytes = wav.read_pcm8k(data)
    return pcm


@contextlib.contextmanager
def _quiet_stderr() -> Iterator[None]:
    """Silence alsa-lib, which writes its own errors to file descriptor 2 while probing."""
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def probe_alsa() -> tuple[Any, Any] | None:
    """The default ALSA capture and playback devices, if they open (a laptop's sound card)."""
    try:
        with _quiet_stderr():
            return open_audio(AudioConfig(backend="alsa", capture="default", playback="default"))
    except (AudioDeviceError, BackendMissingError, OSError) as exc:
        log.debug("ALSA default devices: %s", exc)
        return None


class Microphone:
    """The door's microphone: one of the bundled sources or the laptop's capture device."""

    def __init__(self, laptop: Any | None) -> None:
        self.laptop = laptop
        self.sources = {
            "voice": FrameSource(voice_clip()),
            "tone": FrameSource(tone_pcm(1000, 1.0, -16)),
            "silence": FrameSource(),
        }
        self.source = "voice"
        self.xruns = 0

    @property
    def available(self) -> list[str]:
        return [name for name in MIC_SOURCES if name != "laptop" or self.laptop is not None]

    def select(self, name: str) -> None:
        if name not in self.available:
            raise ValueError(f"unknown or unavailable source {name!r}")
        self.source = name

    def read(self) -> bytes:
        if self.source == "laptop" and self.laptop is not None:
            return self.laptop.read() or SILENCE
        return self.sources[self.source].read()

    def close(self) -> None:
        if self.laptop is not None:
            self.laptop.close()


class EmulatedDoor(Firmware):
    def panel_dir(self) -> Path:
        return packaged_panel()


def emulator_config(
    user_config: config_module.Config | None, port: int, flat_uri: str, alsa: bool
) -> config_module.Config:
    """The door's config: the user's (forced onto the sim board), or the built-in demo."""
    values: dict[str, Any] = {}
    if user_config is not None:
        values = {section: dict(keys) for section, keys in user_config.values.items() if section}
        values["hardware"] = dict(user_config.hardware)
    else:
        values = {
            "sip": {"user": "door", "domain": "127.0.0.1", "listen": "127.0.0.1:0"},
            "call": {"targets": [flat_uri], "ring_timeout_s": 60},
            "answer": {"allowed": ["flat"]},
            "audio": {"rtp_ports": "42000-42199"},
        }
    values["board"] = "sim"
    values.setdefault("audio", {}).update({"backend": "alsa" if alsa else "sim", "mic_file": ""})
    if alsa:
        values["audio"].update({"capture": "default", "playback": "default"})
    values["api"] = {**values.get("api", {}), "listen": f"127.0.0.1:{port}"}
    return config_module.validate(values, "emulator")


class Emulator:
    def __init__(self, user_config: config_module.Config | None, port: int, audio: str) -> None:
        self.user_config = user_config
        self.port = port
        self.audio_mode = audio
        self.door: EmulatedDoor | None = None
        self.flat = FlatPhone(
            user="flat",
            microphone=FrameSource(tone_pcm(440, 1.0, -16)),
            on_change=self._flat_changed,
        )
        self.microphone: Microphone | None = None
        self._ticker: asyncio.Task[None] | None = None

    async def start(self) -> str:
        alsa_devices = probe_alsa() if self.audio_mode in ("auto", "alsa") else None
        if self.audio_mode == "alsa" and alsa_devices is None:
            raise OSError("--audio alsa: the default ALSA devices do not open (no sound card?)")
        use_alsa = alsa_devices is not None
        if alsa_devices is not None:
            for device in alsa_devices:
                device.close()
        await self.flat.start(rtp_range=(42200, 42399))
        cfg = emulator_config(self.user_config, self.port, self.flat.uri, use_alsa)
        self.door = EmulatedDoor(cfg)
        await self.door.start(extra_routes=self._routes())
        assert self.door.pump is not None and self.door.hal is not None
        self.microphone = Microphone(self.door.hal.audio_in if use_alsa else None)
        self.door.pump.audio_in = self.microphone
        assert self.flat.local_addr is not None
        self.door.peer_names[self.flat.local_addr] = "flat"
        self._ticker = asyncio.get_running_loop().create_task(self._tick())
        if use_alsa:
            print("door audio: the laptop's sound card (ALSA default devices)", flush=True)
        else:
            print(
                "door audio: simulated (bundled voice clip as microphone, speaker level only);"
                " no ALSA sound card found",
                flush=True,
            )
        assert self.door.api_addr is not None
        return f"http://127.0.0.1:{self.door.api_addr[1]}/"

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        if self.door is not None:
            await self.door.stop()
        await self.flat.stop()

    # -- live updates ------------------------------------------------------------------------
    def _flat_changed(self, state: str) -> None:
        if self.door is not None:
            self.door.bus.publish("flat", state=state, peer=self.flat.peer)

    async def _tick(self) -> None:
        """Levels five times a second and statistics every second, while a call is up."""
        door = self.door
        assert door is not None and door.pump is not None
        n = 0
        while True:
            await asyncio.sleep(0.2)
            n += 1
            in_call = door.active_call is not None or self.flat.state == IN_CALL
            if not in_call and not door.pump.player.is_playing():
                continue
            door.bus.publish(
                "level",
                door_speaker_db=round(door.pump.speaker_db, 1),
                flat_rx_db=round(self.flat.speaker.level_db, 1),
            )
            stats = door.active_stats()
            if stats is not None and n % 5 == 0:
                door.bus.publish(
                    "stats",
                    **{
                        key: stats.get(key)
                        for key in (
                            "codec",
                            "packets_sent",
                            "packets_received",
                            "packets_lost",
                            "loss_percent",
                            "jitter_ms",
                            "rtt_ms",
                            "playout_delay_ms",
                        )
                    },
                )

    # -- the emulator's endpoints ------------------------------------------------------------
    def _routes(self) -> list[Route]:
        flat = self.flat

        def action(run: Any, what: str) -> Any:
            async def handler(_: Request) -> Response:
                if not run():
                    raise HttpError(409, f"the flat cannot {what} now (state {flat.state})")
                return json_response({"ok": True, "state": flat.state})

            return handler

        async def dtmf(request: Request) -> Response:
            digits = request.json().get("digits")
            if not isinstance(digits, str) or not digits or len(digits) > 32:
                raise HttpError(400, 'give {"digits": "123#"}')
            try:
                sent = flat.send_dtmf(digits)
            except ValueError as exc:
                raise HttpError(400, str(exc)) from None
            if not sent:
                raise HttpError(409, "the flat is not in a call")
            return json_response({"ok": True})

        async def mic(request: Request) -> Response:
            body = request.json()
            assert self.microphone is not None
            try:
                self.microphone.select(str(body.get("source")))
            except ValueError as exc:
                raise HttpError(400, str(exc)) from None
            assert self.door is not None
            self.door.bus.publish("log", level="info", text=f"door microphone: {body['source']}")
            return json_response({"ok": True, "source": self.microphone.source})

        async def status(_: Request) -> Response:
            return json_response(self.status())

        def call_door() -> bool:
            assert self.door is not None and self.door.local_addr is not None
            host, port = self.door.local_addr
            return flat.call(f"sip:door@{host}:{port}")

        return [
            ("GET", "/api/emulator", status),
            ("POST", "/api/flat/answer", action(flat.answer, "answer")),
            ("POST", "/api/flat/hangup", action(flat.hangup, "hang up")),
            ("POST", "/api/flat/open", action(flat.open_door, "send the door code")),
            ("POST", "/api/flat/call", action(call_door, "call the door")),
            ("POST", "/api/flat/dtmf", dtmf),
            ("POST", "/api/emulator/mic", mic),
        ]

    def status(self) -> dict[str, Any]:
        mic = self.microphone
        return {
            "flat": {
                "state": self.flat.state,
                "peer": self.flat.peer,
                "uri": self.flat.uri,
                "rx_db": round(self.flat.speaker.level_db, 1),
            },
            "mic": {"source": mic.source if mic else None, "sources": mic.available if mic else []},
            "audio": {"backend": "alsa" if mic is not None and mic.laptop is not None else "sim"},
        }


async def run(
    user_config: config_module.Config | None, port: int, audio: str, open_browser: bool
) -> int:
    emulator = Emulator(user_config, port, audio)
    try:
        url = await emulator.start()
    except OSError as exc:
        await emulator.stop()
        log.error("cannot start the emulator: %s", exc)
        return 1
    print(f"emulator running: open {url}  (Ctrl+C stops it)", flush=True)
    if open_browser:
        with contextlib.suppress(Exception):
            webbrowser.open(url)
    try:
        assert emulator.door is not None
        await emulator.door.wait_stopped()
    finally:
        await emulator.stop()
    return 0
