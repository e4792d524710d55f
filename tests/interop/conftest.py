"""Fixtures of the firmware interop tests: a Kamailio per module, the test's peers on an exit stack
(stopped in reverse order: the firmware and the phones before the registrar), tone files."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.audio import DOOR_HZ, FLAT_HZ, LINPHONE_HZ, write_tone
from tests.interop.peers import USERS, Kamailio


@pytest.fixture(scope="module")
def pbx(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kamailio]:
    """Kamailio as the PBX: registrar and proxy with digest auth for USERS."""
    with Kamailio(tmp_path_factory.mktemp("pbx"), USERS, deadline_s=600) as kamailio:
        yield kamailio.start()


@pytest.fixture(scope="module")
def tones(tmp_path_factory: pytest.TempPathFactory) -> dict[int, Path]:
    """Tone WAVs by frequency; 40 s, longer than any call (baresip's aufile hangs up at EOF)."""
    folder = tmp_path_factory.mktemp("tones")
    return {hz: write_tone(folder / f"{hz}.wav", hz, 40) for hz in (DOOR_HZ, FLAT_HZ, LINPHONE_HZ)}


@pytest.fixture
def stack() -> Iterator[contextlib.ExitStack]:
    """Peers entered here are stopped when the test ends, the last started first."""
    with contextlib.ExitStack() as peers:
        yield peers
