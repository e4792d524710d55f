# Cython declarations for rtp.py (see setup.py and jitter.pxd).
cimport cython


cpdef bytes fixed_header(long long first, long long payload_type, marker,
                         long long sequence_number, long long timestamp, long long ssrc)


cdef class RtpSender:
    cdef public long long ssrc, sequence_number, timestamp, packets_sent, octets_sent
    cdef public object last_timestamp
    cdef public bint _talkspurt
    cpdef packet(self, long long payload_type, payload, long long timestamp, marker=*)
    cpdef send(self, long long payload_type, payload, long long samples)
    cpdef advance(self, long long samples)
    cpdef skip(self, long long samples)


cdef class SourceStats:
    cdef public long long ssrc, base_seq, max_seq, cycles, received, reordered
    cdef public long long jitter_q4, _transit, expected_prior, received_prior
    cdef public bint _have_transit
    cdef public object bad_seq
    @cython.locals(delta=cython.longlong)
    cpdef update(self, long long seq)
    @cython.locals(transit=cython.longlong, d=cython.longlong)
    cpdef update_jitter(self, long long arrival, long long timestamp)


cdef class RtpReceiver:
    cdef public object payload_types, jitter_payload_type, address, ssrc
    cdef public long long samples_per_ms, packets, octets
    cdef public SourceStats stats
    cdef public object last_packet_ms, dropped, last_drop, _candidate
    @cython.locals(stats=SourceStats, seq=cython.longlong, timestamp=cython.longlong,
                   delta=cython.longlong)
    cpdef receive_usual(self, data, addr, long long now_ms)


cpdef long long _signed32(long long value)
