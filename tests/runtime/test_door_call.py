"""The firmware over 127.0.0.1 with the sim board, against a flat phone built from the same core:
button -> ring -> answer -> two-way audio -> DTMF door code -> relay pulse -> hang up."""

from __future__ import annotations

import asyncio
import http.client
import json
import wave
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from firmware.core import wav
from firmware.runtime import config
from firmware.runtime.app import Firmware
from firmware.runtime.flat import IDLE, IN_CALL, RINGING, FlatPhone, FrameSource, tone_pcm
from tests.runtime.audio_check import tone_share
from tests.runtime.waiting import until

pytestmark = pytest.mark.timeout(60)


def door_config(tmp_path: Path, targets: list[str], **sections: dict[str, Any]) -> config.Config:
    mic = tmp_path / "door-mic.wav"
    mic.write_bytes(wav.write(tone_pcm(1000, 1.0)))
    data: dict[str, Any] = {
        "board": "sim",
        "sip": {"listen": "127.0.0.1:0"},
        "call": {"targets": targets, "ring_timeout_s": 20},
        "door": {"code": "1234#", "pulse_ms": 600},
        "answer": {"allowed": ["flat"]},
        "audio": {
            "mic_file": str(mic),
            "speaker_file": str(tmp_path / "door-speaker.wav"),
            "rtp_ports": "41000-41099",
        },
        "api": {"listen": "127.0.0.1:0"},
    }
    for name, values in sections.items():
        data.setdefault(name, {}).update(values)
    return config.validate(data, "test")


def seconds_of_tone(pcm: bytes, frequency_hz: float) -> float:
    """How many seconds of pcm (in 200 ms windows) are dominated by the tone."""
    windows = [pcm[i : i + 3200] for i in range(0, len(pcm) - 3199, 3200)]
    return 0.2 * sum(1 for w in windows if tone_share(w, frequency_hz) > 0.8)


def run(scenario: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(scenario())


def http_json(port: int, method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
    """One request with the standard library's client (blocking: run it in a thread)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def first_event_line(port: int) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/api/events")
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/event-stream"
        return response.readline()
    finally:
        connection.close()


def relay_changes(firmware: Firmware) -> list[tuple[float, bool]]:
    assert firmware.hal is not None and firmware.hal.sim is not None
    return [
        (entry.at_ms, entry.active) for entry in firmware.hal.sim.history if entry.name == "relay"
    ]


def test_button_call_answer_audio_dtmf_door_and_hangup(tmp_path: Path) -> None:
    async def scenario() -> None:
        flat = FlatPhone(microphone=FrameSource(tone_pcm(440, 1.0)))
        await flat.start()
        firmware = Firmware(door_config(tmp_path, [flat.uri]))
        await firmware.start()
        try:
            assert relay_changes(firmware) == [] or not relay_changes(firmware)[-1][1]
            firmware.sim_button("click")
            await until(lambda: flat.state == RINGING, what="the flat to ring")
            assert firmware.door is not None and firmware.door.state == "CALLING"
            assert flat.answer()
            await until(lambda: firmware.door.state == "IN_CALL" and flat.state == IN_CALL)
            await asyncio.sleep(1.0)  # talk

            assert flat.open_door()
            await until(lambda: any(on for _, on in relay_changes(firmware)), what="relay on")
            await until(lambda: not relay_changes(firmware)[-1][1], 3, "relay off again")
            (on_at, _), (off_at, _) = relay_changes(firmware)[-2:]
            assert 550 <= off_at - on_at <= 700  # pulse_ms = 600 on the scheduler's clock
            status = firmware.status()
            assert status["door"]["last_opening"]["method"] == "dtmf"

            flat.hangup()
            await until(lambda: firmware.door.state == "IDLE" and flat.state == IDLE)
            stats = firmware.last_stats
            assert stats is not None and stats["codec"] in ("PCMU", "PCMA")
            assert stats["packets_received"] > 40 and stats["dtmf_received"] == 5
        finally:
            await firmware.stop()
            await flat.stop()
        # Two-way audio, checked by content: the door's 1 kHz reached the flat, the flat's
        # 440 Hz reached the door's speaker file.
        assert seconds_of_tone(bytes(flat.speaker.pcm), 1000) >= 0.8
        with wave.open(str(tmp_path / "door-speaker.wav")) as speaker:
            played = speaker.readframes(speaker.getnframes())
        assert seconds_of_tone(played, 440) >= 0.6
        # The relay is off after the stop.
        assert not relay_changes(firmware)[-1][1]

    run(scenario)


def test_incoming_call_from_allowed_flat_is_answered_and_others_refused(tmp_path: Path) -> None:
    async def scenario() -> None:
        allowed = FlatPhone(user="flat")
        stranger = FlatPhone(user="mallory")
        await allowed.start()
        await stranger.start()
        firmware = Firmware(door_config(tmp_path, [allowed.uri]))
        await firmware.start()
        try:
            assert firmware.local_addr is not None
            door_uri = f"sip:door@127.0.0.1:{firmware.local_addr[1]}"
            assert stranger.call(door_uri)
            await until(lambda: stranger.ended, what="the stranger's call to end")
            assert stranger.ended[-1][1] == "rejected"

            assert allowed.call(door_uri)
            await until(lambda: allowed.state == IN_CALL, what="auto-answer")
            assert allowed.open_door()
            await until(lambda: firmware.status()["relay"]["on"], what="relay on")
            allowed.hangup()
            await until(lambda: firmware.door.state == "IDLE")  # type: ignore[union-attr]
        finally:
            await firmware.stop()
            await allowed.stop()
            await stranger.stop()

    run(scenario)


def test_http_api_status_actions_and_errors(tmp_path: Path) -> None:
    async def scenario() -> None:
        flat = FlatPhone(auto_answer=True)
        await flat.start()
        firmware = Firmware(door_config(tmp_path, [flat.uri]))
        await firmware.start()
        assert firmware.api_addr is not None
        port = firmware.api_addr[1]

        async def api(method: str, path: str, body: bytes | None = None) -> tuple[int, Any]:
            return await asyncio.to_thread(http_json, port, method, path, body)

        try:
            code, status = await api("GET", "/api/status")
            assert code == 200
            assert status["door"]["state"] == "IDLE" and status["relay"]["on"] is False
            code, answer = await api("POST", "/api/sim/button", b"not json")
            assert code == 400 and "JSON" in answer["error"]
            assert (await api("POST", "/api/sim/button", b'{"action": "smash"}'))[0] == 400
            code, answer = await api("POST", "/api/call", b"{}")
            assert code == 200 and answer["ok"]
            await until(lambda: flat.state == IN_CALL, what="the call")
            assert (await api("POST", "/api/call", b"{}"))[0] == 409  # already in a call
            assert (await api("POST", "/api/door/open", b'{"source": "test"}'))[0] == 200
            await until(lambda: firmware.status()["relay"]["on"], what="relay on")
            assert (await api("POST", "/api/hangup"))[0] == 200
            await until(lambda: flat.state == IDLE)
            code, outputs = await api("GET", "/api/sim/outputs")
            assert any(e["name"] == "relay" and e["active"] for e in outputs["history"])
            code, answer = await api("GET", "/api/nope")
            assert code == 404 and "error" in answer
            line = await asyncio.to_thread(first_event_line, port)
            assert json.loads(line[len(b"data: ") :])["type"]
        finally:
            await firmware.stop()
            await flat.stop()

    run(scenario)
