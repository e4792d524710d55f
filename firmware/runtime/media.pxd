# Cython declarations for media.py (see setup.py): on Linux the audio pump is compiled with its
# state in C fields, so a tick calls the stream (firmware/core/media.pxd) and the socket pair
# (_datagrams.pxd) as C functions. Elsewhere media.py runs as it is.
cimport cython

from firmware.core.media cimport MediaStream
from firmware.runtime._datagrams cimport SocketPair


cdef class CallMedia:
    cdef public object call_id, lock, rtp, rtcp, port
    cdef public MediaStream stream
    cdef public SocketPair _sockets
    @cython.locals(stream=MediaStream, sockets=SocketPair, waiting=cython.int, datagram=tuple)
    cpdef pump_receive(self, long long now_ms, long long clock_offset_ns)
    cpdef pump_send_rtp(self, list packets)
    cpdef pump_send_rtcp(self)
    cpdef pump_timers(self, long long now_ms)


@cython.locals(stamp=cython.longlong, stamp_ms=cython.longlong, arrived_ms=cython.longlong)
cpdef _receive(SocketPair sockets, int channel, long long now_ms, long long clock_offset_ns)
cpdef _send(SocketPair sockets, int channel, list packets)


cdef class TonePlayer:
    cdef public object country, local, beep, _lock
    cpdef bint is_playing(self)
    cpdef tuple frames(self)


cdef class AudioPump:
    cdef public object audio_in, audio_out, on_events, lock, _wakeup, _loop, _thread, _next_tick
    cdef public TonePlayer player
    cdef public CallMedia media
    cdef public list _calls
    cdef public double speaker_db, mic_db
    cdef public long long ticks, late_ticks
    cdef public bint _stopping, _failed, _events_posted
    @cython.locals(media=CallMedia)
    cpdef bint _has_work(self)
    cpdef _tick_if_due(self)
    @cython.locals(call=CallMedia, media=CallMedia, stream=MediaStream, now_ms=cython.longlong,
                   clock_offset_ns=cython.longlong)
    cpdef tick(self, double now)
    @cython.locals(media=CallMedia)
    cpdef _post_events(self)
