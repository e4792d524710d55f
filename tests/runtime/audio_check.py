"""Checks on recorded audio: which tone is in it (Goertzel), and how loud."""

from __future__ import annotations

import math
import struct


def samples(pcm: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(pcm) // 2}h", pcm[: len(pcm) // 2 * 2]))


def tone_share(pcm: bytes, frequency_hz: float, rate: int = 8000) -> float:
    """The share (0..1) of the signal's energy at frequency_hz (Goertzel over the whole block)."""
    x = samples(pcm)
    if not x:
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * frequency_hz / rate)
    s1 = s2 = 0.0
    for value in x:
        s1, s2 = value + coeff * s1 - s2, s1
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    energy = sum(v * v for v in x)
    return 2 * power / (len(x) * energy) if energy else 0.0


def rms(pcm: bytes) -> float:
    x = samples(pcm)
    return math.sqrt(sum(v * v for v in x) / len(x)) if x else 0.0
