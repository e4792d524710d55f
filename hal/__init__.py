"""Hardware abstraction: button, relay, LEDs, door sensor and audio, over swappable backends."""
