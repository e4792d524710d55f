"""SIP parse + serialize throughput, side by side with pyVoIP 1.6.8's SIPMessage as a reference.

    .venv/bin/python -m bench bench_sip_parse            (or: python -m bench.bench_sip_parse)
    .venv/bin/python -m bench.bench_sip_parse --seconds 1 --rounds 7 --no-install

pyVoIP is GPL-3.0 and never a dependency of this project: on first use the bench installs it
into .venv/bench-pyvoip-1.6.8 (outside the project's site-packages, ignored by git) with

    python -m pip install --target .venv/bench-pyvoip-1.6.8 pyVoIP==1.6.8

and only this script puts that folder on sys.path. pyVoIP has no serializer, and its parser also
splits the SDP body; our figure includes the strict validation and the serialization.
"""

import argparse
import os
import platform
import subprocess
import sys
import time

from firmware.core.sip.message import parse_message

PYVOIP_VERSION = "1.6.8"
PYVOIP_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    ".venv",
    "bench-pyvoip-" + PYVOIP_VERSION,
)

# A door station's INVITE through the proxy, recorded by tests/data/captured/capture.py (like
# baresip-invite-sdp.sip there), SDP trimmed to G.711 and telephone-event (a=label, a=rtcp-rsize
# and a=ssrc removed): 772 bytes.
INVITE = (
    b"INVITE sip:flat101@127.0.0.1:5160 SIP/2.0\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5164;branch=z9hG4bKb451af89e841498b;rport\r\n"
    b"Contact: <sip:door-0x555e67a17400@127.0.0.1:5164>\r\n"
    b"Max-Forwards: 70\r\n"
    b"To: <sip:flat101@127.0.0.1:5160>\r\n"
    b"From: <sip:door@127.0.0.1:5160>;tag=d0dcac1d58193631\r\n"
    b"Call-ID: 1071d98d5ffdb913\r\n"
    b"CSeq: 36720 INVITE\r\n"
    b"User-Agent: baresip v1.0.0 (x86_64/linux)\r\n"
    b"Allow: INVITE,ACK,BYE,CANCEL,OPTIONS,NOTIFY,SUBSCRIBE,INFO,MESSAGE,REFER\r\n"
    b"Supported: gruu\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 267\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=- 262756862 264196043 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"a=tool:baresip 1.0.0\r\n"
    b"m=audio 11220 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\n"
    b"a=sendrecv\r\n"
    b"a=minptime:20\r\n"
    b"a=ptime:20\r\n"
)

# The flat's answer as the door receives it from Kamailio (recorded the same way, unchanged, like
# kamailio-relayed-200-invite-sdp.sip): 886 bytes.
OK = (
    b"SIP/2.0 200 Answering\r\n"
    b"Record-Route: <sip:127.0.0.1:5160;lr;ftag=d0dcac1d58193631>\r\n"
    b"Via: SIP/2.0/UDP 127.0.0.1:5164;received=127.0.0.1;branch=z9hG4bK119208f471d37a8e;"
    b"rport=5164\r\n"
    b"To: <sip:flat101@127.0.0.1:5160>;tag=ecbc53bfef580ec9\r\n"
    b"From: <sip:door@127.0.0.1:5160>;tag=d0dcac1d58193631\r\n"
    b"Call-ID: 1071d98d5ffdb913\r\n"
    b"CSeq: 36721 INVITE\r\n"
    b"Server: baresip v1.0.0 (x86_64/linux)\r\n"
    b"Contact: <sip:flat101-0x559e73bd8400@127.0.0.1:5162>\r\n"
    b"Allow: INVITE,ACK,BYE,CANCEL,OPTIONS,NOTIFY,SUBSCRIBE,INFO,MESSAGE,REFER\r\n"
    b"Content-Type: application/sdp\r\n"
    b"Content-Length: 331\r\n"
    b"\r\n"
    b"v=0\r\n"
    b"o=- 3560994129 1306883426 IN IP4 127.0.0.1\r\n"
    b"s=-\r\n"
    b"c=IN IP4 127.0.0.1\r\n"
    b"t=0 0\r\n"
    b"a=tool:baresip 1.0.0\r\n"
    b"m=audio 11146 RTP/AVP 0 8 101\r\n"
    b"a=rtpmap:0 PCMU/8000\r\n"
    b"a=rtpmap:8 PCMA/8000\r\n"
    b"a=rtpmap:101 telephone-event/8000\r\n"
    b"a=fmtp:101 0-15\r\n"
    b"a=sendrecv\r\n"
    b"a=label:1\r\n"
    b"a=ssrc:226012499 cname:sip:flat101@127.0.0.1:5160\r\n"
    b"a=minptime:20\r\n"
    b"a=ptime:20\r\n"
)

MESSAGES = [("INVITE with SDP", INVITE), ("200 OK with SDP", OK)]


def load_pyvoip(install):
    """pyVoIP's SIPMessage class, or None (with the reason printed)."""
    if not os.path.isdir(os.path.join(PYVOIP_DIR, "pyVoIP")):
        if not install:
            print(
                "pyVoIP reference skipped: not installed in %s (run without --no-install)"
                % PYVOIP_DIR
            )
            return None
        print(
            "installing the reference parser pyVoIP %s (GPL-3.0; bench only, not a project"
            % PYVOIP_VERSION
        )
        print("dependency) into %s" % PYVOIP_DIR, flush=True)
        command = [sys.executable, "-m", "pip", "install", "-q", "--target", PYVOIP_DIR]
        command.append("pyVoIP==" + PYVOIP_VERSION)
        if subprocess.run(command).returncode != 0:
            print("pyVoIP reference skipped: pip install failed")
            return None
    sys.path.insert(0, PYVOIP_DIR)
    try:
        import pyVoIP.VoIP  # noqa: F401  (pyVoIP.SIP alone fails on a circular import)
        from pyVoIP.SIP import SIPMessage
    finally:
        sys.path.remove(PYVOIP_DIR)
    return SIPMessage


def rate(fn, data, seconds):
    """Calls per second of fn(data), over about `seconds`."""
    n = 1
    while True:  # calibrate to a batch of about 50 ms
        start = time.perf_counter()
        for _ in range(n):
            fn(data)
        elapsed = time.perf_counter() - start
        if elapsed > 0.05:
            break
        n *= 2
    batches = max(1, int(seconds / elapsed))
    start = time.perf_counter()
    for _ in range(batches):
        for _ in range(n):
            fn(data)
    return batches * n / (time.perf_counter() - start)


def parse_serialize(data):
    return parse_message(data).to_bytes()


def parse_use_serialize(data):
    m = parse_message(data)
    m.top_via.branch, m.from_.tag, m.to.tag, m.cseq.seq, m.call_id, m.contacts[0].uri.host
    return m.to_bytes()


def main(argv):
    parser = argparse.ArgumentParser(prog="bench_sip_parse", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=0.5, help="per measurement (default 0.5)")
    parser.add_argument(
        "--rounds", type=int, default=5, help="best of N interleaved rounds (default 5)"
    )
    parser.add_argument("--no-install", action="store_true", help="do not pip-install pyVoIP")
    args = parser.parse_args(argv)
    sip_message = load_pyvoip(not args.no_install)
    for _, data in MESSAGES:
        assert parse_message(parse_serialize(data)).headers == parse_message(data).headers
        if sip_message is not None:
            sip_message(data)
    columns = [("parse+serialize", parse_serialize), ("parse only", parse_message)]
    columns.append(("parse+views+serialize", parse_use_serialize))
    if sip_message is not None:
        columns.append(("pyVoIP parse", sip_message))
    best = {}
    for _ in range(args.rounds):  # interleaved, so load from elsewhere hits every column alike
        for name, data in MESSAGES:
            for column, fn in columns:
                key = (name, column)
                best[key] = max(best.get(key, 0.0), rate(fn, data, args.seconds))
    print(
        "%s %s on %s, messages/s (best of %d rounds of %.1f s)"
        % (
            platform.python_implementation(),
            platform.python_version(),
            platform.machine(),
            args.rounds,
            args.seconds,
        )
    )
    header = "%-17s %6s" % ("message", "bytes") + "".join(" %22s" % c for c, _ in columns)
    if sip_message is not None:
        header += " %9s" % "vs pyVoIP"
    print(header)
    met = True
    for name, data in MESSAGES:
        line = "%-17s %6d" % (name, len(data)) + "".join(
            " %22.0f" % best[(name, c)] for c, _ in columns
        )
        if sip_message is not None:
            ratio = best[(name, "parse+serialize")] / best[(name, "pyVoIP parse")]
            met = met and ratio >= 1.5
            line += " %8.2fx" % ratio
        print(line)
    if sip_message is not None:
        print(
            "goal: parse+serialize at least 1.5x pyVoIP's parse: %s" % ("met" if met else "NOT met")
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
