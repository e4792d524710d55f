"""What only the gpiozero backend can get wrong: pins taken by another program or missing on the
model, checked by gpiozero's own MockFactory for the board's revision."""

from __future__ import annotations

import pytest

from hal import ManualScheduler, PinError, load_profile, open_hal
from tests.hal.conftest import require_module

NO_AUDIO = {"audio": {"backend": "none"}}


@pytest.fixture
def factory():
    mock = require_module("gpiozero.pins.mock")
    built = mock.MockFactory(revision="c03111")
    yield built
    built.close()


def pins(factory):
    from hal.backends.gpiozero_pins import GpiozeroPins

    return GpiozeroPins(factory)


def test_a_pin_taken_elsewhere_is_named_and_nothing_stays_on(factory):
    gpiozero = require_module("gpiozero")
    squatter = gpiozero.DigitalInputDevice("GPIO5", pin_factory=factory)  # the button's pin
    profile = load_profile("rpi-4", overrides=NO_AUDIO)
    with pytest.raises(PinError, match=r"^board/rpi-4\.toml: button\.pin: GPIO5: "):
        open_hal(profile, ManualScheduler(), lambda event: None, pins=pins(factory))
    # The relay was built first; the failed start must have released it, de-energised.
    relay_pin = factory.pin("GPIO17")
    assert relay_pin.function == "input" and not relay_pin.state
    squatter.close()


def test_a_pin_missing_on_the_model_is_named(factory):
    profile = load_profile("rpi-4", overrides={**NO_AUDIO, "leds": {"door": {"pin": "GPIO30"}}})
    with pytest.raises(PinError, match=r"^config: hardware\.leds\.door\.pin: GPIO30: "):
        open_hal(profile, ManualScheduler(), lambda event: None, pins=pins(factory))


def test_a_fixed_pull_up_pin_cannot_take_a_pull_down(factory):
    button = {"pin": "GPIO2", "pull": "down"}  # GPIO2 has a fixed 1k8 pull-up (I2C)
    profile = load_profile("rpi-4", overrides={**NO_AUDIO, "button": button})
    with pytest.raises(PinError, match=r"^config: hardware\.button\.pin: GPIO2: .*fixed pull"):
        open_hal(profile, ManualScheduler(), lambda event: None, pins=pins(factory))
