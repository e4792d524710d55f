"""The base of the core's plain data classes: commands, events and notifications."""


class Record:
    """Subclasses name their fields in `_fields` (constructor order). Two records of the same
    class with equal fields are equal, so tests can assert on them; repr shows every field.
    (Not `__slots__`: MicroPython ignores those.)"""

    _fields = ()

    def _values(self):
        return tuple(getattr(self, name) for name in self._fields)

    def __eq__(self, other):
        return type(self) is type(other) and self._values() == other._values()

    def __ne__(self, other):
        return not self.__eq__(other)

    def __repr__(self):
        fields = ", ".join("%s=%r" % (n, getattr(self, n)) for n in self._fields)
        return "%s(%s)" % (type(self).__name__, fields)
