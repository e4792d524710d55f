"""Lexical pieces of the SIP grammar (RFC 3261 section 25) shared by URIs, addresses and headers.

Two ways of checking text live here, and they must agree:

- The hand-written parsers (`parse_params`, `parse_quoted`, the URI and header parsers built on
  them) are the definition. They use `re` only for single character classes, through `charset()`,
  which on MicroPython matches long text in chunks: MicroPython's `re` recurses once per
  character, so a long header would otherwise exhaust the stack. Its `re` also has no counted
  repetition, named groups, `fullmatch`, `\\t` or `\\x` escapes.
- Where `re` has `fullmatch` (CPython), `FAST_REGEX` is true and the parsers add whole-production
  regexes for the common shapes of each header ("fast lanes", the `*_PATTERN` strings). A fast
  lane may only accept text the hand-written parser accepts; anything it does not recognise goes
  to the hand-written parser, which gives the verdict and the reason. The property tests check
  the inclusion on random and mutated input.
"""

import re


class SipParseError(ValueError):
    """Malformed SIP from the network. `reason` says what is wrong; `status` is the response a
    server should answer with (400, 505 for a SIP version we do not speak, 513 for a message that
    is too large).

    When the message could be read far enough to identify its transaction, `start_line` and
    `raw_headers` (a list of (name, value) pairs) are set so a server can still answer it.
    """

    def __init__(self, reason, status=400, start_line=None, raw_headers=None):
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.start_line = start_line
        self.raw_headers = raw_headers


FAST_REGEX = hasattr(re.compile(""), "fullmatch")

# MicroPython's re recurses per character; 1000 characters at a time stays far from its limit.
_CHUNK = 1000


def charset(chars):
    """A predicate: is text a non-empty run of the characters in the regex class body `chars`?

    Returns something truthy (a match object on CPython) or falsy. Write `chars` with literal
    characters only (no `\\t`, `\\x..`); a `-` goes last."""
    if FAST_REGEX:
        return re.compile("[" + chars + "]+").fullmatch
    rx = re.compile("[" + chars + "]+$")

    def check(text):
        n = len(text)
        if n <= _CHUNK:
            return n > 0 and rx.match(text) is not None
        return all(rx.match(text[i : i + _CHUNK]) is not None for i in range(0, n, _CHUNK))

    return check


# token = 1*(alphanum / "-" / "." / "!" / "%" / "*" / "_" / "+" / "`" / "'" / "~")
TOKEN_CHARS = "A-Za-z0-9.!%*_+`'~-"
# A header parameter value that is not a quoted string: token or host (IPv6 reference included),
# plus "=" and "/" because real stacks put base64 in branches (`branch=z9hG4bK...U=`).
PARAM_VALUE_CHARS = "A-Za-z0-9.!%*_+`':[\\]=/~-"
# The characters a URI may hold at all (RFC 3261 section 25.1); whitespace, <, >, " never.
URI_CHARS = "A-Za-z0-9_.!~*'()&=+$,;?/:%@[\\]#-"

is_token = charset(TOKEN_CHARS)
is_param_value = charset(PARAM_VALUE_CHARS)
is_uri_chars = charset(URI_CHARS)
is_digits = charset("0-9")

# For callers that match with `re` directly. Prefer the is_* predicates: on CPython `$` also
# matches before a final newline, and on MicroPython long input exhausts the stack.
TOKEN_RE = re.compile("[" + TOKEN_CHARS + "]+$")
PARAM_VALUE_RE = re.compile("[" + PARAM_VALUE_CHARS + "]+$")
URI_CHARS_RE = re.compile("[" + URI_CHARS + "]+$")
DIGITS_RE = re.compile("[0-9]+$")
WS = " \t"


def parse_quoted(text, i):
    """Parse the quoted-string that starts at text[i] == '"'.

    qdtext is SP, HTAB, %x21, %x23-5B, %x5D-7E or non-ASCII; quoted-pair is "\\" and one of
    %x00-09 / %x0B-0C / %x0E-7F. Returns (unescaped content, index after the closing quote)."""
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
            escaped = text[j + 1]
            if escaped == "\r" or escaped == "\n" or escaped > "\x7f":
                raise SipParseError("bad quoted-pair in quoted string")
            out.append(text[start:j])
            out.append(escaped)
            j += 2
            start = j
            continue
        if (c < " " and c != "\t") or c == "\x7f":
            raise SipParseError("control character in quoted string")
        j += 1
    raise SipParseError("unterminated quoted string")


def quote(text):
    """The quoted-string form of text. CR and LF cannot be quoted: ValueError (our own misuse)."""
    if "\r" in text or "\n" in text:
        raise ValueError("CR or LF in a quoted string")
    out = []
    for c in text:
        if c == '"' or c == "\\" or (c < " " and c != "\t") or c == "\x7f":
            out.append("\\")
        out.append(c)
    return '"' + "".join(out) + '"'


def unquote(value):
    """A parameter value without its quotes (values that are not quoted come back unchanged)."""
    if value is not None and len(value) >= 2 and value[0] == '"' and value[-1] == '"':
        return parse_quoted(value, 0)[0]
    return value


def _skip_ws(text, i, n):
    while i < n and (text[i] == " " or text[i] == "\t"):
        i += 1
    return i


def parse_params(text, i=0, what="parameter"):
    """Parse `*( SWS ";" SWS name [ SWS "=" SWS value ] )` from text[i:] to its end.

    Returns a list of (name, value) pairs; value is None for a flag parameter and keeps its
    quotes when quoted. Anything but parameters raises SipParseError."""
    params = []
    n = len(text)
    if '"' not in text and " " not in text and "\t" not in text:
        # No quoting and no whitespace, so plain splitting is exact.
        if i >= n:
            return params
        if text[i] != ";":
            raise SipParseError("expected ';' before %s" % what)
        for part in text[i + 1 :].split(";"):
            name, eq, value = part.partition("=")
            if not is_token(name):
                raise SipParseError("bad %s name %r" % (what, name))
            if eq:
                if not is_param_value(value):
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
            raise SipParseError("expected ';' before %s at %r" % (what, text[i : i + 40]))
        i = _skip_ws(text, i + 1, n)
        start = i
        while i < n and text[i] not in " \t;=":
            i += 1
        name = text[start:i]
        if not is_token(name):
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
                if not is_param_value(value):
                    raise SipParseError("bad %s value %r" % (what, value))
            params.append((name, value))
        else:
            params.append((name, None))


def matched_params(text):
    """Parameters that a fast lane has already matched: the same pairs as parse_params(text),
    without checking them again."""
    if '"' in text or " " in text or "\t" in text:
        return parse_params(text)
    params = []
    for part in text.split(";")[1:]:
        name, eq, value = part.partition("=")
        params.append((name, value if eq else None))
    return params


def format_params(params):
    return "".join(
        ";" + name if value is None else ";" + name + "=" + value for name, value in params
    )


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
    lower = name.lower()
    for pair in params:
        if pair[0].lower() == lower:
            if not done:
                out.append((pair[0], value))
                done = True
        else:
            out.append(pair)
    if not done:
        out.append((name, value))
    return out


def split_list(value):
    """Split a header value at the commas that separate list elements (outside quotes and <>).

    Elements come back without surrounding SP/HTAB; empty elements are kept. Never raises: a
    quote that is not closed runs to the end (the element's own parser rejects it)."""
    if "," not in value:
        return [value.strip(WS)]
    parts = []
    start = 0
    depth = 0
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if c == '"':
            i += 1
            while i < n and value[i] != '"':
                i += 2 if value[i] == "\\" else 1
            i += 1
            continue
        if c == "<":
            depth += 1
        elif c == ">":
            depth -= 1
        elif c == "," and depth == 0:
            parts.append(value[start:i].strip(WS))
            start = i + 1
        i += 1
    parts.append(value[start:].strip(WS))
    return parts


_HEX = "0123456789abcdefABCDEF"


def check_escapes(text):
    """Raise if a '%' in text does not start a %HH escape."""
    i = text.find("%")
    while i >= 0:
        if i + 2 >= len(text) or text[i + 1] not in _HEX or text[i + 2] not in _HEX:
            raise SipParseError("bad escape in %r" % text[:80])
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


# -- fast-lane regex fragments (CPython only; never compiled on MicroPython) ---------------------
# Each one accepts a subset of what the hand-written parser above accepts.
TOKEN_PATTERN = "[" + TOKEN_CHARS + "]+"
QUOTED_PATTERN = '"(?:[\t !#-\\[\\]-~\x80-\U0010ffff]|\\\\[\x00-\x09\x0b\x0c\x0e-\x7f])*+"'
# name [EQUAL value], and SEMI before it; SWS is SP/HTAB (header fields are unfolded first).
PARAM_PATTERN = (
    TOKEN_PATTERN + "(?:[ \t]*+=[ \t]*+(?:[" + PARAM_VALUE_CHARS + "]++|" + QUOTED_PATTERN + "))?+"
)
GENERIC_PARAM_PATTERN = "[ \t]*+;[ \t]*+" + PARAM_PATTERN
