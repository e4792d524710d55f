"""Backends. Each module imports its library (gpiozero, RPi.GPIO, alsaaudio) at the top, so it is
imported only when the profile chooses it: `import hal` never pulls any of them in."""
