"""The media stream of one call: RTP/RTCP in and out, G.711, jitter buffer, PLC and DTMF.

Sans-IO like the rest of the core: datagrams, audio frames and ``now_ms`` go in; datagrams,
audio frames, events and the next deadline come out. The runtime's 20 ms audio pump drives it::

    stream = MediaStream(params, rng, now_ms)        # params: sdp.MediaParams (or look-alike)
    stream.receive_rtp(data, addr, now_ms)           # every datagram from the RTP socket
    stream.receive_rtcp(data, addr, now_ms)          # every datagram from the RTCP socket
    pcm = stream.pull_playout(now_ms)                # every 20 ms: 320 bytes for the speaker
    for data, addr in stream.push_capture(pcm, now_ms): rtp_socket.sendto(data, addr)
    for data, addr in stream.datagrams_to_send(): rtcp_socket.sendto(data, addr)
    stream.next_deadline() / stream.handle_timer(now_ms)    # RTCP reports, inactivity
    while (event := stream.next_event()) is not None: ...
    stream.close(now_ms)                             # RTCP BYE; then send datagrams_to_send()

Constructor: ``MediaStream(params, rng, now_ms, ssrc=None, cname=None,
inactivity_timeout_ms=30000, rtcp_interval_ms=5000, rtcp_mux=False, jitter_min_ms=40,
jitter_max_ms=300, detect_inband_dtmf=True, dtmf_duration_ms=100, wallclock_offset_ms=0)``.
``params`` needs the attributes of ``sdp.MediaParams``: ``remote_rtp`` and ``remote_rtcp``
((host, port) or None), ``payload_type`` and ``codec`` ("PCMU"/"PCMA"), ``dtmf_payload_type``
(telephone-event, or None), ``ptime_ms`` and ``direction`` ("sendrecv", "sendonly", "recvonly",
"inactive"). ``rng`` has ``getrandbits(bits)`` (SSRC, first sequence number and timestamp, RTCP
timing, CNAME); ``ssrc`` picks our SSRC instead. ``inactivity_timeout_ms`` None disables the
timeout. With ``rtcp_mux`` RTCP goes to the RTP address (and must be sent from the RTP socket).

Methods:

- ``receive_rtp(data, addr, now_ms)``, ``receive_rtcp(data, addr, now_ms)``: never raise; bad
  datagrams are dropped, counted in ``stats()["drops"]`` and reported by a rate-limited
  ``PacketDropped`` event. RTCP arriving on the RTP port (RFC 5761) is recognised.
- ``receive_info(content_type, body, now_ms)``: a SIP INFO DTMF body (application/dtmf-relay,
  application/dtmf). Raises ``dtmf.DtmfError``: reason "unsupported content type" (answer 415),
  anything else is a bad body (answer 400).
- ``pull_playout(now_ms) -> bytes``: 20 ms of audio to play (320 bytes S16LE): jitter buffer,
  decode, loss concealment; silence when there is nothing to play. In-band DTMF is detected here.
- ``push_capture(pcm, now_ms) -> [(bytes, addr)]``: the microphone's audio (any whole number of
  samples; call it for every captured frame, also on hold: the RTP clock counts these samples).
  Returns the RTP datagrams to send. Queued DTMF takes the place of the audio while it is sent.
- ``send_dtmf(digits, now_ms)``: queue digits (RFC 4733 when negotiated, else in-band tones);
  ValueError for a character that is not a DTMF digit.
- ``datagrams_to_send() -> [(bytes, addr)]``: RTCP to send (from the RTCP socket).
- ``next_deadline() -> ms or None``, ``handle_timer(now_ms)``: RTCP reports every ~5 s and the
  inactivity timeout.
- ``next_event()``: ``DtmfReceived``, ``MediaTimedOut``, ``RemoteAddressLearned``,
  ``RemoteSsrcChanged``, ``RtcpByeReceived``, ``PacketDropped``, or None.
- ``stats() -> dict``: codec, packet and octet counts, loss, jitter, RTT, buffer figures.
- ``update(params, now_ms)``: a re-INVITE changed the stream (codec, address, hold...). Our SSRC,
  sequence numbers and RTP clock carry on; the peer's address is learned anew if it moved.
- ``close(now_ms, reason=b"")``: queue the RTCP BYE (SR/RR + SDES + BYE); afterwards the
  stream is silent and ignores input.
"""

from firmware.core import dtmf, g711, jitter, plc, rtcp, rtp
from firmware.core.jitter import CONCEAL, FRAME, SPLICE
from firmware.core.record import Record

FRAME_SAMPLES = 160  # the audio pump's 20 ms
FRAME_BYTES = 2 * FRAME_SAMPLES
DIRECTIONS = ("sendrecv", "sendonly", "recvonly", "inactive")
CHANNEL_RTP = "rtp"
CHANNEL_RTCP = "rtcp"
EVENT_QUEUE_MAX = 64
DROP_EVENT_INTERVAL_MS = 10000

DROP_BAD_RTCP_SOURCE = "RTCP from an unknown source"
DROP_BAD_EVENT = "bad telephone-event payload"
DROP_CLOSED = "stream closed"

_SILENCE = bytes(FRAME_BYTES)


# -- events ----------------------------------------------------------------------------------------


class DtmfReceived(Record):
    """A key press from the peer; source is dtmf.SOURCE_RFC4733, SOURCE_INFO or SOURCE_INBAND."""

    _fields = ("digit", "source")

    def __init__(self, digit, source):
        self.digit = digit
        self.source = source


class MediaTimedOut(Record):
    """Nothing (RTP or RTCP) came from the peer for idle_ms: the call is probably dead."""

    _fields = ("idle_ms",)

    def __init__(self, idle_ms):
        self.idle_ms = idle_ms


class RemoteAddressLearned(Record):
    """The peer's media comes from addr (symmetric RTP): we now send there; channel rtp/rtcp."""

    _fields = ("channel", "addr", "previous")

    def __init__(self, channel, addr, previous):
        self.channel = channel
        self.addr = addr
        self.previous = previous


class RemoteSsrcChanged(Record):
    """The peer's stream restarted with another SSRC (the jitter buffer started over)."""

    _fields = ("ssrc", "previous")

    def __init__(self, ssrc, previous):
        self.ssrc = ssrc
        self.previous = previous


class RtcpByeReceived(Record):
    """The peer said goodbye in RTCP (the SIP BYE is what ends the call)."""

    _fields = ("ssrc", "reason")

    def __init__(self, ssrc, reason):
        self.ssrc = ssrc
        self.reason = reason


class PacketDropped(Record):
    """Datagrams were dropped; count is how many for this reason since the last such event."""

    _fields = ("channel", "reason", "addr", "count")

    def __init__(self, channel, reason, addr, count):
        self.channel = channel
        self.reason = reason
        self.addr = addr
        self.count = count


def _text(raw):
    try:
        return raw.decode("utf-8")
    except UnicodeError:
        return "".join(chr(c) if 32 <= c < 127 else "?" for c in raw)


def _usable(addr):
    return addr is not None and addr[0] not in ("0.0.0.0", "::")


class MediaStream:
    """One call's audio stream (see the module docstring)."""

    def __init__(
        self,
        params,
        rng,
        now_ms,
        ssrc=None,
        cname=None,
        inactivity_timeout_ms=30000,
        rtcp_interval_ms=rtcp.RtcpSession.INTERVAL_MS,
        rtcp_mux=False,
        jitter_min_ms=40,
        jitter_max_ms=300,
        detect_inband_dtmf=True,
        dtmf_duration_ms=100,
        wallclock_offset_ms=0,
    ):
        self._sender = rtp.RtpSender(rng, ssrc)
        if cname is None:
            cname = "%08x%08x%08x@intercom" % (
                rng.getrandbits(32),
                rng.getrandbits(32),
                rng.getrandbits(32),
            )  # random per call (RFC 7022): no identity leaks into RTCP
        self.cname = cname
        self._rtcp = rtcp.RtcpSession(rng, now_ms, wallclock_offset_ms, rtcp_interval_ms)
        self._rtcp_mux = rtcp_mux
        self._inactivity_ms = inactivity_timeout_ms
        self._jitter = jitter.JitterBuffer(8000, jitter_min_ms, jitter_max_ms)
        self._plc = plc.Concealer()
        self._detector = dtmf.DtmfDetector() if detect_inband_dtmf else None
        self._rfc4733_rx = dtmf.Rfc4733Receiver()
        self._last_event_slot = None
        self._merger = dtmf.DtmfMerger()
        self._dtmf_duration_ms = dtmf_duration_ms
        self._events = []
        self._datagrams = []
        self._drop_notes = {}  # (channel, reason) -> [last event ms, count since]
        self._drops = {}  # reason -> count, RTP and RTCP
        self._ready = b""  # decoded audio waiting to be played
        self._capture = b""  # captured audio short of a whole packet
        self._closed = False
        self._timed_out = False
        self._last_heard_ms = now_ms
        self._sent_at_last_report = 0
        self._dtmf_received = 0
        self._dtmf_sent = 0
        self._rtcp_sent = 0
        self.params = None
        self._apply(params, now_ms)

    # -- configuration ---------------------------------------------------------------------------

    def _apply(self, params, now_ms):
        codec = params.codec
        g711.encoder(codec)  # raises ValueError for an unknown codec
        if params.direction not in DIRECTIONS:
            raise ValueError("unknown direction %r" % (params.direction,))
        if not 0 <= params.payload_type <= 127:
            raise ValueError("bad payload type %r" % (params.payload_type,))
        event_pt = params.dtmf_payload_type
        if event_pt is not None and (not 0 <= event_pt <= 127 or event_pt == params.payload_type):
            raise ValueError("bad telephone-event payload type %r" % (event_pt,))
        if not 10 <= params.ptime_ms <= 120 or params.ptime_ms % 10:
            raise ValueError("ptime must be 10..120 ms in steps of 10, not %r" % params.ptime_ms)
        old = self.params
        self.params = params
        self._encode = g711.encoder(codec)
        self._decoders = {params.payload_type: g711.decoder(codec)}
        if old is not None and old.payload_type != params.payload_type:
            # Packets of the old codec may still sit in the jitter buffer.
            self._decoders[old.payload_type] = g711.decoder(old.codec)
        self._frame_bytes = 2 * 8 * params.ptime_ms
        self._sending = params.direction in ("sendrecv", "sendonly")
        self._receiving = params.direction in ("sendrecv", "recvonly")
        types = [params.payload_type] + ([] if event_pt is None else [event_pt])
        if old is not None and old.payload_type != params.payload_type:
            # RFC 3264 section 8.3.2: the old format may still arrive until the new one does.
            types.append(old.payload_type)
        moved = old is None or old.remote_rtp != params.remote_rtp
        if old is None:
            self._receiver = rtp.RtpReceiver(types, 8000, params.payload_type)
        else:
            self._receiver.payload_types = tuple(types)
            self._receiver.jitter_payload_type = params.payload_type
            if moved:
                self._receiver.forget_source()
        if moved:
            self._remote_rtp = params.remote_rtp
            self._remote_rtcp = params.remote_rtp if self._rtcp_mux else params.remote_rtcp
        if old is None or (event_pt is None) != (old.dtmf_payload_type is None):
            duration = self._dtmf_duration_ms
            if event_pt is None:
                self._dtmf_tx = dtmf.InbandSender(duration)
            else:
                self._dtmf_tx = dtmf.Rfc4733Sender(duration)
        self._last_heard_ms = now_ms  # a changed stream gets a fresh grace period
        self._timed_out = False

    def update(self, params, now_ms):
        """Apply renegotiated parameters (re-INVITE); ValueError for impossible ones."""
        if not self._closed:
            self._apply(params, now_ms)

    # -- events and output queues ----------------------------------------------------------------

    def _event(self, event):
        if len(self._events) >= EVENT_QUEUE_MAX:
            self._events.pop(0)
        self._events.append(event)

    def has_output(self):
        """True when next_event() or datagrams_to_send() has something (a cheap check, so the
        runtime can skip a pass over the queues after most packets and frames)."""
        return bool(self._events or self._datagrams)

    def next_event(self):
        return self._events.pop(0) if self._events else None

    def datagrams_to_send(self):
        out = self._datagrams
        self._datagrams = []
        return out

    def _dropped(self, channel, reason, addr, now_ms):
        self._drops[reason] = self._drops.get(reason, 0) + 1
        key = (channel, reason)
        note = self._drop_notes.get(key)
        if note is None:
            self._drop_notes[key] = [now_ms, 0]
            self._event(PacketDropped(channel, reason, addr, 1))
            return
        note[1] += 1
        if now_ms - note[0] >= DROP_EVENT_INTERVAL_MS:
            self._event(PacketDropped(channel, reason, addr, note[1]))
            note[0] = now_ms
            note[1] = 0

    def _heard(self, now_ms):
        self._last_heard_ms = now_ms
        self._timed_out = False

    # -- receiving -------------------------------------------------------------------------------

    def receive_rtp(self, data, addr, now_ms):
        """Take one datagram from the RTP socket. Never raises."""
        if self._closed:
            self._drops[DROP_CLOSED] = self._drops.get(DROP_CLOSED, 0) + 1
            return
        usual = self._receiver.receive_usual(data, addr, now_ms)
        if usual is None:
            self._receive_other(data, addr, now_ms)
            return
        # The next audio packet of the latched source (nearly every one): what the general path
        # below does with it. Its address is already where we send: the general path latched
        # the source and learned the address in one step (and a re-INVITE that moves the peer
        # unlatches it).
        self._heard(now_ms)
        if self._receiving:
            payload = usual[1]
            self._jitter.put(usual[0], (self.params.payload_type, payload), now_ms, len(payload))

    def _receive_other(self, data, addr, now_ms):
        if rtp.is_rtcp(data):
            self.receive_rtcp(data, addr, now_ms)
            return
        try:
            packet = rtp.RtpPacket.parse(data)
        except rtp.RtpError as exc:
            self._dropped(CHANNEL_RTP, exc.reason, addr, now_ms)
            return
        receiver = self._receiver
        previous_ssrc = receiver.ssrc
        accepted = receiver.receive(packet, addr, now_ms)
        if receiver.last_drop is not None:
            self._dropped(CHANNEL_RTP, receiver.last_drop, addr, now_ms)
        if not accepted:
            return
        if receiver.ssrc != previous_ssrc:
            if previous_ssrc is not None:
                self._event(RemoteSsrcChanged(receiver.ssrc, previous_ssrc))
            self._jitter.reset()
            self._rfc4733_rx = dtmf.Rfc4733Receiver()
        if receiver.address != self._remote_rtp and receiver.address == addr:
            self._learn_rtp_address(addr)
        self._heard(now_ms)
        event_pt = self.params.dtmf_payload_type
        for p in accepted:
            if p.payload_type == event_pt:
                self._receive_event(p, addr, now_ms)
            elif self._receiving:
                self._jitter.put(p.timestamp, (p.payload_type, p.payload), now_ms, len(p.payload))

    def _learn_rtp_address(self, addr):
        """Symmetric RTP: send where the latched source's packets come from."""
        self._event(RemoteAddressLearned(CHANNEL_RTP, addr, self._remote_rtp))
        self._remote_rtp = addr
        if self._rtcp_mux:
            self._remote_rtcp = addr

    def _receive_event(self, packet, addr, now_ms):
        try:
            digit = self._rfc4733_rx.receive(packet.timestamp, packet.payload)
        except dtmf.DtmfError:
            self._dropped(CHANNEL_RTP, DROP_BAD_EVENT, addr, now_ms)
            return
        if digit is not None:
            self._digit(digit, dtmf.SOURCE_RFC4733, now_ms)
        self._event_silence(packet, now_ms)

    def _event_silence(self, packet, now_ms):
        """While the peer sends a key press instead of audio, play silence: the time the event
        covers is not lost audio to conceal (RFC 4733 section 2.5.1.3: the timestamp is the
        event's start, the duration grows by a frame per packet)."""
        duration = dtmf.TelephoneEvent.parse(packet.payload).duration
        frame = self._jitter.frame_samples or FRAME_SAMPLES
        if not self._receiving or duration < frame or duration % frame:
            return
        start = (packet.timestamp + duration - frame) & 0xFFFFFFFF
        if start == self._last_event_slot:
            return  # a retransmitted end packet
        self._last_event_slot = start
        pt = self.params.payload_type
        silence = bytes([g711.SILENCE_CODE[self.params.codec]]) * frame
        self._jitter.put(start, (pt, silence), now_ms, frame)

    def _digit(self, digit, source, now_ms):
        if self._merger.accept(digit, source, now_ms):
            self._dtmf_received += 1
            self._event(DtmfReceived(digit, source))

    def receive_info(self, content_type, body, now_ms):
        """Take a SIP INFO DTMF body; raises dtmf.DtmfError for one we cannot read."""
        digit, _duration_ms = dtmf.parse_info(content_type, body)
        if not self._closed:
            self._digit(digit, dtmf.SOURCE_INFO, now_ms)

    def receive_rtcp(self, data, addr, now_ms):
        """Take one datagram from the RTCP socket. Never raises."""
        if self._closed:
            self._drops[DROP_CLOSED] = self._drops.get(DROP_CLOSED, 0) + 1
            return
        try:
            packets = rtcp.parse_compound(data)
        except rtcp.RtcpError as exc:
            self._dropped(CHANNEL_RTCP, exc.reason, addr, now_ms)
            return
        remote_ssrc = self._receiver.ssrc
        sender = None
        for packet in packets:
            if isinstance(packet, (rtcp.SenderReport, rtcp.ReceiverReport)):
                sender = packet.ssrc
                break
            if isinstance(packet, rtcp.Bye) and packet.sources:
                sender = packet.sources[0]
                break
        if sender is None or (remote_ssrc is not None and sender != remote_ssrc):
            self._dropped(CHANNEL_RTCP, DROP_BAD_RTCP_SOURCE, addr, now_ms)
            return
        self._heard(now_ms)
        if addr != self._remote_rtcp and not self._rtcp_mux:
            self._event(RemoteAddressLearned(CHANNEL_RTCP, addr, self._remote_rtcp))
            self._remote_rtcp = addr
        self._rtcp.receive(packets, self._sender.ssrc, sender, now_ms)
        for packet in packets:
            if isinstance(packet, rtcp.Bye) and sender in packet.sources:
                self._event(RtcpByeReceived(sender, _text(packet.reason)))

    # -- playout ---------------------------------------------------------------------------------

    def pull_playout(self, now_ms):
        """20 ms of audio for the speaker (320 bytes)."""
        if self._closed or not self._receiving:
            return _SILENCE
        ready = self._ready
        jb = self._jitter
        concealer = self._plc
        while len(ready) < FRAME_BYTES:
            kind, payload, samples = jb.get(now_ms)
            if kind in (FRAME, SPLICE):
                decode = self._decoders.get(payload[0])
                if decode is None:
                    pcm = concealer.conceal(samples)
                else:
                    pcm = concealer.good(decode(payload[1], 2), kind == SPLICE)
            elif kind == CONCEAL:
                pcm = concealer.conceal(samples)
            else:
                pcm = concealer.good(bytes(FRAME_BYTES - len(ready)))
            ready += pcm
        frame = ready[:FRAME_BYTES]
        self._ready = ready[FRAME_BYTES:]
        if self._detector is not None:
            for digit in self._detector.feed(frame):
                self._digit(digit, dtmf.SOURCE_INBAND, now_ms)
        return frame

    # -- sending ---------------------------------------------------------------------------------

    def send_dtmf(self, digits, now_ms):
        """Queue DTMF digits to send; ValueError (nothing queued) for a non-digit."""
        if not self._closed:
            self._dtmf_tx.queue(digits)
            self._dtmf_sent += len(digits)

    def push_capture(self, pcm, now_ms):
        """Packetise captured audio; returns [(datagram, addr)] of RTP to send."""
        if len(pcm) & 1:
            raise ValueError("PCM must be whole 16-bit samples")
        if self._closed:
            return []
        size = self._frame_bytes
        out = []
        if len(pcm) == size and not self._capture:  # the pump's 20 ms frame at 20 ms ptime
            self._send_frame(pcm, out)
            return out
        capture = self._capture + pcm if self._capture else pcm
        start = 0
        while len(capture) - start >= size:
            self._send_frame(capture[start : start + size], out)
            start += size
        self._capture = capture[start:]
        return out

    def _send_frame(self, frame, out):
        sender = self._sender
        samples = len(frame) >> 1
        addr = self._remote_rtp
        if not self._sending or not _usable(addr):
            sender.skip(samples)
            return
        tx = self._dtmf_tx
        params = self.params
        if tx.busy:
            if params.dtmf_payload_type is None:
                frame = tx.tick(frame)
            else:
                events = tx.tick(sender.timestamp, samples)
                if events is not None:
                    for payload, marker, timestamp in events:
                        out.append(
                            (
                                sender.packet(params.dtmf_payload_type, payload, timestamp, marker),
                                addr,
                            )
                        )
                    sender.advance(samples)
                    return
        out.append((sender.send(params.payload_type, self._encode(frame, 2), samples), addr))

    # -- timers ----------------------------------------------------------------------------------

    def next_deadline(self):
        if self._closed:
            return None
        deadline = self._rtcp.next_report_ms
        timeout = self._timeout_deadline()
        if timeout is not None and timeout < deadline:
            deadline = timeout
        return deadline

    def _timeout_deadline(self):
        if self._inactivity_ms is None or self._timed_out or not self._receiving:
            return None
        return self._last_heard_ms + self._inactivity_ms

    def handle_timer(self, now_ms):
        if self._closed:
            return
        timeout = self._timeout_deadline()
        if timeout is not None and now_ms >= timeout:
            self._timed_out = True
            self._event(MediaTimedOut(now_ms - self._last_heard_ms))
        if now_ms >= self._rtcp.next_report_ms:
            self._send_report(now_ms, None)
            self._rtcp.schedule_next(now_ms)

    def _report_packets(self, now_ms):
        sender = self._sender
        blocks = []
        stats = self._receiver.stats
        if stats is not None:
            blocks.append(self._rtcp.report_block(stats, now_ms))
        if sender.packets_sent > self._sent_at_last_report:
            first = rtcp.SenderReport(
                sender.ssrc,
                self._rtcp.ntp(now_ms),
                sender.timestamp,
                sender.packets_sent,
                sender.octets_sent,
                blocks,
            )
        else:
            first = rtcp.ReceiverReport(sender.ssrc, blocks)
        self._sent_at_last_report = sender.packets_sent
        sdes = rtcp.SourceDescription([(sender.ssrc, [(rtcp.SDES_CNAME, self.cname.encode())])])
        return [first, sdes]

    def _send_report(self, now_ms, bye_reason):
        addr = self._remote_rtcp
        if not _usable(addr):
            return
        packets = self._report_packets(now_ms)
        if bye_reason is not None:
            packets.append(rtcp.Bye([self._sender.ssrc], bye_reason))
        self._datagrams.append((rtcp.serialize_compound(packets), addr))
        self._rtcp_sent += 1

    def close(self, now_ms, reason=b""):
        """End the stream: queue an RTCP BYE (see datagrams_to_send)."""
        if not self._closed:
            self._send_report(now_ms, reason)
            self._closed = True

    # -- statistics ------------------------------------------------------------------------------

    def stats(self):
        sender = self._sender
        receiver = self._receiver
        source = receiver.stats
        jb = self._jitter
        session = self._rtcp
        remote = session.remote_report
        expected = source.expected if source is not None else 0
        lost = source.lost if source is not None else 0
        return {
            "codec": self.params.codec,
            "payload_type": self.params.payload_type,
            "direction": self.params.direction,
            "local_ssrc": sender.ssrc,
            "remote_ssrc": receiver.ssrc,
            "remote_rtp": self._remote_rtp,
            "remote_rtcp": self._remote_rtcp,
            "packets_sent": sender.packets_sent,
            "octets_sent": sender.octets_sent,
            "packets_received": receiver.packets,
            "octets_received": receiver.octets,
            "packets_expected": expected,
            "packets_lost": lost,
            "loss_percent": 100.0 * lost / expected if expected > 0 and lost > 0 else 0.0,
            "packets_reordered": source.reordered if source is not None else 0,
            "jitter_ms": (source.jitter / 8.0) if source is not None else 0.0,
            "packets_late": jb.late,
            "packets_duplicate": jb.duplicates,
            "concealed_ms": jb.concealed_samples // 8,
            "playout_delay_ms": jb.target_ms,
            "buffered_ms": jb.buffered_ms(),
            "remote_packets_lost": remote.packets_lost if remote is not None else None,
            "remote_fraction_lost": remote.fraction_lost / 256.0 if remote is not None else None,
            "remote_jitter_ms": remote.jitter / 8.0 if remote is not None else None,
            "rtt_ms": session.rtt_ms,
            "rtcp_sent": self._rtcp_sent,
            "rtcp_received": session.reports_received,
            "dtmf_received": self._dtmf_received,
            "dtmf_sent": self._dtmf_sent,
            "packets_dropped": sum(self._drops.values()),
            "drops": dict(self._drops),
            "timed_out": self._timed_out,
        }
