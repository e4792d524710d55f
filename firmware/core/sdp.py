"""SDP (RFC 8866, formerly RFC 4566) and the offer/answer model (RFC 3264) for one G.711 stream.

``parse`` turns a body into a ``SessionDescription`` (or raises ``SdpError``: the SIP core answers
400 or 488), ``serialize`` turns it back into bytes with CRLF line ends. Lines we do not interpret
(unknown attributes, i=, u=, e=, p=, b=, r=, z=, k=) are kept in order and written back. The
offer/answer helpers cover what a door station needs: offer PCMU/PCMA with telephone-event,
answer an offer by picking its first G.711 codec, read the answer to our offer, and re-offer with
the session version rules of RFC 3264 section 8. They return a ``MediaParams`` for the media layer,
and raise ``SdpNegotiationError`` (the SIP core answers 488) when no audio can flow.
"""


class SdpError(ValueError):
    """A malformed session description."""


class SdpNegotiationError(ValueError):
    """A well-formed session description we cannot agree to (no shared codec, no audio)."""


SENDRECV = "sendrecv"
SENDONLY = "sendonly"
RECVONLY = "recvonly"
INACTIVE = "inactive"
_DIRECTIONS = (INACTIVE, SENDONLY, RECVONLY, SENDRECV)  # index: bit 0 = send, bit 1 = receive
_SEND = 1
_RECV = 2

CODECS = ("PCMU", "PCMA")
_STATIC = (("0", "PCMU"), ("8", "PCMA"))  # static payload types (RFC 3551) we know without rtpmap
DTMF_EVENTS = "0-15"  # RFC 4733 events we send and receive: the DTMF digits
DEFAULT_PTIME_MS = 20
_PTIME_RANGE_MS = (10, 60)  # offered ptimes we follow; others fall back to the default

_MAX_BYTES = 16384
_MAX_MEDIA = 16
_DIGITS = "0123456789"
_HEXDIGITS = "0123456789abcdefABCDEF"
_TCHAR = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_HOSTCHARS = "-.0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class Origin:
    """The o= line. session_id is kept as sent (a string of digits); session_version is an int."""

    def __init__(self, username, session_id, session_version, address, address_type="IP4"):
        self.username = username
        self.session_id = session_id
        self.session_version = session_version
        self.network_type = "IN"
        self.address_type = address_type
        self.address = address

    def __str__(self):
        return "%s %s %d %s %s %s" % (
            self.username,
            self.session_id,
            self.session_version,
            self.network_type,
            self.address_type,
            self.address,
        )


class Connection:
    """A c= line: address is as sent, including any multicast /ttl/count suffix."""

    def __init__(self, address, address_type="IP4"):
        self.network_type = "IN"
        self.address_type = address_type
        self.address = address

    def __str__(self):
        return "%s %s %s" % (self.network_type, self.address_type, self.address)


class Media:
    """A media description: the m= line and the i=, c=, b=, k= and a= lines after it.

    formats are strings as sent ("0", "8", "101"); attributes are (name, value or None) in order;
    bandwidths are (type, value) pairs.
    """

    def __init__(self, kind, port, proto, formats, attributes=None, connections=None):
        self.kind = kind
        self.port = port
        self.port_count = None
        self.proto = proto
        self.formats = formats
        self.info = None
        self.connections = connections or []
        self.bandwidths = []
        self.key = None
        self.attributes = attributes or []

    def attribute_values(self, name):
        """Values of every a=name line (None for a flag attribute), in order."""
        return [value for key, value in self.attributes if key == name]

    def has_attribute(self, name):
        return len(self.attribute_values(name)) > 0

    def rtpmap(self, fmt):
        """(encoding name, clock rate, channels or None) for payload type fmt, or None."""
        for value in self.attribute_values("rtpmap"):
            if value is None or value.partition(" ")[0] != fmt:
                continue
            return _parse_rtpmap(value)[1]
        return None


class SessionDescription:
    """A parsed or built session description (v=0 implied).

    times is a list of (start, stop, [r= values]); emails, phones, bandwidths and attributes are
    lists in the order sent; info, uri, zone and key are strings or None.
    """

    def __init__(self, origin, name, connection=None, media=None, attributes=None):
        self.origin = origin
        self.name = name
        self.info = None
        self.uri = None
        self.emails = []
        self.phones = []
        self.connection = connection
        self.bandwidths = []
        self.times = [(0, 0, [])]
        self.zone = None
        self.key = None
        self.attributes = attributes or []
        self.media = media or []


class MediaParams:
    """What the media layer needs for one RTP stream, as negotiated.

    remote_rtp and remote_rtcp are (host, port) (remote_rtcp None when RTP used port 65535);
    payload_type and codec ("PCMU" or "PCMA") are what we send with; dtmf_payload_type is the
    telephone-event payload type or None; direction is from our side (SENDRECV...), with sending
    removed when the peer's address is unspecified (0.0.0.0, old-style hold). Two MediaParams are
    equal when the stream is the same, so a re-INVITE that changes nothing can be detected with ==.
    """

    def __init__(
        self, remote_rtp, remote_rtcp, payload_type, codec, dtmf_payload_type, ptime_ms, direction
    ):
        self.remote_rtp = remote_rtp
        self.remote_rtcp = remote_rtcp
        self.payload_type = payload_type
        self.codec = codec
        self.dtmf_payload_type = dtmf_payload_type
        self.ptime_ms = ptime_ms
        self.direction = direction

    def _key(self):
        return (
            self.remote_rtp,
            self.remote_rtcp,
            self.payload_type,
            self.codec,
            self.dtmf_payload_type,
            self.ptime_ms,
            self.direction,
        )

    def __eq__(self, other):
        return isinstance(other, MediaParams) and self._key() == other._key()

    def __ne__(self, other):
        return not self.__eq__(other)

    @property
    def sending(self):
        return self.direction == SENDRECV or self.direction == SENDONLY

    @property
    def receiving(self):
        return self.direction == SENDRECV or self.direction == RECVONLY

    def __repr__(self):
        return "MediaParams(%r, %r, %r, %r, %r, %r, %r)" % self._key()


# -- parsing -------------------------------------------------------------------------------------


def parse(data):
    """Parse an SDP body (bytes; CRLF or LF line ends) into a SessionDescription.

    Raises SdpError for anything malformed: a missing or misplaced v=, o=, s= or t= line, an unknown
    line type, a bad m=, c=, o=, t=, b= line, or a bad rtpmap, ptime, rtcp or direction attribute.
    """
    if isinstance(data, str):
        raise TypeError("SDP is parsed from bytes")
    if len(data) > _MAX_BYTES:
        raise SdpError("SDP longer than %d bytes" % _MAX_BYTES)
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeError:
        raise SdpError("SDP is not UTF-8") from None
    lines = text.split("\n")
    while lines and (lines[-1] == "" or lines[-1] == "\r"):
        lines.pop()  # the final line end, and blank lines some senders add after it
    if not lines or _line(lines[0]) != ("v", "0"):
        raise SdpError("SDP must start with v=0")
    session = SessionDescription(None, None)
    session.times = []
    media = None
    for raw in lines[1:]:
        letter, value = _line(raw)
        if letter == "m":
            if len(session.media) == _MAX_MEDIA:
                raise SdpError("more than %d media descriptions" % _MAX_MEDIA)
            media = _parse_media(value)
            session.media.append(media)
        elif media is None:
            _session_line(session, letter, value)
        else:
            _media_line(media, letter, value)
    if session.origin is None:
        raise SdpError("missing o= line")
    if session.name is None:
        raise SdpError("missing s= line")
    if not session.times:
        raise SdpError("missing t= line")
    _check_attributes(session.attributes, True)
    for m in session.media:
        # Only audio is ever used: a video stream's odd rtpmap (`31 LPC`) must not sink the offer.
        _check_attributes(m.attributes, m.kind == "audio")
        if m.port != 0 and not m.connections and session.connection is None:
            raise SdpError("no c= line for the %s stream" % m.kind)
    return session


def _line(raw):
    """(type letter, value) of one line."""
    line = raw[:-1] if raw.endswith("\r") else raw
    if len(line) < 2 or line[1] != "=" or line[0] not in "abcdefghijklmnopqrstuvwxyz":
        raise SdpError("malformed line %r" % line[:40])
    if "\r" in line or "\x00" in line:
        raise SdpError("control character in line %r" % line[:40])
    return line[0], line[2:]


def _session_line(session, letter, value):
    if letter == "o":
        _once(session.origin, "o")
        session.origin = _parse_origin(value)
    elif letter == "s":
        _once(session.name, "s")
        session.name = value
    elif letter == "i":
        _once(session.info, "i")
        session.info = value
    elif letter == "u":
        _once(session.uri, "u")
        session.uri = value
    elif letter == "e":
        session.emails.append(value)
    elif letter == "p":
        session.phones.append(value)
    elif letter == "c":
        _once(session.connection, "c")
        session.connection = _parse_connection(value)
    elif letter == "b":
        session.bandwidths.append(_parse_bandwidth(value))
    elif letter == "t":
        fields = value.split()
        if len(fields) != 2:
            raise SdpError("malformed t= line %r" % value)
        session.times.append((_number(fields[0], "t=", 20), _number(fields[1], "t=", 20), []))
    elif letter == "r":
        if not session.times or not value.strip():
            raise SdpError("r= line without a t= line")
        session.times[-1][2].append(value)
    elif letter == "z":
        _once(session.zone, "z")
        session.zone = value
    elif letter == "k":
        _once(session.key, "k")
        session.key = value
    elif letter == "a":
        session.attributes.append(_parse_attribute(value))
    else:
        raise SdpError("unexpected %s= line" % letter)


def _media_line(media, letter, value):
    if letter == "i":
        _once(media.info, "i")
        media.info = value
    elif letter == "c":
        media.connections.append(_parse_connection(value))
    elif letter == "b":
        media.bandwidths.append(_parse_bandwidth(value))
    elif letter == "k":
        _once(media.key, "k")
        media.key = value
    elif letter == "a":
        media.attributes.append(_parse_attribute(value))
    else:
        raise SdpError("unexpected %s= line in the %s description" % (letter, media.kind))


def _once(existing, letter):
    if existing is not None:
        raise SdpError("more than one %s= line" % letter)


def _number(text, what, max_digits):
    if not text or len(text) > max_digits or not _all_in(text, _DIGITS):
        raise SdpError("bad number %r in %s" % (text[:24], what))
    return int(text)


def _all_in(text, chars):
    return all(c in chars for c in text)


def _is_token(text):
    return len(text) > 0 and _all_in(text, _TCHAR)


def _parse_origin(value):
    fields = value.split()
    if len(fields) != 6:
        raise SdpError("malformed o= line %r" % value)
    username, session_id, version, network_type, address_type, address = fields
    _number(session_id, "o=", 32)
    if network_type != "IN" or not _is_token(address_type):
        raise SdpError("malformed o= line %r" % value)
    return Origin(username, session_id, _number(version, "o=", 32), address, address_type)


def _parse_connection(value):
    fields = value.split()
    if len(fields) != 3 or fields[0] != "IN":
        raise SdpError("malformed c= line %r" % value)
    address_type, address = fields[1], fields[2]
    host, _, suffix = address.partition("/")
    if address_type == "IP4":
        ok = _is_ipv4(host) or _is_hostname(host)
    elif address_type == "IP6":
        ok = _is_ipv6(host) or _is_hostname(host)
    else:
        raise SdpError("unknown address type in c= line %r" % value)
    for part in suffix.split("/") if suffix else ():
        if not part or len(part) > 5 or not _all_in(part, _DIGITS):
            ok = False
    if not ok:
        raise SdpError("bad address in c= line %r" % value)
    return Connection(address, address_type)


def _is_ipv4(text):
    parts = text.split(".")
    if len(parts) != 4:
        return False
    for part in parts:
        if not part or len(part) > 3 or not _all_in(part, _DIGITS) or int(part) > 255:
            return False
    return True


def _is_ipv6(text):
    if text.count("::") > 1:
        return False
    head, compressed, tail = text.partition("::")
    groups = []
    for part in (head, tail):
        if part:
            groups.extend(part.split(":"))
    size = len(groups)
    if groups and "." in groups[-1]:
        if not _is_ipv4(groups.pop()):
            return False
        size += 1  # an embedded IPv4 address fills two groups
    for group in groups:
        if not 1 <= len(group) <= 4 or not _all_in(group, _HEXDIGITS):
            return False
    return size < 8 if compressed else size == 8


def _is_hostname(text):
    """A domain name (RFC 8866 FQDN); all-numeric names are malformed IPv4 addresses instead."""
    if not text or len(text) > 253 or not _all_in(text, _HOSTCHARS):
        return False
    return not _all_in(text, _DIGITS + ".")


def _parse_bandwidth(value):
    kind, sep, amount = value.partition(":")
    if not sep or not _is_token(kind):
        raise SdpError("malformed b= line %r" % value)
    return (kind, _number(amount, "b=", 12))


def _parse_media(value):
    fields = value.split()
    if len(fields) < 4 or not _is_token(fields[0]):
        raise SdpError("malformed m= line %r" % value)
    port_text, slash, count = fields[1].partition("/")
    port = _number(port_text, "m= port", 5)
    if port > 65535:
        raise SdpError("m= port %d out of range" % port)
    proto = fields[2]
    if not _all_in(proto, _TCHAR + "/") or proto.startswith("/") or proto.endswith("/"):
        raise SdpError("malformed m= protocol %r" % proto)
    formats = fields[3:]
    for fmt in formats:
        if _is_rtp(proto):
            if _number(fmt, "m= payload type", 3) > 127:
                raise SdpError("payload type %s out of range" % fmt)
        elif not _all_in(fmt, _TCHAR + "/:"):
            raise SdpError("malformed m= format %r" % fmt)
    media = Media(fields[0], port, proto, formats)
    if slash:
        media.port_count = _number(count, "m= port count", 5)
    return media


def _is_rtp(proto):
    return proto.startswith("RTP/") or "/RTP/" in proto


def _parse_attribute(value):
    name, sep, attr_value = value.partition(":")
    if not _is_token(name):
        raise SdpError("malformed attribute %r" % value[:40])
    return (name, attr_value if sep else None)


def _check_attributes(attributes, used):
    """Attributes we interpret must be well formed; others are kept as they are. In a stream we
    will not use (`used` False) rtpmap lines stay unchecked."""
    for name, value in attributes:
        if name in _DIRECTIONS:
            if value is not None:
                raise SdpError("a=%s takes no value" % name)
        elif name == "rtpmap":
            if used:
                _parse_rtpmap(value)
        elif name == "ptime" or name == "maxptime":
            _parse_ptime(value)
        elif name == "rtcp":
            _parse_rtcp(value)
        elif name == "fmtp" and (value is None or not value.partition(" ")[0]):
            raise SdpError("malformed a=fmtp")


def _parse_rtpmap(value):
    """("fmt", (encoding name, clock rate, channels or None)) of an a=rtpmap value."""
    if value is None:
        raise SdpError("a=rtpmap without a value")
    pt, _, rest = value.partition(" ")
    parts = rest.strip().split("/")
    if not 2 <= len(parts) <= 3 or not _is_token(parts[0]):
        raise SdpError("malformed a=rtpmap:%s" % value[:40])
    if _number(pt, "a=rtpmap", 3) > 127:
        raise SdpError("a=rtpmap payload type %s out of range" % pt)
    channels = _number(parts[2], "a=rtpmap", 3) if len(parts) == 3 else None
    return pt, (parts[0], _number(parts[1], "a=rtpmap", 9), channels)


def _parse_ptime(value):
    """Milliseconds (rounded to an int) of an a=ptime or a=maxptime value."""
    if value is None:
        raise SdpError("a=ptime without a value")
    whole, dot, fraction = value.strip().partition(".")
    ms = _number(whole, "a=ptime", 5)
    if dot:
        _number(fraction, "a=ptime", 6)
        if fraction[0] >= "5":
            ms += 1
    return ms


def _parse_rtcp(value):
    """(port, address or None) of an a=rtcp value (RFC 3605)."""
    fields = (value or "").split()
    if len(fields) != 1 and len(fields) != 4:
        raise SdpError("malformed a=rtcp:%s" % value)
    port = _number(fields[0], "a=rtcp", 5)
    if port > 65535:
        raise SdpError("a=rtcp port out of range")
    if len(fields) == 1:
        return port, None
    return port, _parse_connection(" ".join(fields[1:])).address


# -- serializing ---------------------------------------------------------------------------------


def serialize(session):
    """The session description as bytes, lines in RFC 8866 order, each ending in CRLF."""
    out = ["v=0", "o=" + str(session.origin), "s=" + session.name]
    _optional(out, "i", session.info)
    _optional(out, "u", session.uri)
    out.extend(["e=" + e for e in session.emails])
    out.extend(["p=" + p for p in session.phones])
    if session.connection is not None:
        out.append("c=" + str(session.connection))
    out.extend(["b=%s:%d" % b for b in session.bandwidths])
    for start, stop, repeats in session.times:
        out.append("t=%d %d" % (start, stop))
        out.extend(["r=" + r for r in repeats])
    _optional(out, "z", session.zone)
    _optional(out, "k", session.key)
    _attributes(out, session.attributes)
    for m in session.media:
        port = "%d/%d" % (m.port, m.port_count) if m.port_count is not None else "%d" % m.port
        out.append("m=%s %s %s %s" % (m.kind, port, m.proto, " ".join(m.formats)))
        _optional(out, "i", m.info)
        out.extend(["c=" + str(c) for c in m.connections])
        out.extend(["b=%s:%d" % b for b in m.bandwidths])
        _optional(out, "k", m.key)
        _attributes(out, m.attributes)
    return ("\r\n".join(out) + "\r\n").encode("utf-8")


def _optional(out, letter, value):
    if value is not None:
        out.append(letter + "=" + value)


def _attributes(out, attributes):
    for name, value in attributes:
        out.append("a=" + name if value is None else "a=" + name + ":" + value)


# -- offer/answer (RFC 3264) ---------------------------------------------------------------------


def build_offer(
    address,
    rtp_port,
    session_id,
    session_version,
    codecs=CODECS,
    dtmf_payload_type=101,
    ptime_ms=DEFAULT_PTIME_MS,
    direction=SENDRECV,
):
    """An offer with one audio stream: the codecs in our order of preference, then telephone-event
    (events 0-15) unless dtmf_payload_type is None, a=ptime and the direction attribute."""
    _check_local(address, rtp_port, codecs, direction)
    if dtmf_payload_type is not None and not 96 <= dtmf_payload_type <= 127:
        raise ValueError("telephone-event needs a dynamic payload type, not %r" % dtmf_payload_type)
    formats = [_static_pt(codec) for codec in codecs]
    attributes = [("rtpmap", "%s %s/8000" % (_static_pt(codec), codec)) for codec in codecs]
    if dtmf_payload_type is not None:
        formats.append("%d" % dtmf_payload_type)
        attributes.append(("rtpmap", "%d telephone-event/8000" % dtmf_payload_type))
        attributes.append(("fmtp", "%d %s" % (dtmf_payload_type, DTMF_EVENTS)))
    attributes.append(("ptime", "%d" % ptime_ms))
    attributes.append((direction, None))
    media = Media("audio", rtp_port, "RTP/AVP", formats, attributes)
    return _local_session(address, session_id, session_version, [media])


def build_answer(
    offer, address, rtp_port, session_id, session_version, codecs=CODECS, direction=SENDRECV
):
    """(answer, MediaParams) for an offer (a SessionDescription).

    The first RTP/AVP audio stream offering one of our codecs is accepted with the first such
    codec in the offer's order, the offer's telephone-event payload type and its ptime (when in
    10..60 ms, capped by its maxptime); every other stream is rejected with port 0, keeping its
    format list. Our direction is the requested one limited by the offer's (a sendonly offer gets
    recvonly, inactive gets inactive). Raises SdpNegotiationError when no stream can be accepted.
    """
    _check_local(address, rtp_port, codecs, direction)
    answer_media = []
    params = None
    for offered in offer.media:
        accepted = None
        if params is None:
            accepted = _accept(offer, offered, rtp_port, codecs, direction)
        if accepted is None:
            answer_media.append(Media(offered.kind, 0, offered.proto, list(offered.formats)))
        else:
            media, params = accepted
            answer_media.append(media)
    if params is None:
        raise SdpNegotiationError("no audio stream with %s offered" % " or ".join(codecs))
    answer = _local_session(address, session_id, session_version, answer_media)
    answer.times = [(start, stop, list(repeats)) for start, stop, repeats in offer.times]
    return answer, params


def _accept(offer, offered, rtp_port, codecs, direction):
    """(answer Media, MediaParams) accepting one offered stream, or None."""
    if offered.kind != "audio" or offered.port == 0 or offered.proto != "RTP/AVP":
        return None
    remote = _remote(offer, offered)
    if remote is None:
        return None
    pick = _pick_codec(offered, codecs)
    if pick is None:
        return None
    pt, codec = pick
    dtmf = _pick_dtmf(offered)
    ptime_ms = _ptime_ms(offer, offered)
    bits = _bits(direction) & _reverse(_bits(_direction(offer, offered)))
    formats = [pt]
    attributes = [("rtpmap", "%s %s/8000" % (pt, codec))]
    if dtmf is not None:
        formats.append(dtmf)
        attributes.append(("rtpmap", "%s telephone-event/8000" % dtmf))
        attributes.append(("fmtp", "%s %s" % (dtmf, DTMF_EVENTS)))
    attributes.append(("ptime", "%d" % ptime_ms))
    attributes.append((_DIRECTIONS[bits], None))
    media = Media("audio", rtp_port, "RTP/AVP", formats, attributes)
    params = _media_params(remote, pt, codec, dtmf, ptime_ms, bits)
    return media, params


def read_answer(offer, answer):
    """MediaParams for our stream, from our offer and the answer to it.

    Raises SdpNegotiationError when the answer does not match the offer (number or kind of m=
    lines), rejects our audio stream, or picks no codec we offered.
    """
    if len(answer.media) != len(offer.media):
        raise SdpNegotiationError(
            "answer has %d m= lines, offer had %d" % (len(answer.media), len(offer.media))
        )
    index = _first_audio(offer)
    if index is None:
        raise SdpNegotiationError("our offer has no audio stream")
    ours = offer.media[index]
    theirs = answer.media[index]
    if theirs.kind != ours.kind or theirs.proto != ours.proto:
        raise SdpNegotiationError("answer stream %d does not match the offer" % index)
    if theirs.port == 0:
        raise SdpNegotiationError("the audio stream was rejected")
    remote = _remote(answer, theirs)
    if remote is None:
        raise SdpNegotiationError("the answer gives no usable address")
    offered = [codec for codec in CODECS if _codec_pt(ours, codec) is not None]
    pick = _pick_codec(theirs, offered)
    if pick is None:
        raise SdpNegotiationError("the answer picked no codec we offered")
    pt, codec = pick
    dtmf = _pick_dtmf(theirs) if _pick_dtmf(ours) is not None else None
    ptime_ms = _ptime_ms(answer, theirs, _ptime_ms(offer, ours))
    bits = _bits(_direction(offer, ours)) & _reverse(_bits(_direction(answer, theirs)))
    return _media_params(remote, pt, codec, dtmf, ptime_ms, bits)


def with_direction(session, direction):
    """A copy of session with every active audio stream's direction attribute set to direction."""
    if direction not in _DIRECTIONS:
        raise ValueError("unknown direction %r" % direction)
    copy = parse(serialize(session))
    for media in copy.media:
        if media.kind == "audio" and media.port != 0:
            kept = [(n, v) for n, v in media.attributes if n not in _DIRECTIONS]
            kept.append((direction, None))
            media.attributes = kept
    return copy


def next_version(previous, session):
    """Our next SDP in a session, numbered as RFC 3264 section 8 requires.

    Returns a copy of session carrying previous's o= line, with the version incremented by one
    when anything else differs from previous and unchanged when nothing does.
    """
    copy = parse(serialize(session))
    origin = previous.origin
    copy.origin = Origin(
        origin.username,
        origin.session_id,
        origin.session_version,
        origin.address,
        origin.address_type,
    )
    if serialize(copy) != serialize(previous):
        copy.origin.session_version = origin.session_version + 1
    return copy


def hold_direction(direction):
    """The direction to offer when putting a stream on hold (RFC 3264 section 8.4; RFC 6337)."""
    return _DIRECTIONS[_bits(direction) & _SEND]


def resume_direction(direction):
    """The direction to offer when taking a stream off hold."""
    return _DIRECTIONS[_bits(direction) | _RECV]


def _bits(direction):
    for bits, name in enumerate(_DIRECTIONS):
        if name == direction:
            return bits
    raise ValueError("unknown direction %r" % direction)


def _reverse(bits):
    """The peer's direction seen from our side: its sending is our receiving."""
    return ((bits & _SEND) << 1) | ((bits & _RECV) >> 1)


def _first_audio(session):
    """Index of the first active RTP/AVP audio stream (the one we offer), or None."""
    for index, media in enumerate(session.media):
        if media.kind == "audio" and media.port != 0 and media.proto == "RTP/AVP":
            return index
    return None


def _direction(session, media):
    """The direction attribute of a stream: its own, else the session's, else sendrecv."""
    for attributes in (media.attributes, session.attributes):
        for name, _ in attributes:
            if name in _DIRECTIONS:
                return name
    return SENDRECV


def _remote(session, media):
    """((host, port), (host, rtcp port) or None) of a stream, or None for multicast."""
    connection = media.connections[0] if media.connections else session.connection
    if "/" in connection.address:
        return None
    host = connection.address
    rtcp = None
    for value in media.attribute_values("rtcp"):
        port, address = _parse_rtcp(value)
        rtcp = (address or host, port)
        break
    if rtcp is None and media.port < 65535:
        rtcp = (host, media.port + 1)
    return (host, media.port), rtcp


def _pick_codec(media, codecs):
    """(payload type, codec) of the first format of media whose codec is in codecs, or None."""
    for fmt in media.formats:
        codec = _codec_name(media, fmt)
        if codec is not None and codec in codecs:
            return fmt, codec
    return None


def _codec_name(media, fmt):
    """ "PCMU" or "PCMA" when fmt is one of them at 8000 Hz mono, else None."""
    encoding = media.rtpmap(fmt)
    if encoding is None:
        for pt, codec in _STATIC:
            if pt == fmt:
                return codec
        return None
    name, clock, channels = encoding
    for codec in CODECS:
        if name.upper() == codec and clock == 8000 and channels in (None, 1):
            return codec
    return None


def _codec_pt(media, codec):
    for fmt in media.formats:
        if _codec_name(media, fmt) == codec:
            return fmt
    return None


def _pick_dtmf(media):
    """The payload type of telephone-event/8000 in media, or None."""
    for fmt in media.formats:
        encoding = media.rtpmap(fmt)
        if encoding is None or encoding[1] != 8000:
            continue
        if encoding[0].lower() == "telephone-event":
            return fmt
    return None


def _ptime_ms(session, media, default=DEFAULT_PTIME_MS):
    """The stream's a=ptime if we can follow it (10..60 ms), else default, capped by a=maxptime.

    Each attribute is looked up at media level first, then at session level.
    """
    ms = default
    ptime = _attribute(session, media, "ptime")
    if ptime is not None and _PTIME_RANGE_MS[0] <= _parse_ptime(ptime) <= _PTIME_RANGE_MS[1]:
        ms = _parse_ptime(ptime)
    maxptime = _attribute(session, media, "maxptime")
    if maxptime is not None and _PTIME_RANGE_MS[0] <= _parse_ptime(maxptime) < ms:
        ms = _parse_ptime(maxptime)
    return ms


def _attribute(session, media, name):
    """The value of the first a=name of the stream, else of the session, or None."""
    for attributes in (media.attributes, session.attributes):
        for key, value in attributes:
            if key == name:
                return value
    return None


def _media_params(remote, pt, codec, dtmf, ptime_ms, bits):
    rtp, rtcp = remote
    if rtp[0] == "0.0.0.0" or rtp[0] == "::":
        bits &= _RECV  # RFC 3264 section 8.4: send neither RTP nor RTCP to an unspecified address
    return MediaParams(
        rtp, rtcp, int(pt), codec, None if dtmf is None else int(dtmf), ptime_ms, _DIRECTIONS[bits]
    )


def _static_pt(codec):
    for pt, name in _STATIC:
        if name == codec:
            return pt
    raise ValueError("unsupported codec %r" % codec)


def _check_local(address, rtp_port, codecs, direction):
    if not (_is_ipv4(address) or _is_ipv6(address)):
        raise ValueError("our media address must be an IP address, not %r" % address)
    if not 0 < rtp_port < 65535:
        raise ValueError("bad RTP port %r" % rtp_port)
    if not codecs:
        raise ValueError("no codecs")
    for codec in codecs:
        _static_pt(codec)
    _bits(direction)


def _local_session(address, session_id, session_version, media):
    address_type = "IP6" if ":" in address else "IP4"
    origin = Origin("-", "%d" % session_id, session_version, address, address_type)
    return SessionDescription(origin, "-", Connection(address, address_type), media)
