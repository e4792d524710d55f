"""The shared test helpers behave the same on CPython and MicroPython."""

from tests.core.support import FakeRandom, raises


def test_fake_random_is_deterministic_and_in_range():
    a, b = FakeRandom(7), FakeRandom(7)
    seq = [a.getrandbits(32) for _ in range(20)]
    assert seq == [b.getrandbits(32) for _ in range(20)]
    assert len(set(seq)) == 20
    assert all(0 <= v < (1 << 32) for v in seq)
    assert all(0 <= FakeRandom(i).getrandbits(5) < 32 for i in range(50))


def test_raises_returns_the_exception_and_fails_when_nothing_is_raised():
    exc = raises(ValueError, int, "x")
    assert isinstance(exc, ValueError)
    assert isinstance(raises(AssertionError, raises, ValueError, int, "1"), AssertionError)
