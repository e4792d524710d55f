#!/usr/bin/env python3
"""Record SIP messages from real peers on loopback into tests/data/captured/ (one-off, not a test).

    python3 tests/data/captured/capture.py [--out DIR] [--keep WORKDIR]

Starts Kamailio (registrar and proxy with digest auth), three baresip phones (door, flat101 over
UDP, flat103 over TCP), linphonec (flat102) and SIPp, all on 127.0.0.1 with ports 5160-5199 (SIP
and control) and 11100-11649 (RTP), runs registrations, calls, OPTIONS and unregistrations
between them while tshark records SIP on `lo`, stops every process it started, then writes the
first message of each kind, byte-exact, as `<sender>-<what>.sip` (and `capture.pcapng`).

Needs: kamailio, baresip, linphonec, sipp, tshark (Debian: kamailio baresip-core linphone-cli
sip-tester tshark); root or the capture capability for tshark. Takes about 40 s.
"""

import argparse
import contextlib
import json
import math
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import wave

HERE = os.path.dirname(os.path.abspath(__file__))
HOST = "127.0.0.1"
KAMAILIO = 5160
DOOR, FLAT101, FLAT103, LINPHONE = 5164, 5162, 5166, 5168
SIPP_UAC, SIPP_UAS, SIPP_REG, SIPP_OPT = 5170, 5172, 5174, 5176
CTRL = {"door": 5184, "flat101": 5182, "flat103": 5186}
SIPP_CTRL = 5188
SENDERS = {KAMAILIO: "kamailio", DOOR: "baresip", FLAT101: "baresip", FLAT103: "baresip"}
SENDERS.update({LINPHONE: "linphone", SIPP_UAC: "sipp", SIPP_UAS: "sipp", SIPP_REG: "sipp"})
SENDERS[SIPP_OPT] = "sipp"
CAPTURE_FILTER = "(udp or tcp) and portrange 5160-5179"

KAMAILIO_CFG = r"""#!KAMAILIO
#!substdef "!RUNDIR!@RUNDIR@!"
debug=2
log_stderror=yes
children=2
tcp_children=2
auto_aliases=no
listen=udp:127.0.0.1:@PORT@
listen=tcp:127.0.0.1:@PORT@
alias="127.0.0.1:@PORT@"
mpath="/usr/lib/x86_64-linux-gnu/kamailio/modules/"
loadmodule "kex.so"
loadmodule "corex.so"
loadmodule "tm.so"
loadmodule "tmx.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "xlog.so"
loadmodule "sanity.so"
loadmodule "auth.so"
loadmodule "htable.so"
loadmodule "ctl.so"
modparam("ctl", "binrpc", "unix:RUNDIR/kamailio_ctl")
modparam("usrloc", "db_mode", 0)
modparam("registrar", "max_expires", 3600)
modparam("registrar", "gruu_enabled", 0)  # else linphone puts a port-less GRUU in its Contact
modparam("htable", "htable", "users=>size=4;")
event_route[htable:mod-init] {
	$sht(users=>door) = "secret";
	$sht(users=>flat101) = "secret";
	$sht(users=>flat102) = "secret";
	$sht(users=>flat103) = "secret";
	$sht(users=>sipp) = "secret";
}
request_route {
	if (!mf_process_maxfwd_header("10")) { sl_send_reply("483", "Too Many Hops"); exit; }
	if (!sanity_check()) { exit; }
	if (is_method("OPTIONS") && uri==myself && $rU==$null) {
		sl_send_reply("200", "Keepalive");
		exit;
	}
	if (has_totag()) {
		if (loose_route()) { route(RELAY); exit; }
		if (is_method("ACK") && t_check_trans()) { route(RELAY); exit; }
		if (uri==myself && lookup("location")) { route(RELAY); exit; }
		if (is_method("ACK")) { exit; }
		sl_send_reply("404", "Not here");
		exit;
	}
	if (is_method("CANCEL")) { if (t_check_trans()) { route(RELAY); } exit; }
	if (!is_method("ACK")) { if (t_precheck_trans()) { t_check_trans(); exit; } t_check_trans(); }
	remove_hf("Route");
	if (is_method("INVITE|SUBSCRIBE")) { record_route(); }
	if (is_method("REGISTER")) { route(REGISTRAR); exit; }
	route(AUTH);
	if (uri!=myself) { sl_send_reply("403", "Relay not allowed"); exit; }
	if ($rU==$null) { sl_send_reply("484", "Address Incomplete"); exit; }
	if (!lookup("location")) { sl_send_reply("404", "Not Found"); exit; }
	route(RELAY);
}
route[RELAY] { if (!t_relay()) { sl_reply_error(); } exit; }
route[REGISTRAR] {
	if (is_present_hf("Authorization")) {
		$avp(pw) = $sht(users=>$au);
		if ($avp(pw) != $null && pv_www_authenticate("$td", "$avp(pw)", "0")) {
			if ($au != $tU) { sl_send_reply("403", "Auth ID mismatch"); exit; }
			consume_credentials();
			if (!save("location", "0x04")) { sl_reply_error(); }
			exit;
		}
	}
	www_challenge("$td", "0");
	exit;
}
route[AUTH] {
	if (from_uri==myself && !is_method("ACK|PRACK|BYE|CANCEL")) {
		if (is_present_hf("Proxy-Authorization")) {
			$avp(pw) = $sht(users=>$au);
			if ($avp(pw) != $null && pv_proxy_authenticate("$fd", "$avp(pw)", "0")) {
				if ($au != $fU) { sl_send_reply("403", "Auth ID mismatch"); exit; }
				consume_credentials();
				return;
			}
		}
		proxy_challenge("$fd", "0");
		exit;
	}
	return;
}
"""

BARESIP_CONFIG = """poll_method\tepoll
sip_listen\t127.0.0.1:{sip}
net_interface\t127.0.0.1
dns_server\t127.0.0.1:5199
call_local_timeout\t60
call_max_calls\t4
audio_path\t/usr/share/baresip
audio_source\tausine,1000
ausrc_srate\t48000
ausrc_channels\t2
audio_player\taubridge,spk
audio_alert\taubridge,alert
audio_level\tno
rtp_ports\t{rtp}-{rtp_end}
rtp_tos\t0
rtcp_mux\tno
module_path\t/usr/lib/baresip/modules
module\tg711.so
module\tausine.so
module\taubridge.so
module_tmp\tuuid.so
module_tmp\taccount.so
module_app\tmenu.so
module_app\tctrl_tcp.so
statmode_default\toff
ctrl_tcp_listen\t127.0.0.1:{ctrl}
"""
BARESIP_ACCOUNT = (
    "<sip:{user}@127.0.0.1:{registrar}{transport}>;auth_pass=secret;answermode=auto;"
    "audio_codecs=PCMU,PCMA;regint=300;ptime=20\n"
)

LINPHONERC = """[sip]
sip_port={sip}
sip_tcp_port=0
sip_tls_port=0
default_proxy=0
guess_hostname=0
register_only_when_network_is_up=0
register_only_when_upnp_is_ok=0
use_rfc2833=1
use_info=0
inc_timeout=60
use_ipv6=0
[rtp]
audio_rtp_port=11500-11549
video_rtp_port=11550-11599
text_rtp_port=11600-11649
nortp_timeout=30
bind_address=127.0.0.1
[sound]
echocancellation=0
[video]
display=0
capture=0
[proxy_0]
reg_proxy=<sip:127.0.0.1:{registrar};transport=udp>
reg_identity=sip:flat102@127.0.0.1:{registrar}
reg_expires=300
reg_sendregister=1
publish=0
[auth_info_0]
username=flat102
passwd=secret
realm=127.0.0.1
domain=127.0.0.1
[audio_codec_0]
mime=PCMU
rate=8000
channels=1
enabled=1
[audio_codec_1]
mime=PCMA
rate=8000
channels=1
enabled=1
"""

SIPP_REGISTER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="register with digest auth">
  <send retrans="500"><![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[service]@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 REGISTER
Contact: <sip:[service]@[local_ip]:[local_port];transport=[transport]>
Max-Forwards: 70
Expires: 300
Content-Length: 0

]]></send>
  <recv response="401" auth="true"/>
  <send retrans="500"><![CDATA[
REGISTER sip:[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: <sip:[service]@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 2 REGISTER
Contact: <sip:[service]@[local_ip]:[local_port];transport=[transport]>
[authentication]
Max-Forwards: 70
Expires: 300
Content-Length: 0

]]></send>
  <recv response="200"/>
</scenario>
"""

SIPP_OPTIONS = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="options">
  <send retrans="500"><![CDATA[
OPTIONS {request_uri} SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
Max-Forwards: 70
From: <sip:sipp@[local_ip]:[local_port]>;tag=[pid]SIPpTag01[call_number]
To: <{request_uri}>
Call-ID: [call_id]
CSeq: 1 OPTIONS
Contact: <sip:sipp@[local_ip]:[local_port]>
Accept: application/sdp
Content-Length: 0

]]></send>
  <recv response="200"/>
</scenario>
"""


def log(text):
    print("capture: " + text, flush=True)


class Processes:
    """Every process we start, bounded by `timeout -k`, stopped in reverse order."""

    def __init__(self):
        self.running = []

    def start(self, name, argv, logfile, limit_s=120, **kwargs):
        out = open(logfile, "wb")  # noqa: SIM115 - closed in stop()
        argv = ["timeout", "-k", "5", str(limit_s), *argv]
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, **kwargs)
        self.running.append((name, proc, out))
        return proc

    def stop(self, proc, grace_s=8.0):
        for name, p, out in list(self.running):
            if p is proc:
                if p.poll() is None:
                    p.send_signal(signal.SIGTERM)
                    try:
                        p.wait(grace_s)
                    except subprocess.TimeoutExpired:
                        log("%s did not stop on SIGTERM: killing" % name)
                        p.kill()
                        p.wait()
                out.close()
                self.running.remove((name, p, out))

    def wait(self, proc, limit_s):
        """Let proc finish on its own for up to limit_s, then stop it."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(limit_s)
        self.stop(proc)

    def stop_all(self):
        for _, proc, _ in reversed(list(self.running)):
            self.stop(proc)


def wait_for(predicate, limit_s, what):
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise RuntimeError("timed out waiting for " + what)


def file_has(path, text):
    try:
        with open(path, "rb") as f:
            return text.encode() in f.read()
    except OSError:
        return False


def port_listening(port, proto="udp"):
    out = subprocess.run(["ss", "-ln" + proto[0]], capture_output=True, text=True).stdout
    return ("%s:%d " % (HOST, port)) in out


class Baresip:
    """A ctrl_tcp connection (netstring-framed JSON) to one baresip."""

    def __init__(self, port):
        self.sock = socket.create_connection((HOST, port), timeout=10)
        self.buffer = b""

    def command(self, command, params=""):
        body = json.dumps({"command": command, "params": params, "token": "c"}).encode()
        self.sock.sendall(str(len(body)).encode() + b":" + body + b",")

    def wait_event(self, kind, limit_s=10.0):
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            colon = self.buffer.find(b":")
            if colon > 0:
                size = int(self.buffer[:colon])
                if len(self.buffer) >= colon + size + 2:
                    message = json.loads(self.buffer[colon + 1 : colon + 1 + size])
                    self.buffer = self.buffer[colon + size + 2 :]
                    if message.get("event") and message.get("type") == kind:
                        return message
                    continue
            self.sock.settimeout(max(0.05, deadline - time.monotonic()))
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                break
            if not data:
                break
            self.buffer += data
        raise RuntimeError("baresip event %s did not come" % kind)

    def close(self):
        self.sock.close()


def write_tone(path):
    with wave.open(path, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(8000)
        samples = (int(8000 * math.sin(2 * math.pi * 440 * i / 8000)) for i in range(8000 * 30))
        w.writeframes(b"".join(struct.pack("<h", s) for s in samples))


def run_peers(work, procs):
    os.makedirs(work + "/kam")
    with open(work + "/kamailio.cfg", "w") as f:
        f.write(KAMAILIO_CFG.replace("@RUNDIR@", work + "/kam").replace("@PORT@", str(KAMAILIO)))
    phones = {
        "door": (DOOR, 11200, ""),
        "flat101": (FLAT101, 11100, ""),
        "flat103": (FLAT103, 11300, ";transport=tcp"),
    }
    for user, (sip, rtp, transport) in phones.items():
        os.makedirs(work + "/" + user)
        with open(work + "/" + user + "/config", "w") as f:
            f.write(BARESIP_CONFIG.format(sip=sip, rtp=rtp, rtp_end=rtp + 49, ctrl=CTRL[user]))
        with open(work + "/" + user + "/accounts", "w") as f:
            f.write(BARESIP_ACCOUNT.format(user=user, registrar=KAMAILIO, transport=transport))
    os.makedirs(work + "/lp/home/.local/share/linphone")
    with open(work + "/lp/linphonerc", "w") as f:
        f.write(LINPHONERC.format(sip=LINPHONE, registrar=KAMAILIO))
    write_tone(work + "/lp/tone.wav")
    with open(work + "/register.xml", "w") as f:
        f.write(SIPP_REGISTER)
    with open(work + "/options-user.xml", "w") as f:
        f.write(SIPP_OPTIONS.format(request_uri="sip:[service]@[remote_ip]:[remote_port]"))
    with open(work + "/options-server.xml", "w") as f:
        f.write(SIPP_OPTIONS.format(request_uri="sip:[remote_ip]:[remote_port]"))

    tshark = procs.start(
        "tshark",
        ["tshark", "-i", "lo", "-f", CAPTURE_FILTER, "-w", work + "/capture.pcapng", "-q"],
        work + "/tshark.log",
        limit_s=300,
    )
    wait_for(lambda: file_has(work + "/tshark.log", "Capturing on"), 15, "tshark")
    kamailio = procs.start(
        "kamailio",
        ("kamailio -f %s/kamailio.cfg -DD -E -Y %s/kam -P %s/kam/pid" % (work, work, work)).split(),
        work + "/kamailio.log",
        limit_s=240,
    )
    wait_for(lambda: port_listening(KAMAILIO) and port_listening(KAMAILIO, "tcp"), 10, "kamailio")

    baresips = {}
    for user in ("flat101", "door", "flat103"):
        baresips[user] = procs.start(
            "baresip " + user,
            ["baresip", "-4", "-f", work + "/" + user, "-t", "200"],
            work + "/" + user + ".log",
            limit_s=220,
            stdin=subprocess.DEVNULL,
        )
    for user in ("flat101", "door", "flat103"):
        wait_for(
            lambda u=user: file_has(work + "/" + u + ".log", "200 OK"), 10, user + " registered"
        )
    log("baresip door, flat101 and flat103 (TCP) registered")

    fifo = work + "/lp/fifo"
    os.mkfifo(fifo)
    lp_in = os.open(fifo, os.O_RDWR)
    env = dict(os.environ, HOME=work + "/lp/home")
    linphone = procs.start(
        "linphonec",
        ["linphonec", "-c", work + "/lp/linphonerc", "-a", "-d", "0"],
        work + "/linphone.log",
        limit_s=220,
        stdin=lp_in,
        env=env,
        cwd=work + "/lp",
    )

    def lp(command):
        os.write(lp_in, (command + "\n").encode())

    lp("soundcard use files")
    lp("play " + work + "/lp/tone.wav")

    def linphone_registered():
        lp("status register")
        time.sleep(0.2)
        return file_has(work + "/linphone.log", "registered, identity=")

    wait_for(linphone_registered, 15, "linphonec registered")
    log("linphonec flat102 registered")

    door = Baresip(CTRL["door"])

    def door_call(target, talk_s=1.0):
        door.command("dial", target)
        door.wait_event("CALL_ESTABLISHED", 10)
        time.sleep(talk_s)
        door.command("hangup")
        door.wait_event("CALL_CLOSED", 10)
        time.sleep(0.3)

    door_call("sip:flat101@127.0.0.1:%d" % KAMAILIO)
    log("call door -> flat101 (via kamailio, with 407) done")
    door_call("sip:flat102@127.0.0.1:%d" % KAMAILIO)
    wait_for(lambda: file_has(work + "/linphone.log", " ended ("), 10, "linphonec call end")
    log("call door -> flat102 (linphone, via kamailio) done")
    door_call("sip:flat103@127.0.0.1:%d" % KAMAILIO)
    log("call door -> flat103 (TCP leg, via kamailio) done")

    lp("call sip:door@127.0.0.1:%d" % KAMAILIO)
    door.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(1.0)
    lp("terminate")
    door.wait_event("CALL_CLOSED", 10)
    time.sleep(0.3)
    log("call flat102 (linphone) -> door done")

    def sipp(log_name, arguments, control_port=SIPP_CTRL):
        """SIPp on loopback: one call, bounded, non-interactive."""
        common = " -i %s -cp %d -m 1 -timeout 15 -timeout_error -nostdin" % (HOST, control_port)
        argv = ("sipp " + arguments + common).split()
        return procs.start(log_name, argv, work + "/" + log_name + ".log", limit_s=30, cwd=work)

    uac = sipp(
        "sipp-uac", "%s:%d -sn uac -s flat101 -p %d -mp 11400 -d 1000" % (HOST, FLAT101, SIPP_UAC)
    )
    procs.wait(uac, 25)
    log("call sipp -> flat101 (direct) done, sipp exit %s" % uac.returncode)

    uas = sipp("sipp-uas", "-sn uas -p %d -mp 11420" % SIPP_UAS, SIPP_CTRL + 1)
    wait_for(lambda: port_listening(SIPP_UAS), 10, "sipp uas")
    door_call("sip:sipp@127.0.0.1:%d" % SIPP_UAS)
    procs.wait(uas, 10)
    log("call door -> sipp uas (direct) done, sipp exit %s" % uas.returncode)

    reg = sipp(
        "sipp-register",
        "%s:%d -sf %s/register.xml -s sipp -au sipp -ap secret -p %d"
        % (HOST, KAMAILIO, work, SIPP_REG),
    )
    procs.wait(reg, 20)
    log("sipp REGISTER done, exit %s" % reg.returncode)
    for target, service in ((FLAT101, "flat101"), (LINPHONE, "flat102"), (KAMAILIO, None)):
        scenario = work + ("/options-user.xml" if service else "/options-server.xml")
        arguments = "%s:%d -sf %s -s %s -p %d" % (HOST, target, scenario, service or "x", SIPP_OPT)
        opt = sipp("sipp-options-%d" % target, arguments)
        procs.wait(opt, 20)
        log("sipp OPTIONS to %s done, exit %s" % (service or "kamailio", opt.returncode))
    door.command("options", "sip:flat102@127.0.0.1:%d" % LINPHONE)
    time.sleep(0.5)
    door.close()
    log("baresip OPTIONS done")

    # Unregister and stop: phones first (they wait for their un-REGISTER replies), then kamailio.
    lp("quit")
    procs.wait(linphone, 10)
    os.close(lp_in)
    for user in ("flat103", "flat101", "door"):
        ctrl = Baresip(CTRL[user])
        ctrl.command("quit")
        ctrl.close()
    for user in ("flat103", "flat101", "door"):
        procs.wait(baresips[user], 10)
    time.sleep(0.5)
    procs.stop(kamailio)
    time.sleep(0.5)
    procs.stop(tshark)
    log("all peers stopped")


# -- extraction ------------------------------------------------------------------------------
FIELDS = ("udp.srcport", "udp.dstport", "tcp.srcport", "tcp.dstport", "udp.payload", "tcp.payload")


def tshark_payloads(pcap):
    """(transport, src port, dst port, payload bytes) of every UDP datagram and TCP segment."""
    out = subprocess.run(
        ["tshark", "-r", pcap, "-Y", "udp or tcp.len > 0", "-T", "fields", "-E", "separator=;"]
        + [arg for field in FIELDS for arg in ("-e", field)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = []
    for line in out.splitlines():
        usrc, udst, tsrc, tdst, upay, tpay = line.split(";")
        if usrc:
            rows.append(("udp", int(usrc), int(udst), bytes.fromhex(upay.replace(":", ""))))
        else:
            rows.append(("tcp", int(tsrc), int(tdst), bytes.fromhex(tpay.replace(":", ""))))
    return rows


def split_stream(data):
    """Whole messages of a TCP byte stream (Content-Length framing; CRLF keep-alives skipped)."""
    messages = []
    while True:
        data = data.lstrip(b"\r\n") if data.startswith(b"\r\n") else data
        end = data.find(b"\r\n\r\n")
        if end < 0:
            return messages, data
        match = re.search(rb"\r\n(?:content-length|l)[ \t]*:[ \t]*([0-9]+)", data[:end], re.I)
        length = int(match.group(1)) if match else 0
        if len(data) < end + 4 + length:
            return messages, data
        messages.append(data[: end + 4 + length])
        data = data[end + 4 + length :]


def header(message, *names):
    head = message.split(b"\r\n\r\n", 1)[0].decode("utf-8", "replace")
    for line in head.split("\r\n")[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() in names:
            return value.strip()
    return None


def describe(message, sender, transport, finals):
    """The file name part after the sender: `register-auth`, `200-invite-sdp`, `ack`..."""
    first = message.split(b"\r\n", 1)[0].decode("utf-8", "replace")
    cseq = header(message, "cseq") or "0 ?"
    call_id = header(message, "call-id", "i") or ""
    number, _, method = cseq.partition(" ")
    has_sdp = (header(message, "content-type", "c") or "").lower().startswith("application/sdp")
    vias = len(re.findall(rb"\r\n(?:via|v)[ \t]*:", message.split(b"\r\n\r\n")[0], re.I))
    if first.startswith("SIP/2.0 "):
        status = first.split(" ")[1]
        if status >= "200":
            finals[(call_id, number)] = status
        what = status + "-" + method.strip().lower()
        relayed = sender == "kamailio" and "kamailio" not in (header(message, "server") or "")
    else:
        method = first.split(" ")[0]
        what = method.lower()
        relayed = sender == "kamailio" and vias > 1
        if method == "ACK" and finals.get((call_id, number), "200") >= "300":
            what += "-" + finals[(call_id, number)]
        if method == "REGISTER" and (header(message, "expires") == "0" or b"expires=0" in message):
            what = "unregister"
        if header(message, "authorization", "proxy-authorization"):
            what += "-auth"
    if has_sdp:
        what += "-sdp"
    if relayed:
        what = "relayed-" + what
    if transport == "tcp":
        what += "-tcp"
    return what


def _sender(src, dst):
    """Who sent a packet: by its source port, or for a TCP connection from an ephemeral port, the
    peer that connects there (phones connect to kamailio, kamailio connects to phones)."""
    if src in SENDERS:
        return SENDERS[src]
    return "baresip" if dst == KAMAILIO else "kamailio"


def extract(pcap, out_dir):
    finals = {}
    written = []
    streams = {}
    messages = []
    for transport, src, dst, payload in tshark_payloads(pcap):
        if transport == "udp":
            if payload.strip(b"\r\n"):
                messages.append((transport, src, dst, payload))
            continue
        buffer, stream = streams.get((src, dst), (b"", b""))
        whole, rest = split_stream(buffer + payload)
        streams[(src, dst)] = (rest, stream + payload)
        for message in whole:
            messages.append((transport, src, dst, message))
    for (src, dst), (_, stream) in sorted(streams.items()):
        sender = _sender(src, dst)
        server = src if src in SENDERS else dst  # the listening port names the connection
        with open(os.path.join(out_dir, "%s-tcp-%d.stream" % (sender, server)), "wb") as f:
            f.write(stream)
    for transport, src, dst, message in messages:
        sender = _sender(src, dst)
        name = sender + "-" + describe(message, sender, transport, finals) + ".sip"
        path = os.path.join(out_dir, name)
        if name in written:
            continue
        with open(path, "wb") as f:
            f.write(message)
        written.append(name)
    return written


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=HERE, help="where the .sip files go")
    parser.add_argument("--keep", help="keep the work directory (configs, logs) here")
    args = parser.parse_args(argv)
    for tool in ("kamailio", "baresip", "linphonec", "sipp", "tshark", "timeout", "ss"):
        if shutil.which(tool) is None:
            sys.exit("capture: %s is not installed" % tool)
    work = args.keep or tempfile.mkdtemp(prefix="sip-capture-")
    os.makedirs(work, exist_ok=True)
    procs = Processes()
    try:
        run_peers(work, procs)
    finally:
        procs.stop_all()
    for old in os.listdir(args.out):
        if old.endswith(".sip") or old.endswith(".stream"):
            os.remove(os.path.join(args.out, old))
    written = extract(work + "/capture.pcapng", args.out)
    shutil.copy(work + "/capture.pcapng", os.path.join(args.out, "capture.pcapng"))
    os.chmod(os.path.join(args.out, "capture.pcapng"), 0o644)
    for name in sorted(written):
        log("wrote " + name)
    if not args.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
