"""RTCP (RFC 3550 section 6): reports, source descriptions and BYE, and the report schedule.

Packets (each with ``serialize()``; ``parse_compound(data)`` returns a list of them):

- ``SenderReport(ssrc, ntp_timestamp, rtp_timestamp, packet_count, octet_count, reports)``
- ``ReceiverReport(ssrc, reports)``; ``reports`` are ``ReportBlock`` objects
- ``SourceDescription(chunks)``: ``chunks`` is a list of ``(ssrc, [(item_type, bytes), ...])``
- ``Bye(sources, reason=b"")``
- ``RtcpOther(packet_type, count, body)``: anything else (APP, feedback, XR), kept as bytes

``parse_compound`` raises ``RtcpError`` (``reason`` is one of the ``REASON_*`` strings) for a
datagram that is not a well-formed sequence of RTCP packets. It accepts reduced-size RTCP
(RFC 5506: one packet that is not a report), as real peers send BYE on its own.

``RtcpSession`` keeps what the reports need: when to send the next one (every ~5 s, randomised
to 0.5..1.5 times that, the first one after half the interval), the last SR heard from the peer
(for LSR/DLSR) and the round-trip time the peer's report blocks reveal.
"""

import struct

PT_SR = 200
PT_RR = 201
PT_SDES = 202
PT_BYE = 203
PT_APP = 204

SDES_END = 0
SDES_CNAME = 1

REASON_TRUNCATED = "truncated packet"
REASON_BAD_VERSION = "bad version"
REASON_BAD_LENGTH = "bad length"
REASON_BAD_PADDING = "bad padding"
REASON_BAD_SDES = "bad SDES chunk"
REASON_BAD_BYE = "bad BYE reason"
REASON_NOT_RTCP = "not RTCP"

NTP_EPOCH_OFFSET_MS = 2208988800 * 1000  # 1900-01-01 to 1970-01-01


class RtcpError(ValueError):
    """A datagram that is not valid RTCP; ``reason`` says why in a fixed phrase."""

    def __init__(self, reason, detail=""):
        super().__init__(reason + (": " + detail if detail else ""))
        self.reason = reason


def _header(count, packet_type, body_len, padding=False):
    if body_len % 4:
        raise ValueError("RTCP body must be whole 32-bit words")
    return struct.pack("!BBH", 0x80 | (0x20 if padding else 0) | count, packet_type, body_len >> 2)


class ReportBlock:
    """One reception report block (24 bytes)."""

    SIZE = 24

    def __init__(self, ssrc, fraction_lost, packets_lost, highest_sequence, jitter, lsr, dlsr):
        self.ssrc = ssrc
        self.fraction_lost = fraction_lost  # 0..255, fixed point /256
        self.packets_lost = packets_lost  # cumulative, signed 24-bit
        self.highest_sequence = highest_sequence  # extended
        self.jitter = jitter  # timestamp units
        self.lsr = lsr
        self.dlsr = dlsr  # 1/65536 s

    def __repr__(self):
        return "ReportBlock(ssrc=0x%08x, fraction=%d, lost=%d, seq=%d, jitter=%d)" % (
            self.ssrc,
            self.fraction_lost,
            self.packets_lost,
            self.highest_sequence,
            self.jitter,
        )

    def __eq__(self, other):
        return isinstance(other, ReportBlock) and self.__dict__ == other.__dict__

    @classmethod
    def parse(cls, data, offset):
        ssrc, lost_word, seq, jitter, lsr, dlsr = struct.unpack_from("!IIIIII", data, offset)
        lost = lost_word & 0xFFFFFF
        if lost & 0x800000:
            lost -= 0x1000000
        return cls(ssrc, lost_word >> 24, lost, seq, jitter, lsr, dlsr)

    def serialize(self):
        lost = self.packets_lost
        if lost > 0x7FFFFF:
            lost = 0x7FFFFF
        elif lost < -0x800000:
            lost = -0x800000
        return struct.pack(
            "!IIIIII",
            self.ssrc,
            ((self.fraction_lost & 0xFF) << 24) | (lost & 0xFFFFFF),
            self.highest_sequence & 0xFFFFFFFF,
            self.jitter & 0xFFFFFFFF,
            self.lsr & 0xFFFFFFFF,
            self.dlsr & 0xFFFFFFFF,
        )


def _blocks(reports):
    if len(reports) > 31:
        raise ValueError("at most 31 report blocks per packet")
    return b"".join(r.serialize() for r in reports)


def _parse_blocks(body, offset, count, end):
    if offset + count * ReportBlock.SIZE > end:
        raise RtcpError(REASON_BAD_LENGTH, "%d report blocks do not fit" % count)
    return [ReportBlock.parse(body, offset + i * ReportBlock.SIZE) for i in range(count)]


class SenderReport:
    packet_type = PT_SR

    def __init__(self, ssrc, ntp_timestamp, rtp_timestamp, packet_count, octet_count, reports=()):
        self.ssrc = ssrc
        self.ntp_timestamp = ntp_timestamp  # 64-bit NTP format
        self.rtp_timestamp = rtp_timestamp
        self.packet_count = packet_count
        self.octet_count = octet_count
        self.reports = list(reports)

    def __repr__(self):
        return "SenderReport(ssrc=0x%08x, packets=%d, %r)" % (
            self.ssrc,
            self.packet_count,
            self.reports,
        )

    def __eq__(self, other):
        return isinstance(other, SenderReport) and self.__dict__ == other.__dict__

    def serialize(self):
        body = struct.pack(
            "!IIIIII",
            self.ssrc,
            (self.ntp_timestamp >> 32) & 0xFFFFFFFF,
            self.ntp_timestamp & 0xFFFFFFFF,
            self.rtp_timestamp & 0xFFFFFFFF,
            self.packet_count & 0xFFFFFFFF,
            self.octet_count & 0xFFFFFFFF,
        ) + _blocks(self.reports)
        return _header(len(self.reports), PT_SR, len(body)) + body

    @classmethod
    def parse(cls, count, body):
        if len(body) < 24:
            raise RtcpError(REASON_BAD_LENGTH, "SR needs 24 bytes of sender info")
        ssrc, msw, lsw, rtp_ts, packets, octets = struct.unpack_from("!IIIIII", body, 0)
        return cls(
            ssrc,
            (msw << 32) | lsw,
            rtp_ts,
            packets,
            octets,
            _parse_blocks(body, 24, count, len(body)),
        )


class ReceiverReport:
    packet_type = PT_RR

    def __init__(self, ssrc, reports=()):
        self.ssrc = ssrc
        self.reports = list(reports)

    def __repr__(self):
        return "ReceiverReport(ssrc=0x%08x, %r)" % (self.ssrc, self.reports)

    def __eq__(self, other):
        return isinstance(other, ReceiverReport) and self.__dict__ == other.__dict__

    def serialize(self):
        body = struct.pack("!I", self.ssrc) + _blocks(self.reports)
        return _header(len(self.reports), PT_RR, len(body)) + body

    @classmethod
    def parse(cls, count, body):
        if len(body) < 4:
            raise RtcpError(REASON_BAD_LENGTH, "RR needs an SSRC")
        ssrc = struct.unpack_from("!I", body, 0)[0]
        return cls(ssrc, _parse_blocks(body, 4, count, len(body)))


class SourceDescription:
    packet_type = PT_SDES

    def __init__(self, chunks=()):
        self.chunks = [(ssrc, list(items)) for ssrc, items in chunks]

    def __repr__(self):
        return "SourceDescription(%r)" % (self.chunks,)

    def __eq__(self, other):
        return isinstance(other, SourceDescription) and self.chunks == other.chunks

    def cname(self, ssrc):
        """The CNAME item of `ssrc` (bytes), or None."""
        for chunk_ssrc, items in self.chunks:
            if chunk_ssrc == ssrc:
                for item_type, value in items:
                    if item_type == SDES_CNAME:
                        return value
        return None

    def serialize(self):
        if len(self.chunks) > 31:
            raise ValueError("at most 31 SDES chunks per packet")
        parts = []
        for ssrc, items in self.chunks:
            chunk = struct.pack("!I", ssrc)
            for item_type, value in items:
                if not 1 <= item_type <= 255 or len(value) > 255:
                    raise ValueError("bad SDES item %r" % ((item_type, value),))
                chunk += bytes([item_type, len(value)]) + bytes(value)
            # At least one null octet ends the item list, then pad to a 32-bit boundary.
            chunk += bytes(4 - (len(chunk) % 4))
            parts.append(chunk)
        body = b"".join(parts)
        return _header(len(self.chunks), PT_SDES, len(body)) + body

    @classmethod
    def parse(cls, count, body):
        chunks = []
        offset = 0
        for _ in range(count):
            if offset + 4 > len(body):
                raise RtcpError(REASON_BAD_SDES, "chunk %d missing" % len(chunks))
            ssrc = struct.unpack_from("!I", body, offset)[0]
            offset += 4
            items = []
            while True:
                if offset >= len(body):
                    raise RtcpError(REASON_BAD_SDES, "item list not terminated")
                item_type = body[offset]
                if item_type == SDES_END:
                    offset = (offset + 4) & ~3  # skip the null octet(s) to the next word
                    break
                if offset + 2 > len(body) or offset + 2 + body[offset + 1] > len(body):
                    raise RtcpError(REASON_BAD_SDES, "item runs past the packet")
                length = body[offset + 1]
                items.append((item_type, bytes(body[offset + 2 : offset + 2 + length])))
                offset += 2 + length
            chunks.append((ssrc, items))
        return cls(chunks)


class Bye:
    packet_type = PT_BYE

    def __init__(self, sources, reason=b""):
        self.sources = list(sources)
        self.reason = bytes(reason)

    def __repr__(self):
        return "Bye(%r, %r)" % (self.sources, self.reason)

    def __eq__(self, other):
        return isinstance(other, Bye) and self.__dict__ == other.__dict__

    def serialize(self):
        if len(self.sources) > 31 or len(self.reason) > 255:
            raise ValueError("at most 31 sources and 255 bytes of reason")
        body = b"".join(struct.pack("!I", s) for s in self.sources)
        if self.reason:
            body += bytes([len(self.reason)]) + self.reason
            body += bytes(-len(body) % 4)
        return _header(len(self.sources), PT_BYE, len(body)) + body

    @classmethod
    def parse(cls, count, body):
        if 4 * count > len(body):
            raise RtcpError(REASON_BAD_LENGTH, "%d sources do not fit" % count)
        sources = list(struct.unpack_from("!%dI" % count, body, 0)) if count else []
        offset = 4 * count
        reason = b""
        if offset < len(body):
            length = body[offset]
            if offset + 1 + length > len(body):
                raise RtcpError(REASON_BAD_BYE, "reason runs past the packet")
            reason = bytes(body[offset + 1 : offset + 1 + length])
        return cls(sources, reason)


class RtcpOther:
    """An RTCP packet we do not interpret (APP, RTPFB/PSFB, XR...)."""

    def __init__(self, packet_type, count, body):
        self.packet_type = packet_type
        self.count = count
        self.body = bytes(body)

    def __repr__(self):
        return "RtcpOther(pt=%d, %d bytes)" % (self.packet_type, len(self.body))

    def __eq__(self, other):
        return isinstance(other, RtcpOther) and self.__dict__ == other.__dict__

    def serialize(self):
        return _header(self.count, self.packet_type, len(self.body)) + self.body


_PARSERS = {PT_SR: SenderReport, PT_RR: ReceiverReport, PT_SDES: SourceDescription, PT_BYE: Bye}


def parse_compound(data):
    """Parse a (compound) RTCP datagram into a list of packets; raises RtcpError."""
    packets = []
    offset = 0
    n = len(data)
    if n == 0:
        raise RtcpError(REASON_TRUNCATED, "empty datagram")
    while offset < n:
        if n - offset < 4:
            raise RtcpError(
                REASON_TRUNCATED, "%d stray bytes after packet %d" % (n - offset, len(packets))
            )
        first, packet_type, words = struct.unpack_from("!BBH", data, offset)
        if first >> 6 != 2:
            raise RtcpError(REASON_BAD_VERSION, "version %d" % (first >> 6))
        if not 192 <= packet_type <= 223:
            raise RtcpError(REASON_NOT_RTCP, "packet type %d" % packet_type)
        size = 4 * (words + 1)
        if offset + size > n:
            raise RtcpError(
                REASON_TRUNCATED,
                "packet %d needs %d bytes, %d left" % (len(packets), size, n - offset),
            )
        end = offset + size
        if first & 0x20:
            # Only the last packet of a compound may be padded (RFC 3550 section 6.4.1).
            padding = data[end - 1]
            if end != n or padding == 0 or padding > size - 4:
                raise RtcpError(REASON_BAD_PADDING, "count %d" % padding)
            end -= padding
        body = bytes(data[offset + 4 : end])
        count = first & 0x1F
        parser = _PARSERS.get(packet_type)
        packets.append(parser.parse(count, body) if parser else RtcpOther(packet_type, count, body))
        offset += size
    return packets


def serialize_compound(packets):
    return b"".join(p.serialize() for p in packets)


def ntp_timestamp(wall_ms):
    """64-bit NTP timestamp for a wallclock time in ms since 1970."""
    ms = wall_ms + NTP_EPOCH_OFFSET_MS
    seconds, rest = divmod(ms, 1000)
    return ((seconds & 0xFFFFFFFF) << 32) | ((rest << 32) // 1000)


def ntp_middle(ntp):
    """The middle 32 bits of an NTP timestamp (the LSR/DLSR clock, 1/65536 s)."""
    return (ntp >> 16) & 0xFFFFFFFF


class RtcpSession:
    """The RTCP side of one call: report timing, LSR/DLSR bookkeeping and round-trip time.

    Time is ``now_ms`` from the runtime's monotonic clock; ``wallclock_offset_ms`` (wallclock ms
    since 1970 minus now_ms) only makes the SR's NTP field meaningful to others.
    """

    INTERVAL_MS = 5000

    def __init__(self, rng, now_ms, wallclock_offset_ms=0, interval_ms=INTERVAL_MS):
        self._rng = rng
        self.interval_ms = interval_ms
        self.wallclock_offset_ms = wallclock_offset_ms
        self.next_report_ms = now_ms + self._randomised(interval_ms // 2)
        self.last_sr_ntp_middle = 0  # of the peer's last SR
        self.last_sr_arrival_ms = None
        self.rtt_ms = None
        self.remote_report = None  # the peer's last ReportBlock about our stream
        self.reports_sent = 0
        self.reports_received = 0

    def _randomised(self, interval_ms):
        # Uniform in [0.5, 1.5) x interval (RFC 3550 section 6.3.1), 16 bits are plenty.
        return interval_ms // 2 + ((interval_ms * self._rng.getrandbits(16)) >> 16)

    def ntp(self, now_ms):
        return ntp_timestamp(now_ms + self.wallclock_offset_ms)

    def schedule_next(self, now_ms):
        self.next_report_ms = now_ms + self._randomised(self.interval_ms)

    def report_block(self, stats, now_ms):
        """Our ReportBlock about the peer's stream (a SourceStats), starting a new interval."""
        fraction, lost = stats.report_interval()
        if self.last_sr_arrival_ms is None:
            lsr = dlsr = 0
        else:
            lsr = self.last_sr_ntp_middle
            dlsr = ((now_ms - self.last_sr_arrival_ms) << 16) // 1000
        return ReportBlock(
            stats.ssrc, fraction, lost, stats.extended_max_seq, stats.jitter, lsr, dlsr
        )

    def receive(self, packets, local_ssrc, remote_ssrc, now_ms):
        """Digest the peer's packets: remember its SR time, measure RTT from blocks about us."""
        self.reports_received += 1
        for packet in packets:
            if isinstance(packet, SenderReport) and (
                remote_ssrc is None or packet.ssrc == remote_ssrc
            ):
                self.last_sr_ntp_middle = ntp_middle(packet.ntp_timestamp)
                self.last_sr_arrival_ms = now_ms
            if isinstance(packet, (SenderReport, ReceiverReport)):
                for block in packet.reports:
                    if block.ssrc == local_ssrc:
                        self._digest_block(block, now_ms)

    def _digest_block(self, block, now_ms):
        self.remote_report = block
        if block.lsr == 0:
            return  # the peer has not heard an SR from us yet
        arrival = ntp_middle(self.ntp(now_ms))
        rtt = (arrival - block.lsr - block.dlsr) & 0xFFFFFFFF
        if rtt < 0x80000000:  # a negative RTT means the peer's figures are off: ignore them
            self.rtt_ms = (rtt * 1000) >> 16
