"""Helpers shared by the core tests; they run under CPython (pytest) and MicroPython (harness)."""

try:
    _HERE = __file__.rsplit("/", 1)[0]
except NameError:  # pragma: no cover - frozen modules have no __file__
    _HERE = "tests/core"

DATA_DIR = _HERE.rsplit("/", 1)[0] + "/data"


def read_data(relpath):
    """Bytes of a file under tests/data/, exactly as stored (CRLF kept)."""
    with open(DATA_DIR + "/" + relpath, "rb") as f:
        return f.read()


def list_data(reldir, suffix=""):
    """Sorted file names in a tests/data/ folder (os.listdir exists in both runtimes)."""
    import os

    return sorted(n for n in os.listdir(DATA_DIR + "/" + reldir) if n.endswith(suffix))


def raises(exc_type, fn, *args, **kwargs):
    """Call fn and return the exception of exc_type it raised; fail if it raised nothing."""
    try:
        fn(*args, **kwargs)
    except exc_type as exc:
        return exc
    raise AssertionError("%s did not raise %s" % (getattr(fn, "__name__", fn), exc_type.__name__))


def cpython_only(fn):
    """Mark a test that needs CPython (the MicroPython harness skips it)."""
    fn.cpython_only = True
    return fn


class FakeRandom:
    """Deterministic injected randomness: a 32-bit LCG (same sequence on every runtime)."""

    def __init__(self, seed=1):
        self.state = seed & 0xFFFFFFFF

    def getrandbits(self, bits):
        out = 0
        got = 0
        while got < bits:
            self.state = (self.state * 1103515245 + 12345) & 0xFFFFFFFF
            out = (out << 16) | (self.state >> 16)
            got += 16
        return out >> (got - bits)
