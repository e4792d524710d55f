"""Property tests for SDP (hypothesis): garbage in gives SdpError, never anything else."""

from hypothesis import given, settings
from hypothesis import strategies as st

from firmware.core.sdp import (
    SdpError,
    SdpNegotiationError,
    build_answer,
    build_offer,
    parse,
    read_answer,
    serialize,
)
from tests.core.support import read_data
from tests.core.test_sdp import SDP_FILES, body

SEEDS = [body(name) for name in SDP_FILES]
SEED_LINES = sorted({line for seed in SEEDS for line in seed.split(b"\r\n") if line})
TRICKY = [
    b"m=audio 0 RTP/AVP 0",
    b"m=audio 65535 RTP/AVP 0",
    b"m=video 9 RTP/AVP 96",
    b"m=audio 4000/2 RTP/AVP 8",
    b"c=IN IP4 0.0.0.0",
    b"c=IN IP6 ::1",
    b"c=IN IP4 224.2.1.1/127/3",
    b"a=sendonly",
    b"a=inactive",
    b"a=rtcp:9 IN IP6 ::1",
    b"a=ptime:0",
    b"a=ptime:99999",
    b"a=rtpmap:96 PCMU/8000/1",
    b"a=rtpmap:97 telephone-event/8000",
    b"a=fmtp:97 0-15",
    b"t=0 0",
    b"",
]
line_pool = st.sampled_from(SEED_LINES + TRICKY)


@st.composite
def mutated_sdp(draw):
    """A recorded body with lines dropped, duplicated, swapped, inserted or corrupted."""
    lines = draw(st.sampled_from(SEEDS)).split(b"\r\n")
    for _ in range(draw(st.integers(0, 4))):
        if not lines:
            break
        i = draw(st.integers(0, len(lines) - 1))
        action = draw(st.sampled_from(["drop", "dup", "swap", "insert", "flip", "cut"]))
        if action == "drop":
            del lines[i]
        elif action == "dup":
            lines.insert(i, lines[i])
        elif action == "swap":
            j = draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
        elif action == "insert":
            lines.insert(i, draw(line_pool))
        elif action == "flip" and lines[i]:
            k = draw(st.integers(0, len(lines[i]) - 1))
            byte = draw(st.integers(0, 255))
            lines[i] = lines[i][:k] + bytes([byte]) + lines[i][k + 1 :]
        elif action == "cut":
            lines[i] = lines[i][: draw(st.integers(0, len(lines[i])))]
    return draw(st.sampled_from([b"\r\n", b"\n"])).join(lines)


sdp_inputs = st.one_of(
    mutated_sdp(),
    st.binary(max_size=200),
    st.lists(line_pool, max_size=14).map(lambda ls: b"\r\n".join([b"v=0", *ls])),
)


@settings(max_examples=600, deadline=None)
@given(sdp_inputs)
def test_parse_raises_only_sdp_error_and_round_trips(data):
    try:
        session = parse(data)
    except SdpError:
        return
    once = serialize(session)
    assert serialize(parse(once)) == once


OFFER = build_offer("192.0.2.10", 40000, 1, 1)


@settings(max_examples=400, deadline=None)
@given(sdp_inputs)
def test_negotiation_raises_only_negotiation_errors(data):
    try:
        session = parse(data)
    except SdpError:
        return
    try:
        answer, media = build_answer(session, "192.0.2.10", 40000, 1, 1)
    except SdpNegotiationError:
        pass
    else:
        assert len(answer.media) == len(session.media)
        assert media.codec in ("PCMU", "PCMA")
        assert serialize(parse(serialize(answer))) == serialize(answer)
    try:
        media = read_answer(OFFER, session)
    except SdpNegotiationError:
        return
    assert media.codec in ("PCMU", "PCMA") and 0 <= media.payload_type <= 127


def test_recorded_seeds_are_not_all_rejected():
    # The mutation strategy starts from bodies that parse; make sure they still do.
    for seed in SEEDS:
        parse(seed)
    assert read_data("real-world/fritzbox6490-200-invite-sdp.sip").endswith(SEEDS[3])
