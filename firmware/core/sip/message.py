"""SIP messages (RFC 3261 section 7, 20, 25): parse, inspect, build and serialize.

`parse_message(datagram)` is strict: the start line, the header framing and every header the user
agent relies on (Via, From, To, Call-ID, CSeq, Max-Forwards, Content-Length, Contact, Route,
Record-Route, Expires) are checked, and anything malformed raises `SipParseError` with a reason.
Headers the agent does not interpret stay opaque strings. Header order, spelling (compact forms
included) and values are kept, so `parse_message(m.to_bytes())` gives back the same headers and
body; folded lines come back unfolded.

`StreamFramer` cuts a TCP byte stream into messages by Content-Length.
"""

from firmware.core.sip.syntax import (
    DIGITS_RE,
    TOKEN_RE,
    SipParseError,
    find_param,
    format_params,
    param_value,
    parse_params,
    set_param,
    split_list,
)
from firmware.core.sip.uri import parse_host_port, parse_name_addr, parse_uri

MAX_MESSAGE_BYTES = 65535
MAX_HEADERS = 128
MAX_CSEQ = 2**31 - 1

# Compact forms (RFC 3261 section 7.3.3 and later RFCs) -> the lower-case long name.
COMPACT_FORMS = {
    "a": "accept-contact",
    "b": "referred-by",
    "c": "content-type",
    "d": "request-disposition",
    "e": "content-encoding",
    "f": "from",
    "i": "call-id",
    "j": "reject-contact",
    "k": "supported",
    "l": "content-length",
    "m": "contact",
    "n": "identity-info",
    "o": "event",
    "r": "refer-to",
    "s": "subject",
    "t": "to",
    "u": "allow-events",
    "v": "via",
    "x": "session-expires",
    "y": "identity",
}

# Spelling used when we create a header from a lower-case name.
_CANONICAL = {
    "call-id": "Call-ID",
    "cseq": "CSeq",
    "www-authenticate": "WWW-Authenticate",
    "mime-version": "MIME-Version",
    "rack": "RAck",
    "rseq": "RSeq",
    "sip-etag": "SIP-ETag",
    "sip-if-match": "SIP-If-Match",
}

# Headers whose value is a comma-separated list (RFC 3261 section 7.3.1); get_all() splits them.
LIST_HEADERS = {
    "accept",
    "accept-encoding",
    "accept-language",
    "alert-info",
    "allow",
    "allow-events",
    "call-info",
    "contact",
    "content-encoding",
    "content-language",
    "error-info",
    "in-reply-to",
    "path",
    "proxy-require",
    "record-route",
    "require",
    "route",
    "service-route",
    "supported",
    "unsupported",
    "via",
    "warning",
}

# At most one of each (RFC 3261 section 7.3.1 and 20): a second one is a malformed message.
_SINGLE_HEADERS = ("call-id", "cseq", "from", "to", "max-forwards", "content-length")

REASONS = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    200: "OK",
    202: "Accepted",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    420: "Bad Extension",
    421: "Extension Required",
    423: "Interval Too Brief",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    491: "Request Pending",
    493: "Undecipherable",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
}


def header_key(name):
    """The lower-case long name of a header, compact forms expanded."""
    key = name.lower()
    return COMPACT_FORMS.get(key, key)


def canonical_name(name):
    """How we spell a header we create: `call-id` -> `Call-ID`, `content-type` -> `Content-Type`."""
    key = header_key(name)
    spelled = _CANONICAL.get(key)
    if spelled is not None:
        return spelled
    return "-".join(part[:1].upper() + part[1:] for part in key.split("-"))


class Via:
    """One Via element: `SIP/2.0/UDP host:port;branch=...;rport;received=...`."""

    __slots__ = ("protocol", "transport", "host", "port", "params")

    def __init__(self, transport, host, port=None, params=None, protocol="SIP/2.0"):
        self.protocol = protocol
        self.transport = transport
        self.host = host
        self.port = port
        self.params = params if params is not None else []

    @property
    def branch(self):
        return param_value(self.params, "branch")

    @property
    def received(self):
        return param_value(self.params, "received")

    @property
    def rport(self):
        """None if absent, True if present without a value, else the port number."""
        pair = find_param(self.params, "rport")
        if pair is None:
            return None
        if pair[1] is None:
            return True
        return int(pair[1])

    def param(self, name, default=None):
        return param_value(self.params, name, default)

    def with_param(self, name, value=None):
        return Via(self.transport, self.host, self.port, set_param(self.params, name, value), self.protocol)

    def sent_by(self):
        """(host, port) of the sent-by; port None when not given."""
        return (self.host, self.port)

    def __str__(self):
        host = "[" + self.host + "]" if ":" in self.host else self.host
        port = ":" + str(self.port) if self.port is not None else ""
        return self.protocol + "/" + self.transport + " " + host + port + format_params(self.params)

    def __repr__(self):
        return "Via(%r)" % str(self)


def parse_via(element):
    """Parse one Via element (SWS is allowed around '/', ';' and '=')."""
    parts = element.split("/", 2)
    if len(parts) != 3:
        raise SipParseError("bad Via %r" % element)
    name = parts[0].strip()
    version = parts[1].strip()
    rest = parts[2].lstrip()
    if not TOKEN_RE.match(name) or not TOKEN_RE.match(version):
        raise SipParseError("bad Via protocol %r" % element)
    i = 0
    n = len(rest)
    while i < n and rest[i] not in " \t":
        i += 1
    transport = rest[:i]
    if not TOKEN_RE.match(transport):
        raise SipParseError("bad Via transport %r" % element)
    semi = rest.find(";", i)
    sent_by = (rest[i:] if semi < 0 else rest[i:semi]).strip()
    if " " in sent_by or "\t" in sent_by:
        # COLON = SWS ":" SWS
        host, colon, port = sent_by.partition(":")
        sent_by = host.strip() + colon + port.strip()
    if not sent_by:
        raise SipParseError("Via without sent-by %r" % element)
    host, port = parse_host_port(sent_by)
    params = parse_params(rest, semi, "Via parameter") if semi >= 0 else []
    for pname, pvalue in params:
        if pname.lower() == "rport" and pvalue is not None and not DIGITS_RE.match(pvalue):
            raise SipParseError("bad rport %r" % pvalue)
    return Via(transport.upper(), host, port, params, name + "/" + version)


class CSeq:
    __slots__ = ("seq", "method")

    def __init__(self, seq, method):
        self.seq = seq
        self.method = method

    def __str__(self):
        return str(self.seq) + " " + self.method

    def __repr__(self):
        return "CSeq(%r)" % str(self)


def parse_cseq(value):
    parts = value.split()
    if len(parts) != 2 or not DIGITS_RE.match(parts[0]) or not TOKEN_RE.match(parts[1]):
        raise SipParseError("bad CSeq %r" % value)
    seq = int(parts[0])
    if seq > MAX_CSEQ:
        raise SipParseError("CSeq number out of range: %s" % parts[0])
    return CSeq(seq, parts[1])


def parse_uint(value, what, maximum):
    if not DIGITS_RE.match(value):
        raise SipParseError("bad %s %r" % (what, value))
    number = int(value)
    if number > maximum:
        raise SipParseError("%s out of range: %s" % (what, value))
    return number


def parse_delta_seconds(value):
    """Expires-style delta-seconds; huge values are clamped to 2**32-1 (RFC 3261 section 25.1)."""
    if not DIGITS_RE.match(value):
        raise SipParseError("bad delta-seconds %r" % value)
    if len(value) > 10:
        return 2**32 - 1
    return min(int(value), 2**32 - 1)


_CALL_ID_RE_CHARS = "-.!%*_+`'~()<>:\\\"/[]?{}"


def check_call_id(value):
    if not value:
        raise SipParseError("empty Call-ID")
    word, at, host = value.partition("@")
    for part in (word, host) if at else (word,):
        if not part:
            raise SipParseError("bad Call-ID %r" % value)
        for c in part:
            if not (c.isalpha() or c.isdigit() or c in _CALL_ID_RE_CHARS) or ord(c) > 126:
                raise SipParseError("bad Call-ID %r" % value)
    return value


class Message:
    """Common part of requests and responses: ordered headers and a body (bytes).

    Headers are kept as (key, name, value) triples: `key` is the lower-case long name used for
    lookups, `name` the spelling as received (or canonical when we add one)."""

    def __init__(self, headers=None, body=b""):
        self._fields = []
        self._cache = {}
        self.body = body
        if headers:
            for name, value in headers:
                self.add(name, value)

    # -- header access -----------------------------------------------------------------------
    @property
    def headers(self):
        """(name, value) pairs in order, as they will be serialized."""
        return [(name, value) for _, name, value in self._fields]

    def has(self, name):
        key = header_key(name)
        for field in self._fields:
            if field[0] == key:
                return True
        return False

    def get_lines(self, name):
        """Raw values of every header line with that name, in order."""
        key = header_key(name)
        return [field[2] for field in self._fields if field[0] == key]

    def get_all(self, name):
        """Every value of the header, list headers split at their commas."""
        key = header_key(name)
        if key not in LIST_HEADERS:
            return [field[2] for field in self._fields if field[0] == key]
        out = []
        for field in self._fields:
            if field[0] == key:
                out.extend(split_list(field[2]))
        return [value for value in out if value]

    def get(self, name, default=None):
        """The first value (first list element for list headers), or default."""
        key = header_key(name)
        for field in self._fields:
            if field[0] == key:
                if key in LIST_HEADERS:
                    return split_list(field[2])[0]
                return field[2]
        return default

    def add(self, name, value):
        """Append a header (name spelled as given; pass canonical names)."""
        self._fields.append((header_key(name), name, str(value)))
        self._cache = {}

    def prepend(self, name, value):
        """Insert a header before all others (a new top Via)."""
        self._fields.insert(0, (header_key(name), name, str(value)))
        self._cache = {}

    def set(self, name, value):
        """Replace every header of that name with one, at the place of the first."""
        key = header_key(name)
        out = []
        placed = False
        for field in self._fields:
            if field[0] == key:
                if not placed:
                    out.append((key, field[1], str(value)))
                    placed = True
            else:
                out.append(field)
        if not placed:
            out.append((key, name, str(value)))
        self._fields = out
        self._cache = {}

    def remove(self, name):
        key = header_key(name)
        self._fields = [field for field in self._fields if field[0] != key]
        self._cache = {}

    def remove_first_value(self, name):
        """Remove the first element of a list header (the top Via when forwarding a response)."""
        key = header_key(name)
        for i, field in enumerate(self._fields):
            if field[0] == key:
                rest = split_list(field[2])[1:]
                if rest:
                    self._fields[i] = (key, field[1], ", ".join(rest))
                else:
                    del self._fields[i]
                self._cache = {}
                return

    # -- typed views (parsed on first use, then cached) ----------------------------------------
    def _parsed(self, key, parse):
        cache = self._cache
        if key in cache:
            return cache[key]
        value = parse()
        cache[key] = value
        return value

    @property
    def vias(self):
        return self._parsed("via", lambda: [parse_via(v) for v in self.get_all("via")])

    @property
    def top_via(self):
        vias = self.vias
        return vias[0] if vias else None

    @property
    def call_id(self):
        return self.get("call-id")

    @property
    def cseq(self):
        def parse():
            value = self.get("cseq")
            return parse_cseq(value) if value is not None else None

        return self._parsed("cseq", parse)

    @property
    def from_(self):
        def parse():
            value = self.get("from")
            return parse_name_addr(value) if value is not None else None

        return self._parsed("from", parse)

    @property
    def to(self):
        def parse():
            value = self.get("to")
            return parse_name_addr(value) if value is not None else None

        return self._parsed("to", parse)

    @property
    def contacts(self):
        """Contact values as NameAddr (an empty list for none, and for `Contact: *`)."""

        def parse():
            values = self.get_all("contact")
            if values == ["*"]:
                return []
            return [parse_name_addr(v) for v in values]

        return self._parsed("contact", parse)

    @property
    def record_routes(self):
        return self._parsed("record-route", lambda: [parse_name_addr(v) for v in self.get_all("record-route")])

    @property
    def routes(self):
        return self._parsed("route", lambda: [parse_name_addr(v) for v in self.get_all("route")])

    @property
    def max_forwards(self):
        value = self.get("max-forwards")
        return parse_uint(value, "Max-Forwards", 255) if value is not None else None

    @property
    def expires(self):
        value = self.get("expires")
        return parse_delta_seconds(value) if value is not None else None

    @property
    def content_type(self):
        """The media type in lower case without parameters, or None."""
        value = self.get("content-type")
        if value is None:
            return None
        return value.split(";", 1)[0].strip().lower()

    def validate(self):
        """Parse every header the agent relies on; raise SipParseError on the first bad one."""
        fields = self._fields
        for key in _SINGLE_HEADERS:
            count = 0
            first = None
            for field in fields:
                if field[0] == key:
                    count += 1
                    if first is None:
                        first = field[2]
                    elif key != "content-length" or field[2].strip() != first.strip():
                        raise SipParseError("more than one %s header" % canonical_name(key))
        for key in ("via", "from", "to", "call-id", "cseq"):
            if not self.has(key):
                raise SipParseError("missing %s header" % canonical_name(key))
        if not self.vias:
            raise SipParseError("empty Via header")
        check_call_id(self.call_id)
        self.cseq
        self.from_
        self.to
        self.contacts
        self.record_routes
        self.routes
        self.max_forwards
        if self.has("expires"):
            self.expires

    # -- serialization ------------------------------------------------------------------------
    def start_line(self):
        raise NotImplementedError

    def to_bytes(self):
        """The wire form; Content-Length always matches the body."""
        body = self.body
        lines = [self.start_line()]
        length_written = False
        for key, name, value in self._fields:
            if key == "content-length":
                if length_written:
                    continue
                value = str(len(body))
                length_written = True
            lines.append(name + ": " + value)
        if not length_written:
            lines.append("Content-Length: " + str(len(body)))
        lines.append("\r\n")
        return "\r\n".join(lines).encode() + body

    def __bytes__(self):
        return self.to_bytes()


class Request(Message):
    is_request = True

    def __init__(self, method, uri, headers=None, body=b"", version="SIP/2.0"):
        Message.__init__(self, headers, body)
        self.method = method
        self.uri = uri if not isinstance(uri, str) else parse_uri(uri)
        self.version = version

    def start_line(self):
        return self.method + " " + str(self.uri) + " " + self.version

    def validate(self):
        Message.validate(self)
        if self.cseq.method != self.method:
            raise SipParseError(
                "CSeq method %s does not match request method %s" % (self.cseq.method, self.method)
            )

    def __repr__(self):
        return "<Request %s %s>" % (self.method, self.uri)


class Response(Message):
    is_request = False

    def __init__(self, status, reason=None, headers=None, body=b"", version="SIP/2.0"):
        Message.__init__(self, headers, body)
        self.status = status
        self.reason = reason if reason is not None else REASONS.get(status, "Unknown")
        self.version = version

    def start_line(self):
        return self.version + " " + str(self.status) + " " + self.reason

    def __repr__(self):
        return "<Response %d %s>" % (self.status, self.reason)


def _parse_start_line(line):
    if line.startswith("SIP/") or line.startswith("sip/"):
        parts = line.split(" ", 2)
        if len(parts) < 3:
            raise SipParseError("bad status line %r" % line)
        version, code, reason = parts
        if version.upper() != "SIP/2.0":
            raise SipParseError("unsupported SIP version %r" % version)
        if len(code) != 3 or not DIGITS_RE.match(code) or not 100 <= int(code) <= 699:
            raise SipParseError("bad status code %r" % code)
        if "\r" in reason or "\n" in reason:
            raise SipParseError("bad reason phrase")
        return Response(int(code), reason, None, b"", version)
    parts = line.split(" ")
    if len(parts) != 3:
        raise SipParseError("bad request line %r" % line)
    method, uri_text, version = parts
    if not TOKEN_RE.match(method):
        raise SipParseError("bad method %r" % method)
    if version.upper() != "SIP/2.0":
        if version.upper().startswith("SIP/"):
            raise SipParseError("unsupported SIP version %r" % version, 505)
        raise SipParseError("bad request line %r" % line)
    return Request(method, parse_uri(uri_text), None, b"", version)


def _split_header_section(data):
    """(header text lines, index where the body starts) of a datagram or framed message."""
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        head = data[:end]
        body_start = end + 4
        sep = "\r\n"
    else:
        # Bare LF line ends are not SIP, but some stacks send them; accept them consistently.
        end = data.find(b"\n\n")
        if end >= 0 and b"\r" not in data[:end]:
            head = data[:end]
            body_start = end + 2
            sep = "\n"
        elif data.endswith(b"\r\n"):
            # The datagram ends without the empty line: read the headers (to answer 400 if
            # they are bad) as a message without a body.
            head = data[:-2]
            body_start = len(data)
            sep = "\r\n"
        else:
            raise SipParseError("no empty line after the headers")
    try:
        text = head.decode("utf-8")
    except UnicodeError:
        raise SipParseError("header section is not UTF-8") from None
    lines = text.split(sep)
    if text.count("\n") != len(lines) - 1 or text.count("\r") != (len(lines) - 1 if sep == "\r\n" else 0):
        raise SipParseError("bare CR or LF inside the header section")
    return lines, body_start


def parse_message(data):
    """Parse one SIP message from a datagram (bytes). Raise SipParseError if malformed.

    Leading CRLFs (keep-alives) are skipped. The body is framed by Content-Length; bytes after it
    are ignored, and without Content-Length the body is the rest of the datagram."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipParseError("message larger than %d bytes" % MAX_MESSAGE_BYTES, 513)
    start = 0
    while data[start : start + 2] == b"\r\n":
        start += 2
    if start:
        data = data[start:]
    lines, body_start = _split_header_section(data)
    message = _parse_start_line(lines[0])
    fields = message._fields
    error = None
    compact = COMPACT_FORMS
    for line in lines[1:]:
        if not line:
            error = error or SipParseError("empty header line")
            continue
        if line[0] == " " or line[0] == "\t":
            if not fields:
                error = error or SipParseError("continuation line before any header")
                continue
            key, name, value = fields[-1]
            stripped = line.strip()
            fields[-1] = (key, name, value + " " + stripped if value else stripped)
            continue
        colon = line.find(":")
        if colon <= 0:
            error = error or SipParseError("header line without a colon: %r" % line[:40])
            continue
        name = line[:colon]
        if name[-1] == " " or name[-1] == "\t":
            name = name.rstrip()
        if not TOKEN_RE.match(name):
            error = error or SipParseError("bad header name %r" % name)
            continue
        key = name.lower()
        fields.append((compact.get(key, key), name, line[colon + 1 :].strip()))
    if len(fields) > MAX_HEADERS:
        error = error or SipParseError("more than %d headers" % MAX_HEADERS, 400)
    try:
        if error is not None:
            raise error
        length = None
        for field in fields:
            if field[0] == "content-length":
                length = parse_uint(field[2], "Content-Length", MAX_MESSAGE_BYTES)
                break
        rest = len(data) - body_start
        if length is None:
            message.body = data[body_start:]
        elif length > rest:
            raise SipParseError("Content-Length %d but only %d body bytes" % (length, rest))
        else:
            message.body = data[body_start : body_start + length]
        message.validate()
    except SipParseError as exc:
        exc.start_line = lines[0]
        exc.raw_headers = [(name, value) for _, name, value in fields]
        raise
    return message


class StreamFramer:
    """Cuts a stream (TCP) into whole messages. Content-Length is required on a stream.

    feed(data) returns the complete messages (bytes) seen so far. A framing error raises
    SipParseError; the connection must then be closed (the framer refuses further input)."""

    def __init__(self, max_message_bytes=MAX_MESSAGE_BYTES):
        self.max_message_bytes = max_message_bytes
        self._buffer = b""
        self._broken = None

    def feed(self, data):
        if self._broken is not None:
            raise self._broken
        buffer = self._buffer + data
        out = []
        try:
            while True:
                start = 0
                while buffer[start : start + 2] == b"\r\n":
                    start += 2
                if start:
                    buffer = buffer[start:]
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    if len(buffer) > self.max_message_bytes:
                        raise SipParseError("header section too large", 513)
                    break
                length = self._content_length(buffer[:end])
                total = end + 4 + length
                if total > self.max_message_bytes:
                    raise SipParseError("message larger than %d bytes" % self.max_message_bytes, 513)
                if len(buffer) < total:
                    break
                out.append(buffer[:total])
                buffer = buffer[total:]
        except SipParseError as exc:
            self._broken = exc
            self._buffer = b""
            raise
        self._buffer = buffer
        return out

    @property
    def pending(self):
        """Bytes received that do not yet form a whole message."""
        return len(self._buffer)

    @staticmethod
    def _content_length(head):
        length = None
        for line in head.split(b"\r\n")[1:]:
            if line[:1] in (b" ", b"\t"):
                continue
            name, colon, value = line.partition(b":")
            if not colon:
                continue
            name = name.strip().lower()
            if name == b"content-length" or name == b"l":
                try:
                    number = parse_uint(value.strip().decode(), "Content-Length", MAX_MESSAGE_BYTES)
                except UnicodeError:
                    raise SipParseError("bad Content-Length") from None
                if length is not None and number != length:
                    raise SipParseError("conflicting Content-Length headers")
                length = number
        if length is None:
            raise SipParseError("Content-Length is required on a stream")
        return length
