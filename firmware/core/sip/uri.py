"""URIs (sip:, sips:, tel: and others) and name-addr / addr-spec values (RFC 3261 section 19, 20.10,
25; RFC 3966 for tel:).

Parsed parts keep the text as written (escapes included), so `str(parse_uri(s)) == s` for any
well-formed s; `unescape()` gives decoded values where the grammar allows escapes.
"""

import re

from firmware.core.sip.syntax import (
    URI_CHARS_RE,
    SipParseError,
    check_escapes,
    find_param,
    format_params,
    param_value,
    parse_params,
    parse_quoted,
    quote,
    set_param,
    unescape,
)

_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*$")
# user = 1*( unreserved / escaped / user-unreserved ); password allows the same plus ":" not.
_USER_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,;?/%]+$")
_PASSWORD_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()&=+$,%]*$")
_HOST_RE = re.compile(r"[A-Za-z0-9.-]+$")
_IPV6_RE = re.compile(r"[0-9A-Fa-f:.]+$")
_URI_PARAM_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()\[\]/:&+$%]+$")
_URI_HEADERS_RE = re.compile(r"[A-Za-z0-9\-_.!~*'()\[\]/?:+$%&=]+$")
_DISPLAY_WORD_RE = re.compile(r"[A-Za-z0-9.!%*_+`'~-]+$")


class Uri:
    """A URI. For sip/sips: user, password, host, port, params, headers. For tel: and any other
    scheme: `opaque` holds the scheme-specific part (tel: keeps its ;params in `params`)."""

    __slots__ = ("scheme", "user", "password", "host", "port", "params", "headers", "opaque")

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
        return Uri(self.scheme, self.user, self.host, self.port, [], None, self.password, self.opaque)

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
    if not text or not text.isdigit() or len(text) > 5:
        raise SipParseError("bad port %r" % text)
    port = int(text)
    if not 0 < port < 65536:
        raise SipParseError("port out of range: %s" % text)
    return port


def parse_host_port(text):
    """(host, port or None) from host[:port]; IPv6 references lose their brackets."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0 or not _IPV6_RE.match(text[1:end]) or ":" not in text[1:end]:
            raise SipParseError("bad IPv6 reference %r" % text)
        host = text[1:end]
        rest = text[end + 1 :]
        if not rest:
            return host, None
        if rest[0] != ":":
            raise SipParseError("junk after IPv6 reference %r" % text)
        return host, parse_port(rest[1:])
    host, colon, port = text.partition(":")
    if not _HOST_RE.match(host) or host[0] in ".-" or host[-1] == "-":
        raise SipParseError("bad host %r" % text)
    return host, parse_port(port) if colon else None


def _parse_uri_params(text):
    params = []
    for part in text.split(";"):
        name, eq, value = part.partition("=")
        if not _URI_PARAM_RE.match(name) or (eq and not _URI_PARAM_RE.match(value)):
            raise SipParseError("bad URI parameter %r" % part)
        check_escapes(part)
        params.append((name, value if eq else None))
    return params


def parse_uri(text):
    """Parse a URI; raise SipParseError if it is malformed."""
    colon = text.find(":")
    if colon <= 0:
        raise SipParseError("URI without a scheme: %r" % text)
    scheme = text[:colon]
    if not _SCHEME_RE.match(scheme):
        raise SipParseError("bad URI scheme %r" % scheme)
    rest = text[colon + 1 :]
    if not rest or not URI_CHARS_RE.match(rest):
        raise SipParseError("bad characters in URI %r" % text)
    lower = scheme.lower()
    if lower == "tel":
        number, semi, params = rest.partition(";")
        if not number:
            raise SipParseError("empty tel: URI")
        return Uri(scheme, opaque=number, params=_parse_uri_params(params) if semi else [])
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
        if not _USER_RE.match(user):
            raise SipParseError("bad URI user %r" % user)
        check_escapes(user)
        if pcolon:
            if not _PASSWORD_RE.match(pw):
                raise SipParseError("bad URI password")
            password = pw
    before, qmark, headers = rest.partition("?")
    if qmark and (not headers or not _URI_HEADERS_RE.match(headers)):
        raise SipParseError("bad URI headers %r" % headers)
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

    __slots__ = ("display_name", "uri", "params")

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
        if self.display_name:
            name = self.display_name
            words = name.split(" ")
            if not all(_DISPLAY_WORD_RE.match(w) for w in words):
                name = quote(name)
            out = name + " " + out
        return out

    def __repr__(self):
        return "NameAddr(%r)" % str(self)


def parse_name_addr(text):
    """Parse `[display-name] <URI> *(;param)` or `URI *(;param)` (one list element)."""
    text = text.strip()
    if not text:
        raise SipParseError("empty address")
    display = None
    if text[0] == '"':
        display, i = parse_quoted(text, 0)
        while i < len(text) and text[i] in " \t":
            i += 1
        if i >= len(text) or text[i] != "<":
            raise SipParseError("quoted display name without <URI>")
        lt = i
    else:
        lt = text.find("<")
        if lt >= 0:
            words = text[:lt].split()
            for word in words:
                if not _DISPLAY_WORD_RE.match(word):
                    raise SipParseError("bad display name %r (quote it)" % text[:lt].strip())
            display = " ".join(words) if words else None
    if lt >= 0:
        gt = text.find(">", lt)
        if gt < 0:
            raise SipParseError("missing '>' in %r" % text)
        inner = text[lt + 1 : gt]
        if inner != inner.strip() or " " in inner or "\t" in inner:
            raise SipParseError("whitespace inside <URI> %r" % inner)
        uri = parse_uri(inner)
        params = parse_params(text, gt + 1, "header parameter")
        return NameAddr(uri, display, params)
    # addr-spec: the URI ends at the first ';' (what follows are header parameters).
    semi = text.find(";")
    uri_text = (text if semi < 0 else text[:semi]).rstrip()
    if "?" in uri_text:
        raise SipParseError("URI with headers must be in <>: %r" % uri_text)
    uri = parse_uri(uri_text)
    params = parse_params(text, semi, "header parameter") if semi >= 0 else []
    return NameAddr(uri, None, params)
