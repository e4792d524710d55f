"""Property tests (hypothesis) for the SIP message layer.

- Garbage in, SipParseError out: arbitrary bytes and mutated real messages (byte flips,
  truncations, inserted CR/LF/spaces/quotes/commas...) raise nothing else, from the parser and the
  stream framer.
- Whatever parses survives the round trip: parse(serialize(parse(m))) has the same start line,
  headers and body as parse(m), and serializing again gives the same bytes.
- The CPython fast lanes (whole-header regexes) agree with the hand-written parsers that
  MicroPython runs: a value a fast lane accepts is accepted by the parser, and a message gets the
  same verdict, reason and result with and without the fast lanes.
"""

import contextlib

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

import firmware.core.sip.message as message_module
from firmware.core.sip import uri as uri_module
from firmware.core.sip.message import StreamFramer, parse_message, parse_via
from firmware.core.sip.syntax import SipParseError
from tests.core.support import list_data, read_data

SETTINGS = settings(
    max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow], database=None
)

SAMPLES = [read_data("captured/" + n) for n in list_data("captured", ".sip")]
SAMPLES += [read_data("real-world/" + n) for n in list_data("real-world", ".sip")]
for _name in (
    "wsinv.dat",
    "intmeth.dat",
    "esc01.dat",
    "lwsdisp.dat",
    "semiuri.dat",
    "transports.dat",
):
    SAMPLES.append(read_data("rfc4475/" + _name))

# Characters that matter to the SIP grammar, and some that must never be accepted raw.
SPECIAL = b'\r\n \t"\\,;:<>=@%[]?&/.+-_~!*()#\x00\x7f\xc3\xa4\xff'


def outcome(data):
    """("ok", start line, headers, body) or ("error", status, reason); nothing else escapes."""
    try:
        m = parse_message(data)
    except SipParseError as exc:
        assert exc.status in (400, 505, 513) and exc.reason
        return ("error", exc.status, exc.reason)
    return ("ok", m.start_line(), m.headers, m.body)


@contextlib.contextmanager
def hand_written_only():
    """Run the parser the way MicroPython does: no fast lanes."""
    saved = message_module.FAST_REGEX, message_module._CHECKS
    message_module.FAST_REGEX = uri_module.FAST_REGEX = False
    message_module._CHECKS = tuple((key, None) for key, _ in saved[1])
    try:
        yield
    finally:
        message_module.FAST_REGEX, message_module._CHECKS = saved
        uri_module.FAST_REGEX = saved[0]


def check_round_trip(m):
    out = m.to_bytes()
    again = parse_message(out)
    assert again.start_line() == m.start_line()
    assert again.body == m.body
    lengths = ("content-length", "l")
    assert [h for h in again.headers if h[0].lower() not in lengths] == [
        h for h in m.headers if h[0].lower() not in lengths
    ]
    assert again.to_bytes() == out


@st.composite
def mutated(draw):
    """A real message with a few random edits."""
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "insert", "delete", "truncate", "duplicate"]))
        i = draw(st.integers(0, len(data)))
        if kind == "flip" and i < len(data):
            data[i] = draw(st.sampled_from(list(SPECIAL) + list(range(256))))
        elif kind == "insert":
            data[i:i] = draw(
                st.binary(min_size=1, max_size=3) | st.sampled_from([bytes([c]) for c in SPECIAL])
            )
        elif kind == "delete":
            del data[i : i + draw(st.integers(1, 8))]
        elif kind == "truncate":
            del data[i:]
        elif kind == "duplicate":
            start = data.rfind(b"\r\n", 0, i)
            end = data.find(b"\r\n", i)
            if 0 <= start < end:
                data[end:end] = data[start:end]
    return bytes(data)


@SETTINGS
@given(st.binary(max_size=1500))
@example(b"")
@example(b"\r\n\r\n")
@example(b"SIP/2.0 200 OK\r\n\r\n")
@example(b"INVITE sip:a@b SIP/2.0\r\n\r\n")
def test_arbitrary_bytes_raise_only_sip_parse_errors(data):
    result = outcome(data)
    if result[0] == "ok":
        check_round_trip(parse_message(data))
    framer = StreamFramer()
    try:
        for piece in (data[:7], data[7:]):
            for whole in framer.feed(piece):
                outcome(whole)
    except SipParseError:
        pass


@SETTINGS
@given(mutated())
def test_mutated_messages_raise_only_sip_parse_errors_and_round_trip(data):
    result = outcome(data)
    if result[0] == "ok":
        check_round_trip(parse_message(data))


@SETTINGS
@given(mutated())
def test_fast_lanes_change_nothing(data):
    fast = outcome(data)
    with hand_written_only():
        slow = outcome(data)
    assert fast == slow


@settings(max_examples=150, deadline=None, database=None)
@given(st.sampled_from(SAMPLES))
def test_every_sample_takes_the_fast_lanes_and_the_slow_path_to_the_same_place(data):
    fast = parse_message(data)
    with hand_written_only():
        slow = parse_message(data)
        assert (fast.start_line(), fast.headers, fast.body) == (
            slow.start_line(),
            slow.headers,
            slow.body,
        )
        slow_views = [view(slow) for view in VIEWS]
    assert [view(fast) for view in VIEWS] == slow_views


def fields(value):
    """Everything a parsed view holds, as plain data."""
    if isinstance(value, list):
        return [fields(v) for v in value]
    if isinstance(value, uri_module.Uri):
        return (value.scheme, value.user, value.password, value.host, value.port, value.params)
    if isinstance(value, uri_module.NameAddr):
        return (value.display_name, fields(value.uri), value.params)
    if isinstance(value, message_module.Via):
        return (value.protocol, value.transport, value.host, value.port, value.params)
    if isinstance(value, message_module.CSeq):
        return (value.seq, value.method)
    return value


VIEWS = [
    lambda m: fields(m.vias),
    lambda m: fields(m.from_),
    lambda m: fields(m.to),
    lambda m: fields(m.contacts),
    lambda m: fields(m.routes) + fields(m.record_routes),
    lambda m: (fields(m.cseq), m.call_id, m.max_forwards, m.expires, m.content_type),
    lambda m: fields(m.uri) if m.is_request else m.status,
]


# -- header values: what a fast lane accepts, the hand-written parser accepts ----------------
def values_of(key):
    out = []
    for data in SAMPLES:
        with contextlib.suppress(SipParseError):
            out.extend(parse_message(data).get_lines(key))
    return out


VALUES = {key: values_of(key) for key in ("via", "from", "contact", "route", "cseq")}
VALUE_ALPHABET = st.sampled_from(
    list(SPECIAL.decode("latin-1")) + list("aZ09sipSIPtagbranchz9hG4bK")
)


@st.composite
def mutated_value(draw, key):
    text = list(draw(st.sampled_from(VALUES[key])))
    for _ in range(draw(st.integers(1, 5))):
        i = draw(st.integers(0, len(text)))
        kind = draw(st.sampled_from(["insert", "replace", "delete"]))
        if kind == "insert":
            text.insert(i, draw(VALUE_ALPHABET))
        elif kind == "replace" and i < len(text):
            text[i] = draw(VALUE_ALPHABET)
        elif i < len(text):
            del text[i]
    value = "".join(text)
    assume("\r" not in value and "\n" not in value)
    return value


def accepts(parse, value):
    try:
        parse(value)
    except SipParseError:
        return False
    return True


LANES = [
    ("via", message_module._fast_via_list, lambda v: message_module._VIEWS["via"]([v])),
    ("from", uri_module.fast_address, uri_module.parse_name_addr),
    ("contact", uri_module.fast_address_list, lambda v: message_module._VIEWS["contact"]([v])),
    ("record-route", uri_module.fast_name_addr_list, lambda v: message_module._VIEWS["route"]([v])),
]


@settings(max_examples=600, deadline=None, database=None)
@given(st.data())
def test_fast_lanes_accept_only_what_the_parsers_accept(data):
    key, fast, parse = data.draw(st.sampled_from(LANES))
    value = data.draw(mutated_value("route" if key == "record-route" else key))
    if fast(value):
        assert accepts(parse, value), (key, value)


HOSTS = st.sampled_from(
    [
        "example.com",
        "a-b.example.",
        "192.0.2.1",
        "255.255.255.255",
        "256.1.1.1",
        "1.2.3",
        "x_y.example",
    ]
    + ["[2001:db8::1]", "[::1]", "-bad.example", "ok9.example", "3com.example", "h"]
)
PORTS = st.sampled_from(["", ":5060", ":0", ":65535", ":65536", ":059999", ":1", ":60000", ":"])
USERS = st.sampled_from(
    ["", "alice@", "a%41@", "a%4@", "a;b=c@", "+49-30;x=y@", "u:pw@", "a,b@", "?@"]
)
PARAMS = st.lists(
    st.sampled_from([";lr", ";transport=tcp", ";a=%zz", ";=x", ";x=", ";maddr=[::1]", ";"])
)


@settings(max_examples=600, deadline=None, database=None)
@given(st.sampled_from(["sip:", "SIPS:", "sip:"]), USERS, HOSTS, PORTS, PARAMS)
def test_request_uri_fast_lane_agrees_with_parse_uri(scheme, user, host, port, params):
    text = scheme + user + host + port + "".join(params)
    if uri_module.fast_sip_uri(text):
        assert accepts(uri_module.parse_uri, text), text
        assert str(uri_module.parse_uri(text)) == text
    line = "INVITE " + text + " SIP/2.0"
    if message_module._fast_request_line(line):
        assert message_module._parse_start_line(line).method == "INVITE"


@settings(max_examples=300, deadline=None, database=None)
@given(HOSTS, PORTS, PARAMS, st.sampled_from(["UDP", "tcp", "T@P", ""]))
def test_via_fast_lane_agrees_with_parse_via(host, port, params, transport):
    value = "SIP/2.0/" + transport + " " + host + port + "".join(params).replace(";=x", ";rport=x")
    if message_module._fast_via_list(value):
        assert accepts(parse_via, value), value


@settings(max_examples=200, deadline=None, database=None)
@given(
    st.lists(st.sampled_from(SAMPLES), min_size=1, max_size=4),
    st.lists(st.integers(1, 400), max_size=12),
)
def test_stream_framer_cuts_any_chunking_the_same(messages, cuts):
    framed = []
    for data in messages:
        m = parse_message(data)
        framed.append(m.to_bytes())
    stream = b"\r\n\r\n".join(framed)
    pieces = []
    i = 0
    for size in cuts:
        pieces.append(stream[i : i + size])
        i += size
    pieces.append(stream[i:])
    framer = StreamFramer()
    out = []
    for piece in pieces:
        out.extend(framer.feed(piece))
    assert out == framed and framer.pending == 0


def built(parse, value):
    try:
        return ("ok", fields(parse(value)))
    except SipParseError as exc:
        return ("error", exc.reason)


BUILDERS = [
    ("via", parse_via, message_module._parse_via),
    ("from", uri_module.parse_name_addr, lambda v: uri_module._parse_name_addr(v, False)),
    ("contact", uri_module.parse_name_addr, lambda v: uri_module._parse_name_addr(v, False)),
    (
        "route",
        lambda v: uri_module.parse_name_addr(v, True),
        lambda v: uri_module._parse_name_addr(v, True),
    ),
    ("cseq", message_module.parse_cseq, message_module.parse_cseq),  # second one: lanes off
]


@settings(max_examples=600, deadline=None, database=None)
@given(st.data())
def test_views_built_from_fast_lane_matches_equal_the_portable_parsers(data):
    key, fast, portable = data.draw(st.sampled_from(BUILDERS))
    value = data.draw(mutated_value(key))
    with hand_written_only():
        expected = built(portable, value)
    assert built(fast, value) == expected, (key, value)


@settings(max_examples=400, deadline=None, database=None)
@given(st.sampled_from(["sip:", "SIPS:", "sip:"]), USERS, HOSTS, PORTS, PARAMS)
def test_uris_built_from_fast_lane_matches_equal_the_portable_parser(
    scheme, user, host, port, params
):
    text = scheme + user + host + port + "".join(params)
    assert built(uri_module.parse_uri, text) == built(uri_module._parse_uri, text), text
