"""SIP door-intercom firmware."""

__version__ = "0.1.0"
