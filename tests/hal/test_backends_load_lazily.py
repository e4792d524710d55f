"""`import hal` pulls in no hardware library; a backend's library is imported only when chosen,
and a missing one is a clear error."""

from __future__ import annotations

import sys

import pytest

from hal import BackendMissingError, ManualScheduler, load_profile, open_hal
from tests.hal.conftest import run_python

HARDWARE_LIBRARIES = ("gpiozero", "RPi", "alsaaudio", "lgpio", "pigpio")

PROBE = """
import sys
import hal
from hal import ManualScheduler, load_profile, open_hal
with open_hal(load_profile("sim"), ManualScheduler(), lambda event: None) as board:
    board.sim.press()
for name in {names!r}:
    assert load_profile(name)
print(sorted(m for m in sys.modules if m.split(".")[0] in {libraries!r}))
"""


def test_importing_hal_and_running_the_sim_imports_no_hardware_library():
    code = PROBE.format(names=["rpi-4", "rpi-5", "generic-linux"], libraries=HARDWARE_LIBRARIES)
    result = run_python("-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


@pytest.mark.parametrize(
    ("gpio", "module", "library", "hint"),
    [
        ("rpigpio", "hal.backends.rpigpio_pins", "RPi", "pip install 'sip-intercom[rpigpio]'"),
        ("gpiozero", "hal.backends.gpiozero_pins", "gpiozero", "pip install 'sip-intercom[gpio]'"),
    ],
)
def test_a_missing_gpio_library_is_a_clear_error(monkeypatch, gpio, module, library, hint):
    monkeypatch.setitem(sys.modules, library, None)  # None in sys.modules: ImportError on import
    monkeypatch.delitem(sys.modules, module, raising=False)
    profile = load_profile(
        "rpi-4", overrides={"board": {"gpio": gpio}, "audio": {"backend": "none"}}
    )
    with pytest.raises(
        BackendMissingError,
        match=f'board.gpio "{gpio}" needs .*{hint.replace("[", ".").replace("]", ".")}',
    ):
        open_hal(profile, ManualScheduler(), lambda event: None)


def test_a_missing_alsa_library_is_a_clear_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "alsaaudio", None)
    monkeypatch.delitem(sys.modules, "hal.backends.alsa_audio", raising=False)
    profile = load_profile("sim", overrides={"audio": {"backend": "alsa"}})
    with pytest.raises(BackendMissingError, match=r'audio.backend "alsa" needs pyalsaaudio'):
        open_hal(profile, ManualScheduler(), lambda event: None)
