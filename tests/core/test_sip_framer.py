"""StreamFramer: cutting a TCP byte stream into SIP messages by Content-Length (RFC 3261 section
18.3), with CRLF keep-alives (RFC 5626 section 3.5.1) between messages."""

from firmware.core.sip.message import StreamFramer, parse_message
from firmware.core.sip.syntax import SipParseError
from tests.core.support import list_data, raises, read_data


def message(n, body=b"", length=None, name="Content-Length"):
    head = (
        "OPTIONS sip:flat12@example.com SIP/2.0\r\n"
        "Via: SIP/2.0/TCP 192.0.2.10:5060;branch=z9hG4bK%d\r\n"
        "From: <sip:door@example.com>;tag=%d\r\n"
        "To: <sip:flat12@example.com>\r\n"
        "Call-ID: stream-%d@192.0.2.10\r\n"
        "CSeq: %d OPTIONS\r\n" % (n, n, n, n)
    )
    if length != "none":
        head += "%s: %d\r\n" % (name, len(body) if length is None else length)
    return head.encode() + b"\r\n" + body


ONE = message(1, b"v=0\r\n\r\nbody with an empty line\r\n")
TWO = message(2)
THREE = message(3, b"x" * 300, name="l")


def feed_all(framer, chunks):
    out = []
    for chunk in chunks:
        out.extend(framer.feed(chunk))
    return out


def test_whole_messages_come_out_as_they_went_in():
    # (chunks fed, messages expected, bytes left pending)
    table = [
        ([ONE], [ONE], 0),
        ([ONE + TWO + THREE], [ONE, TWO, THREE], 0),
        ([ONE[:10], ONE[10:]], [ONE], 0),
        ([ONE[: len(ONE) - 1]], [], len(ONE) - 1),
        ([ONE[: ONE.find(b"\r\n\r\n") + 2]], [], ONE.find(b"\r\n\r\n") + 2),
        ([ONE + TWO[:5]], [ONE], 5),
        ([b"\r\n\r\n", ONE, b"\r\n", TWO, b"\r\n\r\n\r\n"], [ONE, TWO], 0),
        ([b"\r\n\r\n" + ONE + b"\r\n\r\n" + TWO], [ONE, TWO], 0),
        ([b"\r", b"\n" + ONE], [ONE], 0),
        ([b""], [], 0),
        ([b"\r\n"], [], 0),
    ]
    for chunks, expected, pending in table:
        framer = StreamFramer()
        assert feed_all(framer, chunks) == expected, chunks
        assert framer.pending == pending, chunks


def test_byte_by_byte():
    stream = ONE + b"\r\n\r\n" + TWO + THREE
    framer = StreamFramer()
    out = feed_all(framer, [stream[i : i + 1] for i in range(len(stream))])
    assert out == [ONE, TWO, THREE] and framer.pending == 0
    for i in range(0, len(stream), 37):
        framer = StreamFramer()
        assert feed_all(framer, [stream[:i], stream[i:]]) == [ONE, TWO, THREE], i
    assert [parse_message(m).cseq.seq for m in out] == [1, 2, 3]
    assert parse_message(out[0]).body == b"v=0\r\n\r\nbody with an empty line\r\n"


def test_framing_errors_close_the_stream():
    missing = message(4, length="none")
    conflicting = message(5, b"abc").replace(b"\r\n\r\n", b"\r\nl: 4\r\n\r\n", 1)
    table = [
        ([missing], "Content-Length is required", 400),
        ([ONE, conflicting], "conflicting Content-Length", 400),
        ([message(6, length=-1).replace(b"-1", b"x1")], "Content-Length", 400),
        ([message(7, length=70000)], "out of range", 400),
        ([b"A" * 70000], "header section too large", 513),
    ]
    for chunks, reason, status in table:
        framer = StreamFramer()
        exc = None
        try:
            feed_all(framer, chunks)
        except SipParseError as e:
            exc = e
        assert exc is not None and reason in exc.reason and exc.status == status, (reason, exc)
        again = raises(SipParseError, framer.feed, TWO)
        assert again is exc  # the framer refuses further input
        assert framer.pending == 0


def test_message_size_limit():
    framer = StreamFramer(max_message_bytes=1000)
    big = message(8, b"y" * 900)
    exc = raises(SipParseError, framer.feed, big[: big.find(b"\r\n\r\n") + 4])  # before the body
    assert exc.status == 513 and "larger than 1000" in exc.reason
    framer = StreamFramer(max_message_bytes=1000)
    assert framer.feed(message(9, b"y" * 500)) == [message(9, b"y" * 500)]
    framer = StreamFramer(max_message_bytes=100)
    assert raises(SipParseError, framer.feed, b"x" * 101).status == 513


def test_equal_duplicates_and_folded_content_length():
    same = message(10, b"abc").replace(b"\r\n\r\n", b"\r\nl: 3\r\n\r\n", 1)
    folded = message(11, b"abcd", length="none").replace(
        b"\r\n\r\n", b"\r\nContent-Length:\r\n 4\r\n\r\n", 1
    )
    framer = StreamFramer()
    assert framer.feed(same + folded) == [same, folded]
    assert parse_message(folded).body == b"abcd"


def test_captured_tcp_streams():
    # What baresip and Kamailio really sent over TCP (see tests/data/captured/README.md).
    names = list_data("captured", ".stream")
    assert len(names) >= 4, names
    for name in names:
        stream = read_data("captured/" + name)
        whole = StreamFramer().feed(stream)
        assert whole and b"".join(whole) == stream.replace(b"\r\n\r\n\r\n\r\n", b"\r\n\r\n"), name
        for size in (1, 7, 100, 1400):
            framer = StreamFramer()
            got = feed_all(framer, [stream[i : i + size] for i in range(0, len(stream), size)])
            assert got == whole and framer.pending == 0, (name, size)
        for data in whole:
            m = parse_message(data)
            assert m.top_via.transport == "TCP" or not m.is_request, name
            assert int(m.get("Content-Length")) == len(m.body), name
