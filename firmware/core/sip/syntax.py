"""Lexical pieces of the SIP grammar (RFC 3261 section 25) shared by URIs, addresses and headers.

Only plain `re` features are used (character classes, `+`, `*`, anchors): MicroPython's `re`
silently fails on counted repetitions and has no named groups.
"""

import re


class SipParseError(ValueError):
    """Malformed SIP from the network. `reason` says what is wrong; `status` is the response a
    server should answer with (400, or 505 for a SIP version we do not speak).

    When the message could be read far enough to identify its transaction, `start_line` and
    `raw_headers` (a list of (name, value) pairs) are set so a server can still answer it.
    """

    def __init__(self, reason, status=400):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.start_line = None
        self.raw_headers = None


# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN_RE = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+$")
# A header parameter value that is not a quoted string: token or host (IPv6 reference included),
# plus "=" and "/" because real stacks put base64 in branches (Asterisk: `branch=z9hG4bK...U=`).
PARAM_VALUE_RE = re.compile(r"[A-Za-z0-9.!%*_+`'~:\[\]=/-]+$")
# The characters a URI may hold at all (RFC 3261 section 25.1); whitespace, <, >, " never.
URI_CHARS_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/:%@\[\]#]+$")
DIGITS_RE = re.compile(r"[0-9]+$")
WS = " \t"


def is_token(text):
    return TOKEN_RE.match(text) is not None


def parse_quoted(text, i):
    """Parse the quoted-string that starts at text[i] == '"'.

    Returns (unescaped content, index after the closing quote)."""
    out = []
    start = i + 1
    j = start
    n = len(text)
    while j < n:
        c = text[j]
        if c == '"':
            out.append(text[start:j])
            return "".join(out), j + 1
        if c == "\\":
            if j + 1 >= n:
                break
            out.append(text[start:j])
            out.append(text[j + 1])
            j += 2
            start = j
            continue
        j += 1
    raise SipParseError("unterminated quoted string")


def quote(text):
    """The quoted-string form of text."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def unquote(value):
    """A parameter value without its quotes (values that are not quoted come back unchanged)."""
    if value is not None and len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return parse_quoted(value, 0)[0]
    return value


def _skip_ws(text, i, n):
    while i < n and text[i] in WS:
        i += 1
    return i


def parse_params(text, i=0, what="parameter"):
    """Parse `*( SWS ";" SWS name [ SWS "=" SWS value ] )` from text[i:] to its end.

    Returns a list of (name, value) pairs; value is None for a flag parameter and keeps its
    quotes when quoted. Anything but parameters raises SipParseError."""
    params = []
    n = len(text)
    if '"' not in text and " " not in text and "\t" not in text:
        # Fast path: no quoting and no whitespace, so plain splitting is exact.
        rest = text[i:]
        if not rest:
            return params
        if rest[0] != ";":
            raise SipParseError("expected ';' before %s" % what)
        for part in rest[1:].split(";"):
            name, eq, value = part.partition("=")
            if not TOKEN_RE.match(name):
                raise SipParseError("bad %s name %r" % (what, name))
            if eq:
                if not PARAM_VALUE_RE.match(value):
                    raise SipParseError("bad %s value %r" % (what, value))
                params.append((name, value))
            else:
                params.append((name, None))
        return params
    while True:
        i = _skip_ws(text, i, n)
        if i >= n:
            return params
        if text[i] != ";":
            raise SipParseError("expected ';' before %s at %r" % (what, text[i:]))
        i = _skip_ws(text, i + 1, n)
        start = i
        while i < n and text[i] not in " \t;=":
            i += 1
        name = text[start:i]
        if not TOKEN_RE.match(name):
            raise SipParseError("bad %s name %r" % (what, name))
        i = _skip_ws(text, i, n)
        if i < n and text[i] == "=":
            i = _skip_ws(text, i + 1, n)
            if i < n and text[i] == '"':
                end = parse_quoted(text, i)[1]
                value = text[i:end]
                i = end
            else:
                start = i
                while i < n and text[i] not in " \t;":
                    i += 1
                value = text[start:i]
                if not PARAM_VALUE_RE.match(value):
                    raise SipParseError("bad %s value %r" % (what, value))
            params.append((name, value))
        else:
            params.append((name, None))


def format_params(params):
    return "".join(";" + name if value is None else ";" + name + "=" + value for name, value in params)


def find_param(params, name):
    """The (name, value) pair for a case-insensitive name, or None."""
    name = name.lower()
    for pair in params:
        if pair[0].lower() == name:
            return pair
    return None


def param_value(params, name, default=None):
    pair = find_param(params, name)
    if pair is None:
        return default
    return pair[1]


def set_param(params, name, value):
    """A copy of params with name set to value (None: a flag), replacing an existing one."""
    out = []
    done = False
    for pair in params:
        if pair[0].lower() == name.lower():
            if not done:
                out.append((pair[0], value))
                done = True
        else:
            out.append(pair)
    if not done:
        out.append((name, value))
    return out


def split_list(value):
    """Split a header value at the commas that separate list elements (outside quotes and <>)."""
    if "," not in value:
        return [value.strip()]
    parts = []
    start = 0
    depth = 0
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if c == '"':
            i = parse_quoted(value, i)[1]
            continue
        if c == "<":
            depth += 1
        elif c == ">":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(value[start:i].strip())
            start = i + 1
        i += 1
    parts.append(value[start:].strip())
    return parts


_HEX = "0123456789abcdefABCDEF"


def check_escapes(text):
    """Raise if a '%' in text does not start a %HH escape."""
    i = text.find("%")
    while i >= 0:
        if i + 2 >= len(text) or text[i + 1] not in _HEX or text[i + 2] not in _HEX:
            raise SipParseError("bad escape in %r" % text)
        i = text.find("%", i + 3)


def unescape(text):
    """Decode %HH escapes (RFC 3986) once. Bytes that do not form UTF-8 keep their escapes."""
    if "%" not in text:
        return text
    out = bytearray()
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "%" and i + 2 < n and text[i + 1] in _HEX and text[i + 2] in _HEX:
            out.append(int(text[i + 1 : i + 3], 16))
            i += 3
        else:
            out.extend(c.encode())
            i += 1
    try:
        return bytes(out).decode("utf-8")
    except UnicodeError:
        return text
