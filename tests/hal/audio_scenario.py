"""The audio contract scenario: open the profile's audio, read and write frames, report.

Run in-process for the WAV backends, and as `python -m tests.hal.audio_scenario '<json>'` for
ALSA, because alsa-lib reads its configuration (our per-test asoundrc) once per process.

The spec (JSON): {"audio": {...[hardware.audio] overrides...}, "read_frames": N,
"play": "<raw file of frames to write>", "captured": "<file the frames read go to>"}.
The result (JSON): what was seen, for the test to assert on; or {"error": "..."} if opening failed.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

from hal import FRAME_BYTES, AudioDeviceError, load_profile, open_audio


def run(spec: dict[str, Any]) -> dict[str, Any]:
    try:
        audio_in, audio_out = open_audio(
            load_profile("sim", overrides={"audio": spec["audio"]}).audio
        )
    except AudioDeviceError as exc:
        return {"error": str(exc)}
    sizes: set[int] = set()
    captured = bytearray()
    calls = 0
    started = time.monotonic()
    while len(captured) < spec["read_frames"] * FRAME_BYTES and calls < 100 * spec["read_frames"]:
        calls += 1
        frame = audio_in.read()
        if frame is not None:
            sizes.add(len(frame))
            captured += frame
    read_s = time.monotonic() - started
    play = Path(spec["play"]).read_bytes()
    started = time.monotonic()
    accepted = [
        audio_out.write(play[i : i + FRAME_BYTES]) for i in range(0, len(play), FRAME_BYTES)
    ]
    write_s = time.monotonic() - started
    try:
        audio_out.write(b"\0" * 100)
        wrong_size_refused = False
    except ValueError:
        wrong_size_refused = True
    audio_in.close()
    audio_out.close()
    audio_out.close()  # twice: harmless
    Path(spec["captured"]).write_bytes(bytes(captured))
    return {
        "frame_sizes": sorted(sizes),
        "read_calls": calls,
        "read_s": read_s,
        "write_s": write_s,
        "accepted": accepted,
        "wrong_size_refused": wrong_size_refused,
        "xruns": [audio_in.xruns, audio_out.xruns],
    }


if __name__ == "__main__":
    print(json.dumps(run(json.loads(sys.argv[1]))))
