"""Property tests for digest auth (hypothesis) and a cross-check against a hashlib reference."""

import hashlib
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.core.md5 import md5_hex
from firmware.core.sip.auth import (
    AuthError,
    DigestClient,
    build_authorization,
    digest_response,
    parse_challenge,
)
from tests.core.support import FakeRandom

HASHES = {"MD5": md5_hex, "SHA-256": lambda data: hashlib.sha256(data).hexdigest()}

TCHAR = "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
tokens = st.text(alphabet=TCHAR, min_size=1, max_size=12)
# qdtext and quoted-pairs: any character but controls (tab is allowed).
quoted_text = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x7f"),
    max_size=20,
).filter(lambda s: all(c >= " " or c == "\t" for c in s))
challenge_alphabet = st.sampled_from(
    [*'Digest realm="r", nonce=n qop=auth,\\ \t\r\n\x00é', "algorithm=SHA-256", "stale"]
)


def quote(text):
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=80), st.lists(challenge_alphabet, max_size=30).map("".join)))
def test_parse_challenge_raises_only_auth_error(value):
    try:
        challenge = parse_challenge(value)
    except AuthError:
        return
    if challenge.is_digest:
        assert challenge.realm is not None and challenge.nonce is not None


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(tokens, st.one_of(tokens, quoted_text), st.booleans()), max_size=6),
    quoted_text,
    quoted_text,
    st.sampled_from([",", ", ", " ,", " , ", ",\t"]),
)
def test_parameters_survive_quoting(extra, realm, nonce, comma):
    params = [("realm", realm, True), ("nonce", nonce, True)]
    seen = {"realm", "nonce"}
    for name, value, quoted in extra:
        if name.lower() in seen or (not quoted and not (value and all(c in TCHAR for c in value))):
            continue
        seen.add(name.lower())
        params.append((name, value, quoted))
    text = "Digest " + comma.join(
        name + "=" + (quote(value) if quoted else value) for name, value, quoted in params
    )
    challenge = parse_challenge(text)
    assert challenge.params == [(name.lower(), value) for name, value, _ in params]


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["WWW-Authenticate", "X"]), st.text(max_size=60))))
def test_client_never_raises_on_garbage_challenges(challenges):
    client = DigestClient("door", "secret", HASHES, FakeRandom())
    result = client.respond("REGISTER", "sip:pbx", challenges, challenges)
    assert result is None or all(name == "Authorization" for name, _ in result)


def reference(algorithm, user, password, realm, nonce, method, uri, qop, nc, cnonce, body):
    """RFC 7616 section 3.4, written out again with hashlib."""
    base = algorithm.replace("-sess", "")
    fn = hashlib.md5 if base == "MD5" else hashlib.sha256

    def h(text):
        return fn(text if isinstance(text, bytes) else text.encode()).hexdigest()

    ha1 = h(f"{user}:{realm}:{password}")
    if algorithm.endswith("-sess"):
        ha1 = h(f"{ha1}:{nonce}:{cnonce}")
    ha2 = h(f"{method}:{uri}:{h(body)}") if qop == "auth-int" else h(f"{method}:{uri}")
    if qop is None:
        return h(f"{ha1}:{nonce}:{ha2}")
    return h(f"{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def test_matches_a_hashlib_reference_for_random_inputs():
    rng = random.Random(7616)
    words = ["door", "Mufasa", "réalm", "a b", 'q"t', "sip:flat@pbx", "", "x" * 70]
    for _ in range(300):
        algorithm = rng.choice(["MD5", "MD5-sess", "SHA-256", "SHA-256-sess"])
        qop = rng.choice([None, "auth", "auth-int"])
        user, password, realm, nonce = (rng.choice(words) for _ in range(4))
        uri = rng.choice(words)
        body = bytes(rng.getrandbits(8) for _ in range(rng.randrange(0, 200)))
        nc = rng.randrange(1, 1 << 32)
        value = "Digest realm=%s, nonce=%s, algorithm=%s" % (quote(realm), quote(nonce), algorithm)
        if qop:
            value += ", qop=" + qop
        challenge = parse_challenge(value)
        header = build_authorization(
            challenge, user, password, "INVITE", uri, HASHES, "c0ffee", nc, body
        )
        got = dict(parse_challenge(header).params)
        expected = reference(
            algorithm, user, password, realm, nonce, "INVITE", uri, qop, "%08x" % nc, "c0ffee", body
        )
        assert got["response"] == expected
        assert got.get("qop") == qop
        assert (got.get("nc") is not None) == (qop is not None)
        assert (got.get("cnonce") is not None) == (qop is not None or "-sess" in algorithm)
        fn = HASHES[algorithm.replace("-sess", "")]
        assert expected == digest_response(
            fn, "-sess" in algorithm, user, password, realm, nonce, "INVITE", uri, qop,
            "%08x" % nc, "c0ffee", body,
        )  # fmt: skip
