# Cython declarations for media.py (see setup.py and jitter.pxd): the stream's hot methods call
# the receiver, jitter buffer, concealer and sender as C functions.
from firmware.core.jitter cimport JitterBuffer
from firmware.core.plc cimport Concealer
from firmware.core.rtp cimport RtpReceiver, RtpSender


cpdef bint _usable(addr)


cdef class MediaStream:
    cdef public RtpSender _sender
    cdef public RtpReceiver _receiver
    cdef public JitterBuffer _jitter
    cdef public Concealer _plc
    cdef public bint _closed, _timed_out, _sending, _receiving
    cdef public long long _last_heard_ms, _frame_bytes
    cdef public object params, cname, _rtcp, _rtcp_mux, _inactivity_ms, _detector
    cdef public object _rfc4733_rx, _last_event_slot, _merger, _dtmf_duration_ms, _dtmf_tx
    cdef public object _events, _datagrams, _drop_notes, _drops, _ready, _capture
    cdef public object _sent_at_last_report, _dtmf_received, _dtmf_sent, _rtcp_sent
    cdef public object _encode, _decoders, _remote_rtp, _remote_rtcp
    cpdef receive_rtp(self, data, addr, long long now_ms)
    cpdef _heard(self, long long now_ms)
    cpdef pull_playout(self, long long now_ms)
    cpdef push_capture(self, pcm, long long now_ms)
    cpdef _send_frame(self, frame, list out)
    cpdef next_deadline(self)
    cpdef _timeout_deadline(self)
    cpdef bint has_output(self)
