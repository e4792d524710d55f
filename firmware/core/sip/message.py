"""SIP messages (RFC 3261 section 7, 20, 25): parse, inspect, build and serialize.

`parse_message(datagram)` is strict: the start line, the header framing and every header the user
agent relies on (Via, From, To, Call-ID, CSeq, Max-Forwards, Content-Length, Contact, Route,
Record-Route, Expires) are checked, and anything malformed raises `SipParseError` with a reason.
Headers the agent does not interpret stay opaque strings. Header order, spelling (compact forms
included) and values are kept, so `parse_message(m.to_bytes())` gives back the same headers and
body; folded lines come back unfolded.

Typed views (`vias`, `from_`, `contacts`...) are parsed on first use and cached until the headers
change. On CPython, validation first tries whole-header regexes (the fast lanes in uri.py and
below) and only runs the hand-written parsers on what they do not recognise; the verdicts and
reasons are the same on both runtimes.

`StreamFramer` cuts a TCP byte stream into messages by Content-Length.
"""

import re

from firmware.core.sip.syntax import (
    FAST_REGEX,
    PARAM_PATTERN,
    TOKEN_PATTERN,
    WS,
    SipParseError,
    charset,
    find_param,
    format_params,
    is_digits,
    is_token,
    matched_params,
    param_value,
    parse_params,
    set_param,
    split_list,
)
from firmware.core.sip.uri import (
    HOST_PATTERN,
    PORT_PATTERN,
    SIP_URI_PATTERN,
    fast_address,
    fast_address_list,
    fast_name_addr_list,
    parse_host_port,
    parse_name_addr,
    parse_uri,
)

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
_REQUIRED_HEADERS = ("via", "from", "to", "call-id", "cseq")

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


def _compute_key(name):
    key = name.lower()
    return COMPACT_FORMS.get(key, key)


def _canonical(key):
    spelled = _CANONICAL.get(key)
    if spelled is not None:
        return spelled
    return "-".join(part[:1].upper() + part[1:] for part in key.split("-"))


# Other headers most messages carry; with the ones above, their usual spellings map straight to a
# key in _KEYS (no lower(), no compact-form lookup).
# fmt: off
_COMMON_HEADERS = (
    "accept", "authorization", "content-disposition", "content-transfer-encoding", "content-type",
    "date", "event", "expires", "max-forwards", "min-expires", "min-se", "organization",
    "p-access-network-info", "p-asserted-identity", "p-preferred-identity", "p-preferred-service",
    "privacy", "proxy-authenticate", "proxy-authorization", "rack", "reason", "refer-to",
    "referred-by", "remote-party-id", "replaces", "retry-after", "rseq", "server",
    "session-expires", "subject", "subscription-state", "timestamp", "user-agent",
    "www-authenticate",
)
# fmt: on
_KEYS = {}
for _key in _COMMON_HEADERS + tuple(LIST_HEADERS) + _SINGLE_HEADERS:
    for _spelling in (_key, _canonical(_key)):
        _KEYS[_spelling] = _key
for _letter, _key in COMPACT_FORMS.items():
    _KEYS[_letter] = _key
    _KEYS[_letter.upper()] = _key
for _spelling in ("Call-Id", "Cseq", "Min-SE", "RAck", "RSeq"):
    _KEYS[_spelling] = _compute_key(_spelling)
del _key, _spelling, _letter


def header_key(name):
    """The lower-case long name of a header, compact forms expanded."""
    key = _KEYS.get(name)
    return key if key is not None else _compute_key(name)


def canonical_name(name):
    """How we spell a header we create: `call-id` -> `Call-ID`, `content-type` -> `Content-Type`."""
    return _canonical(header_key(name))


class Via:
    """One Via element: `SIP/2.0/UDP host:port;branch=...;rport;received=...`."""

    __slots__ = ("host", "params", "port", "protocol", "transport")

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
        return Via(
            self.transport, self.host, self.port, set_param(self.params, name, value), self.protocol
        )

    def sent_by(self):
        """(host, port) of the sent-by; port None when not given."""
        return (self.host, self.port)

    def __str__(self):
        host = "[" + self.host + "]" if ":" in self.host else self.host
        port = ":" + str(self.port) if self.port is not None else ""
        return self.protocol + "/" + self.transport + " " + host + port + format_params(self.params)

    def __repr__(self):
        return "Via(%r)" % str(self)


def _find_ws(text):
    """Index of the first SP or HTAB in text, or len(text)."""
    space = text.find(" ")
    tab = text.find("\t")
    if tab >= 0 and (space < 0 or tab < space):
        return tab
    return space if space >= 0 else len(text)


def parse_via(element):
    """Parse one Via element: sent-protocol LWS sent-by *( SEMI via-params ), SWS allowed around
    '/', ':', ';' and '='; `rport` takes no value or digits (RFC 3581)."""
    if FAST_REGEX:
        match = _via_parts(element.strip(WS))
        if match is not None:
            name, version, transport, host, port, params = match.groups()
            port = int(port) if port else None
            params = matched_params(params)
            return Via(transport.upper(), host, port, params, name + "/" + version)
    return _parse_via(element)


def _parse_via(element):
    """The portable Via parser."""
    parts = element.strip(WS).split("/", 2)
    if len(parts) != 3:
        raise SipParseError("bad Via %r" % element[:80])
    name = parts[0].strip(WS)
    version = parts[1].strip(WS)
    rest = parts[2].lstrip(WS)
    if not is_token(name) or not is_token(version):
        raise SipParseError("bad Via protocol %r" % element[:80])
    i = _find_ws(rest)
    transport = rest[:i]
    if not is_token(transport):
        raise SipParseError("bad Via transport %r" % element[:80])
    semi = rest.find(";", i)
    sent_by = (rest[i:] if semi < 0 else rest[i:semi]).strip(WS)
    if " " in sent_by or "\t" in sent_by:
        # COLON = SWS ":" SWS
        host, colon, port = sent_by.rpartition(":")
        sent_by = host.strip(WS) + colon + port.strip(WS)
    if not sent_by:
        raise SipParseError("Via without sent-by %r" % element[:80])
    host, port = parse_host_port(sent_by)
    params = parse_params(rest, semi, "Via parameter") if semi >= 0 else []
    for pname, pvalue in params:
        if pname.lower() == "rport" and pvalue is not None and not is_digits(pvalue):
            raise SipParseError("bad rport %r" % pvalue[:20])
    return Via(transport.upper(), host, port, params, name + "/" + version)


class CSeq:
    __slots__ = ("method", "seq")

    def __init__(self, seq, method):
        self.seq = seq
        self.method = method

    def __str__(self):
        return str(self.seq) + " " + self.method

    def __repr__(self):
        return "CSeq(%r)" % str(self)


def parse_cseq(value):
    """CSeq = 1*DIGIT LWS Method, the number below 2**31."""
    if FAST_REGEX:
        match = _cseq_parts(value)
        if match is not None:
            return CSeq(int(match.group(1)), match.group(2))
    value = value.strip(WS)
    space = _find_ws(value)
    number = value[:space]
    method = value[space + 1 :].lstrip(WS)
    if space == len(value) or not is_digits(number) or not is_token(method):
        raise SipParseError("bad CSeq %r" % value[:80])
    if len(number) > 10 or int(number) > MAX_CSEQ:
        raise SipParseError("CSeq number out of range: %s" % number[:20])
    return CSeq(int(number), method)


def parse_uint(value, what, maximum):
    if not is_digits(value):
        raise SipParseError("bad %s %r" % (what, value[:20]))
    if len(value) > 10:
        raise SipParseError("%s out of range: %s" % (what, value[:20]))
    number = int(value)
    if number > maximum:
        raise SipParseError("%s out of range: %s" % (what, value))
    return number


def parse_delta_seconds(value):
    """Expires-style delta-seconds; huge values are clamped to 2**32-1 (RFC 3261 section 25.1)."""
    if not is_digits(value):
        raise SipParseError("bad delta-seconds %r" % value[:20])
    if len(value) > 10:
        return 2**32 - 1
    return min(int(value), 2**32 - 1)


# callid = word [ "@" word ]; word = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" /
# "`" / "'" / "~" / "(" / ")" / "<" / ">" / ":" / "\" / DQUOTE / "/" / "[" / "]" / "?" / "{" / "}")
_is_call_id_word = charset("A-Za-z0-9.!%*_+`'~()<>:\\\\\"/[\\]?{}-")


def check_call_id(value):
    word, at, host = value.partition("@")
    if not _is_call_id_word(word) or (at and not _is_call_id_word(host)):
        raise SipParseError("bad Call-ID %r" % value[:80] if value else "empty Call-ID")
    return value


# -- typed views: key -> parser of the header's raw lines ------------------------------------
def _parse_vias(lines):
    out = []
    for line in lines:
        for element in split_list(line):
            if not element:
                raise SipParseError("empty Via element")
            out.append(parse_via(element))
    return out


def _parse_addresses(lines, what, brackets):
    out = []
    for line in lines:
        for element in split_list(line):
            if not element:
                raise SipParseError("empty %s element" % what)
            out.append(parse_name_addr(element, brackets))
    return out


def _parse_contacts(lines):
    if len(lines) == 1 and lines[0] == "*":
        return []  # Contact: * (remove all bindings)
    return _parse_addresses(lines, "Contact", False)


_VIEWS = {
    "via": _parse_vias,
    "call-id": lambda lines: check_call_id(lines[0]),
    "cseq": lambda lines: parse_cseq(lines[0]),
    "from": lambda lines: parse_name_addr(lines[0]),
    "to": lambda lines: parse_name_addr(lines[0]),
    "contact": _parse_contacts,
    "record-route": lambda lines: _parse_addresses(lines, "Record-Route", True),
    "route": lambda lines: _parse_addresses(lines, "Route", True),
    "max-forwards": lambda lines: parse_uint(lines[0], "Max-Forwards", 255),
    "expires": lambda lines: parse_delta_seconds(lines[0]),
}
_LIST_VIEWS = ("via", "contact", "record-route", "route")

# Checked by validate(), in this order (the first bad header gives the reason).
if FAST_REGEX:
    _VIA_PARAM = (
        "[ \t]*+;[ \t]*+(?:[Rr][Pp][Oo][Rr][Tt](?:[ \t]*+=[ \t]*+[0-9]++)?+(?=[ \t;,]|$)"
        "|(?![Rr][Pp][Oo][Rr][Tt][ \t]*+=)" + PARAM_PATTERN + ")"
    )

    def _via_pattern(group):
        """One Via element; group() wraps the parts that parse_via reads."""
        return (
            group(TOKEN_PATTERN)
            + "[ \t]*+/[ \t]*+"
            + group(TOKEN_PATTERN)
            + "[ \t]*+/[ \t]*+"
            + group(TOKEN_PATTERN)
            + "[ \t]++"
            + group(HOST_PATTERN)
            + "(?:[ \t]*+:[ \t]*+"
            + group(PORT_PATTERN)
            + ")?+"
            + group("(?:" + _VIA_PARAM + ")*+")
        )

    _cseq_parts = re.compile("([0-9]{1,9})[ \t]++(" + TOKEN_PATTERN + ")").fullmatch
    _via_parts = re.compile(_via_pattern(lambda part: "(" + part + ")")).fullmatch
    _VIA = _via_pattern(lambda part: part)
    _fast_via_list = re.compile(_VIA + "(?:[ \t]*+,[ \t]*+" + _VIA + ")*+").fullmatch
else:
    _fast_via_list = None
_CHECKS = (
    ("via", _fast_via_list),
    ("call-id", None),
    ("cseq", None),
    ("from", fast_address),
    ("to", fast_address),
    ("contact", fast_address_list),
    ("record-route", fast_name_addr_list),
    ("route", fast_name_addr_list),
    ("max-forwards", None),
    ("expires", None),
)


def _check_field(name, value):
    if not is_token(name):
        raise ValueError("bad header name %r" % name)
    value = str(value)
    if "\r" in value or "\n" in value:
        raise ValueError("CR or LF in the value of %s" % name)
    return value


class Message:
    """Common part of requests and responses: ordered headers and a body (bytes).

    Headers are kept as (key, name, value) triples: `key` is the lower-case long name used for
    lookups, `name` the spelling as received (or canonical when we add one)."""

    def __init__(self, headers=None, body=b""):
        self._fields = []
        self._index = None
        self._cache = {}
        self.body = body
        if headers:
            for name, value in headers:
                self.add(name, value)

    # -- header access -----------------------------------------------------------------------
    def _lines(self):
        """key -> raw values in order (built once, until the headers change)."""
        index = self._index
        if index is None:
            index = {}
            for key, _, value in self._fields:
                lines = index.get(key)
                if lines is None:
                    index[key] = [value]
                else:
                    lines.append(value)
            self._index = index
        return index

    def _changed(self):
        self._index = None
        self._cache = {}

    @property
    def headers(self):
        """(name, value) pairs in order, as they will be serialized."""
        return [(name, value) for _, name, value in self._fields]

    def has(self, name):
        return header_key(name) in self._lines()

    def get_lines(self, name):
        """Raw values of every header line with that name, in order."""
        return list(self._lines().get(header_key(name), ()))

    def get_all(self, name):
        """Every value of the header, list headers split at their commas (empty ones dropped)."""
        key = header_key(name)
        lines = self._lines().get(key)
        if lines is None:
            return []
        if key not in LIST_HEADERS:
            return list(lines)
        out = []
        for line in lines:
            for value in split_list(line):
                if value:
                    out.append(value)
        return out

    def get(self, name, default=None):
        """The first value (first list element for list headers), or default."""
        key = header_key(name)
        lines = self._lines().get(key)
        if lines is None:
            return default
        if key in LIST_HEADERS:
            return split_list(lines[0])[0]
        return lines[0]

    def add(self, name, value):
        """Append a header (name spelled as given; pass canonical names). A name that is not a
        token or a value with CR or LF raises ValueError."""
        self._fields.append((header_key(name), name, _check_field(name, value)))
        self._changed()

    def prepend(self, name, value):
        """Insert a header before all others (a new top Via)."""
        self._fields.insert(0, (header_key(name), name, _check_field(name, value)))
        self._changed()

    def set(self, name, value):
        """Replace every header of that name with one, at the place of the first."""
        key = header_key(name)
        value = _check_field(name, value)
        out = []
        placed = False
        for field in self._fields:
            if field[0] == key:
                if not placed:
                    out.append((key, field[1], value))
                    placed = True
            else:
                out.append(field)
        if not placed:
            out.append((key, name, value))
        self._fields = out
        self._changed()

    def remove(self, name):
        key = header_key(name)
        self._fields = [field for field in self._fields if field[0] != key]
        self._changed()

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
                self._changed()
                return

    # -- typed views (parsed on first use, then cached) ----------------------------------------
    def _view(self, key):
        cache = self._cache
        if key in cache:
            return cache[key]
        lines = self._lines().get(key)
        if lines is None:
            value = [] if key in _LIST_VIEWS else None
        else:
            value = _VIEWS[key](lines)
        cache[key] = value
        return value

    @property
    def vias(self):
        return self._view("via")

    @property
    def top_via(self):
        vias = self._view("via")
        return vias[0] if vias else None

    @property
    def call_id(self):
        return self.get("call-id")

    @property
    def cseq(self):
        return self._view("cseq")

    @property
    def from_(self):
        return self._view("from")

    @property
    def to(self):
        return self._view("to")

    @property
    def contacts(self):
        """Contact values as NameAddr (an empty list for none, and for `Contact: *`)."""
        return self._view("contact")

    @property
    def record_routes(self):
        return self._view("record-route")

    @property
    def routes(self):
        return self._view("route")

    @property
    def max_forwards(self):
        return self._view("max-forwards")

    @property
    def expires(self):
        return self._view("expires")

    @property
    def content_type(self):
        """The media type in lower case without parameters, or None."""
        value = self.get("content-type")
        if value is None:
            return None
        return value.split(";", 1)[0].strip(WS).lower()

    def validate(self):
        """Check every header the agent relies on; raise SipParseError on the first bad one.

        Afterwards the typed views of those headers cannot raise."""
        index = self._lines()
        if len(index) != len(self._fields):  # some header appears more than once
            for key in _SINGLE_HEADERS:
                lines = index.get(key)
                if lines is not None and len(lines) > 1:
                    if key != "content-length":
                        raise SipParseError("more than one %s header" % _canonical(key))
                    first = parse_uint(lines[0], "Content-Length", MAX_MESSAGE_BYTES)
                    for line in lines[1:]:
                        if parse_uint(line, "Content-Length", MAX_MESSAGE_BYTES) != first:
                            raise SipParseError("conflicting Content-Length headers")
        for key in _REQUIRED_HEADERS:
            if key not in index:
                raise SipParseError("missing %s header" % _canonical(key))
        cache = self._cache
        for key, fast in _CHECKS:
            lines = index.get(key)
            if lines is None or key in cache:
                continue
            if fast is not None:
                for line in lines:
                    if not fast(line):
                        break
                else:
                    continue  # every line takes the fast lane: the view will parse
            cache[key] = _VIEWS[key](lines)

    # -- serialization ------------------------------------------------------------------------
    def start_line(self):
        raise NotImplementedError

    def to_bytes(self):
        """The wire form; Content-Length always matches the body (one header, where it was)."""
        body = self.body
        length = str(len(body))
        lines = [self.start_line()]
        lines += [
            name + ": " + (value if key != "content-length" else length)
            for key, name, value in self._fields
        ]
        count = len(self._lines().get("content-length", ()))
        if count == 0:
            lines.append("Content-Length: " + length)
        elif count > 1:
            first = True
            kept = [lines[0]]
            for i, field in enumerate(self._fields):
                if field[0] == "content-length":
                    if not first:
                        continue
                    first = False
                kept.append(lines[i + 1])
            lines = kept
        lines.append("\r\n")
        return "\r\n".join(lines).encode() + body

    def __bytes__(self):
        return self.to_bytes()


class Request(Message):
    is_request = True

    def __init__(self, method, uri, headers=None, body=b"", version="SIP/2.0"):
        Message.__init__(self, headers, body)
        self.method = method
        self._uri_text = None
        self._uri = uri if not isinstance(uri, str) else parse_uri(uri)
        self.version = version

    @property
    def uri(self):
        """The Request-URI (a Uri; assign a Uri or a string)."""
        if self._uri is None and self._uri_text is not None:
            self._uri = parse_uri(self._uri_text)
        return self._uri

    @uri.setter
    def uri(self, value):
        self._uri = value if not isinstance(value, str) else parse_uri(value)
        self._uri_text = None

    def start_line(self):
        uri = self._uri_text if self._uri is None else str(self._uri)
        return self.method + " " + uri + " " + self.version

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


def _has_controls(text):
    return any((c < " " and c != "\t") or c == "\x7f" for c in text)


def _parse_start_line(line):
    if line[:4].upper() == "SIP/":
        parts = line.split(" ", 2)
        if len(parts) < 3:
            raise SipParseError("bad status line %r" % line[:80])
        version, code, reason = parts
        if version.upper() != "SIP/2.0":
            raise SipParseError("unsupported SIP version %r" % version[:20])
        if len(code) != 3 or not is_digits(code) or not 100 <= int(code) <= 699:
            raise SipParseError("bad status code %r" % code[:20])
        if _has_controls(reason):
            raise SipParseError("bad reason phrase")
        return Response(int(code), reason, None, b"", version)
    parts = line.split(" ")
    if len(parts) != 3:
        raise SipParseError("bad request line %r" % line[:80])
    method, uri_text, version = parts
    if not is_token(method):
        raise SipParseError("bad method %r" % method[:40])
    if version.upper() != "SIP/2.0":
        if version[:4].upper() == "SIP/":
            raise SipParseError("unsupported SIP version %r" % version[:20], 505)
        raise SipParseError("bad request line %r" % line[:80])
    return Request(method, parse_uri(uri_text), None, b"", version)


if FAST_REGEX:
    _fast_request_line = re.compile(
        "(" + TOKEN_PATTERN + ") (" + SIP_URI_PATTERN + ") SIP/2\\.0"
    ).fullmatch
    _fast_status_line = re.compile(
        "SIP/2\\.0 ([1-6][0-9][0-9]) ([^\x00-\x08\x0a-\x1f\x7f]*+)"
    ).fullmatch


def _read_simple_fields(lines):
    """Header lines of the common shape (`Name: value` with a known or token name, no folding) as
    (fields, index); None if any line needs the general reader."""
    keys = _KEYS
    fields = []
    index = {}
    first = True
    for line in lines:
        if first:  # the start line
            first = False
            continue
        name, colon, value = line.partition(":")
        key = keys.get(name)
        if key is None:
            if not colon or not is_token(name):
                return None
            key = _compute_key(name)
        elif not colon:
            return None
        value = value.strip(WS)
        fields.append((key, name, value))
        if key in index:
            index[key].append(value)
        else:
            index[key] = [value]
    return fields, index


def _read_header_lines(lines, fields):
    """The general header reader: unfolds continuation lines and checks names. Returns the first
    error (headers after a bad line are still read, so a 400 can copy them)."""
    error = None
    keys = _KEYS
    for i in range(1, len(lines)):
        line = lines[i]
        if not line:
            error = error or SipParseError("empty header line")
            continue
        if line[0] == " " or line[0] == "\t":
            if not fields:
                error = error or SipParseError("continuation line before any header")
                continue
            stripped = line.strip(WS)
            if stripped:
                key, name, value = fields[-1]
                fields[-1] = (key, name, value + " " + stripped if value else stripped)
            continue
        colon = line.find(":")
        if colon <= 0:
            error = error or SipParseError("header line without a colon: %r" % line[:40])
            continue
        name = line[:colon].rstrip(WS)
        if not is_token(name):
            error = error or SipParseError("bad header name %r" % name[:40])
            continue
        key = keys.get(name)
        fields.append(
            (key if key is not None else _compute_key(name), name, line[colon + 1 :].strip(WS))
        )
    return error


def parse_message(data):
    """Parse one SIP message from a datagram (bytes). Raise SipParseError if malformed.

    Leading CRLFs (keep-alives) are skipped. The body is framed by Content-Length; bytes after it
    are ignored, and without Content-Length the body is the rest of the datagram."""
    if len(data) > MAX_MESSAGE_BYTES:
        raise SipParseError("message larger than %d bytes" % MAX_MESSAGE_BYTES, 513)
    start = 0
    while data[start : start + 2] == b"\r\n":
        start += 2
    end = data.find(b"\r\n\r\n", start)
    sep = "\r\n"
    missing_blank_line = False
    if end >= 0:
        body_start = end + 4
    else:
        # Bare LF line ends are not SIP, but some stacks send them; accept them consistently.
        end = data.find(b"\n\n", start)
        if end >= 0 and b"\r" not in data[start:end]:
            body_start = end + 2
            sep = "\n"
        elif data.endswith(b"\r\n") and len(data) > start + 2:
            # No empty line after the headers: read them anyway, so a server can answer 400.
            end = len(data) - 2
            body_start = len(data)
            missing_blank_line = True
        else:
            raise SipParseError("no empty line after the headers")
    try:
        text = data[start:end].decode("utf-8")
    except UnicodeError:
        raise SipParseError("header section is not UTF-8") from None
    lines = text.split(sep)
    breaks = len(lines) - 1
    if text.count("\n") != breaks or text.count("\r") != (breaks if sep == "\r\n" else 0):
        raise SipParseError("bare CR or LF inside the header section")
    start_line = lines[0]
    message = None
    error = None
    if FAST_REGEX:
        match = _fast_request_line(start_line)
        if match is not None:
            message = Request(match.group(1), None)
            message._uri_text = match.group(2)
        else:
            match = _fast_status_line(start_line)
            if match is not None:
                message = Response(int(match.group(1)), match.group(2))
    if message is None:
        try:
            message = _parse_start_line(start_line)
        except SipParseError as exc:
            error = exc  # raised below, with the headers (a 505 still needs them)
    simple = _read_simple_fields(lines)
    if simple is not None:
        fields, index = simple
    else:
        fields = []
        index = None
        header_error = _read_header_lines(lines, fields)
        error = error or header_error
    if message is not None:
        message._fields = fields
        message._index = index
    try:
        if error is not None:
            raise error
        if len(fields) > MAX_HEADERS:
            raise SipParseError("more than %d headers" % MAX_HEADERS)
        length_lines = message._lines().get("content-length")
        rest = len(data) - body_start
        if length_lines is None:
            message.body = bytes(data[body_start:])
        else:
            length = parse_uint(length_lines[0], "Content-Length", MAX_MESSAGE_BYTES)
            if length > rest:
                raise SipParseError("Content-Length %d but only %d body bytes" % (length, rest))
            message.body = bytes(data[body_start : body_start + length])
        message.validate()
        if missing_blank_line:
            raise SipParseError("no empty line after the headers")
    except SipParseError as exc:
        exc.start_line = start_line
        exc.raw_headers = [(name, value) for _, name, value in fields]
        raise
    return message


class StreamFramer:
    """Cuts a stream (TCP) into whole messages. Content-Length is required on a stream.

    feed(data) returns the complete messages (bytes) seen so far; CRLFs between messages
    (RFC 5626 keep-alives) are skipped. A framing error raises SipParseError; the connection
    must then be closed (the framer refuses further input)."""

    def __init__(self, max_message_bytes=MAX_MESSAGE_BYTES):
        self.max_message_bytes = max_message_bytes
        self._buffer = b""
        self._broken = None

    def feed(self, data):
        if self._broken is not None:
            raise self._broken
        buffer = self._buffer + data if self._buffer else bytes(data)
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
                    raise SipParseError(
                        "message larger than %d bytes" % self.max_message_bytes, 513
                    )
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
        lines = head.split(b"\r\n")[1:]
        for i, line in enumerate(lines):
            if line[:1] in (b" ", b"\t"):
                continue
            name, colon, value = line.partition(b":")
            if not colon:
                continue
            name = name.strip(b" \t").lower()
            if name != b"content-length" and name != b"l":
                continue
            j = i + 1
            while j < len(lines) and lines[j][:1] in (b" ", b"\t"):
                value += b" " + lines[j]
                j += 1
            try:
                number = parse_uint(
                    value.strip(b" \t").decode(), "Content-Length", MAX_MESSAGE_BYTES
                )
            except UnicodeError:
                raise SipParseError("bad Content-Length") from None
            if length is not None and number != length:
                raise SipParseError("conflicting Content-Length headers")
            length = number
        if length is None:
            raise SipParseError("Content-Length is required on a stream")
        return length
