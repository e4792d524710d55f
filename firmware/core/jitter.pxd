# Cython declarations for jitter.py (see setup.py): on CPython the module is compiled with its
# state in C fields; MicroPython and a CPython without a compiler run jitter.py as it is.
cimport cython


cdef class JitterBuffer:
    cdef public long long rate, frame_samples, capacity
    cdef public double min_delay_ms, max_delay_ms, calm_ms, target_ms
    cdef public long long received, late, duplicates, lost, skipped, stretched, underruns
    cdef public long long overflow, resyncs, concealed_samples
    cdef public list _frames
    cdef public bint playing, _played, _measured, _win_empty, _prev_empty, _spliced
    cdef public long long play_ts, _played_until, _last_ext, _base, _peak_at_ms
    cdef public long long _win_start_ms, _win_min, _prev_min, _next_adjust_ms, _underrun_samples
    cdef public double _peak_ms, _second_ms
    cdef public object _pending

    @cython.locals(delta=cython.longlong, ext=cython.longlong, transit=cython.longlong,
                   relative=cython.longlong, limit=cython.longlong)
    cpdef put(self, long long timestamp, payload, long long now_ms, long long samples=*)
    cpdef _off_timeline(self, long long ext, long long samples, payload, long long transit,
                        long long now_ms)
    @cython.locals(relative_ms=cython.double, elapsed=cython.longlong, fade=cython.double,
                   target=cython.double)
    cpdef _measure(self, long long transit, long long now_ms)
    @cython.locals(frames=list, i=cython.Py_ssize_t, start=cython.longlong)
    cpdef _store(self, long long ext, long long samples, payload)
    cpdef _conceal(self, long long samples)
    cpdef get(self, long long now_ms)
    @cython.locals(frames=list, target=cython.double, step=cython.longlong, now=cython.longlong,
                   start=cython.double, head=list, gap=cython.longlong, waited=cython.longlong)
    cpdef _next(self, long long now_ms)
