"""Digest authentication: challenge parsing, RFC vectors, recorded PBX challenges, retry rules."""

import hashlib

from firmware.core.md5 import md5_hex
from firmware.core.sip.auth import (
    AuthError,
    DigestClient,
    build_authorization,
    digest_response,
    parse_challenge,
)
from tests.core.support import FakeRandom, raises, read_data


def sha256_hex(data):
    return "".join(["%02x" % b for b in hashlib.sha256(data).digest()])


HASHES = {"MD5": md5_hex, "SHA-256": sha256_hex}
MD5_ONLY = {"MD5": md5_hex}


def message_headers(filename):
    """(name, value) header pairs of a recorded message in tests/data/real-world/."""
    head = read_data("real-world/" + filename).split(b"\r\n\r\n", 1)[0].decode("utf-8")
    headers = []
    for line in head.split("\r\n")[1:]:
        assert line[:1] not in (" ", "\t"), "folded header lines are not expected here"
        name, _, value = line.partition(":")
        headers.append((name.strip(), value.strip(" \t")))
    return headers


def header(headers, name):
    values = [v for n, v in headers if n.lower() == name.lower()]
    assert len(values) == 1, (name, values)
    return values[0]


def fields(value):
    """Parameters of an Authorization value we built, parsed back with the challenge parser."""
    challenge = parse_challenge(value)
    return dict(challenge.params)


def cnonce_of(seed):
    rng = FakeRandom(seed)
    return "%08x%08x" % (rng.getrandbits(32), rng.getrandbits(32))


# -- parsing ------------------------------------------------------------------------------------

# file, header, realm, nonce, algorithm as sent, hash, qop, stale, opaque
REAL_CHALLENGES = (
    ("fritzbox-401-register.sip", "WWW-Authenticate", "fritz.box", "78B29326485EAE52",
     "MD5", "MD5", [], False, None),
    ("fritzbox-401-invite.sip", "WWW-Authenticate", "fritz.box", "DFAB0607BDB84DE5",
     "MD5", "MD5", [], False, None),
    ("asterisk1.6-chansip-401-register.sip", "WWW-Authenticate", "asterisk", "1cc78052",
     "MD5", "MD5", [], False, None),
    ("asterisk1.6-chansip-401-register-stale.sip", "WWW-Authenticate", "asterisk", "08a3f9ed",
     "MD5", "MD5", [], True, None),
    ("asterisk13-pjsip-401-register-stale.sip", "WWW-Authenticate", "asterisk",
     "1589932801/8185e08b5190c16849be3d2cacdf342d8", "md5", "MD5", ["auth"], True,
     "3067a732021f5804"),
    ("asterisk16-pjsip-401-register-qop.sip", "WWW-Authenticate", "asterisk",
     "1608794790/f4dc9767e5f40180ee8cb4cd78bd9d3e", "md5", "MD5", ["auth"], False,
     "4cf02bb020c6e7ae"),
    ("asterisk18-pjsip-401-register-qop.sip", "WWW-Authenticate", "asterisk",
     "1664256201/30ff48bd45c78b935077262030d584bd", "md5", "MD5", ["auth"], False,
     "5f0937be1ccec4cf"),
    ("djangopbx-freeswitch-401-register-compact.sip", "WWW-Authenticate", "pbx.example.com",
     "ab84b282-99e9-41f2-87bd-e78aff5fdf07", "MD5", "MD5", ["auth"], False, None),
    ("freeswitch1.10.3-401-register-qop.sip", "WWW-Authenticate", "10.211.55.6",
     "93c5a8f6-7fe8-42ba-b54c-c72c610f158d", "MD5", "MD5", ["auth"], False, None),
    ("freeswitch1.6.19-401-register-stale-qop.sip", "WWW-Authenticate", "203.0.113.96",
     "b54499e4-9083-4853-a1c4-d9b0756af9a2", "MD5", "MD5", ["auth"], True, None),
    ("asterisk-old-chansip-407-invite.sip", "Proxy-Authenticate", "asterisk", "15aeff81",
     "MD5", "MD5", [], False, None),
    ("freeswitch1.6.12-407-invite-qop-ws.sip", "Proxy-Authenticate", "192.168.1.96",
     "e5dc621d-358d-4e5d-9400-2f973d3fa768", "MD5", "MD5", ["auth"], False, None),
    ("flexisip-407-invite-sha256.sip", "Proxy-Authenticate", "sip.linphone.org",
     "kbd95AAAAABgoQflAABklVousZQAAAAA", "SHA-256", "SHA-256", ["auth"], False, "+GNywA=="),
)  # fmt: skip


def test_parses_every_recorded_challenge():
    for row in REAL_CHALLENGES:
        filename, name, realm, nonce, algorithm, hash_name, qop, stale, opaque = row
        ch = parse_challenge(header(message_headers(filename), name))
        assert ch.is_digest and ch.scheme == "Digest", filename
        assert (ch.realm, ch.nonce, ch.opaque) == (realm, nonce, opaque), filename
        assert (ch.algorithm, ch.hash_name, ch.session) == (algorithm, hash_name, False), filename
        assert (ch.qop, ch.stale) == (qop, stale), filename


def test_parses_syntax_variants():
    cases = (
        # case-insensitive scheme and names, token values, whitespace around '='
        ('digest REALM = "r" , NONCE=n1, Algorithm=SHA-256-SESS', "r", "n1", "SHA-256", True),
        ('Digest realm="a \\"quoted\\" \\\\ realm",nonce="x"', 'a "quoted" \\ realm', "x", "MD5",
         False),
        ('Digest realm="r", nonce="n", algorithm="MD5-sess"', "r", "n", "MD5", True),
        ('Digest realm="r",,nonce="n",', "r", "n", "MD5", False),  # empty list elements
        ('\tDigest\trealm="",nonce=""', "", "", "MD5", False),
        ('Digest realm="réalm", nonce="n"', "réalm", "n", "MD5", False),
    )  # fmt: skip
    for value, realm, nonce, hash_name, session in cases:
        ch = parse_challenge(value)
        assert (ch.realm, ch.nonce, ch.hash_name, ch.session) == (realm, nonce, hash_name, session)


def test_parses_qop_stale_domain_and_unknown_parameters():
    ch = parse_challenge(
        'Digest realm="biloxi.com", qop="auth-int , AUTH,x-future", nonce="n", stale=TRUE, '
        'domain="sip:biloxi.com sip:ss1.biloxi.com", charset=UTF-8, userhash=false, '
        'x-extension="a, b", algorithm=SHA-512-256'
    )
    assert ch.qop == ["auth-int", "auth", "x-future"]
    assert ch.stale is True
    assert ch.domain == ["sip:biloxi.com", "sip:ss1.biloxi.com"]
    assert ch.param("x-extension") == "a, b"
    assert ch.param("charset") == "UTF-8"
    assert ch.hash_name == "SHA-512-256"
    assert [name for name, _ in ch.params] == [
        "realm", "qop", "nonce", "stale", "domain", "charset", "userhash", "x-extension",
        "algorithm",
    ]  # fmt: skip
    assert parse_challenge('Digest realm="r", nonce="n", qop=auth').qop == ["auth"]
    assert parse_challenge('Digest realm="r", nonce="n", stale=false').stale is False
    assert parse_challenge('Digest realm="r", nonce="n", stale="yes"').stale is False
    unknown = parse_challenge('Digest realm="r", nonce="n", algorithm=AKAv1-MD5')
    assert unknown.algorithm == "AKAv1-MD5" and unknown.hash_name is None


def test_other_schemes_are_tolerated_not_parsed():
    for value in ('Basic realm="door"', "Bearer eyJhbGciOi==", "Negotiate", "NTLM TlRMTVNT"):
        ch = parse_challenge(value)
        assert not ch.is_digest and ch.realm is None, value


def test_rejects_malformed_challenges():
    bad = (
        "",
        "   ",
        '"Digest" realm="r"',
        'Digest realm="r", nonce="n',  # unterminated quoted string
        'Digest realm="r", nonce="n\\',  # escape at the end
        'Digest realm="r" nonce="n"',  # missing comma
        'Digest realm=, nonce="n"',  # empty value
        'Digest realm, nonce="n"',  # no '='
        'Digest ="r", nonce="n"',  # no name
        'Digest realm="r", nonce="n", realm="s"',  # duplicate
        'Digest realm="r", NONCE="n", nonce="m"',  # duplicate, other case
        'Digest realm="r\nx", nonce="n"',  # control character
        'Digest realm="r\x00", nonce="n"',
        'Digest realm="r"',  # no nonce
        'Digest nonce="n"',  # no realm
        "Digest",
        'Digest, realm="r", nonce="n"',
        'Digest realm="r", nonce="n"; qop=auth',
        'Digest realm="r", nonce=+GNyw==',  # token68 is not a parameter value
        'Digest realm="r", nonce="' + "n" * 5000 + '"',  # bounded
    )
    for value in bad:
        err = raises(AuthError, parse_challenge, value)
        assert str(err), value


# -- response vectors ---------------------------------------------------------------------------


def test_rfc2617_section_3_5_example():
    ch = parse_challenge(
        'Digest realm="testrealm@host.com", qop="auth,auth-int", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", opaque="5ccc069c403ebaf9f0171e9517f40e41"'
    )
    value = build_authorization(
        ch, "Mufasa", "Circle Of Life", "GET", "/dir/index.html", MD5_ONLY, "0a4f113b", 1
    )
    assert value == (
        'Digest username="Mufasa", realm="testrealm@host.com", '
        'nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093", uri="/dir/index.html", '
        'response="6629fae49393a05397450978507c4ef1", algorithm=MD5, cnonce="0a4f113b", '
        'opaque="5ccc069c403ebaf9f0171e9517f40e41", qop=auth, nc=00000001'
    )


RFC7616_CHALLENGE = (
    'Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=%s, '
    'nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", '
    'opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"'
)
RFC7616_CNONCE = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ"


def test_rfc7616_section_3_9_1_examples():
    for algorithm, response in (
        ("MD5", "8ca523f5e9506fed4657c9700eebdbec"),
        ("SHA-256", "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"),
    ):
        ch = parse_challenge(RFC7616_CHALLENGE % algorithm)
        value = build_authorization(
            ch, "Mufasa", "Circle of Life", "GET", "/dir/index.html", HASHES, RFC7616_CNONCE, 1
        )
        got = fields(value)
        assert got["response"] == response, algorithm
        assert got["algorithm"] == algorithm
        assert (got["qop"], got["nc"], got["cnonce"]) == ("auth", "00000001", RFC7616_CNONCE)
        assert got["opaque"] == "FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS"


def test_response_vectors_without_qop_with_sess_and_auth_int():
    # Computed independently with CPython's hashlib (test_auth_cpython.py recomputes many more).
    cases = (
        ("MD5", False, "fritz.box", "78B29326485EAE52", "REGISTER", "sip:fritz.box", None, None,
         b"", "c88b234fa88a2fe4ae406104238d2b85"),
        ("MD5", True, "asterisk", "abc", "REGISTER", "sip:pbx.example.com", "auth", "00000001",
         b"", "c644c2bd901bd7c86bb7a1463b3a9ea7"),
        ("MD5", False, "asterisk", "abc", "INVITE", "sip:flat@pbx.example.com", "auth-int",
         "00000001", b"v=0\r\n", "958c7f8f749f3706ff3c5816b6064846"),
        ("SHA-256", True, "asterisk", "abc", "REGISTER", "sip:pbx.example.com", "auth",
         "00000002", b"", "7a82e3e40418af7be3fedc2c736a4bf33c18b7331f314becc374f79716384c8a"),
        ("MD5", True, "asterisk", "abc", "REGISTER", "sip:pbx.example.com", None, None, b"",
         "8744bae8dc14ee9f30233601101daf38"),
    )  # fmt: skip
    for hash_name, sess, realm, nonce, method, uri, qop, nc, body, expected in cases:
        got = digest_response(
            HASHES[hash_name], sess, "door", "secret", realm, nonce, method, uri, qop, nc,
            "0a4f113b", body,
        )  # fmt: skip
        assert got == expected, (hash_name, sess, qop)


def test_sess_algorithm_sends_its_cnonce_even_without_qop():
    ch = parse_challenge('Digest realm="asterisk", nonce="abc", algorithm=MD5-sess')
    value = build_authorization(
        ch, "door", "secret", "REGISTER", "sip:pbx.example.com", MD5_ONLY, "0a4f113b", 1
    )
    got = fields(value)
    assert (got["algorithm"], got["cnonce"]) == ("MD5-sess", "0a4f113b")
    assert "qop" not in got and "nc" not in got
    assert got["response"] == "8744bae8dc14ee9f30233601101daf38"


def test_build_authorization_refuses_what_it_cannot_answer():
    cases = (
        ('Basic realm="r"', HASHES),
        ('Digest realm="r", nonce="n", algorithm=SHA-256', MD5_ONLY),
        ('Digest realm="r", nonce="n", algorithm=AKAv1-MD5', HASHES),
        ('Digest realm="r", nonce="n", qop="auth-conf"', HASHES),
    )
    for value, hashes in cases:
        ch = parse_challenge(value)
        raises(AuthError, build_authorization, ch, "u", "p", "REGISTER", "sip:r", hashes, "c", 1)


def test_quoted_values_are_escaped_and_read_back():
    ch = parse_challenge('Digest realm="a\\"b\\\\c", nonce="n", opaque="o\\"p"')
    value = build_authorization(ch, 'do"or', "pw", "REGISTER", "sip:x", MD5_ONLY, "c", 1)
    got = fields(value)
    assert (got["realm"], got["username"], got["opaque"]) == ('a"b\\c', 'do"or', 'o"p')


# -- the client ---------------------------------------------------------------------------------


def test_answers_the_fritzbox_challenge_without_qop():
    client = DigestClient("door", "secret", MD5_ONLY, FakeRandom(1))
    headers = client.respond(
        "REGISTER", "sip:fritz.box", message_headers("fritzbox-401-register.sip"), []
    )
    assert headers == [
        (
            "Authorization",
            'Digest username="door", realm="fritz.box", nonce="78B29326485EAE52", '
            'uri="sip:fritz.box", response="c88b234fa88a2fe4ae406104238d2b85", algorithm=MD5',
        )
    ]


def test_answers_the_fritzbox_401_to_an_invite_with_authorization():
    client = DigestClient("door", "secret", MD5_ONLY, FakeRandom(1))
    headers = client.respond(
        "INVITE", "sip:5550100@fritz.box", message_headers("fritzbox-401-invite.sip"), []
    )
    assert len(headers) == 1 and headers[0][0] == "Authorization"
    assert fields(headers[0][1])["response"] == "6adde03818c22b22045643f48972097b"


def test_answers_recorded_qop_challenges():
    for filename, method, uri in (
        ("asterisk16-pjsip-401-register-qop.sip", "REGISTER", "sip:192.168.1.9"),
        ("asterisk18-pjsip-401-register-qop.sip", "REGISTER", "sip:pbx.example.com"),
        ("freeswitch1.10.3-401-register-qop.sip", "REGISTER", "sip:10.211.55.6"),
        ("djangopbx-freeswitch-401-register-compact.sip", "REGISTER", "sip:pbx.example.com"),
        ("asterisk13-pjsip-401-register-stale.sip", "REGISTER", "sip:192.168.10.5:5060"),
        ("freeswitch1.6.12-407-invite-qop-ws.sip", "INVITE", "sip:1001@192.168.1.96"),
    ):
        response_headers = message_headers(filename)
        client = DigestClient("1010", "pw", MD5_ONLY, FakeRandom(7))
        headers = client.respond(method, uri, response_headers, [])
        assert len(headers) == 1, filename
        name, value = headers[0]
        proxy = filename.find("-407-") >= 0
        assert name == ("Proxy-Authorization" if proxy else "Authorization"), filename
        ch = parse_challenge(
            header(response_headers, "Proxy-Authenticate" if proxy else "WWW-Authenticate")
        )
        got = fields(value)
        assert (got["username"], got["uri"], got["nonce"]) == ("1010", uri, ch.nonce), filename
        assert (got["qop"], got["nc"], got["cnonce"]) == ("auth", "00000001", cnonce_of(7))
        assert got["algorithm"] == ch.algorithm  # echoed as sent, "md5" for Asterisk pjsip
        assert got.get("opaque") == ch.opaque
        expected = digest_response(
            md5_hex, False, "1010", "pw", ch.realm, ch.nonce, method, uri, "auth", "00000001",
            cnonce_of(7),
        )  # fmt: skip
        assert got["response"] == expected, filename


def test_answers_the_flexisip_sha256_challenge_only_with_sha256():
    response_headers = message_headers("flexisip-407-invite-sha256.sip")
    uri = "sip:user1@sip.linphone.org"
    client = DigestClient("foo", "pw", HASHES, FakeRandom(3))
    [(name, value)] = client.respond("INVITE", uri, response_headers, [])
    assert name == "Proxy-Authorization"
    got = fields(value)
    assert (got["algorithm"], got["realm"], got["opaque"]) == (
        "SHA-256",
        "sip.linphone.org",
        "+GNywA==",
    )
    assert len(got["response"]) == 64
    assert got["response"] == digest_response(
        sha256_hex, False, "foo", "pw", "sip.linphone.org", "kbd95AAAAABgoQflAABklVousZQAAAAA",
        "INVITE", uri, "auth", "00000001", cnonce_of(3),
    )  # fmt: skip
    md5_client = DigestClient("foo", "pw", MD5_ONLY, FakeRandom(3))
    assert md5_client.respond("INVITE", uri, response_headers, []) is None


def test_prefers_the_strongest_algorithm_per_realm():
    md5 = ("WWW-Authenticate", 'Digest realm="r", nonce="m", algorithm=MD5, qop="auth"')
    sha = ("WWW-Authenticate", 'Digest realm="r", nonce="s", algorithm=SHA-256, qop="auth"')
    for offered in ([md5, sha], [sha, md5]):
        [(_, value)] = DigestClient("u", "p", HASHES, FakeRandom()).respond(
            "REGISTER", "sip:r", offered, []
        )
        assert fields(value)["algorithm"] == "SHA-256"
        [(_, value)] = DigestClient("u", "p", MD5_ONLY, FakeRandom()).respond(
            "REGISTER", "sip:r", offered, []
        )
        assert fields(value)["algorithm"] == "MD5"


def test_answers_every_realm_once():
    challenges = [
        ("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1"),
        ("Proxy-Authenticate", 'Digest realm="a.example", nonce="1"'),
        ("proxy-authenticate", 'Digest realm="b.example", nonce="2", qop="auth"'),
        ("Proxy-Authenticate", 'Digest realm="b.example", nonce="3", algorithm=SHA-256'),
        ("WWW-Authenticate", 'Digest realm="a.example", nonce="4"'),
        ("Content-Length", "0"),
    ]
    headers = DigestClient("u", "p", HASHES, FakeRandom()).respond(
        "INVITE", "sip:x", challenges, []
    )
    got = [(name, fields(value)["realm"], fields(value)["nonce"]) for name, value in headers]
    assert got == [
        ("Proxy-Authorization", "a.example", "1"),
        ("Proxy-Authorization", "b.example", "3"),
        ("Authorization", "a.example", "4"),
    ]


def test_skips_what_it_cannot_answer_and_gives_up_when_nothing_is_left():
    client = DigestClient("u", "p", MD5_ONLY, FakeRandom())
    for challenges in (
        [],
        [("WWW-Authenticate", 'Basic realm="r"')],
        [("WWW-Authenticate", 'Digest realm="r", nonce="n", algorithm=SHA-256')],
        [("WWW-Authenticate", 'Digest realm="r", nonce="n", qop="auth-conf"')],
        [("WWW-Authenticate", 'Digest realm="r", nonce="n'), ("WWW-Authenticate", "garbage")],
        [("Proxy-Authenticate", 'Digest realm="r%d", nonce="n"' % i) for i in range(5)],
    ):
        assert client.respond("REGISTER", "sip:r", challenges, []) is None, challenges
    mixed = [
        ("WWW-Authenticate", 'Digest realm="r", nonce="n'),
        ("WWW-Authenticate", 'Basic realm="r"'),
        ("WWW-Authenticate", 'Digest realm="r", nonce="n"'),
    ]
    assert len(client.respond("REGISTER", "sip:r", mixed, [])) == 1


def test_gives_up_when_the_same_nonce_comes_back():
    challenge = message_headers("asterisk16-pjsip-401-register-qop.sip")
    client = DigestClient("1600", "wrong", MD5_ONLY, FakeRandom())
    sent = client.respond("REGISTER", "sip:192.168.1.9", challenge, [])
    assert sent is not None
    assert client.respond("REGISTER", "sip:192.168.1.9", challenge, sent) is None
    assert client.authorize("REGISTER", "sip:192.168.1.9") == []  # the refused realm is forgotten


def test_gives_up_on_a_real_phone_request_rejected_with_its_own_nonce():
    # The Cisco 7960 answered exactly this Asterisk challenge; the same challenge again means
    # the password was wrong, whatever client produced the credentials.
    sent = message_headers("cisco7960-register-auth-qop.sip")
    challenge = message_headers("asterisk16-pjsip-401-register-qop.sip")
    client = DigestClient("1600", "pw", MD5_ONLY, FakeRandom())
    assert client.respond("REGISTER", "sip:192.168.1.9", challenge, sent) is None


def www(nonce, stale=False, qop=True):
    value = 'Digest realm="pbx", nonce="%s"' % nonce
    if qop:
        value += ', qop="auth"'
    if stale:
        value += ", stale=true"
    return [("WWW-Authenticate", value)]


def test_gives_up_when_a_fresh_answer_is_refused_with_a_new_nonce():
    # FreeSWITCH makes a new random nonce for every challenge: a wrong password must not loop.
    for qop in (True, False):
        client = DigestClient("u", "wrong", MD5_ONLY, FakeRandom())
        sent = client.respond("REGISTER", "sip:pbx", www("n1", qop=qop), [])
        assert client.respond("REGISTER", "sip:pbx", www("n2", qop=qop), sent) is None, qop


def test_answers_stale_once_per_new_nonce():
    client = DigestClient("u", "p", MD5_ONLY, FakeRandom())
    first = client.respond("REGISTER", "sip:pbx", www("n1"), [])
    second = client.respond("REGISTER", "sip:pbx", www("n2", stale=True), first)
    assert second is not None
    assert (fields(second[0][1])["nonce"], fields(second[0][1])["nc"]) == ("n2", "00000001")
    # A stale challenge to the answer of a stale challenge: the server is broken, stop.
    assert client.respond("REGISTER", "sip:pbx", www("n3", stale=True), second) is None
    # stale=true with the nonce we just used makes no sense either.
    client = DigestClient("u", "p", MD5_ONLY, FakeRandom())
    first = client.respond("REGISTER", "sip:pbx", www("n1"), [])
    assert client.respond("REGISTER", "sip:pbx", www("n1", stale=True), first) is None


def test_recorded_stale_challenges_are_answered_after_preemptive_credentials():
    for filename in (
        "asterisk1.6-chansip-401-register-stale.sip",
        "asterisk13-pjsip-401-register-stale.sip",
        "freeswitch1.6.19-401-register-stale-qop.sip",
    ):
        stale = message_headers(filename)
        realm = parse_challenge(header(stale, "WWW-Authenticate")).realm
        client = DigestClient("door", "secret", MD5_ONLY, FakeRandom())
        first = client.respond(
            "REGISTER", "sip:pbx", [("WWW-Authenticate", 'Digest realm="%s", nonce="old"' % realm)],
            [],
        )  # fmt: skip
        refresh = client.authorize("REGISTER", "sip:pbx")
        assert first is not None and len(refresh) == 1
        again = client.respond("REGISTER", "sip:pbx", stale, refresh)
        assert again is not None, filename
        assert (
            fields(again[0][1])["nonce"] == parse_challenge(header(stale, "WWW-Authenticate")).nonce
        )


def test_preemptive_credentials_count_up_and_reset_with_a_new_nonce():
    client = DigestClient("u", "p", MD5_ONLY, FakeRandom(5))
    assert client.authorize("REGISTER", "sip:pbx") == []
    first = client.respond("REGISTER", "sip:pbx", www("n1"), [])
    later = [client.authorize("REGISTER", "sip:pbx") for _ in range(2)]
    every = [first, later[0], later[1]]
    assert [fields(h[0][1])["nc"] for h in every] == ["00000001", "00000002", "00000003"]
    assert len({fields(h[0][1])["cnonce"] for h in every}) == 1
    assert fields(later[1][0][1])["response"] == digest_response(
        md5_hex, False, "u", "p", "pbx", "n1", "REGISTER", "sip:pbx", "auth", "00000003",
        cnonce_of(5),
    )  # fmt: skip
    # The nonce expired: the server challenges the preemptive request with a new nonce (without
    # stale=true, as some do). That is not a refused password: answer once, from nc=1.
    renewed = client.respond("REGISTER", "sip:pbx", www("n2"), later[1])
    assert (fields(renewed[0][1])["nonce"], fields(renewed[0][1])["nc"]) == ("n2", "00000001")
    assert client.respond("REGISTER", "sip:pbx", www("n3"), renewed) is None


def test_preemptive_credentials_without_qop_reuse_the_nonce():
    client = DigestClient("door", "secret", MD5_ONLY, FakeRandom())
    challenge = message_headers("fritzbox-401-register.sip")
    first = client.respond("REGISTER", "sip:fritz.box", challenge, [])
    refresh = client.authorize("REGISTER", "sip:fritz.box")
    assert refresh == first  # no qop: nothing changes between uses of one nonce
    renewed = client.respond("REGISTER", "sip:fritz.box", www("N2", qop=False), refresh)
    assert fields(renewed[0][1])["nonce"] == "N2"
    assert client.respond("REGISTER", "sip:fritz.box", www("N3", qop=False), renewed) is None


def test_keeps_answered_proxy_credentials_when_the_next_hop_challenges():
    client = DigestClient("u", "p", MD5_ONLY, FakeRandom())
    proxy = [("Proxy-Authenticate", 'Digest realm="proxy", nonce="p1", qop="auth"')]
    first = client.respond("INVITE", "sip:flat@pbx", proxy, [])
    uas = [("WWW-Authenticate", 'Digest realm="flat", nonce="f1"')]
    second = client.respond("INVITE", "sip:flat@pbx", uas, first)
    got = [(name, fields(value)["realm"], fields(value).get("nc")) for name, value in second]
    assert got == [("Authorization", "flat", None), ("Proxy-Authorization", "proxy", "00000002")]


def test_auth_int_hashes_the_body():
    client = DigestClient("door", "secret", MD5_ONLY, FakeRandom())
    challenge = [("WWW-Authenticate", 'Digest realm="asterisk", nonce="abc", qop="auth-int"')]
    body = b"v=0\r\n"
    [(_, value)] = client.respond("INVITE", "sip:flat@pbx.example.com", challenge, [], body)
    got = fields(value)
    assert got["qop"] == "auth-int"
    assert got["response"] == digest_response(
        md5_hex, False, "door", "secret", "asterisk", "abc", "INVITE", "sip:flat@pbx.example.com",
        "auth-int", "00000001", got["cnonce"], body,
    )  # fmt: skip
    [(_, other)] = client.authorize("INVITE", "sip:flat@pbx.example.com", b"v=1\r\n")
    assert fields(other)["response"] != digest_response(
        md5_hex, False, "door", "secret", "asterisk", "abc", "INVITE", "sip:flat@pbx.example.com",
        "auth-int", "00000002", got["cnonce"], body,
    )  # fmt: skip


def test_forget_drops_every_nonce():
    client = DigestClient("u", "p", MD5_ONLY, FakeRandom())
    client.respond("REGISTER", "sip:pbx", www("n1"), [])
    client.forget()
    assert client.authorize("REGISTER", "sip:pbx") == []


def test_misuse_raises_at_once():
    raises(ValueError, DigestClient, "door\r\nX: y", "p", MD5_ONLY, FakeRandom())
    client = DigestClient("u", "p", MD5_ONLY, FakeRandom())
    client.respond("REGISTER", "sip:pbx", www("n1"), [])
    raises(ValueError, client.authorize, "REGISTER", "sip:pbx\r\n")
