"""URIs, name-addr values and the lexical helpers under them (RFC 3261 section 19, 20.10, 25;
RFC 3966 tel:; RFC 5954 IPv6 references)."""

from firmware.core.sip.syntax import (
    SipParseError,
    check_escapes,
    parse_params,
    parse_quoted,
    quote,
    set_param,
    split_list,
    unescape,
    unquote,
)
from firmware.core.sip.uri import (
    NameAddr,
    Uri,
    is_ipv6,
    parse_host_port,
    parse_name_addr,
    parse_uri,
)
from tests.core.support import raises

# text -> (scheme, user, password, host, port, params, headers)
SIP_URIS = [
    ("sip:alice@example.com", ("sip", "alice", None, "example.com", None, [], None)),
    ("SIP:Alice@Example.COM", ("SIP", "Alice", None, "Example.COM", None, [], None)),
    ("sips:bob@secure.example.com", ("sips", "bob", None, "secure.example.com", None, [], None)),
    ("sip:example.com", ("sip", None, None, "example.com", None, [], None)),
    ("sip:192.0.2.1:5060", ("sip", None, None, "192.0.2.1", 5060, [], None)),
    ("sip:host.example.com.", ("sip", None, None, "host.example.com.", None, [], None)),
    ("sip:a-b.c--d.example", ("sip", None, None, "a-b.c--d.example", None, [], None)),
    ("sip:door@3com.example", ("sip", "door", None, "3com.example", None, [], None)),
    (
        "sip:[2001:db8::1]:5070;transport=tcp",
        ("sip", None, None, "2001:db8::1", 5070, [("transport", "tcp")], None),
    ),
    ("sip:door@[::1]", ("sip", "door", None, "::1", None, [], None)),
    ("sip:[::ffff:192.0.2.1]", ("sip", None, None, "::ffff:192.0.2.1", None, [], None)),
    (
        "sip:[2001:DB8:0:0:8:800:200C:417A]",
        ("sip", None, None, "2001:DB8:0:0:8:800:200C:417A", None, [], None),
    ),
    ("sip:user:secret@host.example", ("sip", "user", "secret", "host.example", None, [], None)),
    ("sip:user:@host.example", ("sip", "user", "", "host.example", None, [], None)),
    (
        "sip:alice@example.com;transport=TCP;lr;maddr=192.0.2.9",
        (
            "sip",
            "alice",
            None,
            "example.com",
            None,
            [("transport", "TCP"), ("lr", None), ("maddr", "192.0.2.9")],
            None,
        ),
    ),
    (
        "sip:alice:pw@example.com:5080;ob?subject=project%20x&priority=urgent",
        (
            "sip",
            "alice",
            "pw",
            "example.com",
            5080,
            [("ob", None)],
            "subject=project%20x&priority=urgent",
        ),
    ),
    (
        "sip:+49-30-1234;phone-context=example.com@example.com;user=phone",
        (
            "sip",
            "+49-30-1234;phone-context=example.com",
            None,
            "example.com",
            None,
            [("user", "phone")],
            None,
        ),
    ),
    ("sip:%61lice@example.com", ("sip", "%61lice", None, "example.com", None, [], None)),
    ("sip:a@b.example?to=", ("sip", "a", None, "b.example", None, [], "to=")),
]

# text -> (scheme, opaque, params)
OTHER_URIS = [
    ("tel:+49-30-1234", ("tel", "+49-30-1234", [])),
    ("tel:+1-201-555-0123;ext=1234", ("tel", "+1-201-555-0123", [("ext", "1234")])),
    ("tel:1234;phone-context=+49-30", ("tel", "1234", [("phone-context", "+49-30")])),
    ("tel:7042;phone-context=example.com", ("tel", "7042", [("phone-context", "example.com")])),
    ("tel:*21#;phone-context=pbx.example", ("tel", "*21#", [("phone-context", "pbx.example")])),
    ("TEL:+4930(1234)", ("TEL", "+4930(1234)", [])),
    ("urn:service:sos", ("urn", "service:sos", [])),
    ("http://example.com/x", ("http", "//example.com/x", [])),
]

BAD_URIS = [
    "alice@example.com",
    ":alice@example.com",
    "1sip:a@b.example",
    "si p:a@b.example",
    "sip:",
    "sip:a b@c.example",
    "sip:alice@",
    "sip:@example.com",
    "sip::pw@example.com",
    "sip:alice@exa_mple.com",
    "sip:alice@-example.com",
    "sip:alice@example-.com",
    "sip:alice@example..com",
    "sip:alice@.example.com",
    "sip:alice@1.2.3",
    "sip:alice@256.1.1.1",
    "sip:alice@1.2.3.4.",
    "sip:alice@example.com:0",
    "sip:alice@example.com:65536",
    "sip:alice@example.com:50x",
    "sip:alice@example.com:",
    "sip:alice@example.com:123456",
    "sip:[2001:db8::1",
    "sip:[2001:db8::g]",
    "sip:[1:2:3:4:5:6:7:8:9]",
    "sip:[1:2:3:4:5:6:7]",
    "sip:[1::2::3]",
    "sip:[12345::1]",
    "sip:[::1]x",
    "sip:[::1]:",
    "sip:[]",
    "sip:[192.0.2.1]",
    "sip:[::1.2.3.256]",
    "sip:2001:db8::1",
    "sip:alice@example.com;=x",
    "sip:alice@example.com;a=",
    "sip:alice@example.com;",
    "sip:alice@example.com;a=b;;c",
    "sip:alice@example.com?",
    "sip:alice@example.com?x",
    "sip:alice@example.com?=x",
    "sip:alice@example.com?a=b&",
    "sip:al%zzice@example.com",
    "sip:alice@example.com;a=%4",
    "sip:alice:p%4@example.com",
    "sip:alice@example.com?a=%g1",
    "sip:alice:pa@ss@example.com",
    "sip:alice@example.com>",
    'sip:"alice"@example.com',
    "sip:alice#1@example.com",
    "sip:alice@example.com\n",
    "sip:alice@example.com\r\nX-Injected: 1",
    "tel:",
    "tel:1234",
    "tel:+",
    "tel:+--",
    "tel:+49 30",
    "tel:+49;phone-context=",
    "tel:+49-30;ext=abc",
    "tel:xyz;phone-context=example.com",
    "tel:1234;phone-context=-bad-",
    "tel:+49;my_param=1",
    "tel:+49;a=b c",
]


def test_sip_uris_parse_into_their_parts_and_back():
    for text, (scheme, user, password, host, port, params, headers) in SIP_URIS:
        uri = parse_uri(text)
        got = (uri.scheme, uri.user, uri.password, uri.host, uri.port, uri.params, uri.headers)
        assert got == (scheme, user, password, host, port, params, headers), text
        assert uri.is_sip and uri.opaque is None, text
        assert str(uri) == text, text


def test_other_schemes_keep_an_opaque_part():
    for text, (scheme, opaque, params) in OTHER_URIS:
        uri = parse_uri(text)
        assert (uri.scheme, uri.opaque, uri.params) == (scheme, opaque, params), text
        assert not uri.is_sip and uri.host is None, text
        assert str(uri) == text, text


def test_malformed_uris_raise_sip_parse_error():
    for text in BAD_URIS:
        exc = raises(SipParseError, parse_uri, text)
        assert exc.status == 400 and exc.reason, text


def test_uri_helpers():
    uri = parse_uri("sips:door@Intercom.Example.com;transport=TCP;lr")
    assert uri.secure and uri.transport == "tcp" and uri.has_param("LR") and uri.param("x") is None
    assert uri.host_port() == ("Intercom.Example.com", 5061)
    assert uri.aor() == "sips:door@intercom.example.com"
    assert str(uri.without_params()) == "sips:door@Intercom.Example.com"
    assert (
        str(uri.with_param("transport", "udp")) == "sips:door@Intercom.Example.com;transport=udp;lr"
    )
    assert str(uri.with_param("ob")) == "sips:door@Intercom.Example.com;transport=TCP;lr;ob"
    assert parse_uri("sip:[2001:db8::1]").host_port() == ("2001:db8::1", 5060)
    assert parse_uri("sip:h.example:5070").host_port(5090) == ("h.example", 5070)
    assert parse_uri("tel:+49-30-1234").aor() == "tel:+49-30-1234"
    assert parse_uri("sip:I%20have%20spaces@h.example").user_unescaped == "I have spaces"
    assert parse_uri("sip:h.example").user_unescaped is None
    built = Uri("sip", "door", "2001:db8::7", 5062, [("transport", "tcp")])
    assert str(built) == "sip:door@[2001:db8::7]:5062;transport=tcp"
    assert repr(built) == "Uri('sip:door@[2001:db8::7]:5062;transport=tcp')"


def test_ipv6_addresses():
    good = [
        "::",
        "::1",
        "1::",
        "2001:db8::1",
        "1:2:3:4:5:6:7:8",
        "1:2:3:4:5:6::8",
        "::ffff:1.2.3.4",
    ]
    good += ["1:2:3:4:5:6:1.2.3.4", "fe80::1:2", "ABCD:ef01::"]
    bad = ["", ":", ":::", "1:2:3:4:5:6:7", "1:2:3:4:5:6:7:8:9", "1::2::3", "12345::", "g::1"]
    bad += ["1:2:3:4:5:6:7:1.2.3.4", "::1.2.3", "1.2.3.4", "::1:", ":1::", "1:2:3:4:5:6:7:8::"]
    for text in good:
        assert is_ipv6(text), text
    for text in bad:
        assert not is_ipv6(text), text
    assert parse_host_port("[::1]:5070") == ("::1", 5070)
    assert parse_host_port("example.com") == ("example.com", None)


# text -> (display_name, str(uri), params, tag)
NAME_ADDRS = [
    (
        '"Alice Smith" <sip:alice@example.com>;tag=1234',
        ("Alice Smith", "sip:alice@example.com", [("tag", "1234")]),
    ),
    ("Alice  Smith\t<sip:alice@example.com>", ("Alice Smith", "sip:alice@example.com", [])),
    ("<sip:alice@example.com>", (None, "sip:alice@example.com", [])),
    ("sip:alice@example.com;tag=88", (None, "sip:alice@example.com", [("tag", "88")])),
    ("sip:alice@example.com ; tag = 88", (None, "sip:alice@example.com", [("tag", "88")])),
    (
        "<sip:alice@example.com;transport=tcp>;expires=60",
        (None, "sip:alice@example.com;transport=tcp", [("expires", "60")]),
    ),
    (
        '"Quote \\" and backslash \\\\" <sip:a@b.example>',
        ('Quote " and backslash \\', "sip:a@b.example", []),
    ),
    ('""<sip:a@b.example>', ("", "sip:a@b.example", [])),
    ('"Alice"<sip:a@b.example>', ("Alice", "sip:a@b.example", [])),
    (
        "  <sip:a@b.example>  ;  tag = 1 ;lr ",
        (None, "sip:a@b.example", [("tag", "1"), ("lr", None)]),
    ),
    (
        '<sip:a@b.example>;q=0.7;x="a,b;c"',
        (None, "sip:a@b.example", [("q", "0.7"), ("x", '"a,b;c"')]),
    ),
    ('sip:a@b.example;x="<in quotes>"', (None, "sip:a@b.example", [("x", '"<in quotes>"')])),
    ("<tel:+49-30-1234>", (None, "tel:+49-30-1234", [])),
    (
        "<sip:[2001:db8::1]:5070;transport=tcp>;tag=x",
        (None, "sip:[2001:db8::1]:5070;transport=tcp", [("tag", "x")]),
    ),
    ("<sip:alice:pw@example.com?subject=x>", (None, "sip:alice:pw@example.com?subject=x", [])),
    ('"\xc4nne D\xf6rr" <sip:anne@example.com>', ("\xc4nne D\xf6rr", "sip:anne@example.com", [])),
    ("Door_1 <sip:door@[::1]>", ("Door_1", "sip:door@[::1]", [])),
    (
        '<sip:door@h.example>;+sip.instance="<urn:uuid:1>"',
        (None, "sip:door@h.example", [("+sip.instance", '"<urn:uuid:1>"')]),
    ),
]

BAD_NAME_ADDRS = [
    "",
    "   ",
    '"Alice <sip:a@b.example>',
    'Alice "Smith" <sip:a@b.example>',
    "Al@ce <sip:a@b.example>",
    "<sip:a@b.example",
    "< sip:a@b.example>",
    "<sip:a@b.example >",
    "<sip:a@b.example> junk",
    "<sip:a@b.example>;tag=1 x",
    "sip:a@b.example?x=y",
    '"A" sip:a@b.example',
    "<sip:a@b.example>;=x",
    '<sip:a@b.example>;tag="x',
    '<sip:a@b.example>;tag="x"y',
    '"\x01" <sip:a@b.example>',
    '"\x7f" <sip:a@b.example>',
    '"\\\xe9" <sip:a@b.example>',
    "<sip:a@b..example>",
    "sip:a;b@h.example",
    "<>",
    "<sip:a@b.example>;tag=a b",
    "<sip:a@b.example>;ta g=1",
]


def test_name_addr_forms():
    for text, (display, uri, params) in NAME_ADDRS:
        value = parse_name_addr(text)
        assert (value.display_name, str(value.uri), value.params) == (display, uri, params), text
        again = parse_name_addr(str(value))
        assert (again.display_name, str(again.uri), again.params) == (display, uri, params), text


def test_malformed_name_addrs_raise():
    for text in BAD_NAME_ADDRS:
        raises(SipParseError, parse_name_addr, text)


def test_route_values_need_angle_brackets():
    assert str(parse_name_addr("<sip:p.example;lr>", True).uri) == "sip:p.example;lr"
    raises(SipParseError, parse_name_addr, "sip:p.example;lr", True)


def test_name_addr_serialization_quotes_only_when_needed():
    uri = parse_uri("sip:door@10.0.0.2")
    table = [
        (NameAddr(uri), "<sip:door@10.0.0.2>"),
        (NameAddr(uri, "Door"), "Door <sip:door@10.0.0.2>"),
        (NameAddr(uri, "Front Door"), "Front Door <sip:door@10.0.0.2>"),
        (NameAddr(uri, "Bell, Alexander"), '"Bell, Alexander" <sip:door@10.0.0.2>'),
        (NameAddr(uri, "two  spaces"), '"two  spaces" <sip:door@10.0.0.2>'),
        (NameAddr(uri, 'say "hi"'), '"say \\"hi\\"" <sip:door@10.0.0.2>'),
        (NameAddr(uri, ""), '"" <sip:door@10.0.0.2>'),
        (NameAddr(uri, None, [("tag", "a1")]), "<sip:door@10.0.0.2>;tag=a1"),
        (
            NameAddr(uri).with_param("tag", "9").with_param("tag", "10"),
            "<sip:door@10.0.0.2>;tag=10",
        ),
    ]
    for value, text in table:
        assert str(value) == text, text
        assert parse_name_addr(text).display_name == value.display_name, text
    assert parse_name_addr("<sip:a@b.example>;TAG=x").tag == "x"
    assert parse_name_addr("<sip:a@b.example>").tag is None
    raises(ValueError, str, NameAddr(uri, "bad\r\nX-Injected: 1"))


# -- lexical helpers -------------------------------------------------------------------------
QUOTED = [
    ('"plain"', "plain", 7),
    ('"with \\"escaped\\" quotes" tail', 'with "escaped" quotes', 25),
    ('"back\\\\slash"', "back\\slash", 13),
    ('""', "", 2),
    ('"tab\tand space"', "tab\tand space", 15),
    ('"\\\x00nul and bel \\\x07"', "\x00nul and bel \x07", 18),
    ('"utf-8 \xe4\xf6\u4e2d"', "utf-8 \xe4\xf6\u4e2d", 11),
]
BAD_QUOTED = ['"open', '"ends in backslash\\', '"\x00"', '"\x1f"', '"\x7f"', '"\\\xe4"', '"a\\']


def test_quoted_strings():
    for text, value, end in QUOTED:
        assert parse_quoted(text, 0) == (value, end), text
        assert parse_quoted(quote(value), 0) == (value, len(quote(value))), text
    for text in BAD_QUOTED:
        raises(SipParseError, parse_quoted, text, 0)
    assert quote('a"b\\c') == '"a\\"b\\\\c"'
    assert quote("bel\x07") == '"bel\\\x07"'
    raises(ValueError, quote, "line\nbreak")
    assert unquote('"x\\"y"') == 'x"y' and unquote("plain") == "plain" and unquote(None) is None


PARAMS = [
    (";a=1;b;c=x", [("a", "1"), ("b", None), ("c", "x")]),
    ("", []),
    ("   ", []),
    (" ; a = 1 ;\tb ", [("a", "1"), ("b", None)]),
    (';realm="a;b, c";x=y', [("realm", '"a;b, c"'), ("x", "y")]),
    (';q="say \\"x\\""', [("q", '"say \\"x\\""')]),
    (";received=[2001:db8::1]", [("received", "[2001:db8::1]")]),
    (";branch=z9hG4bK+/w==", [("branch", "z9hG4bK+/w==")]),
    (";x=a=b", [("x", "a=b")]),
    (";TAG=Ab", [("TAG", "Ab")]),
]
BAD_PARAMS = [
    "a=1",
    ";",
    ";;",
    ";a=",
    "; a =",
    ";a b",
    ";a=b c",
    ';a="x',
    ';a="x"y',
    ";a,b",
    ";a=b,c",
]


def test_parameters_with_and_without_values():
    for text, params in PARAMS:
        assert parse_params(text) == params, text
    for text in BAD_PARAMS:
        raises(SipParseError, parse_params, text)
    assert parse_params("<sip:x>;a=1", 7) == [("a", "1")]
    params = [("tag", "1"), ("lr", None)]
    assert set_param(params, "TAG", "2") == [("tag", "2"), ("lr", None)]
    assert set_param(params, "ob", None) == [("tag", "1"), ("lr", None), ("ob", None)]


LISTS = [
    ("a, b,c", ["a", "b", "c"]),
    ("single", ["single"]),
    (
        '"Bell, Alexander" <sip:a@b>, <sip:c@d;x=1,2>',
        ['"Bell, Alexander" <sip:a@b>', "<sip:c@d;x=1,2>"],
    ),
    ('<sip:a@b>;x="1,2", <sip:c@d>', ['<sip:a@b>;x="1,2"', "<sip:c@d>"]),
    ('"esc \\" ,", x', ['"esc \\" ,"', "x"]),
    ("a,,b, ", ["a", "", "b", ""]),
    ('"unterminated, x', ['"unterminated, x']),
]


def test_comma_lists():
    for text, parts in LISTS:
        assert split_list(text) == parts, text


def test_escapes():
    assert unescape("I%20have%20spaces") == "I have spaces"
    assert unescape("%e4%C3%A4") == "%e4%C3%A4"  # not UTF-8 as a whole: kept
    assert unescape("%C3%A4x") == "\xe4x" and unescape("100%") == "100%"
    for text in ("a%20b", "%41", "none", "%7e%7E"):
        check_escapes(text)
    for text in ("%", "%4", "%4g", "a%%20", "x%2"):
        raises(SipParseError, check_escapes, text)
