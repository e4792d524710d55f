"""RTP (RFC 3550): packets, a sender and a receiver for one audio stream.

- ``RtpPacket``: parse/serialize with CSRC list, header extension and padding. ``RtpPacket.parse``
  raises ``RtpError`` (one type, ``reason`` is one of the ``REASON_*`` strings) for anything that
  is not a well-formed RTP packet; ``serialize`` raises ValueError for fields out of range.
- ``is_rtcp(data)``: RFC 5761 demultiplexing test (packet types 192..223).
- ``RtpSender``: SSRC, sequence number and timestamp of our stream. The initial sequence number,
  timestamp and (unless chosen) SSRC come from the injected randomness. The media clock keeps
  running over silence (``skip``), and the first packet after a silence carries the marker bit.
- ``SourceStats``: RFC 3550 appendix A.1 sequence tracking (cycles, loss, dropouts, restarts,
  reordering) and the A.8 interarrival jitter estimator, for one remote SSRC.
- ``RtpReceiver``: accepts packets of the agreed payload types from one source. The first source
  that sends two packets in sequence is latched (symmetric RTP: its address is where we send, so
  a peer behind NAT is reached where it really is). Another SSRC or address is taken over only
  after the current one has been silent for a while (``SWITCH_SSRC_MS`` on the same address,
  ``SWITCH_ADDRESS_MS`` from elsewhere) and the newcomer has passed probation. Everything else is
  dropped and counted in ``dropped`` by reason. ``receive_usual(data, addr, now_ms)`` takes the
  usual datagram (the next audio packet of the latched source) straight from bytes, with the
  same result as ``RtpPacket.parse`` and ``receive``, and leaves every other one to them: three
  calls instead of a dozen and no packet object for nearly every packet of a call.
"""

import struct

RTP_VERSION = 2
HEADER_SIZE = 12

REASON_TRUNCATED_HEADER = "truncated header"
REASON_BAD_VERSION = "bad version"
REASON_TRUNCATED_CSRC = "truncated CSRC list"
REASON_TRUNCATED_EXTENSION = "truncated header extension"
REASON_BAD_PADDING = "bad padding"

# Receiver drop reasons (counted in RtpReceiver.dropped).
DROP_PAYLOAD_TYPE = "unexpected payload type"
DROP_OTHER_SSRC = "other SSRC"
DROP_OTHER_ADDRESS = "other source address"
DROP_SEQUENCE_JUMP = "sequence jump"
DROP_PROBATION = "source on probation"


class RtpError(ValueError):
    """A datagram that is not a valid RTP packet; ``reason`` says why in a fixed phrase."""

    def __init__(self, reason, detail=""):
        super().__init__(reason + (": " + detail if detail else ""))
        self.reason = reason


try:  # CPython: precompiled formats (MicroPython's struct has no Struct)
    _pack_header = struct.Struct("!BBHII").pack
    _unpack_usual = struct.Struct("!HII").unpack_from
except AttributeError:  # pragma: no cover - MicroPython

    def _pack_header(first, second, sequence_number, timestamp, ssrc):
        return struct.pack("!BBHII", first, second, sequence_number, timestamp, ssrc)

    def _unpack_usual(data, offset):
        return struct.unpack_from("!HII", data, offset)


def fixed_header(first, payload_type, marker, sequence_number, timestamp, ssrc):
    """The 12-byte fixed header (RFC 3550 section 5.1) after its first byte `first` (version,
    padding, extension and CSRC count); raises ValueError for fields out of range."""
    if not 0 <= payload_type <= 127:
        raise ValueError("payload type %r out of range" % (payload_type,))
    if not 0 <= sequence_number <= 0xFFFF:
        raise ValueError("sequence number %r out of range" % (sequence_number,))
    if not (0 <= timestamp <= 0xFFFFFFFF and 0 <= ssrc <= 0xFFFFFFFF):
        raise ValueError("timestamp and SSRC must be 32-bit")
    second = payload_type | 0x80 if marker else payload_type
    return _pack_header(first, second, sequence_number, timestamp, ssrc)


def is_rtcp(data):
    """True if a datagram on a multiplexed port is RTCP rather than RTP (RFC 5761 section 4)."""
    return len(data) >= 2 and 192 <= data[1] <= 223


class RtpPacket:
    """One RTP packet. ``padding_size`` counts the padding bytes including the count byte."""

    def __init__(
        self,
        payload_type,
        sequence_number,
        timestamp,
        ssrc,
        payload=b"",
        marker=False,
        csrc=(),
        extension_profile=None,
        extension=b"",
        padding_size=0,
    ):
        self.payload_type = payload_type
        self.sequence_number = sequence_number
        self.timestamp = timestamp
        self.ssrc = ssrc
        self.payload = payload
        self.marker = marker
        self.csrc = list(csrc)
        self.extension_profile = extension_profile
        self.extension = extension
        self.padding_size = padding_size

    def __repr__(self):
        return "RtpPacket(pt=%d, seq=%d, ts=%d, ssrc=0x%08x, marker=%s, %d bytes)" % (
            self.payload_type,
            self.sequence_number,
            self.timestamp,
            self.ssrc,
            self.marker,
            len(self.payload),
        )

    def __eq__(self, other):
        return isinstance(other, RtpPacket) and self._fields() == other._fields()

    def _fields(self):
        return (
            self.payload_type,
            self.sequence_number,
            self.timestamp,
            self.ssrc,
            bytes(self.payload),
            bool(self.marker),
            self.csrc,
            self.extension_profile,
            bytes(self.extension),
            self.padding_size,
        )

    @classmethod
    def parse(cls, data):
        """Parse one RTP packet from bytes; raises RtpError."""
        n = len(data)
        if n < HEADER_SIZE:
            raise RtpError(REASON_TRUNCATED_HEADER, "%d bytes, need 12" % n)
        if data[0] == 0x80:  # the usual packet: no padding, extension or CSRC to look at
            second, seq, ts, ssrc = struct.unpack_from("!BHII", data, 1)
            return cls(second & 0x7F, seq, ts, ssrc, bytes(data[HEADER_SIZE:]), bool(second & 0x80))
        first, second, seq, ts, ssrc = struct.unpack_from("!BBHII", data, 0)
        if first >> 6 != RTP_VERSION:
            raise RtpError(REASON_BAD_VERSION, "version %d" % (first >> 6))
        offset = HEADER_SIZE
        cc = first & 0x0F
        if n < offset + 4 * cc:
            raise RtpError(REASON_TRUNCATED_CSRC, "%d CSRCs need %d bytes" % (cc, offset + 4 * cc))
        csrc = list(struct.unpack_from("!%dI" % cc, data, offset)) if cc else []
        offset += 4 * cc
        profile = None
        extension = b""
        if first & 0x10:
            if n < offset + 4:
                raise RtpError(REASON_TRUNCATED_EXTENSION, "no room for the extension header")
            profile, words = struct.unpack_from("!HH", data, offset)
            offset += 4
            if n < offset + 4 * words:
                raise RtpError(REASON_TRUNCATED_EXTENSION, "%d words announced" % words)
            extension = bytes(data[offset : offset + 4 * words])
            offset += 4 * words
        end = n
        padding = 0
        if first & 0x20:
            padding = data[n - 1]
            if padding == 0 or padding > n - offset:
                raise RtpError(
                    REASON_BAD_PADDING, "count %d with %d bytes left" % (padding, n - offset)
                )
            end = n - padding
        return cls(
            second & 0x7F,
            seq,
            ts,
            ssrc,
            bytes(data[offset:end]),
            bool(second & 0x80),
            csrc,
            profile,
            extension,
            padding,
        )

    def serialize(self):
        """The packet as bytes; raises ValueError for fields out of range."""
        if len(self.csrc) > 15:
            raise ValueError("at most 15 CSRCs")
        if not 0 <= self.padding_size <= 255:
            raise ValueError("padding size %r out of range" % (self.padding_size,))
        first = (RTP_VERSION << 6) | len(self.csrc)
        if self.padding_size:
            first |= 0x20
        has_extension = self.extension_profile is not None
        if has_extension:
            first |= 0x10
        parts = [
            fixed_header(
                first,
                self.payload_type,
                self.marker,
                self.sequence_number,
                self.timestamp,
                self.ssrc,
            )
        ]
        for csrc in self.csrc:
            parts.append(struct.pack("!I", csrc))
        if has_extension:
            if len(self.extension) % 4 or len(self.extension) > 0x3FFFC:
                raise ValueError("extension must be whole 32-bit words (at most 65535)")
            parts.append(struct.pack("!HH", self.extension_profile, len(self.extension) >> 2))
            parts.append(bytes(self.extension))
        parts.append(bytes(self.payload))
        if self.padding_size:
            parts.append(bytes(self.padding_size - 1) + bytes([self.padding_size]))
        return b"".join(parts)


class RtpSender:
    """Numbering of our outgoing stream: SSRC, sequence numbers and the media clock.

    ``timestamp`` is the RTP time of the next sample to be sent. ``packet`` builds a packet at an
    explicit timestamp (DTMF events repeat theirs) and takes the next sequence number; ``send``
    packetises one frame of audio at ``timestamp`` and moves the clock on; ``skip`` moves it on
    without sending (silence, hold, a DTMF event in progress via ``advance``).
    """

    def __init__(self, rng, ssrc=None):
        self.ssrc = rng.getrandbits(32) if ssrc is None else ssrc
        if not 0 <= self.ssrc <= 0xFFFFFFFF:
            raise ValueError("SSRC must be 32-bit")
        self.sequence_number = rng.getrandbits(16)  # the next one to use
        self.timestamp = rng.getrandbits(32)
        self.packets_sent = 0
        self.octets_sent = 0  # payload octets, as RTCP counts them
        self.last_timestamp = None  # RTP time of the newest packet sent
        self._talkspurt = True  # the next audio packet starts a talkspurt (marker bit)

    def packet(self, payload_type, payload, timestamp, marker=False):
        """Serialize a packet with the next sequence number at an explicit timestamp."""
        # RtpPacket(...).serialize() without building the packet object (every 20 ms).
        header = fixed_header(
            RTP_VERSION << 6, payload_type, marker, self.sequence_number, timestamp, self.ssrc
        )
        data = header + bytes(payload)
        self.sequence_number = (self.sequence_number + 1) & 0xFFFF
        self.packets_sent += 1
        self.octets_sent += len(payload)
        self.last_timestamp = timestamp
        return data

    def send(self, payload_type, payload, samples):
        """Packetise one audio frame of `samples` samples at the current media time."""
        data = self.packet(payload_type, payload, self.timestamp, self._talkspurt)
        self._talkspurt = False
        self.advance(samples)
        return data

    def advance(self, samples):
        """Move the media clock on while something else (a DTMF event) covers the time."""
        self.timestamp = (self.timestamp + samples) & 0xFFFFFFFF

    def skip(self, samples):
        """Move the media clock on over silence; the next audio packet gets the marker bit."""
        self.advance(samples)
        self._talkspurt = True


def _signed32(value):
    value &= 0xFFFFFFFF
    return value - 0x100000000 if value >= 0x80000000 else value


class SourceStats:
    """Reception statistics for one SSRC (RFC 3550 A.1 and A.8), started at its first packet."""

    MAX_DROPOUT = 3000
    MAX_MISORDER = 100

    def __init__(self, ssrc, seq):
        self.ssrc = ssrc
        self._restart(seq)
        self.jitter_q4 = 0  # interarrival jitter in timestamp units, times 16 (A.8)
        self._have_transit = False
        self._transit = 0
        self.reordered = 0  # packets that arrived behind a newer one (or duplicates)
        self.expected_prior = 0
        self.received_prior = 0

    def _restart(self, seq):
        self.base_seq = seq
        self.max_seq = seq
        self.cycles = 0
        self.bad_seq = None
        self.received = 1

    def update(self, seq):
        """Account for a packet; False if it is a jump to be ignored (until confirmed)."""
        delta = (seq - self.max_seq) & 0xFFFF
        if 0 < delta < self.MAX_DROPOUT:
            if seq < self.max_seq:
                self.cycles += 0x10000
            self.max_seq = seq
        elif delta == 0 or delta > 0x10000 - self.MAX_MISORDER:
            self.reordered += 1  # late, reordered or duplicated
        elif seq == self.bad_seq:
            # Two packets in sequence after a big jump: the sender restarted its numbering.
            self._restart(seq)
            self.expected_prior = self.received_prior = 0
            self._have_transit = False
            return True
        else:
            self.bad_seq = (seq + 1) & 0xFFFF
            return False
        self.received += 1
        return True

    def update_jitter(self, arrival, timestamp):
        """A.8 estimator; `arrival` is the arrival time in timestamp units."""
        transit = arrival - timestamp
        if self._have_transit:
            d = _signed32(transit - self._transit)
            if d < 0:
                d = -d
            self.jitter_q4 += d - ((self.jitter_q4 + 8) >> 4)
        self._have_transit = True
        self._transit = transit

    @property
    def extended_max_seq(self):
        return self.cycles + self.max_seq

    @property
    def expected(self):
        return self.extended_max_seq - self.base_seq + 1

    @property
    def lost(self):
        """Cumulative packets lost (negative with duplicates), as RTCP reports it."""
        return self.expected - self.received

    @property
    def jitter(self):
        return self.jitter_q4 >> 4

    def report_interval(self):
        """(fraction_lost 0..255, cumulative_lost) for a report block, starting a new interval."""
        expected = self.expected
        expected_interval = expected - self.expected_prior
        received_interval = self.received - self.received_prior
        self.expected_prior = expected
        self.received_prior = self.received
        lost_interval = expected_interval - received_interval
        if expected_interval <= 0 or lost_interval <= 0:
            fraction = 0
        else:
            fraction = (lost_interval << 8) // expected_interval
        return fraction, self.lost


class RtpReceiver:
    """Filters incoming RTP of one stream down to one source (see the module docstring)."""

    SWITCH_SSRC_MS = 60
    SWITCH_ADDRESS_MS = 1000

    def __init__(self, payload_types, clock_rate=8000, jitter_payload_type=None):
        self.payload_types = tuple(payload_types)
        self.samples_per_ms = clock_rate // 1000
        self.jitter_payload_type = jitter_payload_type  # audio only: events repeat timestamps
        self.address = None  # the latched source
        self.ssrc = None
        self.stats = None
        self.last_packet_ms = None
        self.packets = 0  # accepted packets, over all sources
        self.octets = 0
        self.dropped = {}  # reason -> count
        self.last_drop = None  # why the last receive() dropped a packet, or None
        self._candidate = None  # (addr, packet) on probation

    def _drop(self, reason):
        self.dropped[reason] = self.dropped.get(reason, 0) + 1
        self.last_drop = reason
        return []

    def receive(self, packet, addr, now_ms):
        """Return the packets to use (usually [packet]; two when a source leaves probation)."""
        self.last_drop = None
        if packet.payload_type not in self.payload_types:
            return self._drop(DROP_PAYLOAD_TYPE)
        if self.ssrc is not None and packet.ssrc == self.ssrc and addr == self.address:
            return self._accept(packet, now_ms)
        if self.ssrc is not None:
            silent_ms = now_ms - self.last_packet_ms
            if addr == self.address:
                if silent_ms < self.SWITCH_SSRC_MS:
                    return self._drop(DROP_OTHER_SSRC)
            elif silent_ms < self.SWITCH_ADDRESS_MS:
                return self._drop(DROP_OTHER_ADDRESS)
        candidate = self._candidate
        if (
            candidate is not None
            and candidate[0] == addr
            and candidate[1].ssrc == packet.ssrc
            and packet.sequence_number == (candidate[1].sequence_number + 1) & 0xFFFF
        ):
            self._candidate = None
            self.address = addr
            self.ssrc = packet.ssrc
            self.stats = None
            return self._accept(candidate[1], now_ms) + self._accept(packet, now_ms)
        if candidate is not None:
            self._drop(DROP_PROBATION)  # the held packet never found a successor
        self._candidate = (addr, packet)
        return []

    def receive_usual(self, data, addr, now_ms):
        """The usual datagram in one step: the next audio packet (no marker, padding, extension
        or CSRCs) from the latched source, at most MAX_DROPOUT ahead. Returns (timestamp,
        payload) exactly as parse() and receive() would have accepted it, or None, having
        changed nothing, for any other datagram: give that one to parse() and receive()."""
        stats = self.stats
        if (
            stats is None
            or len(data) < HEADER_SIZE
            or data[0] != 0x80
            or data[1] != self.jitter_payload_type
            or addr != self.address
        ):
            return None
        seq, timestamp, ssrc = _unpack_usual(data, 2)
        delta = (seq - stats.max_seq) & 0xFFFF
        if ssrc != self.ssrc or not 0 < delta < stats.MAX_DROPOUT:
            return None
        stats.update(seq)  # as in _accept(): in order or a small gap, so never a jump
        stats.update_jitter(now_ms * self.samples_per_ms, timestamp)
        self.last_drop = None
        self.last_packet_ms = now_ms
        self.packets += 1
        payload = bytes(data[HEADER_SIZE:])
        self.octets += len(payload)
        return timestamp, payload

    def _accept(self, packet, now_ms):
        if self.stats is None:
            self.stats = SourceStats(packet.ssrc, packet.sequence_number)
        elif not self.stats.update(packet.sequence_number):
            return self._drop(DROP_SEQUENCE_JUMP)
        if packet.payload_type == self.jitter_payload_type:
            self.stats.update_jitter(now_ms * self.samples_per_ms, packet.timestamp)
        self.last_packet_ms = now_ms
        self.packets += 1
        self.octets += len(packet.payload)
        return [packet]

    def forget_source(self):
        """Unlatch (after a re-INVITE moved the peer): the next valid source is learned anew."""
        self.address = None
        self.ssrc = None
        self.stats = None
        self._candidate = None
