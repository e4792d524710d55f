"""Digest authentication, client side (RFC 3261 section 22, RFC 7616, RFC 8760).

``parse_challenge`` reads one ``WWW-Authenticate`` or ``Proxy-Authenticate`` value,
``build_authorization`` computes one ``Authorization`` or ``Proxy-Authorization`` value, and
``DigestClient`` holds what the user agent needs between requests: the nonce, nonce count and
cnonce of every protection space (header kind and realm) it has answered, so that it can answer a
challenge, give up when the server rejects the password, and send credentials preemptively.

Hash functions are injected as ``{"MD5": fn, "SHA-256": fn}``, each mapping bytes to a lowercase
hex string; randomness (the cnonce) comes from an object with ``getrandbits(bits)``.
"""


class AuthError(ValueError):
    """A challenge that is malformed, or that this client cannot answer."""


# Parameter names and token values (RFC 7230 tchar; a superset of the RFC 3261 token characters).
_TCHAR = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_WS = " \t"
_MAX_VALUE = 4096  # longer header values are refused before any work is done on them

# (algorithm as the RFCs spell it, hash function name, session variant), weakest hash first.
_ALGORITHMS = (
    ("MD5", "MD5", False),
    ("MD5-sess", "MD5", True),
    ("SHA-256", "SHA-256", False),
    ("SHA-256-sess", "SHA-256", True),
    ("SHA-512-256", "SHA-512-256", False),
    ("SHA-512-256-sess", "SHA-512-256", True),
)
_HASH_STRENGTH = ("MD5", "SHA-256", "SHA-512-256")

WWW_AUTHENTICATE = "WWW-Authenticate"
PROXY_AUTHENTICATE = "Proxy-Authenticate"
AUTHORIZATION = "Authorization"
PROXY_AUTHORIZATION = "Proxy-Authorization"


class Challenge:
    """One parsed challenge.

    scheme is as sent ("Digest"); for other schemes (Basic, Bearer...) nothing else is parsed and
    is_digest is False. For Digest: realm, nonce, opaque (or None), algorithm as sent ("MD5" when
    absent), hash_name ("MD5", "SHA-256", "SHA-512-256", or None when unknown), session (a -sess
    algorithm), qop (list of lowercase tokens, empty when absent), stale (bool), domain (list of
    URIs), and params: every parameter as (lowercase name, value) in the order sent, unknown ones
    included.
    """

    def __init__(self, scheme, params):
        self.scheme = scheme
        self.params = params
        self.is_digest = scheme.lower() == "digest"
        self.realm = self.param("realm")
        self.nonce = self.param("nonce")
        self.opaque = self.param("opaque")
        self.algorithm = self.param("algorithm") or "MD5"
        self.hash_name = None
        self.session = False
        for name, hash_name, session in _ALGORITHMS:
            if name.lower() == self.algorithm.lower():
                self.hash_name = hash_name
                self.session = session
        qop = self.param("qop") or ""
        self.qop = [q.strip(_WS).lower() for q in qop.split(",") if q.strip(_WS)]
        self.stale = (self.param("stale") or "").lower() == "true"
        self.domain = (self.param("domain") or "").split()
        if self.is_digest and (self.realm is None or self.nonce is None):
            raise AuthError("Digest challenge without realm or nonce")

    def param(self, name):
        """The value of parameter name (lowercase), or None."""
        for key, value in self.params:
            if key == name:
                return value
        return None

    def __repr__(self):
        return "Challenge(%r, %r)" % (self.scheme, self.params)


def parse_challenge(value):
    """Parse one WWW-Authenticate / Proxy-Authenticate header value into a Challenge.

    RFC 3261 forbids combining these headers into one line, so a value holds one challenge.
    Raises AuthError for anything malformed.
    """
    scheme, params = _parse_auth_value(value)
    return Challenge(scheme, params)


def _parse_auth_value(value):
    """(scheme, [(lowercase name, value)]) of a challenge or credentials value."""
    if len(value) > _MAX_VALUE:
        raise AuthError("header value longer than %d characters" % _MAX_VALUE)
    start = _skip_ws(value, 0)
    end = _token_end(value, start)
    if end == start:
        raise AuthError("expected an authentication scheme")
    scheme = value[start:end]
    if end < len(value) and value[end] not in _WS:
        raise AuthError("unexpected %r after the scheme" % value[end])
    if scheme.lower() != "digest":
        return scheme, []  # another scheme: tolerated (its syntax may be token68), never answered
    return scheme, _parse_params(value, end)


def _skip_ws(text, i):
    n = len(text)
    while i < n and text[i] in _WS:
        i += 1
    return i


def _token_end(text, i):
    n = len(text)
    while i < n and text[i] in _TCHAR:
        i += 1
    return i


def _parse_params(text, i):
    """auth-param *( "," auth-param ) with optional whitespace; empty list elements are skipped."""
    params = []
    n = len(text)
    while True:
        i = _skip_ws(text, i)
        if i >= n:
            return params
        if text[i] == ",":
            i += 1
            continue
        end = _token_end(text, i)
        if end == i:
            raise AuthError("expected a parameter name, found %r" % text[i])
        name = text[i:end].lower()
        i = _skip_ws(text, end)
        if i >= n or text[i] != "=":
            raise AuthError("expected '=' after parameter %r" % name)
        i = _skip_ws(text, i + 1)
        if i < n and text[i] == '"':
            param_value, i = _parse_quoted(text, i)
        else:
            end = _token_end(text, i)
            if end == i:
                raise AuthError("parameter %r has no value" % name)
            param_value = text[i:end]
            i = end
        for known, _ in params:
            if known == name:
                raise AuthError("parameter %r given twice" % name)
        params.append((name, param_value))
        i = _skip_ws(text, i)
        if i < n and text[i] != ",":
            raise AuthError("expected ',' after parameter %r" % name)


def _parse_quoted(text, i):
    """The unescaped content of the quoted-string starting at text[i], and the index after it."""
    parts = []
    n = len(text)
    i += 1
    start = i
    while i < n:
        c = text[i]
        if c == '"':
            parts.append(text[start:i])
            return "".join(parts), i + 1
        if c == "\\":
            if i + 1 >= n or _is_control(text[i + 1]):
                raise AuthError("bad escape in quoted string")
            parts.append(text[start:i])
            parts.append(text[i + 1])
            i += 2
            start = i
            continue
        if _is_control(c):
            raise AuthError("control character in quoted string")
        i += 1
    raise AuthError("unterminated quoted string")


def _is_control(c):
    return (c < " " and c != "\t") or c == "\x7f"


def _quote(text):
    """text as a quoted-string; control characters are our own caller's mistake."""
    for c in text:
        if _is_control(c):
            raise ValueError("control character in %r" % text)
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _hash(fn, *parts):
    """fn over the parts joined with ':' (strings are UTF-8 encoded)."""
    data = b":".join([p if isinstance(p, bytes) else p.encode("utf-8") for p in parts])
    return fn(data)


def digest_response(
    hash_fn, session, username, password, realm, nonce, method, uri, qop, nc, cnonce, body=b""
):
    """The request-digest (RFC 7616 section 3.4.1; RFC 2069 form when qop is None).

    nc is the nonce count as 8 hex digits; qop is None, "auth" or "auth-int" (which hashes body).
    """
    ha1 = _hash(hash_fn, username, realm, password)
    if session:
        ha1 = _hash(hash_fn, ha1, nonce, cnonce)
    if qop == "auth-int":
        ha2 = _hash(hash_fn, method, uri, hash_fn(body))
    else:
        ha2 = _hash(hash_fn, method, uri)
    if qop is None:
        return _hash(hash_fn, ha1, nonce, ha2)
    return _hash(hash_fn, ha1, nonce, nc, cnonce, qop, ha2)


def choose_qop(challenge):
    """The qop we answer with: "auth" when offered, else "auth-int", None when none was offered.

    Raises AuthError when only unknown qop values are offered.
    """
    if not challenge.qop:
        return None
    for qop in ("auth", "auth-int"):
        if qop in challenge.qop:
            return qop
    raise AuthError("no supported qop in %r" % challenge.qop)


def build_authorization(challenge, username, password, method, uri, hashes, cnonce, nc, body=b""):
    """The Authorization / Proxy-Authorization value answering challenge.

    cnonce is sent when the challenge has qop or a -sess algorithm; nc (an int, the number of
    requests made with this nonce, from 1) only with qop. body is hashed for qop=auth-int.
    Raises AuthError when the challenge cannot be answered (not Digest, unknown algorithm, hash
    not injected, unknown qop).
    """
    if not challenge.is_digest:
        raise AuthError("cannot answer a %s challenge" % challenge.scheme)
    hash_fn = hashes.get(challenge.hash_name) if challenge.hash_name else None
    if hash_fn is None:
        raise AuthError("unsupported algorithm %r" % challenge.algorithm)
    qop = choose_qop(challenge)
    nc_text = "%08x" % nc
    response = digest_response(
        hash_fn,
        challenge.session,
        username,
        password,
        challenge.realm,
        challenge.nonce,
        method,
        uri,
        qop,
        nc_text,
        cnonce,
        body,
    )
    fields = [
        "username=" + _quote(username),
        "realm=" + _quote(challenge.realm),
        "nonce=" + _quote(challenge.nonce),
        "uri=" + _quote(uri),
        "response=" + _quote(response),
        "algorithm=" + challenge.algorithm,  # a token: it matched one of _ALGORITHMS
    ]
    if qop is not None or challenge.session:
        fields.append("cnonce=" + _quote(cnonce))
    if challenge.opaque is not None:
        fields.append("opaque=" + _quote(challenge.opaque))
    if qop is not None:
        fields.append("qop=" + qop)
        fields.append("nc=" + nc_text)
    return "Digest " + ", ".join(fields)


class _Space:
    """What we know about one protection space: the challenge we answered and its nonce's use."""

    def __init__(self, proxy, challenge, cnonce, after_stale):
        self.proxy = proxy
        self.challenge = challenge
        self.cnonce = cnonce
        self.uses = 0  # requests sent with challenge.nonce (the nc of the last one)
        self.after_stale = after_stale  # this nonce came from a stale=true challenge

    def matches(self, proxy, realm):
        return self.proxy == proxy and self.challenge.realm == realm


class DigestClient:
    """Answers digest challenges for one account (username and password).

    ``respond()`` is called with the headers of a 401/407 response and the headers of the request
    it rejected; it returns the credentials headers for the retried request, or None to give up.
    ``authorize()`` gives preemptive credentials for a new request (for example a REGISTER refresh),
    reusing each known nonce with the next nonce count.
    """

    MAX_SPACES = 4

    def __init__(self, username, password, hashes, rng):
        _quote(username)  # raises ValueError now rather than on the first challenge
        self.username = username
        self.password = password
        self.hashes = hashes
        self.rng = rng
        self._spaces = []  # _Space, oldest first

    def respond(self, method, uri, challenges, sent, body=b""):
        """Credentials for retrying a request that got 401 or 407, or None to give up.

        challenges: the response's headers as (name, value); WWW-Authenticate and
        Proxy-Authenticate values are read, other headers ignored, malformed challenges skipped.
        sent: the rejected request's headers as (name, value); its Authorization and
        Proxy-Authorization values tell which credentials the server has just refused.

        Per protection space (header kind and realm) the strongest supported algorithm wins
        (SHA-512-256, then SHA-256, then MD5; the first one among equals), as RFC 8760 section 2.4
        allows local policy to choose. A challenge to a request that carried credentials for its
        realm is answered again only when those credentials could not have been judged on the
        password: the server says stale=true with a new nonce, or they reused an older nonce
        preemptively. Otherwise the password was refused: give up, forget that realm and return
        None. The result also keeps credentials (with the next nonce count) for realms of the
        rejected request that were not challenged again (RFC 3261 section 22.3).
        """
        offered = self._select(challenges)
        if not offered:
            return None
        refused = _credentials(sent)
        answered = []
        for proxy, challenge in offered:
            space = self._find(proxy, challenge.realm)
            used = None
            for r_proxy, r_realm, r_nonce, r_nc in refused:
                if r_proxy == proxy and r_realm == challenge.realm:
                    used = (r_nonce, r_nc)
            if used is not None and not self._may_retry(space, challenge, used[0], used[1]):
                self._forget(proxy, challenge.realm)
                return None
            cnonce = "%08x%08x" % (self.rng.getrandbits(32), self.rng.getrandbits(32))
            space = _Space(proxy, challenge, cnonce, challenge.stale and used is not None)
            self._remember(space)
            answered.append(space)
        headers = [self._header(space, method, uri, body) for space in answered]
        for proxy, realm, _nonce, _nc in refused:
            space = self._find(proxy, realm)
            if space is not None and space not in answered and space.uses < 0xFFFFFFFF:
                answered.append(space)
                headers.append(self._header(space, method, uri, body))
        return headers

    def authorize(self, method, uri, body=b""):
        """Preemptive credentials for a new request: one header per known realm, or []."""
        headers = []
        for space in self._spaces[:]:
            if space.uses >= 0xFFFFFFFF:  # nonce count exhausted: wait for a fresh challenge
                self._spaces.remove(space)
                continue
            headers.append(self._header(space, method, uri, body))
        return headers

    def forget(self):
        """Drop every cached nonce (new account settings, or after unregistering)."""
        self._spaces = []

    def _may_retry(self, space, challenge, nonce, nc):
        """Whether to answer a challenge to a request whose credentials used nonce (and nc)."""
        if challenge.nonce == nonce:
            return False  # the server judged our digest for this very nonce and refused it
        ours = space is not None and space.challenge.nonce == nonce
        if nc is not None:
            first_use = nc == 1
        else:
            first_use = ours and space.uses == 1
        if not first_use:
            return True  # a reused nonce (preemptive credentials) may simply have expired
        if challenge.stale:
            # The digest was right but the nonce already old: once, not for a nonce that itself
            # came from a stale challenge (a server saying stale=true forever).
            return not (ours and space.after_stale)
        return False  # a fresh answer refused: the password is wrong

    def _select(self, challenges):
        """[(proxy, Challenge)] we can answer, one per protection space, in the order first seen."""
        best = []  # [proxy, challenge, strength]
        for name, value in challenges:
            lname = name.lower()
            if lname != "www-authenticate" and lname != "proxy-authenticate":
                continue
            proxy = lname == "proxy-authenticate"
            try:
                challenge = parse_challenge(value)
                if not challenge.is_digest or self.hashes.get(challenge.hash_name) is None:
                    continue
                choose_qop(challenge)
            except AuthError:
                continue
            strength = _HASH_STRENGTH.index(challenge.hash_name)
            for item in best:
                if item[0] == proxy and item[1].realm == challenge.realm:
                    if strength > item[2]:
                        item[1] = challenge
                        item[2] = strength
                    break
            else:
                best.append([proxy, challenge, strength])
        if len(best) > self.MAX_SPACES:
            return []
        return [(item[0], item[1]) for item in best]

    def _header(self, space, method, uri, body):
        space.uses += 1
        value = build_authorization(
            space.challenge,
            self.username,
            self.password,
            method,
            uri,
            self.hashes,
            space.cnonce,
            space.uses,
            body,
        )
        return (PROXY_AUTHORIZATION if space.proxy else AUTHORIZATION, value)

    def _find(self, proxy, realm):
        for space in self._spaces:
            if space.matches(proxy, realm):
                return space
        return None

    def _remember(self, space):
        self._forget(space.proxy, space.challenge.realm)
        self._spaces.append(space)
        if len(self._spaces) > self.MAX_SPACES:
            self._spaces.pop(0)

    def _forget(self, proxy, realm):
        self._spaces = [s for s in self._spaces if not s.matches(proxy, realm)]


def _credentials(headers):
    """[(proxy, realm, nonce, nc or None)] of the Digest credentials among headers."""
    found = []
    for name, value in headers:
        lname = name.lower()
        if lname != "authorization" and lname != "proxy-authorization":
            continue
        try:
            scheme, params = _parse_auth_value(value)
        except AuthError:
            continue
        fields = {}
        for key, param_value in params:
            fields[key] = param_value
        realm = fields.get("realm")
        nonce = fields.get("nonce")
        if scheme.lower() != "digest" or realm is None or nonce is None:
            continue
        nc_text = fields.get("nc", "")
        nc = None
        if len(nc_text) == 8 and all(c in "0123456789abcdefABCDEF" for c in nc_text):
            nc = int(nc_text, 16)
        found.append((lname == "proxy-authorization", realm, nonce, nc))
    return found
