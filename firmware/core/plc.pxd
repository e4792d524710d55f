# Cython declarations for plc.py (see setup.py and jitter.pxd).

cdef class Concealer:
    cdef public long long _erased, _overlap, _pitch, _pos, _span
    cdef public object _history, _loop, _original_tail
    cpdef _push(self, pcm)
    cpdef good(self, pcm, bint splice=*)
    cpdef conceal(self, long long samples)
