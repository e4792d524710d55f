"""URIs (sip:, sips:, tel: and others) and name-addr / addr-spec values (RFC 3261 section 19, 20.10,
25; RFC 3966 for tel:; RFC 5954 for IPv6 references).

Parsed parts keep the text as written (escapes included), so `str(parse_uri(s)) == s` for any
well-formed s (a port written with leading zeros excepted); `unescape()` gives decoded values
where the grammar allows escapes.
"""

import re

from firmware.core.sip.syntax import (
    FAST_REGEX,
    GENERIC_PARAM_PATTERN,
    QUOTED_PATTERN,
    TOKEN_PATTERN,
    WS,
    SipParseError,
    charset,
    check_escapes,
    find_param,
    format_params,
    is_digits,
    is_token,
    is_uri_chars,
    matched_params,
    param_value,
    parse_params,
    parse_quoted,
    quote,
    set_param,
    unescape,
)

_is_scheme_rest = charset("A-Za-z0-9+.-")
# user = 1*( unreserved / escaped / user-unreserved ); password = *( unreserved / escaped /
# "&" / "=" / "+" / "$" / "," ).
_is_user = charset("A-Za-z0-9_.!~*'()&=+$,;?/%-")
_is_password = charset("A-Za-z0-9_.!~*'()&=+$,%-")
_is_host_chars = charset("A-Za-z0-9.-")
_is_dotted_digits = charset("0-9.")
_is_hex = charset("0-9A-Fa-f")
# paramchar = param-unreserved / unreserved / escaped
_is_paramchars = charset("A-Za-z0-9_.!~*'()[\\]/:&+$%-")
# hname = 1*( hnv-unreserved / unreserved / escaped ); hvalue = *( same )
_is_hchars = charset("A-Za-z0-9_.!~*'()[\\]/?:+$%-")
_is_tel_pname = charset("A-Za-z0-9-")
_ALPHA = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


class Uri:
    """A URI. For sip/sips: user, password, host, port, params, headers. For tel: and any other
    scheme: `opaque` holds the scheme-specific part (tel: keeps its ;params in `params`)."""

    __slots__ = ("headers", "host", "opaque", "params", "password", "port", "scheme", "user")

    def __init__(
        self,
        scheme="sip",
        user=None,
        host=None,
        port=None,
        params=None,
        headers=None,
        password=None,
        opaque=None,
    ):
        self.scheme = scheme
        self.user = user
        self.password = password
        self.host = host
        self.port = port
        self.params = params if params is not None else []
        self.headers = headers
        self.opaque = opaque

    @property
    def is_sip(self):
        """True for sip: and sips: URIs."""
        return self.opaque is None

    @property
    def secure(self):
        return self.scheme.lower() == "sips"

    def param(self, name, default=None):
        return param_value(self.params, name, default)

    def has_param(self, name):
        return find_param(self.params, name) is not None

    def with_param(self, name, value=None):
        return Uri(
            self.scheme,
            self.user,
            self.host,
            self.port,
            set_param(self.params, name, value),
            self.headers,
            self.password,
            self.opaque,
        )

    def without_params(self):
        return Uri(
            self.scheme, self.user, self.host, self.port, [], None, self.password, self.opaque
        )

    @property
    def transport(self):
        value = self.param("transport")
        return value.lower() if value else None

    @property
    def user_unescaped(self):
        return unescape(self.user) if self.user is not None else None

    def host_port(self, default_port=None):
        """(host, port) to send to; host without IPv6 brackets."""
        if default_port is None:
            default_port = 5061 if self.secure else 5060
        return (self.host, self.port if self.port is not None else default_port)

    def aor(self):
        """The address-of-record form: scheme:user@host, lower-cased scheme and host."""
        if not self.is_sip:
            return self.scheme.lower() + ":" + self.opaque
        user = self.user + "@" if self.user is not None else ""
        return self.scheme.lower() + ":" + user + self.host.lower()

    def __str__(self):
        if self.opaque is not None:
            return self.scheme + ":" + self.opaque + format_params(self.params)
        out = self.scheme + ":"
        if self.user is not None:
            out += self.user
            if self.password is not None:
                out += ":" + self.password
            out += "@"
        out += "[" + self.host + "]" if ":" in self.host else self.host
        if self.port is not None:
            out += ":" + str(self.port)
        out += format_params(self.params)
        if self.headers is not None:
            out += "?" + self.headers
        return out

    def __repr__(self):
        return "Uri(%r)" % str(self)


def parse_port(text):
    if not is_digits(text) or len(text) > 5:
        raise SipParseError("bad port %r" % text[:20])
    port = int(text)
    if not 0 < port < 65536:
        raise SipParseError("port out of range: %s" % text)
    return port


def is_ipv4(text):
    """IPv4address: four dotted decimal octets of 1 to 3 digits, each at most 255."""
    if not _is_dotted_digits(text):
        return False
    parts = text.split(".")
    if len(parts) != 4:
        return False
    return all(0 < len(part) <= 3 and int(part) <= 255 for part in parts)


def is_ipv6(text):
    """IPv6address (RFC 5954, from RFC 3986): hex groups of 1 to 4 digits, at most one "::",
    eight groups in all (an embedded IPv4 address at the end counts as two)."""
    if "::" in text:
        head, _, tail = text.partition("::")
        if "::" in tail:
            return False
        groups = (head.split(":") if head else []) + (tail.split(":") if tail else [])
        most = 7
    else:
        groups = text.split(":")
        most = 8
    count = len(groups)
    if groups and "." in groups[-1]:
        if not is_ipv4(groups[-1]):
            return False
        groups = groups[:-1]
        count += 1
    for group in groups:
        if not _is_hex(group) or len(group) > 4:
            return False
    return count == 8 if most == 8 else count <= 7


def is_hostname(text):
    """hostname = *( domainlabel "." ) toplabel [ "." ]; labels are alphanum with inner '-', the
    top label starts with a letter."""
    if not _is_host_chars(text) or text[0] == "." or text[0] == "-":
        return False
    if text[-1] == ".":
        text = text[:-1]
    if not text or text[-1] == "." or text[-1] == "-":
        return False
    if ".." in text or ".-" in text or "-." in text:
        return False
    return text[text.rfind(".") + 1] in _ALPHA


def parse_host_port(text):
    """(host, port or None) from host[:port]; IPv6 references lose their brackets."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or not is_ipv6(text[1:end]):
            raise SipParseError("bad IPv6 reference %r" % text[:80])
        host = text[1:end]
        rest = text[end + 1 :]
        if not rest:
            return host, None
        if rest[0] != ":":
            raise SipParseError("junk after IPv6 reference %r" % text[:80])
        return host, parse_port(rest[1:])
    host, colon, port = text.partition(":")
    if not (is_ipv4(host) or is_hostname(host)):
        raise SipParseError("bad host %r" % text[:80])
    return host, parse_port(port) if colon else None


def _parse_uri_params(text):
    """`name[=value]` parts of uri-parameters (the text after the first ';')."""
    params = []
    for part in text.split(";"):
        name, eq, value = part.partition("=")
        if not _is_paramchars(name) or (eq and not _is_paramchars(value)):
            raise SipParseError("bad URI parameter %r" % part[:80])
        check_escapes(part)
        params.append((name, value if eq else None))
    return params


def _check_uri_headers(text):
    """headers = header *( "&" header ); header = hname "=" hvalue."""
    for header in text.split("&"):
        name, eq, value = header.partition("=")
        if not eq or not _is_hchars(name) or (value and not _is_hchars(value)):
            raise SipParseError("bad URI header %r" % header[:80])
        check_escapes(header)


def _is_phone_digits(text, digits):
    """At least one of `digits`, and otherwise only them and visual separators (RFC 3966)."""
    seen = False
    for c in text:
        if c in digits:
            seen = True
        elif c not in "-.()":
            return False
    return seen


def _is_global_number(text):
    """global-number-digits = "+" *phonedigit DIGIT *phonedigit."""
    return text[:1] == "+" and _is_phone_digits(text[1:], "0123456789")


def _is_local_number(text):
    """local-number-digits = *phonedigit-hex (HEXDIG / "*" / "#") *phonedigit-hex."""
    return _is_phone_digits(text, "0123456789abcdefABCDEF*#")


def _parse_tel(scheme, rest):
    """tel: URI (RFC 3966): a global number, or a local number with a phone-context."""
    number, semi, param_text = rest.partition(";")
    params = []
    if semi:
        for part in param_text.split(";"):
            name, eq, value = part.partition("=")
            if not _is_tel_pname(name) or (eq and not _is_paramchars(value)):
                raise SipParseError("bad tel: parameter %r" % part[:80])
            check_escapes(part)
            params.append((name, value if eq else None))
    context = param_value(params, "phone-context")
    if context is not None and not (_is_global_number(context) or is_hostname(context)):
        raise SipParseError("bad phone-context %r" % context[:80])
    ext = param_value(params, "ext")
    if ext is not None and not _is_phone_digits(ext, "0123456789"):
        raise SipParseError("bad tel: extension %r" % ext[:80])
    if _is_global_number(number):
        return Uri(scheme, opaque=number, params=params)
    if not _is_local_number(number):
        raise SipParseError("bad telephone number %r" % number[:80])
    if context is None:
        raise SipParseError("local tel: number without phone-context")
    return Uri(scheme, opaque=number, params=params)


def _split_uri_params(text):
    """`;name[=value]...` that the fast lane has already checked -> pairs."""
    params = []
    if text:
        for part in text[1:].split(";"):
            name, eq, value = part.partition("=")
            params.append((name, value if eq else None))
    return params


def parse_uri(text):
    """Parse a URI; raise SipParseError if it is malformed."""
    if FAST_REGEX:
        match = _uri_parts(text)
        if match is not None:
            scheme, user, host, port, params = match.groups()
            return Uri(scheme, user, host, int(port) if port else None, _split_uri_params(params))
    return _parse_uri(text)


def _parse_uri(text):
    """The portable URI parser (the definition; the fast lane only takes shortcuts)."""
    scheme, colon, rest = text.partition(":")
    lower = scheme.lower()
    if lower != "sip" and lower != "sips":
        if not colon or not scheme:
            raise SipParseError("URI without a scheme: %r" % text[:80])
        if scheme[0] not in _ALPHA or (len(scheme) > 1 and not _is_scheme_rest(scheme[1:])):
            raise SipParseError("bad URI scheme %r" % scheme[:80])
    if not is_uri_chars(rest):
        raise SipParseError("bad characters in URI %r" % text[:80])
    if lower == "tel":
        return _parse_tel(scheme, rest)
    if lower != "sip" and lower != "sips":
        return Uri(scheme, opaque=rest)

    # The last '@' ends the userinfo: '@' may appear in neither parameters nor headers, while
    # the user part may hold '?' and ';' (user-unreserved).
    at = rest.rfind("@")
    user = password = None
    if at >= 0:
        userinfo = rest[:at]
        rest = rest[at + 1 :]
        user, pcolon, pw = userinfo.partition(":")
        if not _is_user(user):
            raise SipParseError("bad URI user %r" % user[:80])
        if "%" in user:
            check_escapes(user)
        if pcolon:
            if pw and not _is_password(pw):
                raise SipParseError("bad URI password")
            check_escapes(pw)
            password = pw
    before, qmark, headers = rest.partition("?")
    if qmark:
        _check_uri_headers(headers)
    hostport, semi, params = before.partition(";")
    host, port = parse_host_port(hostport)
    return Uri(
        scheme,
        user,
        host,
        port,
        _parse_uri_params(params) if semi else [],
        headers if qmark else None,
        password,
    )


class NameAddr:
    """A From/To/Contact/Route value: optional display name, a URI, and header parameters."""

    __slots__ = ("display_name", "params", "uri")

    def __init__(self, uri, display_name=None, params=None):
        self.uri = uri
        self.display_name = display_name
        self.params = params if params is not None else []

    @property
    def tag(self):
        return param_value(self.params, "tag")

    def param(self, name, default=None):
        return param_value(self.params, name, default)

    def with_param(self, name, value=None):
        return NameAddr(self.uri, self.display_name, set_param(self.params, name, value))

    def __str__(self):
        out = "<" + str(self.uri) + ">" + format_params(self.params)
        name = self.display_name
        if name is not None:
            if not name or not all(is_token(word) for word in name.split(" ")):
                name = quote(name)
            out = name + " " + out
        return out

    def __repr__(self):
        return "NameAddr(%r)" % str(self)


def parse_name_addr(text, brackets=False):
    """Parse `[display-name] <URI> *(;param)` or `URI *(;param)` (one list element).

    With brackets=True only the name-addr form (with <>) is valid (Route, Record-Route)."""
    if FAST_REGEX:
        text = text.strip(WS)
        match = _name_addr_parts(text)
        if match is not None:
            words, quoted, inner, params = match.groups()
            if words is not None:
                display = " ".join(w for w in words.replace("\t", " ").split(" ") if w)
            else:
                display = parse_quoted(quoted, 0)[0] if quoted is not None else None
            return NameAddr(parse_uri(inner), display, matched_params(params))
        match = None if brackets else _addr_spec_parts(text)
        if match is not None:
            uri, params = match.groups()
            return NameAddr(parse_uri(uri), None, matched_params(params))
    return _parse_name_addr(text, brackets)


def _parse_name_addr(text, brackets):
    """The portable name-addr / addr-spec parser."""
    text = text.strip(WS)
    if not text:
        raise SipParseError("empty address")
    display = None
    n = len(text)
    if text[0] == '"':
        display, i = parse_quoted(text, 0)
        while i < n and (text[i] == " " or text[i] == "\t"):
            i += 1
        if i >= n or text[i] != "<":
            raise SipParseError("quoted display name without <URI>")
        lt = i
    else:
        # name-addr if a '<' comes before any ';' or '"' (those start addr-spec parameters).
        lt = -1
        for i in range(n):
            c = text[i]
            if c == "<":
                lt = i
                break
            if c == ";" or c == '"':
                break
        if lt >= 0:
            words = [w for w in text[:lt].replace("\t", " ").split(" ") if w]
            for word in words:
                if not is_token(word):
                    raise SipParseError("bad display name %r (quote it)" % text[:lt][:80])
            display = " ".join(words) if words else None
    if lt >= 0:
        gt = text.find(">", lt)
        if gt < 0:
            raise SipParseError("missing '>' in %r" % text[:80])
        inner = text[lt + 1 : gt]
        if " " in inner or "\t" in inner:
            raise SipParseError("whitespace inside <URI> %r" % inner[:80])
        uri = parse_uri(inner)
        params = parse_params(text, gt + 1, "header parameter")
        return NameAddr(uri, display, params)
    if brackets:
        raise SipParseError("address must be in <>: %r" % text[:80])
    # addr-spec: the URI ends at the first ';' (what follows are header parameters).
    semi = text.find(";")
    uri_text = (text if semi < 0 else text[:semi]).rstrip(WS)
    if "?" in uri_text:
        raise SipParseError("URI with headers must be in <>: %r" % uri_text[:80])
    uri = parse_uri(uri_text)
    params = parse_params(text, semi, "header parameter") if semi >= 0 else []
    return NameAddr(uri, None, params)


# -- fast lanes (CPython) --------------------------------------------------------------------
# Common shapes only: sip/sips URIs without password, IPv6 or URI headers; ports below 60000.
# Everything else is left to the portable parsers above.
_ESCAPED = "%[0-9A-Fa-f][0-9A-Fa-f]"
_USER = "(?:[A-Za-z0-9_.!~*'()&=+$,;?/-]|" + _ESCAPED + ")++"
_USER_ADDR_SPEC = "(?:[A-Za-z0-9_.!~*'()&=+$/-]|" + _ESCAPED + ")++"
_OCTET = "(?:25[0-5]|2[0-4][0-9]|[01]?[0-9]?[0-9])"
_LABEL = "[A-Za-z0-9]++(?:-++[A-Za-z0-9]++)*+"
_TOPLABEL = "[A-Za-z][A-Za-z0-9]*+(?:-++[A-Za-z0-9]++)*+"
HOST_PATTERN = (
    "(?:" + _OCTET + "(?:\\." + _OCTET + "){3}|(?:" + _LABEL + "\\.)*" + _TOPLABEL + "\\.?)"
)
PORT_PATTERN = "(?:[1-5][0-9]{4}|[1-9][0-9]{0,3})"
_PARAMCHARS = "(?:[A-Za-z0-9_.!~*'()\\[\\]/:&+$-]|" + _ESCAPED + ")++"
_URI_PARAMS = "(?:;" + _PARAMCHARS + "(?:=" + _PARAMCHARS + ")?)*+"
_SCHEME = "[Ss][Ii][Pp][Ss]?"
_HOSTPORT = HOST_PATTERN + "(?::" + PORT_PATTERN + ")?+"
# A sip: or sips: URI with parameters (Request-URI, inside <>).
SIP_URI_PATTERN = _SCHEME + ":(?:" + _USER + "@)?" + _HOSTPORT + _URI_PARAMS
# addr-spec form (From, To, Contact without <>): no ';', '?' or ',' in the URI.
_ADDR_SPEC_URI = _SCHEME + ":(?:" + _USER_ADDR_SPEC + "@)?" + _HOSTPORT
_PARAMS = "(?:" + GENERIC_PARAM_PATTERN + ")*+"
_WORDS = TOKEN_PATTERN + "(?:[ \t]++" + TOKEN_PATTERN + ")*+"
_DISPLAY = "(?:" + _WORDS + "[ \t]*+|" + QUOTED_PATTERN + "[ \t]*+)?+"
NAME_ADDR_PATTERN = _DISPLAY + "<" + SIP_URI_PATTERN + ">" + _PARAMS
ADDRESS_PATTERN = "(?:" + NAME_ADDR_PATTERN + "|" + _ADDR_SPEC_URI + _PARAMS + ")"

if FAST_REGEX:
    # Whole header values (validation), then the parts of one value (building the views).
    fast_sip_uri = re.compile(SIP_URI_PATTERN).fullmatch
    fast_address = re.compile(ADDRESS_PATTERN).fullmatch
    fast_address_list = re.compile(
        ADDRESS_PATTERN + "(?:[ \t]*+,[ \t]*+" + ADDRESS_PATTERN + ")*+"
    ).fullmatch
    fast_name_addr_list = re.compile(
        NAME_ADDR_PATTERN + "(?:[ \t]*+,[ \t]*+" + NAME_ADDR_PATTERN + ")*+"
    ).fullmatch
    _uri_parts = re.compile(
        "("
        + _SCHEME
        + "):(?:("
        + _USER
        + ")@)?("
        + HOST_PATTERN
        + ")(?::("
        + PORT_PATTERN
        + "))?+("
        + _URI_PARAMS
        + ")"
    ).fullmatch
    _name_addr_parts = re.compile(
        "(?:("
        + _WORDS
        + ")[ \t]*+|("
        + QUOTED_PATTERN
        + ")[ \t]*+)?+<([^<> \t]*+)>("
        + _PARAMS
        + ")"
    ).fullmatch
    _addr_spec_parts = re.compile("(" + _ADDR_SPEC_URI + ")(" + _PARAMS + ")").fullmatch
else:
    fast_sip_uri = fast_address = fast_address_list = fast_name_addr_list = None
